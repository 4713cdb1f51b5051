//! Trusting an index: `verify` passes on good indexes and names the problem
//! on damaged ones; every single-byte flip and every truncation is caught by
//! `verify`, while `check` on the damaged file either refuses it or answers
//! exactly as the intact index does (never a panic, never a hang); files
//! forged with matching checksums fail the structural checks; and a build
//! killed with SIGKILL at any moment leaves the old index in place.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::reseal::reseal;
use common::*;
use pwdex::batch::{OutputMode, check_stream};
use pwdex::build::{BuildOptions, build};
use pwdex::format::{PAGE, SectionId};
use pwdex::info::IndexInfo;
use pwdex::verify::{VerifyReport, progress_total, verify};
use pwdex::{Error, HashKind, Index, Key};

/// Builds `corpus` into `dir/name` through the library.
fn build_index(
    dir: &Path,
    name: &str,
    kind: HashKind,
    corpus: &Corpus,
    opts: &BuildOptions,
) -> PathBuf {
    let dump = write(
        dir,
        &format!("{name}.txt"),
        dump_text(kind, corpus, true, false),
    );
    let path = dir.join(name);
    build(&dump, &path, opts).unwrap();
    path
}

fn verify_bytes(bytes: &[u8]) -> Result<VerifyReport, Error> {
    let index = Index::from_bytes(bytes)?;
    verify(&index, None)
}

/// Every count for `keys` through [`Index::get_many`], the lookup `check` uses.
fn lookup_all(bytes: &[u8], keys: &[Key]) -> Result<Vec<Option<u64>>, Error> {
    let index = Index::from_bytes(bytes)?;
    let mut out = vec![None; keys.len()];
    index.get_many(keys, &mut out)?;
    Ok(out)
}

/// `check --all` through the library: the output, or the error that stopped it.
fn check_all(bytes: &[u8], queries: &str) -> Result<String, Error> {
    let index = Index::from_bytes(bytes)?;
    let mut out = Vec::new();
    check_stream(
        &index,
        queries.as_bytes(),
        Path::new("<queries>"),
        &mut out,
        OutputMode::All,
        &mut |_| {},
    )?;
    Ok(String::from_utf8(out).unwrap())
}

fn corrupt_what(e: &Error) -> &str {
    match e {
        Error::Corrupt { what, .. } => what,
        other => panic!("expected a corruption error, got {other}"),
    }
}

#[test]
fn good_indexes_pass_and_the_report_counts_what_was_checked() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(HashKind, usize, Option<u32>)> = vec![
        (HashKind::Sha1, 4000, None),
        (HashKind::Ntlm, 4000, None),
        (HashKind::Sha1, 0, None),
        (HashKind::Ntlm, 0, None),
        (HashKind::Sha1, 1, None),
        (HashKind::Ntlm, 1, Some(17)),
        (HashKind::Sha1, 300, Some(0)),
        (HashKind::Ntlm, 3000, Some(3)),
        (HashKind::Sha1, 2000, Some(20)),
    ];
    let mut saw_overflow = false;
    for (i, (kind, n, bucket_bits)) in cases.into_iter().enumerate() {
        let corpus = random_corpus(kind, n, 100 + i as u64);
        let opts = BuildOptions {
            bucket_bits,
            ..BuildOptions::default()
        };
        let path = build_index(dir.path(), &format!("good{i}.pwdex"), kind, &corpus, &opts);
        let index = Index::open(&path).unwrap();
        let calls = std::cell::RefCell::new(Vec::new());
        let tell = |done: u64| calls.borrow_mut().push(done);
        let report = verify(&index, Some(&tell)).unwrap_or_else(|e| panic!("case {i}: {e}"));
        let p = index.params();
        assert_eq!(report.records, n as u64);
        assert_eq!(report.file_bytes, index.file_len());
        assert_eq!(report.sections.len(), 8);
        assert_eq!(report.buckets, p.buckets());
        assert_eq!(report.overflow_entries, p.overflow_entries);
        let sums = index.header().section(SectionId::PageSums);
        assert_eq!(report.data_pages, sums.offset / PAGE - 1);
        let section_bytes: u64 = report.sections.iter().map(|s| s.bytes).sum();
        assert_eq!(
            section_bytes + report.padding_bytes + PAGE,
            index.file_len()
        );
        let calls = calls.into_inner();
        assert!(
            calls.windows(2).all(|w| w[0] <= w[1]),
            "progress goes forward"
        );
        assert_eq!(calls.last(), Some(&progress_total(&index)));
        saw_overflow |= report.overflow_entries > 0;
    }
    assert!(saw_overflow, "some case must have count overflow entries");
}

