/*!
`pwdex build`: from a Pwned Passwords dump to an index file.

The input is memory-mapped (stdin is first copied to a temporary file beside
the output, because the layout is planned from the input's size) and cut
into chunks at line boundaries. Chunks are parsed in parallel; the packing
into the [`IndexWriter`] is sequential, in input order, and overlaps the
parsing of the next group of chunks. Each chunk checks its own order; the
packer checks the order across chunk boundaries and merges duplicate hashes
by summing their counts.

Any malformed or out-of-order line stops the build with an error naming the
file and the line, and the target path keeps its previous content.
*/

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use xxhash_rust::xxh3::Xxh3;

use crate::error::{Error, Result};
use crate::format::Params;
use crate::hash::{HashKind, Key};
use crate::parse::{parse_dump_line, sniff_dump_kind};
use crate::writer::{IndexWriter, Layout};

/// Settings for a build.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Hash kind; detected from the first line when `None`.
    pub kind: Option<HashKind>,
    /// Target false-positive rate of the filter.
    pub fpp: f64,
    /// Override of the bucket bits (for experiments and tests).
    pub bucket_bits: Option<u32>,
    /// Override of the record-count estimate used to plan the layout (tests).
    pub records_hint: Option<u64>,
    /// Show a progress bar on a terminal.
    pub progress: bool,
    /// Bytes per parse chunk (tuning; tests use tiny chunks to exercise
    /// the order and duplicate checks across chunk boundaries).
    pub chunk_bytes: usize,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            kind: None,
            fpp: crate::filter::DEFAULT_FPP,
            bucket_bits: None,
            records_hint: None,
            progress: false,
            chunk_bytes: CHUNK_BYTES,
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
    pub seconds: f64,
}

/// Bytes per parse chunk: large enough to amortise scheduling, small enough
/// to keep a group of chunks in cache-friendly memory.
const CHUNK_BYTES: usize = 4 << 20;

/// An input's bytes: a memory map, or nothing for an empty file.
enum InputBytes {
    Map(memmap2::Mmap),
    Empty,
}

impl InputBytes {
    fn bytes(&self) -> &[u8] {
        match self {
            InputBytes::Map(m) => m,
            InputBytes::Empty => &[],
        }
    }
}

fn open_input(path: &Path) -> Result<InputBytes> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if len == 0 {
        return Ok(InputBytes::Empty);
    }
    let map = crate::index::map_file(path)?;
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(InputBytes::Map(map))
}

/// Copies stdin to a temporary file in `dir` so it can be mapped.
fn spool_stdin(dir: &Path) -> Result<tempfile::NamedTempFile> {
    let mut temp = tempfile::Builder::new()
        .prefix(".pwdex-stdin.")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    io::copy(&mut io::stdin().lock(), temp.as_file_mut()).map_err(|e| Error::io("<stdin>", e))?;
    Ok(temp)
}

