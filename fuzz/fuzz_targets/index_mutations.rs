//! Byte edits and a truncation applied to the committed seed index. Whatever
//! the edits, `verify` must fail unless the file is unchanged (or lost only
//! its trailing zero padding), and every answer the reader does give for the
//! 50 known keys, and every record it lists, must equal the intact index's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pwdex::Index;
use pwdex_fuzz::{SEED_INDEX, apply_edits, known};

fuzz_target!(|edits: &[u8]| {
    let known = known();
    let bytes = apply_edits(SEED_INDEX, edits);
    let unchanged = bytes[..] == SEED_INDEX[..bytes.len()]
        && (bytes.len() == SEED_INDEX.len() || bytes.len() == known.exact_end);
    let Ok(index) = Index::from_bytes(&bytes[..]) else {
        assert!(!unchanged, "an intact index failed to open");
        return;
    };
    for (key, want) in known.keys.iter().zip(&known.counts) {
        if let Ok(got) = index.get(key) {
            assert_eq!(got, *want, "wrong answer for {key:?}");
        }
    }
    let mut out = vec![None; known.keys.len()];
    if index.get_many(&known.keys, &mut out).is_ok() {
        assert_eq!(out, known.counts, "get_many gave wrong answers");
    }
    for (n, item) in index.iter().enumerate() {
        match item {
            Ok(record) => assert_eq!(Some(&record), known.records.get(n), "record {n}"),
            Err(_) => break,
        }
    }
    let verdict = pwdex::verify::verify(&index, None);
    assert_eq!(verdict.is_ok(), unchanged, "verify: {verdict:?}");
});
