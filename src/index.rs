/*!
The index reader: opening an index and answering "is this hash stored, and
with what count?".

[`Index`] is generic over `D: AsRef<[u8]>`, so a memory map in production and
a `Vec<u8>` in tests go through the same code. Opening is cheap: it decodes
and validates the header (so no later read can go out of bounds) and checks
the tiny top level of the page checksums. It reads nothing else.

Lookups are exact: the filter may only rule a key out, and a reported match
has had every stored bit of its hash compared. A lookup goes
filter block → bucket sample → bucket sizes → records, one cache line each
in the common case, and never a search over the whole file.

For a batch that reads most of the index anyway, two small in-memory tables
can be built from it first ([`Index::index_overflow_counts`],
[`Index::index_buckets`]): a directory over the count-overflow section, and
the bucket samples and sizes in one 32-byte slot per 64 buckets. Both are
copies of verified sections, so answers are the same with or without them.

Integrity on the fly: every page a lookup reads is checked against its
xxh3 page checksum the first time it is touched (a bit per page remembers
it), so bit rot in a touched page becomes an error, never a wrong answer.
`pwdex verify` checks the whole file instead.
*/

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::time::Instant;

use xxhash_rust::xxh3::xxh3_64;

use crate::bits::read_bits;
use crate::error::{Error, Result};
use crate::filter;
use crate::format::{Header, PAGE, Params, SectionId};
use crate::hash::{HashKind, Key};

/// Keys looked up together by [`Index::get_many`].
pub const LOOKUP_GROUP: usize = 64;

/// Hints the CPU to start loading the cache line at `ptr`.
#[inline(always)]
pub(crate) fn prefetch(ptr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults and never reads
    // into the program, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(ptr as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

/// A read-only index over its bytes.
pub struct Index<D> {
    data: D,
    path: PathBuf,
    header: Header,
    file_len: u64,
    records: Range<usize>,
    sizes: Range<usize>,
    samples: Range<usize>,
    overflow: Range<usize>,
    filter: Range<usize>,
    sums: Range<usize>,
    top: Range<usize>,
    /// One bit per file page: set once the page matched its checksum.
    page_ok: Vec<AtomicU64>,
    /// One bit per page of the page-sums section.
    sums_page_ok: Vec<AtomicU64>,
    /// Set once every data page has matched its checksum
    /// ([`Index::verify_all_pages`]): `ensure` then tests one flag instead
    /// of a bit per page.
    all_pages_ok: AtomicBool,
    /// Asks the kernel to start reading a byte range (memory maps only).
    will_need: Option<fn(&D, usize, usize)>,
    /// Whether lookups are waiting on the disk (see [`ColdSwitch`]).
    cold: ColdSwitch,
    /// Where each run of records starts in the count-overflow section, built
    /// in memory for dense batches ([`Index::index_overflow_counts`]).
    overflow_directory: OnceLock<OverflowDirectory>,
    /// The bucket samples and sizes in one slot per 64 buckets, built in
    /// memory for dense batches ([`Index::index_buckets`]).
    bucket_slots: OnceLock<BucketSlots>,
}

/// An in-memory directory over the count-overflow section: for every
/// `2^shift` records, the first overflow entry whose record index is at or
/// past the run's first record. A count lookup then searches the few
/// entries of one run instead of bracketing its entry in the whole section.
struct OverflowDirectory {
    shift: u32,
    /// One more than the number of runs; the last is the entry count.
    starts: Vec<u32>,
}

/// Overflow entries per directory run, on average (see [`OverflowDirectory`]).
const OVERFLOW_ENTRIES_PER_RUN: u64 = 8;

/// Buckets per [`BucketSlot`].
const SLOT_BUCKETS: u64 = 64;
/// Largest bucket table [`Index::index_buckets`] builds: 64 MiB, the table
/// of 2^27 buckets. The default layout has one bucket for every one or two
/// records, so indexes of up to about 250 million records get the table;
/// the full Pwned Passwords corpus (2^30 or more buckets) never does.
const MAX_SLOT_TABLE_BYTES: u64 = 64 << 20;

/// 64 buckets in half a cache line: the index of their first record, then
/// their stretch of the bucket sizes' unary code (each bucket's records as
/// ones, then a zero; 192 bits hold 64 buckets of up to 128 records in
/// all). A group with more records keeps `first = u64::MAX` and is looked
/// up in the index's own sections.
#[derive(Clone, Copy, Default)]
#[repr(C, align(32))]
struct BucketSlot {
    first: u64,
    unary: [u64; 3],
}

/// An in-memory table of [`BucketSlot`]s, one per 64 buckets, built for
/// dense batches: a lookup finds its bucket's records in one cache line
/// instead of a bucket sample and one or two lines of bucket sizes.
struct BucketSlots {
    slots: Vec<BucketSlot>,
}

/// Where bucket `k` (0-63) of a slot starts among the slot's records, and
/// how many it holds; `None` only for a slot the table would not build.
#[inline(always)]
fn bucket_in_slot(unary: &[u64; 3], k: u32) -> Option<(u64, u64)> {
    // Skip k bucket ends (zeros), then count the bucket's ones.
    let mut pos = 0u32;
    if k > 0 {
        let mut skip = k;
        let mut word = 0;
        loop {
            let zeros = !*unary.get(word)?;
            let n = zeros.count_ones();
            if skip <= n {
                pos = word as u32 * 64 + select_in_word(zeros, skip - 1) + 1;
                break;
            }
            skip -= n;
            word += 1;
        }
    }
    let mut ones = 0u32;
    let (mut word, mut shift) = ((pos / 64) as usize, pos % 64);
    while let Some(&w) = unary.get(word) {
        let run = (w >> shift).trailing_ones().min(64 - shift);
        ones += run;
        if run < 64 - shift {
            break;
        }
        (word, shift) = (word + 1, 0);
    }
    Some(((pos - k) as u64, ones as u64))
}

/// Memory-maps `path` read-only.
///
/// This is the only place pwdex maps an index; the other map is of a query
/// file, in [`crate::batch::Checker::check_file`].
pub(crate) fn map_file(path: &Path) -> Result<memmap2::Mmap> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: the map is read-only and pwdex never writes to an index after
    // it is renamed into place (builds write a new file and rename it over
    // the old one, so a reader keeps the old inode). The remaining risk is
    // another program truncating the file while it is mapped, which makes
    // reads past the new end raise SIGBUS; that cannot be prevented from
    // here and is documented in the README.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    Ok(map)
}

