/*!
The on-disk format of a pwdex index: header, section table, and the sizes
every section must have. `docs/FORMAT.md` draws the same layout byte by byte;
this module is its executable form, and the only code that knows offsets.

Summary (all integers little-endian, all sections start on a 4096-byte page):

```text
page 0          header: magic, version, parameters, section table, xxh3 of the header
records         bit-packed (count code, hash suffix) per record, sorted by hash
bucket sizes    unary code of each bucket's record count (Elias–Fano high part)
bucket samples  u64 record index at the start of every 2^sample_shift-th bucket
count overflow  bit-packed (record index, count) for counts too big for the code
filter          split-block Bloom filter, 64-byte blocks
build record    UTF-8 JSON: when, by what, from which inputs
page sums       xxh3-64 of every 4096-byte page from page 1 up to this section
page sums top   xxh3-64 of every 4096-byte page of the page-sums section
```

Version policy: a reader accepts exactly [`FORMAT_VERSION`]; any change to
the meaning of a byte bumps it. Unknown section ids are an error, not ignored,
so a newer writer cannot silently produce an index an older reader misreads.
*/

use std::path::Path;

use xxhash_rust::xxh3::xxh3_64;

use crate::bits::packed_len;
use crate::error::{Error, Result};
use crate::hash::HashKind;

/// First eight bytes of every index.
pub const MAGIC: [u8; 8] = *b"PWDEXIDX";
/// The format version this code reads and writes.
pub const FORMAT_VERSION: u32 = 2;
/// Page size: header length, section alignment and the unit of page checksums.
pub const PAGE: u64 = 4096;
/// Byte offset of the section table inside the header.
const TABLE_OFFSET: usize = 64;
/// Bytes per section-table entry.
const ENTRY_BYTES: usize = 32;
/// Byte offset of the header checksum (the last 8 bytes of the header page).
const HEADER_SUM_OFFSET: usize = PAGE as usize - 8;
/// Largest bucket-bits value a valid index may use.
pub const MAX_BUCKET_BITS: u32 = 40;
/// Largest sample shift a valid index may use.
pub const MAX_SAMPLE_SHIFT: u32 = 16;

/// The sections of an index, by the id stored in the section table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SectionId {
    Records = 1,
    BucketSizes = 2,
    BucketSamples = 3,
    CountOverflow = 4,
    Filter = 5,
    BuildRecord = 6,
    PageSums = 7,
    PageSumsTop = 8,
}

impl SectionId {
    /// All sections, in the order the writer lays them out.
    pub const ALL: [SectionId; 8] = [
        SectionId::Records,
        SectionId::BucketSizes,
        SectionId::BucketSamples,
        SectionId::CountOverflow,
        SectionId::Filter,
        SectionId::BuildRecord,
        SectionId::PageSums,
        SectionId::PageSumsTop,
    ];

    fn from_u32(v: u32) -> Option<SectionId> {
        SectionId::ALL.iter().copied().find(|s| *s as u32 == v)
    }

    /// Human-readable name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            SectionId::Records => "records",
            SectionId::BucketSizes => "bucket sizes",
            SectionId::BucketSamples => "bucket samples",
            SectionId::CountOverflow => "count overflow",
            SectionId::Filter => "filter",
            SectionId::BuildRecord => "build record",
            SectionId::PageSums => "page sums",
            SectionId::PageSumsTop => "page sums top",
        }
    }
}

/// One entry of the section table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Section {
    pub id: SectionId,
    /// Byte offset from the start of the file (a multiple of [`PAGE`]).
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// xxh3-64 of the section's bytes.
    pub xxh3: u64,
}

impl Section {
    /// The byte range of the section in the file.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset as usize..(self.offset + self.len) as usize
    }
}

/// The numbers that fix the layout of every section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub kind: HashKind,
    /// Number of distinct hashes stored.
    pub records: u64,
    /// Leading hash bits implied by the bucket (not stored in records).
    pub bucket_bits: u32,
    /// One bucket sample every `2^sample_shift` buckets.
    pub sample_shift: u32,
    /// Width of the count code stored in each record.
    pub count_width: u32,
    /// Entries in the count-overflow section.
    pub overflow_entries: u64,
    /// Width of the record-index field of an overflow entry.
    pub overflow_index_bits: u32,
    /// Width of the count field of an overflow entry.
    pub overflow_count_bits: u32,
    /// Number of 64-byte filter blocks.
    pub filter_blocks: u64,
}

impl Params {
    /// Hash bits stored in each record.
    pub fn suffix_bits(&self) -> u32 {
        self.kind.bits() - self.bucket_bits
    }

