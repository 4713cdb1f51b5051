/*!
External sort for inputs that are not one sorted dump: unsorted files
(ordered-by-count releases, custom lists), several inputs merged into one
index, compressed streams, plaintext lists.

It is a distribution sort on the hash's leading bits, which for hashes are
spread evenly:

1. **Partition.** Each record goes to one of up to 256 (more for huge
   inputs) *partitions* by its leading bits, into in-memory *chunks* of
   `CHUNK_RECORDS` records. When the records held reach the budget (at
   most `HOLD_RECORDS`), every full chunk is *spilled*: appended to one
   unnamed temporary file (`O_TMPFILE`-style, so the kernel deletes it
   whatever happens to the process, `kill -9` included), around the page
   cache where the file system allows (see [`crate::directio`]). Partly
   filled chunks stay in memory, and so do the records of an input that
   fits: nothing is written. A partition that takes far more than its share
   (one password repeated throughout a plaintext list) merges the
   duplicates of each chunk as it fills.
2. **Sort.** Partitions are then taken in order, each read back whole (its
   spilled chunks, then the chunks still in memory) on one thread, sorted on
   its own on another (a counting pass, then tiny sorts), its duplicates
   merged (counts summed), and handed on while the index writer packs the
   one before: every sort works on a cache-sized slice instead of the whole
   budget. A partition too large for a quarter of the budget (a huge input
   with a small `--memory`, or skewed hashes) is sorted the same way again,
   one level down, on the first bits its records do not all share, merging
   duplicates as its chunks fill; copies of a single hash are just summed.

Why not sorted runs and a k-way merge (what this module did before): on
100M shuffled records the heap merge was the longest phase (about 4 s
beside the packing), the sort of each 1 GB run another 3.3 s, and the first
touch of the run buffer 2 s. Here every record is written and read at most
once (per level), the merge is a concatenation, and no large buffer is
touched fresh.

A spilled chunk holds exactly `CHUNK_RECORDS` records (or the smaller
chunk a small budget uses), 24 bytes each when every count in it fits in
32 bits and 32 bytes otherwise (see `spilled_record_bytes`), a whole
number of pages either way, so every chunk is read back with one aligned
direct read of its own length. A chunk that comes back short is an error.

The index is planned before the records come back, from [`SortInput`]: the
records taken, and, when a sketch of the hashes says more than 3% were
duplicates, an estimate of the distinct hashes and of their merged counts.
Planning only sizes the layout; any count is stored exactly (in the
overflow section when it is larger than the codes).
*/

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender};

use rayon::prelude::*;

use crate::directio::{ChunkWriter, RunFileReader};
use crate::error::{Error, Result};
use crate::hash::{HashKind, Key};
use crate::report::{DistinctSketch, fingerprint};

/// Records per chunk, at most: 16384 spilled records are 96 pages (384 KiB)
/// in the compact form. Smaller budgets use smaller chunks, down to
/// [`MIN_CHUNK_RECORDS`] (6 pages). Each chunk is read back with one direct
/// read, and this disk reads 0.94 GB/s in 192 KiB reads against 1.2 GB/s
/// in 384 KiB ones (`dd iflag=direct`): twice 8192 records took a 100M-record
/// unsorted build from 9.10 s to 8.52 s (`farm-bench -n 5`, 0.94x wall,
/// 0.99x CPU), and its peak memory from 0.80 to 0.69 GB. The default
/// budget's share per partition (see `Sorter::plan`) allows no more.
const CHUNK_RECORDS: usize = 16384;
const MIN_CHUNK_RECORDS: usize = 1024;

/// Partitions, at least (when the budget allows) and at most. 256
/// partitions of a 100M-record input hold about 390,000 records (12 MB)
/// each; the most is for inputs far larger than the budget.
const MIN_PARTITIONS: usize = 256;
const MAX_PARTITIONS: usize = 4096;

/// Most records held in memory while partitioning, whatever the budget
/// (8M records, 256 MiB): past it full chunks are spilled. On the virtual
/// machines this was measured on, the first touch of fresh memory is far
/// dearer than writing and reading the same bytes back with direct I/O:
/// with the whole 1 GiB default budget held, page faults were 18% of a
/// 100M-record unsorted build's profile, and the build took 15.4 s with
/// `--memory 1G` against 13.3 s with `--memory 256M` (one run each, before
/// this cap).
const HOLD_RECORDS: usize = 8 << 20;

/// Bytes of memory per buffered record (key + count).
pub const BYTES_PER_BUFFERED_RECORD: usize = std::mem::size_of::<(Key, u64)>();

/// Records of one partition in memory: its full chunks and the one filling.
#[derive(Default)]
struct Partition {
    full: Vec<Vec<(Key, u64)>>,
    open: Vec<(Key, u64)>,
    /// File offsets of its spilled chunks, in the order written.
    spilled: Vec<u64>,
    /// Records in all (spilled and in memory).
    records: u64,
    /// Records ever taken (before duplicates were merged).
    taken: u64,
    /// Chunk fills to let pass before trying to merge duplicates again, and
    /// the next such wait (doubling while merging finds few).
    combine_skip: u32,
    combine_backoff: u32,
}

/// The spill file being appended to.
struct Spill {
    out: ChunkWriter,
    /// Bytes handed to `out` so far: the offset of the next chunk.
    written: u64,
    staged: Vec<u8>,
}

/// Collects records into partitions, spilling when the budget is full.
pub struct Sorter {
    kind: HashKind,
    tmp_dir: PathBuf,
    /// The memory budget, in records: bounds the partitions sorted in memory.
    capacity: usize,
    /// Most records held in memory while partitioning (see `HOLD_RECORDS`).
    hold: usize,
    /// Leading hash bits every record here shares (0 at the top level).
    skip_bits: u32,
    /// Merge the duplicates of every chunk that fills (a sort one level
    /// down: a partition too large for memory often is so because of them).
    combine: bool,
    combine_scratch: Vec<(Key, u64)>,
    /// Records expected in all, if known: chooses the partition count.
    expected: Option<u64>,
    /// Partition bits and chunk size, fixed by the first records.
    bits: u32,
    chunk_records: usize,
    partitions: Vec<Partition>,
    /// Emptied chunks, for reuse: fresh memory costs a page fault per page.
    free_chunks: Vec<Vec<(Key, u64)>>,
    in_memory: usize,
    spill: Option<Spill>,
    records: u64,
    /// Histogram of count bit lengths of the records taken.
    count_hist: [u64; 65],
    /// Sum of the counts taken (saturating).
    count_sum: u64,
    /// Distinct hashes taken, estimated as they come.
    distinct: DistinctSketch,
}

