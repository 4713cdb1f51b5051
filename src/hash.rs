/*!
Hash kinds and the fixed-width key every other module works on.

A Pwned Passwords hash is either SHA-1 (160 bits, 40 hex digits) or NTLM
(MD4 of the UTF-16LE password, 128 bits, 32 hex digits). Internally a hash is
a [`Key`]: the hash read as one big-endian unsigned number, held in three
64-bit limbs, least significant first. Comparing keys therefore orders them
exactly like the hex text of the dump, and the index can take "the top `b`
bits" or "the low `s` bits" of a key with shifts instead of byte juggling.

This module also owns hex decoding and encoding (hot paths for `build` and
`check`) and the plaintext hash functions used for plaintext inputs.
*/

use std::fmt;
use std::str::FromStr;

/// Which hash function a corpus, an index or a query list uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashKind {
    /// SHA-1 over the UTF-8 bytes of the password: 20 bytes, 40 hex digits.
    Sha1,
    /// NT hash, MD4 over the UTF-16LE bytes of the password: 16 bytes, 32 hex digits.
    Ntlm,
}

impl HashKind {
    /// Number of bytes in a hash of this kind.
    pub const fn byte_len(self) -> usize {
        match self {
            HashKind::Sha1 => 20,
            HashKind::Ntlm => 16,
        }
    }

    /// Number of hex digits in a hash of this kind.
    pub const fn hex_len(self) -> usize {
        self.byte_len() * 2
    }

    /// Number of bits in a hash of this kind.
    pub const fn bits(self) -> u32 {
        self.byte_len() as u32 * 8
    }

    /// The kind whose hex length is `len`, if any.
    pub fn from_hex_len(len: usize) -> Option<HashKind> {
        match len {
            40 => Some(HashKind::Sha1),
            32 => Some(HashKind::Ntlm),
            _ => None,
        }
    }

    /// Short lower-case name used on the command line and in `info`.
    pub const fn name(self) -> &'static str {
        match self {
            HashKind::Sha1 => "sha1",
            HashKind::Ntlm => "ntlm",
        }
    }

    /// Code stored in the index header.
    pub const fn code(self) -> u8 {
        match self {
            HashKind::Sha1 => 1,
            HashKind::Ntlm => 2,
        }
    }

    /// Inverse of [`HashKind::code`].
    pub fn from_code(code: u8) -> Option<HashKind> {
        match code {
            1 => Some(HashKind::Sha1),
            2 => Some(HashKind::Ntlm),
            _ => None,
        }
    }

    /// Hashes a plaintext password the way the corpus of this kind does.
    pub fn hash_plaintext(self, password: &[u8]) -> Key {
        match self {
            HashKind::Sha1 => {
                use sha1::Digest;
                let digest = sha1::Sha1::digest(password);
                Key::from_bytes(self, &digest)
            }
            HashKind::Ntlm => {
                use md4::Digest;
                // NTLM is defined over UTF-16LE; invalid UTF-8 is replaced by
                // U+FFFD, which is what Windows would store for such input.
                let text = String::from_utf8_lossy(password);
                let utf16: Vec<u8> = text.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
                let digest = md4::Md4::digest(&utf16);
                Key::from_bytes(self, &digest)
            }
        }
    }
}

impl fmt::Display for HashKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HashKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "sha1" | "sha-1" => Ok(HashKind::Sha1),
            "ntlm" | "nt" => Ok(HashKind::Ntlm),
            _ => Err(format!("unknown hash kind {s:?}: expected sha1 or ntlm")),
        }
    }
}

/// A hash as a big-endian number in three 64-bit limbs, least significant first.
///
/// For NTLM the top limb is always zero. Ordering is numeric, which is the
/// same as the order of the upper-case hex text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Key {
    // Field order matters for the derived `Ord`: most significant first.
    hi: u64,
    mid: u64,
    lo: u64,
}

