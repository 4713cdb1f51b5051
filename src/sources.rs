/*!
The forms a corpus comes in, and how to read each as a stream of bytes.

- a single-file dump (`HASH:COUNT` lines), plain, or compressed as `.gz`,
  `.zst` or `.7z` (the old official archives, of one file);
- a directory of range files `XXXXX.txt` (5 hex digits naming the prefix,
  `SUFFIX:COUNT` lines), as the official downloader writes with `--single false`;
- standard input (`-`) and named pipes, read once in order (compression
  recognised from their first bytes too).

Compression is recognised by the file's magic bytes, not only its name, so a
renamed archive is still read correctly. Every stream is hashed (xxh3) as it
is read, so the build record can name the exact download it came from.
*/

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use xxhash_rust::xxh3::Xxh3;

use crate::error::{Error, Result};

/// How an input is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputForm {
    /// An uncompressed regular file: can be memory-mapped.
    PlainFile,
    /// A gzip file.
    Gzip,
    /// A Zstandard file.
    Zstd,
    /// A 7-Zip archive.
    SevenZip,
    /// A directory of range files.
    RangeDir,
    /// Standard input.
    Stdin,
    /// A named pipe or other file that can be read only once, in order
    /// (`<(cmd)`, `/dev/stdin`): compression is recognised from its first
    /// bytes, which are then handed back, as for standard input.
    Stream,
}

/// One input of a build.
#[derive(Clone, Debug)]
pub struct Input {
    /// The path as given (`-` for stdin).
    pub path: PathBuf,
    pub form: InputForm,
}

impl Input {
    /// Recognises an input's form from its type and magic bytes.
    pub fn classify(path: &Path) -> Result<Input> {
        if path == Path::new("-") {
            return Ok(Input {
                path: path.to_path_buf(),
                form: InputForm::Stdin,
            });
        }
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.is_dir() {
            return Ok(Input {
                path: path.to_path_buf(),
                form: InputForm::RangeDir,
            });
        }
        if !meta.is_file() {
            // Opening it here to read its magic would take those bytes away.
            return Ok(Input {
                path: path.to_path_buf(),
                form: InputForm::Stream,
            });
        }
        let mut magic = [0u8; 6];
        let n = File::open(path)
            .and_then(|mut f| read_up_to(&mut f, &mut magic))
            .map_err(|e| Error::io(path, e))?;
        Ok(Input {
            path: path.to_path_buf(),
            form: form_of_magic(&magic[..n]),
        })
    }

    /// The name used in messages.
    pub fn display(&self) -> PathBuf {
        if self.form == InputForm::Stdin {
            PathBuf::from("<stdin>")
        } else {
            self.path.clone()
        }
    }

    /// Size on disk (compressed size for archives), when known.
    pub fn size(&self) -> Option<u64> {
        match self.form {
            InputForm::Stdin | InputForm::Stream => None,
            InputForm::RangeDir => range_files(&self.path).ok().map(|files| {
                files
                    .iter()
                    .filter_map(|f| std::fs::metadata(&f.1).ok())
                    .map(|m| m.len())
                    .sum()
            }),
            _ => std::fs::metadata(&self.path).ok().map(|m| m.len()),
        }
    }

    /// Opens a single-stream input (everything but a range directory) as
    /// decompressed bytes, hashing the raw bytes into `hasher`.
    pub fn open_stream(&self, hasher: RawHasher) -> Result<Box<dyn Read + Send>> {
        let path = &self.path;
        let open = || File::open(path).map_err(|e| Error::io(path, e));
        Ok(match self.form {
            InputForm::Stdin => sniffed(Box::new(HashingReader::new(io::stdin(), hasher)), path)?,
            InputForm::Stream => sniffed(Box::new(HashingReader::new(open()?, hasher)), path)?,
            InputForm::PlainFile => Box::new(HashingReader::new(open()?, hasher)),
            InputForm::Gzip => Box::new(flate2::read::MultiGzDecoder::new(
                io::BufReader::with_capacity(1 << 20, HashingReader::new(open()?, hasher)),
            )),
            InputForm::Zstd => Box::new(
                zstd::stream::read::Decoder::new(HashingReader::new(open()?, hasher))
                    .map_err(|e| Error::io(path, e))?,
            ),
            InputForm::SevenZip => Box::new(seven_zip_stream(path.clone(), hasher)?),
            InputForm::RangeDir => {
                return Err(Error::Usage(format!(
                    "{} is a directory of range files",
                    path.display()
                )));
            }
        })
    }
}

/// The form a regular file's first bytes say it has.
fn form_of_magic(magic: &[u8]) -> InputForm {
    match magic {
        [0x1f, 0x8b, ..] => InputForm::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => InputForm::Zstd,
        [b'7', b'z', 0xbc, 0xaf, 0x27, 0x1c] => InputForm::SevenZip,
        _ => InputForm::PlainFile,
    }
}

/// A stream read once (stdin, a pipe), decompressed when its first bytes
/// say so; they are read to tell, then handed back.
fn sniffed(mut raw: Box<dyn Read + Send>, path: &Path) -> Result<Box<dyn Read + Send>> {
    let name = if path == Path::new("-") {
        Path::new("<stdin>")
    } else {
        path
    };
    let mut magic = [0u8; 6];
    let n = read_up_to(&mut raw, &mut magic).map_err(|e| Error::io(name, e))?;
    let form = form_of_magic(&magic[..n]);
    let whole: Box<dyn Read + Send> = Box::new(io::Cursor::new(magic[..n].to_vec()).chain(raw));
    Ok(match form {
        InputForm::Gzip => Box::new(flate2::read::MultiGzDecoder::new(
            io::BufReader::with_capacity(1 << 20, whole),
        )),
        InputForm::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(whole).map_err(|e| Error::io(name, e))?)
        }
        InputForm::SevenZip => {
            return Err(Error::Usage(format!(
                "{}: a 7z archive cannot be read from a pipe (its index is at the end): \
                 give it as a file",
                name.display()
            )));
        }
        _ => whole,
    })
}

