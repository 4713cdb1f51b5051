//! `pwdex-synth`: a generator of realistic synthetic Have I Been Pwned
//! "Pwned Passwords" data for tests and benchmarks of pwdex.
//!
//! Three subcommands:
//!
//! * `corpus` writes a single-file dump (`HASH:COUNT` lines, SHA-1 or NTLM,
//!   sorted by hash, no duplicates, counts >= 1 with a heavy-tailed
//!   distribution, P(count >= k) ≈ k^-1.15), with a few well-known passwords
//!   planted at fixed large counts so that real lookups hit.
//! * `queries` reads a dump and writes a query file (one hash per line) mixing
//!   hashes present in the dump with random absent ones, plus optional files
//!   of the expected answers.
//! * `ranges` splits a dump into the per-prefix `XXXXX.txt` range files the
//!   official downloader writes, optionally padded like the range API's
//!   `Add-Padding: true`.
//!
//! Determinism: every output is a pure function of the command line (and, for
//! `queries` and `ranges`, of the input dump). All randomness comes from
//! hand-written SplitMix64 streams keyed by `--seed`, a per-purpose domain
//! constant and the hash kind. Parallel work only ever reads a stream at a
//! position computed from an item's index, never from scheduling, so the
//! bytes written do not depend on the number of threads. `queries` and
//! `ranges` depend on the records of the dump, not on its spelling (case,
//! line endings). The one platform dependency is
//! `f64::powf` (used for the count distribution), which comes from the
//! system's libm: two machines with different libm implementations could, in
//! rare cases, disagree on a count by one.
//!
//! The file is self-contained on purpose: it does not use the `pwdex` library.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use md4::Md4;
use rayon::prelude::*;
use sha1::{Digest, Sha1};

/// Errors are messages for the user; they already name the file and line.
type Result<T> = std::result::Result<T, String>;

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

#[derive(Parser)]
#[command(
    name = "pwdex-synth",
    about = "Deterministic generator of synthetic Pwned Passwords corpora, query sets and range files"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a sorted single-file dump of HASH:COUNT lines.
    Corpus(CorpusArgs),
    /// Write a query file (one hash per line) drawn from a dump.
    Queries(QueriesArgs),
    /// Split a single-file dump into per-prefix XXXXX.txt range files.
    Ranges(RangesArgs),
}

#[derive(Args)]
struct CorpusArgs {
    /// Hash kind.
    #[arg(long, value_enum)]
    kind: Kind,
    /// Exact number of lines to write.
    #[arg(long)]
    records: usize,
    /// PRNG seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write lower-case hex instead of upper-case.
    #[arg(long)]
    lowercase: bool,
    /// End lines with LF instead of CRLF.
    #[arg(long)]
    lf: bool,
    /// Omit the line ending after the last line.
    #[arg(long)]
    no_final_newline: bool,
    /// Do not plant the well-known passwords.
    #[arg(long)]
    no_plant: bool,
    /// Output file, `-` for standard output.
    #[arg(short = 'o', long = "output")]
    output: String,
}

#[derive(Args)]
struct QueriesArgs {
    /// The dump to draw from (`-` for standard input).
    #[arg(long)]
    corpus: String,
    /// Number of query lines.
    #[arg(long)]
    count: usize,
    /// Fraction of queries that are present in the dump (0 to 1).
    #[arg(long, default_value_t = 0.5)]
    present: f64,
    /// PRNG seed.
    #[arg(long, default_value_t = 2)]
    seed: u64,
    /// Write the query hashes in lower case.
    #[arg(long)]
    lowercase: bool,
    /// Output query file, `-` for standard output.
    #[arg(short = 'o', long = "output")]
    output: String,
    /// Also write `HASH:COUNT` for every query, in order (count 0 = absent).
    #[arg(long)]
    expected_all: Option<String>,
    /// Also write `HASH:COUNT` for the present queries only, in order.
    #[arg(long)]
    expected_found: Option<String>,
}

#[derive(Args)]
struct RangesArgs {
    /// The single-file dump to split (`-` for standard input).
    #[arg(long)]
    corpus: String,
    /// Directory for the XXXXX.txt files (created if missing).
    #[arg(long)]
    out_dir: PathBuf,
    /// Pad every file to 800..=1000 lines with count-0 random suffixes.
    #[arg(long)]
    padding: bool,
    /// PRNG seed (used by --padding only).
    #[arg(long, default_value_t = 3)]
    seed: u64,
}

// ---------------------------------------------------------------------------
// Hash kinds and records
// ---------------------------------------------------------------------------

/// The two hash kinds Pwned Passwords is published in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Kind {
    Sha1,
    Ntlm,
}

impl Kind {
    /// Length of the hash in bytes.
    fn bytes(self) -> usize {
        match self {
            Kind::Sha1 => 20,
            Kind::Ntlm => 16,
        }
    }

    /// The name used on the command line.
    fn name(self) -> &'static str {
        match self {
            Kind::Sha1 => "sha1",
            Kind::Ntlm => "ntlm",
        }
    }

    /// Length of the hash in hex digits.
    fn hex_len(self) -> usize {
        2 * self.bytes()
    }

    /// Hashes a password the way Pwned Passwords does: SHA-1 of the UTF-8
    /// bytes, or NTLM = MD4 of the UTF-16LE bytes.
    fn hash_password(self, password: &str) -> Hash {
        let mut hash = [0u8; 20];
        match self {
            Kind::Sha1 => hash.copy_from_slice(Sha1::digest(password.as_bytes()).as_slice()),
            Kind::Ntlm => {
                let utf16: Vec<u8> = password
                    .encode_utf16()
                    .flat_map(|unit| unit.to_le_bytes())
                    .collect();
                hash[..16].copy_from_slice(Md4::digest(&utf16).as_slice());
            }
        }
        hash
    }
}

/// A hash, big-endian as printed. NTLM hashes use the first 16 bytes and
/// leave the last 4 at zero, so comparing whole arrays orders both kinds.
type Hash = [u8; 20];

/// One dump line. 24 bytes, so 100 million records fit in 2.4 GB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Rec {
    hash: Hash,
    count: u32,
}

/// The hash as integers, for fast comparisons (same order as the bytes).
fn hash_key(hash: &Hash) -> (u128, u32) {
    let mut hi = [0u8; 16];
    let mut lo = [0u8; 4];
    hi.copy_from_slice(&hash[..16]);
    lo.copy_from_slice(&hash[16..]);
    (u128::from_be_bytes(hi), u32::from_be_bytes(lo))
}

