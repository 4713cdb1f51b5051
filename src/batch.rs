/*!
The batch engine behind `pwdex check`: many queries in, one record per
query out, in input order, on all cores, in bounded memory.

A [`Checker`] holds one or more indexes (in `-i` order) and the settings;
[`Checker::check`] runs one input through it. [`check_stream`] is the
one-index, hash-lines, text-output shorthand.

# Pipeline

Line formats (`hash`, `pwdump`, `plain`; see [`crate::queries`]) are read in
blocks of [`BLOCK_BYTES`] cut at line boundaries. Each block is split into
slices that rayon processes in parallel; each slice parses its lines, looks
them up in groups of [`GROUP`] with [`Index::get_many`] (software
prefetching, so many cache misses are in flight at once instead of one per
query), and formats its own output buffer. Buffers are written in order, so
output order is input order whatever the thread count.

Reading and writing overlap the lookups: the calling thread reads blocks
into their own buffers and writes finished results, while a worker thread
hands each block to rayon; at most two blocks are in flight, so memory is
bounded by the block size, not the batch size. A read error stops the
reading; blocks read before it are still written, then the error is
returned. The line parser is a type parameter,
so each format gets its own loop and bare hashes pay nothing for the others;
records are written by one loop per output format for the same reason.

pwdump parsing has a little state (which secretsdump section a line is in);
before a block is handed out, a sequential scan of its status lines gives
each slice its starting state.

CSV is read record by record with the `csv` crate (fields may hold quoted
line breaks, so a block cannot be cut at any `\n`), [`CSV_RECORDS`] records
per round, and the records are then processed in parallel chunks exactly
like slices.

# Several indexes

A key is looked up in the first index, then the keys still missing in the
second, and so on: the first index (in `-i` order) holding the hash supplies
the count and is named in the record. `--min-count` applies to that count.

# Statistics

Counters are summed per slice. Distinct and shared hashes: see
[`crate::report`] (a fixed-size sketch for all queries, an exact map only
for account-bearing queries).
*/

use std::io::{Read, Write};
use std::path::Path;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::hash::{HashKind, Key};
use crate::index::Index;
use crate::queries::{
    CsvColumns, CsvLayout, HashLines, InputFormat, LineParser, Parsed, PlainLines, PwdumpLines,
    Query, decode_input, detect,
};
use crate::report::{DistinctSketch, OutputFormat, RecordWriter, Tally, Verdict, fingerprint};

/// Bytes of input handled per parallel round.
///
/// 4 MiB rather than 8: less fresh memory to fault in for blocks and their
/// output, with two blocks in flight. `farm-bench` A/B against 8 MiB: 0.94x
/// the wall time and CPU for 10M queries against 20M records (8 pairs),
/// 0.98x for 1M against 5M (40 pairs); 2 MiB was slower (1.13x, 1.23x).
pub const BLOCK_BYTES: usize = 4 << 20;
/// Bytes per parallel slice of a block.
const SLICE_BYTES: usize = 256 << 10;
/// Queries parsed, then looked up together (see [`Index::get_many`]).
pub const GROUP: usize = 256;
/// CSV records read per parallel round.
pub const CSV_RECORDS: usize = 64 << 10;
/// CSV records per parallel task.
const CSV_CHUNK: usize = 2048;

/// Which records `check` prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputMode {
    /// Only queries found in an index (with a count of at least `--min-count`).
    #[default]
    Found,
    /// Every query; text prints count 0 when not found.
    All,
}

/// Counters for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckStats {
    /// Lines read (including blank, skipped and malformed ones); for CSV,
    /// records, the header row included.
    pub lines: u64,
    /// Hashes looked up.
    pub checked: u64,
    /// Hashes found (in an index, with a count of at least `--min-count`).
    pub found: u64,
    /// Lines that were not a valid query.
    pub malformed: u64,
    /// Blank lines (not queries; counted, not reported).
    pub blank: u64,
    /// Lines recognised as holding no query (secretsdump banner, status
    /// lines, Kerberos keys, secrets, …).
    pub skipped: u64,
    /// Queries that carry an account, password-history entries excluded.
    pub accounts: u64,
    /// Of those, found.
    pub accounts_found: u64,
    /// pwdump password-history entries.
    pub history: u64,
    /// Of those, found.
    pub history_found: u64,
    /// Hashes in an index with a count below `--min-count` (not found).
    pub below_min_count: u64,
}

impl CheckStats {
    /// Adds `o`'s counters to `self`.
    pub fn add(&mut self, o: &CheckStats) {
        self.lines += o.lines;
        self.checked += o.checked;
        self.found += o.found;
        self.malformed += o.malformed;
        self.blank += o.blank;
        self.skipped += o.skipped;
        self.accounts += o.accounts;
        self.accounts_found += o.accounts_found;
        self.history += o.history;
        self.history_found += o.history_found;
        self.below_min_count += o.below_min_count;
    }
}

/// A malformed input line, for the report on stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    pub line: u64,
    pub reason: String,
}

/// Settings of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    pub input: InputFormat,
    pub output: OutputFormat,
    /// `None`: only found for text, all for CSV and JSON Lines.
    pub mode: Option<OutputMode>,
    /// A hash is found only with a count of at least this (0 acts as 1).
    pub min_count: u64,
    /// Print plaintexts (plain input, CSV plaintext column) in the records.
    pub show_plaintext: bool,
    /// Columns of CSV input.
    pub csv: CsvColumns,
    /// Gather distinct/shared-hash statistics (a few ns per query).
    pub statistics: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            input: InputFormat::Auto,
            output: OutputFormat::Text,
            mode: None,
            min_count: 1,
            show_plaintext: false,
            csv: CsvColumns::default(),
            statistics: true,
        }
    }
}

impl CheckOptions {
    /// The output mode, after the per-format default.
    pub fn mode(&self) -> OutputMode {
        self.mode.unwrap_or(match self.output {
            OutputFormat::Text => OutputMode::Found,
            OutputFormat::Csv | OutputFormat::Jsonl => OutputMode::All,
        })
    }
}

/// Checks inputs against one or more indexes, accumulating the summary.
pub struct Checker<'i, D> {
    indexes: Vec<&'i Index<D>>,
    names: Vec<String>,
    kind: HashKind,
    opts: CheckOptions,
    writer: RecordWriter,
    header_written: bool,
    tally: Tally,
    /// Output buffers of finished slices, reused by the next block: fresh
    /// allocations of this size came back from the kernel zero-filled every
    /// block (`clear_page_erms` was 24% of a 1M-query profile).
    out_pool: std::sync::Mutex<Vec<Vec<u8>>>,
}