impl Key {
    /// Builds a key from raw hash bytes; `bytes.len()` must be `kind.byte_len()`.
    pub fn from_bytes(kind: HashKind, bytes: &[u8]) -> Key {
        debug_assert_eq!(bytes.len(), kind.byte_len());
        let n = bytes.len();
        let lo = u64::from_be_bytes(bytes[n - 8..n].try_into().unwrap());
        let mid = u64::from_be_bytes(bytes[n - 16..n - 8].try_into().unwrap());
        let hi = match kind {
            HashKind::Sha1 => u32::from_be_bytes(bytes[0..4].try_into().unwrap()) as u64,
            HashKind::Ntlm => 0,
        };
        Key { hi, mid, lo }
    }

    /// Builds a key from its limbs (most significant first).
    pub const fn from_limbs(hi: u64, mid: u64, lo: u64) -> Key {
        Key { hi, mid, lo }
    }

    /// The limbs, most significant first.
    pub const fn limbs(&self) -> (u64, u64, u64) {
        (self.hi, self.mid, self.lo)
    }

    /// The raw hash bytes (first `kind.byte_len()` bytes of the array are used).
    pub fn to_bytes(&self, kind: HashKind) -> [u8; 20] {
        let mut out = [0u8; 20];
        match kind {
            HashKind::Sha1 => {
                out[0..4].copy_from_slice(&(self.hi as u32).to_be_bytes());
                out[4..12].copy_from_slice(&self.mid.to_be_bytes());
                out[12..20].copy_from_slice(&self.lo.to_be_bytes());
            }
            HashKind::Ntlm => {
                out[0..8].copy_from_slice(&self.mid.to_be_bytes());
                out[8..16].copy_from_slice(&self.lo.to_be_bytes());
            }
        }
        out
    }

    /// The most significant 64 bits of a `kind` hash.
    #[inline]
    pub fn top64(&self, kind: HashKind) -> u64 {
        match kind {
            HashKind::Sha1 => (self.hi << 32) | (self.mid >> 32),
            HashKind::Ntlm => self.mid,
        }
    }

    /// The top `bits` bits (0..=64) of a `kind` hash, as a number.
    #[inline]
    pub fn top_bits(&self, kind: HashKind, bits: u32) -> u64 {
        if bits == 0 {
            0
        } else {
            self.top64(kind) >> (64 - bits)
        }
    }

    /// The low `bits` bits of the key, split into the 64-bit chunks the
    /// record layout stores: `[bits 0..64, bits 64..128, bits 128..]`.
    /// Chunks beyond `bits` are zero.
    #[inline]
    pub fn low_chunks(&self, bits: u32) -> [u64; 3] {
        [
            self.lo & mask(bits.min(64)),
            self.mid & mask(bits.saturating_sub(64).min(64)),
            self.hi & mask(bits.saturating_sub(128).min(64)),
        ]
    }

    /// Rebuilds a key from its top bits (`prefix`, `prefix_bits` wide) and
    /// its low chunks (`suffix_bits` wide). `prefix_bits + suffix_bits` must
    /// equal `kind.bits()`.
    pub fn from_parts(prefix: u64, suffix: [u64; 3], suffix_bits: u32) -> Key {
        let mut key = Key {
            hi: suffix[2],
            mid: suffix[1],
            lo: suffix[0],
        };
        if prefix != 0 {
            // Place the prefix right above the suffix bits.
            let s = suffix_bits;
            let p = prefix as u128;
            match s {
                0..=63 => {
                    let v = p << s;
                    key.lo |= v as u64;
                    key.mid |= (v >> 64) as u64;
                }
                64..=127 => {
                    let v = p << (s - 64);
                    key.mid |= v as u64;
                    key.hi |= (v >> 64) as u64;
                }
                _ => key.hi |= prefix << (s - 128),
            }
        }
        key
    }

    /// 64 bits that pick the filter block: the hash's most significant 64
    /// bits, so that keys in hash order fill and probe the filter front to
    /// back (format 2; format 1 used the least significant limb, which
    /// scattered a sorted build's inserts over the whole filter).
    #[inline]
    pub fn filter_block_bits(&self, kind: HashKind) -> u64 {
        self.top64(kind)
    }

