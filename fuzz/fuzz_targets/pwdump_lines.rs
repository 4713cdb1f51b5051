//! The pwdump / secretsdump line parser on arbitrary text: never panics;
//! every accepted account's NT hash and account name are written on its
//! line; and the section state that `LineParser::after` computes for a
//! prefix of the text (how the batch engine starts each parallel slice)
//! equals the state reached by parsing that prefix line by line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pwdex::HashKind;
use pwdex::queries::{LineParser, Parsed, PwdumpLines};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, text)) = data.split_first() else {
        return;
    };
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    // Split after line `cut % (lines + 1)`, as the engine splits a block.
    let split = cut as usize % (lines.len() + 1);
    let mut parser = PwdumpLines::default();
    for (i, line) in lines.iter().enumerate() {
        if i == split {
            let prefix_len: usize = lines[..split].iter().map(|l| l.len() + 1).sum();
            let after = PwdumpLines::default().after(&text[..prefix_len.min(text.len())]);
            assert_eq!(after.section, parser.section, "after() disagrees at line {i}");
        }
        if let Ok(Parsed::Query(q)) = parser.parse(line) {
            let hex = q.key.to_hex(HashKind::Ntlm);
            let found = line
                .windows(32)
                .any(|w| w.eq_ignore_ascii_case(hex.as_bytes()));
            assert!(found, "hash {hex} is not on its line");
            if let Some(account) = q.account {
                assert!(
                    account.is_empty() || line.windows(account.len()).any(|w| w == account),
                    "account is not on its line"
                );
            }
        }
    }
    if split == lines.len() {
        let after = PwdumpLines::default().after(text);
        assert_eq!(after.section, parser.section, "after() disagrees at the end");
    }
});
