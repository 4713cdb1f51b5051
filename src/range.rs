/*!
Range answers: the body of the Pwned Passwords k-anonymity API,
`GET /range/{5 hex}`, built from an index.

A range is every stored hash whose first 20 bits (5 hex digits) equal the
prefix, written as `SUFFIX:COUNT\r\n` lines in hash order: the suffix is the
remaining 35 (SHA-1) or 27 (NTLM) upper-case hex digits, the count is
decimal. This is byte for byte what the public service sends and what the
official downloader stores in its `XXXXX.txt` files.

# Prefixes and buckets

The index groups records into `2^b` buckets by their top `b` bits
(`Params::bucket_bits`), so a prefix maps onto buckets with shifts only:

- `b <= 20`: the prefix lies inside bucket `prefix >> (20 - b)`, which may
  also hold neighbouring prefixes; records outside the prefix are skipped.
- `b > 20`: the prefix spans the `2^(b - 20)` consecutive buckets starting at
  `prefix << (b - 20)`, and every record in them belongs to it.

Either way one [`Index::records_in`] walk reads the answer front to back.

# Padding

With `Add-Padding: true` the public API pads a range with random suffixes
of count 0 so that every response has 800 to 1,000 lines and its size leaks
nothing about the prefix. [`RangeWriter`] does the same: it draws a target
uniformly from `800..=1000` (never below the real line count), adds random
suffixes inside the prefix up to that total, distinct from each other and
from every stored suffix, and merges them in order. Clients ignore lines
with count 0.

# Allocation

Bodies are written into a caller-provided `Vec<u8>`, which a server reuses
from request to request; the padding path keeps its scratch vectors in the
[`RangeWriter`]. Nothing is allocated per record.
*/

use std::hash::BuildHasher;
use std::ops::Range;

use crate::error::Result;
use crate::format::Params;
use crate::hash::{HashKind, Key, mask};
use crate::index::Index;

/// Hex digits in a range prefix.
pub const PREFIX_HEX: usize = 5;
/// Hash bits in a range prefix.
pub const PREFIX_BITS: u32 = 20;
/// Number of distinct prefixes (every one of them answers, possibly empty).
pub const PREFIXES: u32 = 1 << PREFIX_BITS;
/// Fewest lines of a padded range (unless the real range is longer).
pub const PADDED_MIN_LINES: usize = 800;
/// Most lines of a padded range (unless the real range is longer).
pub const PADDED_MAX_LINES: usize = 1000;

/// Longest line: 35 suffix digits, `:`, 20 count digits, CRLF.
const MAX_LINE: usize = 35 + 1 + 20 + 2;

/// Parses a 5-digit hex prefix, either case; `None` for anything else.
pub fn parse_prefix(text: &[u8]) -> Option<u32> {
    if text.len() != PREFIX_HEX {
        return None;
    }
    text.iter().try_fold(0u32, |acc, &c| {
        let digit = (c as char).to_digit(16)?;
        Some(acc << 4 | digit)
    })
}

/// The prefix as 5 upper-case hex digits.
pub fn prefix_hex(prefix: u32) -> [u8; PREFIX_HEX] {
    let digits = b"0123456789ABCDEF";
    let mut out = [0u8; PREFIX_HEX];
    for (i, o) in out.iter_mut().enumerate() {
        *o = digits[(prefix >> (4 * (PREFIX_HEX - 1 - i)) & 0xF) as usize];
    }
    out
}

/// Hex digits of a range line's suffix: 35 for SHA-1, 27 for NTLM.
pub const fn suffix_hex_len(kind: HashKind) -> usize {
    kind.hex_len() - PREFIX_HEX
}

/// The range of buckets that holds every record of `prefix`.
pub fn prefix_buckets(params: &Params, prefix: u32) -> Range<u64> {
    let prefix = prefix as u64;
    let b = params.bucket_bits;
    if b <= PREFIX_BITS {
        let bucket = prefix >> (PREFIX_BITS - b);
        bucket..bucket + 1
    } else {
        let shift = b - PREFIX_BITS;
        prefix << shift..(prefix + 1) << shift
    }
}