/// What a [`Sorter`] took, for planning the index before its records come
/// back: duplicates are merged only then.
#[derive(Clone, Debug)]
pub struct SortInput {
    /// Records taken, duplicates included.
    pub taken: u64,
    /// Distinct hashes: `taken` when the input had few duplicates, else an
    /// estimate (within a few percent, and never below `taken / 16`).
    pub distinct: u64,
    /// Histogram of the bit lengths of the counts, as if duplicates were
    /// merged: the taken records' own when duplicates are few; else every
    /// distinct hash given the average merged count.
    pub count_hist: [u64; 65],
}

impl Sorter {
    /// A sorter keeping at most about `memory_bytes` of records in memory.
    pub fn new(kind: HashKind, tmp_dir: &Path, memory_bytes: usize) -> Self {
        Sorter::below(kind, tmp_dir, memory_bytes / BYTES_PER_BUFFERED_RECORD, 0)
    }

    /// A sorter for records that share their leading `skip_bits` bits.
    fn below(kind: HashKind, tmp_dir: &Path, capacity: usize, skip_bits: u32) -> Self {
        Sorter {
            kind,
            tmp_dir: tmp_dir.to_path_buf(),
            capacity: capacity.max(4 * MIN_CHUNK_RECORDS),
            hold: capacity.clamp(4 * MIN_CHUNK_RECORDS, HOLD_RECORDS),
            skip_bits,
            combine: skip_bits > 0,
            combine_scratch: Vec::new(),
            expected: None,
            bits: 0,
            chunk_records: 0,
            partitions: Vec::new(),
            free_chunks: Vec::new(),
            in_memory: 0,
            spill: None,
            records: 0,
            count_hist: [0; 65],
            count_sum: 0,
            distinct: DistinctSketch::default(),
        }
    }

    /// Says how many records to expect in all (an estimate from the input
    /// size): a huge input gets more, smaller partitions.
    pub fn expect_records(&mut self, records: u64) {
        self.expected = Some(records);
    }

    /// Chooses the chunk size and the partition count, once. Partly filled
    /// chunks, one per partition, may take up to half the budget.
    fn plan(&mut self) {
        let per_chunk = self.hold / (2 * MIN_PARTITIONS);
        self.chunk_records = if per_chunk >= MIN_CHUNK_RECORDS {
            1 << per_chunk.ilog2().min(CHUNK_RECORDS.ilog2())
        } else {
            MIN_CHUNK_RECORDS
        };
        let fits = (self.hold / (2 * self.chunk_records)).max(2);
        // Enough partitions that each is about an eighth of the budget (a
        // quarter at most: the count is rounded down to a power of two).
        let wanted = self.expected.map_or(MIN_PARTITIONS, |e| {
            (e.saturating_mul(8) / self.capacity as u64)
                .clamp(MIN_PARTITIONS as u64, MAX_PARTITIONS as u64) as usize
        });
        let partitions = wanted.min(fits).min(MAX_PARTITIONS);
        // At least one bit, and none past the end of the hash.
        self.bits = partitions
            .ilog2()
            .clamp(1, self.kind.bits().saturating_sub(self.skip_bits).max(1));
        self.partitions = (0..1usize << self.bits)
            .map(|_| Partition::default())
            .collect();
    }

    #[inline]
    fn partition_of(&self, key: &Key) -> usize {
        partition_of(self.kind, self.skip_bits, self.bits, key)
    }

    /// Adds records; spills full chunks when the budget is reached.
    pub fn extend(&mut self, records: &[(Key, u64)]) -> Result<()> {
        if self.partitions.is_empty() {
            self.plan();
        }
        for (key, count) in records {
            self.count_hist[64 - count.leading_zeros() as usize] += 1;
            self.count_sum = self.count_sum.saturating_add(*count);
            if self.skip_bits == 0 {
                self.distinct.insert(fingerprint(key));
            }
        }
        // Counted first: merging duplicates below takes some back.
        self.in_memory += records.len();
        self.records += records.len() as u64;
        // Records come in runs of one partition when a parse worker grouped
        // them ([`Partitioner::group`]); each run is copied in one piece.
        let mut rest = records;
        while let Some(first) = rest.first() {
            let p = self.partition_of(&first.0);
            let run = rest
                .iter()
                .position(|r| self.partition_of(&r.0) != p)
                .unwrap_or(rest.len());
            self.extend_partition(p, &rest[..run])?;
            rest = &rest[run..];
        }
        if self.in_memory >= self.hold {
            self.spill_full_chunks()?;
        }
        Ok(())
    }

    /// Appends records of partition `p` to its chunks.
    fn extend_partition(&mut self, p: usize, mut records: &[(Key, u64)]) -> Result<()> {
        let chunk = self.chunk_records;
        self.partitions[p].records += records.len() as u64;
        self.partitions[p].taken += records.len() as u64;
        while !records.is_empty() {
            let part = &mut self.partitions[p];
            if part.open.capacity() == 0 {
                part.open = self
                    .free_chunks
                    .pop()
                    .unwrap_or_else(|| Vec::with_capacity(chunk));
            }
            let take = (chunk - part.open.len()).min(records.len());
            part.open.extend_from_slice(&records[..take]);
            records = &records[take..];
            if part.open.len() == chunk && !self.merge_open_duplicates(p)? {
                let part = &mut self.partitions[p];
                let full = std::mem::take(&mut part.open);
                part.full.push(full);
            }
        }
        Ok(())
    }

