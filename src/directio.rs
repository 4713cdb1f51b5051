/*!
File I/O around the page cache, for the big sequential files a build writes
and reads back: the index itself and the external sort's spill file.

[`ChunkWriter`] hands page-aligned 4 MiB chunks to a background thread that
writes them with `O_DIRECT`; [`RunFileReader`] reads a file back the same
way. Both fall back to ordinary I/O where the platform or the file system
refuses direct I/O, and for the unaligned tail of a file.

Why: on the virtual machines this was measured on, filling fresh page-cache
pages costs far more CPU than the copy itself (each first touch of guest
memory faults in the host). Writing a 1.9 GB index through the page cache
took 3-7 s of system time, varying run to run, and reading a sort run back
(with the k-way merge sort this crate had then)
through it cost 18% of an unsorted build's CPU; `dd oflag=direct` moves the
same bytes at 1.9 GB/s with almost no CPU.
*/

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::format::PAGE;

/// Bytes per write to the index file, and their alignment in it.
const WRITE_CHUNK: usize = 4 << 20;

/// Chunks handed to the background writer and not yet written back.
const CHUNKS_IN_FLIGHT: usize = 3;

/// Buffers the index file's bytes and has a background thread write them
/// in `WRITE_CHUNK`-sized writes at multiples of `WRITE_CHUNK` in the
/// file, bypassing the page cache (`O_DIRECT`) where the file system allows.
///
/// Why direct writes: copying the index into the page cache was the largest
/// cost of a sorted build. Fresh page-cache pages are slow to fill on this
/// kind of virtual machine (each first touch of guest memory faults in the
/// host): `copy_folio_from_iter_atomic` was 30% of a 100M-record build's
/// CPU time, 3-7 s of system time for a 1.9 GB index, varying run to run,
/// where `dd oflag=direct` writes the same bytes at 1.9 GB/s with almost no
/// CPU. The packer now only copies into a reused, page-aligned chunk. A file
/// system that refuses `O_DIRECT` (tmpfs before Linux 6.6, some network and
/// FUSE file systems) gets ordinary writes; for a file to keep (the index)
/// the disk is then asked to catch up every `SYNC_EVERY` bytes, so that
/// the final sync is short. Scratch files (the sort's spill) are never synced.
///
/// The index is then not in the page cache after the build; the first
/// `check` reads what it needs from disk. A `check` against an index read
/// back by `cat` was as fast as against one written through the page cache
/// (10M queries / 20M records, `farm-bench` A/B 1.02).
///
/// Why whole aligned chunks: the page cache keeps the folio sizes of the
/// writes that filled it, and the kernel (ext4, Linux 6.16 and later) maps a
/// file with 2 MiB pages only where its folios are that large and aligned
/// (11% less CPU for 1M queries against 5M records in the buffered case);
/// `O_DIRECT` needs aligned offsets and lengths anyway.
pub struct ChunkWriter {
    /// The chunk being filled; its first byte goes to offset `written`.
    chunk: AlignedChunk,
    /// Bytes handed to the background writer so far.
    written: u64,
    /// Chunks ready for reuse.
    spare: Vec<AlignedChunk>,
    jobs: Option<std::sync::mpsc::SyncSender<(u64, AlignedChunk)>>,
    done: std::sync::mpsc::Receiver<io::Result<AlignedChunk>>,
    in_flight: usize,
    thread: Option<std::thread::JoinHandle<File>>,
    /// The first write error, reported by every later call.
    failed: Option<(io::ErrorKind, String)>,
}

/// Bytes written with ordinary (page-cache) writes between requests to the
/// disk to catch up.
///
/// The kernel starts writing dirty pages back only past a share of memory
/// (10% by default, 2.3 GB here), so an index smaller than that went to the
/// disk all at once in the final fsync: 0.86 s of a 100M-record build,
/// with the CPUs idle.
const SYNC_EVERY: u64 = 256 << 20;

/// A buffer (by default `WRITE_CHUNK` bytes) whose data starts on a page boundary, as
/// `O_DIRECT` requires of the memory it writes from.
struct AlignedChunk {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedChunk {
    fn new() -> Self {
        AlignedChunk::with_capacity(WRITE_CHUNK)
    }

    /// A chunk of `bytes` (a multiple of [`PAGE`]).
    fn with_capacity(bytes: usize) -> Self {
        let raw = vec![0u8; bytes + PAGE as usize];
        // If the pointer cannot be aligned, data starts at 0 and the direct
        // write is refused (EINVAL), which falls back to an ordinary write.
        let start = match raw.as_ptr().align_offset(PAGE as usize) {
            off if off < PAGE as usize => off,
            _ => 0,
        };
        AlignedChunk { raw, start, len: 0 }
    }