    /// 64 bits that pick the bits inside a filter block: the least
    /// significant limb, disjoint from [`Key::filter_block_bits`] for both
    /// kinds (only its low 48 bits are used).
    #[inline]
    pub fn filter_probe_bits(&self) -> u64 {
        self.lo
    }

    /// Writes the upper-case hex of a `kind` hash into `out` (which must be
    /// `kind.hex_len()` bytes long).
    #[inline]
    pub fn write_hex(&self, kind: HashKind, out: &mut [u8]) {
        let bytes = self.to_bytes(kind);
        for (i, b) in bytes[..kind.byte_len()].iter().enumerate() {
            let pair = HEX_PAIRS[*b as usize];
            out[2 * i] = pair[0];
            out[2 * i + 1] = pair[1];
        }
    }

    /// The upper-case hex of a `kind` hash.
    pub fn to_hex(&self, kind: HashKind) -> String {
        let mut buf = vec![0u8; kind.hex_len()];
        self.write_hex(kind, &mut buf);
        String::from_utf8(buf).expect("hex is ASCII")
    }
}

/// A mask of the low `bits` bits (0..=64).
#[inline]
pub const fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// Hex digit value per ASCII byte; 0xFF for anything that is not a hex digit.
static HEX_VALUE: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Upper-case hex pair per byte value.
static HEX_PAIRS: [[u8; 2]; 256] = {
    let digits = b"0123456789ABCDEF";
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [digits[i >> 4], digits[i & 15]];
        i += 1;
    }
    t
};

#[cfg(any(not(target_arch = "x86_64"), test))]
const ONES: u64 = 0x0101_0101_0101_0101;
#[cfg(any(not(target_arch = "x86_64"), test))]
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Per byte of `x` (all bytes below 0x80): 0x80 where `lo <= byte <= hi`, else 0.
#[cfg(any(not(target_arch = "x86_64"), test))]
#[inline(always)]
const fn bytes_in_range(x: u64, lo: u8, hi: u8) -> u64 {
    // Setting bit 7 first keeps each byte's subtraction from borrowing from
    // its neighbour; bit 7 of the difference then says "byte >= bound".
    let at_least_lo = (x | HIGHS).wrapping_sub(ONES * lo as u64);
    let above_hi = (x | HIGHS).wrapping_sub(ONES * (hi as u64 + 1));
    at_least_lo & !above_hi & HIGHS
}

/// Decodes 8 ASCII hex digits (either case), first digit most significant;
/// `None` if any byte is not a hex digit.
///
/// SWAR: validates and converts all eight bytes with word-wide arithmetic.
/// Measured 2x faster than one table lookup per digit on 40-digit hashes
/// (`cargo bench --bench hot_paths -- parse`). The parser of targets other
/// than x86-64 (which uses SSE2 instead), kept in the tests there.
#[cfg(any(not(target_arch = "x86_64"), test))]
#[inline(always)]
fn hex8(digits: [u8; 8]) -> Option<u32> {
    let x = u64::from_le_bytes(digits);
    let digit = bytes_in_range(x, b'0', b'9');
    let letter = bytes_in_range(x | 0x2020_2020_2020_2020, b'a', b'f');
    if x & HIGHS != 0 || (digit | letter) != HIGHS {
        return None;
    }
    // '0'..'9' -> low nibble; 'a'..'f' / 'A'..'F' -> low nibble (1..6) + 9.
    let nibbles = (x & 0x0F0F_0F0F_0F0F_0F0F) + ((x >> 6) & ONES) * 9;
    // Byte 0 holds the first (most significant) digit; pack pairs, then bytes.
    let pairs = ((nibbles & 0x000F_000F_000F_000F) << 4) | ((nibbles & 0x0F00_0F00_0F00_0F00) >> 8);
    let quads = (pairs | (pairs >> 8)) & 0x0000_FFFF_0000_FFFF;
    let word = (quads | (quads >> 16)) as u32;
    Some(word.swap_bytes())
}

