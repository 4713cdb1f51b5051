/*!
The index writer: turns a stream of (key, count) in strictly ascending key
order into a complete index file, written atomically.

The records are streamed to a temporary file beside the target while the
small sections (bucket sizes, samples, count overflow) and the filter grow in
memory; [`IndexWriter::finish`] appends them, the build record and the page
checksums, writes the header last, syncs, and renames the file over the
target. Until that rename the target path is untouched; if the writer is
dropped or the process dies, the target keeps its previous content (a
`kill -9` can leave the temporary `.NAME.*.pwdex.tmp` file behind, never a
partial index at the target; Ctrl-C, SIGTERM and SIGHUP remove it).

The file is written in aligned 4 MiB chunks by a background thread, around
the page cache where the file system allows; see
[`crate::directio::ChunkWriter`].

Memory: the filter (about 1.3 bytes per record at 1%) plus bucket sizes and
samples (about 0.35 bytes per record) plus the overflow entries.
*/

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use crate::bits::BitSink;
use crate::directio::ChunkWriter;
use crate::error::{Error, Result};
use crate::filter::{self, FilterBuilder};
use crate::format::{self, Header, PAGE, Params, Section, SectionId};
use crate::hash::{HashKind, Key};

/// Layout choices for a new index.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub kind: HashKind,
    /// Leading hash bits implied by the bucket.
    pub bucket_bits: u32,
    /// One bucket sample every `2^sample_shift` buckets.
    pub sample_shift: u32,
    /// Width of the per-record count code.
    pub count_width: u32,
    /// Filter blocks to allocate while streaming; the filter is rebuilt at
    /// the end if the final record count makes this more than 10% off.
    pub filter_blocks: u64,
    /// Target false-positive rate.
    pub fpp: f64,
}

/// Default sample shift: one 8-byte sample per 64 buckets.
///
/// A lookup skips on average half a sample group of the unary bucket
/// sizes, about 2.2 bits per bucket. With 256 buckets per sample that was
/// four to five 64-bit words per lookup; with 64, one or two. Measured on
/// 1M lookups into 5M records (one thread, sample groups of 256 / 128 / 64
/// / 32 buckets): 68.7 / 57.8 / 55.2 / 61.1 ns per query (at 32 the size
/// optimum moves to larger buckets), for 18.30 / 18.33 / 18.38 / 18.45
/// bytes per record.
pub const DEFAULT_SAMPLE_SHIFT: u32 = 6;

impl Layout {
    /// Sensible layout for about `records` records with the given count-width
    /// histogram (see [`format::choose_count_width`]).
    pub fn plan(kind: HashKind, records: u64, count_hist: &[u64; 65], fpp: f64) -> Layout {
        let max_count_bits = (0..65).rev().find(|&l| count_hist[l] > 0).unwrap_or(1) as u32;
        let index_bits = 64 - records.max(1).leading_zeros();
        Layout {
            kind,
            bucket_bits: format::choose_bucket_bits(kind, records, DEFAULT_SAMPLE_SHIFT),
            sample_shift: DEFAULT_SAMPLE_SHIFT,
            count_width: format::choose_count_width(count_hist, index_bits + max_count_bits.max(1)),
            filter_blocks: filter::blocks_for(records, fpp),
            fpp,
        }
    }
}

/// Writes page-aligned sections, keeping an xxh3 of every section and of
/// every 4096-byte page after the header page.
struct PagedFile {
    out: ChunkWriter,
    pos: u64,
    page: Vec<u8>,
    page_sums: Vec<u64>,
    section_hash: Xxh3,
    section_start: u64,
    sections: Vec<Section>,
}

impl PagedFile {
    fn new(file: File) -> io::Result<Self> {
        let mut out = ChunkWriter::new(file, true)?;
        // Placeholder header page, rewritten by `finish`.
        out.write_all(&[0u8; PAGE as usize])?;
        Ok(PagedFile {
            out,
            pos: PAGE,
            page: Vec::with_capacity(PAGE as usize),
            page_sums: Vec::new(),
            section_hash: Xxh3::new(),
            section_start: PAGE,
            sections: Vec::new(),
        })
    }

    fn begin_section(&mut self) {
        debug_assert_eq!(self.pos % PAGE, 0);
        self.section_start = self.pos;
        self.section_hash = Xxh3::new();
    }