/// What the parallel workers share: settings and indexes, no mutable state.
struct Engine<'c, D> {
    indexes: &'c [&'c Index<D>],
    writer: &'c RecordWriter,
    min_count: u64,
    mode: OutputMode,
    statistics: bool,
    out_pool: &'c std::sync::Mutex<Vec<Vec<u8>>>,
}

impl<'i, D: AsRef<[u8]> + Sync> Checker<'i, D> {
    /// A checker against `indexes` (each with the name used in records and
    /// messages), in the order matches are looked for. All indexes must hold
    /// one hash kind, and the kind the input format needs, if it needs one.
    pub fn new(indexes: Vec<(&'i Index<D>, String)>, opts: CheckOptions) -> Result<Self> {
        let Some(first) = indexes.first() else {
            return Err(Error::Usage(
                "check needs at least one index (-i INDEX)".into(),
            ));
        };
        let kind = first.0.kind();
        if let Some((index, name)) = indexes.iter().find(|(i, _)| i.kind() != kind) {
            return Err(Error::Usage(format!(
                "index {name} holds {} hashes but index {} holds {kind} hashes; all indexes \
                 given with -i must be of one kind (check SHA-1 and NTLM inputs separately)",
                index.kind(),
                first.1
            )));
        }
        if opts.csv.any() && !matches!(opts.input, InputFormat::Csv) {
            return Err(Error::Usage(format!(
                "--column, --plaintext-column and --id-column need --input-format csv (not {})",
                opts.input
            )));
        }
        let names: Vec<String> = indexes.iter().map(|(_, n)| n.clone()).collect();
        let writer = RecordWriter::new(opts.output, kind, &names, opts.show_plaintext);
        let checker = Checker {
            indexes: indexes.iter().map(|(i, _)| *i).collect(),
            tally: Tally {
                found_by_index: vec![0; names.len()],
                ..Tally::default()
            },
            names,
            kind,
            opts,
            writer,
            header_written: false,
            out_pool: std::sync::Mutex::new(Vec::new()),
        };
        if checker.opts.input != InputFormat::Auto {
            checker.require_kind(checker.opts.input)?;
        }
        Ok(checker)
    }

    /// The hash kind of the indexes.
    pub fn kind(&self) -> HashKind {
        self.kind
    }

    /// Everything counted so far.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Fails, naming the index, when `format` needs a kind an index lacks.
    fn require_kind(&self, format: InputFormat) -> Result<()> {
        let Some(need) = format.required_kind() else {
            return Ok(());
        };
        for (index, name) in self.indexes.iter().zip(&self.names) {
            if index.kind() != need {
                return Err(Error::Usage(format!(
                    "{format} input holds NT hashes, but index {name} holds {} hashes; check it \
                     against an index built from the Pwned Passwords NTLM download",
                    index.kind()
                )));
            }
        }
        Ok(())
    }

    fn engine(&self) -> Engine<'_, D> {
        Engine::new(&self.indexes, &self.writer, &self.opts, &self.out_pool)
    }

    /// Checks every query of `input` (named `name` in messages), writing
    /// records to `out` and calling `on_malformed` for each bad line.
    /// Returns this input's counters.
    pub fn check<R: Read, W: Write>(
        &mut self,
        input: R,
        name: &Path,
        out: &mut W,
        on_malformed: &mut dyn FnMut(&Malformed),
    ) -> Result<CheckStats> {
        self.run_input(out, |checker, out, file| {
            let input = decode_input(input).map_err(|e| Error::io(name, e))?;
            match checker.opts.input {
                InputFormat::Csv => checker.check_csv(input, name, out, on_malformed, file),
                format => {
                    let source = BlockReader::new(input);
                    checker.check_blocks(source, name, format, out, on_malformed, file)
                }
            }
        })
    }

    /// Writes the output's header before the first input, runs `body` on
    /// one input's counters, and adds them to the tally (also on an error:
    /// the lines before it were written).
    fn run_input<W: Write>(
        &mut self,
        out: &mut W,
        body: impl FnOnce(&mut Self, &mut W, &mut CheckStats) -> Result<()>,
    ) -> Result<CheckStats> {
        if !self.header_written {
            self.header_written = true;
            out.write_all(&self.writer.header())
                .map_err(|e| Error::io("<stdout>", e))?;
        }
        let mut file = CheckStats::default();
        let result = body(self, out, &mut file);
        self.tally.stats.add(&file);
        result.map(|()| file)
    }

    /// Checks every query of a regular file, like [`Checker::check`], but
    /// reads a file of lines through a memory map instead of copying it into
    /// block buffers: no copy, and no fresh memory for the blocks. Other
    /// inputs (CSV, UTF-16, empty files, anything that cannot be mapped) go
    /// through [`Checker::check`]. (0.92x the wall time of a 1M-query
    /// check; BENCHMARKS.md has the figures.)
    pub fn check_file<W: Write>(
        &mut self,
        input: &std::fs::File,
        name: &Path,
        out: &mut W,
        on_malformed: &mut dyn FnMut(&Malformed),
    ) -> Result<CheckStats> {
        let mappable = matches!(input.metadata(), Ok(m) if m.is_file() && m.len() > 0);
        if !mappable || matches!(self.opts.input, InputFormat::Csv) {
            return self.check(input, name, out, on_malformed);
        }
        // SAFETY: the map is only read, and pwdex never writes to its input.
        // Another process may: as with the index (and as ripgrep accepts
        // for the files it searches), a file truncated while it is being
        // checked ends the process with SIGBUS, and bytes changed under the
        // map break the promise of a `&[u8]` that they stay put (formally
        // undefined behaviour; in practice the queries read are a mix of
        // old and new lines). `--no-mmap` reads such files with `read`.
        let map = match unsafe { memmap2::Mmap::map(input) } {
            Ok(map) => map,
            Err(_) => return self.check(input, name, out, on_malformed),
        };
        let (bom, skip) = crate::queries::Bom::of(&map);
        if !matches!(bom, crate::queries::Bom::None | crate::queries::Bom::Utf8) {
            return self.check(input, name, out, on_malformed);
        }
        let _ = map.advise(memmap2::Advice::Sequential);
        let source = MappedBlocks {
            map: &map,
            pos: skip,
            page: page_size(),
        };
        self.run_input(out, |checker, out, file| {
            let format = checker.opts.input;
            checker.check_blocks(source, name, format, out, on_malformed, file)
        })
    }

