/*!
The Bloom-filter front: a split-block Bloom filter checked before the records.

Design. The filter is an array of 512-bit blocks (one 64-byte cache line
each). A key selects one block, and sets or tests one bit in each of the
block's eight 64-bit words, so a probe costs exactly one cache line and no
more than eight word tests. Because the stored hashes are already uniformly
random, no extra hashing is done: the block is chosen by multiply-shift from
the hash's leading 64 bits ([`Key::filter_block_bits`]) and the eight bit
positions are consecutive 6-bit fields of its least significant 64 bits
([`Key::filter_probe_bits`]). Leading bits make the block order follow the
hash order, so a sorted build fills the filter front to back and merges each
block's bits once ([`FilterBuilder::insert_many`]).

Partial corpora. The sizing below assumes the stored hashes spread over the
whole hash space, as a corpus or any set of random hashes does. An index
built from part of the space (say, range files for a quarter of the
prefixes) crowds its keys into that part of the filter: no false negatives,
but more false positives for queries in that part (each costs a bucket
lookup), and the rate predicted from the sizing is too low for them. The
build therefore also measures the rate from the filter's bits
([`FilterBuilder::measured_fpp`]) and `info` shows both.

Sizing. With `λ` keys per block on average, the number of keys in a block is
Poisson(λ) and a word with `x` keys has a given bit set with probability
`1 - (1 - 1/64)^x`, so the false-positive rate is
`Σₓ Poisson(x; λ) · (1 - (1 - 1/64)^x)^8`. [`blocks_for`] solves this for
the target rate. At 1% it gives about 10.1 bits per key, 1.05 times the
classic Bloom bound of 9.59 (a 256-bit block would need 10.5).

The filter never produces a false negative: it may only rule a key *out*,
and every key it lets through is confirmed against the records.
*/

use std::sync::atomic::{AtomicU64, Ordering};

use crate::hash::{HashKind, Key};

/// Bytes per filter block (one cache line).
pub const BLOCK_BYTES: usize = 64;
/// Bits per filter block.
pub const BLOCK_BITS: u64 = 512;
/// Default target false-positive rate.
pub const DEFAULT_FPP: f64 = 0.01;

/// Block number for a key in a filter of `blocks` blocks.
#[inline]
pub fn block_of(key: &Key, kind: HashKind, blocks: u64) -> u64 {
    ((key.filter_block_bits(kind) as u128 * blocks as u128) >> 64) as u64
}

/// The eight single-bit masks a key sets, one per 64-bit word of its block.
#[inline]
pub fn word_masks(key: &Key) -> [u64; 8] {
    let probe = key.filter_probe_bits();
    let mut masks = [0u64; 8];
    for (i, m) in masks.iter_mut().enumerate() {
        *m = 1u64 << ((probe >> (6 * i)) & 63);
    }
    masks
}

/// Tests a key against a filter stored as little-endian bytes
/// (`blocks * 64` of them). Returns `None` if the block is out of range,
/// which only happens for a corrupt filter section.
#[inline]
pub fn may_contain(filter: &[u8], blocks: u64, kind: HashKind, key: &Key) -> Option<bool> {
    let block = block_of(key, kind, blocks) as usize;
    let start = block.checked_mul(BLOCK_BYTES)?;
    let bytes: &[u8; BLOCK_BYTES] = filter.get(start..start + BLOCK_BYTES)?.try_into().ok()?;
    Some(block_contains(bytes, key))
}

/// Tests a key against one filter block.
#[inline]
pub fn block_contains(block: &[u8; BLOCK_BYTES], key: &Key) -> bool {
    let masks = word_masks(key);
    let mut all = true;
    for (i, m) in masks.iter().enumerate() {
        let word = u64::from_le_bytes(block[i * 8..i * 8 + 8].try_into().unwrap());
        all &= word & m == *m;
    }
    all
}

/// A filter being built in memory. Inserts take `&self` (atomic ORs), so
/// the build's parse workers fill it in parallel while the packer writes.
pub struct FilterBuilder {
    words: Vec<AtomicU64>,
    blocks: u64,
    kind: HashKind,
}

impl FilterBuilder {
    /// An empty filter of `blocks` blocks (at least one) for `kind` hashes.
    pub fn new(blocks: u64, kind: HashKind) -> Self {
        let blocks = blocks.max(1);
        FilterBuilder {
            words: (0..blocks * 8).map(|_| AtomicU64::new(0)).collect(),
            blocks,
            kind,
        }
    }