    fn data(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }

    fn extend(&mut self, bytes: &[u8]) {
        let at = self.start + self.len;
        self.raw[at..at + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }
}

/// Opens `path` for writing (or, with `write` false, reading) without the
/// page cache, where the platform and the file system allow it.
fn open_direct(path: &Path, write: bool) -> Option<File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(!write)
            .write(write)
            .custom_flags(libc::O_DIRECT)
            .open(path)
            .ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (path, write);
        None
    }
}

/// Writes `data` at `offset`, directly when `direct` is set and the write is
/// aligned; a refused direct write switches to ordinary writes for good.
/// Ordinary writes are synced every `SYNC_EVERY` bytes when `sync` is set.
fn write_chunk_at(
    direct: &mut Option<File>,
    file: &File,
    offset: u64,
    data: &[u8],
    sync: bool,
    unsynced: &mut u64,
) -> io::Result<()> {
    #[cfg(unix)]
    use std::os::unix::fs::FileExt;
    let aligned = offset.is_multiple_of(PAGE)
        && data.len().is_multiple_of(PAGE as usize)
        && (data.as_ptr() as usize).is_multiple_of(PAGE as usize);
    if aligned && let Some(d) = direct {
        match d.write_all_at(data, offset) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => *direct = None,
            Err(e) => return Err(e),
        }
    }
    file.write_all_at(data, offset)?;
    *unsynced += data.len() as u64;
    if sync && *unsynced >= SYNC_EVERY {
        *unsynced = 0;
        // Errors surface in the final sync_all, which the build checks.
        let _ = file.sync_data();
    }
    Ok(())
}

impl ChunkWriter {
    /// Writes to `file` from offset 0, directly where allowed. With `sync`
    /// (a file to keep), ordinary writes are synced as they go.
    pub fn new(file: File, sync: bool) -> io::Result<Self> {
        ChunkWriter::with_direct_io(file, true, sync)
    }

    /// As [`ChunkWriter::new`], with direct I/O only if `direct` is set
    /// (tests of the fallback turn it off).
    pub fn with_direct_io(file: File, direct: bool, sync: bool) -> io::Result<Self> {
        // A second handle on the same open file, with O_DIRECT.
        let mut direct = if direct {
            open_direct(&handle_path(&file), true)
        } else {
            None
        };
        let (jobs, todo) = std::sync::mpsc::sync_channel::<(u64, AlignedChunk)>(CHUNKS_IN_FLIGHT);
        let (report, done) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("pwdex-writer".into())
            .spawn(move || {
                let mut unsynced = 0u64;
                for (offset, chunk) in todo {
                    let result = write_chunk_at(
                        &mut direct,
                        &file,
                        offset,
                        chunk.data(),
                        sync,
                        &mut unsynced,
                    );
                    if report.send(result.map(|()| chunk)).is_err() {
                        break;
                    }
                }
                file
            })?;
        Ok(ChunkWriter {
            chunk: AlignedChunk::new(),
            written: 0,
            spare: Vec::new(),
            jobs: Some(jobs),
            done,
            in_flight: 0,
            thread: Some(thread),
            failed: None,
        })
    }

    fn check_failed(&self) -> io::Result<()> {
        match &self.failed {
            Some((kind, what)) => Err(io::Error::new(
                *kind,
                format!("an earlier write failed: {what}"),
            )),
            None => Ok(()),
        }
    }

    /// Takes one finished write back from the background thread.
    fn collect_one(&mut self) -> io::Result<()> {
        let result = self
            .done
            .recv()
            .unwrap_or_else(|_| Err(io::Error::other("the index writer thread stopped")));
        self.in_flight -= 1;
        match result {
            Ok(mut chunk) => {
                chunk.len = 0;
                self.spare.push(chunk);
                Ok(())
            }
            Err(e) => {
                self.failed = Some((e.kind(), e.to_string()));
                Err(e)
            }
        }
    }

    /// Hands the buffered bytes to the background thread.
    fn write_buffer(&mut self) -> io::Result<()> {
        self.check_failed()?;
        if self.chunk.len == 0 {
            return Ok(());
        }
        while self.spare.is_empty() && self.in_flight >= CHUNKS_IN_FLIGHT {
            self.collect_one()?;
        }
        let next = self.spare.pop().unwrap_or_else(AlignedChunk::new);
        let full = std::mem::replace(&mut self.chunk, next);
        let len = full.len as u64;
        let jobs = self.jobs.as_ref().expect("writer thread running");
        jobs.send((self.written, full))
            .map_err(|_| io::Error::other("the index writer thread stopped"))?;
        self.in_flight += 1;
        self.written += len;
        Ok(())
    }