    /// The pipeline behind [`Checker::check`] and [`Checker::check_file`]:
    /// blocks of whole lines from `source`, looked up in parallel on a
    /// worker, written in order here.
    fn check_blocks<S: BlockSource, W: Write>(
        &mut self,
        mut source: S,
        name: &Path,
        format: InputFormat,
        out: &mut W,
        on_malformed: &mut dyn FnMut(&Malformed),
        file: &mut CheckStats,
    ) -> Result<()> {
        let too_long = |file: &mut CheckStats, on_malformed: &mut dyn FnMut(&Malformed)| {
            file.lines += 1;
            file.malformed += 1;
            on_malformed(&Malformed {
                line: file.lines,
                reason: format!("line longer than {BLOCK_BYTES} bytes"),
            });
        };
        // The format is detected from the first block of whole lines.
        let first = loop {
            match source.next_block(name, None)? {
                Block::TooLong => too_long(file, on_malformed),
                block => break block,
            }
        };
        let start: &[u8] = match &first {
            Block::Lines(block) => block,
            Block::TooLong | Block::End => b"",
        };
        let parser = self.start_input(name, format, start)?;
        if matches!(first, Block::End) {
            return Ok(());
        }
        // Built from the fields, not with `self.engine()`: the tally is
        // updated while the engine is in use.
        let engine = Engine::new(&self.indexes, &self.writer, &self.opts, &self.out_pool);
        let tally = &mut self.tally;
        let pool = &self.out_pool;
        std::thread::scope(|scope| {
            // Blocks go to the worker in input order and come back, with
            // their results, in the same order.
            let (to_worker, blocks) = std::sync::mpsc::sync_channel::<Block<S::Buf>>(1);
            let (to_main, done) = std::sync::mpsc::sync_channel::<(Block<S::Buf>, SliceResults)>(1);
            let engine = &engine;
            scope.spawn(move || {
                let mut parser = parser;
                for block in blocks {
                    let results = match (&block, &mut parser) {
                        (Block::Lines(b), AnyLineParser::Hash(p)) => engine.run_block(p, b),
                        (Block::Lines(b), AnyLineParser::Pwdump(p)) => engine.run_block(p, b),
                        (Block::Lines(b), AnyLineParser::Plain(p)) => engine.run_block(p, b),
                        _ => Vec::new(),
                    };
                    if to_main.send((block, results)).is_err() {
                        break; // the main thread stopped on an error
                    }
                }
            });
            // The main thread reads and writes while the worker (and rayon's
            // threads) look up: up to two blocks are in flight. A read error
            // stops the reading; the blocks read before it are still
            // written, then the error is returned.
            let mut next = Some(first);
            let mut in_flight = 0;
            let mut spare = None;
            let mut read_error = None;
            loop {
                while in_flight < 2 && read_error.is_none() {
                    let block = match next.take() {
                        Some(b) => b,
                        None => match source.next_block(name, spare.take()) {
                            Ok(b) => b,
                            Err(e) => {
                                read_error = Some(e);
                                break;
                            }
                        },
                    };
                    if matches!(block, Block::End) {
                        break;
                    }
                    to_worker
                        .send(block)
                        .expect("the check worker ends only when its queue closes");
                    in_flight += 1;
                }
                if in_flight == 0 {
                    return read_error.map_or(Ok(()), Err);
                }
                let (block, results) = done
                    .recv()
                    .expect("the check worker answers every block it takes");
                in_flight -= 1;
                match block {
                    Block::TooLong => too_long(file, on_malformed),
                    Block::Lines(buffer) => {
                        // Slices in order, up to the first that failed.
                        for result in results {
                            let base = file.lines;
                            let spent = merge(tally, file, result?, base, out, on_malformed)?;
                            if let Ok(mut pool) = pool.lock() {
                                pool.push(spent);
                            }
                        }
                        spare = Some(buffer);
                    }
                    Block::End => {}
                }
            }
        })
    }

    /// Resolves the input's format (detecting it from `start` if asked),
    /// checks the indexes suit it, and notes it for the summary.
    fn start_input(
        &mut self,
        name: &Path,
        format: InputFormat,
        start: &[u8],
    ) -> Result<AnyLineParser> {
        let (format, detected) = match format {
            InputFormat::Auto => (detect(start), true),
            f => (f, false),
        };
        self.require_kind(format)?;
        self.tally
            .inputs
            .push((name.display().to_string(), format, detected));
        Ok(match format {
            InputFormat::Pwdump => AnyLineParser::Pwdump(PwdumpLines::default()),
            InputFormat::Plain => AnyLineParser::Plain(PlainLines { kind: self.kind }),
            _ => AnyLineParser::Hash(HashLines { kind: self.kind }),
        })
    }

    fn check_csv<R: Read, W: Write>(
        &mut self,
        input: R,
        name: &Path,
        out: &mut W,
        on_malformed: &mut dyn FnMut(&Malformed),
        file: &mut CheckStats,
    ) -> Result<()> {
        self.tally
            .inputs
            .push((name.display().to_string(), InputFormat::Csv, false));
        let csv_error = |e: csv::Error| match e.into_kind() {
            csv::ErrorKind::Io(e) => Error::io(name, e),
            other => Error::Usage(format!("{}: CSV error: {other:?}", name.display())),
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(LineCounter::new(input));
        let mut header = csv::ByteRecord::new();
        if !reader.read_byte_record(&mut header).map_err(csv_error)? {
            return Ok(()); // empty input
        }
        file.lines += 1;
        let fields: Vec<&[u8]> = header.iter().collect();
        let layout = CsvLayout::from_header(&fields, &self.opts.csv, name)?;
        let mut eof = false;
        while !eof {
            let mut records: Vec<CsvRecord> = Vec::new();
            let mut bytes = 0;
            while records.len() < CSV_RECORDS && bytes < BLOCK_BYTES {
                let mut record = csv::ByteRecord::new();
                if !reader.read_byte_record(&mut record).map_err(csv_error)? {
                    eof = true;
                    break;
                }
                bytes += record.as_slice().len() + record.len();
                // Line numbers from the line ends read before the record and
                // before the next one: csv-core's own count misses a quoted
                // field's line breaks and is one off after a CRLF.
                let start = record.position().map_or(0, |p| p.byte());
                let next = reader.position().byte();
                let counter = reader.get_mut();
                let first_line = counter.line_starting_at(start);
                let last_line = counter.line_of_byte(next.saturating_sub(1)).max(first_line);
                if let Some(mut pos) = record.position().cloned() {
                    pos.set_line(first_line);
                    record.set_position(Some(pos));
                }
                records.push(CsvRecord {
                    record,
                    first_line,
                    last_line,
                });
            }
            let engine = self.engine();
            let results: Vec<Result<SliceResult>> = records
                .par_chunks(CSV_CHUNK)
                .map(|chunk| engine.check_records(&layout, chunk))
                .collect();
            for result in results {
                // Record line numbers are absolute already.
                merge(&mut self.tally, file, result?, 0, out, on_malformed)?;
            }
        }
        Ok(())
    }
}

/// A CSV record and the lines it was read from (1-based, inclusive).
struct CsvRecord {
    record: csv::ByteRecord,
    first_line: u64,
    last_line: u64,
}

/// Passes a CSV input through, noting where its lines end (at `\n`, and at
/// a `\r` not followed by one, as CSV's record ends go) and which lines are
/// empty, so that a record can be given its lines from byte offsets. Offsets
/// are asked for in increasing order and only the line ends the CSV reader
/// has buffered but not yet handed out are kept.
struct LineCounter<R> {
    inner: R,
    offset: u64,
    /// Line ends (the offset of their last byte), and whether the line
    /// they end is empty.
    ends: std::collections::VecDeque<(u64, bool)>,
    /// Where the last line end was (-1 before the first line).
    last_end: i64,
    /// A `\r` that ended the last read: a line end unless a `\n` follows.
    pending_cr: Option<u64>,
    /// Whether the last read ended with a `\r`.
    after_cr: bool,
    lines_before: u64,
}

impl<R: Read> LineCounter<R> {
    fn new(inner: R) -> Self {
        LineCounter {
            inner,
            offset: 0,
            ends: Default::default(),
            last_end: -1,
            pending_cr: None,
            after_cr: false,
            lines_before: 0,
        }
    }