    /// Ends a section and pads the file to the next page boundary.
    fn end_section(&mut self, id: SectionId) -> io::Result<Section> {
        let section = Section {
            id,
            offset: self.section_start,
            len: self.pos - self.section_start,
            xxh3: self.section_hash.digest(),
        };
        let pad = (self.pos.next_multiple_of(PAGE) - self.pos) as usize;
        self.write_unhashed(&vec![0u8; pad])?;
        self.sections.push(section);
        Ok(section)
    }

    fn write_unhashed(&mut self, mut buf: &[u8]) -> io::Result<()> {
        self.out.write_all(buf)?;
        self.pos += buf.len() as u64;
        while !buf.is_empty() {
            let take = (PAGE as usize - self.page.len()).min(buf.len());
            self.page.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.page.len() == PAGE as usize {
                self.page_sums
                    .push(crate::pagesum::page_checksum(&self.page));
                self.page.clear();
            }
        }
        Ok(())
    }
}

impl Write for PagedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.section_hash.update(buf);
        self.write_unhashed(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Streams sorted records into a new index file.
pub struct IndexWriter {
    target: PathBuf,
    temp: tempfile::NamedTempFile,
    _registered: TempRegistration,
    layout: Layout,
    records: BitSink<PagedFile>,
    sizes: BitSink<Vec<u8>>,
    samples: Vec<u64>,
    overflow: Vec<(u64, u64)>,
    filter: std::sync::Arc<FilterBuilder>,
    /// True when the caller inserts keys into the filter itself.
    filter_filled_by_caller: bool,
    records_written: u64,
    bucket: u64,
    last: Option<Key>,
    suffix_bits: u32,
    escape: u64,
}

impl IndexWriter {
    /// Starts a new index that will replace `target` when finished.
    pub fn create(target: &Path, layout: Layout) -> Result<Self> {
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "index".into());
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".pwdex.tmp")
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir, e))?;
        let registered = TempRegistration::new(temp.path());
        let file = temp.reopen().map_err(|e| Error::io(temp.path(), e))?;
        let mut paged = PagedFile::new(file).map_err(|e| Error::io(temp.path(), e))?;
        paged.begin_section();
        Ok(IndexWriter {
            _registered: registered,
            target: target.to_path_buf(),
            layout,
            records: BitSink::new(paged),
            sizes: BitSink::new(Vec::new()),
            samples: vec![0],
            overflow: Vec::new(),
            filter: std::sync::Arc::new(FilterBuilder::new(layout.filter_blocks, layout.kind)),
            filter_filled_by_caller: false,
            records_written: 0,
            bucket: 0,
            last: None,
            suffix_bits: layout.kind.bits() - layout.bucket_bits,
            escape: crate::hash::mask(layout.count_width),
            temp,
        })
    }

    /// Number of records pushed so far.
    pub fn records_written(&self) -> u64 {
        self.records_written
    }

    fn io_err(&self, e: io::Error) -> Error {
        Error::io(self.temp.path(), e)
    }

    /// Closes buckets until `bucket` is the current one.
    fn advance_to_bucket(&mut self, bucket: u64) -> io::Result<()> {
        let shift = self.layout.sample_shift;
        while self.bucket < bucket {
            // Close runs of empty buckets a group at a time.
            let next_group_start = ((self.bucket >> shift) + 1) << shift;
            let step = (bucket.min(next_group_start)) - self.bucket;
            self.sizes.push_zeros(step)?;
            self.bucket += step;
            if self.bucket == next_group_start && self.bucket < (1u64 << self.layout.bucket_bits) {
                self.samples.push(self.records_written);
            }
        }
        Ok(())
    }

    /// Appends a record. Keys must be strictly ascending and `count >= 1`.
    pub fn push(&mut self, key: Key, count: u64) -> Result<()> {
        if self.last.is_some_and(|last| key <= last) || count == 0 {
            return Err(Error::Usage(format!(
                "internal error: records must be strictly ascending with nonzero counts (at {})",
                key.to_hex(self.layout.kind)
            )));
        }
        self.last = Some(key);
        let bucket = key.top_bits(self.layout.kind, self.layout.bucket_bits);
        self.advance_to_bucket(bucket).map_err(|e| self.io_err(e))?;
        let code = if count - 1 < self.escape {
            count - 1
        } else {
            self.overflow.push((self.records_written, count));
            self.escape
        };
        let chunks = key.low_chunks(self.suffix_bits);
        let result: io::Result<()> = (|| {
            self.sizes.push(1, 1)?;
            self.records.push(code, self.layout.count_width)?;
            let mut left = self.suffix_bits;
            for chunk in chunks {
                if left == 0 {
                    break;
                }
                let n = left.min(64);
                self.records.push(chunk, n)?;
                left -= n;
            }
            Ok(())
        })();
        result.map_err(|e| self.io_err(e))?;
        if !self.filter_filled_by_caller {
            self.filter.insert(&key);
        }
        self.records_written += 1;
        Ok(())
    }

    /// Hands the filter to the caller, who promises to insert every key it
    /// pushes (and may insert them from several threads, before pushing).
    /// Keys inserted but never pushed only cost false positives.
    pub fn share_filter(&mut self) -> std::sync::Arc<FilterBuilder> {
        self.filter_filled_by_caller = true;
        self.filter.clone()
    }

    /// Appends many records (strictly ascending, after the last one pushed).
    pub fn push_many(&mut self, records: &[(Key, u64)]) -> Result<()> {
        if !self.filter_filled_by_caller {
            self.filter.insert_many(records.iter().map(|r| &r.0));
            self.filter_filled_by_caller = true;
            let result = records.iter().try_for_each(|&(k, c)| self.push(k, c));
            self.filter_filled_by_caller = false;
            return result;
        }
        records.iter().try_for_each(|&(k, c)| self.push(k, c))
    }

    /// Completes the index with `build_record` (JSON) and atomically replaces
    /// the target. Returns the final parameters.
    pub fn finish(mut self, build_record: &serde_json::Value) -> Result<Params> {
        let buckets = 1u64 << self.layout.bucket_bits;
        self.advance_to_bucket(buckets)
            .map_err(|e| self.io_err(e))?;
        let n = self.records_written;
        let temp_path = self.temp.path().to_path_buf();
        let io_err = |e: io::Error| Error::io(&temp_path, e);

        let (mut file, _) = self.records.finish().map_err(io_err)?;
        file.end_section(SectionId::Records).map_err(io_err)?;

        let (sizes, _) = self.sizes.finish().map_err(io_err)?;
        file.begin_section();
        file.write_all(&sizes).map_err(io_err)?;
        file.end_section(SectionId::BucketSizes).map_err(io_err)?;

        file.begin_section();
        let sample_bytes: Vec<u8> = self.samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        file.write_all(&sample_bytes).map_err(io_err)?;
        file.end_section(SectionId::BucketSamples).map_err(io_err)?;

        let max_count = self.overflow.iter().map(|e| e.1).max().unwrap_or(1);
        let overflow_index_bits = 64 - n.max(1).leading_zeros();
        let overflow_count_bits = 64 - max_count.leading_zeros();
        file.begin_section();
        let mut over = BitSink::new(&mut file);
        for &(index, count) in &self.overflow {
            over.push(index, overflow_index_bits).map_err(io_err)?;
            over.push(count, overflow_count_bits).map_err(io_err)?;
        }
        over.finish().map_err(io_err)?;
        file.end_section(SectionId::CountOverflow).map_err(io_err)?;

        let mut params = Params {
            kind: self.layout.kind,
            records: n,
            bucket_bits: self.layout.bucket_bits,
            sample_shift: self.layout.sample_shift,
            count_width: self.layout.count_width,
            overflow_entries: self.overflow.len() as u64,
            overflow_index_bits,
            overflow_count_bits,
            filter_blocks: self.filter.blocks(),
        };

        // The streaming filter was sized from an estimate; rebuild it from the
        // records themselves when the estimate was more than 10% off.
        let ideal = filter::blocks_for(n, self.layout.fpp);
        let rebuilt;
        let filter: &FilterBuilder = if ideal.abs_diff(self.filter.blocks()) * 10 > ideal {
            file.flush().map_err(io_err)?;
            rebuilt = rebuild_filter(&temp_path, &params, &file.sections, &sizes, ideal)?;
            params.filter_blocks = ideal;
            &rebuilt
        } else {
            &self.filter
        };
        file.begin_section();
        filter.write_to(&mut file).map_err(io_err)?;
        file.end_section(SectionId::Filter).map_err(io_err)?;

        // The filter's false-positive rate as built, beside the sizing's
        // prediction: they differ when the hashes cover only part of the
        // hash space.
        let mut build_record = build_record.clone();
        if let Some(fields) = build_record.as_object_mut() {
            fields.insert(
                "filter_fpp_measured".into(),
                serde_json::json!(filter.measured_fpp()),
            );
        }
        file.begin_section();
        let record_text = serde_json::to_vec_pretty(&build_record).expect("JSON values serialize");
        file.write_all(&record_text).map_err(io_err)?;
        file.end_section(SectionId::BuildRecord).map_err(io_err)?;

        // Page sums cover every page written so far (the last section ended
        // on a page boundary, so none is partial).
        debug_assert!(file.page.is_empty());
        let sums: Vec<u8> = file
            .page_sums
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        let top: Vec<u8> = sums
            .chunks(PAGE as usize)
            .flat_map(|c| xxh3_64(c).to_le_bytes())
            .collect();
        file.begin_section();
        file.write_all(&sums).map_err(io_err)?;
        file.end_section(SectionId::PageSums).map_err(io_err)?;
        file.begin_section();
        file.write_all(&top).map_err(io_err)?;
        file.end_section(SectionId::PageSumsTop).map_err(io_err)?;

        let header = Header {
            params,
            sections: file.sections.clone(),
        };
        let mut out = file.out.into_inner().map_err(io_err)?;
        out.seek(SeekFrom::Start(0)).map_err(io_err)?;
        out.write_all(&header.encode()).map_err(io_err)?;
        // A new index is readable by everyone who could read the old one
        // (the temporary file starts private); the target's mode is kept.
        let mode = std::fs::metadata(&self.target)
            .map(|m| m.permissions())
            .unwrap_or_else(|_| default_permissions());
        out.set_permissions(mode).map_err(io_err)?;
        out.sync_all().map_err(io_err)?;
        drop(out);
        self.temp
            .persist(&self.target)
            .map_err(|e| Error::io(&self.target, e.error))?;
        sync_parent_dir(&self.target);
        Ok(params)
    }
}

