//! Shared pieces of the pwdex fuzz targets: the committed seed index, its
//! known answers, byte edits, and resealing (recomputing every checksum).

use std::sync::OnceLock;

use pwdex::format::SectionId;
use pwdex::{Index, Key};

#[path = "../../tests/common/reseal.rs"]
pub mod reseal;

/// A small valid SHA-1 index (300 records, with count overflow entries);
/// `fuzz/seeds/README.md` says how it was built.
pub const SEED_INDEX: &[u8] = include_bytes!("../seeds/small.pwdex");

/// What the intact seed index answers.
pub struct Known {
    /// 50 keys: 25 stored, 25 not.
    pub keys: Vec<Key>,
    /// `get` of each key on the intact index.
    pub counts: Vec<Option<u64>>,
    /// Every record, in order.
    pub records: Vec<(Key, u64)>,
    /// End of the last section: the index may be truncated to exactly this.
    pub exact_end: usize,
}

pub fn known() -> &'static Known {
    static KNOWN: OnceLock<Known> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let index = Index::from_bytes(SEED_INDEX).expect("seed index opens");
        pwdex::verify::verify(&index, None).expect("seed index verifies");
        let records: Vec<(Key, u64)> = index.iter().map(|r| r.unwrap()).collect();
        let step = records.len() / 25;
        let mut keys: Vec<Key> = records.iter().step_by(step).take(25).map(|r| r.0).collect();
        for i in 0..25 {
            let (hi, mid, lo) = records[i * step].0.limbs();
            keys.push(Key::from_limbs(hi, mid, lo ^ 1));
        }
        let counts = keys.iter().map(|k| index.get(k).unwrap()).collect();
        let top = index.header().section(SectionId::PageSumsTop);
        Known {
            keys,
            counts,
            records,
            exact_end: (top.offset + top.len) as usize,
        }
    })
}

/// Applies edits to a copy of `intact`: the input is read in 4-byte pieces
/// `[o0, o1, o2, v]`; offset `o0 | o1 << 8 | o2 << 16` (modulo the length)
/// is XORed with `v`, or, when `v` is 0, the file is cut there (first cut
/// only).
pub fn apply_edits(intact: &[u8], edits: &[u8]) -> Vec<u8> {
    let mut bytes = intact.to_vec();
    let mut cut: Option<usize> = None;
    for e in edits.chunks_exact(4) {
        let at = (e[0] as usize | (e[1] as usize) << 8 | (e[2] as usize) << 16) % intact.len();
        if e[3] == 0 {
            cut.get_or_insert(at);
        } else {
            bytes[at] ^= e[3];
        }
    }
    if let Some(cut) = cut {
        bytes.truncate(cut);
    }
    bytes
}

/// Keys derived from fuzz input: 20-byte windows read as SHA-1 digests.
pub fn keys_from(data: &[u8], kind: pwdex::HashKind) -> Vec<Key> {
    data.chunks(kind.byte_len())
        .filter(|c| c.len() == kind.byte_len())
        .take(64)
        .map(|c| Key::from_bytes(kind, c))
        .collect()
}
