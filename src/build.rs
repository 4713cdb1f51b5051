/*!
`pwdex build`: from the corpus, in whatever form it comes, to an index file.

Two paths:

- **Sorted fast path** — one uncompressed dump file, or one directory of
  range files. The input is read in chunks cut at line boundaries (a range
  directory file by file), parsed in parallel, and packed straight into the
  [`IndexWriter`] in input order while the next group of chunks is read and
  parsed. A dump file's xxh3 is taken as it is read.
  The layout is planned from the input size and a sample of its first
  megabyte. Each chunk checks its own order; the packer checks order across
  chunks and merges duplicate hashes.
- **Sort path** — everything else: several inputs, unsorted input (the fast
  path falls back to it at the first out-of-order line, unless
  `require_sorted`), compressed or piped streams, plaintext lists. Records go
  through the partitioned external sort of [`crate::extsort`] within the
  memory budget (the next block is read while the current one is parsed,
  and a thread of its own partitions the parsed records), then come back in
  order, duplicates merged (counts summed), into the writer: one thread
  takes them and fills the filter a batch at a time, the calling thread
  packs.

A malformed line stops the build with an error naming the file and the line,
unless `skip_malformed`, which skips it, counts it, keeps the first few for
the report and says so in the index's build record. Whatever fails, the
target path keeps its previous content and temporary files are removed
(the sort's spill file is unnamed: the kernel deletes it even after
`kill -9`).
*/

use std::borrow::Cow;
use std::io::{self, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::extsort::{Partitioner, Sorter};
use crate::format::Params;
use crate::hash::{HashKind, Key};
use crate::parse::{DumpRecord, parse_dump_line, parse_range_line, sniff_dump_kind, strip_cr};
use crate::queries::Bom;
use crate::sources::{Input, InputForm, new_hasher, range_files};
use crate::writer::{IndexWriter, Layout};

/// Settings for a build.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Hash kind; detected from the first line when `None` (required for plaintext).
    pub kind: Option<HashKind>,
    /// Target false-positive rate of the filter.
    pub fpp: f64,
    /// Override of the bucket bits (for experiments and tests).
    pub bucket_bits: Option<u32>,
    /// Override of the sample shift: one bucket sample every 2^s buckets
    /// (for experiments and the worked example of docs/FORMAT.md).
    pub sample_shift: Option<u32>,
    /// Override of the record-count estimate used to plan the layout (tests).
    pub records_hint: Option<u64>,
    /// Show progress bars on a terminal.
    pub progress: bool,
    /// Bytes per parse chunk (tuning; tests use tiny chunks to exercise
    /// the order and duplicate checks across chunk boundaries).
    pub chunk_bytes: usize,
    /// Refuse unsorted input instead of sorting it.
    pub require_sorted: bool,
    /// Skip malformed lines (counted and reported) instead of failing.
    pub skip_malformed: bool,
    /// Memory budget of the external sort, in bytes.
    pub memory_bytes: usize,
    /// Where the sort spills (default: beside the output).
    pub tmp_dir: Option<PathBuf>,
    /// Inputs are plaintext passwords, one per line, to hash and count.
    pub from_plaintext: bool,
    /// Force the sort path even for one sorted input (tests).
    pub force_sort: bool,
}

/// Default memory budget of the external sort.
///
/// 1 GiB rather than 2, measured with the sort of sorted runs and a k-way
/// merge this crate had then: a shuffled 100M-record build took 0.90x the
/// time and 0.92x the CPU with 1 GiB than with 2 GiB, and 1.40 GB peak RSS
/// instead of 2.30 GB (`farm-bench -n 4`). The partitioned sort holds at
/// most 256 MiB of records while reading (see [`crate::extsort`]); the
/// budget bounds the partitions it sorts in memory.
pub const DEFAULT_MEMORY_BYTES: usize = 1 << 30;

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            kind: None,
            fpp: crate::filter::DEFAULT_FPP,
            bucket_bits: None,
            sample_shift: None,
            records_hint: None,
            progress: false,
            chunk_bytes: CHUNK_BYTES,
            require_sorted: false,
            skip_malformed: false,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            tmp_dir: None,
            from_plaintext: false,
            force_sort: false,
        }
    }
}

/// What a build did.
#[derive(Clone, Debug)]
pub struct BuildSummary {
    pub params: Params,
    pub input_bytes: u64,
    pub lines: u64,
    pub padding_lines: u64,
    pub duplicates_merged: u64,
    /// Malformed lines skipped (with `skip_malformed`).
    pub malformed_skipped: u64,
    /// The first skipped lines, as `FILE:LINE: reason`.
    pub malformed_examples: Vec<String>,
    /// True when the input had to be sorted.
    pub sorted_externally: bool,
    pub seconds: f64,
}

/// Bytes per parse chunk: large enough to amortise scheduling, small enough
/// to keep a group of chunks in cache-friendly memory.
const CHUNK_BYTES: usize = 4 << 20;
/// Skipped lines kept for the report.
const MAX_EXAMPLES: usize = 20;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Asks running builds to stop at the next chunk boundary (from the handler
/// of Ctrl-C, SIGTERM and SIGHUP); the build then fails cleanly, removing
/// its temporary files. A second signal stops the process at once, for a
/// build blocked on its input (a stalled pipe never reaches the next chunk).
pub fn interrupt() {
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        crate::writer::remove_temporary_files();
        // Said without a claim about the index: this may come just after the
        // rename that put a finished one in place.
        eprintln!("pwdex: interrupted again; stopped, temporary files removed");
        std::process::exit(130);
    }
}

fn check_interrupt() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        return Err(Error::Usage(
            "interrupted; the previous index (if any) is unchanged".into(),
        ));
    }
    Ok(())
}

/// Builds an index at `output` from one input (`-` for stdin).
pub fn build(input: &Path, output: &Path, opts: &BuildOptions) -> Result<BuildSummary> {
    build_many(&[input.to_path_buf()], output, opts)
}

