//! Opening and querying an index made of arbitrary bytes: never a panic, an
//! out-of-bounds read or an endless loop, whatever the file holds. The bytes
//! are tried as they are and, when their header decodes, again with every
//! checksum recomputed, so that the structural code is reached too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pwdex::Index;
use pwdex_fuzz::keys_from;
use pwdex_fuzz::reseal::reseal;

fuzz_target!(|data: &[u8]| {
    exercise(data, data);
    let mut sealed = data.to_vec();
    if reseal(&mut sealed) {
        exercise(&sealed, data);
    }
});

fn exercise(bytes: &[u8], key_source: &[u8]) {
    let Ok(index) = Index::from_bytes(bytes) else {
        return;
    };
    let keys = keys_from(key_source, index.kind());
    for k in &keys {
        let _ = index.get(k);
    }
    let mut out = vec![None; keys.len()];
    let _ = index.get_many(&keys, &mut out);
    let _ = index.iter().take(4096).count();
    let _ = index.build_record();
    let _ = pwdex::info::IndexInfo::of(&index);
    let _ = pwdex::verify::verify(&index, None);
}