    /// Number of blocks.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Adds a key.
    #[inline]
    pub fn insert(&self, key: &Key) {
        self.merge(block_of(key, self.kind, self.blocks), &word_masks(key));
    }

    /// Adds many keys. Keys in hash order (every caller's case) pick
    /// non-decreasing blocks, about fifty keys per block at 1%: their bits
    /// are gathered in registers and each block is merged once, with at
    /// most eight atomic ORs, instead of up to eight per key. Inserts were
    /// 22% of a 100M-record build's CPU time when every key was merged
    /// into a block chosen at random (format 1).
    pub fn insert_many<'k>(&self, keys: impl Iterator<Item = &'k Key>) {
        let mut block = u64::MAX;
        let mut bits = [0u64; 8];
        for key in keys {
            let b = block_of(key, self.kind, self.blocks);
            if b != block {
                if block != u64::MAX {
                    self.merge(block, &bits);
                }
                block = b;
                bits = [0; 8];
            }
            for (w, m) in bits.iter_mut().zip(word_masks(key)) {
                *w |= m;
            }
        }
        if block != u64::MAX {
            self.merge(block, &bits);
        }
    }

    /// ORs `bits` into the eight words of `block`.
    #[inline]
    fn merge(&self, block: u64, bits: &[u64; 8]) {
        let base = block as usize * 8;
        for (word, &m) in self.words[base..base + 8].iter().zip(bits) {
            // Skip the locked read-modify-write when the bits are already set.
            if word.load(Ordering::Relaxed) & m != m {
                word.fetch_or(m, Ordering::Relaxed);
            }
        }
    }

    /// Writes the filter section bytes (little-endian words) to `out`, a
    /// megabyte at a time: a copy of the whole filter (126 MB at 100M
    /// records) was fresh memory to fault in, about 1% of a build.
    pub fn write_to(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(1 << 20);
        for words in self.words.chunks((1 << 20) / 8) {
            buf.clear();
            for w in words {
                buf.extend_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
            }
            out.write_all(&buf)?;
        }
        Ok(())
    }

    /// The false-positive rate of this filter for uniformly random keys,
    /// measured from its bits: the mean over blocks of the product, over
    /// the eight words, of the share of the word's bits that are set. It
    /// matches [`expected_fpp`] for a corpus spread over the whole hash
    /// space, and shows what a partial one costs (see the module doc).
    pub fn measured_fpp(&self) -> f64 {
        let total: f64 = self
            .words
            .chunks(8)
            .map(|block| {
                block
                    .iter()
                    .map(|w| w.load(Ordering::Relaxed).count_ones() as f64 / 64.0)
                    .product::<f64>()
            })
            .sum();
        total / self.blocks as f64
    }

    /// The filter section bytes (little-endian words).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.words.len() * 8);
        self.write_to(&mut out)
            .expect("writing to a Vec does not fail");
        out
    }
}

/// Expected false-positive rate with `lambda` keys per block on average.
pub fn fpp_at_load(lambda: f64) -> f64 {
    if lambda <= 0.0 {
        return 0.0;
    }
    let miss_one: f64 = 1.0 - 1.0 / 64.0;
    let upper = (lambda + 12.0 * lambda.sqrt() + 60.0) as u32;
    // Poisson terms computed in the log domain so a large load cannot underflow.
    let mut log_p = -lambda;
    let mut total = 0.0;
    for x in 0..=upper {
        if x > 0 {
            log_p += lambda.ln() - (x as f64).ln();
        }
        let set = 1.0 - miss_one.powi(x as i32);
        total += log_p.exp() * set.powi(8);
    }
    total.min(1.0)
}

/// Expected false-positive rate of a filter of `blocks` blocks holding `keys` keys.
pub fn expected_fpp(keys: u64, blocks: u64) -> f64 {
    if blocks == 0 {
        return 1.0;
    }
    fpp_at_load(keys as f64 / blocks as f64)
}