impl Index<memmap2::Mmap> {
    /// Opens an index file by memory-mapping it, with random-access advice so
    /// that a lookup faults in one page rather than a read-ahead window.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let map = map_file(path)?;
        // Advice is an optimisation only; failure to give it is not an error.
        let _ = map.advise(memmap2::Advice::Random);
        let mut index = Index::from_bytes_named(map, path)?;
        index.will_need = Some(|map, offset, len| {
            let _ = map.advise_range(memmap2::Advice::WillNeed, offset, len);
        });
        Ok(index)
    }

    /// Asks the kernel to read the sections every lookup starts with (filter,
    /// bucket samples and sizes, count overflow: about 9% of the file) ahead,
    /// sequentially and asynchronously. Worth it for large batches, which
    /// touch nearly every page of them anyway; a cold index then costs one
    /// sequential read of its front instead of scattered page faults.
    pub fn prefetch_front(&self) {
        for r in [&self.filter, &self.samples, &self.sizes, &self.overflow] {
            let _ = self
                .data
                .advise_range(memmap2::Advice::WillNeed, r.start, r.end - r.start);
        }
    }

    /// Asks the kernel to read the filter section ahead, sequentially. Worth
    /// it for large batches, which touch every filter page anyway.
    pub fn prefetch_filter(&self) {
        let f = &self.filter;
        let _ = self
            .data
            .advise_range(memmap2::Advice::WillNeed, f.start, f.end - f.start);
    }

    /// Prepares the map for a pass over the whole file (a batch dense enough
    /// to touch every page, see [`Index::verify_all_pages`]): sequential
    /// read-ahead, and 2 MiB pages where the kernel can give them.
    ///
    /// Pages the pass reads from disk then land in the page cache as 2 MiB
    /// folios (ext4 and XFS on recent kernels), which the kernel maps with
    /// one TLB entry each, in this run and in later ones. 10M queries
    /// against a 20M-record index cached that way take 0.87x the wall time
    /// and 0.84x the CPU of the same index cached in 4 KiB pages
    /// (`farm-bench -n 12`). With the index evicted first, the whole run took
    /// 1.2 s instead of 4.4-5.2 s: random-access advice alone read the file
    /// a page per fault. Pages already cached stay as they are. Call
    /// [`Index::advise_lookups`] after the pass.
    pub fn advise_full_pass(&self) {
        let _ = self.data.advise(memmap2::Advice::HugePage);
        let _ = self.data.advise(memmap2::Advice::Sequential);
    }

    /// Restores the random-access advice [`Index::open`] gives, so that a
    /// lookup that faults reads one page, not a read-ahead window.
    pub fn advise_lookups(&self) {
        let _ = self.data.advise(memmap2::Advice::Random);
    }

    /// Switches the kernel to sequential read-ahead for the whole file, for
    /// a full scan such as `pwdex verify` (the random-access advice given by
    /// [`Index::open`] would fault a cold file in one page at a time).
    pub fn advise_sequential(&self) {
        let _ = self.data.advise(memmap2::Advice::Sequential);
    }
}

impl<D: AsRef<[u8]>> Index<D> {
    /// Opens an index held in memory.
    pub fn from_bytes(data: D) -> Result<Self> {
        Self::from_bytes_named(data, Path::new("<memory>"))
    }

