/*!
Full verification of an index: every checksum and every structural invariant.

Opening an index checks only what keeps every later read in bounds, and
lookups check each page against its page sum the first time they read it
(see [`crate::index`]). [`verify`] reads the whole file instead, in two
passes, and stops at the first problem with an [`Error::Corrupt`] that names
the section, the offset or record index, and what was expected versus found.

1. **Checksums**, at about the speed of reading the file. The header again;
   the page sums top; every page-sums piece against the top; every data page
   (sections 1–6 and their padding) against its page sum; every section
   against its section-table xxh3; and the zero padding after every section,
   including the padding after the page sums and at the end of the file,
   which no checksum covers. Pages are hashed in parallel, window by window,
   while the section checksums stream over the same window on another core,
   so each byte is read from memory once per window.
2. **Structure**, which a file can only fail if its writer was wrong or it
   was forged with matching checksums. The bucket sizes hold exactly N ones
   and B zeros, end with a zero, and are followed by zero bits only; every
   bucket sample is the index of the first record of its bucket group; the
   records are strictly ascending as full hashes, and every one of them
   passes the filter; the overflow entries are strictly ascending, each
   names a record whose count code is the escape code and holds a count too
   big for the code, and every escape-coded record has an entry; the bits
   after the last record and the last overflow entry are zero; the build
   record is a JSON object.

The record scan is an independent walk over the raw bit streams rather than
[`Index::iter`]: it splits the records at bucket samples (once the samples
are proven right) so that all cores scan, tests filter blocks in prefetched
batches, and checks counts by walking the overflow entries in step with the
escape-coded records instead of binary-searching for each one.

What verification cannot tell: whether the records are the ones the build
record's input held. It proves the file is exactly what a correct writer
wrote, byte for byte.
*/

use std::ops::Range;

use rayon::prelude::*;
use serde::Serialize;
use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use crate::bits::read_bits;
use crate::error::{Error, Result};
use crate::filter;
use crate::format::{Header, PAGE, Params, Section, SectionId};
use crate::hash::{Key, mask};
use crate::index::{Index, prefetch, select_in_word};
use crate::pagesum::page_checksum;

/// Bytes hashed per round of the checksum pass; progress is reported after
/// each round. Large enough that rayon's per-round cost vanishes (16,384
/// pages), small enough for a smooth progress bar.
const WINDOW_BYTES: usize = 64 << 20;
/// Files smaller than this are checked on the calling thread only: they
/// hash in well under a millisecond, less than waking the thread pool costs.
const PARALLEL_MIN_BYTES: usize = 4 << 20;
/// Pages per parallel task when hashing pages.
const PAGES_PER_TASK: usize = 16;
/// About how many records one parallel task of the record scan checks.
const RECORDS_PER_TASK: u64 = 1 << 16;
/// Record-scan tasks per round (progress is reported after each round).
const TASKS_PER_ROUND: usize = 256;
/// Keys whose filter blocks are prefetched together before being tested:
/// the blocks are random cache misses, and a batch keeps many in flight.
const FILTER_BATCH: usize = 32;

/// What a successful [`verify`] checked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Bytes in the file, all of them read.
    pub file_bytes: u64,
    /// Every section, in file order, checked against its section-table xxh3.
    pub sections: Vec<SectionReport>,
    /// Data pages (between the header and the page sums) checked against their page sums.
    pub data_pages: u64,
    /// Pieces of the page-sums section checked against the page sums top.
    pub page_sum_pieces: u64,
    /// Bytes of padding (between and after sections) found to be zero.
    pub padding_bytes: u64,
    /// Records found strictly ascending and present in the filter.
    pub records: u64,
    /// Buckets in the bucket sizes.
    pub buckets: u64,
    /// Bucket samples checked against the bucket sizes.
    pub samples: u64,
    /// Count-overflow entries checked against the escape-coded records.
    pub overflow_entries: u64,
    /// Filter blocks (64 bytes each).
    pub filter_blocks: u64,
    /// Bytes of build-record JSON parsed.
    pub build_record_bytes: u64,
}

