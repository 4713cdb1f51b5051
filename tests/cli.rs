//! End-to-end tests through the `pwdex` binary, against a `BTreeMap` reference.

mod common;

use common::*;
use pwdex::HashKind;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}
fn stderr(o: &std::process::Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn build_ok(dump: &std::path::Path, index: &std::path::Path) {
    let o = run(&["build", p(dump), "-o", p(index), "-q"], b"");
    assert!(o.status.success(), "build failed: {}", stderr(&o));
}

#[test]
fn sha1_check_all_and_found_match_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let kind = HashKind::Sha1;
    let corpus = random_corpus(kind, 20_000, 1);
    let dump = write(
        dir.path(),
        "dump.txt",
        dump_text(kind, &corpus, true, false),
    );
    let index = dir.path().join("sha1.pwdex");
    build_ok(&dump, &index);
    let qs = queries(kind, &corpus, 5_000, 2);
    let qfile = write(dir.path(), "q.txt", query_text(kind, &qs));

    let all = run(&["check", "-i", p(&index), p(&qfile), "--all"], b"");
    assert!(all.status.success(), "{}", stderr(&all));
    assert_same_text(&expected_all(kind, &corpus, &qs), &stdout(&all));

    let found = run(&["check", "-i", p(&index), p(&qfile)], b"");
    assert!(found.status.success());
    assert_same_text(&expected_found(kind, &corpus, &qs), &stdout(&found));
    let summary = stderr(&found);
    assert!(summary.contains("checked 5000 hashes"), "{summary}");

    // Read with read() instead of through a memory map: the same answer.
    let unmapped = run(&["check", "--no-mmap", "-i", p(&index), p(&qfile)], b"");
    assert!(unmapped.status.success(), "{}", stderr(&unmapped));
    assert_same_text(&stdout(&found), &stdout(&unmapped));

    // Stdin, implicit and as `-`, gives the same answer.
    let text = query_text(kind, &qs);
    let via_stdin = run(&["check", "-i", p(&index)], text.as_bytes());
    assert_same_text(&stdout(&found), &stdout(&via_stdin));
    let via_dash = run(&["check", "-i", p(&index), "-"], text.as_bytes());
    assert_same_text(&stdout(&found), &stdout(&via_dash));
    // A pipe named as a file (`/dev/stdin`, like `<(cmd)`): nothing of it
    // may be read before the check (sizing the batch once ate its first MiB).
    #[cfg(target_os = "linux")]
    {
        let via_path = run(&["check", "-i", p(&index), "/dev/stdin"], text.as_bytes());
        assert!(via_path.status.success(), "{}", stderr(&via_path));
        assert_same_text(&stdout(&found), &stdout(&via_path));
    }
}

#[test]
fn ntlm_lowercase_lf_without_final_newline_builds_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let kind = HashKind::Ntlm;
    let corpus = random_corpus(kind, 3_000, 3);
    let mut text = dump_text(kind, &corpus, false, true);
    text.pop(); // no final newline
    let index = dir.path().join("nt.pwdex");
    let o = run(&["build", "-", "-o", p(&index), "-q"], text.as_bytes());
    assert!(o.status.success(), "{}", stderr(&o));
    let qs = queries(kind, &corpus, 2_000, 4);
    let lower: String = query_text(kind, &qs).to_ascii_lowercase();
    let o = run(&["check", "-i", p(&index), "--all"], lower.as_bytes());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_same_text(&expected_all(kind, &corpus, &qs), &stdout(&o));
    let info = run(&["info", p(&index), "--json"], b"");
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(v["kind"], "ntlm");
    assert_eq!(v["records"], 3000);
}