    /// Bits per record: count code plus suffix.
    pub fn record_bits(&self) -> u64 {
        (self.count_width + self.suffix_bits()) as u64
    }

    /// Number of buckets.
    pub fn buckets(&self) -> u64 {
        1u64 << self.bucket_bits
    }

    /// Number of bucket samples.
    pub fn sample_count(&self) -> u64 {
        self.buckets().div_ceil(1 << self.sample_shift)
    }

    /// Decodes record `i` of a records section: its count code and hash
    /// suffix chunks (`[bits 0..64, 64..128, 128..]`). `None` if the
    /// section is too short. The one place that knows the record layout.
    #[inline]
    pub fn read_record(&self, records: &[u8], i: u64) -> Option<(u64, [u64; 3])> {
        let pos = i.checked_mul(self.record_bits())?;
        let code = crate::bits::read_bits(records, pos, self.count_width)?;
        let mut suffix = [0u64; 3];
        let mut at = pos + self.count_width as u64;
        let mut left = self.suffix_bits();
        for chunk in suffix.iter_mut() {
            if left == 0 {
                break;
            }
            let n = left.min(64);
            *chunk = crate::bits::read_bits(records, at, n)?;
            at += n as u64;
            left -= n;
        }
        Some((code, suffix))
    }

    /// The count code that means "look in the overflow section".
    pub fn escape_code(&self) -> u64 {
        crate::hash::mask(self.count_width)
    }

    /// The length every fixed-size section must have.
    pub fn expected_len(&self, id: SectionId) -> Option<u64> {
        Some(match id {
            SectionId::Records => packed_len(self.records * self.record_bits()),
            SectionId::BucketSizes => packed_len(self.records + self.buckets()),
            SectionId::BucketSamples => self.sample_count() * 8,
            SectionId::CountOverflow => packed_len(
                self.overflow_entries
                    * (self.overflow_index_bits + self.overflow_count_bits) as u64,
            ),
            SectionId::Filter => self.filter_blocks * crate::filter::BLOCK_BYTES as u64,
            _ => return None,
        })
    }

    /// Checks that the parameters are within the ranges this version supports
    /// and cannot make any size computation overflow.
    fn validate(&self) -> std::result::Result<(), String> {
        if self.bucket_bits > MAX_BUCKET_BITS {
            return Err(format!(
                "bucket bits {} above {}",
                self.bucket_bits, MAX_BUCKET_BITS
            ));
        }
        if self.sample_shift > MAX_SAMPLE_SHIFT {
            return Err(format!(
                "sample shift {} above {}",
                self.sample_shift, MAX_SAMPLE_SHIFT
            ));
        }
        if !(1..=64).contains(&self.count_width) {
            return Err(format!("count width {} outside 1..=64", self.count_width));
        }
        if self.overflow_entries > 0
            && (!(1..=64).contains(&self.overflow_index_bits)
                || !(1..=64).contains(&self.overflow_count_bits))
        {
            return Err("overflow field widths outside 1..=64".into());
        }
        if self.overflow_entries > self.records {
            return Err("more overflow entries than records".into());
        }
        // 2^56 records would need exabytes; anything above is a corrupt header.
        if self.records >= 1 << 56 || self.filter_blocks >= 1 << 56 || self.filter_blocks == 0 {
            return Err(format!(
                "implausible sizes: {} records, {} filter blocks",
                self.records, self.filter_blocks
            ));
        }
        Ok(())
    }
}

/// A decoded header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub params: Params,
    pub sections: Vec<Section>,
}

impl Header {
    /// The section with this id (every valid header has each exactly once).
    pub fn section(&self, id: SectionId) -> Section {
        *self
            .sections
            .iter()
            .find(|s| s.id == id)
            .expect("decoded headers hold every section")
    }