/// Builds one index at `output` from all `inputs`, merging duplicate hashes.
pub fn build_many(inputs: &[PathBuf], output: &Path, opts: &BuildOptions) -> Result<BuildSummary> {
    let started = Instant::now();
    if inputs.is_empty() {
        return Err(Error::Usage("no input given".into()));
    }
    if opts.from_plaintext && opts.kind.is_none() {
        return Err(Error::Usage(
            "--from-plaintext needs --kind sha1 or --kind ntlm: which hash should the passwords get?".into(),
        ));
    }
    let inputs: Vec<Input> = inputs
        .iter()
        .map(|p| Input::classify(p))
        .collect::<Result<_>>()?;
    if inputs.iter().filter(|i| i.form == InputForm::Stdin).count() > 1 {
        return Err(Error::Usage("stdin (-) can be given only once".into()));
    }
    refuse_output_among_inputs(&inputs, output)?;
    if opts.from_plaintext
        && let Some(dir) = inputs.iter().find(|i| i.form == InputForm::RangeDir)
    {
        return Err(Error::Usage(format!(
            "{} is a directory of range files: --from-plaintext takes lists of passwords",
            dir.path.display()
        )));
    }
    if output.is_dir() {
        return Err(Error::Usage(format!(
            "the output {} is a directory: give the index file's path",
            output.display()
        )));
    }
    // Found out before the reading and sorting, not after.
    if let Some(parent) = output.parent()
        && !parent.as_os_str().is_empty()
        && !parent.is_dir()
    {
        return Err(Error::Usage(format!(
            "the output's directory {} does not exist",
            parent.display()
        )));
    }
    let single_sorted_candidate = inputs.len() == 1
        && !opts.from_plaintext
        && !opts.force_sort
        && matches!(inputs[0].form, InputForm::PlainFile | InputForm::RangeDir)
        && !starts_with_utf16_bom(&inputs[0]);
    if opts.require_sorted && !single_sorted_candidate {
        return Err(Error::Usage(
            "--sorted takes one uncompressed dump file or one range directory (without \
             --from-plaintext); other inputs are always sorted"
                .into(),
        ));
    }
    let mut summary = if single_sorted_candidate {
        match build_sorted(&inputs[0], output, opts) {
            Err(Error::Unsorted { path, line, .. }) if !opts.require_sorted => {
                if opts.progress && io::stderr().is_terminal() {
                    eprintln!(
                        "pwdex: {}:{line}: input is not sorted by hash; sorting it",
                        path.display()
                    );
                }
                build_by_sorting(&inputs, output, opts)?
            }
            other => other?,
        }
    } else {
        build_by_sorting(&inputs, output, opts)?
    };
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Whether a plain file starts with a UTF-16 byte-order mark: it is decoded
/// on the sort path (the sorted path reads bytes as they are).
fn starts_with_utf16_bom(input: &Input) -> bool {
    if input.form != InputForm::PlainFile {
        return false;
    }
    let mut head = [0u8; 2];
    std::fs::File::open(&input.path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|_| matches!(Bom::of(&head).0, Bom::Utf16Le | Bom::Utf16Be))
}

/// Refuses an output path that names one of the inputs: the build would
/// replace the user's dump with the index.
fn refuse_output_among_inputs(inputs: &[Input], output: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Ok(out) = std::fs::metadata(output) else {
        return Ok(());
    };
    for input in inputs {
        if input.form == InputForm::Stdin {
            continue;
        }
        if let Ok(m) = std::fs::metadata(&input.path)
            && m.dev() == out.dev()
            && m.ino() == out.ino()
        {
            return Err(Error::Usage(format!(
                "the output {} is the input {}: the build would replace it; give another -o",
                output.display(),
                input.path.display()
            )));
        }
    }
    Ok(())
}

/// Per-input facts for the build record.
#[derive(Clone, Debug, Default)]
struct InputStats {
    path: String,
    form: String,
    bytes: u64,
    lines: u64,
    padding: u64,
    blank: u64,
    skipped: u64,
    xxh3: String,
}

/// Accumulates skipped malformed lines.
#[derive(Default)]
struct SkipLog {
    total: u64,
    examples: Vec<String>,
}

impl SkipLog {
    fn note(&mut self, path: &Path, line: u64, reason: &str) {
        self.total += 1;
        if self.examples.len() < MAX_EXAMPLES {
            self.examples
                .push(format!("{}:{}: {}", path.display(), line, reason));
        }
    }
}

fn out_dir(output: &Path) -> PathBuf {
    match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// How to read the lines of a piece of input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineFormat {
    /// `HASH:COUNT`.
    Dump,
    /// `SUFFIX:COUNT` with the first five hex digits in `prefix`.
    Range { prefix: u32 },
    /// One password per line.
    Plaintext,
}

/// A piece of input to parse: bytes of a block read from a stream, or a
/// range file read by the worker that parses it.
enum Piece<'a> {
    Borrowed {
        source: usize,
        data: &'a [u8],
    },
    Owned {
        source: usize,
        data: Vec<u8>,
    },
    RangeFile {
        source: usize,
        prefix: u32,
        path: PathBuf,
    },
}

/// The result of parsing one piece.
struct ParsedChunk<'a> {
    source: usize,
    data: Cow<'a, [u8]>,
    /// Records; strictly ascending when order was checked.
    records: Vec<(Key, u64)>,
    /// Line number (1-based, within the piece) of the first record.
    first_record_line: u64,
    lines: u64,
    padding: u64,
    blank: u64,
    duplicates: u64,
    /// Skipped malformed lines (line within the piece, reason).
    skipped: Vec<(u64, String)>,
    /// First problem: line within the piece, and the error.
    error: Option<(u64, ChunkError)>,
}

enum ChunkError {
    Bad(String),
    Unsorted { previous: Key, got: Key },
    CountOverflow,
    Io(PathBuf, io::Error),
}

/// Settings shared by every chunk parse.
#[derive(Clone, Copy)]
struct ParseSettings<'f> {
    /// When set, every parsed record's key is inserted here by the worker.
    filter: Option<&'f crate::filter::FilterBuilder>,
    kind: HashKind,
    plaintext: bool,
    check_order: bool,
    skip_malformed: bool,
}

fn parse_piece<'a>(s: ParseSettings<'_>, piece: Piece<'a>) -> ParsedChunk<'a> {
    let format_for = |prefix: Option<u32>| match (s.plaintext, prefix) {
        (true, _) => LineFormat::Plaintext,
        (false, Some(prefix)) => LineFormat::Range { prefix },
        (false, None) => LineFormat::Dump,
    };
    match piece {
        Piece::Borrowed { source, data } => {
            parse_chunk(s, format_for(None), source, Cow::Borrowed(data))
        }
        Piece::Owned { source, data } => parse_chunk(s, format_for(None), source, Cow::Owned(data)),
        Piece::RangeFile {
            source,
            prefix,
            path,
        } => match std::fs::read(&path) {
            Ok(data) => parse_chunk(s, format_for(Some(prefix)), source, Cow::Owned(data)),
            Err(e) => {
                let mut chunk =
                    parse_chunk(s, format_for(Some(prefix)), source, Cow::Borrowed(&[]));
                chunk.error = Some((0, ChunkError::Io(path, e)));
                chunk
            }
        },
    }
}