/// Temporary index files being written, for [`remove_temporary_files`].
static TEMPORARY_FILES: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// A temporary file's place in [`TEMPORARY_FILES`] while its writer lives.
struct TempRegistration(PathBuf);

impl TempRegistration {
    fn new(path: &Path) -> Self {
        if let Ok(mut files) = TEMPORARY_FILES.lock() {
            files.push(path.to_path_buf());
        }
        TempRegistration(path.to_path_buf())
    }
}

impl Drop for TempRegistration {
    fn drop(&mut self) {
        if let Ok(mut files) = TEMPORARY_FILES.lock()
            && let Some(i) = files.iter().position(|p| *p == self.0)
        {
            files.swap_remove(i);
        }
    }
}

/// Removes the temporary files of the writers still running, for a process
/// about to exit without unwinding (a second Ctrl-C while a build waits on
/// a stalled pipe). A finished index was renamed away from its temporary
/// name already, so this never touches one.
pub fn remove_temporary_files() {
    if let Ok(files) = TEMPORARY_FILES.lock() {
        for path in files.iter() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Permissions of a new index: rw-r--r-- (before the umask of the reader's
/// choosing; an index holds only public hashes).
fn default_permissions() -> std::fs::Permissions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::Permissions::from_mode(0o644)
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(".")
            .map(|m| m.permissions())
            .expect("current directory readable")
    }
}

/// Makes the rename durable: sync the directory entry (best effort).
fn sync_parent_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// Re-reads the records just written to the temporary file and builds a
/// filter of exactly `blocks` blocks from them.
fn rebuild_filter(
    temp_path: &Path,
    params: &Params,
    sections: &[Section],
    sizes: &[u8],
    blocks: u64,
) -> Result<FilterBuilder> {
    use crate::bits::read_bits;
    let records = sections
        .iter()
        .find(|s| s.id == SectionId::Records)
        .expect("records section written first");
    let map = crate::index::map_file(temp_path)?;
    let bytes = map
        .get(records.offset as usize..(records.offset + records.len) as usize)
        .ok_or_else(|| Error::corrupt(temp_path, "records section shorter than written"))?;
    let filter = FilterBuilder::new(blocks, params.kind);
    let suffix_bits = params.suffix_bits();
    let mut bucket = 0u64;
    let mut pos = 0u64;
    let total = params.records + params.buckets();
    let mut i = 0u64;
    while pos < total && i < params.records {
        let word = read_bits(sizes, pos, 64).unwrap_or(0);
        if word & 1 == 1 {
            let (_, suffix) = params.read_record(bytes, i).unwrap_or_default();
            filter.insert(&Key::from_parts(bucket, suffix, suffix_bits));
            i += 1;
            pos += 1;
        } else {
            let zeros = word.trailing_zeros().max(1) as u64;
            bucket += zeros;
            pos += zeros;
        }
    }
    Ok(filter)
}
