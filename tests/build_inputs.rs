//! Every form the corpus comes in builds an index that answers identically
//! and exactly: range directories with padding, lower-case LF files, gzip,
//! zstd and 7z copies, shuffled (unsorted) lines, several inputs merged,
//! plaintext lists; and bad input fails cleanly.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::*;
use pwdex::HashKind;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn build(inputs: &[&Path], index: &Path, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<&str> = vec!["build"];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    args.extend(["-o", index.to_str().unwrap(), "-q"]);
    args.extend(extra);
    run(&args, b"")
}

fn check_all(index: &Path, queries: &str) -> String {
    let o = run(
        &["check", "-i", index.to_str().unwrap(), "--all", "-q"],
        queries.as_bytes(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// Writes range files (CRLF) for a corpus, with count-0 padding lines when asked.
fn write_ranges(dir: &Path, kind: HashKind, corpus: &Corpus, padding: bool) -> PathBuf {
    let root = dir.join("ranges");
    std::fs::create_dir_all(&root).unwrap();
    let mut files: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut rng = Rng(99);
    for (k, c) in corpus {
        let hex = k.to_hex(kind);
        files
            .entry(hex[..5].to_string())
            .or_default()
            .push(format!("{}:{}", &hex[5..], c));
    }
    for (prefix, mut lines) in files {
        if padding {
            for _ in 0..5 {
                let pad = rng.key(kind).to_hex(kind);
                lines.push(format!("{}:0", &pad[5..]));
            }
            lines.sort();
        }
        std::fs::write(
            root.join(format!("{prefix}.txt")),
            lines.join("\r\n") + "\r\n",
        )
        .unwrap();
    }
    root
}

#[test]
fn every_form_of_one_corpus_answers_identically() {
    for kind in [HashKind::Sha1, HashKind::Ntlm] {
        let dir = tempfile::tempdir().unwrap();
        let corpus = random_corpus(kind, 30_000, 11);
        let qs = queries(kind, &corpus, 5_000, 12);
        let qtext = query_text(kind, &qs);
        let expected = expected_all(kind, &corpus, &qs);
        let text = dump_text(kind, &corpus, true, false);

        let mut forms: Vec<(&str, Vec<PathBuf>, Vec<&str>)> = Vec::new();
        let plain = write(dir.path(), "plain.txt", &text);
        forms.push(("plain", vec![plain.clone()], vec![]));
        forms.push((
            "ranges+padding",
            vec![write_ranges(dir.path(), kind, &corpus, true)],
            vec![],
        ));
        let lower = write(
            dir.path(),
            "lower.txt",
            dump_text(kind, &corpus, false, true),
        );
        forms.push(("lower LF", vec![lower], vec![]));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        forms.push((
            "gzip",
            vec![write(dir.path(), "dump.txt.gz", gz.finish().unwrap())],
            vec![],
        ));
        let zst = zstd::encode_all(text.as_bytes(), 1).unwrap();
        forms.push(("zstd", vec![write(dir.path(), "dump.zst", zst)], vec![]));
        let seven = dir.path().join("dump.7z");
        let inner = write(dir.path(), "inner.txt", &text);
        sevenz_rust2::compress_to_path(&inner, &seven).unwrap();
        forms.push(("7z", vec![seven], vec![]));
        let mut shuffled: Vec<&str> = text.lines().collect();
        let mut rng = Rng(13);
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
        let shuffled_text = shuffled.join("\n") + "\n";
        forms.push((
            "shuffled",
            vec![write(dir.path(), "shuffled.txt", &shuffled_text)],
            vec![],
        ));
        // A tiny memory budget forces many sort runs.
        forms.push((
            "shuffled, many runs",
            vec![dir.path().join("shuffled.txt")],
            vec!["--memory", "1M"],
        ));
        let half = shuffled.len() / 2;
        let a = write(dir.path(), "a.txt", shuffled[..half].join("\n") + "\n");
        let b = write(dir.path(), "b.txt", shuffled[half..].join("\n") + "\n");
        forms.push(("two files", vec![a, b], vec![]));

        for (name, inputs, extra) in forms {
            let index = dir
                .path()
                .join(format!("{}.pwdex", name.replace([' ', ',', '+'], "_")));
            let refs: Vec<&Path> = inputs.iter().map(|p| p.as_path()).collect();
            let o = build(&refs, &index, &extra);
            assert!(o.status.success(), "{kind} {name}: {}", stderr(&o));
            assert_same_text(&expected, &check_all(&index, &qtext));
        }
        // Stdin, unsorted, goes through the sort path too.
        let index = dir.path().join("stdin.pwdex");
        let o = run(
            &["build", "-", "-o", index.to_str().unwrap(), "-q"],
            shuffled_text.as_bytes(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert_same_text(&expected, &check_all(&index, &qtext));
        // Nothing temporary is left behind.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

#[test]
fn duplicates_across_inputs_are_summed() {
    let dir = tempfile::tempdir().unwrap();
    let kind = HashKind::Sha1;
    let corpus = random_corpus(kind, 2_000, 21);
    let a = write(dir.path(), "a.txt", dump_text(kind, &corpus, true, false));
    let b = write(dir.path(), "b.txt", dump_text(kind, &corpus, false, true));
    let index = dir.path().join("i.pwdex");
    let o = build(&[&a, &b], &index, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doubled: Corpus = corpus.iter().map(|(k, c)| (*k, c * 2)).collect();
    let qs = queries(kind, &corpus, 1_000, 22);
    assert_same_text(
        &expected_all(kind, &doubled, &qs),
        &check_all(&index, &query_text(kind, &qs)),
    );
}

#[test]
fn plaintext_lists_are_hashed_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let list = "password\nP@ssw0rd\npassword\nhunter2\r\npässwörd\npassword\n\n";
    let file = write(dir.path(), "leak.txt", list);
    for kind in [HashKind::Sha1, HashKind::Ntlm] {
        let index = dir.path().join(format!("{kind}.pwdex"));
        let o = build(
            &[&file],
            &index,
            &["--from-plaintext", "--kind", kind.name()],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let q: String = ["password", "P@ssw0rd", "hunter2", "pässwörd", "absent"]
            .iter()
            .map(|p| kind.hash_plaintext(p.as_bytes()).to_hex(kind) + "\n")
            .collect();
        let out = check_all(&index, &q);
        let counts: Vec<&str> = out.lines().map(|l| l.rsplit(':').next().unwrap()).collect();
        assert_eq!(counts, ["3", "1", "1", "1", "0"], "{kind}: {out}");
    }
    let o = build(&[&file], &dir.path().join("x.pwdex"), &["--from-plaintext"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--kind"), "{}", stderr(&o));

    // The same list with a UTF-8 byte-order mark, and as UTF-16LE with one,
    // gives the same index; UTF-16 without a mark is refused (NUL bytes).
    let kind = HashKind::Ntlm;
    let reference = dir.path().join(format!("{kind}.pwdex"));
    let q: String = ["password", "pässwörd", "absent"]
        .iter()
        .map(|p| kind.hash_plaintext(p.as_bytes()).to_hex(kind) + "\n")
        .collect();
    let expected = check_all(&reference, &q);
    let utf16: Vec<u8> = list.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let marked = [
        (
            "bom8.txt",
            [&[0xEF, 0xBB, 0xBF][..], list.as_bytes()].concat(),
        ),
        ("bom16.txt", [&[0xFF, 0xFE][..], &utf16].concat()),
    ];
    for (name, bytes) in marked {
        let index = dir.path().join(format!("{name}.pwdex"));
        let input = write(dir.path(), name, bytes);
        let o = build(&[&input], &index, &["--from-plaintext", "--kind", "ntlm"]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert_eq!(check_all(&index, &q), expected, "{name}");
    }
    let input = write(dir.path(), "nobom16.txt", &utf16);
    let index = dir.path().join("nobom16.pwdex");
    let o = build(&[&input], &index, &["--from-plaintext", "--kind", "ntlm"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("NUL byte"), "{}", stderr(&o));
}

#[test]
fn a_bad_line_fails_with_file_and_line_or_is_skipped_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let kind = HashKind::Sha1;
    let corpus = random_corpus(kind, 5_000, 31);
    let good = write(
        dir.path(),
        "good.txt",
        dump_text(kind, &corpus, true, false),
    );
    let index = dir.path().join("i.pwdex");
    assert!(build(&[&good], &index, &[]).status.success());
    let before = std::fs::read(&index).unwrap();
    let mut lines: Vec<String> = dump_text(kind, &corpus, true, false)
        .lines()
        .map(String::from)
        .collect();
    lines[2500] = "this line is broken".into();
    let text = lines.join("\n") + "\n";
    let bad = write(dir.path(), "bad.txt", &text);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    let bad_gz = write(dir.path(), "bad.txt.gz", gz.finish().unwrap());
    for input in [&bad, &bad_gz] {
        let o = build(&[input], &index, &[]);
        assert_eq!(o.status.code(), Some(1));
        let name = input.file_name().unwrap().to_str().unwrap();
        assert!(
            stderr(&o).contains(&format!("{name}:2501:")),
            "{}",
            stderr(&o)
        );
        assert_eq!(std::fs::read(&index).unwrap(), before, "index changed");
    }
    // A mixed-kind line is an error, never silently mixed.
    lines[2500] = "8846F7EAEE8FB117AD06BDD830B7586C:7".into();
    let mixed = write(dir.path(), "mixed.txt", lines.join("\n") + "\n");
    let o = build(&[&mixed], &index, &[]);
    assert!(
        stderr(&o).contains("mixed.txt:2501: ntlm hash in a sha1 input"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&index).unwrap(), before);

    // --skip-malformed skips, reports, and records it in the build record.
    let o = build(&[&bad], &index, &["--skip-malformed"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("bad.txt:2501:"), "{}", stderr(&o));
    let info = run(&["info", index.to_str().unwrap(), "--json"], b"");
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(v["build"]["malformed_skipped"], 1);
    assert_eq!(v["records"], 4_999);
}

#[test]
fn range_files_with_wrong_suffix_length_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(
        root.join("00000.txt"),
        "0005AD76BD555C1D6D771DE417A4B87E4B4:10\r\n",
    )
    .unwrap();
    std::fs::write(
        root.join("00001.txt"),
        "0005AD76BD555C1D6D771DE417A4B87E4B4:10\r\n00A8DAE4228F821FB418F59826079BF368:2\r\n",
    )
    .unwrap();
    let o = build(&[&root], &dir.path().join("i.pwdex"), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("00001.txt:2: suffix is 34 characters, expected 35"),
        "{}",
        stderr(&o)
    );
    std::fs::write(root.join("notes.md"), "hello").unwrap();
    let o = build(&[&root], &dir.path().join("i.pwdex"), &[]);
    assert!(stderr(&o).contains("notes.md"), "{}", stderr(&o));
}

/// The build record names each input with the xxh3 of its bytes, so an
/// index can be matched to its download: for a dump file, of the file; for
/// a range directory, of its files' bytes in prefix order.
#[test]
fn build_record_holds_the_xxh3_of_the_input_bytes() {
    let kind = HashKind::Sha1;
    let corpus = random_corpus(kind, 3000, 41);
    let dir = tempfile::tempdir().unwrap();
    let dump = write(dir.path(), "d.txt", dump_text(kind, &corpus, true, false));
    let ranges = write_ranges(dir.path(), kind, &corpus, true);
    let mut range_bytes = Vec::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(&ranges)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for name in &names {
        range_bytes.extend(std::fs::read(name).unwrap());
    }
    for (input, bytes) in [
        (dump.clone(), std::fs::read(&dump).unwrap()),
        (ranges.clone(), range_bytes),
    ] {
        let index = dir.path().join("i.pwdex");
        let o = build(&[&input], &index, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        let info = run(&["info", "--json", index.to_str().unwrap()], b"");
        let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
        let expected = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes));
        assert_eq!(
            v["build"]["inputs"][0]["xxh3"],
            expected.as_str(),
            "{}",
            input.display()
        );
    }
}

/// A small `--memory` against a large input: the sort spills, and its
/// partitions, each far larger than the budget, are sorted again a level or
/// two down, each level with a spill file of its own. All of it builds under
/// a small open-files limit and answers exactly. (With the earlier merge of
/// sorted runs, this was 21 runs, one open file each.)
#[test]
fn many_sort_runs_fit_a_small_open_files_limit() {
    let kind = HashKind::Ntlm;
    let dir = tempfile::tempdir().unwrap();
    let corpus = random_corpus(kind, 700_000, 41);
    // Reversed lines: not sorted, so the external sort runs (1M budget:
    // 32,768 records held).
    let text = dump_text(kind, &corpus, false, false);
    let mut lines: Vec<&str> = text.lines().collect();
    lines.reverse();
    let input = dir.path().join("reversed.txt");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let index = dir.path().join("r.pwdex");
    let script = format!(
        "ulimit -n 40 && exec '{}' build '{}' -o '{}' -q --memory 1M",
        env!("CARGO_BIN_EXE_pwdex"),
        input.display(),
        index.display()
    );
    let o = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let qs = queries(kind, &corpus, 2000, 42);
    assert_eq!(
        check_all(&index, &query_text(kind, &qs)),
        expected_all(kind, &corpus, &qs)
    );
}

/// When the sort cannot spill (its temporary directory does not exist), the
/// build fails with the directory named and leaves the target as it was.
#[test]
fn a_sort_that_cannot_spill_fails_cleanly() {
    let kind = HashKind::Sha1;
    let dir = tempfile::tempdir().unwrap();
    let corpus = random_corpus(kind, 60_000, 17);
    let text = dump_text(kind, &corpus, false, false);
    let mut lines: Vec<&str> = text.lines().collect();
    lines.reverse();
    let input = write(dir.path(), "reversed.txt", lines.join("\n") + "\n");
    let index = dir.path().join("r.pwdex");
    std::fs::write(&index, b"previous content").unwrap();
    let missing = dir.path().join("no-such-dir");
    // 1M of memory: 32,768 records held, so 60,000 must spill.
    let o = build(
        &[&input],
        &index,
        &["--memory", "1M", "--tmp-dir", p(&missing)],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("no-such-dir"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&index).unwrap(), b"previous content");
}

#[test]
fn inputs_that_were_misread_are_read_right_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let kind = HashKind::Ntlm;
    let corpus = random_corpus(kind, 3_000, 21);
    let qs = queries(kind, &corpus, 1_000, 22);
    let qtext = query_text(kind, &qs);
    let expected = expected_all(kind, &corpus, &qs);
    let text = dump_text(kind, &corpus, false, false);
    let index = dir.path().join("out.pwdex");
    let built_right = |o: std::process::Output, what: &str| {
        assert!(o.status.success(), "{what}: {}", stderr(&o));
        assert_same_text(&expected, &check_all(&index, &qtext));
        std::fs::remove_file(&index).unwrap();
    };

    // A 7z of one corpus behind an empty first entry is read whole; one
    // that holds two files is refused (only the first was read).
    let one = dir.path().join("one");
    std::fs::create_dir(&one).unwrap();
    write(&one, "0readme.txt", "");
    write(&one, "corpus.txt", &text);
    let seven = dir.path().join("one.7z");
    sevenz_rust2::compress_to_path(&one, &seven).unwrap();
    built_right(build(&[&seven], &index, &[]), "7z with an empty entry");
    let two = dir.path().join("two");
    std::fs::create_dir(&two).unwrap();
    let half = text.len() / 2 + text[text.len() / 2..].find('\n').unwrap() + 1;
    write(&two, "a.txt", &text[..half]);
    write(&two, "b.txt", &text[half..]);
    let seven = dir.path().join("two.7z");
    sevenz_rust2::compress_to_path(&two, &seven).unwrap();
    let o = build(&[&seven], &index, &[]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("holds 2 files (") && err.contains("a.txt"),
        "{err}"
    );
    assert!(!index.exists());

    // Gzip on stdin, and a named pipe, are read from their first byte.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    let o = run(
        &["build", "-", "-o", p(&index), "-q"],
        &gz.finish().unwrap(),
    );
    built_right(o, "gzip on stdin");
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let feeder = {
        let (fifo, text) = (fifo.clone(), text.clone());
        std::thread::spawn(move || std::fs::write(fifo, text).unwrap())
    };
    built_right(build(&[&fifo], &index, &[]), "named pipe");
    feeder.join().unwrap();

    // An NTLM range directory whose first file is empty.
    let ranges = write_ranges(dir.path(), kind, &corpus, false);
    write(&ranges, "00000.txt", "");
    built_right(build(&[&ranges], &index, &[]), "empty first range file");
    // A range file name with a sign is not a prefix.
    write(&ranges, "+BAA6.txt", "");
    let o = build(&[&ranges], &index, &[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("+BAA6.txt: not a range file"),
        "{}",
        stderr(&o)
    );

    // A dump with a UTF-8 byte-order mark (sorted path), and as UTF-16LE
    // with one (decoded on the sort path), reads like the plain dump.
    let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    for (name, bytes) in [
        (
            "bom8.txt",
            [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat(),
        ),
        ("bom16.txt", [&[0xFF, 0xFE][..], &utf16].concat()),
    ] {
        let input = write(dir.path(), name, bytes);
        built_right(build(&[&input], &index, &[]), name);
    }

    // The output may not be an input: it would be replaced.
    let dump = write(dir.path(), "dump.txt", &text);
    let o = build(&[&dump], &dump, &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("would replace it"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&dump).unwrap(), text);

    // --sorted refuses the inputs it cannot check the order of.
    let gz_path = dir.path().join("dump.txt.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    std::fs::write(&gz_path, gz.finish().unwrap()).unwrap();
    let o = build(&[&gz_path], &index, &["--sorted"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--sorted takes one"), "{}", stderr(&o));

    // Counts of one hash that overflow when summed name the hash.
    let hash = "8846F7EAEE8FB117AD06BDD830B7586C";
    let big = format!("{hash}:{}\n", u64::MAX / 2 + 1);
    let (a, b) = (
        write(dir.path(), "a.txt", &big),
        write(dir.path(), "b.txt", &big),
    );
    let o = build(&[&a, &b], &index, &[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!("the counts of {hash} add up to more than")),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_dump_that_starts_with_padding_gets_a_sound_layout() {
    // The layout was planned from the first MiB only: padding there made
    // a nearly empty plan, and the records were packed without buckets.
    let dir = tempfile::tempdir().unwrap();
    let kind = HashKind::Sha1;
    let corpus: Corpus = random_corpus(kind, 80_000, 31)
        .into_iter()
        .filter(|(k, _)| !k.to_hex(kind).starts_with("000"))
        .collect();
    let mut rng = Rng(32);
    let mut padding: Vec<String> = (0..30_000)
        .map(|_| format!("000{}:0", &rng.key(kind).to_hex(kind)[3..]))
        .collect();
    padding.sort();
    let text = padding.join("\n") + "\n" + &dump_text(kind, &corpus, false, false);
    let dump = write(dir.path(), "padded.txt", &text);
    let index = dir.path().join("padded.pwdex");
    let o = build(&[&dump], &index, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info = run(&["info", "--json", p(&index)], b"");
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    let bits = info["bucket_bits"].as_u64().unwrap();
    // About log2(records) is right (16 here); the first MiB alone gave 0.
    assert!((14..=18).contains(&bits), "bucket bits {bits}");
    let qs = queries(kind, &corpus, 2_000, 33);
    assert_same_text(
        &expected_all(kind, &corpus, &qs),
        &check_all(&index, &query_text(kind, &qs)),
    );
}