fn parse_pieces<'a>(settings: ParseSettings<'_>, pieces: Vec<Piece<'a>>) -> Vec<ParsedChunk<'a>> {
    pieces
        .into_par_iter()
        .map(|p| parse_piece(settings, p))
        .collect()
}

fn parse_chunk<'a>(
    s: ParseSettings<'_>,
    format: LineFormat,
    source: usize,
    data: Cow<'a, [u8]>,
) -> ParsedChunk<'a> {
    let kind = s.kind;
    let mut parsed = ParsedChunk {
        source,
        records: Vec::with_capacity(data.len() / (kind.hex_len() + 4)),
        data: Cow::Borrowed(&[]),
        first_record_line: 0,
        lines: 0,
        padding: 0,
        blank: 0,
        duplicates: 0,
        skipped: Vec::new(),
        error: None,
    };
    let mut rest: &[u8] = &data;
    while !rest.is_empty() {
        let (line, tail) = match memchr::memchr(b'\n', rest) {
            Some(p) => (&rest[..p], &rest[p + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = tail;
        parsed.lines += 1;
        let result = match format {
            LineFormat::Dump => parse_dump_line(kind, line),
            LineFormat::Range { prefix } => parse_range_line(kind, prefix, line),
            LineFormat::Plaintext => {
                let password = strip_cr(line);
                if password.is_empty() {
                    parsed.blank += 1;
                    continue;
                }
                match std::str::from_utf8(password) {
                    // UTF-16 without a byte-order mark reads as valid UTF-8
                    // with a NUL in every other byte.
                    Ok(_) if password.contains(&0) => {
                        Err("holds a NUL byte: UTF-16 text without a byte-order mark? \
                         (convert the list to UTF-8)"
                            .into())
                    }
                    Ok(_) => Ok(DumpRecord {
                        key: kind.hash_plaintext(password),
                        count: 1,
                    }),
                    Err(e) => Err(format!(
                        "not valid UTF-8, or an unpaired UTF-16 surrogate (byte {})",
                        e.valid_up_to() + 1
                    )),
                }
            }
        };
        let record = match result {
            Ok(r) => r,
            Err(reason) if s.skip_malformed => {
                parsed.skipped.push((parsed.lines, reason));
                continue;
            }
            Err(reason) => {
                parsed.error = Some((parsed.lines, ChunkError::Bad(reason)));
                break;
            }
        };
        if record.count == 0 {
            parsed.padding += 1;
            continue;
        }
        match parsed.records.last_mut() {
            Some(last) if last.0 == record.key => match last.1.checked_add(record.count) {
                Some(sum) => {
                    last.1 = sum;
                    parsed.duplicates += 1;
                }
                None => {
                    parsed.error = Some((parsed.lines, ChunkError::CountOverflow));
                    break;
                }
            },
            Some(last) if s.check_order && last.0 > record.key => {
                let previous = last.0;
                parsed.error = Some((
                    parsed.lines,
                    ChunkError::Unsorted {
                        previous,
                        got: record.key,
                    },
                ));
                break;
            }
            last => {
                if last.is_none() {
                    parsed.first_record_line = parsed.lines;
                }
                parsed.records.push((record.key, record.count));
            }
        }
    }
    if let Some(filter) = s.filter {
        filter.insert_many(parsed.records.iter().map(|r| &r.0));
    }
    parsed.data = data;
    parsed
}

fn progress_bar(
    enabled: bool,
    total: Option<u64>,
    what: &str,
    unit_bytes: bool,
) -> Option<indicatif::ProgressBar> {
    if !enabled || !io::stderr().is_terminal() {
        return None;
    }
    let (bar, template) = match total {
        Some(t) if unit_bytes => (
            indicatif::ProgressBar::new(t),
            "{msg:>9} [{bar:36}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        ),
        Some(t) => (
            indicatif::ProgressBar::new(t),
            "{msg:>9} [{bar:36}] {human_pos}/{human_len} records {per_sec} ETA {eta}",
        ),
        None => (
            indicatif::ProgressBar::new_spinner(),
            "{msg:>9} {spinner} {bytes} {bytes_per_sec} {elapsed}",
        ),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    Some(bar)
}

/// Hash kind from the first non-empty line of a dump.
fn detect_kind(path: &Path, data: &[u8], range_file: bool) -> Result<HashKind> {
    for (i, line) in data.split(|&b| b == b'\n').enumerate().take(1000) {
        if line.is_empty() || line == b"\r" {
            continue;
        }
        let sniffed = if range_file {
            let colon = line.iter().position(|&b| b == b':');
            colon.and_then(|c| HashKind::from_hex_len(c + 5))
        } else {
            sniff_dump_kind(line)
        };
        return sniffed.ok_or_else(|| Error::BadLine {
            path: path.to_path_buf(),
            line: i as u64 + 1,
            reason: format!(
                "cannot tell the hash kind: expected {} with a {} hash, got {:?} (use --kind to force one)",
                if range_file { "SUFFIX:COUNT" } else { "HASH:COUNT" },
                if range_file {
                    "35-hex (SHA-1) or 27-hex (NTLM)"
                } else {
                    "40-hex (SHA-1) or 32-hex (NTLM)"
                },
                crate::parse::truncate_for_message(line)
            ),
        });
    }
    // Empty input: an empty index of the default kind.
    Ok(HashKind::Sha1)
}

/// The first range file holding a line that is not blank, and its bytes:
/// the hash kind is told from it (an empty first file said SHA-1, and an
/// NTLM directory then failed on its first real line).
fn first_range_file_with_lines(files: &[(u32, PathBuf)]) -> Result<Option<(PathBuf, Vec<u8>)>> {
    for (_, path) in files {
        let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        if data
            .split(|&b| b == b'\n')
            .any(|l| !l.trim_ascii().is_empty())
        {
            return Ok(Some((path.clone(), data)));
        }
    }
    Ok(None)
}

/// The first MiB of a dump (`head`) plus whole lines from 15 places spread
/// through the rest of it, 64 KiB each: the layout is planned from them.
/// From the first MiB alone, a dump that began with padding lines (count 0)
/// was planned as nearly empty, and its 3M records were then packed with
/// no bucket bits: lookups 4,000 times slower.
fn spread_sample(file: &std::fs::File, size: u64, head: &[u8]) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    const PLACES: u64 = 16;
    const PIECE: usize = 64 << 10;
    let mut sample = head.to_vec();
    if size <= head.len() as u64 + PLACES * PIECE as u64 {
        return Ok(sample);
    }
    let mut piece = vec![0u8; PIECE];
    for k in 1..PLACES {
        // Spread over what the head did not cover (a small file's first
        // pieces fell inside it, and its padding counted twice).
        let head_len = head.len() as u64;
        let offset = head_len + (size - head_len) / PLACES * k;
        let n = file.read_at(&mut piece, offset)?;
        let got = &piece[..n];
        // Whole lines only: from after the first line end to the last.
        if let (Some(first), Some(last)) = (memchr::memchr(b'\n', got), memchr::memrchr(b'\n', got))
            && first < last
        {
            sample.extend_from_slice(&got[first + 1..last + 1]);
        }
    }
    Ok(sample)
}

/// Layout planning figures taken from a sample of the input.
struct Estimate {
    records: u64,
    count_hist: [u64; 65],
}

/// Estimates the record count of `total_bytes` of input from a sample: the
/// sample's share of non-padding records times the input size. Dumps sorted
/// by hash have counts unrelated to position, so the sample's count
/// histogram is representative.
fn estimate_from_sample(
    kind: HashKind,
    format: LineFormat,
    sample: &[u8],
    total_bytes: u64,
) -> Estimate {
    let mut hist = [0u64; 65];
    let mut records = 0u64;
    for line in sample.split(|&b| b == b'\n') {
        let parsed = match format {
            LineFormat::Range { prefix } => parse_range_line(kind, prefix, line),
            _ => parse_dump_line(kind, line),
        };
        if let Ok(r) = parsed
            && r.count > 0
        {
            records += 1;
            hist[64 - r.count.leading_zeros() as usize] += 1;
        }
    }
    let scaled = if sample.is_empty() {
        0
    } else {
        (records as u128 * total_bytes as u128 / sample.len() as u128) as u64
    };
    if records == 0 {
        hist[1] = 1;
    }
    Estimate {
        records: scaled,
        count_hist: hist,
    }
}

/// Cuts `data` into pieces of about `size` bytes ending at line boundaries.
fn split_chunks(data: &[u8], size: usize) -> Vec<&[u8]> {
    let mut chunks = Vec::with_capacity(data.len() / size + 1);
    let mut rest = data;
    while !rest.is_empty() {
        if rest.len() <= size {
            chunks.push(rest);
            break;
        }
        let cut = memchr::memchr(b'\n', &rest[size..]).map_or(rest.len(), |p| size + p + 1);
        let (head, tail) = rest.split_at(cut);
        chunks.push(head);
        rest = tail;
    }
    chunks
}

/// Longest line accepted before a line end (a file without line ends is not a dump).
const MAX_LINE_BYTES: usize = 64 << 20;

/// Reads a stream as blocks of about `size` bytes that end at line ends (the
/// last may lack one), so each block can be parsed on its own.
struct LineChunks {
    reader: Box<dyn Read + Send>,
    size: usize,
    carry: Vec<u8>,
    eof: bool,
}

impl LineChunks {
    fn new(reader: Box<dyn Read + Send>, size: usize) -> Self {
        LineChunks {
            reader,
            size,
            carry: Vec::new(),
            eof: false,
        }
    }
}

impl Iterator for LineChunks {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.eof {
                return (!self.carry.is_empty()).then(|| Ok(std::mem::take(&mut self.carry)));
            }
            let mut block = std::mem::take(&mut self.carry);
            let start = block.len();
            block.resize(start + self.size, 0);
            let n = match read_full(&mut *self.reader, &mut block[start..]) {
                Ok(n) => n,
                Err(e) => return Some(Err(e)),
            };
            block.truncate(start + n);
            if n == 0 {
                self.eof = true;
                self.carry = block;
                continue;
            }
            match memchr::memrchr(b'\n', &block) {
                Some(p) => {
                    self.carry = block.split_off(p + 1);
                    return Some(Ok(block));
                }
                None if block.len() > MAX_LINE_BYTES => {
                    return Some(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "no line end in {} MiB: not a text dump",
                            MAX_LINE_BYTES >> 20
                        ),
                    )));
                }
                None => self.carry = block,
            }
        }
    }
}