/// Total order used when sorting generated records: by hash, then count.
fn sort_key(rec: &Rec) -> (u128, u32, u32) {
    let (hi, lo) = hash_key(&rec.hash);
    (hi, lo, rec.count)
}

/// The first 5 hex digits of a hash, as a number below 2^20.
fn prefix20(hash: &Hash) -> usize {
    (usize::from(hash[0]) << 12) | (usize::from(hash[1]) << 4) | (usize::from(hash[2]) >> 4)
}

/// Number of 5-hex-digit prefixes.
const PREFIXES: usize = 1 << 20;

// ---------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// Domains separate the streams used for different purposes.
const DOMAIN_CORPUS: u64 = 1;
const DOMAIN_TOPUP: u64 = 2;
const DOMAIN_QUERIES: u64 = 3;
const DOMAIN_SHUFFLE: u64 = 4;
const DOMAIN_PADDING: u64 = 5;
const DOMAIN_ABSENT: u64 = 6;

/// The domain of a stream: its purpose, the hash kind (so that SHA-1 and
/// NTLM data made with one seed are unrelated) and a retry round.
fn domain(purpose: u64, kind: Kind, round: u64) -> u64 {
    let kind_tag: u64 = match kind {
        Kind::Sha1 => 1,
        Kind::Ntlm => 2,
    };
    purpose | (kind_tag << 8) | (round << 16)
}

/// The SplitMix64 output function (a bijection on u64).
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A SplitMix64 stream with random access: `word(k)` is its k-th output.
/// Distinct positions give distinct words, since `mix64` is a bijection.
#[derive(Clone, Copy)]
struct Stream {
    key: u64,
}

impl Stream {
    fn new(seed: u64, domain: u64) -> Self {
        Stream {
            key: mix64(seed ^ mix64(domain.wrapping_mul(GOLDEN_GAMMA))),
        }
    }

    fn word(self, position: u64) -> u64 {
        mix64(self.key.wrapping_add(position.wrapping_mul(GOLDEN_GAMMA)))
    }

    /// A sequential generator for item `index`, for work whose number of
    /// draws is not fixed (rejection loops).
    fn rng_for(self, index: u64) -> SplitMix64 {
        SplitMix64 {
            state: self.word(index),
        }
    }
}

/// A sequential SplitMix64 generator.
struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix64(self.state)
    }

    /// A number in `0..n` (n > 0), by multiply-shift; the bias is below
    /// n / 2^64 and irrelevant here.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// Fills a hash of `kind` from three random words (the third only for SHA-1).
fn hash_from_words(kind: Kind, words: [u64; 3]) -> Hash {
    let mut hash = [0u8; 20];
    hash[..8].copy_from_slice(&words[0].to_be_bytes());
    hash[8..16].copy_from_slice(&words[1].to_be_bytes());
    if kind == Kind::Sha1 {
        hash[16..].copy_from_slice(&words[2].to_be_bytes()[..4]);
    }
    hash
}

fn random_hash(kind: Kind, rng: &mut SplitMix64) -> Hash {
    hash_from_words(kind, [rng.next_u64(), rng.next_u64(), rng.next_u64()])
}

/// Exponent of the count distribution: P(count >= k) = k^-ALPHA.
const COUNT_ALPHA: f64 = 1.15;
/// Largest generated count.
const COUNT_CAP: u32 = 50_000_000;

/// Maps a random word to a Pareto-like count: floor(u^(-1/ALPHA)) with u
/// uniform in (0, 1], capped at `COUNT_CAP`.
fn pareto_count(word: u64) -> u32 {
    let u = ((word >> 11) + 1) as f64 / (1u64 << 53) as f64;
    let count = u.powf(-1.0 / COUNT_ALPHA).floor();
    if count >= f64::from(COUNT_CAP) {
        COUNT_CAP
    } else {
        (count as u32).max(1)
    }
}

/// Record `index` of a stream: four consecutive words, three for the hash
/// and one for the count. Within one stream, hashes never repeat.
fn random_record(kind: Kind, stream: Stream, index: usize) -> Rec {
    let base = 4 * index as u64;
    let words = [
        stream.word(base),
        stream.word(base + 1),
        stream.word(base + 2),
    ];
    Rec {
        hash: hash_from_words(kind, words),
        count: pareto_count(stream.word(base + 3)),
    }
}

// ---------------------------------------------------------------------------
// Corpus generation
// ---------------------------------------------------------------------------

/// Well-known passwords planted in every corpus (unless `--no-plant`), in
/// planting order, with fixed illustrative counts of the right magnitude.
const PLANTED: &[(&str, u32)] = &[
    ("password", 10_434_004),
    ("123456", 37_359_195),
    ("P@ssw0rd", 123_573),
    ("qwerty", 3_946_737),
    ("letmein", 285_386),
    ("123456789", 16_629_796),
    ("iloveyou", 1_593_388),
    ("admin", 41_278),
    ("welcome", 598_432),
    ("monkey", 1_013_834),
    ("12345678", 2_938_534),
    ("abc123", 2_877_490),
    ("111111", 3_093_220),
    ("dragon", 1_178_720),
    ("football", 569_126),
    ("Password1", 2_413_945),
    ("pässwörd", 1_287),
];

/// The first `limit` planted records of `kind`.
fn planted_records(kind: Kind, limit: usize) -> Vec<Rec> {
    PLANTED
        .iter()
        .take(limit)
        .map(|&(password, count)| Rec {
            hash: kind.hash_password(password),
            count,
        })
        .collect()
}

/// Generates exactly `n` records of `kind`, sorted by hash, no duplicate
/// hashes. Uses one allocation of `n` records.
fn generate_corpus(kind: Kind, n: usize, seed: u64, plant: bool) -> Vec<Rec> {
    let planted = if plant {
        planted_records(kind, n)
    } else {
        Vec::new()
    };
    let stream = Stream::new(seed, domain(DOMAIN_CORPUS, kind, 0));
    let mut recs = Vec::with_capacity(n);
    recs.par_extend(
        (0..n - planted.len())
            .into_par_iter()
            .map(|i| random_record(kind, stream, i)),
    );
    recs.extend_from_slice(&planted);
    // Collisions are astronomically unlikely, but the output must still have
    // exactly n distinct hashes: drop duplicates and top up from new streams.
    let mut round = 0;
    loop {
        recs.par_sort_unstable_by_key(sort_key);
        dedup_keep_planted(&mut recs, &planted);
        let missing = n - recs.len();
        if missing == 0 {
            return recs;
        }
        round += 1;
        let stream = Stream::new(seed, domain(DOMAIN_TOPUP, kind, round));
        recs.par_extend(
            (0..missing)
                .into_par_iter()
                .map(|i| random_record(kind, stream, i)),
        );
    }
}

