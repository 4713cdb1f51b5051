//! The query line parser, both kinds: never panics, and a hash it accepts is
//! the line's text (trimmed of blanks) in either case.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pwdex::HashKind;
use pwdex::parse::{QueryLine, parse_query_line, strip_cr};

fuzz_target!(|line: &[u8]| {
    for kind in [HashKind::Sha1, HashKind::Ntlm] {
        match parse_query_line(kind, line) {
            Ok(QueryLine::Hash(key)) => {
                let text = strip_cr(line).trim_ascii();
                assert!(key.to_hex(kind).as_bytes().eq_ignore_ascii_case(text));
            }
            Ok(QueryLine::Blank) => assert!(strip_cr(line).trim_ascii().is_empty()),
            Err(reason) => assert!(!reason.is_empty()),
        }
    }
});