/// The fast path: one sorted dump file or range directory, packed as it is parsed.
fn build_sorted(input: &Input, output: &Path, opts: &BuildOptions) -> Result<BuildSummary> {
    let display = input.display();
    let input_hasher = new_hasher();
    let mut files = Vec::new();
    type Pieces = Box<dyn Iterator<Item = Result<Piece<'static>>> + Send>;
    let (pieces, kind, estimate, total_bytes): (Pieces, HashKind, Estimate, u64) = match input.form
    {
        InputForm::PlainFile => {
            // Read, not mapped: a mapped 77 GB input would count in the
            // process's resident memory, and reads cost no more here.
            let file = std::fs::File::open(&input.path).map_err(|e| Error::io(&input.path, e))?;
            let size = file
                .metadata()
                .map_err(|e| Error::io(&input.path, e))?
                .len();
            let mut sample = vec![0u8; 1 << 20];
            let n = read_full(&mut &file, &mut sample).map_err(|e| Error::io(&input.path, e))?;
            sample.truncate(n);
            // A UTF-8 byte-order mark is not part of the first hash (the
            // reader below passes over it too; UTF-16 takes the sort path).
            if let (Bom::Utf8, mark) = Bom::of(&sample) {
                sample.drain(..mark);
            }
            if (n as u64) < size
                && let Some(p) = memchr::memrchr(b'\n', &sample)
            {
                sample.truncate(p + 1);
            }
            let mut file = file;
            std::io::Seek::rewind(&mut file).map_err(|e| Error::io(&input.path, e))?;
            let kind = match opts.kind {
                Some(k) => k,
                None => detect_kind(&display, &sample, false)?,
            };
            let spread =
                spread_sample(&file, size, &sample).map_err(|e| Error::io(&input.path, e))?;
            let estimate = estimate_from_sample(kind, LineFormat::Dump, &spread, size);
            let path = input.path.clone();
            // The input's xxh3 is taken as it is read, beside the packing
            // (in the packer it was 4.4 GB hashed on the critical path of a
            // 100M-record build).
            let reader = crate::queries::Decoded::new(crate::sources::HashingReader::new(
                file,
                Arc::clone(&input_hasher),
            ))
            .map_err(|e| Error::io(&input.path, e))?;
            let chunks = LineChunks::new(Box::new(reader), opts.chunk_bytes.max(1));
            let pieces = chunks.map(move |c| {
                c.map(|data| Piece::Owned { source: 0, data })
                    .map_err(|e| Error::io(&path, e))
            });
            (Box::new(pieces) as Pieces, kind, estimate, size)
        }
        InputForm::RangeDir => {
            files = range_files(&input.path)?;
            let sizes: Vec<u64> = files
                .iter()
                .map(|(_, p)| {
                    std::fs::metadata(p)
                        .map(|m| m.len())
                        .map_err(|e| Error::io(p, e))
                })
                .collect::<Result<_>>()?;
            let total: u64 = sizes.iter().sum();
            // Sample the first files, up to about a megabyte.
            let mut sample_records = 0u64;
            let mut sample_bytes = 0u64;
            let mut hist = [0u64; 65];
            let mut kind = opts.kind;
            if kind.is_none()
                && let Some((path, data)) = first_range_file_with_lines(&files)?
            {
                kind = Some(detect_kind(&path, &data, true)?);
            }
            // Files spread over the whole directory, not only the first
            // ones (which may be empty or padding only).
            let step = (files.len() / 64).max(1);
            for (prefix, path) in files.iter().step_by(step).take(64) {
                let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
                let k = kind.unwrap_or(HashKind::Sha1);
                let e = estimate_from_sample(
                    k,
                    LineFormat::Range { prefix: *prefix },
                    &data,
                    data.len() as u64,
                );
                sample_records += e.records;
                sample_bytes += data.len() as u64;
                for (h, x) in hist.iter_mut().zip(e.count_hist.iter()) {
                    *h += x;
                }
                if sample_bytes > 1 << 20 {
                    break;
                }
            }
            let kind = kind.unwrap_or(HashKind::Sha1);
            let records = if sample_bytes == 0 {
                0
            } else {
                (sample_records as u128 * total as u128 / sample_bytes as u128) as u64
            };
            if hist.iter().all(|&h| h == 0) {
                hist[1] = 1;
            }
            let pieces: Vec<Result<Piece>> = files
                .iter()
                .enumerate()
                .map(|(i, (prefix, path))| {
                    Ok(Piece::RangeFile {
                        source: i,
                        prefix: *prefix,
                        path: path.clone(),
                    })
                })
                .collect();
            (
                Box::new(pieces.into_iter()) as Pieces,
                kind,
                Estimate {
                    records,
                    count_hist: hist,
                },
                total,
            )
        }
        _ => unreachable!("only plain files and range directories take the sorted path"),
    };
    let source_names: Vec<PathBuf> = match input.form {
        InputForm::RangeDir => files.iter().map(|f| f.1.clone()).collect(),
        _ => vec![display.clone()],
    };

    let planned_records = opts.records_hint.unwrap_or(estimate.records);
    let layout = plan_layout(kind, planned_records, &estimate.count_hist, opts)?;
    let mut writer = IndexWriter::create(output, layout)?;
    let progress = progress_bar(opts.progress, Some(total_bytes), "building", true);
    // Parse workers fill the filter in parallel; the packer only writes.
    let filter = writer.share_filter();
    let settings = ParseSettings {
        filter: Some(&filter),
        kind,
        plaintext: false,
        check_order: true,
        skip_malformed: opts.skip_malformed,
    };
    let mut packer = Packer {
        names: &source_names,
        kind,
        writer: &mut writer,
        pending: None,
        current_source: usize::MAX,
        lines_before: 0,
        lines: 0,
        padding_lines: 0,
        blank_lines: 0,
        duplicates: 0,
        skips: SkipLog::default(),
        // Range files are read by the parse workers, out of order: the
        // packer hashes them in order. A dump file is hashed as it is read.
        hasher: (input.form == InputForm::RangeDir).then(xxhash_rust::xxh3::Xxh3::new),
    };
    let group = rayon::current_num_threads().max(1) * 2;
    let mut pieces = pieces;
    let mut take_group = || -> Result<Vec<Piece>> { pieces.by_ref().take(group).collect() };
    let parse_group = |g| parse_pieces(settings, g);
    let first = take_group()?;
    let mut current = if first.is_empty() {
        None
    } else {
        Some(parse_group(first))
    };
    while let Some(parsed) = current.take() {
        check_interrupt()?;
        // Pack this group while the next one is read and parsed (reading
        // it first, outside the join, left both workers idle for the read:
        // each was about 75% busy).
        let (next, packed) = rayon::join(
            || -> Result<_> {
                let next_group = take_group()?;
                Ok((!next_group.is_empty()).then(|| parse_group(next_group)))
            },
            || packer.pack(&parsed),
        );
        packed?;
        let next = next?;
        if let Some(p) = &progress {
            p.inc(parsed.iter().map(|c| c.data.len() as u64).sum());
        }
        current = next;
    }
    if let Some(pending) = packer.pending.take() {
        packer.writer.push(pending.0, pending.1)?;
    }
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    let stats = InputStats {
        path: display.display().to_string(),
        form: form_name(input.form).into(),
        bytes: total_bytes,
        lines: packer.lines,
        padding: packer.padding_lines,
        blank: packer.blank_lines,
        skipped: packer.skips.total,
        xxh3: format!(
            "{:016x}",
            match &packer.hasher {
                Some(h) => h.digest(),
                None => input_hasher.lock().expect("hasher lock").digest(),
            }
        ),
    };
    let duplicates = packer.duplicates;
    let skips = std::mem::take(&mut packer.skips);
    finish(writer, kind, opts, vec![stats], duplicates, skips, false)
}