/// Reads 8 bytes of `hex` at `at` for [`hex8`].
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn hex8_at(hex: &[u8], at: usize) -> Option<u64> {
    hex8(hex[at..at + 8].try_into().ok()?).map(|v| v as u64)
}

/// Parses exactly `kind.hex_len()` hex digits (either case) into a key.
///
/// Always inlined: called, it returned the key through memory and the
/// caller's 16-byte reload of it waited on the two 8-byte stores.
#[inline(always)]
pub fn parse_hex_key(kind: HashKind, hex: &[u8]) -> Option<Key> {
    if hex.len() != kind.hex_len() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let first: [u8; 32] = hex[..32].try_into().ok()?;
        let bytes = u128::from_be_bytes(hex32(first)?);
        match kind {
            HashKind::Sha1 => {
                // Digits 24..40, whose last 4 bytes are digits 32..40.
                let tail = hex16(hex[24..40].try_into().ok()?)?;
                let last = u32::from_be_bytes([tail[4], tail[5], tail[6], tail[7]]);
                Some(Key {
                    hi: (bytes >> 96) as u64,
                    mid: (bytes >> 32) as u64,
                    lo: (bytes as u64) << 32 | last as u64,
                })
            }
            HashKind::Ntlm => Some(Key {
                hi: 0,
                mid: (bytes >> 64) as u64,
                lo: bytes as u64,
            }),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    match kind {
        HashKind::Sha1 => Some(Key {
            hi: hex8_at(hex, 0)?,
            mid: hex8_at(hex, 8)? << 32 | hex8_at(hex, 16)?,
            lo: hex8_at(hex, 24)? << 32 | hex8_at(hex, 32)?,
        }),
        HashKind::Ntlm => Some(Key {
            hi: 0,
            mid: hex8_at(hex, 0)? << 32 | hex8_at(hex, 8)?,
            lo: hex8_at(hex, 16)? << 32 | hex8_at(hex, 24)?,
        }),
    }
}

/// Decodes 32 ASCII hex digits (either case) into 16 bytes, first digit
/// most significant; `None` if any is not a hex digit. SSE2 (every x86-64
/// CPU has it) validates and converts 16 digits at a time: a hand-written
/// hot path, the parse of every query (the commit message has the figures).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn hex32(digits: [u8; 32]) -> Option<[u8; 16]> {
    use std::arch::x86_64::{__m128i, _mm_packus_epi16};
    // SAFETY: `[u8; 32]` and `[__m128i; 2]`, and `__m128i` and `[u8; 16]`,
    // have the same sizes and every bit pattern is valid for each; the SSE2
    // intrinsics are part of the x86-64 baseline, so always available.
    unsafe {
        let halves = std::mem::transmute::<[u8; 32], [__m128i; 2]>(digits);
        let (ok0, pairs0) = hex16_lanes(halves[0]);
        let (ok1, pairs1) = hex16_lanes(halves[1]);
        if ok0 & ok1 != 0xFFFF {
            return None;
        }
        Some(std::mem::transmute::<__m128i, [u8; 16]>(_mm_packus_epi16(
            pairs0, pairs1,
        )))
    }
}

/// [`hex32`] for 16 digits, into 8 bytes. The last 8 digits of a SHA-1
/// hash are parsed as the last 16 (24..40): the SWAR decoder of 8 digits
/// took 45 instructions, this about 20 (callgrind, in the commit message).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn hex16(digits: [u8; 16]) -> Option<[u8; 8]> {
    use std::arch::x86_64::{__m128i, _mm_packus_epi16};
    // SAFETY: as in `hex32`: same sizes, every bit pattern valid, SSE2
    // always available on x86-64.
    unsafe {
        let (ok, pairs) = hex16_lanes(std::mem::transmute::<[u8; 16], __m128i>(digits));
        if ok != 0xFFFF {
            return None;
        }
        let bytes = std::mem::transmute::<__m128i, [u8; 16]>(_mm_packus_epi16(pairs, pairs));
        Some(bytes[..8].try_into().unwrap())
    }
}

