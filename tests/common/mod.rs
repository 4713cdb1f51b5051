//! Test support: small deterministic corpora with a `BTreeMap` reference,
//! and helpers to run the `pwdex` binary in a temporary directory.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use pwdex::{HashKind, Key};

pub mod reseal;

/// A tiny deterministic PRNG (splitmix64), so tests need no extra crates.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn key(&mut self, kind: HashKind) -> Key {
        let hi = match kind {
            HashKind::Sha1 => self.next() >> 32,
            HashKind::Ntlm => 0,
        };
        Key::from_limbs(hi, self.next(), self.next())
    }

    /// Heavy-tailed count: P(count >= k) ~ k^-1.15.
    pub fn count(&mut self) -> u64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let u = u.max(1e-12);
        (u.powf(-1.0 / 1.15) as u64).clamp(1, 50_000_000)
    }
}

/// A corpus: hash → count, sorted.
pub type Corpus = BTreeMap<Key, u64>;

pub fn random_corpus(kind: HashKind, n: usize, seed: u64) -> Corpus {
    let mut rng = Rng(seed);
    let mut corpus = Corpus::new();
    while corpus.len() < n {
        let key = rng.key(kind);
        let count = rng.count();
        corpus.insert(key, count);
    }
    corpus
}

/// Dump text for a corpus.
pub fn dump_text(kind: HashKind, corpus: &Corpus, crlf: bool, lowercase: bool) -> String {
    let mut s = String::with_capacity(corpus.len() * (kind.hex_len() + 12));
    for (k, c) in corpus {
        let hex = k.to_hex(kind);
        s.push_str(&if lowercase {
            hex.to_ascii_lowercase()
        } else {
            hex
        });
        s.push(':');
        s.push_str(&c.to_string());
        s.push_str(if crlf { "\r\n" } else { "\n" });
    }
    s
}

/// Queries: about half present (picked from the corpus), half random.
pub fn queries(kind: HashKind, corpus: &Corpus, n: usize, seed: u64) -> Vec<Key> {
    let mut rng = Rng(seed);
    let keys: Vec<Key> = corpus.keys().copied().collect();
    (0..n)
        .map(|_| {
            if !keys.is_empty() && rng.next().is_multiple_of(2) {
                keys[(rng.next() % keys.len() as u64) as usize]
            } else {
                rng.key(kind)
            }
        })
        .collect()
}

/// The expected `check --all` output.
pub fn expected_all(kind: HashKind, corpus: &Corpus, queries: &[Key]) -> String {
    queries
        .iter()
        .map(|q| {
            format!(
                "{}:{}\n",
                q.to_hex(kind),
                corpus.get(q).copied().unwrap_or(0)
            )
        })
        .collect()
}

/// The expected default `check` output.
pub fn expected_found(kind: HashKind, corpus: &Corpus, queries: &[Key]) -> String {
    queries
        .iter()
        .filter_map(|q| corpus.get(q).map(|c| format!("{}:{}\n", q.to_hex(kind), c)))
        .collect()
}

pub fn query_text(kind: HashKind, queries: &[Key]) -> String {
    queries.iter().map(|q| q.to_hex(kind) + "\n").collect()
}

pub fn pwdex() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pwdex"))
}

/// Runs pwdex with `args`, feeding `stdin`.
pub fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = pwdex()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pwdex runs");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("pwdex finishes");
    writer.join().unwrap();
    out
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

pub fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// Asserts two texts are equal, showing the first differing line.
pub fn assert_same_text(expected: &str, actual: &str) {
    if expected != actual {
        let e: Vec<&str> = expected.lines().collect();
        let a: Vec<&str> = actual.lines().collect();
        let first = e
            .iter()
            .zip(a.iter())
            .position(|(x, y)| x != y)
            .unwrap_or(e.len().min(a.len()));
        panic!(
            "outputs differ at line {} (expected {} lines, got {}):\n  expected: {:?}\n  actual:   {:?}",
            first + 1,
            e.len(),
            a.len(),
            e.get(first),
            a.get(first)
        );
    }
}