fn read_up_to<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Shared xxh3 state of an input's raw bytes.
pub type RawHasher = std::sync::Arc<std::sync::Mutex<Xxh3>>;

/// A new hasher.
pub fn new_hasher() -> RawHasher {
    std::sync::Arc::new(std::sync::Mutex::new(Xxh3::new()))
}

/// Passes reads through, feeding every byte to an xxh3 hasher.
pub struct HashingReader<R> {
    inner: R,
    hasher: RawHasher,
}

impl<R> HashingReader<R> {
    pub fn new(inner: R, hasher: RawHasher) -> Self {
        HashingReader { inner, hasher }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.lock().expect("hasher lock").update(&buf[..n]);
        Ok(n)
    }
}

/// Streams the first file of a 7-Zip archive. The decoder's API is
/// callback-based, so it runs on its own thread and hands blocks over a
/// bounded channel (memory stays at a few blocks).
fn seven_zip_stream(path: PathBuf, hasher: RawHasher) -> Result<ChannelReader> {
    let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(4);
    let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
    std::thread::spawn(move || {
        let result = (|| -> io::Result<()> {
            // The decoder seeks, so the raw bytes are hashed in a first,
            // sequential pass over the archive.
            let mut raw = HashingReader::new(io::BufReader::with_capacity(1 << 20, &file), hasher);
            io::copy(&mut raw, &mut io::sink())?;
            let mut file = file;
            std::io::Seek::rewind(&mut file)?;
            let mut archive =
                sevenz_rust2::ArchiveReader::new(file, sevenz_rust2::Password::empty()).map_err(
                    |e| {
                        io::Error::other(format!(
                            "not a readable 7z archive: {}",
                            seven_zip_error(&e)
                        ))
                    },
                )?;
            // The corpus is the one file with content: reading only the
            // first entry silently dropped the rest of a split corpus, and
            // all of it behind an empty first entry.
            let members: Vec<&str> = archive
                .archive()
                .files
                .iter()
                .filter(|e| !e.is_directory && e.has_stream && e.size > 0)
                .map(|e| e.name.as_str())
                .collect();
            if members.len() > 1 {
                return Err(io::Error::other(format!(
                    "the archive holds {} files ({}): pwdex reads an archive of one file; \
                     extract them and give each as an input",
                    members.len(),
                    members.join(", ")
                )));
            }
            let mut first = true;
            archive
                .for_each_entries(|entry, data| {
                    if !first || entry.is_directory() || !entry.has_stream() || entry.size() == 0 {
                        return Ok(true);
                    }
                    first = false;
                    loop {
                        let mut block = vec![0u8; 1 << 20];
                        let n = read_up_to(data, &mut block)?;
                        block.truncate(n);
                        if n == 0 || tx.send(Ok(block)).is_err() {
                            break;
                        }
                    }
                    Ok(true)
                })
                .map_err(|e| io::Error::other(format!("7z: {}", seven_zip_error(&e))))?;
            Ok(())
        })();
        if let Err(e) = result {
            let _ = tx.send(Err(e));
        }
    });
    Ok(ChannelReader {
        rx,
        current: Vec::new(),
        at: 0,
    })
}

/// A 7z error in words: the crate's `Display` prints its `Debug` form
/// (`Io(Custom { kind: Other, error: "dist overflow" }, "")`).
fn seven_zip_error(e: &sevenz_rust2::Error) -> String {
    use sevenz_rust2::Error as E;
    match e {
        E::Io(io, context) if context.is_empty() => format!("damaged or truncated ({io})"),
        E::Io(io, context) => format!("damaged or truncated ({context}: {io})"),
        E::ChecksumVerificationFailed | E::NextHeaderCrcMismatch => {
            "damaged: a checksum does not match".into()
        }
        E::Other(text) => text.to_string(),
        E::PasswordRequired | E::MaybeBadPassword(_) => {
            "encrypted: pwdex reads archives without a password".into()
        }
        other => format!("{other:?}"),
    }
}

/// A `Read` over blocks received from a channel.
pub struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    at: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            match self.rx.recv() {
                Ok(Ok(block)) => {
                    self.current = block;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The range files of a directory, sorted by prefix: `(prefix, path)`.
///
/// Names must be five hex digits and `.txt` (either case); hidden files
/// (starting with `.`) are ignored; anything else is an error naming it.
pub fn range_files(dir: &Path) -> Result<Vec<(u32, PathBuf)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let prefix = name
            .strip_suffix(".txt")
            .or_else(|| name.strip_suffix(".TXT"))
            .filter(|p| p.len() == 5 && p.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|p| u32::from_str_radix(p, 16).ok());
        match prefix {
            Some(p) => files.push((p, entry.path())),
            None => {
                return Err(Error::Usage(format!(
                    "{}: not a range file: names must be 5 hex digits and .txt, like 5BAA6.txt",
                    entry.path().display()
                )));
            }
        }
    }
    files.sort();
    if let Some(w) = files.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::Usage(format!(
            "{} and {} hold the same prefix",
            w[0].1.display(),
            w[1].1.display()
        )));
    }
    Ok(files)
}
