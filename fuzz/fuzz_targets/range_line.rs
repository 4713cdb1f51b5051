//! The range-file line parser (`SUFFIX:COUNT` under a five-hex-digit file
//! name), both kinds: never panics, and what it accepts is exactly the
//! prefix, the suffix and the count written (thousands separators dropped).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pwdex::HashKind;
use pwdex::parse::{parse_range_line, strip_cr};

fuzz_target!(|data: &[u8]| {
    let Some((head, line)) = data.split_first_chunk::<3>() else {
        return;
    };
    let prefix = u32::from_le_bytes([head[0], head[1], head[2], 0]) & 0xF_FFFF;
    for kind in [HashKind::Sha1, HashKind::Ntlm] {
        let Ok(record) = parse_range_line(kind, prefix, line) else {
            continue;
        };
        let text = strip_cr(line);
        let suffix_len = kind.hex_len() - 5;
        assert_eq!(text[suffix_len], b':');
        let hex = record.key.to_hex(kind);
        assert_eq!(&hex[..5], format!("{prefix:05X}"));
        assert!(hex.as_bytes()[5..].eq_ignore_ascii_case(&text[..suffix_len]));
        let digits: Vec<u8> = text[suffix_len + 1..]
            .iter()
            .copied()
            .filter(|&b| b != b',')
            .collect();
        let first = digits
            .iter()
            .position(|&d| d != b'0')
            .unwrap_or(digits.len() - 1);
        assert_eq!(record.count.to_string().as_bytes(), &digits[first..]);
    }
});