    /// Opens an index held in memory, naming it `path` in messages.
    pub fn from_bytes_named(data: D, path: &Path) -> Result<Self> {
        let bytes = data.as_ref();
        let file_len = bytes.len() as u64;
        let header = Header::decode(path, bytes, file_len)?;
        let range = |id| header.section(id).range();
        let top = range(SectionId::PageSumsTop);
        if xxh3_64(&bytes[top.clone()]) != header.section(SectionId::PageSumsTop).xxh3 {
            return Err(Error::corrupt(
                path,
                "page sums top section checksum mismatch",
            ));
        }
        let pages = file_len.div_ceil(PAGE) as usize;
        let sums = range(SectionId::PageSums);
        let sums_pages = (sums.len() as u64).div_ceil(PAGE) as usize;
        Ok(Index {
            records: range(SectionId::Records),
            sizes: range(SectionId::BucketSizes),
            samples: range(SectionId::BucketSamples),
            overflow: range(SectionId::CountOverflow),
            filter: range(SectionId::Filter),
            sums,
            top,
            page_ok: (0..pages.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            all_pages_ok: AtomicBool::new(false),
            sums_page_ok: (0..sums_pages.div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
            will_need: None,
            cold: ColdSwitch::default(),
            overflow_directory: OnceLock::new(),
            bucket_slots: OnceLock::new(),
            data,
            path: path.to_path_buf(),
            header,
            file_len,
        })
    }

    /// The path (or name) the index was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The decoded header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The layout parameters.
    pub fn params(&self) -> &Params {
        &self.header.params
    }

    /// Hash kind of the stored records.
    pub fn kind(&self) -> HashKind {
        self.header.params.kind
    }

    /// Number of stored hashes.
    pub fn len(&self) -> u64 {
        self.header.params.records
    }

    /// True when the index stores no hash.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size of the index file in bytes.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// The raw bytes of the whole file.
    pub fn bytes(&self) -> &[u8] {
        self.data.as_ref()
    }

    /// The build record (JSON text) stored in the index.
    pub fn build_record(&self) -> Result<serde_json::Value> {
        let range = self.header.section(SectionId::BuildRecord).range();
        self.ensure(range.clone())?;
        serde_json::from_slice(&self.bytes()[range])
            .map_err(|e| Error::corrupt(&self.path, format!("build record is not valid JSON: {e}")))
    }

    fn corrupt(&self, what: impl Into<String>) -> Error {
        Error::corrupt(&self.path, what)
    }

    /// Checks, once per page, that the pages holding `range` match their checksums.
    #[inline]
    pub fn ensure(&self, range: Range<usize>) -> Result<()> {
        if self.all_pages_ok.load(Ordering::Relaxed) {
            return Ok(());
        }
        let first = range.start / PAGE as usize;
        let last = (range.end.max(range.start + 1) - 1) / PAGE as usize;
        for page in first..=last {
            let word = self
                .page_ok
                .get(page / 64)
                .map(|w| w.load(Ordering::Relaxed));
            if word.is_none_or(|w| w & (1 << (page % 64)) == 0) {
                self.verify_page(page)?;
            }
        }
        Ok(())
    }

    /// Checks every data page against its checksum now, on all cores, in
    /// file order. For a batch dense enough to touch nearly every page this
    /// replaces the lazy first-touch checks: hashing the file front to back
    /// streams at memory speed, while first touches in lookup order each
    /// start cold (they were 28% of a 1M-query check's profile).
    pub fn verify_all_pages(&self) -> Result<()>
    where
        D: Sync,
    {
        use rayon::prelude::*;
        let sums_first_page = self.sums.start / PAGE as usize;
        (1..sums_first_page)
            .into_par_iter()
            .with_min_len(256)
            .try_for_each(|page| {
                let word = self.page_ok[page / 64].load(Ordering::Relaxed);
                if word & (1 << (page % 64)) == 0 {
                    self.verify_page(page)?;
                }
                Ok(())
            })?;
        self.all_pages_ok.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Copies the bucket samples and sizes into an in-memory table of one
    /// 32-byte slot per 64 buckets (0.25-0.5 bytes per record with the
    /// default layout), so that a lookup finds its bucket in one cache line
    /// instead of a sample and one or two lines of sizes. Worth it for a
    /// batch that reads most of the index anyway; see BENCHMARKS.md for the
    /// measured gain. Does nothing for an index whose table would pass
    /// 64 MiB (more than 2^27 buckets, about 250
    /// million records) or that samples buckets less often than every 64.
    pub fn index_buckets(&self) -> Result<()>
    where
        D: Sync,
    {
        use rayon::prelude::*;
        let p = *self.params();
        let groups = p.buckets().div_ceil(SLOT_BUCKETS);
        if p.sample_shift > SLOT_BUCKETS.trailing_zeros()
            || groups * size_of::<BucketSlot>() as u64 > MAX_SLOT_TABLE_BYTES
            || self.bucket_slots.get().is_some()
        {
            return Ok(());
        }
        self.ensure(self.samples.clone())?;
        self.ensure(self.sizes.clone())?;
        let samples = &self.bytes()[self.samples.clone()];
        let sizes = &self.bytes()[self.sizes.clone()];
        // Records before the group's first bucket, from its bucket sample.
        let sample = |g: u64| -> Result<u64> {
            let at = ((g * SLOT_BUCKETS) >> p.sample_shift) as usize * 8;
            match samples.get(at..at + 8) {
                Some(b) => Ok(u64::from_le_bytes(b.try_into().unwrap())),
                None => Err(self.corrupt("bucket samples section too short")),
            }
        };
        let slot = |g: u64| -> Result<BucketSlot> {
            let first = sample(g)?;
            let end = if g + 1 < groups {
                sample(g + 1)?
            } else {
                p.records
            };
            if first > end || end > p.records {
                return Err(self.corrupt(format!("bucket sample {g} out of order")));
            }
            let buckets = (p.buckets() - g * SLOT_BUCKETS).min(SLOT_BUCKETS);
            let len = end - first + buckets;
            if len > 64 * 3 {
                return Ok(BucketSlot {
                    first: u64::MAX,
                    unary: [0; 3],
                });
            }
            // The group's stretch of the unary code starts after every
            // earlier record (a one each) and bucket (a zero each).
            let pos = first + g * SLOT_BUCKETS;
            let mut unary = [0u64; 3];
            for (j, word) in unary.iter_mut().enumerate() {
                let at = j as u64 * 64;
                if at < len {
                    *word = read_bits(sizes, pos + at, (len - at).min(64) as u32)
                        .ok_or_else(|| self.corrupt("bucket sizes run past their end"))?;
                }
            }
            // Whole buckets: as many zeros as buckets, the last bit one of them.
            let ones: u64 = unary.iter().map(|w| w.count_ones() as u64).sum();
            let last = unary[((len - 1) / 64) as usize] >> ((len - 1) % 64) & 1;
            if len - ones != buckets || last != 0 {
                return Err(self.corrupt("bucket sizes disagree with the samples"));
            }
            Ok(BucketSlot { first, unary })
        };
        // Written straight into the table's memory by the worker threads
        // (`collect_into_vec`); the first error, if any, is kept aside.
        // Collecting a `Result` of a `Vec` built the table in pieces and
        // copied it: 2.7 ms instead of about 1 for 5M records.
        let failed = std::sync::Mutex::new(None);
        let mut slots = Vec::new();
        (0..groups as usize)
            .into_par_iter()
            .map(|g| {
                slot(g as u64).unwrap_or_else(|e| {
                    if let Ok(mut first) = failed.lock() {
                        first.get_or_insert(e);
                    }
                    BucketSlot::default()
                })
            })
            .collect_into_vec(&mut slots);
        if let Some(e) = failed.into_inner().ok().flatten() {
            return Err(e);
        }
        let _ = self.bucket_slots.set(BucketSlots { slots });
        Ok(())
    }

    /// Reads the whole count-overflow section once and keeps a small
    /// directory of it in memory (4 bytes per 8 overflow entries, about
    /// 0.2 bits per record), so that each overflowing count is then found
    /// in one short run instead of by a search across the section. Worth it
    /// for a batch that reads most of the index anyway. Together with the
    /// deferred, prefetched reads of [`Index::get_many`] it took the count
    /// lookups from 5-8% of a 10M-query check's profile to about 1.4%;
    /// either alone gained nothing.
    /// Does nothing for an index with no overflow entries or more than
    /// `u32::MAX` of them.
    pub fn index_overflow_counts(&self) -> Result<()> {
        let p = *self.params();
        let entries = p.overflow_entries;
        if entries == 0 || entries > u32::MAX as u64 || self.overflow_directory.get().is_some() {
            return Ok(());
        }
        let per_run = (p.records / entries).max(1) * OVERFLOW_ENTRIES_PER_RUN;
        let shift = (u64::BITS - 1 - per_run.leading_zeros()).clamp(4, 32);
        let runs = (p.records >> shift) as usize + 1;
        let (ib, cb) = (p.overflow_index_bits, p.overflow_count_bits);
        let entry_bits = (ib + cb) as u64;
        self.ensure(self.overflow.clone())?;
        let over = &self.bytes()[self.overflow.clone()];
        let mut starts = Vec::with_capacity(runs + 1);
        for e in 0..entries {
            let record = read_bits(over, e * entry_bits, ib)
                .ok_or_else(|| self.corrupt("count overflow section too short"))?;
            if record >= p.records {
                return Err(self.corrupt(format!(
                    "count overflow entry {e} names record {record}, past the last"
                )));
            }
            let run = (record >> shift) as usize;
            if run + 1 < starts.len() {
                return Err(
                    self.corrupt(format!("count overflow entry {e} is out of record order"))
                );
            }
            while starts.len() <= run {
                starts.push(e as u32);
            }
        }
        starts.resize(runs + 1, entries as u32);
        let _ = self
            .overflow_directory
            .set(OverflowDirectory { shift, starts });
        Ok(())
    }

    #[cold]
    fn verify_page(&self, page: usize) -> Result<()> {
        let sums_first_page = self.sums.start / PAGE as usize;
        if page == 0 || page >= sums_first_page {
            // Only data pages are read through `ensure`; anything else means a
            // section range pointed outside the data area.
            return Err(self.corrupt(format!("read of page {page} outside the data area")));
        }
        let entry = self.sums.start + (page - 1) * 8;
        self.ensure_sums_page((entry - self.sums.start) / PAGE as usize)?;
        let expected = u64::from_le_bytes(self.bytes()[entry..entry + 8].try_into().unwrap());
        let start = page * PAGE as usize;
        let bytes = &self.bytes()[start..start + PAGE as usize];
        if crate::pagesum::page_checksum(bytes) != expected {
            return Err(self.corrupt(format!(
                "checksum mismatch in page {page} ({} section)",
                self.section_at(start).map_or("padding", |s| s.name())
            )));
        }
        self.page_ok[page / 64].fetch_or(1 << (page % 64), Ordering::Relaxed);
        Ok(())
    }

    fn ensure_sums_page(&self, q: usize) -> Result<()> {
        if self.sums_page_ok[q / 64].load(Ordering::Relaxed) & (1 << (q % 64)) != 0 {
            return Ok(());
        }
        let start = self.sums.start + q * PAGE as usize;
        let end = (start + PAGE as usize).min(self.sums.end);
        let expected_at = self.top.start + q * 8;
        let expected = u64::from_le_bytes(
            self.bytes()[expected_at..expected_at + 8]
                .try_into()
                .unwrap(),
        );
        if xxh3_64(&self.bytes()[start..end]) != expected {
            return Err(self.corrupt(format!("checksum mismatch in page sums page {q}")));
        }
        self.sums_page_ok[q / 64].fetch_or(1 << (q % 64), Ordering::Relaxed);
        Ok(())
    }

    /// The section holding byte `offset`, if any.
    pub fn section_at(&self, offset: usize) -> Option<SectionId> {
        self.header
            .sections
            .iter()
            .find(|s| s.range().contains(&offset))
            .map(|s| s.id)
    }

    /// Looks up a key: its count if stored, `None` if not.
    pub fn get(&self, key: &Key) -> Result<Option<u64>> {
        if !self.filter_may_contain(key)? {
            return Ok(None);
        }
        self.get_unfiltered(key)
    }

    /// The filter's verdict for a key: `false` means certainly absent.
    #[inline]
    pub fn filter_may_contain(&self, key: &Key) -> Result<bool> {
        let blocks = self.params().filter_blocks;
        let start = self.filter.start
            + filter::block_of(key, self.kind(), blocks) as usize * filter::BLOCK_BYTES;
        let range = start..start + filter::BLOCK_BYTES;
        self.ensure(range.clone())?;
        let block: &[u8; filter::BLOCK_BYTES] = self.bytes()[range].try_into().unwrap();
        Ok(filter::block_contains(block, key))
    }

    /// Byte address of a key's filter block, for prefetching.
    #[inline]
    pub fn filter_block_ptr(&self, key: &Key) -> *const u8 {
        let blocks = self.params().filter_blocks;
        let start = self.filter.start
            + filter::block_of(key, self.kind(), blocks) as usize * filter::BLOCK_BYTES;
        self.bytes()[start..].as_ptr()
    }

    /// Looks a key up in the records without consulting the filter.
    pub fn get_unfiltered(&self, key: &Key) -> Result<Option<u64>> {
        let p = self.params();
        let bucket = key.top_bits(p.kind, p.bucket_bits);
        let records = self.bucket_records(bucket)?;
        let wanted = key.low_chunks(p.suffix_bits());
        for i in records {
            let (code, suffix) = self.record_at(i)?;
            if suffix == wanted {
                return self.decode_count(i, code).map(Some);
            }
        }
        Ok(None)
    }

    /// The record indices of bucket `bucket`.
    pub fn bucket_records(&self, bucket: u64) -> Result<Range<u64>> {
        let (pos, skip) = self.bucket_scan_start(bucket)?;
        self.bucket_range_from(bucket, pos, skip)
    }

    /// First half of a bucket lookup: reads the bucket's sample and returns
    /// the unary position of its sample group's first bucket and how many
    /// bucket ends (zeros) to skip from there.
    #[inline(always)]
    fn bucket_scan_start(&self, bucket: u64) -> Result<(u64, u64)> {
        let p = self.params();
        if bucket >= p.buckets() {
            return Err(self.corrupt(format!("bucket {bucket} out of range")));
        }
        let group = bucket >> p.sample_shift;
        let sample_at = self.samples.start + group as usize * 8;
        self.ensure(sample_at..sample_at + 8)?;
        let first_record =
            u64::from_le_bytes(self.bytes()[sample_at..sample_at + 8].try_into().unwrap());
        if first_record > p.records {
            return Err(self.corrupt(format!("bucket sample {group} points past the last record")));
        }
        // Every earlier record contributed a 1 and every earlier bucket a 0.
        Ok((
            first_record + (group << p.sample_shift),
            bucket - (group << p.sample_shift),
        ))
    }

    /// The records of `bucket`, from its slot of the in-memory bucket table;
    /// from the index's sections for a slot too full for the table.
    #[inline(always)]
    fn bucket_range_in(&self, table: &BucketSlots, bucket: u64) -> Result<Range<u64>> {
        if let Some(slot) = table.slots.get((bucket / SLOT_BUCKETS) as usize)
            && slot.first != u64::MAX
            && let Some((before, len)) = bucket_in_slot(&slot.unary, (bucket % SLOT_BUCKETS) as u32)
        {
            let start = slot.first + before;
            return Ok(start..start + len);
        }
        let (pos, zeros) = self.bucket_scan_start(bucket)?;
        self.bucket_range_from(bucket, pos, zeros)
    }

    /// Second half of a bucket lookup: skips `zeros_to_skip` bucket ends from
    /// unary position `pos`, then counts the bucket's ones.
    #[inline(always)]
    fn bucket_range_from(
        &self,
        bucket: u64,
        mut pos: u64,
        mut zeros_to_skip: u64,
    ) -> Result<Range<u64>> {
        let p = self.params();
        let sizes = &self.bytes()[self.sizes.clone()];
        let total_bits = p.records + p.buckets();
        while zeros_to_skip > 0 {
            let word = !self.sizes_word(sizes, pos, total_bits)?;
            let zeros = word.count_ones() as u64;
            if zeros < zeros_to_skip {
                zeros_to_skip -= zeros;
                pos += 64;
            } else {
                pos += select_in_word(word, zeros_to_skip as u32 - 1) as u64 + 1;
                zeros_to_skip = 0;
            }
        }
        let start_pos = pos;
        loop {
            let ones = self.sizes_word(sizes, pos, total_bits)?.trailing_ones() as u64;
            pos += ones;
            if ones < 64 {
                break;
            }
        }
        let start = start_pos
            .checked_sub(bucket)
            .ok_or_else(|| self.corrupt("bucket sizes disagree with the samples"))?;
        let end = start + (pos - start_pos);
        if end > p.records {
            return Err(self.corrupt(format!("bucket {bucket} runs past the last record")));
        }
        Ok(start..end)
    }

    /// Looks up many keys; `out[i]` receives the count of `keys[i]`.
    ///
    /// Keys are processed in groups of [`LOOKUP_GROUP`], one stage at a time
    /// (filter, bucket sample, bucket sizes, records), prefetching what the
    /// next stage reads for the whole group before it runs, so that the
    /// group's cache misses overlap instead of queueing one after another.
    ///
    /// Large batches are first put in hash order (a counting sort on the
    /// leading bits, linear time), so consecutive lookups touch neighbouring
    /// pages of the records: far fewer TLB misses and page walks, and a
    /// sweep instead of random reads when the index is not in memory.
    pub fn get_many(&self, keys: &[Key], out: &mut [Option<u64>]) -> Result<()> {
        assert_eq!(keys.len(), out.len(), "one output slot per key");
        let mut counts = vec![0; keys.len()];
        self.get_counts(keys, &mut counts)?;
        for (slot, count) in out.iter_mut().zip(counts) {
            *slot = (count != 0).then_some(count);
        }
        Ok(())
    }

    /// [`Index::get_many`] with the counts as plain numbers: `out[i]` is the
    /// count of `keys[i]`, or 0 if the index lacks it (a stored count is
    /// never 0). `check` reads these: testing an `Option<u64>` compiled to a
    /// branch on whether each key was found, a coin toss for a half-present
    /// batch (callgrind `--branch-sim`: one mispredicted branch for every
    /// other query).
    pub fn get_counts(&self, keys: &[Key], out: &mut [u64]) -> Result<()> {
        assert_eq!(keys.len(), out.len(), "one output slot per key");
        // Counts too big for their record's count code are read from the
        // overflow section after the whole call's groups: only about one
        // query in 50 needs one, so a group has too few of them to overlap
        // their cache misses, while a call's worth does.
        let mut overflowing = Vec::new();
        if keys.len() < SORTED_SWEEP_MIN {
            for (g, (k, o)) in keys
                .chunks(LOOKUP_GROUP)
                .zip(out.chunks_mut(LOOKUP_GROUP))
                .enumerate()
            {
                self.get_group(k, o, g * LOOKUP_GROUP, &mut overflowing)?;
            }
            return self.overflow_counts(&overflowing, out);
        }
        // Sub-batches keep the permutation's memory bounded (16 MiB).
        for (keys, out) in keys.chunks(1 << 22).zip(out.chunks_mut(1 << 22)) {
            let order = hash_order(self.kind(), keys);
            let mut sorted_keys = [Key::default(); LOOKUP_GROUP];
            let mut sorted_out = [0; LOOKUP_GROUP];
            for group in order.chunks(LOOKUP_GROUP) {
                for (slot, &i) in sorted_keys.iter_mut().zip(group) {
                    *slot = keys[i as usize];
                }
                let sorted_out = &mut sorted_out[..group.len()];
                self.get_group(&sorted_keys[..group.len()], sorted_out, 0, &mut overflowing)?;
                self.overflow_counts(&overflowing, sorted_out)?;
                overflowing.clear();
                for (&i, &count) in group.iter().zip(sorted_out.iter()) {
                    out[i as usize] = count;
                }
            }
        }
        Ok(())
    }

    /// Looks up one group; a key whose count is in the overflow section is
    /// left for [`Index::overflow_counts`] and noted in `overflowing` as
    /// (its position in `out` plus `offset`, its record).
    fn get_group(
        &self,
        keys: &[Key],
        out: &mut [u64],
        offset: usize,
        overflowing: &mut Vec<(usize, u64)>,
    ) -> Result<()> {
        let started = self.will_need.map(|_| Instant::now());
        #[cfg(target_arch = "x86_64")]
        let hinting = if crate::cpu::has_v3() {
            // SAFETY: `has_v3` found every feature the function is built for.
            unsafe { self.get_group_staged_v3(keys, out, offset, overflowing)? }
        } else {
            self.get_group_staged(keys, out, offset, overflowing)?
        };
        #[cfg(not(target_arch = "x86_64"))]
        let hinting = self.get_group_staged(keys, out, offset, overflowing)?;
        if let Some(started) = started {
            let nanos = (started.elapsed().as_nanos() as u64).saturating_sub(hinting);
            self.cold.observe(nanos / keys.len().max(1) as u64);
        }
        Ok(())
    }

    /// [`Index::get_group_staged`] built for x86-64-v3 CPUs (see [`crate::cpu`]).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,popcnt,lzcnt")]
    fn get_group_staged_v3(
        &self,
        keys: &[Key],
        out: &mut [u64],
        offset: usize,
        overflowing: &mut Vec<(usize, u64)>,
    ) -> Result<u64> {
        self.get_group_staged(keys, out, offset, overflowing)
    }

    /// The lookups of one group, stage by stage: each stage prefetches what the
    /// next one reads for every key of the group, so that their cache misses
    /// overlap instead of coming one after the other. Returns the nanoseconds
    /// spent asking the kernel to read ahead (see [`ColdSwitch`]).
    #[inline(always)]
    fn get_group_staged(
        &self,
        keys: &[Key],
        out: &mut [u64],
        offset: usize,
        overflowing: &mut Vec<(usize, u64)>,
    ) -> Result<u64> {
        let p = *self.params();
        let base = self.bytes().as_ptr();
        let n = keys.len();
        let mut filter_at = [0usize; LOOKUP_GROUP];
        for i in 0..n {
            filter_at[i] = self.filter.start
                + filter::block_of(&keys[i], p.kind, p.filter_blocks) as usize
                    * filter::BLOCK_BYTES;
            prefetch(base.wrapping_add(filter_at[i]));
        }
        // Stage 2: filter verdicts; candidates go on to their bucket sample
        // (or their slot of the in-memory bucket table, if built).
        let slots = self.bucket_slots.get();
        let mut candidates = [0u8; LOOKUP_GROUP];
        let mut n_candidates = 0;
        let mut bucket = [0u64; LOOKUP_GROUP];
        // The verdict is a coin toss for a half-present batch, so it picks
        // the candidate and its prefetch address arithmetically, not by a
        // branch the CPU would mispredict about every other key. A key the
        // filter rules out prefetches the filter block it just read.
        let next_line = |i: usize, bucket: u64| {
            match slots {
                Some(table) => table
                    .slots
                    .as_ptr()
                    .wrapping_add((bucket / SLOT_BUCKETS) as usize)
                    as usize,
                None => base
                    .wrapping_add(self.samples.start + (bucket >> p.sample_shift) as usize * 8)
                    as usize,
            }
            .wrapping_sub(base.wrapping_add(filter_at[i]) as usize)
        };
        for i in 0..n {
            out[i] = 0;
            let range = filter_at[i]..filter_at[i] + filter::BLOCK_BYTES;
            self.ensure(range.clone())?;
            let block: &[u8; filter::BLOCK_BYTES] = self.bytes()[range].try_into().unwrap();
            let maybe = filter::block_contains(block, &keys[i]);
            bucket[i] = keys[i].top_bits(p.kind, p.bucket_bits);
            let keep = (maybe as usize).wrapping_neg();
            let line = (base.wrapping_add(filter_at[i]) as usize)
                .wrapping_add(next_line(i, bucket[i]) & keep);
            prefetch(line as *const u8);
            candidates[n_candidates] = i as u8;
            n_candidates += maybe as usize;
        }
        let candidates = &candidates[..n_candidates];
        // Stage 3: samples; prefetch the unary words the scan will read.
        let mut scan = [(0u64, 0u64); LOOKUP_GROUP];
        if slots.is_none() {
            for &c in candidates {
                let i = c as usize;
                scan[i] = self.bucket_scan_start(bucket[i])?;
                let byte = self.sizes.start + (scan[i].0 / 8) as usize;
                prefetch(base.wrapping_add(byte));
                prefetch(base.wrapping_add(byte + 64));
            }
        }
        // Stage 4: bucket ranges; prefetch the first record of each.
        let record_bits = p.record_bits();
        let mut records = [(0u64, 0u64); LOOKUP_GROUP];
        for &c in candidates {
            let i = c as usize;
            let range = match slots {
                Some(table) => self.bucket_range_in(table, bucket[i])?,
                None => self.bucket_range_from(bucket[i], scan[i].0, scan[i].1)?,
            };
            records[i] = (range.start, range.end);
            let byte = self.records.start + (range.start * record_bits / 8) as usize;
            prefetch(base.wrapping_add(byte));
            prefetch(base.wrapping_add(byte + 63));
        }
        // On a cold index, ask for every record page of the group at once so
        // the disk works on them in parallel, instead of one fault at a time.
        let mut hinting = 0;
        if let Some(will_need) = self.will_need
            && self.cold.is_cold()
        {
            let started = Instant::now();
            for &c in candidates {
                let (start, end) = records[c as usize];
                let first = self.records.start + (start * record_bits / 8) as usize;
                let last = self.records.start + (end * record_bits).div_ceil(8) as usize;
                let page = first & !(PAGE as usize - 1);
                will_need(&self.data, page, last.max(first + 1) - page);
            }
            hinting = started.elapsed().as_nanos() as u64;
        }
        // Stage 5: exact comparison against the stored suffixes. The first
        // 64 suffix bits rule out nearly every non-matching record, so the
        // rest are read only when those agree.
        let suffix_bits = p.suffix_bits();
        let records_bytes = &self.bytes()[self.records.clone()];
        let count_width = p.count_width;
        let escape = p.escape_code();
        let directory = self.overflow_directory.get();
        for &c in candidates {
            let i = c as usize;
            let wanted = keys[i].low_chunks(suffix_bits);
            let (first, end) = records[i];
            if first >= end {
                continue;
            }
            if end > p.records {
                return Err(self.corrupt(format!("record {} out of range", end - 1)));
            }
            let first_byte = self.records.start + (first * record_bits / 8) as usize;
            let last_byte = self.records.start + (end * record_bits / 8) as usize + 16;
            self.ensure(first_byte..last_byte.min(self.records.end))?;
            for r in first..end {
                let at = r * record_bits + count_width as u64;
                let lo = read_bits(records_bytes, at, suffix_bits.min(64))
                    .ok_or_else(|| self.corrupt("record section too short"))?;
                if lo != wanted[0] {
                    continue;
                }
                // The range was checked above, so the record is decoded
                // straight from the section: through `record_at`, with its
                // own checks, it was 147 instructions per found key
                // (callgrind).
                let (code, suffix) = p
                    .read_record(records_bytes, r)
                    .ok_or_else(|| self.corrupt("record section too short"))?;
                if suffix == wanted {
                    if code == escape {
                        overflowing.push((offset + i, r));
                        if let Some(dir) = directory {
                            prefetch(dir.starts.as_ptr().wrapping_add((r >> dir.shift) as usize)
                                as *const u8);
                        }
                    } else {
                        out[i] = code + 1;
                    }
                    break;
                }
            }
        }
        Ok(hinting)
    }

    /// Fills in `out[slot]` for every `(slot, record)` of `overflowing`:
    /// counts too big for their record's count code, from the overflow
    /// section. Their entries are prefetched all together first: read one
    /// at a time, each waited on a cache miss (6% of the lookup time).
    fn overflow_counts(&self, overflowing: &[(usize, u64)], out: &mut [u64]) -> Result<()> {
        let p = self.params();
        let base = self.bytes().as_ptr();
        let entry_bits = (p.overflow_index_bits + p.overflow_count_bits) as u64;
        let entry_byte = |e: u64| self.overflow.start + (e * entry_bits / 8) as usize;
        let directory = self.overflow_directory.get();
        for &(_, r) in overflowing {
            match directory {
                Some(dir) => {
                    let run = (r >> dir.shift) as usize;
                    if let (Some(&first), Some(&end)) =
                        (dir.starts.get(run), dir.starts.get(run + 1))
                    {
                        prefetch(base.wrapping_add(entry_byte(first as u64)));
                        prefetch(base.wrapping_add(entry_byte((end as u64).max(1) - 1)));
                    }
                }
                None if p.records > 0 => {
                    let guess = (r as u128 * p.overflow_entries as u128 / p.records as u128) as u64;
                    prefetch(base.wrapping_add(entry_byte(guess)));
                }
                None => {}
            }
        }
        let escape = p.escape_code();
        for &(slot, r) in overflowing {
            out[slot] = self.decode_count(r, escape)?;
        }
        Ok(())
    }

    #[inline(always)]
    fn sizes_word(&self, sizes: &[u8], pos: u64, total_bits: u64) -> Result<u64> {
        if pos > total_bits {
            return Err(self.corrupt("bucket sizes run past their end"));
        }
        let byte = self.sizes.start + (pos / 8) as usize;
        self.ensure(byte..byte + 16)?;
        read_bits(sizes, pos, 64).ok_or_else(|| self.corrupt("bucket sizes run past their end"))
    }

    /// The count code and hash-suffix chunks of record `i`.
    #[inline]
    pub fn record_at(&self, i: u64) -> Result<(u64, [u64; 3])> {
        let p = self.params();
        if i >= p.records {
            return Err(self.corrupt(format!("record {i} out of range")));
        }
        let pos = i * p.record_bits();
        let first_byte = self.records.start + (pos / 8) as usize;
        let last_byte = self.records.start + ((pos + p.record_bits()) / 8) as usize + 16;
        self.ensure(first_byte..last_byte.min(self.records.end))?;
        p.read_record(&self.bytes()[self.records.clone()], i)
            .ok_or_else(|| self.corrupt("record section too short"))
    }

    /// The count of record `i` whose count code is `code`.
    pub fn decode_count(&self, i: u64, code: u64) -> Result<u64> {
        let p = self.params();
        if code != p.escape_code() {
            return Ok(code + 1);
        }
        // Overflow entries are sorted by record index, and the records
        // that overflow are spread evenly (hashes are random): start with
        // the entry where `i` would sit if evenly spread, widen the bracket
        // around it by doubling steps, then binary search inside: a few
        // entries read instead of 18 for 200,000 entries (decode_count went
        // from 3.9% of a 1M-query check's profile to 1.3%).
        let (ib, cb) = (p.overflow_index_bits, p.overflow_count_bits);
        let entry_bits = (ib + cb) as u64;
        let over = &self.bytes()[self.overflow.clone()];
        let entries = p.overflow_entries;
        let index_at = |e: u64| -> Result<u64> {
            let pos = e * entry_bits;
            let byte = self.overflow.start + (pos / 8) as usize;
            self.ensure(byte..(byte + 32).min(self.overflow.end))?;
            read_bits(over, pos, ib).ok_or_else(|| self.corrupt("count overflow section too short"))
        };
        let (mut lo, mut hi) = (0u64, entries);
        if let Some(dir) = self.overflow_directory.get() {
            let run = (i >> dir.shift) as usize;
            match (dir.starts.get(run), dir.starts.get(run + 1)) {
                (Some(&first), Some(&end)) => (lo, hi) = (first as u64, end as u64),
                _ => return Err(self.corrupt(format!("record {i} out of range"))),
            }
        } else if entries > 16 {
            let guess = ((i as u128 * entries as u128) / p.records.max(1) as u128) as u64;
            let guess = guess.min(entries - 1);
            let mut step = 4u64;
            if index_at(guess)? <= i {
                // The entry is at or after `guess`.
                lo = guess;
                while lo + step < entries && index_at(lo + step)? <= i {
                    lo += step;
                    step *= 2;
                }
                hi = (lo + step).min(entries);
            } else {
                // Before `guess`.
                hi = guess;
                while hi > step && index_at(hi - step)? > i {
                    hi -= step;
                    step *= 2;
                }
                lo = hi.saturating_sub(step);
            }
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match index_at(mid)?.cmp(&i) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    // A stored count is never 0 (count-0 padding is not
                    // stored), and `get_counts` uses 0 for "absent".
                    return match read_bits(over, mid * entry_bits + ib as u64, cb) {
                        None => Err(self.corrupt("count overflow section too short")),
                        Some(0) => {
                            Err(self.corrupt(format!("record {i} has an overflow count of 0")))
                        }
                        Some(count) => Ok(count),
                    };
                }
            }
        }
        Err(self.corrupt(format!(
            "record {i} has an overflow count code but no overflow entry"
        )))
    }

    /// Rebuilds a full key from its bucket and its stored suffix chunks.
    pub fn key_of(&self, bucket: u64, suffix: [u64; 3]) -> Key {
        let p = self.params();
        Key::from_parts(bucket, suffix, p.suffix_bits())
    }

    /// Every stored (key, count) whose bucket lies in `buckets`, in order.
    pub fn records_in(&self, buckets: Range<u64>) -> RecordIter<'_, D> {
        let p = self.params();
        let end_bucket = buckets.end.min(p.buckets());
        let mut iter = RecordIter {
            index: self,
            bucket: buckets.start,
            end_bucket,
            unary_pos: 0,
            record: 0,
            pending: None,
            done: buckets.start >= end_bucket,
        };
        if !iter.done {
            match self.bucket_records(buckets.start) {
                Ok(r) => {
                    iter.record = r.start;
                    iter.unary_pos = r.start + buckets.start;
                }
                Err(e) => iter.pending = Some(e),
            }
        }
        iter
    }

