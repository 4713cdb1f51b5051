//! Criterion micro-benchmarks of the hot paths: query parsing, the filter
//! probe, the bucket search, whole lookups (present and absent; also through
//! the in-memory bucket table dense batches build), output formatting, page
//! checksums (as built, and the crate's own code for comparison), and the
//! batch engine end to end in memory (parse + lookup + formatting).
//!
//! Run: `cargo bench --bench hot_paths` (add `-- --quick` for a fast pass).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pwdex::batch::{OutputMode, check_stream};
use pwdex::build::{BuildOptions, build};
use pwdex::parse::parse_query_line;
use pwdex::queries::Query;
use pwdex::report::{OutputFormat, RecordWriter, Verdict};
use pwdex::{HashKind, Index, Key};

const RECORDS: usize = 2_000_000;
const QUERIES: usize = 100_000;

struct Fixture {
    _dir: tempfile::TempDir,
    index: Index<memmap2::Mmap>,
    present: Vec<Key>,
    absent: Vec<Key>,
    query_text: Vec<u8>,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniformly random SHA-1-sized key.
fn random_sha1(state: &mut u64) -> Key {
    Key::from_limbs(splitmix(state) >> 32, splitmix(state), splitmix(state))
}

fn fixture() -> Fixture {
    let kind = HashKind::Sha1;
    let mut state = 42u64;
    let mut keys: Vec<Key> = (0..RECORDS).map(|_| random_sha1(&mut state)).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut dump = String::with_capacity(keys.len() * 46);
    for (i, k) in keys.iter().enumerate() {
        dump.push_str(&k.to_hex(kind));
        dump.push(':');
        dump.push_str(&(1 + (i % 97) * (i % 13)).to_string());
        dump.push('\n');
    }
    let dir = tempfile::tempdir().unwrap();
    let dump_path = dir.path().join("dump.txt");
    std::fs::write(&dump_path, dump).unwrap();
    let index_path = dir.path().join("bench.pwdex");
    build(&dump_path, &index_path, &BuildOptions::default()).unwrap();
    let index = Index::open(&index_path).unwrap();
    let present: Vec<Key> = (0..QUERIES)
        .map(|_| keys[(splitmix(&mut state) % keys.len() as u64) as usize])
        .collect();
    let absent: Vec<Key> = (0..QUERIES).map(|_| random_sha1(&mut state)).collect();
    let mut query_text = Vec::new();
    for (p, a) in present.iter().zip(&absent) {
        query_text.extend_from_slice(p.to_hex(kind).as_bytes());
        query_text.push(b'\n');
        query_text.extend_from_slice(a.to_hex(kind).as_bytes());
        query_text.push(b'\n');
    }
    Fixture {
        _dir: dir,
        index,
        present,
        absent,
        query_text,
    }
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    // Touch every page once so the lazy page checks are out of the way.
    for r in f.index.iter() {
        r.unwrap();
    }
    let kind = HashKind::Sha1;

    let mut g = c.benchmark_group("parse");
    let lines: Vec<&[u8]> = f
        .query_text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("query_line", |b| {
        b.iter(|| {
            for l in &lines {
                black_box(parse_query_line(kind, l).unwrap());
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("lookup");
    g.throughput(Throughput::Elements(QUERIES as u64));
    g.bench_function("filter_probe", |b| {
        b.iter(|| {
            for k in &f.absent {
                black_box(f.index.filter_may_contain(k).unwrap());
            }
        })
    });
    g.bench_function("bucket_search", |b| {
        let p = *f.index.params();
        b.iter(|| {
            for k in &f.present {
                black_box(
                    f.index
                        .bucket_records(k.top_bits(p.kind, p.bucket_bits))
                        .unwrap(),
                );
            }
        })
    });
    let mut out = vec![None; QUERIES];
    g.bench_function("get_many_present", |b| {
        b.iter(|| f.index.get_many(&f.present, &mut out).unwrap())
    });
    g.bench_function("get_many_present_in_512s", |b| {
        b.iter(|| {
            for (k, o) in f.present.chunks(512).zip(out.chunks_mut(512)) {
                f.index.get_many(k, o).unwrap();
            }
        })
    });
    g.bench_function("get_many_absent", |b| {
        b.iter(|| f.index.get_many(&f.absent, &mut out).unwrap())
    });
    // Through the in-memory bucket table a dense batch builds (a second
    // index over the same file, so the plain runs above stay plain).
    let dense = Index::open(f.index.path()).unwrap();
    dense.verify_all_pages().unwrap();
    dense.index_overflow_counts().unwrap();
    dense.index_buckets().unwrap();
    g.bench_function("get_many_present_bucket_table", |b| {
        b.iter(|| dense.get_many(&f.present, &mut out).unwrap())
    });
    g.bench_function("get_one_by_one_present", |b| {
        b.iter(|| {
            for k in &f.present {
                black_box(f.index.get(k).unwrap());
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("format");
    g.throughput(Throughput::Elements(QUERIES as u64));
    let names = vec!["bench".to_string()];
    let mut sink = Vec::with_capacity(QUERIES * 64);
    for (name, format) in [
        ("text", OutputFormat::Text),
        ("csv", OutputFormat::Csv),
        ("jsonl", OutputFormat::Jsonl),
    ] {
        let writer = RecordWriter::new(format, kind, &names, false);
        g.bench_function(name, |b| {
            b.iter(|| {
                sink.clear();
                for (i, k) in f.present.iter().enumerate() {
                    let count = Some(1 + (i as u64 * 2_654_435_761) % 100_000);
                    let verdict = Verdict {
                        count,
                        index: 0,
                        found: true,
                    };
                    writer.write(&mut sink, &Query::hash(*k), verdict);
                }
                black_box(sink.len())
            })
        });
    }
    g.finish();

    // Every page of the index, as a dense check verifies them: through
    // `page_checksum` (AVX2 where the CPU has it) and through the crate.
    let mut g = c.benchmark_group("pages");
    let bytes = f.index.bytes();
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("page_checksum", |b| {
        b.iter(|| {
            let mut x = 0u64;
            for page in bytes.chunks_exact(4096) {
                x ^= pwdex::pagesum::page_checksum(black_box(page));
            }
            x
        })
    });
    g.bench_function("xxh3_64_crate", |b| {
        b.iter(|| {
            let mut x = 0u64;
            for page in bytes.chunks_exact(4096) {
                x ^= xxhash_rust::xxh3::xxh3_64(black_box(page));
            }
            x
        })
    });
    g.finish();

    let mut g = c.benchmark_group("batch");
    g.throughput(Throughput::Elements(2 * QUERIES as u64));
    let mut sink = Vec::with_capacity(f.query_text.len() * 2);
    g.bench_function("check_stream_all", |b| {
        b.iter(|| {
            sink.clear();
            check_stream(
                &f.index,
                &f.query_text[..],
                "bench".as_ref(),
                &mut sink,
                OutputMode::All,
                &mut |_| {},
            )
            .unwrap()
        })
    });
    g.finish();
}

criterion_group!(hot_paths, benches);
criterion_main!(hot_paths);