/// One section as verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SectionReport {
    pub name: &'static str,
    pub offset: u64,
    pub bytes: u64,
    pub xxh3: u64,
}

/// The total of the units [`verify`] reports progress in: every byte of the
/// file (checksum pass) plus every byte of the records section (record scan).
pub fn progress_total<D: AsRef<[u8]>>(index: &Index<D>) -> u64 {
    index.file_len() + index.header().section(SectionId::Records).len
}

/// Verifies a whole index; see the module documentation for what is checked.
///
/// `progress`, if given, is called on the calling thread with the work done
/// so far, in the units of [`progress_total`], a few times per second on a
/// large index.
pub fn verify<D: AsRef<[u8]> + Sync>(
    index: &Index<D>,
    progress: Option<&dyn Fn(u64)>,
) -> Result<VerifyReport> {
    let bytes = index.bytes();
    // The index was opened through the same decoder, but verification does
    // not rely on how its `Index` was made.
    let header = Header::decode(index.path(), bytes, bytes.len() as u64)?;
    let v = Verifier {
        path: index.path(),
        parallel: bytes.len() >= PARALLEL_MIN_BYTES,
        bytes,
        params: header.params,
        header: &header,
    };
    let tell = |done: u64| {
        if let Some(f) = progress {
            f(done)
        }
    };
    let mut report = VerifyReport {
        file_bytes: bytes.len() as u64,
        records: v.params.records,
        buckets: v.params.buckets(),
        samples: v.params.sample_count(),
        overflow_entries: v.params.overflow_entries,
        filter_blocks: v.params.filter_blocks,
        ..VerifyReport::default()
    };

    // Pass 1: checksums. The page sums are checked before the pages, so a
    // damaged page sum is reported as such and not as a damaged page.
    report.page_sum_pieces = v.check_page_sums()?;
    report.padding_bytes = v.check_padding()?;
    report.data_pages = v.check_data_pages(&tell)?;
    let mut sections = header.sections.clone();
    sections.sort_by_key(|s| s.offset);
    report.sections = sections
        .iter()
        .map(|s| SectionReport {
            name: s.id.name(),
            offset: s.offset,
            bytes: s.len,
            xxh3: s.xxh3,
        })
        .collect();
    tell(v.bytes.len() as u64);

    // Pass 2: structure.
    report.build_record_bytes = v.check_build_record()?;
    let samples = v.check_bucket_sizes_and_samples()?;
    v.check_overflow()?;
    v.check_records(&samples, &tell)?;
    tell(progress_total(index));
    Ok(report)
}

struct Verifier<'a> {
    path: &'a std::path::Path,
    /// Whether to spread work over the thread pool (see [`PARALLEL_MIN_BYTES`]).
    parallel: bool,
    bytes: &'a [u8],
    params: Params,
    header: &'a Header,
}

