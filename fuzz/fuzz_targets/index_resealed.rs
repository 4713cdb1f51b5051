//! Byte edits applied to the seed index, then every checksum recomputed: a
//! forged file that only the structural checks can catch. Nothing may panic,
//! and an index that `verify` accepts must be self-consistent: every listed
//! record is found by `get` and `get_many` with its count, and the known
//! keys get the same answer from `get` and `get_many`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pwdex::Index;
use pwdex_fuzz::reseal::reseal;
use pwdex_fuzz::{SEED_INDEX, apply_edits, known};

fuzz_target!(|edits: &[u8]| {
    let known = known();
    let mut bytes = apply_edits(SEED_INDEX, edits);
    reseal(&mut bytes);
    let Ok(index) = Index::from_bytes(&bytes[..]) else {
        return;
    };
    let single: Vec<_> = known.keys.iter().map(|k| index.get(k)).collect();
    let mut many = vec![None; known.keys.len()];
    let many_ok = index.get_many(&known.keys, &mut many).is_ok();
    let listed: Vec<_> = index.iter().take(100_000).collect();
    if pwdex::verify::verify(&index, None).is_err() {
        return;
    }
    let listed: Vec<(pwdex::Key, u64)> = listed
        .into_iter()
        .map(|r| r.expect("verified index lists"))
        .collect();
    assert_eq!(listed.len() as u64, index.len());
    assert!(
        listed.windows(2).all(|w| w[0].0 < w[1].0),
        "verified index lists out of order"
    );
    for (key, count) in &listed {
        assert_eq!(
            index.get(key).unwrap(),
            Some(*count),
            "listed record not found"
        );
    }
    let keys: Vec<_> = listed.iter().map(|r| r.0).collect();
    let mut out = vec![None; keys.len()];
    index.get_many(&keys, &mut out).unwrap();
    assert!(out.iter().zip(&listed).all(|(o, r)| *o == Some(r.1)));
    assert!(many_ok);
    for ((s, m), key) in single.iter().zip(&many).zip(&known.keys) {
        let s = *s.as_ref().expect("verified index answers");
        assert_eq!(s, *m);
        assert_eq!(
            s,
            listed
                .binary_search_by(|r| r.0.cmp(key))
                .ok()
                .map(|i| listed[i].1)
        );
    }
});