#[test]
fn the_cli_prints_what_it_checked_and_fails_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let kind = HashKind::Sha1;
    let corpus = random_corpus(kind, 2000, 7);
    let path = build_index(
        dir.path(),
        "v.pwdex",
        kind,
        &corpus,
        &BuildOptions::default(),
    );
    let o = run(&["verify", p(&path)], b"");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for word in [
        "intact",
        "8 section checksums",
        "2000 sha1 records",
        "page checksums",
        "MB/s",
    ] {
        assert!(out.contains(word), "{word:?} missing from:\n{out}");
    }
    let quiet = run(&["verify", "-q", p(&path)], b"");
    assert_eq!(quiet.status.code(), Some(0));
    assert!(quiet.stdout.is_empty() && quiet.stderr.is_empty());

    let mut bytes = std::fs::read(&path).unwrap();
    let records = Index::from_bytes(&bytes[..])
        .unwrap()
        .header()
        .section(SectionId::Records);
    bytes[records.offset as usize + 100] ^= 0x10;
    let bad = write(dir.path(), "bad.pwdex", &bytes);
    let o = run(&["verify", p(&bad)], b"");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(o.stdout.is_empty());
    assert!(
        err.starts_with("pwdex: error: ")
            && err.contains("page 1 ")
            && err.contains("records section"),
        "{err}"
    );
}

/// Runs the binary with no stdin and a time limit, its output going to
/// files (a pipe nobody reads while polling would fill up and stall it).
/// Fails the test if it runs longer than a minute.
fn run_limited(dir: &Path, args: &[&str], what: &str) -> std::process::Output {
    let out_path = dir.join("limited.out");
    let err_path = dir.join("limited.err");
    let mut child = pwdex()
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let limit = Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("{what}: still running after {limit:?} (hang?)");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    std::process::Output {
        status,
        stdout: std::fs::read(&out_path).unwrap(),
        stderr: std::fs::read(&err_path).unwrap(),
    }
}

/// A corrupted file must fail `verify`, and `check`/`info`/`iter` on it must
/// either fail cleanly or give exactly the intact answers.
struct Damage<'a> {
    keys: &'a [Key],
    intact_counts: &'a [Option<u64>],
    intact_check: &'a str,
    intact_records: &'a [(Key, u64)],
    queries: &'a str,
}

impl Damage<'_> {
    /// `whole`: also run the batch engine, `info` and a full listing (slow
    /// in a debug build: the batch engine fills an 8 MiB buffer per call).
    fn assert_handled(&self, damaged: &[u8], what: &str, whole: bool) {
        assert!(verify_bytes(damaged).is_err(), "{what}: verify passed");
        if let Ok(counts) = lookup_all(damaged, self.keys) {
            assert!(
                counts == self.intact_counts,
                "{what}: lookups answered differently and without an error"
            );
        }
        if whole && let Ok(out) = check_all(damaged, self.queries) {
            assert!(
                out == self.intact_check,
                "{what}: check answered differently and without an error"
            );
        }
        if let Ok(index) = Index::from_bytes(damaged)
            && whole
        {
            let _ = IndexInfo::of(&index);
            for (n, item) in index.iter().enumerate() {
                match item {
                    Ok(record) => assert_eq!(
                        Some(&record),
                        self.intact_records.get(n),
                        "{what}: record {n}"
                    ),
                    Err(_) => break,
                }
            }
        }
    }
}

