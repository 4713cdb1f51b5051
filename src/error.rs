/*!
The one error type of the library.

Each variant carries the facts a user needs (which file, which line, what was
expected and what was found) and its message says what to do next. The binary
prints an error once, at the top level, and maps it to an exit code.
*/

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::hash::HashKind;

/// Result alias for the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in pwdex.
#[derive(Debug)]
pub enum Error {
    /// An operating-system error on a file (or stdin/stdout).
    Io { path: PathBuf, source: io::Error },
    /// A line of an input file could not be used.
    BadLine {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    /// The input's records are not in ascending hash order.
    Unsorted {
        path: PathBuf,
        line: u64,
        previous: String,
        got: String,
    },
    /// Hashes of two different kinds were mixed.
    KindMismatch {
        path: PathBuf,
        line: u64,
        expected: HashKind,
        found: HashKind,
    },
    /// The file does not start with the pwdex magic bytes.
    NotAnIndex { path: PathBuf },
    /// The index was written in a different format version (older or newer).
    Version {
        path: PathBuf,
        expected: u32,
        found: u32,
    },
    /// The index is damaged: a checksum or a structural invariant failed.
    Corrupt { path: PathBuf, what: String },
    /// Invalid settings or arguments.
    Usage(String),
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl AsRef<Path>, source: io::Error) -> Error {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// A corrupt-index error.
    pub fn corrupt(path: impl AsRef<Path>, what: impl Into<String>) -> Error {
        Error::Corrupt {
            path: path.as_ref().to_path_buf(),
            what: what.into(),
        }
    }

    /// True for a broken pipe on output, which is not worth reporting.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {}", path.display(), source),
            Error::BadLine { path, line, reason } => {
                write!(f, "{}:{}: {}", path.display(), line, reason)
            }
            Error::Unsorted {
                path,
                line,
                previous,
                got,
            } => write!(
                f,
                "{}:{}: hash {} comes after {} but the input must be sorted by hash \
                 (sort it with `LC_ALL=C sort`, or use the ordered-by-hash download)",
                path.display(),
                line,
                got,
                previous
            ),
            Error::KindMismatch {
                path,
                line,
                expected,
                found,
            } => write!(
                f,
                "{}:{}: a {} hash in a {} input; SHA-1 and NTLM corpora must be built into separate indexes",
                path.display(),
                line,
                found,
                expected
            ),
            Error::NotAnIndex { path } => write!(
                f,
                "{}: not a pwdex index (bad magic bytes); build one with `pwdex build DUMP -o INDEX`",
                path.display()
            ),
            Error::Version {
                path,
                expected,
                found,
            } => write!(
                f,
                "{}: index format version {} is not supported by this pwdex (which reads version {}); \
                 rebuild the index with this version or upgrade pwdex",
                path.display(),
                found,
                expected
            ),
            Error::Corrupt { path, what } => write!(
                f,
                "{}: index is corrupt: {}; rebuild it or copy it again (`pwdex verify` checks a whole index)",
                path.display(),
                what
            ),
            Error::Usage(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