fn form_name(form: InputForm) -> &'static str {
    match form {
        InputForm::PlainFile => "dump",
        InputForm::Gzip => "gzip dump",
        InputForm::Zstd => "zstd dump",
        InputForm::SevenZip => "7z dump",
        InputForm::RangeDir => "range files",
        InputForm::Stdin => "stdin",
        InputForm::Stream => "pipe",
    }
}

fn plan_layout(
    kind: HashKind,
    records: u64,
    hist: &[u64; 65],
    opts: &BuildOptions,
) -> Result<Layout> {
    let mut layout = Layout::plan(kind, records, hist, opts.fpp);
    if let Some(s) = opts.sample_shift {
        if s > crate::format::MAX_SAMPLE_SHIFT {
            return Err(Error::Usage(format!(
                "--sample-shift {s} is out of range (0..={})",
                crate::format::MAX_SAMPLE_SHIFT
            )));
        }
        layout.sample_shift = s;
        layout.bucket_bits = crate::format::choose_bucket_bits(kind, records, s);
    }
    if let Some(b) = opts.bucket_bits {
        if b > crate::format::MAX_BUCKET_BITS || b >= kind.bits() {
            return Err(Error::Usage(format!(
                "--bucket-bits {b} is out of range (0..={})",
                crate::format::MAX_BUCKET_BITS
            )));
        }
        // Every bucket costs a bit of the sizes and its share of the samples,
        // in memory while building: 2^40 buckets for 30,000 records took the
        // machine's 24 GB and the kernel killed the build.
        // 2^28 buckets (64 MB of sizes and samples) stay allowed whatever
        // the count, for tests of bucket shapes on small corpora.
        let most = (u64::BITS - records.leading_zeros() + 8).max(28);
        if b > most {
            return Err(Error::Usage(format!(
                "--bucket-bits {b} is too many for about {records} records: at most {most} \
                 (256 buckets a record, or 2^28; the default picks the smallest index)"
            )));
        }
        layout.bucket_bits = b;
    }
    Ok(layout)
}