    /// The line (1-based) a record starting at byte `start` starts on. The
    /// CSV reader gives a record the offset where the one before it ended:
    /// at the `\n` of a `\r\n` it ended at the `\r` of, or before empty
    /// lines it then passed over. Both are before the record's first line.
    fn line_starting_at(&mut self, start: u64) -> u64 {
        while let Some(&(end, empty)) = self.ends.front() {
            if end > start && !empty {
                break;
            }
            self.ends.pop_front();
            self.lines_before += 1;
        }
        self.lines_before + 1
    }

    /// The line (1-based) that the byte at `offset` is on (a line's end is
    /// on it), for an `offset` at or after the last one asked about.
    fn line_of_byte(&self, offset: u64) -> u64 {
        let more = self
            .ends
            .iter()
            .take_while(|&&(end, _)| end < offset)
            .count();
        self.lines_before + more as u64 + 1
    }

    /// Notes a line end whose terminator is `len` bytes and ends at `end`.
    fn push_end(&mut self, end: u64, len: u64) {
        let empty = end as i64 - len as i64 == self.last_end;
        self.ends.push_back((end, empty));
        self.last_end = end as i64;
    }
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let data = &buf[..n];
        if let Some(cr) = self.pending_cr.take()
            && data.first() != Some(&b'\n')
        {
            self.push_end(cr, 1);
        }
        for at in memchr::memchr2_iter(b'\n', b'\r', data) {
            let end = self.offset + at as u64;
            if data[at] == b'\n' {
                let after_cr = if at == 0 {
                    self.after_cr
                } else {
                    data[at - 1] == b'\r'
                };
                self.push_end(end, if after_cr { 2 } else { 1 });
            } else if at + 1 == n {
                self.pending_cr = Some(end);
            } else if data[at + 1] != b'\n' {
                self.push_end(end, 1);
            }
        }
        if n > 0 {
            self.after_cr = data[n - 1] == b'\r';
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// The parser chosen for an input.
enum AnyLineParser {
    Hash(HashLines),
    Pwdump(PwdumpLines),
    Plain(PlainLines),
}

/// Adds one slice's results, in input order; returns the spent output buffer.
fn merge<W: Write>(
    tally: &mut Tally,
    file: &mut CheckStats,
    res: SliceResult,
    line_base: u64,
    out: &mut W,
    on_malformed: &mut dyn FnMut(&Malformed),
) -> Result<Vec<u8>> {
    for m in res.malformed {
        on_malformed(&Malformed {
            line: line_base + m.line,
            reason: m.reason,
        });
    }
    file.add(&res.stats);
    for (total, n) in tally.found_by_index.iter_mut().zip(&res.found_by_index) {
        *total += n;
    }
    if let Some(sketch) = &res.sketch {
        tally.sketch.merge(sketch);
    }
    for &(fp, current) in &res.accounts {
        tally.sharing.add(fp, current);
    }
    out.write_all(&res.out)
        .map_err(|e| Error::io("<stdout>", e))?;
    Ok(res.out)
}

/// The results of a block's slices, in order.
type SliceResults = Vec<Result<SliceResult>>;

/// What one slice (or chunk of CSV records) produced.
struct SliceResult {
    out: Vec<u8>,
    stats: CheckStats,
    malformed: Vec<Malformed>,
    found_by_index: Vec<u64>,
    sketch: Option<DistinctSketch>,
    /// Fingerprints of account-bearing queries, and whether each is a
    /// current account (not a history entry).
    accounts: Vec<(u64, bool)>,
}

/// Buffers reused across the lookup groups of a slice.
struct Scratch {
    /// Counts of a group's keys, 0 for those not found.
    counts: Vec<u64>,
    which: Vec<usize>,
    miss_at: Vec<usize>,
    miss_keys: Vec<Key>,
    miss_counts: Vec<u64>,
    /// Positions in a group of the records to write.
    picked: Vec<u32>,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            counts: Vec::with_capacity(GROUP),
            which: Vec::with_capacity(GROUP),
            miss_at: Vec::new(),
            miss_keys: Vec::new(),
            miss_counts: Vec::new(),
            picked: Vec::with_capacity(GROUP),
        }
    }
}

/// Queries awaiting lookup, stored by column: the keys (all a lookup reads)
/// apart from the rest of the queries that carry more than a key. Bare
/// hashes then move 24 bytes each through the group, not a whole [`Query`]:
/// with whole queries, the lookups evicted them from L1 before their records
/// were written (one more L1 miss per query, 2-3% slower on 1M queries).
struct Group<'a> {
    keys: Vec<Key>,
    /// `(position in keys, query)` for queries with an account, a plaintext
    /// or pwdump details, in order.
    extras: Vec<(usize, Query<'a>)>,
}

impl<'a> Group<'a> {
    fn new() -> Self {
        Group {
            keys: Vec::with_capacity(GROUP),
            extras: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, q: Query<'a>) {
        if q.account.is_some() || q.plaintext.is_some() || q.pwdump.is_some() {
            self.extras.push((self.keys.len(), q));
        }
        self.keys.push(q.key);
    }

    #[inline]
    fn is_full(&self) -> bool {
        self.keys.len() == GROUP
    }

    fn clear(&mut self) {
        self.keys.clear();
        self.extras.clear();
    }
}

impl<'c, D: AsRef<[u8]> + Sync> Engine<'c, D> {
    fn new(
        indexes: &'c [&'c Index<D>],
        writer: &'c RecordWriter,
        opts: &CheckOptions,
        out_pool: &'c std::sync::Mutex<Vec<Vec<u8>>>,
    ) -> Self {
        Engine {
            indexes,
            writer,
            min_count: opts.min_count.max(1),
            mode: opts.mode(),
            statistics: opts.statistics,
            out_pool,
        }
    }