/// Removes records whose hash equals the previous one (`recs` is sorted).
/// A planted hash keeps its planted count.
fn dedup_keep_planted(recs: &mut Vec<Rec>, planted: &[Rec]) {
    recs.dedup_by(|current, kept| {
        if current.hash != kept.hash {
            return false;
        }
        if let Some(p) = planted.iter().find(|p| p.hash == kept.hash) {
            kept.count = p.count;
        }
        true
    });
}

// ---------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// Writes `2 * bytes.len()` hex digits of `bytes` into `out`.
fn encode_hex(bytes: &[u8], lowercase: bool, out: &mut [u8]) {
    let digits = if lowercase { HEX_LOWER } else { HEX_UPPER };
    for (pair, &byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = digits[usize::from(byte >> 4)];
        pair[1] = digits[usize::from(byte & 0x0F)];
    }
}

/// Appends the hex of the hash of `kind` to `buf`, skipping the first `skip`
/// digits (5 for a range-file suffix).
fn push_hex(buf: &mut Vec<u8>, hash: &Hash, kind: Kind, lowercase: bool, skip: usize) {
    let mut hex = [0u8; 40];
    encode_hex(&hash[..kind.bytes()], lowercase, &mut hex);
    buf.extend_from_slice(&hex[skip..kind.hex_len()]);
}

/// Appends `n` in decimal.
fn push_decimal(buf: &mut Vec<u8>, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[start..]);
}

/// How a dump's lines are spelled.
#[derive(Clone, Copy)]
struct Style {
    kind: Kind,
    lowercase: bool,
    crlf: bool,
}

impl Style {
    fn eol(self) -> &'static [u8] {
        if self.crlf { b"\r\n" } else { b"\n" }
    }

    /// Appends `HASH:COUNT` and the line ending.
    fn push_record(self, buf: &mut Vec<u8>, rec: &Rec) {
        push_hex(buf, &rec.hash, self.kind, self.lowercase, 0);
        buf.push(b':');
        push_decimal(buf, rec.count);
        buf.extend_from_slice(self.eol());
    }
}

/// Records formatted by one parallel job.
const FORMAT_CHUNK: usize = 1 << 16;
/// Records formatted between two writes (bounds the text held in memory).
const FORMAT_BATCH: usize = 32 * FORMAT_CHUNK;

/// Formats `items` in parallel with `line` (which may write nothing for an
/// item) and writes the text in order. `trim_tail` bytes are dropped from
/// the very end (used to omit the final line ending). Returns bytes written.
fn write_lines<T, F>(out: &mut dyn Write, items: &[T], trim_tail: usize, line: F) -> io::Result<u64>
where
    T: Sync,
    F: Fn(&mut Vec<u8>, &T) + Sync,
{
    let mut written = 0u64;
    let batches = items.len().div_ceil(FORMAT_BATCH);
    for (b, batch) in items.chunks(FORMAT_BATCH).enumerate() {
        let mut bufs: Vec<Vec<u8>> = batch
            .par_chunks(FORMAT_CHUNK)
            .map(|chunk| {
                let mut buf = Vec::with_capacity(chunk.len() * 52);
                chunk.iter().for_each(|item| line(&mut buf, item));
                buf
            })
            .collect();
        if b + 1 == batches
            && let Some(last) = bufs.iter_mut().rev().find(|buf| !buf.is_empty())
        {
            last.truncate(last.len().saturating_sub(trim_tail));
        }
        for buf in &bufs {
            out.write_all(buf)?;
            written += buf.len() as u64;
        }
    }
    Ok(written)
}

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

/// An output file or standard output, buffered, that remembers its name.
struct Output {
    name: String,
    writer: BufWriter<Box<dyn Write>>,
}

impl Output {
    fn create(name: &str) -> Result<Self> {
        let inner: Box<dyn Write> = if name == "-" {
            Box::new(io::stdout().lock())
        } else {
            Box::new(File::create(name).map_err(|e| format!("{name}: cannot create: {e}"))?)
        };
        Ok(Output {
            name: name.to_string(),
            writer: BufWriter::with_capacity(1 << 20, inner),
        })
    }

    fn write_lines<T, F>(&mut self, items: &[T], trim_tail: usize, line: F) -> Result<u64>
    where
        T: Sync,
        F: Fn(&mut Vec<u8>, &T) + Sync,
    {
        write_lines(&mut self.writer, items, trim_tail, line)
            .and_then(|n| self.writer.flush().map(|()| n))
            .map_err(|e| format!("{}: write error: {e}", self.name))
    }
}

/// Opens an input file (or standard input for `-`) and its size, if known.
fn open_input(name: &str) -> Result<(Box<dyn Read>, u64)> {
    if name == "-" {
        return Ok((Box::new(io::stdin().lock()), 0));
    }
    let file = File::open(name).map_err(|e| format!("{name}: cannot open: {e}"))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((Box::new(file), size))
}

// ---------------------------------------------------------------------------
// Parsing a dump
// ---------------------------------------------------------------------------

/// A dump held in memory: records sorted by hash, with an index of where
/// each 5-hex-digit prefix starts.
struct Corpus {
    kind: Kind,
    recs: Vec<Rec>,
    /// `starts[p]..starts[p + 1]` are the records with prefix `p`.
    starts: Vec<usize>,
}

impl Corpus {
    /// `recs` must be sorted by hash without duplicates.
    fn new(kind: Kind, recs: Vec<Rec>) -> Self {
        let mut starts = vec![0usize; PREFIXES + 1];
        for rec in &recs {
            starts[prefix20(&rec.hash) + 1] += 1;
        }
        for p in 0..PREFIXES {
            starts[p + 1] += starts[p];
        }
        Corpus { kind, recs, starts }
    }

    /// The records whose hash starts with the 5 hex digits `prefix`.
    fn range(&self, prefix: usize) -> &[Rec] {
        &self.recs[self.starts[prefix]..self.starts[prefix + 1]]
    }

    /// The count of `hash`, if present.
    #[cfg(test)]
    fn lookup(&self, hash: &Hash) -> Option<u32> {
        let range = self.range(prefix20(hash));
        let key = hash_key(hash);
        range
            .binary_search_by_key(&key, |r| hash_key(&r.hash))
            .ok()
            .map(|i| range[i].count)
    }
}

/// Reads a dump file (`-` = standard input).
fn read_corpus(name: &str) -> Result<Corpus> {
    let (reader, size) = open_input(name)?;
    parse_corpus(reader, name, size)
}