/// Builds an index at `output` from the dump at `input` (`-` for stdin).
pub fn build(input: &Path, output: &Path, opts: &BuildOptions) -> Result<BuildSummary> {
    let started = Instant::now();
    let out_dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (display, _spool, bytes) = if input == Path::new("-") {
        let spool = spool_stdin(&out_dir)?;
        let bytes = open_input(spool.path())?;
        (PathBuf::from("<stdin>"), Some(spool), bytes)
    } else {
        (input.to_path_buf(), None, open_input(input)?)
    };
    let data = bytes.bytes();

    let kind = match opts.kind {
        Some(k) => k,
        None => detect_kind(&display, data)?,
    };
    let estimate = estimate_input(kind, data);
    let planned_records = opts.records_hint.unwrap_or(estimate.records);
    let mut layout = Layout::plan(kind, planned_records, &estimate.count_hist, opts.fpp);
    if let Some(b) = opts.bucket_bits {
        if b > crate::format::MAX_BUCKET_BITS || b >= kind.bits() {
            return Err(Error::Usage(format!(
                "--bucket-bits {b} is out of range (0..={})",
                crate::format::MAX_BUCKET_BITS
            )));
        }
        layout.bucket_bits = b;
    }
    let mut writer = IndexWriter::create(output, layout)?;

    let progress = progress_bar(opts.progress, data.len() as u64);
    let chunks = split_chunks(data, opts.chunk_bytes.max(1));
    let group = rayon::current_num_threads().max(1) * 2;
    let mut packer = Packer {
        path: &display,
        kind,
        writer: &mut writer,
        pending: None,
        lines_before: 0,
        padding_lines: 0,
        duplicates: 0,
        hasher: Xxh3::new(),
    };
    let mut groups = chunks.chunks(group);
    let parse_group = |g| parse_group(kind, g);
    let mut current = groups.next().map(parse_group);
    while let Some(parsed) = current.take() {
        let next_group = groups.next();
        // Pack this group while the next one is parsed.
        let (next, packed) = rayon::join(
            || next_group.map(parse_group),
            || packer.pack(&parsed, next_group.is_none()),
        );
        packed?;
        if let Some(p) = &progress {
            p.inc(parsed.iter().map(|c| c.bytes).sum());
        }
        current = next;
    }
    if let Some(pending) = packer.pending.take() {
        packer.writer.push(pending.0, pending.1)?;
    }
    let lines = packer.lines_before;
    let padding_lines = packer.padding_lines;
    let duplicates_merged = packer.duplicates;
    let input_xxh3 = packer.hasher.digest();
    if let Some(p) = &progress {
        p.finish_and_clear();
    }

    let records = writer.records_written();
    let now = std::time::SystemTime::now();
    let record = serde_json::json!({
        "pwdex_version": env!("CARGO_PKG_VERSION"),
        "built_at": humantime::format_rfc3339_seconds(now).to_string(),
        "built_unix": now.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "kind": kind.name(),
        "records": records,
        "fpp_target": opts.fpp,
        "inputs": [{
            "path": display.display().to_string(),
            "bytes": data.len(),
            "lines": lines,
            "padding_lines": padding_lines,
            "xxh3": format!("{input_xxh3:016x}"),
        }],
        "duplicates_merged": duplicates_merged,
        "malformed_skipped": 0,
    });
    let params = writer.finish(&record)?;
    Ok(BuildSummary {
        params,
        input_bytes: data.len() as u64,
        lines,
        padding_lines,
        duplicates_merged,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn progress_bar(enabled: bool, total: u64) -> Option<indicatif::ProgressBar> {
    if !enabled || !io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>8} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    bar.set_message("building");
    Some(bar)
}

/// Hash kind from the first non-empty line.
fn detect_kind(path: &Path, data: &[u8]) -> Result<HashKind> {
    for (i, line) in data.split(|&b| b == b'\n').enumerate().take(1000) {
        if line.is_empty() || line == b"\r" {
            continue;
        }
        return sniff_dump_kind(line).ok_or_else(|| Error::BadLine {
            path: path.to_path_buf(),
            line: i as u64 + 1,
            reason: format!(
                "cannot tell the hash kind: expected HASH:COUNT with a 40-hex (SHA-1) or 32-hex (NTLM) hash, got {:?} \
                 (use --kind to force one)",
                crate::parse::truncate_for_message(line)
            ),
        });
    }
    // Empty input: an empty index of the default kind.
    Ok(HashKind::Sha1)
}

/// Layout planning figures taken from a sample of the input.
struct Estimate {
    records: u64,
    count_hist: [u64; 65],
}

/// Estimates the record count from the first megabyte: its share of
/// non-padding records times the input size. Dumps sorted by hash have counts
/// unrelated to position, so the sample's count histogram is representative.
fn estimate_input(kind: HashKind, data: &[u8]) -> Estimate {
    let sample_end = if data.len() <= 1 << 20 {
        data.len()
    } else {
        memchr::memrchr(b'\n', &data[..1 << 20]).map_or(data.len(), |p| p + 1)
    };
    let sample = &data[..sample_end];
    let mut hist = [0u64; 65];
    let mut records = 0u64;
    for line in sample.split(|&b| b == b'\n') {
        if let Ok(r) = parse_dump_line(kind, line)
            && r.count > 0
        {
            records += 1;
            hist[64 - r.count.leading_zeros() as usize] += 1;
        }
    }
    let scaled = if sample.is_empty() {
        0
    } else {
        (records as u128 * data.len() as u128 / sample.len() as u128) as u64
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

/// The result of parsing one chunk.
struct ParsedChunk<'a> {
    bytes: u64,
    data: &'a [u8],
    /// Records in strictly ascending order, duplicates within the chunk merged.
    records: Vec<(Key, u64)>,
    /// Line number (1-based, within the chunk) of the first record.
    first_record_line: u64,
    lines: u64,
    padding: u64,
    duplicates: u64,
    /// First problem: line within the chunk, and the error.
    error: Option<(u64, ChunkError)>,
}

enum ChunkError {
    Bad(String),
    Unsorted { previous: Key, got: Key },
    CountOverflow,
}

fn parse_group<'a>(kind: HashKind, group: &[&'a [u8]]) -> Vec<ParsedChunk<'a>> {
    group.par_iter().map(|c| parse_chunk(kind, c)).collect()
}