    /// Processes one block of whole lines in parallel slices; `parser` is
    /// the state at the block's start and becomes the state at its end.
    /// Returns the slices' results in order.
    fn run_block<P: LineParser>(&self, parser: &mut P, block: &[u8]) -> SliceResults {
        let slices = split_slices(block, SLICE_BYTES);
        let mut starts = Vec::with_capacity(slices.len());
        for s in &slices {
            let next = parser.after(s);
            starts.push(std::mem::replace(parser, next));
        }
        slices
            .par_iter()
            .zip(starts.into_par_iter())
            .map(|(s, p)| self.check_lines(p, s))
            .collect()
    }

    fn new_result(&self, input_bytes: usize) -> SliceResult {
        let mut out = self
            .out_pool
            .lock()
            .map(|mut p| p.pop())
            .ok()
            .flatten()
            .unwrap_or_default();
        out.clear();
        // Room for a record per input line: a smaller guess made found-only
        // buffers grow (and copy) on first use.
        out.reserve(input_bytes + input_bytes / 4);
        SliceResult {
            out,
            stats: CheckStats::default(),
            malformed: Vec::new(),
            found_by_index: vec![0; self.indexes.len()],
            sketch: self.statistics.then(DistinctSketch::default),
            accounts: Vec::new(),
        }
    }

    /// Parses, looks up and formats one slice of whole lines.
    fn check_lines<P: LineParser>(&self, parser: P, slice: &[u8]) -> Result<SliceResult> {
        #[cfg(target_arch = "x86_64")]
        if crate::cpu::has_v3() {
            // SAFETY: `has_v3` found every feature the function is built for.
            return unsafe { self.check_lines_v3(parser, slice) };
        }
        self.check_lines_body(parser, slice)
    }

    /// [`Engine::check_lines`] built for x86-64-v3 CPUs (see [`crate::cpu`]).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,popcnt,lzcnt")]
    fn check_lines_v3<P: LineParser>(&self, parser: P, slice: &[u8]) -> Result<SliceResult> {
        self.check_lines_body(parser, slice)
    }