/// Writes the build record and completes the index.
fn finish(
    writer: IndexWriter,
    kind: HashKind,
    opts: &BuildOptions,
    inputs: Vec<InputStats>,
    duplicates: u64,
    skips: SkipLog,
    sorted_externally: bool,
) -> Result<BuildSummary> {
    check_interrupt()?;
    let records = writer.records_written();
    let now = std::time::SystemTime::now();
    let record = serde_json::json!({
        "pwdex_version": env!("CARGO_PKG_VERSION"),
        "built_at": humantime::format_rfc3339_seconds(now).to_string(),
        "built_unix": now.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "kind": kind.name(),
        "records": records,
        "fpp_target": opts.fpp,
        "from_plaintext": opts.from_plaintext,
        "sorted_externally": sorted_externally,
        "inputs": inputs.iter().map(|i| serde_json::json!({
            "path": i.path,
            "form": i.form,
            "bytes": i.bytes,
            "lines": i.lines,
            "padding_lines": i.padding,
            "blank_lines": i.blank,
            "malformed_skipped": i.skipped,
            "xxh3": i.xxh3,
        })).collect::<Vec<_>>(),
        "duplicates_merged": duplicates,
        "malformed_skipped": skips.total,
    });
    let params = writer.finish(&record)?;
    Ok(BuildSummary {
        params,
        input_bytes: inputs.iter().map(|i| i.bytes).sum(),
        lines: inputs.iter().map(|i| i.lines).sum(),
        padding_lines: inputs.iter().map(|i| i.padding).sum(),
        duplicates_merged: duplicates,
        malformed_skipped: skips.total,
        malformed_examples: skips.examples,
        sorted_externally,
        seconds: 0.0,
    })
}

/// Sequential half of the fast path: order checks across chunks, duplicate
/// merging across chunks, and writing.
struct Packer<'p, 'w> {
    names: &'p [PathBuf],
    kind: HashKind,
    writer: &'w mut IndexWriter,
    /// The last record seen, held back in case the next chunk repeats it.
    pending: Option<(Key, u64)>,
    current_source: usize,
    lines_before: u64,
    lines: u64,
    padding_lines: u64,
    blank_lines: u64,
    duplicates: u64,
    skips: SkipLog,
    /// Hashes the chunks' bytes in order, when they were not hashed as read.
    hasher: Option<xxhash_rust::xxh3::Xxh3>,
}

impl Packer<'_, '_> {
    fn pack(&mut self, chunks: &[ParsedChunk]) -> Result<()> {
        for chunk in chunks {
            if chunk.source != self.current_source {
                self.current_source = chunk.source;
                self.lines_before = 0;
            }
            let path = &self.names[chunk.source];
            if let Some(h) = &mut self.hasher {
                h.update(&chunk.data);
            }
            for (line, reason) in &chunk.skipped {
                self.skips.note(path, self.lines_before + line, reason);
            }
            if let Some((first, _)) = chunk.records.first()
                && let Some((prev, count)) = self.pending
            {
                if *first < prev {
                    return Err(unsorted(
                        self.kind,
                        path,
                        self.lines_before + chunk.first_record_line,
                        prev,
                        *first,
                    ));
                }
                if *first == prev {
                    let sum = count.checked_add(chunk.records[0].1).ok_or_else(|| {
                        overflow(path, self.lines_before + chunk.first_record_line)
                    })?;
                    self.pending = Some((prev, sum));
                    self.duplicates += 1;
                }
            }
            // The chunk's records are strictly ascending and the first one is
            // either merged into `pending` (above) or greater than it: write
            // `pending` and all but the last record, which is held back.
            let records = match (self.pending, chunk.records.first()) {
                (Some((prev, _)), Some((first, _))) if prev == *first => &chunk.records[1..],
                _ => &chunk.records[..],
            };
            if let Some((&last, body)) = records.split_last() {
                if let Some((prev, c)) = self.pending.take() {
                    self.writer.push(prev, c)?;
                }
                self.writer.push_many(body)?;
                self.pending = Some(last);
            }
            if let Some((line, error)) = &chunk.error {
                return Err(chunk_error(
                    self.kind,
                    path,
                    self.lines_before + line,
                    error,
                ));
            }
            self.lines_before += chunk.lines;
            self.lines += chunk.lines;
            self.padding_lines += chunk.padding;
            self.blank_lines += chunk.blank;
            self.duplicates += chunk.duplicates;
        }
        Ok(())
    }
}

fn chunk_error(kind: HashKind, path: &Path, line: u64, error: &ChunkError) -> Error {
    match error {
        ChunkError::Bad(reason) => Error::BadLine {
            path: path.to_path_buf(),
            line,
            reason: reason.clone(),
        },
        ChunkError::Unsorted { previous, got } => unsorted(kind, path, line, *previous, *got),
        ChunkError::CountOverflow => overflow(path, line),
        ChunkError::Io(p, e) => Error::io(p, io::Error::new(e.kind(), e.to_string())),
    }
}

fn unsorted(kind: HashKind, path: &Path, line: u64, previous: Key, got: Key) -> Error {
    Error::Unsorted {
        path: path.to_path_buf(),
        line,
        previous: previous.to_hex(kind),
        got: got.to_hex(kind),
    }
}

fn overflow(path: &Path, line: u64) -> Error {
    Error::BadLine {
        path: path.to_path_buf(),
        line,
        reason: "the sum of this hash's counts exceeds 2^64".into(),
    }
}