fn parse_chunk(kind: HashKind, data: &[u8]) -> ParsedChunk<'_> {
    let mut parsed = ParsedChunk {
        bytes: data.len() as u64,
        data,
        records: Vec::with_capacity(data.len() / (kind.hex_len() + 4)),
        first_record_line: 0,
        lines: 0,
        padding: 0,
        duplicates: 0,
        error: None,
    };
    let mut rest = data;
    while !rest.is_empty() {
        let (line, tail) = match memchr::memchr(b'\n', rest) {
            Some(p) => (&rest[..p], &rest[p + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = tail;
        parsed.lines += 1;
        let record = match parse_dump_line(kind, line) {
            Ok(r) => r,
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
            Some(last) if last.0 > record.key => {
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
    parsed
}

/// Sequential half of the pipeline: order checks across chunks, duplicate
/// merging across chunks, and writing.
struct Packer<'p, 'w> {
    path: &'p Path,
    kind: HashKind,
    writer: &'w mut IndexWriter,
    /// The last record seen, held back in case the next chunk repeats it.
    pending: Option<(Key, u64)>,
    lines_before: u64,
    padding_lines: u64,
    duplicates: u64,
    hasher: Xxh3,
}

impl Packer<'_, '_> {
    fn pack(&mut self, chunks: &[ParsedChunk], _last_group: bool) -> Result<()> {
        for chunk in chunks {
            self.hasher.update(chunk.data);
            if let Some((first, _)) = chunk.records.first()
                && let Some((prev, count)) = self.pending
            {
                if *first < prev {
                    return Err(self.unsorted(
                        self.lines_before + chunk.first_record_line,
                        prev,
                        *first,
                    ));
                }
                if *first == prev {
                    let sum = count.checked_add(chunk.records[0].1).ok_or_else(|| {
                        self.overflow(self.lines_before + chunk.first_record_line)
                    })?;
                    self.pending = Some((prev, sum));
                    self.duplicates += 1;
                }
            }
            for &(key, count) in &chunk.records {
                match self.pending {
                    Some((prev, _)) if prev == key => {} // merged above
                    Some((prev, c)) => {
                        self.writer.push(prev, c)?;
                        self.pending = Some((key, count));
                    }
                    None => self.pending = Some((key, count)),
                }
            }
            if let Some((line, error)) = &chunk.error {
                let line = self.lines_before + line;
                return Err(match error {
                    ChunkError::Bad(reason) => Error::BadLine {
                        path: self.path.to_path_buf(),
                        line,
                        reason: reason.clone(),
                    },
                    ChunkError::Unsorted { previous, got } => self.unsorted(line, *previous, *got),
                    ChunkError::CountOverflow => self.overflow(line),
                });
            }
            self.lines_before += chunk.lines;
            self.padding_lines += chunk.padding;
            self.duplicates += chunk.duplicates;
        }
        Ok(())
    }

    fn unsorted(&self, line: u64, previous: Key, got: Key) -> Error {
        Error::Unsorted {
            path: self.path.to_path_buf(),
            line,
            previous: previous.to_hex(self.kind),
            got: got.to_hex(self.kind),
        }
    }

    fn overflow(&self, line: u64) -> Error {
        Error::BadLine {
            path: self.path.to_path_buf(),
            line,
            reason: "the sum of this hash's counts exceeds 2^64".into(),
        }
    }
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
}
