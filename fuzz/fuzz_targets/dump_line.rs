//! The dump line parser (`HASH:COUNT`), both kinds: never panics, and what it
//! accepts is exactly the hash and count written on the line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pwdex::HashKind;
use pwdex::parse::{parse_dump_line, sniff_dump_kind, strip_cr};

fuzz_target!(|line: &[u8]| {
    let _ = sniff_dump_kind(line);
    for kind in [HashKind::Sha1, HashKind::Ntlm] {
        if let Ok(record) = parse_dump_line(kind, line) {
            let text = strip_cr(line);
            let n = kind.hex_len();
            assert_eq!(text[n], b':');
            assert!(
                record
                    .key
                    .to_hex(kind)
                    .as_bytes()
                    .eq_ignore_ascii_case(&text[..n])
            );
            assert_eq!(
                record.count.to_string().as_bytes(),
                trim_zeros(&text[n + 1..])
            );
        }
    }
});

/// Decimal digits without leading zeros ("0" stays "0").
fn trim_zeros(digits: &[u8]) -> &[u8] {
    let first = digits
        .iter()
        .position(|&d| d != b'0')
        .unwrap_or(digits.len() - 1);
    &digits[first..]
}
