/*!
pwdex: an offline, exact lookup engine for breached-password hash corpora
such as Have I Been Pwned's Pwned Passwords (SHA-1 or NTLM).

It answers one question quickly and without a network: *is this hash in the
corpus, and how often was it seen?* The corpus is built once into a compact,
memory-mapped, sorted index with a Bloom-filter front; batches of queries are
then checked against it on all cores.

# Example: build an index, then look hashes up

```
use pwdex::{HashKind, Index, build::{build, BuildOptions}};

let dir = tempfile::tempdir().unwrap();
let dump = dir.path().join("dump.txt");
let hash = HashKind::Sha1.hash_plaintext(b"password");
std::fs::write(&dump, format!("{}:10434004\r\n", hash.to_hex(HashKind::Sha1))).unwrap();

let path = dir.path().join("corpus.pwdex");
build(&dump, &path, &BuildOptions::default()).unwrap();

let index = Index::open(&path).unwrap();
assert_eq!(index.get(&hash).unwrap(), Some(10434004));
let other = HashKind::Sha1.hash_plaintext(b"correct horse battery staple");
assert_eq!(index.get(&other).unwrap(), None);
```

# Exactness

The filter may only rule a hash *out*. Every "found" is confirmed by
comparing every stored bit of the hash, and every page a lookup reads is
checked against its checksum the first time it is read. A false "leaked" is
the worst bug this crate can have; a missed one the second worst.

# Modules

- [`hash`]: hash kinds, the [`Key`] type, hex.
- [`parse`]: dump and query line parsers.
- [`format`](mod@format): the on-disk layout (see `docs/FORMAT.md`).
- [`bits`]: bit packing shared by the writer and the reader.
- [`pagesum`]: the per-page checksums (xxh3), with an AVX2 path.
- [`filter`]: the split-block Bloom filter front.
- [`writer`]: streaming, atomic index writer.
- [`directio`]: big sequential files written and read back around the page cache.
- [`sources`]: the forms a corpus comes in (dump, range files, gzip/zstd/7z, stdin).
- [`extsort`]: external sort of unsorted or multiple inputs within a memory budget.
- [`build`]: corpus → index.
- [`index`]: the memory-mapped reader and lookups.
- [`batch`]: the parallel batch engine behind `check`.
- [`cpu`]: run-time choice of the hot loops' builds for newer x86-64 CPUs.
- [`queries`]: `check` input formats (hash, pwdump/secretsdump, plaintext, CSV) and their detection.
- [`report`]: `check` output formats (text, CSV, JSON Lines) and summary statistics.
- [`info`]: what `pwdex info` reports.
- [`verify`]: full verification of an index, every checksum and invariant (`pwdex verify`).
- [`range`]: range API bodies (`SUFFIX:COUNT` lines per 5-hex prefix), padded or not.
*/

pub mod batch;
pub mod bits;
pub mod build;
pub mod cpu;
pub mod directio;
pub mod error;
pub mod extsort;
pub mod filter;
pub mod format;
pub mod hash;
pub mod index;
pub mod info;
pub mod pagesum;
pub mod parse;
pub mod queries;
pub mod range;
pub mod report;
pub mod sources;
pub mod verify;
pub mod writer;

pub use error::{Error, Result};
pub use hash::{HashKind, Key};
pub use index::Index;