    /// Writes everything buffered and waits until it is written.
    fn drain(&mut self) -> io::Result<()> {
        self.write_buffer()?;
        while self.in_flight > 0 {
            self.collect_one()?;
        }
        Ok(())
    }

    /// Writes what is buffered and hands the file back.
    pub fn into_inner(mut self) -> io::Result<File> {
        self.drain()?;
        self.jobs = None;
        self.thread
            .take()
            .expect("writer thread running")
            .join()
            .map_err(|_| io::Error::other("the index writer thread panicked"))
    }

    /// Where the buffered chunk ends: the next multiple of `WRITE_CHUNK`
    /// in the file (a whole chunk, except right after an unaligned flush).
    fn chunk_len(&self) -> usize {
        WRITE_CHUNK - (self.written % WRITE_CHUNK as u64) as usize
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        // A full chunk goes out before new bytes are taken, so an error
        // never follows taking bytes.
        if self.chunk.len == self.chunk_len() {
            self.write_buffer()?;
        }
        let take = (self.chunk_len() - self.chunk.len).min(data.len());
        self.chunk.extend(&data[..take]);
        Ok(take)
    }

    /// Writes what is buffered and waits for it; the next chunk then ends at
    /// the next multiple of `WRITE_CHUNK`, so later chunks are aligned again.
    fn flush(&mut self) -> io::Result<()> {
        self.drain()
    }
}

/// A path that opens `file` again, for a second handle with other flags:
/// `/proc/self/fd/N` on Linux (which works for unnamed temporary files too,
/// and names this very file, whatever has become of its name).
fn handle_path(file: &File) -> PathBuf {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        PathBuf::new()
    }
}

/// Reads a file (written by a [`ChunkWriter`]) in page-aligned chunks read
/// with `O_DIRECT` where allowed: from the start, or chunk by chunk from
/// the offsets given to [`RunFileReader::seek`].
///
/// It holds one file descriptor: the direct handle when there is one (the
/// original is closed; an unnamed file lives as long as any handle does),
/// else the original.
pub struct RunFileReader {
    file: File,
    direct: bool,
    chunk: AlignedChunk,
    /// Bytes of `chunk` already handed out.
    taken: usize,
    /// File offset of the next chunk.
    offset: u64,
    /// Most bytes the next refill reads (whole pages; see
    /// [`RunFileReader::seek_exact`]).
    read_len: usize,
}

impl RunFileReader {
    /// Reads `file` from offset 0 in chunks of about `chunk_bytes`
    /// (rounded to whole pages, at least one).
    pub fn new(file: File, chunk_bytes: usize) -> Self {
        let chunk_bytes = (chunk_bytes / PAGE as usize).max(1) * PAGE as usize;
        let (file, direct) = match open_direct(&handle_path(&file), false) {
            Some(d) => (d, true),
            None => (file, false),
        };
        RunFileReader {
            file,
            direct,
            chunk: AlignedChunk::with_capacity(chunk_bytes),
            taken: 0,
            offset: 0,
            read_len: chunk_bytes,
        }
    }

    /// Reads the next chunk; returns its length (0 at the end of the file).
    fn refill(&mut self) -> io::Result<usize> {
        #[cfg(unix)]
        use std::os::unix::fs::FileExt;
        let capacity = (self.chunk.raw.len() - PAGE as usize).min(self.read_len);
        let start = self.chunk.start;
        let buf = &mut self.chunk.raw[start..start + capacity];
        let n = match self.file.read_at(buf, self.offset) {
            Err(e) if self.direct && e.kind() == io::ErrorKind::InvalidInput => {
                // Direct reads refused after all: the same file, without O_DIRECT.
                self.file = File::open(handle_path(&self.file))?;
                self.direct = false;
                self.file.read_at(buf, self.offset)?
            }
            other => other?,
        };
        self.chunk.len = n;
        self.taken = 0;
        self.offset += n as u64;
        Ok(n)
    }

    /// The bytes read from the file and not yet handed out, refilling first
    /// when there are none; empty at the end of the file.
    pub fn buffered(&mut self) -> io::Result<&[u8]> {
        if self.taken == self.chunk.len {
            self.refill()?;
        }
        Ok(&self.chunk.data()[self.taken..])
    }

    /// Moves to `offset` (a multiple of [`PAGE`] for direct reads): the
    /// next [`RunFileReader::buffered`] reads a chunk from there.
    pub fn seek(&mut self, offset: u64) {
        self.offset = offset;
        self.chunk.len = 0;
        self.taken = 0;
        self.read_len = usize::MAX;
    }

