/*!
Page checksums: the xxh3-64 of each 4 KiB page (see `docs/FORMAT.md`),
computed by `build` for every page it writes and checked by `check`,
`serve` and `verify` for every page they read.

[`page_checksum`] is `xxhash_rust::xxh3::xxh3_64` of the page. The crate
picks its SIMD code when pwdex is compiled, so the baseline x86-64 build
hashes with SSE2; on CPUs with AVX2 ([`crate::cpu::has_v3`]) this module
hashes a whole page with AVX2 instead: the same algorithm (XXH3's long-input
loop: 64-byte stripes folded into eight 64-bit accumulators, scrambled every
1,024 bytes, merged at the end), specialised to exactly one page with the
default secret. The tests compare it with the crate on random pages.

Why: a dense check hashes every page of the index before its first lookup
(14% of a 1M-query check against 5M records, `perf record`), and a build
every page it writes.
*/

use xxhash_rust::xxh3::xxh3_64;

use crate::format::PAGE;

/// The checksum of one page (or of any byte string: pages of other lengths
/// take the crate's code).
#[inline]
pub fn page_checksum(bytes: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if let Ok(page) = <&[u8; PAGE as usize]>::try_from(bytes)
        && crate::cpu::has_v3()
    {
        // SAFETY: `has_v3` found AVX2.
        return unsafe { avx2::page_xxh3(page) };
    }
    xxh3_64(bytes)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m256i, _mm256_add_epi64, _mm256_loadu_si256, _mm256_mul_epu32, _mm256_set1_epi32,
        _mm256_shuffle_epi32, _mm256_slli_epi64, _mm256_srli_epi64, _mm256_storeu_si256,
        _mm256_xor_si256,
    };

    use super::PAGE;

    const PAGE_LEN: usize = PAGE as usize;
    /// XXH3's default secret (`kSecret` in the specification).
    const SECRET: [u8; 192] = [
        0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad,
        0x1c, 0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3,
        0x67, 0x1f, 0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc,
        0xff, 0x72, 0x21, 0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6,
        0x81, 0x3a, 0x26, 0x4c, 0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65,
        0x8b, 0x1b, 0x53, 0x2e, 0xa3, 0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19,
        0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8, 0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9,
        0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d, 0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31,
        0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64, 0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb,
        0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb, 0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0,
        0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e, 0x2b, 0x16, 0xbe, 0x58, 0x7d,
        0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce, 0x45, 0xcb, 0x3a, 0x8f,
        0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
    ];
    #[cfg(test)]
    pub(super) const DEFAULT_SECRET: [u8; 192] = SECRET;

    const PRIME32_1: u32 = 0x9E37_79B1;
    const PRIME32_2: u32 = 0x85EB_CA77;
    const PRIME32_3: u32 = 0xC2B2_AE3D;
    const PRIME64_1: u64 = 0x9E37_79B1_85EB_CA87;
    const PRIME64_2: u64 = 0xC2B2_AE3D_27D4_EB4F;
    const PRIME64_3: u64 = 0x1656_67B1_9E37_79F9;
    const PRIME64_4: u64 = 0x85EB_CA77_C2B2_AE63;
    const PRIME64_5: u64 = 0x27D4_EB2F_1656_67C5;

    const STRIPE: usize = 64;
    /// Secret bytes each stripe moves along.
    const SECRET_STEP: usize = 8;
    /// Stripes between scrambles: (192 - 64) / 8.
    const STRIPES_PER_BLOCK: usize = (SECRET.len() - STRIPE) / SECRET_STEP;
    const BLOCK: usize = STRIPE * STRIPES_PER_BLOCK;
    /// Whole blocks before the last, partial one: XXH3 counts them from
    /// `len - 1`, so a page of exactly four blocks has three, then 15
    /// stripes, then the last stripe (the page's last 64 bytes).
    const FULL_BLOCKS: usize = (PAGE_LEN - 1) / BLOCK;
    const LAST_STRIPES: usize = ((PAGE_LEN - 1) - BLOCK * FULL_BLOCKS) / STRIPE;

    /// Reads 32 bytes at `at` of `bytes`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn load(bytes: &[u8], at: usize) -> __m256i {
        let lane: &[u8; 32] = bytes[at..at + 32].try_into().unwrap();
        // SAFETY: `lane` is 32 readable bytes; the load is unaligned.
        unsafe { _mm256_loadu_si256(lane.as_ptr().cast()) }
    }

    /// One stripe (64 bytes of input, 64 of secret at `secret_at`) into the
    /// accumulators.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn accumulate(acc: &mut [__m256i; 2], input: &[u8], at: usize, secret_at: usize) {
        for (half, lane) in acc.iter_mut().enumerate() {
            let data = load(input, at + 32 * half);
            let key = _mm256_xor_si256(data, load(&SECRET, secret_at + 32 * half));
            let product = _mm256_mul_epu32(key, _mm256_srli_epi64::<32>(key));
            // Each 64-bit word also adds into its neighbour's accumulator.
            let swapped = _mm256_shuffle_epi32::<0b01_00_11_10>(data);
            *lane = _mm256_add_epi64(product, _mm256_add_epi64(*lane, swapped));
        }
    }

    /// The scramble after every block of stripes.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn scramble(acc: &mut [__m256i; 2]) {
        let prime = _mm256_set1_epi32(PRIME32_1 as i32);
        for (half, lane) in acc.iter_mut().enumerate() {
            let mixed = _mm256_xor_si256(*lane, _mm256_srli_epi64::<47>(*lane));
            let key = _mm256_xor_si256(mixed, load(&SECRET, SECRET.len() - STRIPE + 32 * half));
            let low = _mm256_mul_epu32(key, prime);
            let high = _mm256_mul_epu32(_mm256_srli_epi64::<32>(key), prime);
            *lane = _mm256_add_epi64(low, _mm256_slli_epi64::<32>(high));
        }
    }

    fn mul128_fold64(a: u64, b: u64) -> u64 {
        let product = a as u128 * b as u128;
        product as u64 ^ (product >> 64) as u64
    }

    fn secret_word(at: usize) -> u64 {
        u64::from_le_bytes(SECRET[at..at + 8].try_into().unwrap())
    }

    /// xxh3-64 of one page, as `xxhash_rust::xxh3::xxh3_64` computes it.
    #[target_feature(enable = "avx2")]
    pub fn page_xxh3(page: &[u8; PAGE_LEN]) -> u64 {
        let initial: [u64; 8] = [
            PRIME32_3 as u64,
            PRIME64_1,
            PRIME64_2,
            PRIME64_3,
            PRIME64_4,
            PRIME32_2 as u64,
            PRIME64_5,
            PRIME32_1 as u64,
        ];
        let mut initial_bytes = [0u8; 64];
        for (chunk, word) in initial_bytes.chunks_exact_mut(8).zip(initial) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        let mut acc = [load(&initial_bytes, 0), load(&initial_bytes, 32)];
        for block in 0..FULL_BLOCKS {
            for stripe in 0..STRIPES_PER_BLOCK {
                accumulate(
                    &mut acc,
                    page,
                    block * BLOCK + stripe * STRIPE,
                    stripe * SECRET_STEP,
                );
            }
            scramble(&mut acc);
        }
        for stripe in 0..LAST_STRIPES {
            accumulate(
                &mut acc,
                page,
                FULL_BLOCKS * BLOCK + stripe * STRIPE,
                stripe * SECRET_STEP,
            );
        }
        // The last stripe, with the secret 7 bytes before its end.
        accumulate(&mut acc, page, PAGE_LEN - STRIPE, SECRET.len() - STRIPE - 7);
        let mut words = [0u64; 8];
        for (half, lane) in acc.iter().enumerate() {
            // SAFETY: `words[4 * half..]` holds 32 writable bytes.
            unsafe { _mm256_storeu_si256(words[4 * half..].as_mut_ptr().cast(), *lane) };
        }
        // Merge: pairs of accumulators against the secret from byte 11.
        let mut result = (PAGE_LEN as u64).wrapping_mul(PRIME64_1);
        for pair in 0..4 {
            let at = 11 + 16 * pair;
            result = result.wrapping_add(mul128_fold64(
                words[2 * pair] ^ secret_word(at),
                words[2 * pair + 1] ^ secret_word(at + 8),
            ));
        }
        // Avalanche.
        result ^= result >> 37;
        result = result.wrapping_mul(0x1656_6791_9E37_79F9);
        result ^ (result >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_checksums_are_xxh3() {
        let mut rnd = crate::hash::xorshift(0x853C_49E6_748F_EA9B);
        let mut page = vec![0u8; PAGE as usize];
        for round in 0..2000 {
            match round % 4 {
                0 => page.iter_mut().for_each(|b| *b = rnd() as u8),
                1 => page.iter_mut().for_each(|b| *b = 0),
                2 => page.iter_mut().for_each(|b| *b = 0xFF),
                _ => {
                    let at = (rnd() % PAGE) as usize;
                    page[at] ^= 1 << (rnd() % 8);
                }
            }
            assert_eq!(page_checksum(&page), xxh3_64(&page), "round {round}");
        }
        // Other lengths go to the crate.
        assert_eq!(page_checksum(&page[..100]), xxh3_64(&page[..100]));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_page_hash_is_xxh3_with_the_default_secret() {
        use xxhash_rust::xxh3::xxh3_64_with_secret;
        let page: Vec<u8> = (0..PAGE as u32).map(|i| (i * 31 + 7) as u8).collect();
        assert_eq!(
            xxh3_64_with_secret(&page, &avx2::DEFAULT_SECRET),
            xxh3_64(&page),
            "the secret is XXH3's default"
        );
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("no AVX2 on this CPU: nothing more to compare");
            return;
        }
        let mut rnd = crate::hash::xorshift(0x1405_7B7E_F767_814F);
        for round in 0..2000 {
            let page: Vec<u8> = (0..PAGE).map(|_| rnd() as u8).collect();
            let page: &[u8; PAGE as usize] = page.as_slice().try_into().unwrap();
            // SAFETY: AVX2 was detected above.
            let ours = unsafe { avx2::page_xxh3(page) };
            assert_eq!(ours, xxh3_64(page), "round {round}");
        }
    }
}