#[test]
fn every_flip_and_truncation_is_caught_and_check_never_answers_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let kind = HashKind::Sha1;
    let corpus = random_corpus(kind, 2000, 11);
    let path = build_index(
        dir.path(),
        "small.pwdex",
        kind,
        &corpus,
        &BuildOptions::default(),
    );
    let intact = std::fs::read(&path).unwrap();
    let index = Index::from_bytes(&intact[..]).unwrap();
    assert!(index.params().overflow_entries > 0);
    let top = index.header().section(SectionId::PageSumsTop);
    // Every third stored hash (spread evenly, so every page of the records,
    // the filter and the bucket sizes is read) and some absent ones.
    let mut qs: Vec<Key> = corpus.keys().step_by(3).copied().collect();
    qs.extend(queries(kind, &corpus, 300, 12));
    let queries = query_text(kind, &qs);
    let intact_check = check_all(&intact, &queries).unwrap();
    assert_same_text(&expected_all(kind, &corpus, &qs), &intact_check);
    let intact_records: Vec<(Key, u64)> = corpus.iter().map(|(k, c)| (*k, *c)).collect();
    let intact_counts = lookup_all(&intact, &qs).unwrap();
    let damage = Damage {
        keys: &qs,
        intact_counts: &intact_counts,
        intact_check: &intact_check,
        intact_records: &intact_records,
        queries: &queries,
    };

    // Positions worth hitting on purpose: the header's fields, its reserved
    // bytes and checksum, and the first and last byte of every section and
    // of the padding after it.
    let mut positions: Vec<usize> = (0..72).chain(4080..4096).collect();
    for s in &index.header().sections {
        let r = s.range();
        positions.extend([
            r.start,
            r.end - 1,
            r.end,
            r.end.next_multiple_of(PAGE as usize) - 1,
        ]);
    }
    positions.retain(|&p| p < intact.len());
    let mut rng = Rng(2024);
    let mut flips: Vec<(usize, u8)> = positions.iter().map(|&p| (p, 0x01)).collect();
    flips.extend((0..1000).map(|_| {
        let at = (rng.next() % intact.len() as u64) as usize;
        (at, (rng.next() % 255) as u8 + 1)
    }));
    let mut via_binary = Vec::new();
    for (n, &(at, x)) in flips.iter().enumerate() {
        let mut damaged = intact.clone();
        damaged[at] ^= x;
        damage.assert_handled(
            &damaged,
            &format!("flip of byte {at} by {x:#04x}"),
            n % 25 == 0,
        );
        if n % 50 == 0 {
            via_binary.push(damaged);
        }
    }

    let exact_end = (top.offset + top.len) as usize;
    for n in 0..100 {
        let cut = if n == 0 {
            exact_end - 1
        } else {
            (rng.next() % intact.len() as u64) as usize
        };
        let damaged = &intact[..cut];
        if cut == exact_end {
            // Only the zero padding after the last section is gone: still a
            // complete index (the format allows either length).
            verify_bytes(damaged).unwrap();
            continue;
        }
        damage.assert_handled(damaged, &format!("truncation to {cut} bytes"), n % 5 == 0);
        if n % 20 == 0 {
            via_binary.push(damaged.to_vec());
        }
    }

    // A few dozen through the binary: exit 0 with the intact answers, or exit
    // 1 with a message; never a panic (101), never a hang.
    let qfile = write(dir.path(), "q.txt", &queries);
    for (n, damaged) in via_binary.iter().enumerate() {
        let file = write(dir.path(), &format!("damaged{n}.pwdex"), damaged);
        let o = run_limited(
            dir.path(),
            &["check", "-i", p(&file), "--all", "-q", p(&qfile)],
            "check",
        );
        let err = String::from_utf8_lossy(&o.stderr);
        match o.status.code() {
            Some(0) => assert!(
                o.stdout == intact_check.as_bytes(),
                "damaged{n}: check exit 0 with different output"
            ),
            Some(1) => assert!(err.starts_with("pwdex: error: "), "damaged{n}: {err}"),
            other => panic!("damaged{n}: check exit {other:?}: {err}"),
        }
        let o = run_limited(dir.path(), &["verify", p(&file)], "verify");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "damaged{n}: verify: {err}");
        assert!(err.starts_with("pwdex: error: "), "damaged{n}: {err}");
        let o = run_limited(dir.path(), &["info", p(&file)], "info");
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "damaged{n}: info {:?}",
            o.status
        );
    }
}

#[test]
fn short_prefixes_of_an_index_are_called_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = random_corpus(HashKind::Ntlm, 10, 51);
    let path = build_index(
        dir.path(),
        "p.pwdex",
        HashKind::Ntlm,
        &corpus,
        &BuildOptions::default(),
    );
    let bytes = std::fs::read(&path).unwrap();
    assert!(matches!(
        Index::from_bytes(&bytes[..0]),
        Err(Error::NotAnIndex { .. })
    ));
    for cut in (1..=16).chain([4095, 4096, 4097, 8191, bytes.len() - 4097, bytes.len() - 1]) {
        match Index::from_bytes(&bytes[..cut]) {
            Err(Error::Corrupt { what, .. }) => assert!(
                what.contains("truncated") || what.contains("bytes long"),
                "cut at {cut}: {what}"
            ),
            Err(e) => panic!("cut at {cut}: {e}"),
            Ok(_) => panic!("cut at {cut}: opened"),
        }
    }
}