    /// Every stored (key, count), in hash order.
    pub fn iter(&self) -> RecordIter<'_, D> {
        self.records_in(0..self.params().buckets())
    }
}

/// Iterator over stored records in hash order; see [`Index::records_in`].
///
/// It walks the unary bucket sizes sequentially (a 1 is a record of the
/// current bucket, a 0 closes the bucket), so a full scan reads each section
/// once, front to back.
pub struct RecordIter<'a, D> {
    index: &'a Index<D>,
    bucket: u64,
    end_bucket: u64,
    unary_pos: u64,
    record: u64,
    pending: Option<Error>,
    done: bool,
}

impl<D: AsRef<[u8]>> RecordIter<'_, D> {
    fn step(&mut self) -> Result<Option<(Key, u64)>> {
        let index = self.index;
        let p = index.params();
        let sizes = &index.bytes()[index.sizes.clone()];
        let total_bits = p.records + p.buckets();
        loop {
            if self.bucket >= self.end_bucket {
                return Ok(None);
            }
            let word = index.sizes_word(sizes, self.unary_pos, total_bits)?;
            if word & 1 == 1 {
                let i = self.record;
                self.unary_pos += 1;
                self.record += 1;
                let (code, suffix) = index.record_at(i)?;
                let count = index.decode_count(i, code)?;
                return Ok(Some((index.key_of(self.bucket, suffix), count)));
            }
            let zeros = word.trailing_zeros() as u64;
            self.bucket += zeros;
            self.unary_pos += zeros;
        }
    }
}