/// Calls `f(key, count)` for every stored hash of `prefix`, in hash order.
pub fn for_each_in_prefix<D: AsRef<[u8]>>(
    index: &Index<D>,
    prefix: u32,
    mut f: impl FnMut(Key, u64),
) -> Result<()> {
    let p = index.params();
    let kind = p.kind;
    let exact = p.bucket_bits >= PREFIX_BITS;
    for item in index.records_in(prefix_buckets(p, prefix)) {
        let (key, count) = item?;
        if !exact {
            // A bucket wider than the prefix: records are in order, so skip
            // the ones before the prefix and stop at the first one after it.
            match key.top_bits(kind, PREFIX_BITS).cmp(&(prefix as u64)) {
                std::cmp::Ordering::Less => continue,
                std::cmp::Ordering::Greater => break,
                std::cmp::Ordering::Equal => {}
            }
        }
        f(key, count);
    }
    Ok(())
}

/// Appends the unpadded range body of `prefix` to `out`; returns its line count.
pub fn write_range<D: AsRef<[u8]>>(
    index: &Index<D>,
    prefix: u32,
    out: &mut Vec<u8>,
) -> Result<usize> {
    let kind = index.kind();
    let mut lines = 0;
    let mut staged = LineBuf::new();
    for_each_in_prefix(index, prefix, |key, count| {
        staged.push(out, kind, &key, count);
        lines += 1;
    })?;
    staged.flush(out);
    Ok(lines)
}

/// Line counts of one range answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RangeLines {
    /// Lines of stored hashes.
    pub real: usize,
    /// Added lines with count 0.
    pub padding: usize,
}

/// Writes range bodies, padded or not, reusing its scratch space.
///
/// One per thread or connection: it holds the random state for padding and
/// the buffers the padding merge needs.
pub struct RangeWriter {
    rng: SplitMix64,
    real: Vec<(Key, u64)>,
    pad: Vec<Key>,
}

impl Default for RangeWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl RangeWriter {
    /// A writer whose padding is seeded from the process's random keys.
    pub fn new() -> Self {
        // `RandomState` is seeded from the OS once per process and varies
        // per instance; good enough for padding, which only hides sizes.
        let seed = std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64);
        Self::with_seed(seed)
    }

    /// A writer with deterministic padding (tests).
    pub fn with_seed(seed: u64) -> Self {
        RangeWriter {
            rng: SplitMix64(seed),
            real: Vec::new(),
            pad: Vec::new(),
        }
    }

    /// Appends the range body of `prefix` to `out`, padded to 800–1,000
    /// lines when `padding` is set.
    pub fn write<D: AsRef<[u8]>>(
        &mut self,
        index: &Index<D>,
        prefix: u32,
        padding: bool,
        out: &mut Vec<u8>,
    ) -> Result<RangeLines> {
        if !padding {
            let real = write_range(index, prefix, out)?;
            return Ok(RangeLines { real, padding: 0 });
        }
        let kind = index.kind();
        self.real.clear();
        let real = &mut self.real;
        for_each_in_prefix(index, prefix, |key, count| real.push((key, count)))?;
        let n = self.real.len();
        let span = (PADDED_MAX_LINES - PADDED_MIN_LINES + 1) as u64;
        let target = (PADDED_MIN_LINES + (self.rng.next() % span) as usize).max(n);
        self.fill_padding(kind, prefix, target - n);

        out.reserve(target * (suffix_hex_len(kind) + 6));
        let mut staged = LineBuf::new();
        let (mut r, mut q) = (0, 0);
        while r < n || q < self.pad.len() {
            let take_real = q == self.pad.len() || (r < n && self.real[r].0 < self.pad[q]);
            if take_real {
                let (key, count) = self.real[r];
                staged.push(out, kind, &key, count);
                r += 1;
            } else {
                staged.push(out, kind, &self.pad[q], 0);
                q += 1;
            }
        }
        staged.flush(out);
        Ok(RangeLines {
            real: n,
            padding: self.pad.len(),
        })
    }

    /// Fills `self.pad` with `wanted` distinct random keys inside `prefix`,
    /// sorted, none of them in `self.real` (which is sorted).
    ///
    /// Stratified: the prefix's suffix space is cut into `wanted` equal
    /// slices by the suffix's top 64 bits, and one uniformly random key is
    /// drawn inside each. The keys come out sorted and distinct with no sort
    /// or dedup (which took about half of a padded answer's time), and the
    /// values still carry no information: padding hides the answer's size,
    /// and every client drops count-0 lines.
    fn fill_padding(&mut self, kind: HashKind, prefix: u32, wanted: usize) {
        let suffix_bits = kind.bits() - PREFIX_BITS;
        let low_bits = suffix_bits - 64;
        loop {
            self.pad.clear();
            // Slice i of the top-64 space is [⌊i·2^64/m⌋, ⌊(i+1)·2^64/m⌋),
            // stepped through without a 128-bit division per key.
            let m = wanted as u128;
            let (step, rem) = (((1u128 << 64) / m.max(1)), (1u128 << 64) % m.max(1));
            let (mut start, mut carry) = (0u128, 0u128);
            for _ in 0..wanted {
                let mut span = step;
                carry += rem;
                if carry >= m {
                    carry -= m;
                    span += 1;
                }
                let top = (start + ((self.rng.next() as u128 * span) >> 64)) as u64;
                start += span;
                let mut chunks = [
                    self.rng.next() & mask(low_bits.min(64)),
                    self.rng.next() & mask(low_bits.saturating_sub(64).min(64)),
                    0,
                ];
                let (limb, shift) = ((low_bits / 64) as usize, low_bits % 64);
                chunks[limb] |= top << shift;
                if shift > 0 {
                    chunks[limb + 1] |= top >> (64 - shift);
                }
                self.pad
                    .push(Key::from_parts(prefix as u64, chunks, suffix_bits));
            }
            // A random key equal to a stored one is vanishingly rare (odds
            // about n / 2^108), but "never a stored hash" is a guarantee:
            // draw again.
            if !sorted_overlap(&self.real, &self.pad) {
                return;
            }
        }
    }
}

