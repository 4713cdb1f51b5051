/*!
External sort for inputs that are not one sorted dump: unsorted files
(ordered-by-count releases, custom lists), several inputs merged into one
index, compressed streams, plaintext lists.

Records are gathered in a buffer bounded by the memory budget; a full buffer
is sorted on all cores, its duplicates merged (counts summed), and written as
a *run* to an unnamed temporary file (`O_TMPFILE`-style, so the kernel deletes
it whatever happens to the process, `kill -9` included), around the page
cache where the file system allows (see [`crate::directio`]). The last,
partial buffer is not written: it stays in memory as the last run. The runs
are then merged with a heap, summing duplicates across runs, into the index
writer. A spilled run that comes back short is an error.

A run record is the hash's bytes followed by the count as a little-endian u64.
*/

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::directio::{ChunkWriter, RunFileReader};
use crate::error::{Error, Result};
use crate::hash::{HashKind, Key};

/// Bytes of run records encoded before each write.
const STAGE_BYTES: usize = 1 << 20;

/// Most runs kept at once. A merge holds a file descriptor per run, and the
/// usual open-files limit is 1024: past this many runs (a tiny `--memory`
/// for the corpus), the runs so far are first merged into one.
const MAX_RUNS: usize = 256;

/// Bytes of memory per buffered record (key + count).
pub const BYTES_PER_BUFFERED_RECORD: usize = std::mem::size_of::<(Key, u64)>();

/// Collects records into sorted runs.
pub struct RunBuilder {
    kind: HashKind,
    tmp_dir: PathBuf,
    capacity: usize,
    buffer: Vec<(Key, u64)>,
    /// Records expected in all, if known: sizes the first allocation.
    expected: Option<u64>,
    runs: Vec<Run>,
    /// Histogram of count bit lengths of the merged run records.
    pub count_hist: [u64; 65],
}

/// A sorted run on disk.
struct Run {
    file: File,
    records: u64,
}

impl RunBuilder {
    /// A builder keeping at most `memory_bytes` of records in memory.
    pub fn new(kind: HashKind, tmp_dir: &Path, memory_bytes: usize) -> Self {
        let capacity = (memory_bytes / BYTES_PER_BUFFERED_RECORD).max(1024);
        RunBuilder {
            kind,
            tmp_dir: tmp_dir.to_path_buf(),
            capacity,
            buffer: Vec::new(),
            expected: None,
            runs: Vec::new(),
            count_hist: [0; 65],
        }
    }

    /// Says how many records to expect in all (an estimate from the input
    /// size). Without it the buffer grows by doubling, and the last
    /// doubling holds the old and the new buffer at once: a 2 GB budget
    /// peaked at 3.36 GB resident for 100M records. With it, an input that
    /// will fill the budget gets the whole buffer at once.
    pub fn expect_records(&mut self, records: u64) {
        self.expected = Some(records);
    }

    /// Adds records; spills a run when the buffer is full.
    pub fn extend(&mut self, records: &[(Key, u64)]) -> Result<()> {
        let mut rest = records;
        while !rest.is_empty() {
            if self.buffer.capacity() == 0 {
                let first = match self.expected {
                    // Within 12% of the budget or above: all of it.
                    Some(e) if e >= (self.capacity - self.capacity / 8) as u64 => self.capacity,
                    Some(e) => (e + e / 8) as usize,
                    None => rest.len(),
                };
                self.buffer
                    .reserve_exact(self.capacity.min(first.max(1 << 16)));
            }
            let room = self.capacity - self.buffer.len();
            let take = room.min(rest.len());
            if self.buffer.len() + take > self.buffer.capacity() {
                let want = (self.buffer.len() + take)
                    .max(self.buffer.capacity() * 2)
                    .min(self.capacity);
                self.buffer.reserve_exact(want - self.buffer.len());
            }
            self.buffer.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.buffer.len() == self.capacity {
                self.spill()?;
            }
        }
        Ok(())
    }

    /// Sorts the buffer, merges duplicates and writes it as a run.
    fn spill(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let mut records = std::mem::take(&mut self.buffer);
        // Most inputs reaching here are unsorted; sorted ones cost a linear check.
        if !records.windows(2).all(|w| w[0].0 <= w[1].0) {
            records.par_sort_unstable_by_key(|r| r.0);
        }
        let merged = merge_sorted_duplicates(&mut records)?;
        let mut run = RunWriter::new(self.kind, &self.tmp_dir)?;
        for &(key, count) in &records[..merged] {
            self.count_hist[64 - count.leading_zeros() as usize] += 1;
            run.push(key, count)?;
        }
        self.runs.push(run.finish()?);
        // Keep the allocation for the next run.
        records.clear();
        self.buffer = records;
        if self.runs.len() >= MAX_RUNS {
            self.merge_runs_so_far()?;
        }
        Ok(())
    }