impl Verifier<'_> {
    fn corrupt(&self, what: String) -> Error {
        Error::corrupt(self.path, what)
    }

    fn section(&self, id: SectionId) -> Section {
        self.header.section(id)
    }

    fn section_bytes(&self, id: SectionId) -> &[u8] {
        &self.bytes[self.section(id).range()]
    }

    fn u64_at(&self, offset: usize) -> u64 {
        u64::from_le_bytes(self.bytes[offset..offset + 8].try_into().unwrap())
    }

    /// Names the sections (or padding) overlapping a byte range, for messages.
    fn what_is_at(&self, range: Range<usize>) -> String {
        let names: Vec<&str> = self
            .header
            .sections
            .iter()
            .filter(|s| s.range().start < range.end && range.start < s.range().end)
            .map(|s| s.id.name())
            .collect();
        if names.is_empty() {
            "padding".into()
        } else {
            names.join(" and ") + " section"
        }
    }

    fn check_section_sum(&self, s: Section, found: u64) -> Result<()> {
        if found != s.xxh3 {
            return Err(self.corrupt(format!(
                "{} section (file bytes {}..{}) hashes to {found:016x}, but the section table says {:016x}",
                s.id.name(),
                s.offset,
                s.offset + s.len,
                s.xxh3
            )));
        }
        Ok(())
    }

    /// The page sums top against its section checksum, every page-sums piece
    /// against the top, and the page sums against their section checksum.
    /// Returns the number of pieces.
    fn check_page_sums(&self) -> Result<u64> {
        let top = self.section(SectionId::PageSumsTop);
        self.check_section_sum(top, xxh3_64(&self.bytes[top.range()]))?;
        let sums = self.section(SectionId::PageSums);
        let pieces: Vec<&[u8]> = self.bytes[sums.range()].chunks(PAGE as usize).collect();
        let bad_piece = |(q, piece): &(usize, &&[u8])| {
            xxh3_64(piece) != self.u64_at(top.offset as usize + 8 * q)
        };
        let bad = if self.parallel {
            pieces.par_iter().enumerate().find_first(bad_piece)
        } else {
            pieces.iter().enumerate().find(bad_piece)
        };
        if let Some((q, piece)) = bad {
            let start = sums.offset + q as u64 * PAGE;
            return Err(self.corrupt(format!(
                "page sums piece {q} (file bytes {start}..{}) hashes to {:016x}, but entry {q} of the page sums top says {:016x}",
                start + piece.len() as u64,
                xxh3_64(piece),
                self.u64_at(top.offset as usize + 8 * q)
            )));
        }
        self.check_section_sum(sums, xxh3_64(&self.bytes[sums.range()]))?;
        Ok(pieces.len() as u64)
    }

    /// Every byte after the header that belongs to no section must be zero.
    /// Returns the number of padding bytes.
    fn check_padding(&self) -> Result<u64> {
        let mut sorted = self.header.sections.clone();
        sorted.sort_by_key(|s| s.offset);
        let mut at = PAGE as usize;
        let mut after = "header page".to_string();
        let mut total = 0u64;
        let mut check = |range: Range<usize>, after: &str| -> Result<()> {
            total += range.len() as u64;
            if let Some(i) = self.bytes[range.clone()].iter().position(|&b| b != 0) {
                let offset = range.start + i;
                return Err(self.corrupt(format!(
                    "byte {offset} (in the padding after the {after}) is 0x{:02x}; padding must be zero",
                    self.bytes[offset]
                )));
            }
            Ok(())
        };
        for s in &sorted {
            check(at..s.offset as usize, &after)?;
            at = s.range().end;
            after = format!("{} section", s.id.name());
        }
        check(at..self.bytes.len(), &after)?;
        Ok(total)
    }

    /// Every data page against its page sum, and sections 1–6 against their
    /// section checksums, window by window. Returns the number of pages.
    fn check_data_pages(&self, tell: &dyn Fn(u64)) -> Result<u64> {
        let sums = self.section(SectionId::PageSums);
        let data_end = sums.offset as usize;
        let page = PAGE as usize;
        let mut data_sections: Vec<Section> = self
            .header
            .sections
            .iter()
            .copied()
            .filter(|s| s.id < SectionId::PageSums)
            .collect();
        data_sections.sort_by_key(|s| s.offset);
        let mut hashers: Vec<Xxh3> = data_sections.iter().map(|_| Xxh3::new()).collect();
        let expected = |p: usize| self.u64_at(sums.offset as usize + 8 * (p - 1));
        let mut at = page;
        while at < data_end {
            let end = (at + WINDOW_BYTES).min(data_end);
            let bytes = self.bytes;
            let bad_page =
                |&p: &usize| page_checksum(&bytes[p * page..(p + 1) * page]) != expected(p);
            let pages = at / page..end / page;
            let mut hash_sections = || {
                for (s, h) in data_sections.iter().zip(hashers.iter_mut()) {
                    let r = s.range();
                    let (from, to) = (r.start.max(at), r.end.min(end));
                    if from < to {
                        h.update(&bytes[from..to]);
                    }
                }
            };
            let bad = if self.parallel {
                let pages = || {
                    pages
                        .into_par_iter()
                        .with_min_len(PAGES_PER_TASK)
                        .find_first(bad_page)
                };
                rayon::join(pages, hash_sections).0
            } else {
                hash_sections();
                pages.into_iter().find(bad_page)
            };
            if let Some(p) = bad {
                let range = p * page..(p + 1) * page;
                return Err(self.corrupt(format!(
                    "page {p} (file bytes {}..{}, {}) hashes to {:016x}, but its page sum (entry {} of the page sums) says {:016x}",
                    range.start,
                    range.end,
                    self.what_is_at(range.clone()),
                    xxh3_64(&bytes[range.clone()]),
                    p - 1,
                    expected(p)
                )));
            }
            at = end;
            tell(at as u64);
        }
        for (s, h) in data_sections.iter().zip(&hashers) {
            self.check_section_sum(*s, h.digest())?;
        }
        Ok((data_end / page - 1) as u64)
    }

    fn check_build_record(&self) -> Result<u64> {
        let text = self.section_bytes(SectionId::BuildRecord);
        let value: serde_json::Value = serde_json::from_slice(text).map_err(|e| {
            self.corrupt(format!(
                "build record ({} bytes) is not valid JSON: {e}",
                text.len()
            ))
        })?;
        if !value.is_object() {
            return Err(self.corrupt("build record is JSON but not an object".into()));
        }
        Ok(text.len() as u64)
    }

    /// Bits `[used, end)` of a packed section must be zero.
    fn check_zero_tail(&self, id: SectionId, used_bits: u64) -> Result<()> {
        let data = self.section_bytes(id);
        let partial = (used_bits % 8) as u32;
        let first_free = used_bits.div_ceil(8) as usize;
        let stray = if partial != 0 && data[first_free - 1] >> partial != 0 {
            Some(first_free - 1)
        } else {
            data[first_free..]
                .iter()
                .position(|&b| b != 0)
                .map(|i| first_free + i)
        };
        if let Some(i) = stray {
            return Err(self.corrupt(format!(
                "{} section: byte {i} is 0x{:02x}, but every bit after bit {used_bits} (the end of the data) must be zero",
                id.name(),
                data[i]
            )));
        }
        Ok(())
    }

    /// The bucket sizes hold exactly N ones and B zeros, end with a zero and
    /// are followed by zeros; every sample is the number of ones before its
    /// bucket. Returns the samples.
    fn check_bucket_sizes_and_samples(&self) -> Result<Vec<u64>> {
        let p = self.params;
        let sizes = self.section_bytes(SectionId::BucketSizes);
        let samples: Vec<u64> = self
            .section_bytes(SectionId::BucketSamples)
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let total = p.records + p.buckets();
        let sample_count = p.sample_count();
        let bad_sample = |g: u64, found: u64, first: u64| {
            self.corrupt(format!(
                "bucket sample {g} (byte {} of the bucket samples section) is {found}, but bucket {} starts at record {first} according to the bucket sizes",
                8 * g,
                g << p.sample_shift
            ))
        };
        if samples[0] != 0 {
            return Err(bad_sample(0, samples[0], 0));
        }
        let mut next_group = 1u64;
        let (mut ones, mut zeros) = (0u64, 0u64);
        for w in 0..total.div_ceil(64) {
            let start = w * 64;
            let valid = mask((total - start).min(64) as u32);
            let at = 8 * w as usize;
            let word = u64::from_le_bytes(sizes[at..at + 8].try_into().unwrap()) & valid;
            let zero_bits = !word & valid;
            let z = zero_bits.count_ones() as u64;
            // Bucket k starts right after the k-th zero (each bucket ends with one).
            while next_group < sample_count && zeros + z >= next_group << p.sample_shift {
                let bucket = next_group << p.sample_shift;
                let bit = select_in_word(zero_bits, (bucket - zeros - 1) as u32) as u64;
                let first_record = start + bit + 1 - bucket;
                if samples[next_group as usize] != first_record {
                    return Err(bad_sample(
                        next_group,
                        samples[next_group as usize],
                        first_record,
                    ));
                }
                next_group += 1;
            }
            ones += word.count_ones() as u64;
            zeros += z;
        }
        if ones != p.records {
            return Err(self.corrupt(format!(
                "bucket sizes hold {ones} one bits (records) and {zeros} zero bits (bucket ends) in their first {total} bits, but the header says {} records and {} buckets",
                p.records,
                p.buckets()
            )));
        }
        let last = read_bits(sizes, total - 1, 1).unwrap_or(1);
        if last != 0 {
            return Err(self.corrupt(format!(
                "bucket sizes: the last bit ({}) is a 1, so records follow the end of the last bucket",
                total - 1
            )));
        }
        debug_assert_eq!(next_group, sample_count, "B zeros reach every sample");
        self.check_zero_tail(SectionId::BucketSizes, total)?;
        Ok(samples)
    }

    /// The count code of record `i` (`i < N`).
    fn record_code(&self, records: &[u8], i: u64) -> u64 {
        let p = &self.params;
        read_bits(records, i * p.record_bits(), p.count_width)
            .expect("records section has its exact length")
    }

    /// The record index of overflow entry `j`.
    fn overflow_index(&self, over: &[u8], j: u64) -> u64 {
        let p = &self.params;
        let entry_bits = (p.overflow_index_bits + p.overflow_count_bits) as u64;
        read_bits(over, j * entry_bits, p.overflow_index_bits)
            .expect("count overflow section has its exact length")
    }

    /// Overflow entries: strictly ascending record indices below N, each
    /// count at least 2^w; zero bits after. That each entry names an
    /// escape-coded record, and each such record has an entry, is checked by
    /// the record scan, which walks the entries in step with the records.
    fn check_overflow(&self) -> Result<()> {
        let p = self.params;
        let over = self.section_bytes(SectionId::CountOverflow);
        let (ib, cb) = (p.overflow_index_bits, p.overflow_count_bits);
        let entry_bits = if p.overflow_entries == 0 {
            0
        } else {
            (ib + cb) as u64
        };
        let mut previous: Option<u64> = None;
        for j in 0..p.overflow_entries {
            let index = self.overflow_index(over, j);
            let count = read_bits(over, j * entry_bits + ib as u64, cb)
                .expect("count overflow section has its exact length");
            let what = || format!("count overflow entry {j} (for record {index}, count {count})");
            if let Some(prev) = previous
                && index <= prev
            {
                return Err(self.corrupt(format!(
                    "{} does not come after the previous entry's record {prev}: entries must be strictly ascending",
                    what()
                )));
            }
            if index >= p.records {
                return Err(self.corrupt(format!(
                    "{} names a record past the last one ({} records)",
                    what(),
                    p.records
                )));
            }
            if p.count_width < 64 && count < 1 << p.count_width {
                return Err(self.corrupt(format!(
                    "{}: the count fits the {}-bit count code, so it must not be an overflow entry (overflow counts are at least {})",
                    what(),
                    p.count_width,
                    1u64 << p.count_width
                )));
            }
            previous = Some(index);
        }
        self.check_zero_tail(SectionId::CountOverflow, p.overflow_entries * entry_bits)
    }

    /// The error for overflow entry `j`, whose record does not have the escape code.
    fn entry_without_escape(&self, j: u64) -> Error {
        let over = self.section_bytes(SectionId::CountOverflow);
        let index = self.overflow_index(over, j);
        let code = self.record_code(self.section_bytes(SectionId::Records), index);
        self.corrupt(format!(
            "count overflow entry {j} is for record {index}, whose count code is {code}, not the escape code {}",
            self.params.escape_code()
        ))
    }

    /// The record scan, split at bucket samples across all cores.
    fn check_records(&self, samples: &[u64], tell: &dyn Fn(u64)) -> Result<()> {
        let p = self.params;
        let groups = p.sample_count();
        let tasks = p.records.div_ceil(RECORDS_PER_TASK).clamp(1, groups);
        let per_task = groups.div_ceil(tasks);
        let spans: Vec<Range<u64>> = (0..groups)
            .step_by(per_task as usize)
            .map(|g| g..(g + per_task).min(groups))
            .collect();
        let mut previous: Option<(u64, Key)> = None;
        let mut escapes = 0u64;
        for round in spans.chunks(TASKS_PER_ROUND) {
            let scan = |groups: &Range<u64>| self.scan_span(samples, groups.clone());
            let results: Vec<Result<SpanResult>> = if self.parallel {
                round.par_iter().map(scan).collect()
            } else {
                round.iter().map(scan).collect()
            };
            let mut last_record = 0;
            for result in results {
                let r = result?;
                if let (Some((i, prev)), Some((j, first))) = (previous, r.first)
                    && first <= prev
                {
                    return Err(self.out_of_order(j, first, i, prev));
                }
                if r.last.is_some() {
                    previous = r.last;
                }
                escapes += r.escapes;
                last_record = r.end_record;
            }
            tell(self.bytes.len() as u64 + last_record * p.record_bits() / 8);
        }
        if escapes != p.overflow_entries {
            // Unreachable when every span walked its escapes in step with
            // the entries; kept as a cross-check of that walk.
            return Err(self.corrupt(format!(
                "{escapes} records have the escape count code but there are {} overflow entries",
                p.overflow_entries
            )));
        }
        self.check_zero_tail(SectionId::Records, p.records * p.record_bits())
    }

    fn out_of_order(&self, i: u64, key: Key, prev_i: u64, prev: Key) -> Error {
        let kind = self.params.kind;
        self.corrupt(format!(
            "records out of order: record {i} ({}) is not above record {prev_i} ({}); records must be strictly ascending",
            key.to_hex(kind),
            prev.to_hex(kind)
        ))
    }

    /// Scans the records of the bucket groups `groups`.
    fn scan_span(&self, samples: &[u64], groups: Range<u64>) -> Result<SpanResult> {
        let p = self.params;
        let sizes = self.section_bytes(SectionId::BucketSizes);
        let records = self.section_bytes(SectionId::Records);
        let over = self.section_bytes(SectionId::CountOverflow);
        let first_bucket = groups.start << p.sample_shift;
        let end_bucket = (groups.end << p.sample_shift).min(p.buckets());
        let first_record = samples[groups.start as usize];
        let end_record = samples
            .get(groups.end as usize)
            .copied()
            .unwrap_or(p.records);
        let (suffix_bits, escape) = (p.suffix_bits(), p.escape_code());

        // The overflow entries of this span's records, walked in step with
        // its escape-coded records.
        let mut next_entry = self.first_entry_at_or_after(over, first_record);
        let next_entry_index =
            |j: u64| (j < p.overflow_entries).then(|| self.overflow_index(over, j));

        let mut result = SpanResult {
            first: None,
            last: None,
            escapes: 0,
            end_record,
        };
        let mut filter = FilterPipeline::new(self);
        let mut bucket = first_bucket;
        let mut pos = first_record + first_bucket;
        let mut i = first_record;
        while bucket < end_bucket {
            let word = read_bits(sizes, pos, 64)
                .ok_or_else(|| self.corrupt("bucket sizes end inside a bucket".into()))?;
            let ones = word.trailing_ones();
            if ones == 0 {
                let zeros = word.trailing_zeros() as u64;
                bucket += zeros;
                pos += zeros;
                continue;
            }
            for _ in 0..ones {
                if i >= end_record {
                    filter.finish()?;
                    return Err(self.corrupt(format!(
                        "bucket sizes put more records before bucket {end_bucket} than its sample says ({end_record})"
                    )));
                }
                let (code, suffix) = p.read_record(records, i).expect("exact length");
                let key = Key::from_parts(bucket, suffix, suffix_bits);
                if let Some((prev_i, prev)) = result.last
                    && key <= prev
                {
                    filter.finish()?;
                    return Err(self.out_of_order(i, key, prev_i, prev));
                }
                if code == escape {
                    match next_entry_index(next_entry) {
                        Some(e) if e == i => {}
                        Some(e) if e < i => {
                            filter.finish()?;
                            return Err(self.entry_without_escape(next_entry));
                        }
                        _ => {
                            filter.finish()?;
                            return Err(self.corrupt(format!(
                                "record {i} ({}) has the escape count code {escape} but no count overflow entry",
                                key.to_hex(p.kind)
                            )));
                        }
                    }
                    next_entry += 1;
                    result.escapes += 1;
                }
                result.first.get_or_insert((i, key));
                result.last = Some((i, key));
                filter.push(i, key)?;
                i += 1;
            }
            pos += ones as u64;
        }
        filter.finish()?;
        if i != end_record {
            return Err(self.corrupt(format!(
                "bucket sizes put {} records in buckets {first_bucket}..{end_bucket}, but the bucket samples say {}",
                i - first_record,
                end_record - first_record
            )));
        }
        // An entry left over in this span names a record without the escape code.
        if next_entry_index(next_entry).is_some_and(|e| e < end_record) {
            return Err(self.entry_without_escape(next_entry));
        }
        Ok(result)
    }

    /// Index of the first overflow entry whose record is at least `record`.
    fn first_entry_at_or_after(&self, over: &[u8], record: u64) -> u64 {
        let (mut lo, mut hi) = (0u64, self.params.overflow_entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.overflow_index(over, mid) < record {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// Tests keys against the filter a batch behind: a batch's blocks are
/// prefetched when it fills, and tested when the next one fills, so that the
/// random cache misses overlap with the record scan instead of stalling it.
struct FilterPipeline<'v> {
    verifier: &'v Verifier<'v>,
    filter: &'v [u8],
    filling: Vec<(u64, Key)>,
    prefetched: Vec<(u64, Key)>,
}

impl<'v> FilterPipeline<'v> {
    fn new(verifier: &'v Verifier<'v>) -> Self {
        FilterPipeline {
            verifier,
            filter: verifier.section_bytes(SectionId::Filter),
            filling: Vec::with_capacity(FILTER_BATCH),
            prefetched: Vec::with_capacity(FILTER_BATCH),
        }
    }

    fn block_start(&self, key: &Key) -> usize {
        filter::block_of(
            key,
            self.verifier.params.kind,
            self.verifier.params.filter_blocks,
        ) as usize
            * filter::BLOCK_BYTES
    }

    #[inline]
    fn push(&mut self, i: u64, key: Key) -> Result<()> {
        self.filling.push((i, key));
        if self.filling.len() == FILTER_BATCH {
            for (_, key) in &self.filling {
                prefetch(self.filter[self.block_start(key)..].as_ptr());
            }
            self.test(&self.prefetched)?;
            std::mem::swap(&mut self.filling, &mut self.prefetched);
            self.filling.clear();
        }
        Ok(())
    }

    /// Tests every key not tested yet, oldest first.
    fn finish(&mut self) -> Result<()> {
        self.test(&self.prefetched)?;
        self.test(&self.filling)?;
        self.prefetched.clear();
        self.filling.clear();
        Ok(())
    }

    fn test(&self, batch: &[(u64, Key)]) -> Result<()> {
        let blocks = self.verifier.params.filter_blocks;
        for (i, key) in batch {
            if filter::may_contain(self.filter, blocks, self.verifier.params.kind, key)
                != Some(true)
            {
                return Err(self.verifier.corrupt(format!(
                    "record {i} ({}) does not pass the filter (block {}); the filter was not built from these records",
                    key.to_hex(self.verifier.params.kind),
                    filter::block_of(key, self.verifier.params.kind, blocks)
                )));
            }
        }
        Ok(())
    }
}

struct SpanResult {
    first: Option<(u64, Key)>,
    last: Option<(u64, Key)>,
    escapes: u64,
    end_record: u64,
}