/// True when the two sorted sequences share a key.
fn sorted_overlap(real: &[(Key, u64)], pad: &[Key]) -> bool {
    let (mut r, mut q) = (0, 0);
    while r < real.len() && q < pad.len() {
        match real[r].0.cmp(&pad[q]) {
            std::cmp::Ordering::Less => r += 1,
            std::cmp::Ordering::Greater => q += 1,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

/// Bytes staged before they are appended to the output in one copy.
const STAGE_BYTES: usize = 4096;

/// Formats `SUFFIX:COUNT\r\n` lines into a stack buffer and appends them to
/// the output a few kilobytes at a time: appending each ~45-byte line on its
/// own cost a `memcpy` call per line, 15% of a padded answer's time.
struct LineBuf {
    buf: [u8; STAGE_BYTES],
    len: usize,
}

impl LineBuf {
    fn new() -> LineBuf {
        LineBuf {
            buf: [0; STAGE_BYTES],
            len: 0,
        }
    }

    /// Stages one line.
    #[inline]
    fn push(&mut self, out: &mut Vec<u8>, kind: HashKind, key: &Key, count: u64) {
        if self.len + MAX_LINE > STAGE_BYTES {
            self.flush(out);
        }
        let line = &mut self.buf[self.len..self.len + MAX_LINE];
        // The suffix is hex digits 5.. of the key: fixed-size copies of
        // whole-limb hex, so no per-digit loop.
        let (hi, mid, lo) = key.limbs();
        let mut at = match kind {
            HashKind::Sha1 => {
                line[..3].copy_from_slice(&hex_u64(hi)[13..]);
                line[3..19].copy_from_slice(&hex_u64(mid));
                19
            }
            HashKind::Ntlm => {
                line[..11].copy_from_slice(&hex_u64(mid)[5..]);
                11
            }
        };
        line[at..at + 16].copy_from_slice(&hex_u64(lo));
        at += 16;
        line[at] = b':';
        at += 1 + crate::report::decimal_into(count, &mut line[at + 1..]);
        line[at] = b'\r';
        line[at + 1] = b'\n';
        self.len += at + 2;
    }

    /// Appends the staged lines to `out`.
    fn flush(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.buf[..self.len]);
        self.len = 0;
    }
}

/// The 16 upper-case hex digits of `x`, most significant first.
///
/// SWAR: spreads the nibbles into the bytes of a `u128`, then turns all 16
/// into ASCII at once (`'0' + d`, plus 7 more for `d >= 10`).
#[inline]
fn hex_u64(x: u64) -> [u8; 16] {
    let x = x as u128;
    let x = (x | (x << 32)) & 0x0000_0000_FFFF_FFFF_0000_0000_FFFF_FFFF;
    let x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF_0000_FFFF_0000_FFFF;
    let x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF_00FF_00FF_00FF_00FF;
    let x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F_0F0F_0F0F_0F0F_0F0F;
    const ONES: u128 = 0x0101_0101_0101_0101_0101_0101_0101_0101;
    let letters = ((x + 6 * ONES) >> 4) & ONES;
    (x + b'0' as u128 * ONES + letters * 7).to_be_bytes()
}

/// SplitMix64: small, fast, and plenty for padding suffixes.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::fmt::Write as _;

    use super::*;
    use crate::build::{BuildOptions, build};

    type Corpus = BTreeMap<Key, u64>;

    /// A corpus with dense prefixes (several hashes sharing a prefix, even
    /// neighbours differing only in the last bit), counts crossing the
    /// inline/overflow boundary, and the extremes 00000 and FFFFF.
    fn corpus(kind: HashKind, n: usize, seed: u64) -> Corpus {
        let mut rng = SplitMix64(seed);
        let mut c = Corpus::new();
        let dense = [0u32, 0xFFFFF, 0x12345, 0xABCDE];
        let random_key = |rng: &mut SplitMix64, prefix: Option<u32>| {
            let s = kind.bits() - PREFIX_BITS;
            let chunks = [
                rng.next(),
                rng.next() & mask(s.saturating_sub(64).min(64)),
                rng.next() & mask(s.saturating_sub(128).min(64)),
            ];
            let prefix = prefix.unwrap_or((rng.next() % PREFIXES as u64) as u32);
            Key::from_parts(prefix as u64, chunks, s)
        };
        while c.len() < n {
            let prefix = rng
                .next()
                .is_multiple_of(4)
                .then(|| dense[(rng.next() % 4) as usize]);
            let key = random_key(&mut rng, prefix);
            let count = match rng.next() % 10 {
                0 => rng.next() % 50_000_000 + 1,
                _ => rng.next() % 30 + 1,
            };
            c.insert(key, count);
        }
        // Neighbours differing only in the lowest bit.
        let k = random_key(&mut rng, Some(0x54321));
        let (hi, mid, lo) = k.limbs();
        c.insert(Key::from_limbs(hi, mid, lo & !1), 7);
        c.insert(Key::from_limbs(hi, mid, lo | 1), u64::MAX >> 8);
        c
    }

    fn build_index(
        kind: HashKind,
        c: &Corpus,
        bucket_bits: u32,
    ) -> (tempfile::TempDir, Index<memmap2::Mmap>) {
        let dir = tempfile::tempdir().unwrap();
        let dump = dir.path().join("dump.txt");
        let mut text = String::new();
        for (k, n) in c {
            writeln!(text, "{}:{n}", k.to_hex(kind)).unwrap();
        }
        std::fs::write(&dump, text).unwrap();
        let path = dir.path().join("x.pwdex");
        let opts = BuildOptions {
            kind: Some(kind),
            bucket_bits: Some(bucket_bits),
            ..BuildOptions::default()
        };
        build(&dump, &path, &opts).unwrap();
        let index = Index::open(&path).unwrap();
        assert_eq!(index.params().bucket_bits, bucket_bits);
        (dir, index)
    }

    /// The range body the reference corpus implies.
    fn expected(kind: HashKind, c: &Corpus, prefix: u32) -> String {
        let mut s = String::new();
        for (k, n) in c {
            if k.top_bits(kind, PREFIX_BITS) == prefix as u64 {
                let hex = k.to_hex(kind);
                write!(s, "{}:{n}\r\n", &hex[PREFIX_HEX..]).unwrap();
            }
        }
        s
    }

    /// Every prefix of the corpus, its neighbours, and some random ones.
    fn prefixes(kind: HashKind, c: &Corpus) -> BTreeSet<u32> {
        let mut set: BTreeSet<u32> = [0, 1, 0xFFFFE, 0xFFFFF, 0x80000].into();
        for k in c.keys() {
            let p = k.top_bits(kind, PREFIX_BITS) as u32;
            set.insert(p);
            set.insert(p.saturating_sub(1));
            set.insert((p + 1).min(PREFIXES - 1));
        }
        let mut rng = SplitMix64(99);
        for _ in 0..200 {
            set.insert((rng.next() % PREFIXES as u64) as u32);
        }
        set
    }

    fn check_unpadded(kind: HashKind, bucket_bits: u32) {
        let c = corpus(kind, 3_000, bucket_bits as u64 + kind.code() as u64 * 100);
        let (_dir, index) = build_index(kind, &c, bucket_bits);
        let mut w = RangeWriter::with_seed(1);
        let mut out = Vec::new();
        for prefix in prefixes(kind, &c) {
            out.clear();
            let lines = w.write(&index, prefix, false, &mut out).unwrap();
            let want = expected(kind, &c, prefix);
            assert_eq!(
                std::str::from_utf8(&out).unwrap(),
                want,
                "{kind} b={bucket_bits} prefix {:05X}",
                prefix
            );
            assert_eq!(lines.real, want.lines().count());
            assert_eq!(lines.padding, 0);
        }
    }

    fn check_padded(kind: HashKind, bucket_bits: u32) {
        let c = corpus(kind, 3_000, 7 + bucket_bits as u64);
        let (_dir, index) = build_index(kind, &c, bucket_bits);
        let mut w = RangeWriter::with_seed(bucket_bits as u64);
        let mut out = Vec::new();
        let mut totals = BTreeSet::new();
        for prefix in prefixes(kind, &c).into_iter().step_by(23) {
            out.clear();
            let lines = w.write(&index, prefix, true, &mut out).unwrap();
            let text = std::str::from_utf8(&out).unwrap();
            let all: Vec<&str> = text.split_terminator("\r\n").collect();
            assert_eq!(text.len(), all.iter().map(|l| l.len() + 2).sum::<usize>());
            assert!((PADDED_MIN_LINES..=PADDED_MAX_LINES).contains(&all.len()));
            assert_eq!(all.len(), lines.real + lines.padding);
            totals.insert(all.len());
            // Sorted, distinct, well-formed; zero lines never a stored hash.
            let suffixes: Vec<&str> = all.iter().map(|l| l.split(':').next().unwrap()).collect();
            assert!(
                suffixes.windows(2).all(|w| w[0] < w[1]),
                "{prefix:05X} not sorted"
            );
            let mut real = String::new();
            for line in &all {
                let (suffix, count) = line.split_once(':').unwrap();
                assert_eq!(suffix.len(), suffix_hex_len(kind));
                assert!(
                    suffix
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
                );
                let full = format!(
                    "{}{suffix}",
                    std::str::from_utf8(&prefix_hex(prefix)).unwrap()
                );
                let key = crate::hash::parse_hex_key(kind, full.as_bytes()).unwrap();
                if count == "0" {
                    assert!(!c.contains_key(&key), "padding collides with {full}");
                } else {
                    write!(real, "{line}\r\n").unwrap();
                }
            }
            assert_eq!(real, expected(kind, &c, prefix), "{prefix:05X}");
        }
        assert!(totals.len() > 10, "padding targets should vary: {totals:?}");
    }

    #[test]
    fn prefix_parsing() {
        assert_eq!(parse_prefix(b"5BAA6"), Some(0x5BAA6));
        assert_eq!(parse_prefix(b"5baa6"), Some(0x5BAA6));
        assert_eq!(parse_prefix(b"fffff"), Some(0xFFFFF));
        assert_eq!(parse_prefix(b"00000"), Some(0));
        for bad in [
            &b"5BAA"[..],
            b"5BAA61",
            b"5BAG6",
            b"",
            b"5BA 6",
            b"+BAA6",
            b"5\xffAA6",
        ] {
            assert_eq!(parse_prefix(bad), None, "{bad:?}");
        }
        assert_eq!(&prefix_hex(0x5BAA6), b"5BAA6");
        assert_eq!(&prefix_hex(0x0000F), b"0000F");
    }

    #[test]
    fn bucket_ranges_cover_exactly_the_prefix() {
        let mut p = Params {
            kind: HashKind::Sha1,
            records: 0,
            bucket_bits: 0,
            sample_shift: 0,
            count_width: 8,
            overflow_entries: 0,
            overflow_index_bits: 0,
            overflow_count_bits: 0,
            filter_blocks: 1,
        };
        for b in [0, 7, 19, 20, 21, 24, 31, 40] {
            p.bucket_bits = b;
            for prefix in [0u32, 1, 0x5BAA6, 0xFFFFF] {
                let r = prefix_buckets(&p, prefix);
                let key = Key::from_parts(prefix as u64, [0; 3], 140);
                assert!(r.contains(&key.top_bits(HashKind::Sha1, b)), "b={b}");
                assert_eq!(r.end - r.start, 1 << b.saturating_sub(20));
                assert!(r.end <= p.buckets());
            }
        }
    }

    #[test]
    fn swar_hex_matches_format() {
        let mut rng = SplitMix64(8);
        for x in [0, 9, 10, 15, 0xABCDEF, u64::MAX, 0x0123_4567_89AB_CDEF]
            .into_iter()
            .chain((0..1000).map(|_| rng.next()))
        {
            assert_eq!(
                std::str::from_utf8(&hex_u64(x)).unwrap(),
                format!("{x:016X}")
            );
        }
    }

    #[test]
    fn decimal() {
        let mut buf = [0u8; 20];
        for n in [0, 1, 9, 10, 12345, u64::MAX] {
            let len = crate::report::decimal_into(n, &mut buf);
            assert_eq!(std::str::from_utf8(&buf[..len]).unwrap(), n.to_string());
        }
    }

    #[test]
    fn sha1_small_buckets() {
        check_unpadded(HashKind::Sha1, 8);
        check_unpadded(HashKind::Sha1, 0);
    }

    #[test]
    fn sha1_bucket_per_prefix() {
        check_unpadded(HashKind::Sha1, 20);
    }

    #[test]
    fn sha1_prefix_spans_buckets() {
        check_unpadded(HashKind::Sha1, 23);
    }

    #[test]
    fn ntlm_all_bucket_shapes() {
        for b in [11, 20, 26] {
            check_unpadded(HashKind::Ntlm, b);
        }
    }

    #[test]
    fn padding_keeps_real_lines_and_pads_to_800_1000() {
        check_padded(HashKind::Sha1, 12);
        check_padded(HashKind::Sha1, 20);
        check_padded(HashKind::Ntlm, 22);
    }

    #[test]
    fn padding_never_shrinks_a_long_range() {
        // A single prefix holding more than 1,000 hashes: padding adds nothing.
        let kind = HashKind::Ntlm;
        let mut rng = SplitMix64(5);
        let c: Corpus = (0..1_200)
            .map(|_| {
                (
                    Key::from_parts(0xABCDE, [rng.next(), rng.next() & mask(44), 0], 108),
                    3,
                )
            })
            .collect();
        let (_dir, index) = build_index(kind, &c, 10);
        let mut out = Vec::new();
        let lines = RangeWriter::with_seed(3)
            .write(&index, 0xABCDE, true, &mut out)
            .unwrap();
        assert_eq!(
            lines,
            RangeLines {
                real: c.len(),
                padding: 0
            }
        );
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            expected(kind, &c, 0xABCDE)
        );
    }

    #[test]
    fn padding_keys_are_sorted_distinct_and_inside_the_prefix() {
        for kind in [HashKind::Sha1, HashKind::Ntlm] {
            let mut w = RangeWriter::with_seed(kind.code() as u64);
            for wanted in [0, 1, 2, 3, 999, 1000] {
                w.fill_padding(kind, 0xFFFFF, wanted);
                assert_eq!(w.pad.len(), wanted);
                assert!(w.pad.windows(2).all(|p| p[0] < p[1]), "{kind} {wanted}");
                assert!(
                    w.pad
                        .iter()
                        .all(|k| k.top_bits(kind, PREFIX_BITS) == 0xFFFFF)
                );
            }
            // Spread over the whole prefix, not bunched at one end.
            w.fill_padding(kind, 0, 2);
            assert!(w.pad[0].top_bits(kind, 21) == 0 && w.pad[1].top_bits(kind, 21) == 1);
        }
    }

    #[test]
    fn empty_index_answers_every_prefix_empty_or_padded() {
        let kind = HashKind::Sha1;
        let c = Corpus::new();
        let (_dir, index) = build_index(kind, &c, 4);
        let mut w = RangeWriter::with_seed(4);
        let mut out = Vec::new();
        assert_eq!(w.write(&index, 0x12345, false, &mut out).unwrap().real, 0);
        assert!(out.is_empty());
        let lines = w.write(&index, 0x12345, true, &mut out).unwrap();
        assert!((800..=1000).contains(&lines.padding));
    }
}
