//! The line-input pipeline of `check`: errors in the middle of an input,
//! over-long first lines, and the bare-hash fast path against the parser.

mod common;

use common::*;
use pwdex::batch::{BLOCK_BYTES, CheckOptions, Checker, Malformed, OutputMode, check_stream};
use pwdex::build::{BuildOptions, build};
use pwdex::queries::{InputFormat, Parsed, parse_hash_line};
use pwdex::{HashKind, Index};
use std::io::Read;
use std::path::Path;

fn make_index(
    kind: HashKind,
    n: usize,
    seed: u64,
) -> (tempfile::TempDir, Corpus, std::path::PathBuf) {
    let corpus = random_corpus(kind, n, seed);
    let dir = tempfile::tempdir().unwrap();
    let dump = write(dir.path(), "d.txt", dump_text(kind, &corpus, false, false));
    let path = dir.path().join("i.pwdex");
    build(&dump, &path, &BuildOptions::default()).unwrap();
    (dir, corpus, path)
}

/// Hands out `data`, then fails.
struct FailAfter<'a>(&'a [u8]);
impl Read for FailAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0.is_empty() {
            return Err(std::io::Error::other("boom"));
        }
        let n = buf.len().min(self.0.len()).min(1 << 20);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn read_error_keeps_output_of_blocks_read_before() {
    let kind = HashKind::Ntlm;
    let (_d, corpus, path) = make_index(kind, 2000, 3);
    let index = Index::open(&path).unwrap();
    let qs = queries(kind, &corpus, (BLOCK_BYTES / 33) * 5 / 2, 5);
    let text = query_text(kind, &qs);
    let mut out = Vec::new();
    let r = check_stream(
        &index,
        FailAfter(text.as_bytes()),
        Path::new("q"),
        &mut out,
        OutputMode::All,
        &mut |_| {},
    );
    assert!(r.is_err());
    let lines = out.iter().filter(|&&b| b == b'\n').count();
    let per_block = BLOCK_BYTES / 33;
    eprintln!("lines written before the read error: {lines} (one block = {per_block})");
    // The old sequential loop wrote the two whole blocks read before the error.
    assert!(lines >= 2 * per_block, "only {lines} lines written");
}