    /// Merges every run so far into one (summing duplicates), so that the
    /// runs never need more than [`MAX_RUNS`] open files.
    fn merge_runs_so_far(&mut self) -> Result<()> {
        let runs = std::mem::take(&mut self.runs);
        let chunk_bytes = self.read_chunk_bytes(runs.len());
        let readers = runs
            .into_iter()
            .map(|r| RunReader::from_disk(r, self.kind, chunk_bytes))
            .collect();
        let mut merger = RunMerger::new(readers, self.tmp_dir.clone())?;
        let mut run = RunWriter::new(self.kind, &self.tmp_dir)?;
        while let Some((key, count)) = merger.next_record()? {
            run.push(key, count)?;
        }
        self.runs.push(run.finish()?);
        Ok(())
    }

    /// Bytes per read of each of `runs` runs being merged: together a
    /// quarter of the memory budget, at most 4 MiB each, and at least 64
    /// KiB, so that many small runs are still read in large requests
    /// (direct reads get no read-ahead).
    fn read_chunk_bytes(&self, runs: usize) -> usize {
        (self.capacity * BYTES_PER_BUFFERED_RECORD / 4 / runs.max(1)).clamp(64 << 10, 4 << 20)
    }

    /// Upper bound of the distinct records (exact when runs do not overlap).
    pub fn records_upper_bound(&self) -> u64 {
        self.runs.iter().map(|r| r.records).sum()
    }

    /// Sorts what is left into an in-memory run and returns a merger over
    /// all runs, the count bit-length histogram and the upper bound of
    /// distinct records.
    pub fn finish(mut self) -> Result<(RunMerger, [u64; 65], u64)> {
        // The last, partial buffer is not spilled: it is sorted and merged
        // from memory, which it already occupies (this saved writing and
        // reading back a third of a 100M-record unsorted build's runs).
        let mut last = std::mem::take(&mut self.buffer);
        if !last.windows(2).all(|w| w[0].0 <= w[1].0) {
            last.par_sort_unstable_by_key(|r| r.0);
        }
        let kept = merge_sorted_duplicates(&mut last)?;
        last.truncate(kept);
        // Hold no more memory than the records need while the merge runs
        // beside the index writer's filter.
        if kept < last.capacity() / 2 {
            last.shrink_to_fit();
        }
        for (_, count) in &last {
            self.count_hist[64 - count.leading_zeros() as usize] += 1;
        }
        let upper_bound = self.records_upper_bound() + kept as u64;
        let hist = self.count_hist;
        let kind = self.kind;
        let mut readers = Vec::with_capacity(self.runs.len() + 1);
        let chunk_bytes = self.read_chunk_bytes(self.runs.len());
        for run in self.runs {
            readers.push(RunReader::from_disk(run, kind, chunk_bytes));
        }
        if !last.is_empty() {
            readers.push(RunReader::Memory {
                records: last,
                next: 0,
            });
        }
        let merger = RunMerger::new(readers, self.tmp_dir)?;
        Ok((merger, hist, upper_bound))
    }
}

/// Sorts nothing; merges adjacent equal keys of a sorted slice in place
/// (summing counts) and returns the number of distinct records kept.
fn merge_sorted_duplicates(records: &mut [(Key, u64)]) -> Result<usize> {
    let mut kept = 0usize;
    for i in 0..records.len() {
        if kept > 0 && records[kept - 1].0 == records[i].0 {
            records[kept - 1].1 = records[kept - 1]
                .1
                .checked_add(records[i].1)
                .ok_or_else(|| count_overflow(&records[i].0))?;
        } else {
            records[kept] = records[i];
            kept += 1;
        }
    }
    Ok(kept)
}

fn count_overflow(_key: &Key) -> Error {
    Error::Usage("the counts of one hash add up to more than 2^64".into())
}

/// One sorted run being merged: spilled to disk, or the last one, in memory.
enum RunReader {
    Disk {
        reader: RunFileReader,
        kind: HashKind,
        /// Records still to come: a run that ends early is an error, not
        /// fewer records (they would pass for merged duplicates).
        left: u64,
    },
    Memory {
        records: Vec<(Key, u64)>,
        next: usize,
    },
}

impl RunReader {
    fn from_disk(run: Run, kind: HashKind, chunk_bytes: usize) -> Self {
        RunReader::Disk {
            reader: RunFileReader::new(run.file, chunk_bytes),
            kind,
            left: run.records,
        }
    }