    #[inline(always)]
    fn check_lines_body<P: LineParser>(&self, mut parser: P, slice: &[u8]) -> Result<SliceResult> {
        let mut res = self.new_result(slice.len());
        let mut scratch = Scratch::new();
        let mut group = Group::new();
        let mut rest = slice;
        let kind = self.writer_kind();
        while !rest.is_empty() {
            // The input a line at a time, 2 KiB (about 50 lines) ahead: each
            // group's lookups flood the caches and the hardware prefetcher
            // loses the stream, so the first read of a line missed (half of
            // the parse loop's samples). A burst of prefetches for the whole
            // next group stalled on the fill buffers instead; 1 or 4 KiB
            // ahead measured the same. With `parse_hex_key` inlined: 0.91x
            // wall and CPU for 10M queries / 20M records.
            crate::index::prefetch(rest.as_ptr().wrapping_add(2048));
            // Most hash-list lines are one bare hash and its line end: take
            // those without searching for the `\n` first (the search was 4%
            // of a 1M-query check). A hex digit is never a line end, so a
            // hash followed by one is exactly one line.
            if P::BARE_HASH_LINES
                && let Some((key, len)) = bare_hash_line(kind, rest)
            {
                rest = &rest[len..];
                res.stats.lines += 1;
                // Straight into the group: a bare hash has no extras, and
                // passing a whole `Parsed` query to `take` copied it twice.
                group.keys.push(key);
                if group.is_full() {
                    self.resolve(&group, &mut scratch, &mut res)?;
                    group.clear();
                }
                continue;
            }
            let (line, tail) = match memchr::memchr(b'\n', rest) {
                Some(p) => (&rest[..p], &rest[p + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            rest = tail;
            res.stats.lines += 1;
            let line_no = res.stats.lines;
            self.take(
                parser.parse(line),
                line_no,
                &mut group,
                &mut scratch,
                &mut res,
            )?;
        }
        if !group.keys.is_empty() {
            self.resolve(&group, &mut scratch, &mut res)?;
        }
        Ok(res)
    }

    /// Parses, looks up and formats a chunk of CSV records.
    fn check_records(&self, layout: &CsvLayout, records: &[CsvRecord]) -> Result<SliceResult> {
        let kind = self.writer_kind();
        let mut res = self.new_result(records.iter().map(|r| r.record.as_slice().len() + 8).sum());
        let mut scratch = Scratch::new();
        let mut group = Group::new();
        for r in records {
            res.stats.lines += 1;
            let mut parsed = layout.parse(kind, &r.record);
            if r.last_line > r.first_line
                && let Err(reason) = &mut parsed
            {
                // A quote left open swallows the lines after it into one
                // record: say how many, so that none goes unnoticed.
                reason.push_str(&format!(
                    " (the record runs over lines {}-{}: a quote left open?)",
                    r.first_line, r.last_line
                ));
            }
            self.take(parsed, r.first_line, &mut group, &mut scratch, &mut res)?;
        }
        if !group.keys.is_empty() {
            self.resolve(&group, &mut scratch, &mut res)?;
        }
        Ok(res)
    }

    /// Routes one parsed line: a query joins the group (looked up when the
    /// group is full); anything else is counted, malformed lines reported at
    /// `line_no`.
    fn take<'a>(
        &self,
        parsed: std::result::Result<Parsed<'a>, String>,
        line_no: u64,
        group: &mut Group<'a>,
        scratch: &mut Scratch,
        res: &mut SliceResult,
    ) -> Result<()> {
        match parsed {
            Ok(Parsed::Query(q)) => {
                group.push(q);
                if group.is_full() {
                    self.resolve(group, scratch, res)?;
                    group.clear();
                }
            }
            Ok(Parsed::Blank) => res.stats.blank += 1,
            Ok(Parsed::Skipped(_)) => res.stats.skipped += 1,
            Err(reason) => {
                res.stats.malformed += 1;
                res.malformed.push(Malformed {
                    line: line_no,
                    reason,
                });
            }
        }
        Ok(())
    }

    fn writer_kind(&self) -> HashKind {
        self.indexes[0].kind()
    }

    /// Looks a group of queries up in the indexes (first holder wins) and
    /// emits their records.
    fn resolve(&self, group: &Group<'_>, sc: &mut Scratch, res: &mut SliceResult) -> Result<()> {
        #[cfg(target_arch = "x86_64")]
        if crate::cpu::has_v3() {
            // SAFETY: `has_v3` found every feature the function is built for.
            return unsafe { self.resolve_v3(group, sc, res) };
        }
        self.resolve_body(group, sc, res)
    }

    /// [`Engine::resolve`] built for x86-64-v3 CPUs (see [`crate::cpu`]).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,popcnt,lzcnt")]
    fn resolve_v3(&self, group: &Group<'_>, sc: &mut Scratch, res: &mut SliceResult) -> Result<()> {
        self.resolve_body(group, sc, res)
    }

    #[inline(always)]
    fn resolve_body(
        &self,
        group: &Group<'_>,
        sc: &mut Scratch,
        res: &mut SliceResult,
    ) -> Result<()> {
        sc.counts.clear();
        sc.counts.resize(group.keys.len(), 0);
        self.indexes[0].get_counts(&group.keys, &mut sc.counts)?;
        if self.indexes.len() > 1 {
            self.look_further(&group.keys, sc)?;
        }
        if let Some(sketch) = &mut res.sketch {
            for key in &group.keys {
                sketch.insert(fingerprint(key));
            }
            for (_, q) in &group.extras {
                if q.account.is_some() {
                    res.accounts.push((fingerprint(&q.key), !q.is_history()));
                }
            }
        }
        let which: &[usize] = if self.indexes.len() > 1 {
            &sc.which
        } else {
            &[]
        };
        // One loop per output format, so the format is not decided per record.
        let (counts, picked) = (&sc.counts, &mut sc.picked);
        match self.writer.format() {
            OutputFormat::Text => {
                self.emit(group, counts, which, picked, res, RecordWriter::write_text)
            }
            OutputFormat::Csv => {
                self.emit(group, counts, which, picked, res, RecordWriter::write_csv)
            }
            OutputFormat::Jsonl => {
                self.emit(group, counts, which, picked, res, RecordWriter::write_json)
            }
        }
        Ok(())
    }

    /// Looks the keys the first index lacks up in the next ones, in order,
    /// noting in `sc.which` which index holds each.
    fn look_further(&self, keys: &[Key], sc: &mut Scratch) -> Result<()> {
        sc.which.clear();
        sc.which.resize(keys.len(), 0);
        for (j, index) in self.indexes.iter().enumerate().skip(1) {
            sc.miss_at.clear();
            sc.miss_keys.clear();
            for (i, &c) in sc.counts.iter().enumerate() {
                if c == 0 {
                    sc.miss_at.push(i);
                    sc.miss_keys.push(keys[i]);
                }
            }
            if sc.miss_at.is_empty() {
                break;
            }
            sc.miss_counts.clear();
            sc.miss_counts.resize(sc.miss_keys.len(), 0);
            index.get_counts(&sc.miss_keys, &mut sc.miss_counts)?;
            for (&i, &c) in sc.miss_at.iter().zip(&sc.miss_counts) {
                if c != 0 {
                    sc.counts[i] = c;
                    sc.which[i] = j;
                }
            }
        }
        Ok(())
    }

    /// Counts the verdicts of a group and writes its records with `write`.
    /// `which[i]` is the index holding query `i` (empty: the first).
    #[inline(always)]
    fn emit<F>(
        &self,
        group: &Group<'_>,
        counts: &[u64],
        which: &[usize],
        picked: &mut Vec<u32>,
        res: &mut SliceResult,
        write: F,
    ) where
        F: Fn(&RecordWriter, &mut Vec<u8>, &Query<'_>, Verdict),
    {
        let s = &mut res.stats;
        if group.extras.is_empty() && which.is_empty() {
            // Bare hashes against one index (the bulk of a large batch). The
            // found verdict is a coin toss for a half-present batch, so the
            // records to write are picked without a branch on it, then
            // written in a second loop: branching on it per query cost a
            // mispredicted branch every other query (callgrind
            // --branch-sim: 250K of 930K for 500K queries).
            let all = self.mode == OutputMode::All;
            picked.clear();
            picked.resize(counts.len(), 0);
            let (mut n_picked, mut found_n, mut present_n) = (0, 0u64, 0u64);
            for (i, &count) in counts.iter().enumerate() {
                // `min_count` is at least 1, so 0 (not found) is never found.
                let found = count >= self.min_count;
                present_n += (count != 0) as u64;
                found_n += found as u64;
                picked[n_picked] = i as u32;
                n_picked += (found | all) as usize;
            }
            s.checked += counts.len() as u64;
            s.found += found_n;
            s.below_min_count += present_n - found_n;
            res.found_by_index[0] += found_n;
            for &i in &picked[..n_picked] {
                let count = counts[i as usize];
                let verdict = Verdict {
                    count: (count != 0).then_some(count),
                    index: 0,
                    found: count >= self.min_count,
                };
                write(
                    self.writer,
                    &mut res.out,
                    &Query::hash(group.keys[i as usize]),
                    verdict,
                );
            }
            return;
        }
        let mut extras = group.extras.iter().peekable();
        for (i, (key, &count)) in group.keys.iter().zip(counts).enumerate() {
            let count = (count != 0).then_some(count);
            let q = match extras.next_if(|(at, _)| *at == i) {
                Some((_, q)) => *q,
                None => Query::hash(*key),
            };
            let index = if which.is_empty() { 0 } else { which[i] };
            s.checked += 1;
            let found = matches!(count, Some(c) if c >= self.min_count);
            if found {
                s.found += 1;
                res.found_by_index[index] += 1;
            } else if count.is_some() {
                s.below_min_count += 1;
            }
            if q.account.is_some() {
                if q.is_history() {
                    s.history += 1;
                    s.history_found += found as u64;
                } else {
                    s.accounts += 1;
                    s.accounts_found += found as u64;
                }
            }
            if found || self.mode == OutputMode::All {
                let verdict = Verdict {
                    count,
                    index,
                    found,
                };
                write(self.writer, &mut res.out, &q, verdict);
            }
        }
    }
}

/// Checks every line of `input` (hashes, `HASH:anything`, `user:HASH`)
/// against one index, writing `HASH:COUNT` records (with the account first
/// when a line has one) to `out` and calling `on_malformed` for each bad
/// line. No distinct-hash statistics are gathered.
pub fn check_stream<D, R, W>(
    index: &Index<D>,
    input: R,
    name: &Path,
    out: &mut W,
    mode: OutputMode,
    on_malformed: &mut dyn FnMut(&Malformed),
) -> Result<CheckStats>
where
    D: AsRef<[u8]> + Sync,
    R: Read,
    W: Write,
{
    let opts = CheckOptions {
        input: InputFormat::Hash,
        mode: Some(mode),
        statistics: false,
        ..CheckOptions::default()
    };
    let name_of_index = index.path().display().to_string();
    let mut checker = Checker::new(vec![(index, name_of_index)], opts)?;
    checker.check(input, name, out, on_malformed)
}

/// Reads an input in blocks of whole lines, each in its own buffer so that
/// one can be looked up while the next is read.
struct BlockReader<R> {
    input: R,
    /// The partial last line of the previous block, first in the next one.
    carry: Vec<u8>,
    eof: bool,
    /// True while discarding the rest of a line longer than a whole block.
    skipping_long_line: bool,
}

enum Block<B = Vec<u8>> {
    /// Whole lines (the last one may lack its `\n` at the end of input).
    Lines(B),
    /// A line longer than a whole block (its rest is skipped).
    TooLong,
    End,
}

/// Where the pipeline's blocks of whole lines come from: a reader copying
/// into buffers ([`BlockReader`]), or a memory-mapped file ([`MappedBlocks`]).
trait BlockSource {
    /// A block's bytes.
    type Buf: std::ops::Deref<Target = [u8]> + Send;
    /// The next block; `spare` is a spent block the source may reuse.
    fn next_block(&mut self, name: &Path, spare: Option<Self::Buf>) -> Result<Block<Self::Buf>>;
}

impl<R: Read> BlockSource for BlockReader<R> {
    type Buf = Vec<u8>;
    fn next_block(&mut self, name: &Path, spare: Option<Vec<u8>>) -> Result<Block> {
        BlockReader::next_block(self, name, spare.unwrap_or_default())
    }
}

/// Blocks cut from a memory-mapped file exactly as [`BlockReader`] cuts
/// them from a stream: at most [`BLOCK_BYTES`], ending at the last line end
/// unless the input ends first; a line longer than a block is reported once
/// and skipped.
struct MappedBlocks<'m> {
    map: &'m memmap2::Mmap,
    /// Where the next block starts.
    pos: usize,
    /// The system's page size: the unit `madvise` works in.
    page: usize,
}

/// The system's memory page size (4 KiB on x86-64; 16 or 64 KiB on some
/// ARM and POWER systems).
fn page_size() -> usize {
    // SAFETY: sysconf only reads a system constant; it has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|&s| s.is_power_of_two())
        .unwrap_or(4096)
}

impl MappedBlocks<'_> {
    /// Asks the kernel to map the pages of `block` now (`MADV_POPULATE_READ`,
    /// Linux 5.14 and later; ignored elsewhere), on the thread that hands
    /// out blocks, so that the lookup threads take no page faults on them.
    fn populate(&self, block: &[u8]) {
        let offset = block.as_ptr() as usize - self.map.as_ptr() as usize;
        let _ = self
            .map
            .advise_range(memmap2::Advice::PopulateRead, offset, block.len());
    }

    /// Drops the pages that lie wholly inside the spent block `spent` from
    /// this process's page tables (`MADV_DONTNEED`). They stay in the page
    /// cache; without this a check's resident memory grew by the size of
    /// its input, a 10 GB hash list making a 10 GB resident set.
    fn release(&self, spent: &[u8]) {
        let base = self.map.as_ptr() as usize;
        let start = (spent.as_ptr() as usize - base).next_multiple_of(self.page);
        let end = (spent.as_ptr() as usize - base + spent.len()) & !(self.page - 1);
        if end > start {
            // SAFETY: the map is a shared, read-only map of a file, and no
            // reference into `start..end` outlives this call: `spent` is the
            // last one, and no other block covers those pages (blocks are
            // disjoint; only a page cut by a block boundary is shared, and
            // such pages are kept). For a shared file map, MADV_DONTNEED
            // only removes page-table entries: a later read would fault the
            // same file bytes back in.
            let _ = unsafe {
                self.map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    start,
                    end - start,
                )
            };
        }
    }
}

impl<'m> BlockSource for MappedBlocks<'m> {
    type Buf = &'m [u8];
    fn next_block(&mut self, _name: &Path, spare: Option<&'m [u8]>) -> Result<Block<&'m [u8]>> {
        if let Some(spent) = spare {
            self.release(spent);
        }
        let data: &'m [u8] = self.map;
        let rest = &data[self.pos.min(data.len())..];
        if rest.is_empty() {
            return Ok(Block::End);
        }
        if rest.len() < BLOCK_BYTES {
            // The reader would reach the end of input within this block.
            self.pos = data.len();
            self.populate(rest);
            return Ok(Block::Lines(rest));
        }
        match memchr::memrchr(b'\n', &rest[..BLOCK_BYTES]) {
            Some(p) => {
                self.pos += p + 1;
                let block = &rest[..=p];
                self.populate(block);
                Ok(Block::Lines(block))
            }
            None => {
                // No line end in a whole block: skip through the next one.
                self.pos = match memchr::memchr(b'\n', &rest[BLOCK_BYTES..]) {
                    Some(q) => self.pos + BLOCK_BYTES + q + 1,
                    None => data.len(),
                };
                Ok(Block::TooLong)
            }
        }
    }
}

impl<R: Read> BlockReader<R> {
    fn new(input: R) -> Self {
        BlockReader {
            input,
            carry: Vec::new(),
            eof: false,
            skipping_long_line: false,
        }
    }