/// Bytes of whole lines parsed at a time.
const PARSE_BLOCK: usize = 64 << 20;
/// Bytes of a block parsed by one parallel job.
const PARSE_PIECE: usize = 1 << 20;

/// Parses a dump: `HASH:COUNT` lines, SHA-1 or NTLM, any case, CRLF or LF,
/// with or without a final line ending. An unsorted dump (such as an
/// ordered-by-count release) is sorted. Errors name `name` and the line.
///
/// The input is read in blocks of whole lines, each parsed in parallel, so
/// memory holds one block of text besides the records.
fn parse_corpus(reader: impl Read, name: &str, size_hint: u64) -> Result<Corpus> {
    parse_corpus_in_blocks(reader, name, size_hint, PARSE_BLOCK)
}

/// `parse_corpus` with blocks of about `block_size` bytes.
fn parse_corpus_in_blocks(
    mut reader: impl Read,
    name: &str,
    size_hint: u64,
    block_size: usize,
) -> Result<Corpus> {
    let mut kind = None;
    let mut recs: Vec<Rec> = Vec::new();
    let mut block = Vec::with_capacity(block_size);
    loop {
        let wanted = block_size.saturating_sub(block.len()).max(1 << 16) as u64;
        let read = reader
            .by_ref()
            .take(wanted)
            .read_to_end(&mut block)
            .map_err(|e| format!("{name}: read error: {e}"))?;
        let eof = read == 0;
        // Parse up to the last line ending; at the end of input, everything.
        let end = if eof {
            block.len()
        } else {
            block.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
        };
        if end == 0 && block.len() >= block_size {
            let line_no = recs.len() + 1;
            return Err(format!(
                "{name}:{line_no}: line longer than {block_size} bytes"
            ));
        }
        if kind.is_none() && end > 0 {
            let first = block[..end]
                .split(|&b| b == b'\n')
                .next()
                .unwrap_or_default();
            parse_line(trim_eol(first), &mut kind)
                .map_err(|msg| line_error(name, 1, first, &msg))?;
            if let Some(k) = kind {
                let shortest_line = k.hex_len() as u64 + 3;
                recs.reserve(usize::try_from(size_hint / shortest_line).unwrap_or(0));
            }
        }
        if let Some(k) = kind {
            parse_block(&block[..end], k, &mut recs, name)?;
        }
        block.drain(..end);
        if eof {
            break;
        }
    }
    let kind = kind.ok_or_else(|| format!("{name}: the corpus is empty"))?;
    sort_and_check(&mut recs, kind, name)?;
    Ok(Corpus::new(kind, recs))
}

/// Parses a block of whole lines in parallel and appends the records.
/// Record `i` of the dump is always line `i + 1`.
fn parse_block(block: &[u8], kind: Kind, recs: &mut Vec<Rec>, name: &str) -> Result<()> {
    let results: Vec<_> = split_pieces(block)
        .par_iter()
        .map(|piece| parse_piece(piece, kind))
        .collect();
    for result in results {
        match result {
            Ok(piece) => recs.extend_from_slice(&piece),
            Err((index, line, msg)) => {
                return Err(line_error(
                    name,
                    (recs.len() + index + 1) as u64,
                    line,
                    &msg,
                ));
            }
        }
    }
    Ok(())
}

/// Cuts a block of whole lines into pieces of about `PARSE_PIECE` bytes,
/// each made of whole lines.
fn split_pieces(block: &[u8]) -> Vec<&[u8]> {
    let mut pieces = Vec::with_capacity(block.len() / PARSE_PIECE + 1);
    let mut rest = block;
    while rest.len() > PARSE_PIECE {
        let end = rest[PARSE_PIECE..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| PARSE_PIECE + i + 1);
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        rest = tail;
    }
    if !rest.is_empty() {
        pieces.push(rest);
    }
    pieces
}

/// A bad line: its index in the piece, its text and what is wrong.
type PieceError<'a> = (usize, &'a [u8], String);

/// Parses the lines of one piece.
fn parse_piece(piece: &[u8], kind: Kind) -> std::result::Result<Vec<Rec>, PieceError<'_>> {
    let mut recs = Vec::with_capacity(piece.len() / (kind.hex_len() + 3));
    let mut kind = Some(kind);
    for (index, line) in piece.split_inclusive(|&b| b == b'\n').enumerate() {
        let line = trim_eol(line);
        recs.push(parse_line(line, &mut kind).map_err(|msg| (index, line, msg))?);
    }
    Ok(recs)
}

/// Formats an error about line `line_no` of `name`, quoting its start.
fn line_error(name: &str, line_no: u64, line: &[u8], msg: &str) -> String {
    let shown = String::from_utf8_lossy(&line[..line.len().min(80)]);
    format!("{name}:{line_no}: {msg}: {shown:?}")
}

/// Checks that the records are sorted without duplicate hashes, sorting them
/// if they are not (a dump ordered by count).
fn sort_and_check(recs: &mut [Rec], kind: Kind, name: &str) -> Result<()> {
    let first_bad = |recs: &[Rec]| {
        recs.par_windows(2)
            .position_first(|w| hash_key(&w[0].hash) >= hash_key(&w[1].hash))
    };
    let Some(i) = first_bad(recs) else {
        return Ok(());
    };
    if recs[i].hash == recs[i + 1].hash {
        // Still in file order: record i + 1 is line i + 2.
        return Err(format!("{name}:{}: duplicate hash", i + 2));
    }
    recs.par_sort_unstable_by_key(|r| hash_key(&r.hash));
    match first_bad(recs) {
        None => Ok(()),
        Some(i) => {
            let mut hex = Vec::new();
            push_hex(&mut hex, &recs[i].hash, kind, false, 0);
            Err(format!(
                "{name}: duplicate hash {}",
                String::from_utf8_lossy(&hex)
            ))
        }
    }
}

/// Strips a trailing LF or CRLF.
fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Parses one `HASH:COUNT` line. `kind` is set by the first line and every
/// later line must agree with it.
fn parse_line(line: &[u8], kind: &mut Option<Kind>) -> std::result::Result<Rec, String> {
    // Fast path: the colon where the kind of the earlier lines puts it.
    let colon = match *kind {
        Some(k) if line.get(k.hex_len()) == Some(&b':') => k.hex_len(),
        _ => line
            .iter()
            .position(|&b| b == b':')
            .ok_or("expected HASH:COUNT, found no ':'")?,
    };
    let (hex, count) = (&line[..colon], &line[colon + 1..]);
    let line_kind = match hex.len() {
        40 => Kind::Sha1,
        32 => Kind::Ntlm,
        len => {
            return Err(format!(
                "hash has {len} characters, expected 40 (SHA-1) or 32 (NTLM)"
            ));
        }
    };
    match *kind {
        None => *kind = Some(line_kind),
        Some(k) if k != line_kind => {
            return Err(format!(
                "hash has {} characters but earlier lines have {}",
                hex.len(),
                k.hex_len()
            ));
        }
        Some(_) => {}
    }
    let hash = decode_hex(hex).ok_or("hash is not hexadecimal")?;
    let count = parse_count(count)?;
    Ok(Rec { hash, count })
}