/// State of the sort path while inputs are read.
struct SortState {
    kind: Option<HashKind>,
    tmp_dir: PathBuf,
    memory_bytes: usize,
    /// Bytes of all inputs, when known (compressed sizes count as they are).
    input_bytes: Option<u64>,
    sort: Option<SortFeed>,
    skips: SkipLog,
    duplicates: u64,
    progress: Option<indicatif::ProgressBar>,
}

impl SortState {
    /// The kind, detecting it from `sample` when not yet known.
    fn kind_from(&mut self, path: &Path, sample: &[u8], range_file: bool) -> Result<HashKind> {
        let kind = match self.kind {
            Some(k) => k,
            None => detect_kind(path, sample, range_file)?,
        };
        self.kind = Some(kind);
        if self.sort.is_none() {
            let mut sorter = Sorter::new(kind, &self.tmp_dir, self.memory_bytes);
            // A dump line is at least the hash, a colon, a digit and a line end.
            if let Some(bytes) = self.input_bytes {
                sorter.expect_records(bytes / (kind.hex_len() as u64 + 3));
            }
            self.sort = Some(SortFeed::new(sorter)?);
        }
        Ok(kind)
    }

    /// How parse workers should group their records for the sort.
    fn partitioner(&self) -> Option<Partitioner> {
        self.sort.as_ref().map(|s| s.partitioner)
    }

    /// Takes parsed chunks of one input; `line_base` is the number of lines
    /// of the same file before them.
    fn absorb(
        &mut self,
        parsed: Vec<ParsedChunk>,
        stats: &mut InputStats,
        path: &Path,
        mut line_base: u64,
    ) -> Result<()> {
        let kind = self.kind.unwrap_or(HashKind::Sha1);
        let sort = self
            .sort
            .as_mut()
            .expect("run builder exists once the kind is known");
        for mut chunk in parsed {
            for (line, reason) in &chunk.skipped {
                self.skips.note(path, line_base + line, reason);
            }
            if let Some((line, error)) = &chunk.error {
                return Err(chunk_error(kind, path, line_base + line, error));
            }
            sort.extend(std::mem::take(&mut chunk.records))?;
            line_base += chunk.lines;
            stats.lines += chunk.lines;
            stats.padding += chunk.padding;
            stats.blank += chunk.blank;
            stats.skipped += chunk.skipped.len() as u64;
            self.duplicates += chunk.duplicates;
            if let Some(p) = &self.progress {
                p.inc(chunk.data.len() as u64);
            }
        }
        check_interrupt()
    }
}

/// The external sort, fed on a thread of its own: partitioning the records
/// and spilling them then overlaps the parsing of the next block, where
/// they had run between blocks with both parse workers idle (100M shuffled
/// records: 10.0 and 11.3 s instead of 12.0 s, single runs).
struct SortFeed {
    partitioner: Partitioner,
    to: Option<std::sync::mpsc::SyncSender<Vec<(Key, u64)>>>,
    thread: Option<std::thread::JoinHandle<Result<Sorter>>>,
}

impl SortFeed {
    fn new(mut sorter: Sorter) -> Result<Self> {
        let partitioner = sorter.partitioner();
        let (to, records) = std::sync::mpsc::sync_channel::<Vec<(Key, u64)>>(4);
        let thread = std::thread::Builder::new()
            .name("pwdex-partition".into())
            .spawn(move || {
                for batch in records {
                    sorter.extend(&batch)?;
                }
                Ok(sorter)
            })
            .map_err(|e| {
                Error::Usage(format!(
                    "could not start a thread for the sort ({e}): the process or user thread \
                     limit may be too low"
                ))
            })?;
        Ok(SortFeed {
            partitioner,
            to: Some(to),
            thread: Some(thread),
        })
    }

    fn extend(&mut self, records: Vec<(Key, u64)>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let sent = self.to.as_ref().is_some_and(|to| to.send(records).is_ok());
        if sent {
            return Ok(());
        }
        // The thread stopped: on an error, which `finish` returns.
        self.to = None;
        match self.take_sorter() {
            Err(e) => Err(e),
            Ok(_) => Err(Error::Usage("the sort stopped taking records".into())),
        }
    }

    /// Waits for the records sent so far and returns the sorter.
    fn finish(mut self) -> Result<Sorter> {
        self.to = None;
        self.take_sorter()
    }

    fn take_sorter(&mut self) -> Result<Sorter> {
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| Error::Usage("the sort's partitioning thread panicked".into()))?,
            None => Err(Error::Usage(
                "the sort's partitioning thread has stopped".into(),
            )),
        }
    }
}