/// Validates and converts 16 hex digits: a bit per byte that is a hex
/// digit (16 bits), and the 8 values the digit pairs make, each in the low
/// byte of a 16-bit lane (ready for `_mm_packus_epi16`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn hex16_lanes(x: std::arch::x86_64::__m128i) -> (u32, std::arch::x86_64::__m128i) {
    use std::arch::x86_64::{
        _mm_add_epi8, _mm_and_si128, _mm_cmpgt_epi8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm_set1_epi16, _mm_slli_epi16, _mm_srli_epi16,
    };
    // SAFETY: the SSE2 intrinsics are part of the x86-64 baseline, so
    // always available; they take and return values, no pointers.
    unsafe {
        // Signed compares: bytes from 0x80 up are negative, so neither digits
        // nor letters.
        let digit = _mm_and_si128(
            _mm_cmpgt_epi8(x, _mm_set1_epi8(b'0' as i8 - 1)),
            _mm_cmpgt_epi8(_mm_set1_epi8(b'9' as i8 + 1), x),
        );
        let lower = _mm_or_si128(x, _mm_set1_epi8(0x20));
        let letter = _mm_and_si128(
            _mm_cmpgt_epi8(lower, _mm_set1_epi8(b'a' as i8 - 1)),
            _mm_cmpgt_epi8(_mm_set1_epi8(b'f' as i8 + 1), lower),
        );
        let ok = _mm_movemask_epi8(_mm_or_si128(digit, letter)) as u32;
        // '0'..'9' -> low nibble; letters -> low nibble (1..6) + 9.
        let nibbles = _mm_add_epi8(
            _mm_and_si128(x, _mm_set1_epi8(0x0F)),
            _mm_and_si128(letter, _mm_set1_epi8(9)),
        );
        // Each 16-bit lane holds two digits, first in its low byte: make it
        // (first << 4 | second) in the low byte, 0 above.
        let pairs = _mm_or_si128(
            _mm_and_si128(_mm_slli_epi16::<4>(nibbles), _mm_set1_epi16(0x00F0)),
            _mm_srli_epi16::<8>(nibbles),
        );
        (ok, pairs)
    }
}

/// True when every byte is a hex digit.
pub fn is_hex(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| HEX_VALUE[b as usize] != 0xFF)
}