/// Sets `width` bits at bit `pos` of `data` to `value`.
fn put_bits(data: &mut [u8], pos: u64, width: u32, value: u64) {
    for b in 0..width as u64 {
        let bit = pos + b;
        let byte = &mut data[(bit / 8) as usize];
        let m = 1u8 << (bit % 8);
        if value >> b & 1 == 1 {
            *byte |= m;
        } else {
            *byte &= !m;
        }
    }
}

fn get_bits(data: &[u8], pos: u64, width: u32) -> u64 {
    pwdex::bits::read_bits(data, pos, width).unwrap()
}

/// Forges `intact` with `edit` (given the file and its decoded index), reseals
/// every checksum, and returns what `verify` says about it.
fn forged(intact: &[u8], edit: impl FnOnce(&mut [u8], &Index<&[u8]>)) -> String {
    let mut bytes = intact.to_vec();
    let index = Index::from_bytes(intact).unwrap();
    edit(&mut bytes, &index);
    assert!(reseal(&mut bytes), "forged header must still decode");
    let e = verify_bytes(&bytes).expect_err("a forged file must fail verify");
    corrupt_what(&e).to_string()
}

#[test]
fn files_forged_with_matching_checksums_fail_the_structural_checks() {
    let dir = tempfile::tempdir().unwrap();
    let kind = HashKind::Ntlm;
    let corpus = random_corpus(kind, 3000, 21);
    let opts = BuildOptions {
        bucket_bits: Some(10),
        ..BuildOptions::default()
    };
    let path = build_index(dir.path(), "forge.pwdex", kind, &corpus, &opts);
    let intact = std::fs::read(&path).unwrap();
    {
        let mut same = intact.clone();
        assert!(reseal(&mut same));
        assert!(same == intact, "resealing an intact index changes nothing");
    }
    let index = Index::from_bytes(&intact[..]).unwrap();
    let p = *index.params();
    assert!(p.overflow_entries > 0 && p.count_width < 64);
    let sec = |id: SectionId| index.header().section(id).range();
    let r = p.record_bits();
    let w = p.count_width;

    // Two records of one bucket swapped: out of order.
    let keys: Vec<Key> = corpus.keys().copied().collect();
    let i = (0..keys.len() - 1)
        .find(|&i| keys[i].top_bits(kind, 10) == keys[i + 1].top_bits(kind, 10))
        .unwrap() as u64;
    let what = forged(&intact, |b, _| {
        let recs = &mut b[sec(SectionId::Records)];
        let mut at = 0;
        while at < p.suffix_bits() {
            let n = (p.suffix_bits() - at).min(64);
            let (x, y) = (i * r + (w + at) as u64, (i + 1) * r + (w + at) as u64);
            let (vx, vy) = (get_bits(recs, x, n), get_bits(recs, y, n));
            put_bits(recs, x, n, vy);
            put_bits(recs, y, n, vx);
            at += n;
        }
    });
    assert!(
        what.contains("out of order") && what.contains(&format!("record {} ", i + 1)),
        "{what}"
    );

    // A sample off by one.
    let what = forged(&intact, |b, _| {
        let s = sec(SectionId::BucketSamples);
        let at = s.start + 8 * 2;
        let v = u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) + 1;
        b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    });
    assert!(what.contains("bucket sample 2 "), "{what}");

    // A filter bit a record needs, cleared: find the first key's block and clear its bits.
    let first = *corpus.keys().next().unwrap();
    let what = forged(&intact, |b, ix| {
        let f = sec(SectionId::Filter);
        let block = pwdex::filter::block_of(&first, kind, ix.params().filter_blocks) as usize;
        let start = f.start + block * 64;
        b[start..start + 8].fill(0);
    });
    assert!(
        what.contains("does not pass the filter") && what.contains(&first.to_hex(kind)),
        "{what}"
    );

    // A record given the escape code without an overflow entry.
    let plain = (0..p.records)
        .find(|&i| get_bits(&intact[sec(SectionId::Records)], i * r, w) != p.escape_code())
        .unwrap();
    let what = forged(&intact, |b, _| {
        put_bits(
            &mut b[sec(SectionId::Records)],
            plain * r,
            w,
            p.escape_code(),
        );
    });
    assert!(
        what.contains(&format!("record {plain} ")) && what.contains("no count overflow entry"),
        "{what}"
    );

    // An escape-coded record whose overflow entry points elsewhere.
    let what = forged(&intact, |b, _| {
        let over = &mut b[sec(SectionId::CountOverflow)];
        let ib = p.overflow_index_bits;
        put_bits(over, 0, ib, plain);
    });
    assert!(
        what.contains("count overflow entry 0") && what.contains("not the escape code"),
        "{what}"
    );

    // An overflow count small enough for the count code.
    let what = forged(&intact, |b, _| {
        let over = &mut b[sec(SectionId::CountOverflow)];
        put_bits(over, p.overflow_index_bits as u64, p.overflow_count_bits, 1);
    });
    assert!(what.contains("fits the"), "{what}");

    // An overflow count of 0: `verify` refuses the file, and every lookup
    // that reads the count refuses too, where one answered "count 0" and
    // `check`'s plain counts would read "absent".
    let over = sec(SectionId::CountOverflow);
    let ib = p.overflow_index_bits;
    let what = forged(&intact, |b, _| {
        put_bits(&mut b[over.clone()], ib as u64, p.overflow_count_bits, 0);
    });
    assert!(!what.is_empty());
    let mut zero = intact.clone();
    put_bits(&mut zero[over.clone()], ib as u64, p.overflow_count_bits, 0);
    assert!(reseal(&mut zero));
    let forged_index = Index::from_bytes(&zero[..]).unwrap();
    let key = keys[get_bits(&intact[over.clone()], 0, ib) as usize];
    assert!(index.get(&key).unwrap().is_some_and(|c| c > 0));
    let e = forged_index
        .get(&key)
        .expect_err("a count of 0 must be refused");
    assert!(corrupt_what(&e).contains("overflow count of 0"), "{e}");
    let mut counts = vec![None; 2];
    assert!(forged_index.get_many(&[keys[0], key], &mut counts).is_err());

    // A stray one bit after the bucket sizes' last bucket.
    let what = forged(&intact, |b, _| {
        let total = p.records + p.buckets();
        put_bits(&mut b[sec(SectionId::BucketSizes)], total + 3, 1, 1);
    });
    assert!(
        what.contains("bucket sizes section") && what.contains("must be zero"),
        "{what}"
    );

    // A record moved from one bucket to the next: the one bits still add up,
    // but a sample or the order breaks. Swap the first 1 that precedes a 0.
    let what = forged(&intact, |b, _| {
        let sizes = &mut b[sec(SectionId::BucketSizes)];
        let pos = (0..).find(|&i| get_bits(sizes, i, 2) == 0b01).unwrap();
        put_bits(sizes, pos, 2, 0b10);
    });
    assert!(
        what.contains("out of order") || what.contains("bucket sample") || what.contains("filter"),
        "{what}"
    );

    // One record too many in the bucket sizes.
    let what = forged(&intact, |b, _| {
        let sizes = &mut b[sec(SectionId::BucketSizes)];
        let pos = (0..).find(|&i| get_bits(sizes, i, 1) == 0).unwrap();
        put_bits(sizes, pos, 1, 1);
    });
    assert!(what.contains("bucket"), "{what}");

    // A stray bit after the last record.
    let what = forged(&intact, |b, _| {
        put_bits(&mut b[sec(SectionId::Records)], p.records * r + 1, 1, 1);
    });
    assert!(
        what.contains("records section") && what.contains("must be zero"),
        "{what}"
    );

    // Build record that is not JSON.
    let what = forged(&intact, |b, _| {
        let s = sec(SectionId::BuildRecord);
        b[s.start] = b'x';
    });
    assert!(
        what.contains("build record") && what.contains("not valid JSON"),
        "{what}"
    );

    // Nonzero padding right after the page sums (covered by no checksum).
    let what = forged(&intact, |b, _| {
        let s = sec(SectionId::PageSums);
        b[s.end] = 7;
    });
    assert!(
        what.contains("padding after the page sums section"),
        "{what}"
    );
}