#[test]
fn padding_lines_are_not_stored_and_duplicates_are_summed() {
    let dir = tempfile::tempdir().unwrap();
    let kind = HashKind::Sha1;
    let a = kind.hash_plaintext(b"a").to_hex(kind);
    let b = kind.hash_plaintext(b"b").to_hex(kind);
    let mut lines = [format!("{a}:3"), format!("{b}:0")];
    lines.sort();
    let dup = format!("{a}:4");
    let mut all = vec![lines[0].clone(), lines[1].clone()];
    let pos = all.iter().position(|l| l.starts_with(&a)).unwrap();
    all.insert(pos + 1, dup);
    let dump = write(dir.path(), "d.txt", all.join("\r\n") + "\r\n");
    let index = dir.path().join("i.pwdex");
    build_ok(&dump, &index);
    let o = run(
        &["check", "-i", p(&index), "--all"],
        format!("{a}\n{b}\n").as_bytes(),
    );
    assert_eq!(stdout(&o), format!("{a}:7\n{b}:0\n"));
    let info = run(&["info", p(&index), "--json"], b"");
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(v["records"], 1);
}

#[test]
fn bad_dump_line_names_file_and_line_and_keeps_the_old_index() {
    let dir = tempfile::tempdir().unwrap();
    let kind = HashKind::Sha1;
    let corpus = random_corpus(kind, 1_000, 5);
    let good = write(
        dir.path(),
        "good.txt",
        dump_text(kind, &corpus, true, false),
    );
    let index = dir.path().join("i.pwdex");
    build_ok(&good, &index);
    let before = std::fs::read(&index).unwrap();

    let mut lines: Vec<String> = dump_text(kind, &corpus, true, false)
        .lines()
        .map(String::from)
        .collect();
    let cases: Vec<(String, &str)> = vec![
        ("NOT-A-HASH:12".into(), "hash field is 10 characters"),
        (format!("{}:12x", &lines[500][..40]), "not a decimal"),
        (lines[500][..40].to_string(), "no ':'"),
        (
            "8846F7EAEE8FB117AD06BDD830B7586C:7".into(),
            "ntlm hash in a sha1 input",
        ),
    ];
    for (bad, why) in cases {
        let saved = lines[500].clone();
        lines[500] = bad.clone();
        let dump = write(dir.path(), "bad.txt", lines.join("\n") + "\n");
        let o = run(&["build", p(&dump), "-o", p(&index), "-q"], b"");
        lines[500] = saved;
        assert_eq!(o.status.code(), Some(1), "{bad}");
        let err = stderr(&o);
        assert!(err.contains("bad.txt:501:"), "{bad}: {err}");
        assert!(err.contains(why), "{bad}: {err}");
        assert_eq!(
            std::fs::read(&index).unwrap(),
            before,
            "index changed after failed build"
        );
    }
    // With --sorted, unsorted input is refused with the line of the first out-of-order hash.
    lines.swap(700, 701);
    let dump = write(dir.path(), "unsorted.txt", lines.join("\n") + "\n");
    let o = run(&["build", p(&dump), "-o", p(&index), "-q", "--sorted"], b"");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unsorted.txt:702:"), "{}", stderr(&o));
    assert!(stderr(&o).contains("sorted"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&index).unwrap(), before);
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn malformed_queries_are_reported_counted_and_set_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let kind = HashKind::Sha1;
    let corpus = random_corpus(kind, 500, 6);
    let dump = write(dir.path(), "d.txt", dump_text(kind, &corpus, true, false));
    let index = dir.path().join("i.pwdex");
    build_ok(&dump, &index);
    let present = corpus.keys().next().unwrap().to_hex(kind);
    let input = format!(
        "{present}\nnot a hash\n8846F7EAEE8FB117AD06BDD830B7586C\n\n{}\n",
        present.to_ascii_lowercase()
    );
    let qfile = write(dir.path(), "q.txt", &input);
    let o = run(&["check", "-i", p(&index), p(&qfile)], b"");
    assert_eq!(o.status.code(), Some(3));
    let count = corpus.values().next().unwrap();
    assert_eq!(
        stdout(&o),
        format!("{present}:{count}\n{present}:{count}\n")
    );
    let err = stderr(&o);
    assert!(
        err.contains("q.txt:2: \"not a hash\" is not a hex hash"),
        "{err}"
    );
    assert!(err.contains("q.txt:3: ntlm hash"), "{err}");
    assert!(err.contains("2 found, 2 malformed, 1 blank"), "{err}");

    // The report is capped, with the total.
    let many: String = (0..50).map(|i| format!("zz{i}\n")).collect();
    let o = run(
        &["check", "-i", p(&index), "--max-errors", "5"],
        many.as_bytes(),
    );
    let err = stderr(&o);
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("is not a hex hash"))
            .count(),
        5,
        "{err}"
    );
    assert!(err.contains("and 45 more malformed lines"), "{err}");
}