    /// Like [`RunFileReader::seek`], but the next read asks for `len` bytes
    /// only (rounded up to whole pages), not a whole buffer: for chunks of
    /// different sizes, none read twice.
    pub fn seek_exact(&mut self, offset: u64, len: usize) {
        self.seek(offset);
        self.read_len = len.div_ceil(PAGE as usize).max(1) * PAGE as usize;
    }

    /// Marks `n` bytes of [`RunFileReader::buffered`] as handed out.
    pub fn consume(&mut self, n: usize) {
        self.taken = (self.taken + n).min(self.chunk.len);
    }
}

impl Read for RunFileReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.buffered()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.taken += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes `0..len` of a pattern no two chunks share.
    fn pattern(len: usize) -> Vec<u8> {
        (0..len as u64)
            .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8)
            .collect()
    }

    /// Several whole chunks (direct writes when `direct` is set and the
    /// file system allows), an unaligned flush in the middle, odd-sized
    /// writes and a partial last chunk (an ordinary write) all land where
    /// they belong.
    fn chunks_round_trip_in(dir: &Path, direct: bool) {
        let data = pattern(3 * WRITE_CHUNK + 12_345);
        let path = dir.join("chunks.bin");
        let file = File::create(&path).unwrap();
        let mut w = ChunkWriter::with_direct_io(file, direct, true).unwrap();
        let (first, rest) = data.split_at(WRITE_CHUNK + 777);
        for piece in first.chunks(100_003) {
            w.write_all(piece).unwrap();
        }
        w.flush().unwrap();
        for piece in rest.chunks(1 << 20) {
            w.write_all(piece).unwrap();
        }
        let mut file = w.into_inner().unwrap();
        file.flush().unwrap();
        drop(file);
        let back = std::fs::read(&path).unwrap();
        assert_eq!(back.len(), data.len());
        assert!(back == data, "file content differs from what was written");
    }

    #[test]
    fn chunks_round_trip_on_the_temp_dir() {
        let dir = tempfile::tempdir().unwrap();
        chunks_round_trip_in(dir.path(), true);
    }

    /// The ordinary-write path, which file systems that refuse `O_DIRECT` get.
    #[test]
    fn chunks_round_trip_without_direct_io() {
        let dir = tempfile::tempdir().unwrap();
        chunks_round_trip_in(dir.path(), false);
    }

    /// tmpfs: no `O_DIRECT` before Linux 6.6, a buffered imitation since.
    #[test]
    fn chunks_round_trip_on_tmpfs() {
        let shm = Path::new("/dev/shm");
        if !shm.is_dir() {
            return;
        }
        let dir = tempfile::tempdir_in(shm).unwrap();
        chunks_round_trip_in(dir.path(), true);
    }

    /// A write error is reported, and every later call reports it too.
    #[test]
    fn write_errors_are_reported_and_sticky() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ro.bin");
        File::create(&path).unwrap();
        // A read-only handle: every write to it fails.
        let file = File::open(&path).unwrap();
        let mut w = ChunkWriter::with_direct_io(file, false, true).unwrap();
        let data = pattern(WRITE_CHUNK);
        w.write_all(&data[..1000]).unwrap();
        assert!(w.flush().is_err());
        // Taking bytes only buffers them; handing them on reports the error.
        w.write_all(&data[..10]).unwrap();
        let again = w.flush().unwrap_err();
        assert!(again.to_string().contains("earlier write"), "{again}");
        assert!(w.into_inner().is_err());
    }
}

#[cfg(test)]
mod reader_tests {
    use super::*;

    /// An unnamed file written by a `ChunkWriter` reads back byte for
    /// byte through `RunFileReader`, whatever the read sizes.
    #[test]
    fn unnamed_files_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(2 * WRITE_CHUNK + 4321) as u64)
            .map(|i| (i.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8)
            .collect();
        let file = tempfile::tempfile_in(dir.path()).unwrap();
        let mut w = ChunkWriter::new(file, false).unwrap();
        w.write_all(&data).unwrap();
        let file = w.into_inner().unwrap();
        for chunk_bytes in [1, 3 * PAGE as usize + 5, 1 << 20] {
            let mut r = RunFileReader::new(file.try_clone().unwrap(), chunk_bytes);
            let mut back = Vec::new();
            let mut piece = [0u8; 28];
            loop {
                let n = r.read(&mut piece).unwrap();
                if n == 0 {
                    break;
                }
                back.extend_from_slice(&piece[..n]);
            }
            assert!(back == data, "chunk size {chunk_bytes}: content differs");
        }
    }
}