    /// Encodes the header page, checksum included.
    pub fn encode(&self) -> Vec<u8> {
        let p = &self.params;
        let mut page = vec![0u8; PAGE as usize];
        page[0..8].copy_from_slice(&MAGIC);
        page[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        page[12..16].copy_from_slice(&(PAGE as u32).to_le_bytes());
        page[16] = p.kind.code();
        page[17] = p.bucket_bits as u8;
        page[18] = p.sample_shift as u8;
        page[19] = p.count_width as u8;
        page[20] = p.overflow_index_bits as u8;
        page[21] = p.overflow_count_bits as u8;
        page[22..24].copy_from_slice(&(self.sections.len() as u16).to_le_bytes());
        page[24..32].copy_from_slice(&p.records.to_le_bytes());
        page[32..40].copy_from_slice(&p.filter_blocks.to_le_bytes());
        page[40..48].copy_from_slice(&p.overflow_entries.to_le_bytes());
        for (i, s) in self.sections.iter().enumerate() {
            let e = TABLE_OFFSET + i * ENTRY_BYTES;
            page[e..e + 4].copy_from_slice(&(s.id as u32).to_le_bytes());
            page[e + 8..e + 16].copy_from_slice(&s.offset.to_le_bytes());
            page[e + 16..e + 24].copy_from_slice(&s.len.to_le_bytes());
            page[e + 24..e + 32].copy_from_slice(&s.xxh3.to_le_bytes());
        }
        let sum = xxh3_64(&page[..HEADER_SUM_OFFSET]);
        page[HEADER_SUM_OFFSET..].copy_from_slice(&sum.to_le_bytes());
        page
    }

    /// Decodes and validates the header of a `file_len`-byte index whose first
    /// bytes are `bytes`. After this succeeds every section lies inside the
    /// file, sections do not overlap, and fixed-size sections have exactly
    /// the size the parameters imply, so readers can index without overflow.
    pub fn decode(path: &Path, bytes: &[u8], file_len: u64) -> Result<Header> {
        let corrupt = |what: String| Error::corrupt(path, what);
        if !bytes.is_empty() && bytes.len() < 8 && MAGIC.starts_with(bytes) {
            return Err(corrupt(format!(
                "file is only {} bytes long; the header alone needs {PAGE} (truncated copy?)",
                bytes.len()
            )));
        }
        if bytes.len() < 8 || bytes[0..8] != MAGIC {
            return Err(Error::NotAnIndex {
                path: path.to_path_buf(),
            });
        }
        if bytes.len() < 12 {
            return Err(corrupt(format!(
                "file is only {} bytes long; the header needs {PAGE}",
                bytes.len()
            )));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        if version != FORMAT_VERSION {
            return Err(Error::Version {
                path: path.to_path_buf(),
                expected: FORMAT_VERSION,
                found: version,
            });
        }
        if (bytes.len() as u64) < PAGE || file_len < PAGE {
            return Err(corrupt(format!(
                "file is only {file_len} bytes long; the header alone needs {PAGE} (truncated copy?)"
            )));
        }
        let page = &bytes[..PAGE as usize];
        let stored_sum = u64::from_le_bytes(page[HEADER_SUM_OFFSET..].try_into().unwrap());
        if xxh3_64(&page[..HEADER_SUM_OFFSET]) != stored_sum {
            return Err(corrupt("header checksum mismatch".into()));
        }
        let u64_at = |o: usize| u64::from_le_bytes(page[o..o + 8].try_into().unwrap());
        let header_len = u32::from_le_bytes(page[12..16].try_into().unwrap());
        if header_len as u64 != PAGE {
            return Err(corrupt(format!(
                "header length {header_len}, expected {PAGE}"
            )));
        }
        let kind = HashKind::from_code(page[16])
            .ok_or_else(|| corrupt(format!("unknown hash kind code {}", page[16])))?;
        let params = Params {
            kind,
            bucket_bits: page[17] as u32,
            sample_shift: page[18] as u32,
            count_width: page[19] as u32,
            overflow_index_bits: page[20] as u32,
            overflow_count_bits: page[21] as u32,
            records: u64_at(24),
            filter_blocks: u64_at(32),
            overflow_entries: u64_at(40),
        };
        params.validate().map_err(corrupt)?;
        let count = u16::from_le_bytes(page[22..24].try_into().unwrap()) as usize;
        if count != SectionId::ALL.len() {
            return Err(corrupt(format!(
                "{count} sections, expected {}",
                SectionId::ALL.len()
            )));
        }
        let mut sections = Vec::with_capacity(count);
        for i in 0..count {
            let e = TABLE_OFFSET + i * ENTRY_BYTES;
            let raw_id = u32::from_le_bytes(page[e..e + 4].try_into().unwrap());
            let id = SectionId::from_u32(raw_id)
                .ok_or_else(|| corrupt(format!("unknown section id {raw_id}")))?;
            if sections.iter().any(|s: &Section| s.id == id) {
                return Err(corrupt(format!("section {} listed twice", id.name())));
            }
            sections.push(Section {
                id,
                offset: u64_at(e + 8),
                len: u64_at(e + 16),
                xxh3: u64_at(e + 24),
            });
        }
        let header = Header { params, sections };
        header.check_layout(path, file_len)?;
        Ok(header)
    }

    fn check_layout(&self, path: &Path, file_len: u64) -> Result<()> {
        let corrupt = |what: String| Error::corrupt(path, what);
        let mut sorted = self.sections.clone();
        sorted.sort_by_key(|s| s.offset);
        let mut end_of_previous = PAGE;
        for s in &sorted {
            let end = s
                .offset
                .checked_add(s.len)
                .ok_or_else(|| corrupt(format!("{} section bounds overflow", s.id.name())))?;
            if s.offset % PAGE != 0 || s.offset < end_of_previous {
                return Err(corrupt(format!(
                    "{} section at a bad offset {}",
                    s.id.name(),
                    s.offset
                )));
            }
            if end > file_len {
                return Err(corrupt(format!(
                    "{} section ends at byte {end} but the file has only {file_len} bytes (truncated copy?)",
                    s.id.name()
                )));
            }
            if let Some(expected) = self.params.expected_len(s.id)
                && expected != s.len
            {
                return Err(corrupt(format!(
                    "{} section is {} bytes, the header's parameters need {expected}",
                    s.id.name(),
                    s.len
                )));
            }
            end_of_previous = end.next_multiple_of(PAGE);
        }
        // The page sums cover every page before them; the top sums cover the page sums.
        let sums = self.section(SectionId::PageSums);
        let top = self.section(SectionId::PageSumsTop);
        if sorted[sorted.len() - 2].id != SectionId::PageSums
            || sorted[sorted.len() - 1].id != SectionId::PageSumsTop
        {
            return Err(corrupt("page sums are not the last sections".into()));
        }
        if sums.len != (sums.offset / PAGE - 1) * 8 {
            return Err(corrupt("page sums section has the wrong length".into()));
        }
        if top.len != sums.len.div_ceil(PAGE) * 8 {
            return Err(corrupt("page sums top section has the wrong length".into()));
        }
        let end = top.offset + top.len;
        if file_len != end.next_multiple_of(PAGE) && file_len != end {
            return Err(corrupt(format!(
                "file is {file_len} bytes, but its last section ends at byte {end}, so it must be {} bytes ({})",
                end.next_multiple_of(PAGE),
                if file_len < end.next_multiple_of(PAGE) {
                    "truncated copy?"
                } else {
                    "bytes appended to it?"
                }
            )));
        }
        Ok(())
    }
}

/// Chooses the bucket bits that minimise the bytes of records plus bucket
/// sizes plus samples for `records` records of `kind`.
///
/// Each record stores `bits - b` hash bits and one unary 1; each bucket costs
/// one unary 0; so the total is about `records * (bits - b + 1) + 2^b`, which
/// is smallest near `2^b = records / ln 2` (a little lower once the samples'
/// cost is counted).
pub fn choose_bucket_bits(kind: HashKind, records: u64, sample_shift: u32) -> u32 {
    let cost = |b: u32| -> f64 {
        let buckets = (1u64 << b) as f64;
        records as f64 * (kind.bits() - b + 1) as f64
            + buckets
            + 64.0 * buckets / (1u64 << sample_shift) as f64
    };
    (0..=MAX_BUCKET_BITS)
        .min_by(|a, b| cost(*a).partial_cmp(&cost(*b)).unwrap())
        .unwrap_or(0)
}

/// Chooses the count code width minimising `records * width + overflow bits`,
/// given a histogram of count bit lengths (`hist[L]` = counts needing `L` bits).
///
/// A count `c` is stored inline as `c - 1` when `c < 2^width`; larger ones
/// take an overflow entry of `entry_bits`.
pub fn choose_count_width(hist: &[u64; 65], entry_bits: u32) -> u32 {
    let total: u64 = hist.iter().sum();
    (1..=64u32)
        .min_by_key(|&w| {
            let over: u64 = hist[(w as usize + 1)..].iter().sum();
            total as u128 * w as u128 + over as u128 * entry_bits as u128
        })
        .unwrap_or(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_bits_follow_record_count() {
        assert_eq!(choose_bucket_bits(HashKind::Sha1, 0, 8), 0);
        let b = choose_bucket_bits(HashKind::Sha1, 100_000_000, 8);
        assert!((26..=27).contains(&b), "{b}");
        let b = choose_bucket_bits(HashKind::Ntlm, 2_000_000, 8);
        assert!((20..=21).contains(&b), "{b}");
    }

    #[test]
    fn count_width_balances_inline_and_overflow() {
        let mut hist = [0u64; 65];
        hist[1] = 1000; // all counts are 1
        assert_eq!(choose_count_width(&hist, 60), 1);
        hist[20] = 1; // one big count: not worth widening every record
        assert_eq!(choose_count_width(&hist, 60), 1);
        hist[3] = 900;
        assert_eq!(choose_count_width(&hist, 60), 3);
    }
}