    fn next(&mut self) -> io::Result<Option<(Key, u64)>> {
        let (reader, kind, left) = match self {
            RunReader::Disk { reader, kind, left } => (reader, *kind, left),
            RunReader::Memory { records, next } => {
                let record = records.get(*next).copied();
                *next += 1;
                return Ok(record);
            }
        };
        if *left == 0 {
            return Ok(None);
        }
        *left -= 1;
        let n = kind.byte_len();
        // Decode in place when the whole record is in the reader's chunk
        // (all but one record per chunk).
        let available = reader.buffered()?;
        if available.len() >= n + 8 {
            let key = Key::from_bytes(kind, &available[..n]);
            let count = u64::from_le_bytes(available[n..n + 8].try_into().unwrap());
            reader.consume(n + 8);
            return Ok(Some((key, count)));
        }
        let mut buf = [0u8; 28];
        match reader.read_exact(&mut buf[..n + 8]) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "a sort run ended with {} record(s) missing (temporary file truncated or damaged?)",
                        *left + 1
                    ),
                ));
            }
            Err(e) => return Err(e),
        }
        let key = Key::from_bytes(kind, &buf[..n]);
        let count = u64::from_le_bytes(buf[n..n + 8].try_into().unwrap());
        Ok(Some((key, count)))
    }
}

/// Writes one sorted run: each record as the hash's bytes and the count as
/// a little-endian u64, to an unnamed temporary file, around the page cache
/// where possible (see [`ChunkWriter`]; filling fresh page-cache pages was
/// the longest serial step of an unsorted build).
struct RunWriter {
    kind: HashKind,
    tmp_dir: PathBuf,
    out: ChunkWriter,
    staged: Vec<u8>,
    records: u64,
}

impl RunWriter {
    fn new(kind: HashKind, tmp_dir: &Path) -> Result<Self> {
        let io_err = |e| Error::io(tmp_dir, e);
        let file = tempfile::tempfile_in(tmp_dir).map_err(io_err)?;
        Ok(RunWriter {
            kind,
            tmp_dir: tmp_dir.to_path_buf(),
            out: ChunkWriter::new(file, false).map_err(io_err)?,
            staged: Vec::with_capacity(STAGE_BYTES + 28),
            records: 0,
        })
    }