/// A xorshift64 generator for tests: deterministic, and enough to spread
/// keys and bytes.
#[cfg(test)]
pub(crate) fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_vectors_from_formats_md() {
        let cases = [
            (
                "",
                "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
                "31D6CFE0D16AE931B73C59D7E0C089C0",
            ),
            (
                "password",
                "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8",
                "8846F7EAEE8FB117AD06BDD830B7586C",
            ),
            (
                "P@ssw0rd",
                "21BD12DC183F740EE76F27B78EB39C8AD972A757",
                "E19CCF75EE54E06B06A5907AF13CEF42",
            ),
        ];
        for (pw, sha1, ntlm) in cases {
            assert_eq!(
                HashKind::Sha1
                    .hash_plaintext(pw.as_bytes())
                    .to_hex(HashKind::Sha1),
                sha1
            );
            assert_eq!(
                HashKind::Ntlm
                    .hash_plaintext(pw.as_bytes())
                    .to_hex(HashKind::Ntlm),
                ntlm
            );
        }
    }

    #[test]
    fn hex_round_trip_and_case() {
        let hex = "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8";
        let key = parse_hex_key(HashKind::Sha1, hex.as_bytes()).unwrap();
        assert_eq!(key.to_hex(HashKind::Sha1), hex.to_ascii_uppercase());
        let bytes = key.to_bytes(HashKind::Sha1);
        assert_eq!(Key::from_bytes(HashKind::Sha1, &bytes), key);
        let nt = parse_hex_key(HashKind::Ntlm, b"8846F7EAEE8FB117AD06BDD830B7586C").unwrap();
        assert_eq!(
            nt.to_hex(HashKind::Ntlm),
            "8846F7EAEE8FB117AD06BDD830B7586C"
        );
    }

    #[test]
    fn hex_rejects_bad_digits_and_lengths() {
        assert!(
            parse_hex_key(HashKind::Sha1, b"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FDG").is_none()
        );
        assert!(
            parse_hex_key(HashKind::Sha1, b"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD").is_none()
        );
        assert!(parse_hex_key(HashKind::Ntlm, b"8846F7EAEE8FB117AD06BDD830B7586 ").is_none());
        assert!(parse_hex_key(HashKind::Ntlm, b"8846F7EAEE8FB117AD06BDD830B7586\xff").is_none());
    }

    #[test]
    fn swar_hex_agrees_with_a_plain_decoder_on_every_byte() {
        // Every byte value in every position of an 8-digit group.
        for pos in 0..8 {
            for b in 0..=255u8 {
                let mut digits = *b"0123abCD";
                digits[pos] = b;
                let plain = std::str::from_utf8(&digits)
                    .ok()
                    .filter(|t| t.bytes().all(|c| c.is_ascii_hexdigit()))
                    .and_then(|t| u32::from_str_radix(t, 16).ok());
                assert_eq!(hex8(digits), plain, "{digits:?}");
            }
        }
    }

    #[test]
    fn keys_parse_like_a_plain_decoder_with_any_byte_anywhere() {
        // Every byte value at every position of a SHA-1 and an NTLM hash.
        let base = *b"0123456789abcdefABCDEF0123456789aBcDeF01";
        for kind in [HashKind::Sha1, HashKind::Ntlm] {
            let len = kind.hex_len();
            for pos in 0..len {
                for b in 0..=255u8 {
                    let mut hex = base;
                    hex[pos] = b;
                    let hex = &hex[..len];
                    let plain = std::str::from_utf8(hex)
                        .ok()
                        .filter(|t| t.bytes().all(|c| c.is_ascii_hexdigit()))
                        .map(|t| t.to_ascii_uppercase());
                    let parsed = parse_hex_key(kind, hex).map(|k| k.to_hex(kind));
                    assert_eq!(parsed, plain, "{kind} {hex:?}");
                }
            }
        }
    }

    #[test]
    fn keys_parse_like_a_plain_decoder_with_random_damage() {
        // Random hashes in mixed case, a few with one to three bytes of
        // anything, against the plain decoder.
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        let alphabet = b"0123456789abcdefABCDEF";
        for round in 0..100_000 {
            let kind = if round % 2 == 0 {
                HashKind::Sha1
            } else {
                HashKind::Ntlm
            };
            let mut hex: Vec<u8> = (0..kind.hex_len())
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            for _ in 0..next() % 4 {
                let at = (next() % hex.len() as u64) as usize;
                hex[at] = next() as u8;
            }
            let plain = std::str::from_utf8(&hex)
                .ok()
                .filter(|t| t.bytes().all(|c| c.is_ascii_hexdigit()))
                .map(|t| t.to_ascii_uppercase());
            assert_eq!(
                parse_hex_key(kind, &hex).map(|k| k.to_hex(kind)),
                plain,
                "{hex:?}"
            );
        }
    }

    #[test]
    fn key_order_matches_hex_order() {
        let a = parse_hex_key(HashKind::Sha1, b"0000000000000000000000000000000000000001").unwrap();
        let b = parse_hex_key(HashKind::Sha1, b"0000000100000000000000000000000000000000").unwrap();
        let c = parse_hex_key(HashKind::Sha1, b"FFFFFFFF00000000000000000000000000000000").unwrap();
        assert!(a < b && b < c);
    }

    #[test]
    fn split_and_rebuild_at_every_width() {
        for kind in [HashKind::Sha1, HashKind::Ntlm] {
            let key = kind.hash_plaintext(b"split me");
            for prefix_bits in 0..=40u32 {
                let suffix_bits = kind.bits() - prefix_bits;
                let prefix = key.top_bits(kind, prefix_bits);
                let chunks = key.low_chunks(suffix_bits);
                assert_eq!(
                    Key::from_parts(prefix, chunks, suffix_bits),
                    key,
                    "{kind} {prefix_bits}"
                );
            }
        }
    }
}