#[test]
fn forged_files_never_panic_the_reader() {
    // Structural damage with matching checksums, at random places: the
    // reader and `verify` must return errors (or answers), never panic.
    let dir = tempfile::tempdir().unwrap();
    let kind = HashKind::Sha1;
    let corpus = random_corpus(kind, 1500, 31);
    let path = build_index(
        dir.path(),
        "fz.pwdex",
        kind,
        &corpus,
        &BuildOptions::default(),
    );
    let intact = std::fs::read(&path).unwrap();
    let qs: Vec<Key> = queries(kind, &corpus, 200, 32);
    let queries = query_text(kind, &qs);
    let data_end = Index::from_bytes(&intact[..])
        .unwrap()
        .header()
        .section(SectionId::PageSums)
        .offset as usize;
    let mut rng = Rng(33);
    for n in 0..100 {
        let mut bytes = intact.clone();
        for _ in 0..1 + rng.next() % 4 {
            // Mostly the data sections; sometimes the header parameters.
            let at = if rng.next().is_multiple_of(8) {
                16 + (rng.next() % 48) as usize
            } else {
                PAGE as usize + (rng.next() % (data_end as u64 - PAGE)) as usize
            };
            bytes[at] ^= 1 << (rng.next() % 8);
        }
        if !reseal(&mut bytes) {
            continue;
        }
        let _ = verify_bytes(&bytes);
        let _ = lookup_all(&bytes, &qs);
        if n % 10 == 0 {
            let _ = check_all(&bytes, &queries);
        }
        if let Ok(index) = Index::from_bytes(&bytes[..]) {
            let _ = index.iter().take(2000).count();
        }
    }
}