/// Value of each byte as a hex digit (either case); 0xFF if it is not one.
const HEX_DECODE: [u8; 256] = {
    let mut table = [0xFF; 256];
    let mut i = 0;
    while i < 16 {
        table[HEX_UPPER[i] as usize] = i as u8;
        table[HEX_LOWER[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Decodes 32 or 40 hex digits (either case) into a hash. Branch-free over
/// the digits: random hex defeats branch prediction.
fn decode_hex(hex: &[u8]) -> Option<Hash> {
    let mut hash = [0u8; 20];
    let mut invalid = 0u8;
    for (byte, pair) in hash.iter_mut().zip(hex.chunks_exact(2)) {
        let high = HEX_DECODE[usize::from(pair[0])];
        let low = HEX_DECODE[usize::from(pair[1])];
        invalid |= high | low;
        *byte = (high << 4) | (low & 0x0F);
    }
    (invalid < 16).then_some(hash)
}

/// Parses a decimal count of at least 1 that fits in 32 bits.
fn parse_count(text: &[u8]) -> std::result::Result<u32, String> {
    if text.is_empty() {
        return Err("count is missing".into());
    }
    let mut count = 0u32;
    for &digit in text {
        if !digit.is_ascii_digit() {
            return Err("count is not a decimal number".into());
        }
        count = count
            .checked_mul(10)
            .and_then(|c| c.checked_add(u32::from(digit - b'0')))
            .ok_or("count does not fit in 32 bits")?;
    }
    if count == 0 {
        return Err("count is 0; a single-file dump has counts of at least 1".into());
    }
    Ok(count)
}

// ---------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------

/// Draws `total` queries: `present` records picked uniformly (with
/// replacement) from the corpus and `total - present` random hashes absent
/// from it (count 0), shuffled together.
fn generate_queries(corpus: &Corpus, total: usize, present: usize, seed: u64) -> Vec<Rec> {
    let stream = Stream::new(seed, DOMAIN_QUERIES);
    let mut queries = Vec::with_capacity(total);
    queries.par_extend((0..present).into_par_iter().map(|i| {
        let mut rng = stream.rng_for(i as u64);
        corpus.recs[rng.below(corpus.recs.len())]
    }));
    queries.append(&mut absent_records(corpus, total - present, seed));
    shuffle(
        &mut queries,
        &mut Stream::new(seed, DOMAIN_SHUFFLE).rng_for(0),
    );
    queries
}

/// `count` random hashes of the corpus's kind that are not in it, sorted.
/// Candidates are drawn, sorted and checked against the corpus in one merge
/// pass (much faster than a lookup each); the rare hits are redrawn.
fn absent_records(corpus: &Corpus, count: usize, seed: u64) -> Vec<Rec> {
    let mut absent: Vec<Rec> = Vec::with_capacity(count);
    let mut round = 0u64;
    while absent.len() < count {
        let stream = Stream::new(seed, domain(DOMAIN_ABSENT, corpus.kind, round));
        absent.par_extend((0..count - absent.len()).into_par_iter().map(|i| Rec {
            hash: random_hash(corpus.kind, &mut stream.rng_for(i as u64)),
            count: 0,
        }));
        absent.par_sort_unstable_by_key(|r| hash_key(&r.hash));
        remove_present(&mut absent, &corpus.recs);
        round += 1;
    }
    absent
}

/// Removes from `candidates` every hash that is in `recs` (both sorted).
fn remove_present(candidates: &mut Vec<Rec>, recs: &[Rec]) {
    let mut j = 0;
    candidates.retain(|c| {
        let key = hash_key(&c.hash);
        while j < recs.len() && hash_key(&recs[j].hash) < key {
            j += 1;
        }
        j == recs.len() || recs[j].hash != c.hash
    });
}

/// Fisher-Yates shuffle.
fn shuffle<T>(items: &mut [T], rng: &mut SplitMix64) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i + 1));
    }
}

/// Number of present queries: round(total * fraction).
fn present_count(total: usize, fraction: f64) -> Result<usize> {
    if !(0.0..=1.0).contains(&fraction) {
        return Err(format!("--present must be between 0 and 1, got {fraction}"));
    }
    Ok(((total as f64 * fraction).round() as usize).min(total))
}

/// Appends `HASH:COUNT` LF, upper case.
fn push_expected(buf: &mut Vec<u8>, rec: &Rec, kind: Kind) {
    push_hex(buf, &rec.hash, kind, false, 0);
    buf.push(b':');
    push_decimal(buf, rec.count);
    buf.push(b'\n');
}

// ---------------------------------------------------------------------------
// Range files
// ---------------------------------------------------------------------------

/// Smallest and largest line count of a padded range file.
const PAD_MIN: usize = 800;
const PAD_MAX: usize = 1000;

/// The body of range file `prefix`: `SUFFIX:COUNT` CRLF lines, upper case,
/// sorted, with count-0 padding lines merged in when `pad` is given.
fn range_body(kind: Kind, prefix: usize, real: &[Rec], pad: Option<Stream>) -> Vec<u8> {
    let padding = match pad {
        Some(stream) => padding_records(kind, prefix, real, &mut stream.rng_for(prefix as u64)),
        None => Vec::new(),
    };
    let mut body = Vec::with_capacity((real.len() + padding.len()) * 48);
    let mut push = |rec: &Rec| {
        push_hex(&mut body, &rec.hash, kind, false, 5);
        body.push(b':');
        push_decimal(&mut body, rec.count);
        body.extend_from_slice(b"\r\n");
    };
    let (mut i, mut j) = (0, 0);
    while i < real.len() || j < padding.len() {
        let take_real = j == padding.len()
            || (i < real.len() && hash_key(&real[i].hash) < hash_key(&padding[j].hash));
        if take_real {
            push(&real[i]);
            i += 1;
        } else {
            push(&padding[j]);
            j += 1;
        }
    }
    body
}