    /// Sorts the full open chunk of partition `p` and merges its duplicates,
    /// when the partition may hold many: in a sort one level down, or when
    /// it takes far more than its share of the records (one hash repeated
    /// throughout a plaintext list). Returns whether that freed any room,
    /// so that the chunk goes on filling; when it freed less than an eighth,
    /// the next tries come at doubling intervals.
    ///
    /// Without it, copies of one hash were spilled, re-partitioned a level
    /// down again and again, and finally loaded whole: 3M copies of one
    /// plaintext took 37 s and 1.4 GB with `--memory 1M`.
    fn merge_open_duplicates(&mut self, p: usize) -> Result<bool> {
        let share = self.records / self.partitions.len() as u64;
        let fixed_bits = self.skip_bits + self.bits;
        let part = &mut self.partitions[p];
        if part.combine_skip > 0 {
            part.combine_skip -= 1;
            return Ok(false);
        }
        let hot = part.taken > 8 * share.max(self.chunk_records as u64);
        if !self.combine && !hot {
            return Ok(false);
        }
        let before = part.open.len();
        sort_and_merge(
            self.kind,
            fixed_bits,
            &mut part.open,
            &mut self.combine_scratch,
        )?;
        let merged = before - part.open.len();
        part.records -= merged as u64;
        self.in_memory -= merged;
        if merged >= before / 8 {
            part.combine_backoff = 0;
        } else {
            part.combine_backoff = (part.combine_backoff * 2).clamp(1, 64);
            part.combine_skip = part.combine_backoff;
        }
        // A chunk that lost any record is no longer full (spilled chunks
        // are all exactly full): it goes on filling.
        Ok(merged > 0)
    }

    /// How records are assigned to partitions, for [`Partitioner::group`]
    /// (fixes the partition count if no record has come yet).
    pub fn partitioner(&mut self) -> Partitioner {
        if self.partitions.is_empty() {
            self.plan();
        }
        Partitioner {
            kind: self.kind,
            skip_bits: self.skip_bits,
            bits: self.bits,
        }
    }

    /// Appends every full chunk in memory to the spill file.
    fn spill_full_chunks(&mut self) -> Result<()> {
        let tmp_dir = self.tmp_dir.clone();
        let io_err = |e| Error::io(&tmp_dir, e);
        if self.spill.is_none() {
            let file = tempfile::tempfile_in(&self.tmp_dir).map_err(io_err)?;
            self.spill = Some(Spill {
                out: ChunkWriter::new(file, false).map_err(io_err)?,
                written: 0,
                staged: Vec::new(),
            });
        }
        let spill = self.spill.as_mut().expect("spill file just made");
        for part in &mut self.partitions {
            for mut chunk in part.full.drain(..) {
                let compact = chunk.iter().all(fits_compact);
                let record_bytes = spilled_record_bytes(compact);
                spill.staged.resize(chunk.len() * record_bytes, 0);
                let out = spill.staged.chunks_exact_mut(record_bytes);
                if compact {
                    chunk
                        .iter()
                        .zip(out)
                        .for_each(|(r, o)| encode_compact(r, o));
                } else {
                    chunk.iter().zip(out).for_each(|(r, o)| encode_wide(r, o));
                }
                spill.out.write_all(&spill.staged).map_err(io_err)?;
                // Chunks start on a page: the low bit is free for the form.
                part.spilled.push(spill.written | !compact as u64);
                spill.written += spill.staged.len() as u64;
                self.in_memory -= chunk.len();
                chunk.clear();
                self.free_chunks.push(chunk);
            }
        }
        Ok(())
    }

    /// What was taken, with the distinct hashes and merged counts estimated
    /// when there were many duplicates. (A plaintext list of 6M lines over
    /// 1,001 passwords, planned for 6M records with 1-bit count codes, made
    /// an index of 1,095 bytes per record.)
    fn input(&self) -> SortInput {
        let taken = self.records;
        // Never planned below a sixteenth of the records taken: a crafted
        // input whose fingerprints collide (the sketch would say one hash)
        // then costs buckets of about 16 records, not one bucket of all.
        let sketched = self.distinct.estimate().clamp(taken.min(1), taken);
        let estimate = sketched.max(taken / 16);
        // The sketch is within about 2%: fewer duplicates than that are
        // taken as none.
        if estimate as f64 >= taken as f64 * 0.97 {
            return SortInput {
                taken,
                distinct: taken,
                count_hist: self.count_hist,
            };
        }
        // The taken counts' histogram, its mass scaled to the distinct
        // hashes and moved up by the bits of the average multiplicity: the
        // shape stays (one huge count does not set every code's width).
        let shift = (taken as f64 / sketched as f64).log2().round() as usize;
        let mut count_hist = [0u64; 65];
        for (bits, &n) in self.count_hist.iter().enumerate() {
            if n > 0 {
                let scaled = ((n as u128 * estimate as u128) / taken as u128).max(1) as u64;
                count_hist[(bits + shift).min(64)] += scaled;
            }
        }
        SortInput {
            taken,
            distinct: estimate,
            count_hist,
        }
    }