#[test]
fn a_build_killed_at_any_moment_leaves_the_old_index_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let kind = HashKind::Sha1;
    let target = dir.path().join("target.pwdex");
    let old = random_corpus(kind, 500, 41);
    let old_dump = write(dir.path(), "old.txt", dump_text(kind, &old, true, false));
    build(&old_dump, &target, &BuildOptions::default()).unwrap();
    let old_bytes = std::fs::read(&target).unwrap();

    let big = random_corpus(kind, 300_000, 42);
    let big_dump = write(dir.path(), "big.txt", dump_text(kind, &big, true, false));
    drop(big);
    let build_cmd = |output: &Path| -> Command {
        let mut c = pwdex();
        c.args(["build", p(&big_dump), "-o", p(output), "-q"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    // How long a whole build takes here, so kills land all through it.
    let started = Instant::now();
    let calibration = dir.path().join("calibration.pwdex");
    assert!(build_cmd(&calibration).status().unwrap().success());
    let full = started.elapsed();
    std::fs::remove_file(&calibration).unwrap();

    let known = ["target.pwdex", "old.txt", "big.txt"];
    let mut rng = Rng(43);
    let (mut killed, mut finished, mut leftovers) = (0, 0, 0);
    for attempt in 0..20 {
        let delay = full.mul_f64((rng.next() % 1000) as f64 / 1000.0 * 1.1);
        let mut child = build_cmd(&target).spawn().unwrap();
        std::thread::sleep(delay);
        // `Child::kill` sends SIGKILL: no handler, no cleanup.
        let _ = child.kill();
        let status = child.wait().unwrap();
        let now = std::fs::read(&target).unwrap();
        if now == old_bytes {
            killed += !status.success() as u32;
        } else {
            // The rename happened before the kill: the new index, complete.
            let index =
                Index::from_bytes(&now[..]).unwrap_or_else(|e| panic!("attempt {attempt}: {e}"));
            verify(&index, None).unwrap_or_else(|e| panic!("attempt {attempt}: {e}"));
            assert_eq!(index.len(), 300_000);
            finished += 1;
            std::fs::write(&target, &old_bytes).unwrap();
        }
        // A SIGKILLed build cannot remove its temporary file; that file is
        // all it may leave, and never at the target path.
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if known.contains(&name.as_str()) {
                continue;
            }
            assert!(
                name.starts_with(".target.pwdex.") && name.ends_with(".pwdex.tmp"),
                "attempt {attempt}: unexpected file {name}"
            );
            std::fs::remove_file(dir.path().join(&name)).unwrap();
            leftovers += 1;
        }
    }
    eprintln!(
        "full build {full:?}: {killed} killed mid-build, {finished} finished first, {leftovers} temporary files left"
    );
    assert!(
        killed >= 5,
        "too few kills landed mid-build ({killed}); the build is too fast to test"
    );
}