/// Random count-0 records with the given prefix, absent from `real` and
/// distinct, sorted, enough to bring the file to a random size in
/// `PAD_MIN..=PAD_MAX` lines (none if it already has that many).
fn padding_records(kind: Kind, prefix: usize, real: &[Rec], rng: &mut SplitMix64) -> Vec<Rec> {
    let target = PAD_MIN + rng.below(PAD_MAX - PAD_MIN + 1);
    let needed = target.saturating_sub(real.len());
    let mut pads = Vec::with_capacity(needed);
    while pads.len() < needed {
        while pads.len() < needed {
            let hash = with_prefix(random_hash(kind, rng), prefix);
            let key = hash_key(&hash);
            if real
                .binary_search_by_key(&key, |r| hash_key(&r.hash))
                .is_err()
            {
                pads.push(Rec { hash, count: 0 });
            }
        }
        pads.sort_unstable_by_key(|r| hash_key(&r.hash));
        pads.dedup_by_key(|r| r.hash);
    }
    pads
}

/// Replaces the first 5 hex digits of `hash` with `prefix`.
fn with_prefix(mut hash: Hash, prefix: usize) -> Hash {
    hash[0] = (prefix >> 12) as u8;
    hash[1] = (prefix >> 4) as u8;
    hash[2] = ((prefix as u8 & 0x0F) << 4) | (hash[2] & 0x0F);
    hash
}

/// Writes one file per prefix present in the corpus. Returns (files, lines).
fn write_ranges(corpus: &Corpus, dir: &Path, pad: Option<Stream>) -> Result<(usize, u64)> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    (0..PREFIXES)
        .into_par_iter()
        .filter(|&p| !corpus.range(p).is_empty())
        .map(|p| {
            let body = range_body(corpus.kind, p, corpus.range(p), pad);
            let path = dir.join(format!("{p:05X}.txt"));
            fs::write(&path, &body).map_err(|e| format!("{}: write error: {e}", path.display()))?;
            Ok((1, body.iter().filter(|&&b| b == b'\n').count() as u64))
        })
        .try_reduce(|| (0, 0), |a, b| Ok((a.0 + b.0, a.1 + b.1)))
}

// ---------------------------------------------------------------------------
// Subcommands
// ---------------------------------------------------------------------------

fn run_corpus(args: &CorpusArgs) -> Result<()> {
    let start = Instant::now();
    let recs = generate_corpus(args.kind, args.records, args.seed, !args.no_plant);
    let style = Style {
        kind: args.kind,
        lowercase: args.lowercase,
        crlf: !args.lf,
    };
    let trim = if args.no_final_newline {
        style.eol().len()
    } else {
        0
    };
    let mut out = Output::create(&args.output)?;
    let bytes = out.write_lines(&recs, trim, |buf, rec| style.push_record(buf, rec))?;
    eprintln!(
        "pwdex-synth corpus: {} {} records, {bytes} bytes, {:.2} s -> {}",
        recs.len(),
        args.kind.name(),
        start.elapsed().as_secs_f64(),
        args.output
    );
    Ok(())
}

fn run_queries(args: &QueriesArgs) -> Result<()> {
    let start = Instant::now();
    let present = present_count(args.count, args.present)?;
    let corpus = read_corpus(&args.corpus)?;
    let read_secs = start.elapsed().as_secs_f64();
    let queries = generate_queries(&corpus, args.count, present, args.seed);
    let kind = corpus.kind;
    let lowercase = args.lowercase;
    Output::create(&args.output)?.write_lines(&queries, 0, |buf, q| {
        push_hex(buf, &q.hash, kind, lowercase, 0);
        buf.push(b'\n');
    })?;
    if let Some(path) = &args.expected_all {
        Output::create(path)?.write_lines(&queries, 0, |buf, q| push_expected(buf, q, kind))?;
    }
    if let Some(path) = &args.expected_found {
        Output::create(path)?.write_lines(&queries, 0, |buf, q| {
            if q.count > 0 {
                push_expected(buf, q, kind);
            }
        })?;
    }
    eprintln!(
        "pwdex-synth queries: {} {} queries ({present} present) from {} records, \
         {:.2} s (corpus read {read_secs:.2} s) -> {}",
        queries.len(),
        kind.name(),
        corpus.recs.len(),
        start.elapsed().as_secs_f64(),
        args.output
    );
    Ok(())
}

