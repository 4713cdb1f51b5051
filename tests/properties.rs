//! Property tests: for random corpora, layouts and queries, building then
//! looking up equals a `BTreeMap` reference, for both hash kinds.

mod common;

use common::*;
use proptest::prelude::*;
use pwdex::build::{BuildOptions, build};
use pwdex::{HashKind, Index, Key};

fn kind_strategy() -> impl Strategy<Value = HashKind> {
    prop_oneof![Just(HashKind::Sha1), Just(HashKind::Ntlm)]
}

/// Keys that share a long prefix, so many land in one bucket.
fn clustered_corpus(kind: HashKind, n: usize, seed: u64) -> Corpus {
    let mut rng = Rng(seed);
    let base = rng.key(kind);
    let (hi, mid, _) = base.limbs();
    let mut corpus = Corpus::new();
    while corpus.len() < n {
        let key = Key::from_limbs(hi, mid & !0xFFFF | (rng.next() & 0xFF), rng.next());
        corpus.insert(key, rng.count());
    }
    corpus
}

fn check_against_reference(kind: HashKind, corpus: &Corpus, opts: &BuildOptions, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let dump = write(
        dir.path(),
        "d.txt",
        dump_text(kind, corpus, seed.is_multiple_of(2), seed.is_multiple_of(3)),
    );
    let path = dir.path().join("i.pwdex");
    build(&dump, &path, opts).unwrap();
    let index = Index::open(&path).unwrap();
    assert_eq!(index.len(), corpus.len() as u64);
    let expected_kind = opts.kind.unwrap_or(if corpus.is_empty() {
        HashKind::Sha1
    } else {
        kind
    });
    assert_eq!(index.kind(), expected_kind);
    // Every stored hash is found with its count: the filter never rules one out.
    for (k, c) in corpus {
        assert_eq!(index.get(k).unwrap(), Some(*c), "{}", k.to_hex(kind));
    }
    // Random queries (half present) agree with the reference.
    for q in queries(kind, corpus, 300, seed) {
        assert_eq!(index.get(&q).unwrap(), corpus.get(&q).copied());
    }
    // Neighbours of stored hashes (differ in the last bit) are not confused with them.
    for k in corpus.keys().take(50) {
        let (hi, mid, lo) = k.limbs();
        let near = Key::from_limbs(hi, mid, lo ^ 1);
        assert_eq!(index.get(&near).unwrap(), corpus.get(&near).copied());
    }
    // With the in-memory directory over the overflow counts and the
    // in-memory bucket table (both built for dense batches), batch lookups
    // still give every count exactly, and nothing for absent hashes.
    index.verify_all_pages().unwrap();
    index.index_overflow_counts().unwrap();
    index.index_buckets().unwrap();
    let mut keys: Vec<Key> = corpus.keys().copied().collect();
    keys.extend(queries(kind, corpus, 300, seed ^ 1));
    let mut counts = vec![None; keys.len()];
    index.get_many(&keys, &mut counts).unwrap();
    for (k, c) in keys.iter().zip(&counts) {
        assert_eq!(*c, corpus.get(k).copied(), "{}", k.to_hex(kind));
    }
    // A full scan returns exactly the corpus, in order.
    let scanned: Vec<(Key, u64)> = index.iter().map(|r| r.unwrap()).collect();
    let reference: Vec<(Key, u64)> = corpus.iter().map(|(k, c)| (*k, *c)).collect();
    assert_eq!(scanned, reference);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn build_then_lookup_equals_reference(
        kind in kind_strategy(),
        n in 0usize..3000,
        seed in any::<u64>(),
        fpp in prop_oneof![Just(0.01), Just(0.2), Just(0.0001)],
        bucket_bits in prop_oneof![Just(None), (0u32..=16).prop_map(Some)],
        hint in prop_oneof![Just(None), (0u64..10_000).prop_map(Some)],
        chunk in prop_oneof![Just(4usize << 20), 50usize..2000],
        force_sort in any::<bool>(),
    ) {
        let corpus = random_corpus(kind, n, seed);
        let opts = BuildOptions {
            kind: Some(kind),
            fpp,
            bucket_bits,
            records_hint: hint,
            chunk_bytes: chunk,
            force_sort,
            // A tiny budget: several sort runs even for small corpora.
            memory_bytes: if force_sort { 40_000 } else { 1 << 30 },
            ..BuildOptions::default()
        };
        check_against_reference(kind, &corpus, &opts, seed);
    }

    #[test]
    fn clustered_keys_in_few_buckets(kind in kind_strategy(), n in 1usize..500, seed in any::<u64>()) {
        let corpus = clustered_corpus(kind, n, seed);
        let opts = BuildOptions { kind: Some(kind), ..BuildOptions::default() };
        check_against_reference(kind, &corpus, &opts, seed);
    }
}

