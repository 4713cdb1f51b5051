//! The batch engine behind `check` (`batch::check_stream`, hash lines) on
//! arbitrary input against the seed index: it never fails on an intact
//! index, its counters add up, every malformed line is reported once and in
//! order, and (unless a byte-order mark makes it transcode the input) when
//! every line is a bare hash or blank (per
//! `parse_query_line`) its output equals a line-by-line reference built
//! with `Index::get`.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pwdex::Index;
use pwdex::batch::{OutputMode, check_stream};
use pwdex::parse::{QueryLine, parse_query_line};
use pwdex_fuzz::SEED_INDEX;

fuzz_target!(|data: &[u8]| {
    let Some((&mode_byte, input)) = data.split_first() else {
        return;
    };
    let mode = if mode_byte & 1 == 0 {
        OutputMode::Found
    } else {
        OutputMode::All
    };
    let index = Index::from_bytes(SEED_INDEX).unwrap();
    let kind = index.kind();
    let mut out = Vec::new();
    let mut bad = Vec::new();
    let stats = check_stream(
        &index,
        input,
        Path::new("<fuzz>"),
        &mut out,
        mode,
        &mut |m| bad.push(m.line),
    )
    .expect("checking against an intact index never fails");

    // Input with a byte-order mark is transcoded (UTF-16 from PowerShell's
    // `>`), so its lines are not the raw bytes' lines.
    let bom = [&[0xEF, 0xBB, 0xBF][..], &[0xFF, 0xFE], &[0xFE, 0xFF]];
    let transcoded = bom.iter().any(|b| input.starts_with(b));
    let mut lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    if input.is_empty() || input.ends_with(b"\n") {
        lines.pop();
    }
    assert!(transcoded || stats.lines == lines.len() as u64);
    assert_eq!(
        stats.checked + stats.malformed + stats.blank + stats.skipped,
        stats.lines
    );
    assert!(stats.found <= stats.checked);
    assert_eq!(bad.len() as u64, stats.malformed);
    assert!(bad.windows(2).all(|w| w[0] < w[1]));
    assert!(bad.last().is_none_or(|&l| l <= stats.lines));

    // Bare hashes and blank lines only: compare with the reference.
    if transcoded {
        return;
    }
    let mut want = Vec::new();
    for line in &lines {
        match parse_query_line(kind, line) {
            Ok(QueryLine::Hash(key)) => {
                let count = index.get(&key).unwrap();
                if count.is_some() || mode == OutputMode::All {
                    want.extend(format!("{}:{}\n", key.to_hex(kind), count.unwrap_or(0)).bytes());
                }
            }
            Ok(QueryLine::Blank) => {}
            Err(_) => return,
        }
    }
    assert!(out == want, "output differs from the reference");
});