    /// Ends the input. Returns the records in key order (duplicates merged,
    /// their counts summed) and what was taken.
    pub fn finish(self) -> Result<(SortedRecords, SortInput)> {
        let input = self.input();
        let thread_err = |e: io::Error| {
            Error::Usage(format!(
                "could not start a thread for the sort ({e}): the process or user thread limit \
                 may be too low"
            ))
        };
        let (kind, fixed) = (self.kind, self.skip_bits + self.bits);
        // Three stages, each on its own thread, so that reading a partition
        // back, sorting the ones before it and consuming the ones before
        // those overlap: synchronous direct reads of each partition before
        // its sort left the cores idle for seconds.
        let (to_sorter, loaded) = std::sync::mpsc::sync_channel(2);
        let (to_consumer, sorted) = std::sync::mpsc::sync_channel(1);
        // Bounded: spent partitions beyond what the loader takes are freed
        // (from sorts one level down, every sub-partition came back here).
        let (give_back, spent) = std::sync::mpsc::sync_channel(4);
        let loader = std::thread::Builder::new()
            .name("pwdex-sort-read".into())
            .spawn(move || {
                if let Err(e) = self.load_partitions(&to_sorter, &spent) {
                    let _ = to_sorter.send(Err(e));
                }
            })
            .map_err(thread_err)?;
        let thread = std::thread::Builder::new()
            .name("pwdex-sort".into())
            .spawn(move || {
                if let Err(e) = sort_loaded(kind, fixed, &loaded, &to_consumer) {
                    let _ = to_consumer.send(Err(e));
                    return;
                }
                drop(loaded);
                if loader.join().is_err() {
                    let _ = to_consumer.send(Err(Error::Usage(
                        "the thread reading sort partitions back panicked".into(),
                    )));
                }
            })
            .map_err(thread_err)?;
        let records = SortedRecords {
            sorted,
            current: Vec::new(),
            next: 0,
            give_back,
            thread: Some(thread),
        };
        Ok((records, input))
    }

    /// Reads the partitions back in order and sends them to be sorted;
    /// stops early when the receiver has gone.
    fn load_partitions(
        mut self,
        to: &SyncSender<Result<Loaded>>,
        spent: &Receiver<Vec<(Key, u64)>>,
    ) -> Result<()> {
        self.free_chunks = Vec::new();
        let mut reader = match self.spill.take() {
            Some(spill) => {
                let file = spill
                    .out
                    .into_inner()
                    .map_err(|e| Error::io(&self.tmp_dir, e))?;
                let chunk_bytes = self.chunk_records * spilled_record_bytes(false);
                Some(RunFileReader::new(file, chunk_bytes))
            }
            None => None,
        };
        let limit = (self.capacity / 4) as u64;
        for part in std::mem::take(&mut self.partitions) {
            let loaded = if part.records == 0 {
                continue;
            } else if part.records <= limit {
                let into = spent.try_recv().unwrap_or_default();
                Loaded::Records(self.load(part, reader.as_mut(), into)?)
            } else {
                // Too large to sort in memory: one level down, drained here
                // before the next partition is read, so that one nested sort
                // at most runs per level (started ahead, they each spawned
                // their own and ran thousands of threads at a tiny budget).
                let mut nested = self.sort_large(part, reader.as_mut())?;
                while let Some(records) = nested.next()? {
                    if to.send(Ok(Loaded::Sorted(records))).is_err() {
                        return Ok(());
                    }
                }
                continue;
            };
            if to.send(Ok(loaded)).is_err() {
                break;
            }
        }
        Ok(())
    }

    /// Reads one partition whole: its spilled chunks, then those in memory.
    /// `records` is a spent vector to reuse (fresh memory is slow to touch).
    /// Spilled chunks are decoded straight into it, not staged as
    /// [`Sorter::each_chunk`] does: this is every record's path back.
    fn load(
        &self,
        part: Partition,
        mut reader: Option<&mut RunFileReader>,
        mut records: Vec<(Key, u64)>,
    ) -> Result<Vec<(Key, u64)>> {
        records.clear();
        records.reserve(part.records as usize);
        for &offset in &part.spilled {
            let reader = reader
                .as_deref_mut()
                .expect("a partition with spilled chunks has a spill file");
            self.read_chunk(reader, offset, &mut records)?;
        }
        for chunk in part.full {
            records.extend_from_slice(&chunk);
        }
        records.extend_from_slice(&part.open);
        Ok(records)
    }

    /// Appends the records of the spilled chunk at `spilled` (its offset,
    /// with the low bit set for a wide chunk) to `into`.
    fn read_chunk(
        &self,
        reader: &mut RunFileReader,
        spilled: u64,
        into: &mut Vec<(Key, u64)>,
    ) -> Result<()> {
        let compact = spilled & 1 == 0;
        let record_bytes = spilled_record_bytes(compact);
        let chunk_bytes = self.chunk_records * record_bytes;
        reader.seek_exact(spilled & !1, chunk_bytes);
        let bytes = reader.buffered().map_err(|e| Error::io(&self.tmp_dir, e))?;
        if bytes.len() < chunk_bytes {
            return Err(Error::io(
                &self.tmp_dir,
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "a spilled sort chunk came back with {} of its {chunk_bytes} bytes \
                         (temporary file truncated or damaged?)",
                        bytes.len()
                    ),
                ),
            ));
        }
        let records = bytes[..chunk_bytes].chunks_exact(record_bytes);
        if compact {
            into.extend(records.map(decode_compact));
        } else {
            into.extend(records.map(decode_wide));
        }
        Ok(())
    }

    /// Sorts a partition too large for memory with a sorter of its own, on
    /// the next bits.
    fn sort_large(
        &self,
        part: Partition,
        mut reader: Option<&mut RunFileReader>,
    ) -> Result<Nested> {
        // A first pass finds the bits every record here shares, so that the
        // level below splits on the first bits that differ: one bit a level
        // over hashes sharing a long prefix kept a spill file and two
        // threads open per level (294 threads and 765 MB of spill for 200K
        // sequential hashes at `--memory 1M`).
        let (mut low, mut high) = (None::<Key>, None::<Key>);
        self.each_chunk(&part, reader.as_deref_mut(), &mut |records| {
            for (key, _) in records {
                low = Some(low.map_or(*key, |l| l.min(*key)));
                high = Some(high.map_or(*key, |h| h.max(*key)));
            }
            Ok(())
        })?;
        let (Some(low), Some(high)) = (low, high) else {
            return Ok(Nested::Done(None));
        };
        let shared = common_prefix_bits(self.kind, &low, &high);
        if shared >= self.kind.bits() {
            // One hash, however many copies: its counts summed as they come.
            let mut total = 0u64;
            self.each_chunk(&part, reader, &mut |records| {
                for (key, count) in records {
                    total = total
                        .checked_add(*count)
                        .ok_or_else(|| count_overflow(self.kind, key))?;
                }
                Ok(())
            })?;
            return Ok(Nested::Done(Some(vec![(low, total)])));
        }
        let skip = (self.skip_bits + self.bits).max(shared);
        let mut below = Sorter::below(self.kind, &self.tmp_dir, self.capacity / 2, skip);
        below.expect_records(part.records);
        self.each_chunk(&part, reader, &mut |records| below.extend(records))?;
        Ok(Nested::Sorting(below.finish()?.0))
    }

    /// Calls `each` with every chunk of a partition: spilled, then in memory.
    fn each_chunk<F>(
        &self,
        part: &Partition,
        mut reader: Option<&mut RunFileReader>,
        each: &mut F,
    ) -> Result<()>
    where
        F: FnMut(&[(Key, u64)]) -> Result<()>,
    {
        let mut staged = Vec::with_capacity(self.chunk_records);
        for &offset in &part.spilled {
            let reader = reader
                .as_deref_mut()
                .expect("a partition with spilled chunks has a spill file");
            staged.clear();
            self.read_chunk(reader, offset, &mut staged)?;
            each(&staged)?;
        }
        for chunk in &part.full {
            each(chunk)?;
        }
        each(&part.open)
    }
}