/// `chunk` with its records grouped for the sort (see [`Partitioner`]).
fn grouped(partitioner: Option<Partitioner>, mut chunk: ParsedChunk<'_>) -> ParsedChunk<'_> {
    if let Some(p) = partitioner {
        p.group(&mut chunk.records);
    }
    chunk
}

/// The sort path: every input through the external sort, then one merge.
fn build_by_sorting(inputs: &[Input], output: &Path, opts: &BuildOptions) -> Result<BuildSummary> {
    let total_size: Option<u64> = inputs.iter().map(|i| i.size()).sum();
    let mut state = SortState {
        kind: opts.kind,
        tmp_dir: opts.tmp_dir.clone().unwrap_or_else(|| out_dir(output)),
        memory_bytes: opts.memory_bytes,
        input_bytes: total_size,
        sort: None,
        skips: SkipLog::default(),
        duplicates: 0,
        progress: progress_bar(opts.progress, total_size, "reading", true),
    };
    let group_size = rayon::current_num_threads().max(1) * 2;
    let mut all_stats = Vec::new();

    for input in inputs {
        let display = input.display();
        let hasher = new_hasher();
        let mut stats = InputStats {
            path: display.display().to_string(),
            form: form_name(input.form).into(),
            bytes: input.size().unwrap_or(0),
            ..InputStats::default()
        };
        match input.form {
            InputForm::RangeDir => {
                let files = range_files(&input.path)?;
                match first_range_file_with_lines(&files)? {
                    Some((path, data)) => state.kind_from(&path, &data, true)?,
                    None => state.kind_from(&display, b"", true)?,
                };
                let settings = settings_for(state.kind.expect("kind known"), opts);
                let partitioner = state.partitioner();
                for group in files.chunks(64) {
                    let parsed: Vec<ParsedChunk> = group
                        .par_iter()
                        .map(|(prefix, path)| {
                            let piece = Piece::RangeFile {
                                source: 0,
                                prefix: *prefix,
                                path: path.clone(),
                            };
                            grouped(partitioner, parse_piece(settings, piece))
                        })
                        .collect();
                    let mut h = hasher.lock().expect("hasher lock");
                    for chunk in &parsed {
                        h.update(&chunk.data);
                    }
                    drop(h);
                    // Line numbers restart in every range file.
                    for ((_, path), chunk) in group.iter().zip(parsed) {
                        state.absorb(vec![chunk], &mut stats, path, 0)?;
                    }
                }
            }
            _ => {
                // Inputs are text: a byte-order mark is not part of the first
                // line (it was hashed into the first password of a plaintext
                // list, and made a dump's first hash 43 characters), and
                // UTF-16 with a mark is decoded as `check` decodes it. The
                // input's xxh3 is of the raw bytes, mark and all.
                let raw = input.open_stream(hasher.clone())?;
                let stream: Box<dyn Read + Send> = Box::new(
                    crate::queries::Decoded::new(raw).map_err(|e| Error::io(&display, e))?,
                );
                let block_bytes = (opts.chunk_bytes.max(1) * group_size).max(1 << 16);
                let mut blocks = LineChunks::new(stream, block_bytes);
                let mut current = blocks
                    .next()
                    .transpose()
                    .map_err(|e| Error::io(&display, e))?;
                while let Some(block) = current.take() {
                    let kind = state.kind_from(&display, &block, false)?;
                    let settings = settings_for(kind, opts);
                    let partitioner = state.partitioner();
                    // Parse this block while the next one is read (reading
                    // first left both workers idle for the read).
                    let (parsed, next) = rayon::join(
                        || -> Vec<ParsedChunk> {
                            split_chunks(&block, opts.chunk_bytes.max(1))
                                .into_par_iter()
                                .map(|c| {
                                    let piece = Piece::Borrowed { source: 0, data: c };
                                    grouped(partitioner, parse_piece(settings, piece))
                                })
                                .collect()
                        },
                        || blocks.next().transpose(),
                    );
                    let base = stats.lines;
                    state.absorb(parsed, &mut stats, &display, base)?;
                    current = next.map_err(|e| Error::io(&display, e))?;
                }
                if input.form == InputForm::Stdin {
                    stats.bytes = 0;
                }
            }
        }
        stats.xxh3 = format!("{:016x}", hasher.lock().expect("hasher lock").digest());
        all_stats.push(stats);
    }
    if let Some(p) = &state.progress {
        p.finish_and_clear();
    }
    let kind = state.kind.unwrap_or(HashKind::Sha1);
    let sorter = match state.sort.take() {
        Some(feed) => feed.finish()?,
        None => Sorter::new(kind, &state.tmp_dir, state.memory_bytes),
    };
    let (mut sorted, input) = sorter.finish()?;
    let mut hist = input.count_hist;
    if hist.iter().all(|&h| h == 0) {
        hist[1] = 1;
    }
    let planned = opts.records_hint.unwrap_or(input.distinct);
    let layout = plan_layout(kind, planned, &hist, opts)?;
    let mut writer = IndexWriter::create(output, layout)?;
    let progress = progress_bar(opts.progress, Some(input.distinct), "merging", false);
    // One thread takes the sorted partitions and fills the filter (a
    // partition at a time, each filter block's bits merged once); this one
    // packs. Both in one thread, with a key at a time into the filter, made
    // the merge the longest phase of an unsorted build (filter inserts were
    // 34% of its profile). Partitions go to the packer whole: copying them
    // into batches first was 0.6 s of a 100M-record build's CPU.
    let filter = writer.share_filter();
    let n = std::thread::scope(|scope| -> Result<u64> {
        // One partition waiting: they can be large (up to a quarter of the
        // memory budget each).
        let (to_packer, batches) = std::sync::mpsc::sync_channel::<Vec<(Key, u64)>>(1);
        // Packed partitions go back to the sort for reuse: fresh memory is
        // slow to fault in.
        let (to_merger, spent) = std::sync::mpsc::channel::<Vec<(Key, u64)>>();
        let merging = scope.spawn(move || -> Result<()> {
            while let Some(batch) = sorted.next_batch()? {
                for b in spent.try_iter() {
                    sorted.recycle(b);
                }
                filter.insert_many(batch.iter().map(|r| &r.0));
                if to_packer.send(batch).is_err() {
                    break; // the packer stopped on an error
                }
            }
            Ok(())
        });
        let mut n = 0u64;
        for batch in batches {
            writer.push_many(&batch)?;
            n += batch.len() as u64;
            let _ = to_merger.send(batch);
            check_interrupt()?;
            if let Some(p) = &progress {
                p.set_position(n);
            }
        }
        merging
            .join()
            .expect("the sorted-record reader does not panic")?;
        Ok(n)
    })?;
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    let duplicates = state.duplicates + input.taken.saturating_sub(n);
    finish(
        writer,
        kind,
        opts,
        all_stats,
        duplicates,
        std::mem::take(&mut state.skips),
        true,
    )
}

fn settings_for(kind: HashKind, opts: &BuildOptions) -> ParseSettings<'static> {
    ParseSettings {
        filter: None,
        kind,
        plaintext: opts.from_plaintext,
        check_order: false,
        skip_malformed: opts.skip_malformed,
    }
}

/// Reads until `buf` is full or the stream ends.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_end_on_line_boundaries_and_cover_everything() {
        let data = b"aaaa\nbb\ncccccc\nd\n\ne";
        for size in 1..data.len() + 2 {
            let chunks = split_chunks(data, size);
            assert_eq!(chunks.concat(), data.to_vec());
            for c in &chunks[..chunks.len() - 1] {
                assert_eq!(*c.last().unwrap(), b'\n');
            }
        }
    }

    #[test]
    fn range_lines() {
        let k = HashKind::Sha1;
        let r = parse_range_line(
            k,
            0x5BAA6,
            b"1E4C9B93F3F0682250B6CF8331B7EE68FD8:10434004\r",
        )
        .unwrap();
        assert_eq!(r.key.to_hex(k), "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8");
        assert_eq!(r.count, 10434004);
        assert_eq!(
            parse_range_line(k, 0x5BAA6, b"1E4C9B93F3F0682250B6CF8331B7EE68FD8:1,234")
                .unwrap()
                .count,
            1234
        );
        assert!(
            parse_range_line(k, 0, b"ABC:1")
                .unwrap_err()
                .contains("expected 35")
        );
        let n = HashKind::Ntlm;
        let r = parse_range_line(n, 0x8846F, b"7EAEE8FB117AD06BDD830B7586C:2").unwrap();
        assert_eq!(r.key.to_hex(n), "8846F7EAEE8FB117AD06BDD830B7586C");
    }
}