#[test]
fn info_reports_sizes_and_build_record() {
    let dir = tempfile::tempdir().unwrap();
    let kind = HashKind::Sha1;
    let corpus = random_corpus(kind, 50_000, 7);
    let dump = write(dir.path(), "d.txt", dump_text(kind, &corpus, true, false));
    let index = dir.path().join("i.pwdex");
    build_ok(&dump, &index);
    let o = run(&["info", p(&index), "--json"], b"");
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let file_bytes = v["file_bytes"].as_u64().unwrap();
    let filter_bytes = v["filter_bytes"].as_u64().unwrap();
    assert_eq!(file_bytes, std::fs::metadata(&index).unwrap().len());
    assert_eq!(v["records"], 50_000);
    let per_record = (file_bytes - filter_bytes) as f64 / 50_000.0;
    assert!(per_record < 20.0, "{per_record} bytes per record");
    let fpp = v["fpp"].as_f64().unwrap();
    assert!(fpp > 0.005 && fpp <= 0.01, "{fpp}");
    let classic_bits = -(0.01f64.ln()) / 2f64.ln().powi(2);
    assert!((filter_bytes * 8) as f64 / 50_000.0 <= 1.2 * classic_bits);
    assert_eq!(v["build"]["inputs"][0]["lines"], 50_000);
    let text = run(&["info", p(&index)], b"");
    let text = stdout(&text);
    assert!(text.contains("records:          50000"), "{text}");
    assert!(text.contains("d.txt"), "{text}");
}

#[test]
fn damaged_or_foreign_files_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let kind = HashKind::Sha1;
    let corpus = random_corpus(kind, 2_000, 8);
    let dump = write(dir.path(), "d.txt", dump_text(kind, &corpus, true, false));
    let index = dir.path().join("i.pwdex");
    build_ok(&dump, &index);
    let bytes = std::fs::read(&index).unwrap();
    let qs = queries(kind, &corpus, 1_000, 9);
    let qtext = query_text(kind, &qs);
    let expected = expected_all(kind, &corpus, &qs);

    let foreign = write(
        dir.path(),
        "foreign",
        b"hello world, certainly not an index",
    );
    let o = run(&["check", "-i", p(&foreign)], qtext.as_bytes());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not a pwdex index"), "{}", stderr(&o));

    let truncated = write(dir.path(), "trunc", &bytes[..bytes.len() - 4096]);
    let o = run(&["check", "-i", p(&truncated)], qtext.as_bytes());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("truncated") || stderr(&o).contains("corrupt"),
        "{}",
        stderr(&o)
    );

    let mut future = bytes.clone();
    future[8] = 9;
    let future = write(dir.path(), "future", &future);
    let o = run(&["info", p(&future)], b"");
    assert!(
        stderr(&o).contains("version 9 is not supported"),
        "{}",
        stderr(&o)
    );

    // Flipped bytes anywhere: refused, or the exact intact answer. Never a panic.
    let mut rng = Rng(10);
    for _ in 0..40 {
        let mut damaged = bytes.clone();
        let at = (rng.next() % damaged.len() as u64) as usize;
        damaged[at] ^= 1 << (rng.next() % 8);
        let path = write(dir.path(), "flip", &damaged);
        let o = run(&["check", "-i", p(&path), "--all"], qtext.as_bytes());
        match o.status.code() {
            Some(0) => assert_same_text(&expected, &stdout(&o)),
            Some(1) => assert!(
                stderr(&o).contains("corrupt") || stderr(&o).contains("index"),
                "{}",
                stderr(&o)
            ),
            other => panic!("flip at {at}: exit {other:?}: {}", stderr(&o)),
        }
    }
}