impl<D: AsRef<[u8]>> Iterator for RecordIter<'_, D> {
    type Item = Result<(Key, u64)>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.pending.take() {
            self.done = true;
            return Some(Err(e));
        }
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Lookup time per key above which a group counts as slow (waiting on the
/// disk); below an eighth of it, as fast.
const COLD_NANOS_PER_KEY: u64 = 4_000;
/// Slow groups in a row that switch the read-ahead hints on, and fast groups
/// in a row that switch them off.
const COLD_STREAK: i32 = 4;

/// Decides, from how long lookup groups take, whether the index is being read
/// from the disk, so that [`Index::get_many`] asks the kernel for each group's
/// record pages all at once (`madvise(WILLNEED)`, one call per candidate).
///
/// A group served from memory takes a few microseconds; one that waits on
/// page faults takes far longer. But one slow group proves nothing: a worker
/// preempted for a millisecond (by the thread writing the output, or by
/// anything else on a busy machine) looks the same. Those calls cost about 4x
/// the whole check on a cached index (`farm-bench`, 1M queries against 5M
/// records, 0.210 s against 0.049 s), and with a switch on any single slow
/// group, `perf stat -e syscalls:sys_enter_madvise` counted 164 to 6,275 calls
/// in runs that need 35. So the hints switch on after [`COLD_STREAK`] slow
/// groups in a row (any thread) and off after as many fast ones; a cold index
/// makes every group slow, so it loses only the first few groups' hints.
///
/// Aligned to its own pair of cache lines: the streak is written by every
/// thread, and it must not share a line with the index fields every lookup
/// reads. Writes happen only when the streak or the flag changes, so a warm
/// index in the steady state (streak at its floor) writes nothing.
#[derive(Default)]
#[repr(align(128))]
struct ColdSwitch {
    cold: AtomicBool,
    /// Positive: slow groups in a row; negative: fast groups in a row.
    streak: AtomicI32,
}

impl ColdSwitch {
    #[inline]
    fn is_cold(&self) -> bool {
        self.cold.load(Ordering::Relaxed)
    }

    /// Counts one group that took `per_key` nanoseconds per key, not counting
    /// the time spent giving the hints themselves: with them, a group of a
    /// cached sparse batch took 1-3 µs per key (a `madvise` per candidate), in
    /// neither band, so the hints never switched off. Threads race on the
    /// streak without harm: it is a heuristic, and the answers never depend
    /// on it.
    fn observe(&self, per_key: u64) {
        let streak = self.streak.load(Ordering::Relaxed);
        let next = if per_key > COLD_NANOS_PER_KEY {
            streak.max(0) + 1
        } else if per_key < COLD_NANOS_PER_KEY / 8 {
            streak.min(0) - 1
        } else {
            return;
        }
        .clamp(-COLD_STREAK, COLD_STREAK);
        if next != streak {
            self.streak.store(next, Ordering::Relaxed);
        }
        // Set whenever the streak is full, not only when it fills: two
        // threads racing on the two stores could otherwise leave the flag
        // against a full streak for good. Read-only in the steady state.
        let cold = next > 0;
        if next.abs() == COLD_STREAK && self.cold.load(Ordering::Relaxed) != cold {
            self.cold.store(cold, Ordering::Relaxed);
        }
    }
}

/// Batches at least this large are looked up in hash order.
pub const SORTED_SWEEP_MIN: usize = 1024;

/// Indices of `keys` ordered by their leading bits (a stable counting sort
/// on the top `log2(len)` bits, at most 16): enough order for locality,
/// in linear time.
fn hash_order(kind: HashKind, keys: &[Key]) -> Vec<u32> {
    let bits = (usize::BITS - keys.len().leading_zeros()).clamp(1, 16);
    let mut starts = vec![0u32; (1 << bits) + 1];
    for k in keys {
        starts[k.top_bits(kind, bits) as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut order = vec![0u32; keys.len()];
    for (i, k) in keys.iter().enumerate() {
        let slot = &mut starts[k.top_bits(kind, bits) as usize];
        order[*slot as usize] = i as u32;
        *slot += 1;
    }
    order
}

/// Position (0..64) of the `rank`-th (0-based) set bit of `word`, which must
/// have more than `rank` set bits (63 if it has not).
///
/// Branch-free broadword select: the byte holding the bit is found from the
/// running byte counts, compared with `rank` in all eight bytes at once, and
/// the bit within it from a table. The baseline x86-64 target has no
/// `popcnt`, so the byte loop this replaces (a byte count per step, and an
/// exit branch the predictor could not learn) cost about 70 instructions a
/// call; this is about 25 (callgrind, in the bench in the commit message).
#[inline]
pub fn select_in_word(word: u64, rank: u32) -> u32 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Set bits per byte, then byte i of `running` = set bits in bytes 0..=i
    // (at most 64, so no byte overflows).
    let mut bytes = word - ((word >> 1) & 0x5555_5555_5555_5555);
    bytes = (bytes & 0x3333_3333_3333_3333) + ((bytes >> 2) & 0x3333_3333_3333_3333);
    bytes = (bytes + (bytes >> 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    let running = bytes.wrapping_mul(ONES);
    // High bit of byte i set where running_i <= rank (both below 128, so
    // the subtraction does not borrow across bytes); running counts only
    // grow, so those bytes are the ones before the bit's byte.
    let rank_bytes = (rank.min(127) as u64).wrapping_mul(ONES);
    let before = ((rank_bytes | HIGHS) - running) & HIGHS;
    let byte = ((before >> 7).wrapping_mul(ONES) >> 56) as u32;
    if byte >= 8 {
        return 63;
    }
    let shift = byte * 8;
    // Set bits in the bytes before the bit's byte.
    let skipped = ((running << 8) >> shift) as u32 & 0xFF;
    let in_byte = ((word >> shift) & 0xFF) as usize;
    shift + SELECT_IN_BYTE[in_byte][(rank - skipped) as usize & 7] as u32
}

/// `SELECT_IN_BYTE[b][r]`: position of the `r`-th set bit of byte `b`.
static SELECT_IN_BYTE: [[u8; 8]; 256] = {
    let mut t = [[0u8; 8]; 256];
    let mut b = 0;
    while b < 256 {
        let mut r = 0;
        let mut bit = 0;
        while bit < 8 {
            if b & (1 << bit) != 0 {
                t[b][r] = bit as u8;
                r += 1;
            }
            bit += 1;
        }
        b += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cold_switch_needs_a_streak_either_way() {
        let slow = COLD_NANOS_PER_KEY + 1;
        let fast = COLD_NANOS_PER_KEY / 8 - 1;
        let between = COLD_NANOS_PER_KEY / 2;
        let switch = ColdSwitch::default();
        // A slow group now and then (a preempted worker) never switches on.
        for _ in 0..100 {
            for _ in 0..COLD_STREAK - 1 {
                switch.observe(slow);
            }
            assert!(!switch.is_cold());
            switch.observe(fast);
        }
        // Groups neither slow nor fast leave the streak as it is.
        for _ in 0..COLD_STREAK - 1 {
            switch.observe(slow);
            switch.observe(between);
        }
        assert!(!switch.is_cold());
        switch.observe(slow);
        assert!(switch.is_cold(), "a streak of slow groups switches on");
        for _ in 0..1000 {
            switch.observe(slow);
        }
        for _ in 0..COLD_STREAK - 1 {
            switch.observe(fast);
        }
        assert!(switch.is_cold(), "one fast group short of a streak");
        switch.observe(slow);
        for _ in 0..COLD_STREAK - 1 {
            switch.observe(fast);
        }
        assert!(switch.is_cold(), "a slow group restarts the count");
        switch.observe(fast);
        assert!(!switch.is_cold(), "a streak of fast groups switches off");
        // Two threads racing on the streak and the flag can leave them at
        // odds (a full fast streak, the flag on); the next group mends it.
        for (streak, flag, group) in [(-COLD_STREAK, true, fast), (COLD_STREAK, false, slow)] {
            let switch = ColdSwitch::default();
            switch.streak.store(streak, Ordering::Relaxed);
            switch.cold.store(flag, Ordering::Relaxed);
            switch.observe(group);
            assert_eq!(switch.is_cold(), !flag, "streak {streak}");
        }
    }

    #[test]
    fn buckets_are_found_in_a_slot_as_by_a_naive_decoder() {
        let mut rnd = crate::hash::xorshift(0x9E37_79B9_7F4A_7C15);
        let mut next = |n: u64| rnd() % n;
        for round in 0..3000 {
            // 64 buckets, up to 128 records in all, bunched in some rounds.
            let budget = next(129);
            let mut sizes = [0u64; 64];
            for _ in 0..budget {
                let b = if round % 3 == 0 { next(4) } else { next(64) };
                sizes[b as usize] += 1;
            }
            let mut unary = [0u64; 3];
            let mut pos = 0;
            for &n in &sizes {
                for _ in 0..n {
                    unary[pos / 64] |= 1 << (pos % 64);
                    pos += 1;
                }
                pos += 1; // the bucket's closing zero
            }
            let mut before = 0;
            for (k, &n) in sizes.iter().enumerate() {
                assert_eq!(
                    bucket_in_slot(&unary, k as u32),
                    Some((before, n)),
                    "{sizes:?}"
                );
                before += n;
            }
        }
    }

    /// Small indexes of every shape the table must handle, each bucket
    /// looked up through the table and through the sections. (After a test
    /// written in review.)
    #[test]
    fn the_bucket_table_agrees_with_the_sections() {
        use crate::hash::{HashKind, parse_hex_key};
        use crate::writer::{IndexWriter, Layout};
        let mut rnd = crate::hash::xorshift(0x1234_5678_9abc_def1);
        let dir = tempfile::tempdir().unwrap();
        let mut fallbacks = 0;
        for round in 0..300u64 {
            let kind = if round % 2 == 0 {
                HashKind::Ntlm
            } else {
                HashKind::Sha1
            };
            let bucket_bits = (rnd() % 12) as u32;
            let sample_shift = if round % 5 == 0 {
                6
            } else {
                (rnd() % 9) as u32
            };
            let buckets = 1u64 << bucket_bits;
            let groups = buckets.div_ceil(SLOT_BUCKETS);
            // Empty, tiny, dense, and groups of 128 or 129 records (the
            // most a slot holds, and one past it).
            let wanted = match round % 6 {
                0 => rnd() % (buckets * 4 + 2),
                1 => rnd() % 3,
                2 => groups * 128,
                3 => groups * 129,
                _ => buckets * 2 + rnd() % 3,
            };
            let mut hexes = std::collections::BTreeSet::new();
            for _ in 0..wanted * 10 {
                if hexes.len() as u64 == wanted {
                    break;
                }
                // Records bunched at a group's first and last buckets too.
                let bucket = match rnd() % 4 {
                    0 => (rnd() % groups) * 64,
                    1 => ((rnd() % groups) * 64 + 63).min(buckets - 1),
                    _ => rnd() % buckets,
                };
                let r = ((rnd() as u128) << 64) | rnd() as u128;
                let top = match bucket_bits {
                    0 => r,
                    b => ((bucket as u128) << (128 - b)) | (r >> b),
                };
                hexes.insert(match kind {
                    HashKind::Ntlm => format!("{top:032X}"),
                    HashKind::Sha1 => format!("{top:032X}{:08X}", rnd() as u32),
                });
            }
            let path = dir.path().join(format!("i{round}.pwdex"));
            let layout = Layout {
                kind,
                bucket_bits,
                sample_shift,
                count_width: 1 + (rnd() % 3) as u32,
                // A filter letting half of the absent keys through, so that
                // they reach the table too.
                filter_blocks: crate::filter::blocks_for(hexes.len() as u64, 0.5),
                fpp: 0.5,
            };
            let mut writer = IndexWriter::create(&path, layout).unwrap();
            let mut expected = std::collections::HashMap::new();
            for hex in &hexes {
                let key = parse_hex_key(kind, hex.as_bytes()).unwrap();
                let count = 1 + rnd() % 20;
                writer.push(key, count).unwrap();
                expected.insert(key, count);
            }
            writer.finish(&serde_json::json!({})).unwrap();
            let index = Index::open(&path).unwrap();
            index.verify_all_pages().unwrap();
            index.index_buckets().unwrap();
            let Some(table) = index.bucket_slots.get() else {
                assert!(
                    sample_shift > 6,
                    "no table: {bucket_bits} bits, shift {sample_shift}"
                );
                continue;
            };
            assert_eq!(table.slots.len() as u64, groups);
            for (g, slot) in table.slots.iter().enumerate() {
                let g = g as u64;
                let first = index.bucket_records(g * 64).unwrap().start;
                let last = index
                    .bucket_records(((g + 1) * 64).min(buckets) - 1)
                    .unwrap()
                    .end;
                let buckets_here = (buckets - g * 64).min(64);
                assert_eq!(slot.first == u64::MAX, last - first + buckets_here > 192);
                fallbacks += (slot.first == u64::MAX) as u32;
            }
            for b in 0..buckets {
                assert_eq!(
                    index.bucket_range_in(table, b).unwrap(),
                    index.bucket_records(b).unwrap(),
                    "round {round}: {bucket_bits} bits, shift {sample_shift}, bucket {b}"
                );
            }
            let mut keys: Vec<Key> = expected.keys().copied().collect();
            for _ in 0..200 {
                let hex = format!("{:016X}{:016X}{:08X}", rnd(), rnd(), rnd() as u32);
                keys.push(parse_hex_key(kind, &hex.as_bytes()[..kind.hex_len()]).unwrap());
            }
            let mut counts = vec![None; keys.len()];
            index.get_many(&keys, &mut counts).unwrap();
            for (key, count) in keys.iter().zip(&counts) {
                assert_eq!(*count, expected.get(key).copied(), "round {round}");
            }
        }
        assert!(fallbacks > 0, "no group too full for its slot was made");
    }

    #[test]
    fn select_matches_a_naive_scan() {
        let mut next = crate::hash::xorshift(0x1234_5678_9ABC_DEF1);
        for _ in 0..2000 {
            let x = next();
            let ones: Vec<u32> = (0..64).filter(|b| x & (1 << b) != 0).collect();
            for (r, &pos) in ones.iter().enumerate() {
                assert_eq!(select_in_word(x, r as u32), pos);
            }
        }
        // Full and sparse words, and ranks past the last set bit.
        let mut words = vec![
            u64::MAX,
            0,
            1,
            1 << 63,
            0xFF00_0000_0000_00FF,
            u64::MAX << 1,
        ];
        words.extend((0..64).map(|b| 1u64 << b));
        words.extend((0..64).map(|b| u64::MAX >> b));
        for w in words {
            let ones: Vec<u32> = (0..64).filter(|b| w & (1 << b) != 0).collect();
            for (r, &pos) in ones.iter().enumerate() {
                assert_eq!(select_in_word(w, r as u32), pos, "word {w:#x} rank {r}");
            }
            for r in [ones.len() as u32, 64, 200, u32::MAX] {
                assert_eq!(select_in_word(w, r), 63, "word {w:#x} rank {r}");
            }
        }
    }
}