/// A partition read back: its records, to sort, or (from a sort one level
/// down) records already sorted.
enum Loaded {
    Records(Vec<(Key, u64)>),
    Sorted(Vec<(Key, u64)>),
}

/// The output of a partition too large for memory.
enum Nested {
    Sorting(SortedRecords),
    /// Already sorted: one hash with its counts summed (taken by the first
    /// call to `next`).
    Done(Option<Vec<(Key, u64)>>),
}

impl Nested {
    fn next(&mut self) -> Result<Option<Vec<(Key, u64)>>> {
        match self {
            Nested::Sorting(sorted) => sorted.next_partition(),
            Nested::Done(records) => Ok(records.take().filter(|r| !r.is_empty())),
        }
    }
}

/// Sorts loaded partitions, a few at once on all cores, and sends them on
/// in order; stops early when the receiver has gone.
fn sort_loaded(
    kind: HashKind,
    fixed_bits: u32,
    loaded: &Receiver<Result<Loaded>>,
    to: &SyncSender<Result<Vec<(Key, u64)>>>,
) -> Result<()> {
    let threads = rayon::current_num_threads().max(1);
    let mut scratch: Vec<Vec<(Key, u64)>> = (0..threads).map(|_| Vec::new()).collect();
    let mut held = None;
    loop {
        let first = match held.take() {
            Some(x) => x,
            None => match loaded.recv() {
                Ok(x) => x,
                Err(_) => return Ok(()),
            },
        };
        match first? {
            Loaded::Sorted(records) => {
                if to.send(Ok(records)).is_err() {
                    return Ok(());
                }
            }
            Loaded::Records(records) => {
                // Whatever else is already loaded joins the batch.
                let mut batch = vec![records];
                while batch.len() < threads {
                    match loaded.try_recv() {
                        Ok(Ok(Loaded::Records(r))) => batch.push(r),
                        Ok(other) => {
                            held = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                batch
                    .par_iter_mut()
                    .zip(scratch.par_iter_mut())
                    .try_for_each(|(r, s)| sort_and_merge(kind, fixed_bits, r, s))?;
                for records in batch {
                    if to.send(Ok(records)).is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// A spilled chunk is written in one of two forms, the same for all its
/// records:
///
/// * *compact*, 24 bytes a record, when every count fits in 32 bits (all
///   of them, in practice): the low and middle limbs of the key, then one
///   word holding the top limb (32 bits: a SHA-1's first 32, zero for
///   NTLM) above the count;
/// * *wide*, 32 bytes a record: the key's three limbs and the count.
///
/// All words little-endian u64, a plain copy each way instead of converting
/// the big-endian hash bytes (that was 1.03x the CPU of a 100M-record
/// shuffled build). The compact form writes and reads back a quarter less:
/// the final phase of an unsorted build reads the spill while it writes
/// the index, and on the machines measured the disk is what it waits on.
fn spilled_record_bytes(compact: bool) -> usize {
    if compact { 24 } else { 32 }
}

#[inline]
fn fits_compact(record: &(Key, u64)) -> bool {
    record.1 <= u32::MAX as u64 && record.0.limbs().0 <= u32::MAX as u64
}

#[inline]
fn encode_compact(record: &(Key, u64), out: &mut [u8]) {
    let (hi, mid, lo) = record.0.limbs();
    for (field, v) in out.chunks_exact_mut(8).zip([lo, mid, hi << 32 | record.1]) {
        field.copy_from_slice(&v.to_le_bytes());
    }
}

#[inline]
fn decode_compact(bytes: &[u8]) -> (Key, u64) {
    let word = |i: usize| u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().unwrap());
    let top = word(2);
    (
        Key::from_limbs(top >> 32, word(1), word(0)),
        top & u32::MAX as u64,
    )
}

#[inline]
fn encode_wide(record: &(Key, u64), out: &mut [u8]) {
    let (hi, mid, lo) = record.0.limbs();
    for (field, v) in out.chunks_exact_mut(8).zip([hi, mid, lo, record.1]) {
        field.copy_from_slice(&v.to_le_bytes());
    }
}

#[inline]
fn decode_wide(bytes: &[u8]) -> (Key, u64) {
    let word = |i: usize| u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().unwrap());
    (Key::from_limbs(word(0), word(1), word(2)), word(3))
}

/// How many leading bits of the hash `a` and `b` share (the hash's length
/// when they are equal).
fn common_prefix_bits(kind: HashKind, a: &Key, b: &Key) -> u32 {
    let (ah, am, al) = a.limbs();
    let (bh, bm, bl) = b.limbs();
    // The limbs hold 192 bits, the hash the low `kind.bits()` of them.
    let differ = if ah != bh {
        (ah ^ bh).leading_zeros()
    } else if am != bm {
        64 + (am ^ bm).leading_zeros()
    } else if al != bl {
        128 + (al ^ bl).leading_zeros()
    } else {
        192
    };
    (differ - (192 - kind.bits())).min(kind.bits())
}

/// The partition of `key` among `2^bits`: the `bits` bits of the hash
/// after its leading `skip_bits` (`skip_bits + bits` at most the hash's
/// length; `bits` at most 16).
#[inline]
fn partition_of(kind: HashKind, skip_bits: u32, bits: u32, key: &Key) -> usize {
    if skip_bits + bits <= 64 {
        return ((key.top64(kind) << skip_bits) >> (64 - bits)) as usize;
    }
    // Past the first 64 bits: a window over the two limbs the bits lie in
    // (at most 16 bits, so never three).
    let (hi, mid, lo) = key.limbs();
    let start = kind.bits() - skip_bits - bits;
    let window = if start >= 64 {
        ((hi as u128) << 64 | mid as u128) >> (start - 64)
    } else {
        ((mid as u128) << 64 | lo as u128) >> start
    };
    (window as u64 & ((1u64 << bits) - 1)) as usize
}

/// Groups records by the partition a [`Sorter`] will put them in, so that
/// [`Sorter::extend`] copies each group in one piece instead of record by
/// record. Parse workers call [`Partitioner::group`] on the records they
/// just parsed, in parallel and while the records are in their cache: on a
/// 100M-record shuffled build, `extend` record by record was 12% of the
/// CPU, on one thread, mostly waiting on memory.
#[derive(Clone, Copy, Debug)]
pub struct Partitioner {
    kind: HashKind,
    skip_bits: u32,
    bits: u32,
}

impl Partitioner {
    /// Reorders `records` by partition (a counting sort; the order within
    /// a partition is kept).
    pub fn group(&self, records: &mut Vec<(Key, u64)>) {
        thread_local! {
            static SCRATCH: std::cell::RefCell<Vec<(Key, u64)>> =
                const { std::cell::RefCell::new(Vec::new()) };
        }
        if records.len() < 2 {
            return;
        }
        let part = |k: &Key| partition_of(self.kind, self.skip_bits, self.bits, k);
        let mut starts = vec![0u32; (1 << self.bits) + 1];
        for (key, _) in records.iter() {
            starts[part(key) + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        SCRATCH.with_borrow_mut(|scratch| {
            // Every slot below `len` is written next: grow without clearing.
            scratch.resize(scratch.len().max(records.len()), (Key::default(), 0));
            scratch.truncate(records.len());
            for r in records.iter() {
                let slot = &mut starts[part(&r.0)];
                scratch[*slot as usize] = *r;
                *slot += 1;
            }
            std::mem::swap(records, scratch);
        });
    }
}

/// Sorts one partition by key and merges its duplicates (counts summed).
/// Its keys share their leading `fixed_bits` bits; `scratch` is reused.
fn sort_and_merge(
    kind: HashKind,
    fixed_bits: u32,
    records: &mut Vec<(Key, u64)>,
    scratch: &mut Vec<(Key, u64)>,
) -> Result<()> {
    sort_by_key(kind, fixed_bits, records, scratch);
    let kept = merge_sorted_duplicates(kind, records)?;
    records.truncate(kept);
    Ok(())
}

/// Bits of the counting pass of [`sort_by_key`].
const DIGIT_BITS: u32 = 16;

/// Sorts records by key: a counting pass on the [`DIGIT_BITS`] bits after
/// the `fixed_bits` every key shares, then a comparison sort of each bucket.
/// Hashes are spread evenly, so the buckets of a 390,000-record partition
/// hold about six keys each. A comparison sort of whole partitions was
/// 21% of a 100M-record unsorted build's profile.
fn sort_by_key(
    kind: HashKind,
    fixed_bits: u32,
    records: &mut Vec<(Key, u64)>,
    scratch: &mut Vec<(Key, u64)>,
) {
    // Chunks (merging duplicates) and small partitions: a comparison sort.
    if records.len() <= CHUNK_RECORDS || fixed_bits + DIGIT_BITS > 64 {
        records.sort_unstable_by_key(|r| r.0);
        return;
    }
    let digit = |k: &Key| ((k.top64(kind) << fixed_bits) >> (64 - DIGIT_BITS)) as usize;
    let mut starts = vec![0u32; (1 << DIGIT_BITS) + 1];
    for r in records.iter() {
        starts[digit(&r.0) + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    // Every slot below `len` is written next: grow without clearing.
    scratch.resize(scratch.len().max(records.len()), (Key::default(), 0));
    scratch.truncate(records.len());
    let mut next = starts.clone();
    for r in records.iter() {
        let slot = &mut next[digit(&r.0)];
        scratch[*slot as usize] = *r;
        *slot += 1;
    }
    for w in starts.windows(2) {
        let bucket = &mut scratch[w[0] as usize..w[1] as usize];
        if bucket.len() > 1 {
            bucket.sort_unstable_by_key(|r| r.0);
        }
    }
    std::mem::swap(records, scratch);
}

/// Sorts nothing; merges adjacent equal keys of a sorted slice in place
/// (summing counts) and returns the number of distinct records kept.
fn merge_sorted_duplicates(kind: HashKind, records: &mut [(Key, u64)]) -> Result<usize> {
    let mut kept = 0usize;
    for i in 0..records.len() {
        if kept > 0 && records[kept - 1].0 == records[i].0 {
            records[kept - 1].1 = records[kept - 1]
                .1
                .checked_add(records[i].1)
                .ok_or_else(|| count_overflow(kind, &records[i].0))?;
        } else {
            records[kept] = records[i];
            kept += 1;
        }
    }
    Ok(kept)
}

fn count_overflow(kind: HashKind, key: &Key) -> Error {
    Error::Usage(format!(
        "the counts of {} add up to more than 2^64 - 1 (summed over every line and \
         input that holds it)",
        key.to_hex(kind)
    ))
}

/// The records of a [`Sorter`] in key order, a partition at a time, sorted
/// by a background thread while the caller consumes the previous ones.
pub struct SortedRecords {
    sorted: Receiver<Result<Vec<(Key, u64)>>>,
    current: Vec<(Key, u64)>,
    next: usize,
    /// Consumed partitions go back to the sort thread for reuse.
    give_back: SyncSender<Vec<(Key, u64)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SortedRecords {
    /// The next sorted partition (never empty), or `None` at the end.
    fn next_partition(&mut self) -> Result<Option<Vec<(Key, u64)>>> {
        match self.sorted.recv() {
            Ok(Ok(records)) => Ok(Some(records)),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                // The sorter is done: it sent everything, or it panicked.
                if let Some(thread) = self.thread.take()
                    && thread.join().is_err()
                {
                    return Err(Error::Usage("the sort thread panicked".into()));
                }
                Ok(None)
            }
        }
    }

    /// The next sorted partition (never empty; duplicates merged), or
    /// `None` at the end. Hand it back with [`SortedRecords::recycle`] once
    /// used, for the sort to reuse its memory.
    pub fn next_batch(&mut self) -> Result<Option<Vec<(Key, u64)>>> {
        self.next_partition()
    }

    /// Gives a spent partition's memory back to the sort.
    pub fn recycle(&mut self, spent: Vec<(Key, u64)>) {
        // Full: freed here rather than queued.
        let _ = self.give_back.try_send(spent);
    }

    /// The next distinct record in key order, with its summed count.
    pub fn next_record(&mut self) -> Result<Option<(Key, u64)>> {
        if self.next == self.current.len() {
            match self.next_partition()? {
                Some(records) => {
                    let spent = std::mem::replace(&mut self.current, records);
                    self.recycle(spent);
                    self.next = 0;
                }
                None => return Ok(None),
            }
        }
        let record = self.current[self.next];
        self.next += 1;
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `records` to a sorter with `memory` bytes, in batches of 777,
    /// checks its output against a map that sums counts, and returns how
    /// many chunks were spilled before `finish`.
    fn sort_matches_reference(kind: HashKind, memory: usize, records: &[(Key, u64)]) -> usize {
        let dir = tempfile::tempdir().unwrap();
        let mut sorter = Sorter::new(kind, dir.path(), memory);
        let mut reference = std::collections::BTreeMap::new();
        for &(key, count) in records {
            *reference.entry(key).or_insert(0u64) += count;
        }
        for batch in records.chunks(777) {
            sorter.extend(batch).unwrap();
        }
        let spilled = spilled_chunks(&sorter);
        let (mut sorted, input) = sorter.finish().unwrap();
        assert_eq!(input.taken, records.len() as u64);
        // The plan's floor: a sixteenth of the records taken.
        let distinct = reference.len().max(records.len() / 16) as f64;
        assert!(
            (input.distinct as f64 - distinct).abs() <= distinct * 0.05 + 2.0,
            "{} distinct estimated, {distinct} true",
            input.distinct
        );
        if input.distinct == input.taken {
            let mut expected_hist = [0u64; 65];
            for (_, c) in records {
                expected_hist[64 - c.leading_zeros() as usize] += 1;
            }
            assert_eq!(input.count_hist, expected_hist);
        }
        let mut out = Vec::new();
        while let Some(r) = sorted.next_record().unwrap() {
            out.push(r);
        }
        let expected: Vec<(Key, u64)> = reference.into_iter().collect();
        assert_eq!(out, expected);
        spilled
    }

    fn spilled_chunks(sorter: &Sorter) -> usize {
        sorter.partitions.iter().map(|p| p.spilled.len()).sum()
    }

    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// Random SHA-1 keys (all three limbs) with counts from 1 to 1000.
    fn random_records(n: usize, seed: u64) -> Vec<(Key, u64)> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                let hi = xorshift(&mut x) >> 32;
                let key = Key::from_limbs(hi, xorshift(&mut x), xorshift(&mut x));
                (key, 1 + xorshift(&mut x) % 1000)
            })
            .collect()
    }

    #[test]
    fn an_input_within_the_budget_is_sorted_without_spilling() {
        let records = random_records(50_000, 5);
        let spilled = sort_matches_reference(HashKind::Sha1, 64 << 20, &records);
        assert_eq!(spilled, 0);
    }

    #[test]
    fn spilled_partitions_come_back_sorted_and_whole() {
        // 600,000 records against a budget of 200,000: spills, and every
        // partition is read back from the file and from memory.
        let records = random_records(600_000, 11);
        let spilled = sort_matches_reference(
            HashKind::Sha1,
            200_000 * BYTES_PER_BUFFERED_RECORD,
            &records,
        );
        assert!(spilled > 10, "{spilled} chunks spilled");
    }

    /// Chunks holding a count wider than 32 bits are spilled in the wide
    /// form, the others compact; a count of exactly `u32::MAX` still fits
    /// the compact form. Both come back exact, side by side.
    #[test]
    fn wide_and_compact_chunks_come_back_exact() {
        let mut records = random_records(400_000, 17);
        for (i, r) in records.iter_mut().enumerate() {
            if i % 50_000 == 7 {
                r.1 = u32::MAX as u64 + 1 + i as u64;
            } else if i % 10_000 == 3 {
                r.1 = u32::MAX as u64;
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let mut sorter = Sorter::new(
            HashKind::Sha1,
            dir.path(),
            100_000 * BYTES_PER_BUFFERED_RECORD,
        );
        sorter.extend(&records).unwrap();
        let spilled: Vec<u64> = sorter
            .partitions
            .iter()
            .flat_map(|p| p.spilled.clone())
            .collect();
        let wide = spilled.iter().filter(|&&o| o & 1 == 1).count();
        assert!(
            wide > 0 && wide < spilled.len() / 10,
            "{wide} of {} wide",
            spilled.len()
        );
        drop(sorter);
        sort_matches_reference(
            HashKind::Sha1,
            100_000 * BYTES_PER_BUFFERED_RECORD,
            &records,
        );
    }

    #[test]
    fn duplicates_within_and_across_spills_are_summed() {
        let mut x = 7u64;
        let records: Vec<(Key, u64)> = (0..200_000u64)
            .map(|i| {
                // 3,000 distinct NTLM hashes, repeated.
                let k = xorshift(&mut x) % 3000;
                (
                    Key::from_limbs(0, k.wrapping_mul(0x9E37_79B9_7F4A_7C15), k),
                    i + 1,
                )
            })
            .collect();
        let spilled = sort_matches_reference(HashKind::Ntlm, 0, &records);
        assert!(spilled > 10, "{spilled} chunks spilled");
    }

    /// With a tiny budget the partitions are larger than memory and are
    /// sorted again one level down (and again): still exact.
    #[test]
    fn partitions_larger_than_memory_are_sorted_a_level_down() {
        let records = random_records(300_000, 3);
        let spilled = sort_matches_reference(HashKind::Sha1, 0, &records);
        assert!(spilled > 100, "{spilled} chunks spilled");
    }

    /// Hashes sharing their top 64 bits (only possible with few distinct
    /// hashes) cannot be split further; they are sorted in memory.
    #[test]
    fn hashes_sharing_their_top_bits_still_sort() {
        let mut x = 9u64;
        let records: Vec<(Key, u64)> = (0..40_000u64)
            .map(|_| (Key::from_limbs(0, 42, xorshift(&mut x) % 50), 1))
            .collect();
        sort_matches_reference(HashKind::Ntlm, 0, &records);
    }

    /// Distinct hashes that share their first 64 bits (or 100): partitions
    /// one level down take bits past the first 64.
    #[test]
    fn hashes_sharing_long_prefixes_are_split_past_64_bits() {
        let mut x = 21u64;
        let ntlm: Vec<(Key, u64)> = (0..60_000u64)
            .map(|i| (Key::from_limbs(0, 42, xorshift(&mut x) ^ i), 1 + i % 7))
            .collect();
        let spilled = sort_matches_reference(HashKind::Ntlm, 0, &ntlm);
        assert!(spilled > 10, "{spilled} chunks spilled");
        let sha1: Vec<(Key, u64)> = (0..60_000u64)
            .map(|i| {
                let lo = (7 << 60) | (xorshift(&mut x) >> 4);
                (Key::from_limbs(0xdead_beef, 99, lo), i + 1)
            })
            .collect();
        sort_matches_reference(HashKind::Sha1, 0, &sha1);
        // Sequential hashes, shuffled: they share 140 bits or more.
        let mut seq: Vec<(Key, u64)> = (1..=50_000u64)
            .map(|i| (Key::from_limbs(0, 0, i), i))
            .collect();
        for i in (1..seq.len()).rev() {
            seq.swap(i, (xorshift(&mut x) % (i as u64 + 1)) as usize);
        }
        sort_matches_reference(HashKind::Sha1, 0, &seq);
    }

    /// Hashes crafted so that their sketch fingerprints collide: the plan
    /// never goes below a sixteenth of the records taken.
    #[test]
    fn colliding_fingerprints_cannot_shrink_the_plan_to_nothing() {
        let mut x = 31u64;
        let records: Vec<(Key, u64)> = (0..20_000u64)
            .map(|_| {
                let (hi, mid) = (xorshift(&mut x) >> 32, xorshift(&mut x));
                let lo = mid.rotate_left(21) ^ hi.rotate_left(43);
                (Key::from_limbs(hi, mid, lo), 1)
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let mut sorter = Sorter::new(HashKind::Sha1, dir.path(), 64 << 20);
        sorter.extend(&records).unwrap();
        let input = sorter.input();
        assert_eq!(input.taken, 20_000);
        assert!(input.distinct >= 20_000 / 16, "{}", input.distinct);
    }

    /// One hash repeated throughout (a plaintext list's most common
    /// password): its copies are merged as its chunks fill, not spilled
    /// and re-sorted level after level; at a tiny budget (two partitions,
    /// so none stands out) they are merged one level down.
    #[test]
    fn one_hash_repeated_throughout_is_merged_as_it_comes() {
        let common = Key::from_limbs(0x1234_5678, 0x5678, 0x9abc);
        // 1,000 other hashes, spread over the whole space, repeated too.
        let others = random_records(1000, 77);
        let mut x = 5u64;
        let records: Vec<(Key, u64)> = (0..400_000u64)
            .map(|i| {
                if i % 2 == 0 {
                    (common, 1)
                } else {
                    (others[(xorshift(&mut x) % 1000) as usize].0, 2)
                }
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let mut sorter = Sorter::new(HashKind::Sha1, dir.path(), 2 << 20);
        for batch in records.chunks(777) {
            sorter.extend(batch).unwrap();
        }
        let held = sorter.partitions[sorter.partition_of(&common)].records;
        // Merging starts once the partition has taken 8 chunks' worth; the
        // 200,000 copies would all be held (and spilled) without it.
        assert!(
            held < 10 * sorter.chunk_records as u64,
            "{held} records held"
        );
        sort_matches_reference(HashKind::Sha1, 2 << 20, &records);
        sort_matches_reference(HashKind::Sha1, 0, &records);
    }

    /// A spilled chunk that lost its tail is an error, not a build with
    /// fewer records.
    #[test]
    fn a_truncated_spill_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut sorter = Sorter::new(HashKind::Sha1, dir.path(), 0);
        sorter.extend(&random_records(100_000, 13)).unwrap();
        assert!(spilled_chunks(&sorter) > 0);
        let spill = sorter.spill.take().unwrap();
        let file = spill.out.into_inner().unwrap();
        file.set_len(file.metadata().unwrap().len() - 10).unwrap();
        sorter.spill = Some(Spill {
            out: ChunkWriter::new(file, false).unwrap(),
            written: spill.written,
            staged: Vec::new(),
        });
        let (mut sorted, _) = sorter.finish().unwrap();
        let error = loop {
            match sorted.next_record() {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the sort ended without noticing the lost records"),
                Err(e) => break e.to_string(),
            }
        };
        assert!(error.contains("came back with"), "{error}");
    }
}
