/*!
The batch engine behind `pwdex check`: many query lines in, `HASH:COUNT`
lines out, in input order, on all cores, in bounded memory.

Input is read in blocks of [`BLOCK_BYTES`] cut at line boundaries. Each
block is split into slices that rayon processes in parallel; each slice
parses its lines, looks them up in groups of [`GROUP`] with software
prefetching (so many cache misses are in flight at once instead of one per
query), and formats its own output buffer. Buffers are written in order, so
output order is input order whatever the thread count. Memory is bounded by
the block size, not the batch size.
*/

use std::io::{Read, Write};
use std::path::Path;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::hash::{HashKind, Key};
use crate::index::Index;
use crate::parse::{QueryLine, parse_query_line};

/// Bytes of input handled per parallel round.
pub const BLOCK_BYTES: usize = 8 << 20;
/// Bytes per parallel slice of a block.
const SLICE_BYTES: usize = 256 << 10;
/// Queries parsed, then looked up together (see [`Index::get_many`]).
pub const GROUP: usize = 256;

/// What `check` prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputMode {
    /// Only hashes found in the index.
    #[default]
    Found,
    /// Every query, with count 0 when absent.
    All,
}

/// Counters for the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckStats {
    /// Lines read (including blank and malformed ones).
    pub lines: u64,
    /// Hashes looked up.
    pub checked: u64,
    /// Hashes found.
    pub found: u64,
    /// Lines that were not a valid hash of the index's kind.
    pub malformed: u64,
    /// Blank lines (not queries; counted, not reported).
    pub blank: u64,
}

impl CheckStats {
    fn add(&mut self, o: &CheckStats) {
        self.lines += o.lines;
        self.checked += o.checked;
        self.found += o.found;
        self.malformed += o.malformed;
        self.blank += o.blank;
    }
}

/// A malformed input line, for the report on stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    pub line: u64,
    pub reason: String,
}

/// Checks every line of `input` (named `name` in messages) against `index`,
/// writing results to `out` and calling `on_malformed` for each bad line.
pub fn check_stream<D, R, W>(
    index: &Index<D>,
    mut input: R,
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
    let mut stats = CheckStats::default();
    let mut buf: Vec<u8> = Vec::with_capacity(BLOCK_BYTES + 4096);
    let mut eof = false;
    // True while discarding the rest of a line longer than a whole block.
    let mut skipping_long_line = false;
    while !eof {
        // Fill the block, keeping any partial last line from the previous round.
        while buf.len() < BLOCK_BYTES {
            let start = buf.len();
            buf.resize(BLOCK_BYTES, 0);
            match input.read(&mut buf[start..]) {
                Ok(n) => {
                    buf.truncate(start + n);
                    if n == 0 {
                        eof = true;
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buf.truncate(start),
                Err(e) => return Err(Error::io(name, e)),
            }
        }
        if skipping_long_line {
            match memchr::memchr(b'\n', &buf) {
                Some(p) => {
                    buf.drain(..=p);
                    skipping_long_line = false;
                }
                None => {
                    buf.clear();
                    continue;
                }
            }
        }
        let cut = if eof {
            buf.len()
        } else {
            match memchr::memrchr(b'\n', &buf) {
                Some(p) => p + 1,
                None => {
                    // No line end in a whole block: report the line, skip its rest.
                    stats.lines += 1;
                    stats.malformed += 1;
                    on_malformed(&Malformed {
                        line: stats.lines,
                        reason: format!("line longer than {} bytes", BLOCK_BYTES),
                    });
                    buf.clear();
                    skipping_long_line = true;
                    continue;
                }
            }
        };
        let block = &buf[..cut];
        let slices = split_slices(block, SLICE_BYTES);
        let results: Vec<Result<SliceResult>> = slices
            .par_iter()
            .map(|s| check_slice(index, s, mode))
            .collect();
        for result in results {
            let result = result?;
            for m in &result.malformed {
                on_malformed(&Malformed {
                    line: stats.lines + m.line,
                    reason: m.reason.clone(),
                });
            }
            stats.add(&result.stats);
            out.write_all(&result.out)
                .map_err(|e| Error::io("<stdout>", e))?;
        }
        buf.drain(..cut);
    }
    Ok(stats)
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

struct SliceResult {
    out: Vec<u8>,
    stats: CheckStats,
    malformed: Vec<Malformed>,
}

/// Parses, looks up and formats one slice of whole lines.
fn check_slice<D: AsRef<[u8]>>(
    index: &Index<D>,
    slice: &[u8],
    mode: OutputMode,
) -> Result<SliceResult> {
    let kind = index.kind();
    let mut res = SliceResult {
        out: Vec::with_capacity(match mode {
            OutputMode::All => slice.len() + slice.len() / 4,
            OutputMode::Found => slice.len() / 2,
        }),
        stats: CheckStats::default(),
        malformed: Vec::new(),
    };
    let mut keys: Vec<Key> = Vec::with_capacity(GROUP);
    let mut counts = [None; GROUP];
    let mut rest = slice;
    while !rest.is_empty() {
        let (line, tail) = match memchr::memchr(b'\n', rest) {
            Some(p) => (&rest[..p], &rest[p + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = tail;
        res.stats.lines += 1;
        match parse_query_line(kind, line) {
            Ok(QueryLine::Hash(key)) => keys.push(key),
            Ok(QueryLine::Blank) => res.stats.blank += 1,
            Err(reason) => {
                res.stats.malformed += 1;
                res.malformed.push(Malformed {
                    line: res.stats.lines,
                    reason,
                });
            }
        }
        if keys.len() == GROUP {
            index.get_many(&keys, &mut counts[..keys.len()])?;
            emit(kind, &keys, &counts[..keys.len()], mode, &mut res);
            keys.clear();
        }
    }
    if !keys.is_empty() {
        index.get_many(&keys, &mut counts[..keys.len()])?;
        emit(kind, &keys, &counts[..keys.len()], mode, &mut res);
    }
    Ok(res)
}

fn emit(
    kind: HashKind,
    keys: &[Key],
    counts: &[Option<u64>],
    mode: OutputMode,
    res: &mut SliceResult,
) {
    let hex_len = kind.hex_len();
    for (key, count) in keys.iter().zip(counts.iter()) {
        res.stats.checked += 1;
        let value = match (count, mode) {
            (Some(c), _) => {
                res.stats.found += 1;
                *c
            }
            (None, OutputMode::All) => 0,
            (None, OutputMode::Found) => continue,
        };
        let at = res.out.len();
        res.out.resize(at + hex_len, 0);
        key.write_hex(kind, &mut res.out[at..]);
        res.out.push(b':');
        write_decimal(&mut res.out, value);
        res.out.push(b'\n');
    }
}

/// Appends the decimal digits of `v`.
#[inline]
pub fn write_decimal(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
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
}