fn run_ranges(args: &RangesArgs) -> Result<()> {
    let start = Instant::now();
    let corpus = read_corpus(&args.corpus)?;
    let pad = args
        .padding
        .then(|| Stream::new(args.seed, domain(DOMAIN_PADDING, corpus.kind, 0)));
    let (files, lines) = write_ranges(&corpus, &args.out_dir, pad)?;
    eprintln!(
        "pwdex-synth ranges: {files} files, {lines} lines from {} records, {:.2} s -> {}",
        corpus.recs.len(),
        start.elapsed().as_secs_f64(),
        args.out_dir.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Corpus(args) => run_corpus(args),
        Command::Queries(args) => run_queries(args),
        Command::Ranges(args) => run_ranges(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("pwdex-synth: {message}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn hex_of(hash: &Hash, kind: Kind) -> String {
        let mut buf = Vec::new();
        push_hex(&mut buf, hash, kind, false, 0);
        String::from_utf8(buf).unwrap()
    }

    fn format_corpus(recs: &[Rec], style: Style, trim: usize) -> Vec<u8> {
        let mut out = Vec::new();
        write_lines(&mut out, recs, trim, |buf, rec| style.push_record(buf, rec)).unwrap();
        out
    }

    fn parse(text: &[u8]) -> Result<Corpus> {
        parse_corpus(Cursor::new(text), "test.txt", text.len() as u64)
    }

    fn assert_valid(recs: &[Rec], n: usize) {
        assert_eq!(recs.len(), n);
        assert!(
            recs.windows(2)
                .all(|w| hash_key(&w[0].hash) < hash_key(&w[1].hash))
        );
        assert!(recs.iter().all(|r| (1..=COUNT_CAP).contains(&r.count)));
    }

    #[test]
    fn record_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Rec>(), 24);
    }

    #[test]
    fn sha1_matches_vectors() {
        let cases = [
            ("", "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"),
            ("password", "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8"),
            ("P@ssw0rd", "21BD12DC183F740EE76F27B78EB39C8AD972A757"),
            // Not from FORMATS.md: computed with Python's hashlib.
            ("pässwörd", "F517DDF1D32A112FF1AD55C66D1B12CB38E7E8F7"),
        ];
        for (password, expected) in cases {
            assert_eq!(
                hex_of(&Kind::Sha1.hash_password(password), Kind::Sha1),
                expected
            );
        }
    }

    #[test]
    fn ntlm_matches_vectors() {
        let cases = [
            ("", "31D6CFE0D16AE931B73C59D7E0C089C0"),
            ("password", "8846F7EAEE8FB117AD06BDD830B7586C"),
            ("P@ssw0rd", "E19CCF75EE54E06B06A5907AF13CEF42"),
            // Not from FORMATS.md: computed with a reference MD4 in Python
            // (checked against the three vectors above) over UTF-16LE.
            ("pässwörd", "0553152250AC01ADB4213CB9938663E4"),
        ];
        for (password, expected) in cases {
            let hash = Kind::Ntlm.hash_password(password);
            assert_eq!(hex_of(&hash, Kind::Ntlm), expected);
            assert_eq!(hash[16..], [0; 4]);
        }
    }

    #[test]
    fn planted_list_is_valid() {
        let required = [
            "password",
            "123456",
            "P@ssw0rd",
            "qwerty",
            "letmein",
            "123456789",
            "iloveyou",
            "admin",
            "welcome",
            "monkey",
        ];
        for (i, name) in required.iter().enumerate() {
            assert_eq!(PLANTED[i].0, *name);
        }
        for kind in [Kind::Sha1, Kind::Ntlm] {
            let mut planted = planted_records(kind, usize::MAX);
            assert!(planted.iter().all(|r| (1..=COUNT_CAP).contains(&r.count)));
            planted.sort_unstable_by_key(sort_key);
            planted.dedup_by_key(|r| r.hash);
            assert_eq!(planted.len(), PLANTED.len());
        }
    }

    #[test]
    fn corpus_is_sorted_unique_and_planted() {
        for kind in [Kind::Sha1, Kind::Ntlm] {
            let recs = generate_corpus(kind, 5000, 1, true);
            assert_valid(&recs, 5000);
            for planted in planted_records(kind, usize::MAX) {
                assert!(recs.contains(&planted));
            }
            let unplanted = generate_corpus(kind, 5000, 1, false);
            assert_valid(&unplanted, 5000);
            let password = kind.hash_password("password");
            assert!(unplanted.iter().all(|r| r.hash != password));
        }
    }

    #[test]
    fn small_corpus_plants_only_the_first_records() {
        let recs = generate_corpus(Kind::Sha1, 3, 7, true);
        let mut expected = planted_records(Kind::Sha1, 3);
        expected.sort_unstable_by_key(sort_key);
        assert_eq!(recs, expected);
        assert!(generate_corpus(Kind::Ntlm, 0, 7, true).is_empty());
    }

    #[test]
    fn dedup_keeps_planted_count() {
        let hash = Kind::Sha1.hash_password("password");
        let planted = [Rec { hash, count: 10 }];
        let mut recs = vec![Rec { hash, count: 3 }, Rec { hash, count: 10 }];
        dedup_keep_planted(&mut recs, &planted);
        assert_eq!(recs, planted);
    }

    #[test]
    fn output_does_not_depend_on_thread_count() {
        let style = Style {
            kind: Kind::Sha1,
            lowercase: false,
            crlf: true,
        };
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let recs = generate_corpus(Kind::Sha1, 300_000, 9, true);
                let text = format_corpus(&recs, style, 0);
                let corpus = Corpus::new(Kind::Sha1, recs);
                (text, generate_queries(&corpus, 100_000, 50_000, 4))
            })
        };
        assert!(run(1) == run(3));
    }

    #[test]
    fn seeds_and_kinds_change_the_output() {
        let a = generate_corpus(Kind::Sha1, 100, 1, false);
        let b = generate_corpus(Kind::Sha1, 100, 2, false);
        assert_ne!(a, b);
        // An NTLM corpus is not the SHA-1 one truncated.
        let ntlm = generate_corpus(Kind::Ntlm, 100, 1, false);
        assert!(
            ntlm.iter()
                .all(|n| a.iter().all(|s| s.hash[..16] != n.hash[..16]))
        );
    }

    #[test]
    fn counts_are_heavy_tailed() {
        let stream = Stream::new(5, domain(DOMAIN_CORPUS, Kind::Sha1, 0));
        let n = 1_000_000;
        let counts: Vec<u32> = (0..n).map(|i| pareto_count(stream.word(i))).collect();
        let at_least = |k: u32| counts.iter().filter(|&&c| c >= k).count() as f64 / n as f64;
        for k in [2u32, 10, 100] {
            let expected = f64::from(k).powf(-COUNT_ALPHA);
            assert!((at_least(k) / expected - 1.0).abs() < 0.05, "k={k}");
        }
        assert_eq!(pareto_count(u64::MAX), 1);
        assert_eq!(pareto_count(0), COUNT_CAP);
    }

    #[test]
    fn formats_parse_back_in_every_style() {
        for kind in [Kind::Sha1, Kind::Ntlm] {
            let recs = generate_corpus(kind, 1000, 3, true);
            for lowercase in [false, true] {
                for crlf in [false, true] {
                    let style = Style {
                        kind,
                        lowercase,
                        crlf,
                    };
                    for trim in [0, style.eol().len()] {
                        let text = format_corpus(&recs, style, trim);
                        assert_eq!(text.ends_with(b"\n"), trim == 0);
                        let corpus = parse(&text).unwrap();
                        assert_eq!(corpus.kind, kind);
                        assert_eq!(corpus.recs, recs);
                    }
                }
            }
        }
    }

    #[test]
    fn line_format_is_exact() {
        let rec = Rec {
            hash: Kind::Sha1.hash_password("password"),
            count: 10_434_004,
        };
        let style = |lowercase, crlf| Style {
            kind: Kind::Sha1,
            lowercase,
            crlf,
        };
        assert_eq!(
            format_corpus(&[rec], style(false, true), 0),
            b"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:10434004\r\n"
        );
        assert_eq!(
            format_corpus(&[rec], style(true, false), 1),
            b"5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8:10434004"
        );
    }

    #[test]
    fn unsorted_input_is_sorted() {
        let text = b"8846F7EAEE8FB117AD06BDD830B7586C:5\n31D6CFE0D16AE931B73C59D7E0C089C0:7\n";
        let corpus = parse(text).unwrap();
        assert_eq!(corpus.kind, Kind::Ntlm);
        assert_eq!(corpus.recs[0].count, 7);
        assert_eq!(
            corpus.lookup(&Kind::Ntlm.hash_password("password")),
            Some(5)
        );
    }

    #[test]
    fn bad_lines_are_reported_with_file_and_line() {
        let good = "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:1\r\n";
        let cases = [
            ("no colon here", "no ':'"),
            ("5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD:1", "39 characters"),
            (
                "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FDX:1",
                "not hexadecimal",
            ),
            ("5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD9:", "missing"),
            ("5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD9:0", "count is 0"),
            (
                "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD9:1,234",
                "not a decimal",
            ),
            (
                "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD9:99999999999",
                "32 bits",
            ),
            (
                "8846F7EAEE8FB117AD06BDD830B7586C:1",
                "earlier lines have 40",
            ),
            ("5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:2", "duplicate"),
            ("", "no ':'"),
        ];
        for (bad, expected) in cases {
            let text = format!("{good}{bad}\r\n");
            let err = parse(text.as_bytes()).err().unwrap();
            assert!(err.starts_with("test.txt:2: "), "{err}");
            assert!(err.contains(expected), "{err}");
        }
        assert!(parse(b"").err().unwrap().contains("empty"));
        let dup = "31D6CFE0D16AE931B73C59D7E0C089C0:1\n8846F7EAEE8FB117AD06BDD830B7586C:1\n\
                   31D6CFE0D16AE931B73C59D7E0C089C0:2\n";
        assert!(
            parse(dup.as_bytes())
                .err()
                .unwrap()
                .contains("duplicate hash 31D6")
        );
    }

    #[test]
    fn large_inputs_parse_across_pieces_and_blocks() {
        let recs = generate_corpus(Kind::Sha1, 60_000, 11, true);
        let style = Style {
            kind: Kind::Sha1,
            lowercase: false,
            crlf: true,
        };
        let mut text = format_corpus(&recs, style, 2);
        assert!(text.len() > 2 * PARSE_PIECE);
        for block_size in [PARSE_BLOCK, 100_000, 1 << 16] {
            let corpus = parse_corpus_in_blocks(Cursor::new(&text), "big", 0, block_size).unwrap();
            assert_eq!(corpus.recs, recs);
        }
        // A bad line deep in the file is reported with its line number.
        let at = text.len() - 2000;
        let line_no = text[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        text[at] = b'#';
        for block_size in [PARSE_BLOCK, 100_000, 1 << 16] {
            let err = parse_corpus_in_blocks(Cursor::new(&text), "big", 0, block_size)
                .err()
                .unwrap();
            assert!(err.starts_with(&format!("big:{line_no}: ")), "{err}");
        }
        // A line with no end is refused, not buffered forever.
        let mut long = text[..1000].to_vec();
        long.extend(std::iter::repeat_n(b'A', 1 << 18));
        let err = parse_corpus_in_blocks(Cursor::new(&long), "long", 0, 1 << 16)
            .err()
            .unwrap();
        let line_no = long.iter().filter(|&&b| b == b'\n').count() + 1;
        let expected = format!("long:{line_no}: line longer than");
        assert!(err.starts_with(&expected), "{err}");
    }

    #[test]
    fn remove_present_drops_exactly_the_hits() {
        let recs = generate_corpus(Kind::Ntlm, 1000, 1, false);
        let mut rng = SplitMix64 { state: 1 };
        let extra: Vec<Rec> = (0..10)
            .map(|_| Rec {
                hash: random_hash(Kind::Ntlm, &mut rng),
                count: 0,
            })
            .collect();
        let mut candidates = vec![recs[0], recs[500], recs[999]];
        candidates.extend_from_slice(&extra);
        candidates.sort_unstable_by_key(|r| hash_key(&r.hash));
        remove_present(&mut candidates, &recs);
        let mut expected = extra;
        expected.sort_unstable_by_key(|r| hash_key(&r.hash));
        assert_eq!(candidates, expected);
    }

    #[test]
    fn queries_mix_present_and_absent() {
        for kind in [Kind::Sha1, Kind::Ntlm] {
            let corpus = Corpus::new(kind, generate_corpus(kind, 20_000, 1, true));
            let queries = generate_queries(&corpus, 10_001, present_count(10_001, 0.3).unwrap(), 2);
            assert_eq!(queries.len(), 10_001);
            let found = queries.iter().filter(|q| q.count > 0).count();
            assert_eq!(found, 3000);
            for q in &queries {
                assert_eq!(corpus.lookup(&q.hash).unwrap_or(0), q.count);
            }
            // Shuffled: the present ones are not all at the front.
            assert!(queries[..3000].iter().any(|q| q.count == 0));
        }
        assert!(present_count(10, 1.5).is_err());
        assert!(present_count(10, f64::NAN).is_err());
        assert_eq!(present_count(3, 0.5).unwrap(), 2);
    }

    #[test]
    fn range_files_split_and_pad() {
        for kind in [Kind::Sha1, Kind::Ntlm] {
            let corpus = Corpus::new(kind, generate_corpus(kind, 20_000, 1, true));
            let prefix = prefix20(&kind.hash_password("password"));
            let real = corpus.range(prefix);
            assert!(!real.is_empty() && real.len() < PAD_MIN);
            let plain = range_body(kind, prefix, real, None);
            let suffix_len = kind.hex_len() - 5;
            let lines: Vec<&[u8]> = plain.split_inclusive(|&b| b == b'\n').collect();
            assert_eq!(lines.len(), real.len());
            assert!(
                lines
                    .iter()
                    .all(|l| l.ends_with(b"\r\n") && l[suffix_len] == b':')
            );

            let padded = range_body(
                kind,
                prefix,
                real,
                Some(Stream::new(3, domain(DOMAIN_PADDING, kind, 0))),
            );
            let text = String::from_utf8(padded).unwrap();
            let lines: Vec<&str> = text.split_terminator("\r\n").collect();
            assert!((PAD_MIN..=PAD_MAX).contains(&lines.len()));
            assert!(lines.windows(2).all(|w| w[0] < w[1]));
            let mut real_seen = 0;
            for line in lines {
                let (suffix, count) = line.split_once(':').unwrap();
                let full = format!("{prefix:05X}{suffix}");
                let hash = decode_hex(full.as_bytes()).unwrap();
                let count: u32 = count.parse().unwrap();
                assert_eq!(corpus.lookup(&hash).unwrap_or(0), count);
                real_seen += usize::from(count > 0);
            }
            assert_eq!(real_seen, real.len());
        }
    }

    #[test]
    fn with_prefix_sets_five_digits() {
        let hash = with_prefix([0xFF; 20], 0xABCDE);
        assert_eq!(&hex_of(&hash, Kind::Sha1)[..6], "ABCDEF");
        assert_eq!(prefix20(&hash), 0xABCDE);
    }
}