#[test]
fn single_record_and_extreme_counts() {
    for kind in [HashKind::Sha1, HashKind::Ntlm] {
        let mut corpus = Corpus::new();
        corpus.insert(kind.hash_plaintext(b"only"), u64::MAX);
        check_against_reference(kind, &corpus, &BuildOptions::default(), 1);
        let mut rng = Rng(3);
        let mut corpus = Corpus::new();
        for i in 0..200u64 {
            let count = match i % 4 {
                0 => 1,
                1 => u64::MAX - i,
                2 => 1 << (i % 64),
                _ => rng.next().max(1),
            };
            corpus.insert(rng.key(kind), count);
        }
        check_against_reference(kind, &corpus, &BuildOptions::default(), 2);
    }
}

#[test]
fn all_records_in_one_bucket_and_extreme_keys() {
    for kind in [HashKind::Sha1, HashKind::Ntlm] {
        let mut corpus = Corpus::new();
        let top = match kind {
            HashKind::Sha1 => u32::MAX as u64,
            HashKind::Ntlm => 0,
        };
        corpus.insert(Key::from_limbs(0, 0, 0), 5);
        corpus.insert(Key::from_limbs(top, u64::MAX, u64::MAX), 6);
        for i in 1..300u64 {
            corpus.insert(Key::from_limbs(0, 0, i * 7919), i);
        }
        check_against_reference(kind, &corpus, &BuildOptions::default(), 3);
        let opts = BuildOptions {
            bucket_bits: Some(0),
            ..BuildOptions::default()
        };
        check_against_reference(kind, &corpus, &opts, 4);
    }
}

/// An input of several blocks, read a little at a time, with malformed lines
/// and a line longer than a whole block in the middle: the records come out
/// in input order and every bad line is reported at its own line number.
#[test]
fn multi_block_input_keeps_order_and_line_numbers() {
    use pwdex::batch::{BLOCK_BYTES, Malformed, OutputMode, check_stream};
    let kind = HashKind::Sha1;
    let corpus = random_corpus(kind, 20_000, 7);
    let dir = tempfile::tempdir().unwrap();
    let dump = write(dir.path(), "d.txt", dump_text(kind, &corpus, true, false));
    let path = dir.path().join("i.pwdex");
    build(&dump, &path, &BuildOptions::default()).unwrap();
    let index = Index::open(&path).unwrap();

    // About 2.5 blocks of queries, then an over-long line, then more queries.
    let per_block = BLOCK_BYTES / (kind.hex_len() + 1);
    let qs = queries(kind, &corpus, per_block * 5 / 2, 11);
    let mut input = Vec::new();
    let mut expected_bad = Vec::new();
    let mut line = 0u64;
    let mut good = Vec::new();
    for (i, q) in qs.iter().enumerate() {
        line += 1;
        if i % 99_991 == 5 {
            input.extend_from_slice(b"not a hash\n");
            expected_bad.push(line);
            line += 1;
        }
        if i == qs.len() / 2 {
            input.extend(std::iter::repeat_n(b'A', BLOCK_BYTES + 100));
            input.push(b'\n');
            expected_bad.push(line);
            line += 1;
        }
        input.extend_from_slice(q.to_hex(kind).as_bytes());
        input.push(b'\n');
        good.push(*q);
    }

    /// Hands out at most 1 MiB per read, like a pipe.
    struct Trickle<'a>(&'a [u8]);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(1 << 20);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let mut out = Vec::new();
    let mut bad = Vec::new();
    let stats = check_stream(
        &index,
        Trickle(&input),
        std::path::Path::new("q.txt"),
        &mut out,
        OutputMode::All,
        &mut |m: &Malformed| bad.push(m.line),
    )
    .unwrap();
    assert_eq!(bad, expected_bad);
    assert_eq!(stats.malformed, expected_bad.len() as u64);
    assert_eq!(stats.checked, good.len() as u64);
    assert_eq!(stats.lines, line);
    assert_same_text(
        &expected_all(kind, &corpus, &good),
        std::str::from_utf8(&out).unwrap(),
    );
}

/// Count overflow entries bunched at both ends of the records (not spread
/// evenly, as the lookup's first guess assumes): every count still comes
/// back exact.
#[test]
fn bunched_overflow_counts_are_exact() {
    let kind = HashKind::Ntlm;
    let mut corpus = random_corpus(kind, 4000, 21);
    let n = corpus.len();
    for (i, count) in corpus.values_mut().enumerate() {
        *count = if i < 300 || i >= n - 200 || i % 397 == 0 {
            10_000_000 + i as u64
        } else {
            1 + (i as u64 % 3)
        };
    }
    let dir = tempfile::tempdir().unwrap();
    let dump = write(dir.path(), "d.txt", dump_text(kind, &corpus, false, false));
    let path = dir.path().join("i.pwdex");
    build(&dump, &path, &BuildOptions::default()).unwrap();
    let index = Index::open(&path).unwrap();
    let overflow = index.params().overflow_entries;
    assert!(overflow > 500, "only {overflow} overflow entries");
    for (k, c) in &corpus {
        assert_eq!(index.get(k).unwrap(), Some(*c), "{}", k.to_hex(kind));
    }
    // And through the in-memory directory a dense batch builds.
    index.index_overflow_counts().unwrap();
    for (k, c) in &corpus {
        assert_eq!(index.get(k).unwrap(), Some(*c), "{}", k.to_hex(kind));
    }
}