/// Smallest number of blocks for which `keys` keys give at most `target` false positives.
pub fn blocks_for(keys: u64, target: f64) -> u64 {
    if keys == 0 {
        return 1;
    }
    let target = target.clamp(1e-9, 0.5);
    // fpp grows with the load; bisect on the load λ.
    let (mut lo, mut hi) = (1e-3f64, 512.0f64);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if fpp_at_load(mid) <= target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let blocks = (keys as f64 / lo).ceil() as u64;
    blocks.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::HashKind;

    #[test]
    fn sizing_at_one_percent_is_near_the_classic_bound() {
        let keys = 1_000_000;
        let blocks = blocks_for(keys, 0.01);
        let bits_per_key = (blocks * BLOCK_BITS) as f64 / keys as f64;
        let classic = -(0.01f64.ln()) / (2f64.ln().powi(2));
        assert!(bits_per_key < 1.2 * classic, "{bits_per_key}");
        assert!(bits_per_key < 10.6, "{bits_per_key}");
        assert!(expected_fpp(keys, blocks) <= 0.01);
    }

    #[test]
    fn no_false_negatives_and_measured_rate_matches_model() {
        let kind = HashKind::Sha1;
        let keys: Vec<Key> = (0..50_000u32)
            .map(|i| kind.hash_plaintext(&i.to_le_bytes()))
            .collect();
        let builder = FilterBuilder::new(blocks_for(keys.len() as u64, 0.01), kind);
        for k in &keys {
            builder.insert(k);
        }
        let bytes = builder.to_bytes();
        for k in &keys {
            assert_eq!(may_contain(&bytes, builder.blocks(), kind, k), Some(true));
        }
        let trials = 200_000u32;
        let hits = (0..trials)
            .filter(|i| {
                let k = kind.hash_plaintext(format!("absent-{i}").as_bytes());
                may_contain(&bytes, builder.blocks(), kind, &k).unwrap()
            })
            .count();
        let rate = hits as f64 / trials as f64;
        assert!(rate > 0.005 && rate < 0.015, "measured {rate}");
    }

    #[test]
    fn empty_filter_rejects_everything_and_bad_blocks_are_refused() {
        let builder = FilterBuilder::new(blocks_for(0, 0.01), HashKind::Ntlm);
        let bytes = builder.to_bytes();
        let key = HashKind::Ntlm.hash_plaintext(b"password");
        assert_eq!(may_contain(&bytes, 1, HashKind::Ntlm, &key), Some(false));
        assert_eq!(may_contain(&bytes, u64::MAX, HashKind::Ntlm, &key), None);
    }

    /// The measured rate agrees with the model and with trials for a
    /// corpus over the whole hash space, and shows the cost of a corpus
    /// over a quarter of it (all keys crowd into a quarter of the blocks).
    #[test]
    fn measured_rate_matches_trials_for_whole_and_partial_corpora() {
        let kind = HashKind::Sha1;
        let whole: Vec<Key> = (0..40_000u32)
            .map(|i| kind.hash_plaintext(&i.to_le_bytes()))
            .collect();
        // The same keys with their two leading bits cleared.
        let quarter: Vec<Key> = whole
            .iter()
            .map(|k| {
                let (hi, mid, lo) = k.limbs();
                Key::from_limbs(hi & 0x3FFF_FFFF, mid, lo)
            })
            .collect();
        let blocks = blocks_for(whole.len() as u64, 0.01);
        let trial_rate = |bytes: &[u8]| {
            let trials = 100_000u32;
            let hits = (0..trials)
                .filter(|i| {
                    let k = kind.hash_plaintext(format!("absent-{i}").as_bytes());
                    may_contain(bytes, blocks, kind, &k).unwrap()
                })
                .count();
            hits as f64 / trials as f64
        };
        for (keys, partial) in [(&whole, false), (&quarter, true)] {
            let builder = FilterBuilder::new(blocks, kind);
            builder.insert_many(keys.iter());
            let measured = builder.measured_fpp();
            let trials = trial_rate(&builder.to_bytes());
            assert!(
                (measured - trials).abs() < 0.2 * trials + 0.002,
                "partial {partial}: measured {measured}, trials {trials}"
            );
            if partial {
                assert!(
                    measured > 5.0 * expected_fpp(keys.len() as u64, blocks),
                    "{measured}"
                );
            } else {
                let model = expected_fpp(keys.len() as u64, blocks);
                assert!(
                    (measured - model).abs() < 0.15 * model,
                    "{measured} vs {model}"
                );
            }
        }
    }
}