    /// Fills `buf` (emptied first) with the carried-over bytes and then
    /// input, up to [`BLOCK_BYTES`].
    fn fill(&mut self, buf: &mut Vec<u8>, name: &Path) -> Result<()> {
        buf.clear();
        buf.reserve(BLOCK_BYTES);
        buf.append(&mut self.carry);
        while !self.eof && buf.len() < BLOCK_BYTES {
            let want = (BLOCK_BYTES - buf.len()) as u64;
            // `read_to_end` reads into the spare capacity without zeroing it first.
            match self.input.by_ref().take(want).read_to_end(buf) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(name, e)),
            }
        }
        Ok(())
    }

    /// The next block, read into `buf` (a spent block's buffer, or empty).
    fn next_block(&mut self, name: &Path, mut buf: Vec<u8>) -> Result<Block> {
        loop {
            self.fill(&mut buf, name)?;
            if buf.is_empty() {
                return Ok(Block::End);
            }
            if self.skipping_long_line {
                if let Some(p) = memchr::memchr(b'\n', &buf) {
                    self.carry.extend_from_slice(&buf[p + 1..]);
                    self.skipping_long_line = false;
                }
                continue;
            }
            if !self.eof {
                match memchr::memrchr(b'\n', &buf) {
                    Some(p) => {
                        self.carry.extend_from_slice(&buf[p + 1..]);
                        buf.truncate(p + 1);
                    }
                    None => {
                        // No line end in a whole block: report the line, skip its rest.
                        self.skipping_long_line = true;
                        return Ok(Block::TooLong);
                    }
                }
            }
            return Ok(Block::Lines(buf));
        }
    }
}