#[test]
fn empty_corpus_and_exit_code_help() {
    let dir = tempfile::tempdir().unwrap();
    let dump = write(dir.path(), "empty.txt", b"");
    let index = dir.path().join("e.pwdex");
    build_ok(&dump, &index);
    let q = HashKind::Sha1
        .hash_plaintext(b"password")
        .to_hex(HashKind::Sha1);
    let o = run(
        &["check", "-i", p(&index), "--all"],
        format!("{q}\n").as_bytes(),
    );
    assert!(o.status.success());
    assert_eq!(stdout(&o), format!("{q}:0\n"));
    let help = run(&["check", "--help"], b"");
    assert!(stdout(&help).contains("Exit codes"));
}

/// `--sample-shift` changes the layout, never the answers; an out-of-range
/// value is refused with a message naming the flag, and no index is written.
#[test]
fn sample_shift_changes_layout_not_answers() {
    let kind = HashKind::Sha1;
    let corpus = random_corpus(kind, 5000, 31);
    let dir = tempfile::tempdir().unwrap();
    let dump = write(dir.path(), "d.txt", dump_text(kind, &corpus, true, false));
    let qs = queries(kind, &corpus, 2000, 32);
    let expected = expected_all(kind, &corpus, &qs);
    let mut sample_bytes = Vec::new();
    for shift in ["0", "8", "16"] {
        let index = dir.path().join(format!("s{shift}.pwdex"));
        let o = run(
            &[
                "build",
                p(&dump),
                "-o",
                p(&index),
                "-q",
                "--sample-shift",
                shift,
            ],
            b"",
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let info = run(&["info", "--json", p(&index)], b"");
        let v: serde_json::Value = serde_json::from_str(&stdout(&info)).unwrap();
        let samples = v["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "bucket samples")
            .unwrap()["bytes"]
            .as_u64()
            .unwrap();
        sample_bytes.push(samples);
        let o = run(
            &["check", "-q", "--all", "-i", p(&index)],
            query_text(kind, &qs).as_bytes(),
        );
        assert_same_text(&expected, &stdout(&o));
    }
    // One sample per bucket, per 256 buckets, per 65536 buckets.
    assert!(
        sample_bytes[0] > sample_bytes[1] && sample_bytes[1] > sample_bytes[2],
        "{sample_bytes:?}"
    );
    let bad = dir.path().join("bad.pwdex");
    let o = run(
        &["build", p(&dump), "-o", p(&bad), "--sample-shift", "17"],
        b"",
    );
    // A bad flag value is a command-line error (exit status 2).
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("'17' for '--sample-shift <S>'"),
        "{}",
        stderr(&o)
    );
    assert!(!bad.exists());
    for (flag, value) in [("--fpp", "0"), ("--fpp", "1.5"), ("--bucket-bits", "41")] {
        let o = run(&["build", p(&dump), "-o", p(&bad), flag, value], b"");
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {}", stderr(&o));
    }
    // Far more buckets than records is refused up front (2^40 of them took
    // all the memory before).
    let o = run(
        &["build", p(&dump), "-o", p(&bad), "--bucket-bits", "40"],
        b"",
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--bucket-bits 40 is too many"),
        "{}",
        stderr(&o)
    );
    assert!(!bad.exists());
}

#[test]
fn an_unknown_pwdex_cpu_value_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = random_corpus(HashKind::Sha1, 50, 7);
    let dump = write(
        dir.path(),
        "d.txt",
        dump_text(HashKind::Sha1, &corpus, false, false),
    );
    let index = dir.path().join("i.pwdex");
    build_ok(&dump, &index);
    for (value, warned) in [("bogus", true), ("baseline", false), ("native", false)] {
        let out = pwdex()
            .env("PWDEX_CPU", value)
            .args(["info", p(&index)])
            .output()
            .unwrap();
        assert!(out.status.success(), "PWDEX_CPU={value}: {}", stderr(&out));
        assert_eq!(
            stderr(&out).contains("PWDEX_CPU=bogus is neither"),
            warned,
            "PWDEX_CPU={value}: {}",
            stderr(&out)
        );
    }
}
