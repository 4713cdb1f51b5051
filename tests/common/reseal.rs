//! Recomputes every checksum of an index in place: the page sums, the page
//! sums top, the section checksums and the header checksum. Tests and fuzz
//! targets use it to forge files that are structurally wrong but pass every
//! checksum, which is the only way to reach the structural checks of
//! `verify` and the reader's bounds checks on section contents.
//!
//! Also compiled into the fuzz targets (`fuzz/`), by path.

use std::path::Path;

use pwdex::format::{Header, PAGE, SectionId};
use xxhash_rust::xxh3::xxh3_64;

/// Reseals `bytes`; returns false (leaving the data pages alone) when the
/// header does not decode even with a fresh header checksum.
pub fn reseal(bytes: &mut [u8]) -> bool {
    let page = PAGE as usize;
    if bytes.len() < page {
        return false;
    }
    let sum = xxh3_64(&bytes[..page - 8]);
    bytes[page - 8..page].copy_from_slice(&sum.to_le_bytes());
    let Ok(mut header) = Header::decode(Path::new("<reseal>"), bytes, bytes.len() as u64) else {
        return false;
    };
    let sums = header.section(SectionId::PageSums);
    let top = header.section(SectionId::PageSumsTop);
    for p in 1..sums.offset as usize / page {
        let s = xxh3_64(&bytes[p * page..(p + 1) * page]);
        let at = sums.offset as usize + 8 * (p - 1);
        bytes[at..at + 8].copy_from_slice(&s.to_le_bytes());
    }
    let pieces: Vec<u64> = bytes[sums.range()].chunks(page).map(xxh3_64).collect();
    for (q, s) in pieces.iter().enumerate() {
        let at = top.offset as usize + 8 * q;
        bytes[at..at + 8].copy_from_slice(&s.to_le_bytes());
    }
    for s in header.sections.iter_mut() {
        s.xxh3 = xxh3_64(&bytes[s.range()]);
    }
    bytes[..page].copy_from_slice(&header.encode());
    true
}