    #[inline]
    fn push(&mut self, key: Key, count: u64) -> Result<()> {
        let n = self.kind.byte_len();
        self.staged.extend_from_slice(&key.to_bytes(self.kind)[..n]);
        self.staged.extend_from_slice(&count.to_le_bytes());
        self.records += 1;
        if self.staged.len() >= STAGE_BYTES {
            self.out
                .write_all(&self.staged)
                .map_err(|e| Error::io(&self.tmp_dir, e))?;
            self.staged.clear();
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Run> {
        let io_err = |e| Error::io(&self.tmp_dir, e);
        self.out.write_all(&self.staged).map_err(io_err)?;
        let file = self.out.into_inner().map_err(io_err)?;
        Ok(Run {
            file,
            records: self.records,
        })
    }
}

/// K-way merge of sorted runs, summing duplicate keys.
pub struct RunMerger {
    readers: Vec<RunReader>,
    heap: BinaryHeap<Reverse<(Key, u64, usize)>>,
    tmp_dir: PathBuf,
}

impl RunMerger {
    fn new(readers: Vec<RunReader>, tmp_dir: PathBuf) -> Result<Self> {
        let mut merger = RunMerger {
            heap: BinaryHeap::with_capacity(readers.len()),
            readers,
            tmp_dir,
        };
        for i in 0..merger.readers.len() {
            merger.refill(i)?;
        }
        Ok(merger)
    }

    fn refill(&mut self, i: usize) -> Result<()> {
        if let Some((key, count)) = self.readers[i]
            .next()
            .map_err(|e| Error::io(&self.tmp_dir, e))?
        {
            self.heap.push(Reverse((key, count, i)));
        }
        Ok(())
    }

    /// Takes the smallest record and puts its run's next one in its place:
    /// one sift down instead of a pop and a push (the heap was 9% of an
    /// unsorted build's profile).
    fn take_min(&mut self) -> Result<Option<(Key, u64)>> {
        let RunMerger {
            readers,
            heap,
            tmp_dir,
        } = self;
        let Some(mut top) = heap.peek_mut() else {
            return Ok(None);
        };
        let Reverse((key, count, i)) = *top;
        match readers[i].next().map_err(|e| Error::io(tmp_dir, e))? {
            Some((k, c)) => *top = Reverse((k, c, i)),
            None => {
                std::collections::binary_heap::PeekMut::pop(top);
            }
        }
        Ok(Some((key, count)))
    }

    /// The next distinct record in key order, with its summed count.
    pub fn next_record(&mut self) -> Result<Option<(Key, u64)>> {
        let Some((key, mut count)) = self.take_min()? else {
            return Ok(None);
        };
        while let Some(Reverse((k, _, _))) = self.heap.peek() {
            if *k != key {
                break;
            }
            let (_, c) = self.take_min()?.expect("the heap is not empty");
            count = count.checked_add(c).ok_or_else(|| count_overflow(&key))?;
        }
        Ok(Some((key, count)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `records` to a run builder with `memory` bytes, in batches of
    /// 777, checks the merge against a map that sums counts, and returns
    /// how many runs were held before `finish`.
    fn merge_matches_reference(kind: HashKind, memory: usize, records: &[(Key, u64)]) -> usize {
        let dir = tempfile::tempdir().unwrap();
        let mut builder = RunBuilder::new(kind, dir.path(), memory);
        let mut reference = std::collections::BTreeMap::new();
        for &(key, count) in records {
            *reference.entry(key).or_insert(0u64) += count;
        }
        for batch in records.chunks(777) {
            builder.extend(batch).unwrap();
        }
        let runs = builder.runs.len();
        let (mut merger, _, _) = builder.finish().unwrap();
        let mut merged = Vec::new();
        while let Some(r) = merger.next_record().unwrap() {
            merged.push(r);
        }
        let expected: Vec<(Key, u64)> = reference.into_iter().collect();
        assert_eq!(merged, expected);
        runs
    }

    #[test]
    fn runs_merge_into_sorted_distinct_records_with_summed_counts() {
        let mut x = 7u64;
        let records: Vec<(Key, u64)> = (0..20_000u64)
            .map(|i| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // Many duplicates.
                (Key::from_limbs(0, x >> 50, i % 3000), i + 1)
            })
            .collect();
        // Tiny memory budget: many runs.
        let runs = merge_matches_reference(HashKind::Ntlm, 0, &records);
        assert!(runs > 10, "{runs} runs");
    }

    /// Two large runs and a partial one: every record comes back, in
    /// order, with the count histogram of what was written.
    #[test]
    fn large_runs_come_back_whole_with_their_histogram() {
        let kind = HashKind::Sha1;
        let dir = tempfile::tempdir().unwrap();
        let per_run = 600_000usize;
        let mut builder = RunBuilder::new(kind, dir.path(), per_run * BYTES_PER_BUFFERED_RECORD);
        let mut x = 11u64;
        let mut records = Vec::new();
        for i in 0..(per_run * 2 + 1234) as u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            records.push((
                Key::from_limbs(x >> 32, x.rotate_left(17), i),
                1 + (x % 1000),
            ));
        }
        builder.extend(&records).unwrap();
        assert_eq!(builder.runs.len(), 2, "two full runs spilled so far");
        let (mut merger, hist, _) = builder.finish().unwrap();
        let mut merged = Vec::new();
        while let Some(r) = merger.next_record().unwrap() {
            merged.push(r);
        }
        records.sort();
        assert_eq!(merged, records);
        let mut expected_hist = [0u64; 65];
        for (_, c) in &records {
            expected_hist[64 - c.leading_zeros() as usize] += 1;
        }
        assert_eq!(hist, expected_hist);
    }

    /// A spilled run that lost its tail is an error at merge time, not a
    /// build with fewer records.
    #[test]
    fn a_truncated_run_is_an_error() {
        let kind = HashKind::Ntlm;
        let dir = tempfile::tempdir().unwrap();
        let mut builder = RunBuilder::new(kind, dir.path(), 2000 * BYTES_PER_BUFFERED_RECORD);
        let records: Vec<(Key, u64)> = (0..5000u64)
            .map(|i| {
                (
                    Key::from_limbs(0, i.wrapping_mul(0x9E37_79B9_7F4A_7C15), i),
                    1,
                )
            })
            .collect();
        builder.extend(&records).unwrap();
        assert_eq!(builder.runs.len(), 2);
        let run = &builder.runs[0].file;
        run.set_len(run.metadata().unwrap().len() - 10).unwrap();
        let (mut merger, _, _) = builder.finish().unwrap();
        let error = loop {
            match merger.next_record() {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the merge ended without noticing the lost records"),
                Err(e) => break e.to_string(),
            }
        };
        assert!(error.contains("1 record(s) missing"), "{error}");
    }

    /// Past `MAX_RUNS` runs the runs so far are merged into one, so the
    /// files held open stay bounded; the records still come back exact.
    #[test]
    fn many_runs_are_merged_early_and_stay_exact() {
        // 1024 records per run (the smallest buffer), 300 runs' worth, over
        // 40,000 distinct hashes: most records repeat one, across runs.
        let mut x = 3u64;
        let records: Vec<(Key, u64)> = (0..(300 * 1024u64))
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (Key::from_limbs(0, (x >> 20) % 40_000, 7), i % 5 + 1)
            })
            .collect();
        let runs = merge_matches_reference(HashKind::Sha1, 0, &records);
        assert!(runs < MAX_RUNS, "{runs} runs held");
    }
}