/// A line of `text`'s start that is exactly one hash of `kind` and its line
/// end (`\n` or `\r\n`): the key and the bytes taken, `\n` included.
#[inline]
fn bare_hash_line(kind: HashKind, text: &[u8]) -> Option<(Key, usize)> {
    let n = kind.hex_len();
    let len = match text.get(n..n + 2) {
        Some([b'\n', _]) => n + 1,
        Some([b'\r', b'\n']) => n + 2,
        _ => return None,
    };
    crate::hash::parse_hex_key(kind, &text[..n]).map(|key| (key, len))
}

fn split_slices(block: &[u8], size: usize) -> Vec<&[u8]> {
    let mut slices = Vec::with_capacity(block.len() / size + 1);
    let mut rest = block;
    while !rest.is_empty() {
        if rest.len() <= size {
            slices.push(rest);
            break;
        }
        let cut = memchr::memchr(b'\n', &rest[size..]).map_or(rest.len(), |p| size + p + 1);
        let (head, tail) = rest.split_at(cut);
        slices.push(head);
        rest = tail;
    }
    slices
}

/// Appends the decimal digits of `v`.
#[inline]
pub fn write_decimal(out: &mut Vec<u8>, v: u64) {
    let mut digits = [0u8; 20];
    let n = crate::report::decimal_into(v, &mut digits);
    out.extend_from_slice(&digits[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_formatting() {
        for v in [0u64, 1, 9, 10, 99, 100, 12345, u64::MAX] {
            let mut out = Vec::new();
            write_decimal(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
    }

    #[test]
    fn slices_cover_the_block() {
        let block = b"a\nbb\nccc\n";
        for size in 1..12 {
            assert_eq!(split_slices(block, size).concat(), block.to_vec());
        }
    }

    /// A reader that hands out at most `step` bytes per call.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn blocks_are_whole_lines_and_cover_the_input() {
        let mut text = Vec::new();
        for i in 0..(BLOCK_BYTES / 4) {
            text.extend_from_slice(format!("{i:x}\n").as_bytes());
        }
        text.extend_from_slice(b"no newline at the end");
        let mut reader = BlockReader::new(Trickle {
            data: &text,
            step: 100_000,
        });
        let mut seen = Vec::new();
        let mut blocks = 0;
        while let Block::Lines(b) = reader.next_block(Path::new("t"), Vec::new()).unwrap() {
            if !reader.eof {
                assert_eq!(b.last(), Some(&b'\n'));
            }
            seen.extend_from_slice(&b);
            blocks += 1;
        }
        assert!(blocks >= 2);
        assert_eq!(seen, text);
    }

    /// Every block a source gives, as text (`<too long>` for a skipped line).
    /// Spent blocks are handed back as the pipeline does (a mapped source
    /// then drops their pages), so later blocks must read the same.
    fn cut<S: BlockSource>(mut source: S) -> Vec<String> {
        let mut blocks = Vec::new();
        let mut spare = None;
        loop {
            match source.next_block(Path::new("t"), spare.take()).unwrap() {
                Block::Lines(b) => {
                    blocks.push(String::from_utf8_lossy(&b).into_owned());
                    spare = Some(b);
                }
                Block::TooLong => blocks.push("<too long>".into()),
                Block::End => return blocks,
            }
        }
    }

    #[test]
    fn a_mapped_file_is_cut_into_the_blocks_a_reader_gives() {
        // Lines around and past the block size, at and around block
        // boundaries, with and without a last line end.
        let line = |len: usize, c: u8| {
            let mut l = vec![c; len];
            l.push(b'\n');
            l
        };
        let cases: Vec<Vec<u8>> = vec![
            b"a\nb\nc".to_vec(),
            [line(BLOCK_BYTES - 1, b'x'), b"tail\n".to_vec()].concat(),
            [line(BLOCK_BYTES, b'x'), b"tail".to_vec()].concat(),
            [
                b"first\n".to_vec(),
                line(BLOCK_BYTES + 10, b'x'),
                line(5, b'y'),
            ]
            .concat(),
            vec![b'z'; BLOCK_BYTES],
            vec![b'z'; BLOCK_BYTES + 1],
            [
                line(BLOCK_BYTES / 2, b'a'),
                line(BLOCK_BYTES / 2, b'b'),
                line(3, b'c'),
            ]
            .concat(),
            (0..BLOCK_BYTES / 3)
                .flat_map(|i| format!("{i:x}\r\n").into_bytes())
                .collect(),
        ];
        for (n, text) in cases.iter().enumerate() {
            let mut file = tempfile::tempfile().unwrap();
            file.write_all(text).unwrap();
            // SAFETY: a private temporary file, not changed while mapped.
            let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
            let mapped = cut(MappedBlocks {
                map: &map,
                pos: 0,
                page: page_size(),
            });
            let read = cut(BlockReader::new(Trickle {
                data: text,
                step: 1 << 20,
            }));
            assert_eq!(mapped, read, "case {n}");
        }
    }

    #[test]
    fn a_line_longer_than_a_block_is_reported_once_and_skipped() {
        let mut text = b"first\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', BLOCK_BYTES + 10));
        text.extend_from_slice(b"\nlast\n");
        let mut reader = BlockReader::new(&text[..]);
        let mut kinds = Vec::new();
        loop {
            match reader.next_block(Path::new("t"), Vec::new()).unwrap() {
                Block::Lines(b) => kinds.push(String::from_utf8_lossy(&b).into_owned()),
                Block::TooLong => kinds.push("<too long>".into()),
                Block::End => break,
            }
        }
        assert_eq!(kinds, ["first\n", "<too long>", "last\n"]);
    }
}