#[test]
fn lookup_error_and_write_error_end_cleanly() {
    let kind = HashKind::Ntlm;
    let (_d, corpus, path) = make_index(kind, 20000, 4);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4096 + 50] ^= 0xFF; // records page 1
    let index = Index::from_bytes(bytes).unwrap();
    let qs = queries(kind, &corpus, (BLOCK_BYTES / 33) * 3, 6);
    let text = query_text(kind, &qs);
    let mut out = Vec::new();
    let r = check_stream(
        &index,
        text.as_bytes(),
        Path::new("q"),
        &mut out,
        OutputMode::All,
        &mut |_| {},
    );
    eprintln!(
        "lookup error: {:?}",
        r.as_ref().err().map(|e| e.to_string())
    );
    assert!(r.is_err());

    struct Pipe(usize);
    impl std::io::Write for Pipe {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if self.0 > 1 << 20 {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let index = Index::open(&path).unwrap();
    let r = check_stream(
        &index,
        text.as_bytes(),
        Path::new("q"),
        &mut Pipe(0),
        OutputMode::All,
        &mut |_| {},
    );
    assert!(r.is_err());
}

#[test]
fn long_first_line_does_not_change_detection() {
    let kind = HashKind::Ntlm;
    let (_d, corpus, path) = make_index(kind, 2000, 7);
    let index = Index::open(&path).unwrap();
    let mut body = Vec::new();
    for (i, q) in queries(kind, &corpus, 100, 8).iter().enumerate() {
        body.extend_from_slice(
            format!(
                "user{i}:{}:aad3b435b51404eeaad3b435b51404ee:{}:::\n",
                1000 + i,
                q.to_hex(kind)
            )
            .as_bytes(),
        );
    }
    let mut with_long = vec![b'x'; BLOCK_BYTES + 10];
    with_long.push(b'\n');
    with_long.extend_from_slice(&body);
    let mut formats = Vec::new();
    for input in [&body, &with_long] {
        let mut c = Checker::new(vec![(&index, "i".into())], CheckOptions::default()).unwrap();
        let mut out = Vec::new();
        let s = c
            .check(&input[..], Path::new("q"), &mut out, &mut |_| {})
            .unwrap();
        formats.push((c.tally().inputs[0].1, s.checked, s.malformed));
    }
    eprintln!("{formats:?}");
    assert_eq!(formats[0].0, InputFormat::Pwdump);
    assert_eq!(formats[1].0, InputFormat::Pwdump, "{formats:?}");
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn bare_hash_fast_path_equals_parse_hash_line() {
    for kind in [HashKind::Ntlm, HashKind::Sha1] {
        let (_d, corpus, path) = make_index(kind, 3000, 9);
        let index = Index::open(&path).unwrap();
        let qs = queries(kind, &corpus, 4000, 10);
        let mut rng = Lcg(1);
        for round in 0..40 {
            let mut text = Vec::new();
            let lines = if round == 0 {
                300_000
            } else {
                1 + rng.next() as usize % 6
            };
            for _ in 0..lines {
                let mut l = qs[rng.next() as usize % qs.len()].to_hex(kind).into_bytes();
                match rng.next() % 12 {
                    0 => l.make_ascii_lowercase(),
                    1 => l.push(b'\r'),
                    2 => l.push(b' '),
                    3 => l.insert(0, b' '),
                    4 => {
                        l.pop();
                    }
                    5 => l.push(b'A'),
                    6 => {
                        let p = rng.next() as usize % l.len();
                        l[p] = b'g';
                    }
                    7 => l = b"\r".to_vec(),
                    8 => l.clear(),
                    9 => {
                        l.push(b'\r');
                        l.push(b'\r');
                    }
                    _ => {}
                }
                text.extend_from_slice(&l);
                text.push(b'\n');
            }
            if round % 3 == 1 {
                text.pop();
            }
            if round % 5 == 2 {
                text.pop();
                text.extend_from_slice(b"\r");
            }
            // Reference: one parse_hash_line per line.
            let mut keys = Vec::new();
            let mut bad = Vec::new();
            let body = text.strip_suffix(b"\n").unwrap_or(&text);
            for (i, line) in body.split(|&b| b == b'\n').enumerate() {
                match parse_hash_line(kind, line) {
                    Ok(Parsed::Query(q)) => keys.push(q.key),
                    Ok(_) => {}
                    Err(_) => bad.push(i as u64 + 1),
                }
            }
            let mut out = Vec::new();
            let mut got_bad = Vec::new();
            check_stream(
                &index,
                &text[..],
                Path::new("q"),
                &mut out,
                OutputMode::All,
                &mut |m: &Malformed| got_bad.push(m.line),
            )
            .unwrap();
            assert_eq!(got_bad, bad, "round {round}");
            assert_same_text(
                &expected_all(kind, &corpus, &keys),
                std::str::from_utf8(&out).unwrap(),
            );
        }
    }
}

/// Bare hashes against one index take a branch-free path that picks the
/// records to write; `--min-count` and both output modes against a map.
#[test]
fn bare_hashes_with_min_count_against_reference() {
    for kind in [HashKind::Ntlm, HashKind::Sha1] {
        let (_d, corpus, path) = make_index(kind, 3000, 21);
        let index = Index::open(&path).unwrap();
        let qs = queries(kind, &corpus, 20_000, 22);
        let text = query_text(kind, &qs);
        let mut counts: Vec<u64> = corpus.values().copied().collect();
        counts.sort_unstable();
        let median = counts[counts.len() / 2];
        for min_count in [0, 1, 2, median, u64::MAX] {
            let threshold = min_count.max(1);
            for mode in [OutputMode::Found, OutputMode::All] {
                let opts = CheckOptions {
                    input: InputFormat::Hash,
                    mode: Some(mode),
                    min_count,
                    statistics: false,
                    ..CheckOptions::default()
                };
                let mut checker = Checker::new(vec![(&index, "i".to_string())], opts).unwrap();
                let mut out = Vec::new();
                let stats = checker
                    .check(text.as_bytes(), Path::new("q"), &mut out, &mut |m| {
                        panic!("malformed line {}", m.line)
                    })
                    .unwrap();
                let mut expected = String::new();
                let (mut found, mut below) = (0, 0);
                for q in &qs {
                    let count = corpus.get(q).copied();
                    match count {
                        Some(c) if c >= threshold => found += 1,
                        Some(_) => below += 1,
                        None => {}
                    }
                    let shown = count.filter(|&c| c >= threshold);
                    if shown.is_some() || mode == OutputMode::All {
                        expected += &format!("{}:{}\n", q.to_hex(kind), shown.unwrap_or(0));
                    }
                }
                let what = format!("{kind:?} --min-count {min_count} {mode:?}");
                assert_same_text(&expected, std::str::from_utf8(&out).unwrap());
                assert_eq!(stats.checked, qs.len() as u64, "{what}");
                assert_eq!(stats.found, found, "{what}");
                assert_eq!(stats.below_min_count, below, "{what}");
            }
        }
    }
}

/// The hot loops run in builds for newer CPUs where the CPU has the features
/// (`pwdex::cpu`); `PWDEX_CPU=baseline` keeps the baseline builds. Both give
/// the reference answers, byte for byte, on every input path the dispatch
/// covers: bare hashes (the fast path), pwdump lines, found-only and `--all`.
#[test]
fn baseline_and_dispatched_builds_give_the_reference_answers() {
    if !pwdex::cpu::has_v3() {
        eprintln!("this CPU has no x86-64-v3 builds: both runs use the baseline ones");
    }
    for kind in [HashKind::Ntlm, HashKind::Sha1] {
        let (dir, corpus, path) = make_index(kind, 5000, 31);
        let qs = queries(kind, &corpus, 30_000, 32);
        let bare = write(dir.path(), "q.txt", query_text(kind, &qs));
        let found = expected_found(kind, &corpus, &qs);
        let all = expected_all(kind, &corpus, &qs);
        for cpu in ["baseline", "native"] {
            for (flag, expected) in [(None, &found), (Some("--all"), &all)] {
                let mut cmd = pwdex();
                cmd.env("PWDEX_CPU", cpu)
                    .args(["check", "-i", p(&path), p(&bare), "-q"])
                    .args(flag);
                let out = cmd.output().unwrap();
                let what = format!("{kind:?} PWDEX_CPU={cpu} {flag:?}");
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(out.status.success(), "{what}: {err}");
                assert_same_text(expected, std::str::from_utf8(&out.stdout).unwrap());
            }
        }
        if kind == HashKind::Ntlm {
            // pwdump lines go through the general parser, not the fast path.
            let dump: String = qs
                .iter()
                .enumerate()
                .map(|(i, q)| {
                    format!(
                        "user{i}:{i}:aad3b435b51404eeaad3b435b51404ee:{}:::\n",
                        q.to_hex(kind)
                    )
                })
                .collect();
            let dump = write(dir.path(), "d.pwdump", dump);
            let mut outputs = Vec::new();
            for cpu in ["baseline", "native"] {
                let out = pwdex()
                    .env("PWDEX_CPU", cpu)
                    .args(["check", "-i", p(&path), p(&dump), "-q", "--all"])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "PWDEX_CPU={cpu}");
                outputs.push(out.stdout);
            }
            let text = String::from_utf8(outputs[0].clone()).unwrap();
            assert_eq!(text.lines().count(), qs.len());
            for (line, q) in text.lines().zip(&qs) {
                let count = corpus.get(q).copied().unwrap_or(0);
                assert!(
                    line.contains(&q.to_hex(kind)) && line.ends_with(&format!(":{count}")),
                    "{line} for {}",
                    q.to_hex(kind)
                );
            }
            assert_eq!(
                outputs[0], outputs[1],
                "pwdump output differs between builds"
            );
        }
    }
}
