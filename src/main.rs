/*!
The `pwdex` command line: argument parsing and reporting only. Everything it
does is a call into the library.
*/

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};

use pwdex::batch::{CheckOptions, Checker, Malformed, OutputMode};
use pwdex::build::{BuildOptions, build_many};
use pwdex::info::IndexInfo;
use pwdex::queries::{CsvColumns, InputFormat};
use pwdex::report::{IndexDescription, OutputFormat};
use pwdex::{Error, HashKind, Index};

mod serve;

/// mimalloc keeps freed memory for reuse: the batch engine's per-block
/// buffers (hundreds of KiB each) no longer go back to the kernel and come
/// back zero-filled every block (`clear_page_erms` was 11.6% of a
/// 1M-query check profile with the system allocator).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status: success.
const EXIT_OK: u8 = 0;
/// Exit status: an error stopped the command.
const EXIT_ERROR: u8 = 1;
/// Exit status: invalid command line.
const EXIT_USAGE: u8 = 2;
/// Exit status: `check` completed but some input lines were malformed.
const EXIT_MALFORMED: u8 = 3;
/// Exit status: `check --fail-on-found` completed and something was found.
const EXIT_FOUND: u8 = 4;

macro_rules! exit_codes_text {
    () => {
        "\
Exit codes:
  0  success
  1  error (unreadable file, bad dump line, corrupt index, index of the wrong kind, ...)
  2  invalid command line
  3  check: finished, but some input lines were malformed (reported on stderr)
  4  check --fail-on-found: finished, and something was found (takes precedence over 3)"
    };
}

const EXIT_CODES: &str = exit_codes_text!();

const CHECK_HELP: &str = concat!(
    "\
Input formats (--input-format):
  auto    hash or pwdump, detected from the first lines of each input (the summary
          says which); plaintext is never detected, CSV only when asked for
  hash    one hash per line; also HASH:anything (e.g. HASH:COUNT), user:HASH and
          user,HASH (exactly one of the two fields a hash)
  pwdump  pwdump / secretsdump output, [DOMAIN\\]user:RID:LMHASH:NTHASH:::, with
          (status=...) and (pwdLastSet=...) suffixes and history entries; the NT hash
          is checked (NTLM indexes only). The banner, [*] status lines, Kerberos keys,
          LSA/DPAPI secrets, hex dumps and cleartext lines are skipped and never
          printed; other lines are malformed
  plain   one plaintext password per line (UTF-8; an empty line is blank), hashed
          with the index's kind; plaintexts appear only with --show-plaintext
  csv     a header row; --column NAME (hashes; default: a column named hash, nthash,
          nt_hash, ntlm, nt, sha1, sha-1 or password_hash) or --plaintext-column NAME,
          and --id-column NAME for the account. A column option implies csv

Output (--format), one record per query, in input order:
  text    [ACCOUNT:]HASH:COUNT, plus :INDEX with several -i; found queries only
          unless --all (then count 0 when not found)
  csv     account,hash,found,count,index,status,history (+ plaintext with
          --show-plaintext); every query unless --only-found
  jsonl   {\"account\",\"hash\",\"found\",\"count\",\"index\"} (+ \"status\", \"history\"
          for pwdump lines, \"plaintext\" with --show-plaintext); every query unless
          --only-found
  found: held by an index with a count of at least --min-count. Below it csv and
  jsonl keep the real count and index with found=false; text prints count 0.
  With several -i, the first index (in the order given) holding a hash is the one
  reported; all must hold one hash kind (NTLM for pwdump).

Summary (stderr, unless -q): input format, lines, hashes checked, found, not
found, malformed, blank and skipped lines, accounts, distinct hashes and hashes
shared by 2+ accounts (exact for inputs with accounts, a ~2% estimate otherwise),
time and rate.

",
    exit_codes_text!()
);

#[derive(Parser, Debug)]
#[command(
    name = "pwdex",
    version,
    about = "Offline, exact lookups in breached-password hash corpora (Pwned Passwords SHA-1 / NTLM)",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build an index from Pwned Passwords dumps, range directories or plaintext lists.
    #[command(after_help = EXIT_CODES)]
    Build(BuildArgs),
    /// Check hashes, pwdump/secretsdump exports, plaintexts or CSV against indexes; prints found ones as [ACCOUNT:]HASH:COUNT.
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
    /// Describe an index: kind, records, sizes, filter, build record.
    #[command(after_help = EXIT_CODES)]
    Info(InfoArgs),
    /// Check a whole index: every checksum, the zero padding, and every structural invariant.
    #[command(after_help = EXIT_CODES)]
    Verify(VerifyArgs),
    /// Serve the Pwned Passwords range API (GET /range/{5 hex}) and a JSON batch check over HTTP.
    #[command(after_help = EXIT_CODES)]
    Serve(serve::ServeArgs),
}

#[derive(Args, Debug)]
struct BuildArgs {
    /// Inputs, merged into one index: dump files (HASH:COUNT lines, 40-hex SHA-1 or 32-hex
    /// NTLM, sorted or not, plain or .gz/.zst/.7z), directories of XXXXX.txt range files,
    /// or `-` for stdin.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Where to write the index (replaced atomically when the build succeeds).
    #[arg(short, long)]
    output: PathBuf,
    /// Hash kind; detected from the first line when omitted (required with --from-plaintext).
    #[arg(long)]
    kind: Option<HashKind>,
    /// Inputs are plaintext passwords, one per line (UTF-8), hashed with --kind and counted.
    #[arg(long)]
    from_plaintext: bool,
    /// Skip malformed lines (each reported, up to 20, with the total) instead of stopping.
    #[arg(long)]
    skip_malformed: bool,
    /// Refuse unsorted input instead of sorting it.
    #[arg(long)]
    sorted: bool,
    /// Memory budget of the external sort, e.g. 512M, 2G.
    #[arg(long, default_value = "1G", value_parser = parse_size)]
    memory: usize,
    /// Directory for the sort's temporary spill file (default: beside the output).
    #[arg(long)]
    tmp_dir: Option<PathBuf>,
    /// Target false-positive rate of the Bloom-filter front.
    #[arg(long, default_value_t = pwdex::filter::DEFAULT_FPP, value_parser = parse_fpp)]
    fpp: f64,
    /// Leading hash bits implied by the bucket table (default: chosen for the smallest index).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=pwdex::format::MAX_BUCKET_BITS as i64))]
    bucket_bits: Option<u32>,
    /// One bucket sample every 2^S buckets (default 6; larger is smaller and slower).
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u32).range(0..=pwdex::format::MAX_SAMPLE_SHIFT as i64))]
    sample_shift: Option<u32>,
    /// No progress bar or summary.
    #[arg(short, long)]
    quiet: bool,
}

/// Parses a byte size: a number with an optional K, M, G or T suffix (powers of 1024).
fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, ""),
    };
    let value: usize = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 512M or 2G"))?;
    let shift = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("{text:?}: unknown unit; use K, M, G or T")),
    };
    value
        .checked_mul(1 << shift)
        .filter(|&v| v >= 1 << 20)
        .ok_or_else(|| format!("{text:?}: must be at least 1M"))
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// An index to check against; repeat for several (the first, in this order, holding a hash is reported).
    #[arg(short, long, value_name = "INDEX", required = true)]
    index: Vec<PathBuf>,
    /// Input files (stdin when none, or `-`).
    files: Vec<PathBuf>,
    /// What the input holds: auto (hash or pwdump, detected), hash, pwdump, plain, csv.
    #[arg(
        long,
        value_name = "FORMAT",
        default_value = "auto",
        value_parser = clap::builder::TypedValueParser::map(
            clap::builder::PossibleValuesParser::new(InputFormat::NAMES),
            |s| s.parse::<InputFormat>().expect("a listed name"),
        )
    )]
    input_format: InputFormat,
    /// Output format: text ([ACCOUNT:]HASH:COUNT), csv or jsonl (one record per query).
    #[arg(
        long,
        value_name = "FORMAT",
        default_value = "text",
        value_parser = clap::builder::TypedValueParser::map(
            clap::builder::PossibleValuesParser::new(OutputFormat::NAMES),
            |s| s.parse::<OutputFormat>().expect("a listed name"),
        )
    )]
    format: OutputFormat,
    /// Print every query (text: count 0 when not found). The default for csv and jsonl.
    #[arg(long, conflicts_with = "only_found")]
    all: bool,
    /// Print found queries only. The default for text.
    #[arg(long)]
    only_found: bool,
    /// Found only with a count of at least N (csv/jsonl keep the real count, with found=false).
    #[arg(long, value_name = "N", default_value_t = 1)]
    min_count: u64,
    /// Exit with status 4 when anything is found (for CI gates and scripts).
    #[arg(long)]
    fail_on_found: bool,
    /// Put plaintext passwords (plain input, --plaintext-column) in the records.
    #[arg(long)]
    show_plaintext: bool,
    /// CSV input: the column holding hashes.
    #[arg(long, value_name = "NAME", conflicts_with = "plaintext_column")]
    column: Option<String>,
    /// CSV input: the column holding plaintext passwords.
    #[arg(long, value_name = "NAME")]
    plaintext_column: Option<String>,
    /// CSV input: the column holding the account.
    #[arg(long, value_name = "NAME")]
    id_column: Option<String>,
    /// No summary on stderr (malformed lines are still reported).
    #[arg(short, long)]
    quiet: bool,
    /// Read input files with read() instead of memory-mapping them: for a
    /// file another program may shorten or still be writing during the
    /// check (a mapped file that shrinks ends the check with SIGBUS).
    #[arg(long)]
    no_mmap: bool,
    /// How many malformed lines to report individually.
    #[arg(long, default_value_t = 20)]
    max_errors: u64,
}

impl CheckArgs {
    /// The library settings; no I/O. An error is a command-line mistake.
    fn options(&self) -> Result<CheckOptions, String> {
        let csv = CsvColumns {
            hash: self.column.clone(),
            plaintext: self.plaintext_column.clone(),
            id: self.id_column.clone(),
        };
        let input = match self.input_format {
            InputFormat::Auto if csv.any() => InputFormat::Csv,
            InputFormat::Auto | InputFormat::Csv => self.input_format,
            other if csv.any() => {
                return Err(format!(
                    "--column, --plaintext-column and --id-column are for CSV input, not {other}"
                ));
            }
            other => other,
        };
        let mode = if self.all {
            Some(OutputMode::All)
        } else if self.only_found {
            Some(OutputMode::Found)
        } else {
            None
        };
        Ok(CheckOptions {
            input,
            output: self.format,
            mode,
            min_count: self.min_count,
            show_plaintext: self.show_plaintext,
            csv,
            statistics: !self.quiet,
        })
    }
}

#[derive(Args, Debug)]
struct InfoArgs {
    /// The index to describe.
    index: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct VerifyArgs {
    /// The index to verify.
    index: PathBuf,
    /// Print nothing on success; a problem is still reported (exit code 1).
    #[arg(short, long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(value) = std::env::var_os("PWDEX_CPU")
        && value != "baseline"
        && value != "native"
    {
        eprintln!(
            "pwdex: warning: PWDEX_CPU={} is neither `baseline` nor `native`; using `native`",
            value.to_string_lossy()
        );
    }
    let result = match cli.command {
        Command::Build(args) => run_build(args),
        Command::Check(args) => run_check(args),
        Command::Info(args) => run_info(args),
        Command::Verify(args) => run_verify(args),
        Command::Serve(args) => serve::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if e.is_broken_pipe() => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("pwdex: error: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// `--fpp`: a rate strictly between 0 and 1 (a bad one is a command-line
/// error, exit status 2, like any other bad flag value).
fn parse_fpp(text: &str) -> Result<f64, String> {
    let fpp: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if fpp > 0.0 && fpp < 1.0 {
        Ok(fpp)
    } else {
        Err(format!("must be between 0 and 1 (exclusive), got {text}"))
    }
}

/// The stop signals (SIGINT, SIGTERM, SIGHUP) this process was started
/// with set to be ignored: by `nohup`, or as a background job of a script.
fn ignored_stop_signals() -> Vec<libc::c_int> {
    [libc::SIGINT, libc::SIGTERM, libc::SIGHUP]
        .into_iter()
        .filter(|&signal| {
            // SAFETY: an all-zero `sigaction` is a valid value of this plain
            // C struct, and with a null new action `sigaction` only writes
            // the current one into it.
            unsafe {
                let mut current: libc::sigaction = std::mem::zeroed();
                libc::sigaction(signal, std::ptr::null(), &mut current) == 0
                    && current.sa_sigaction == libc::SIG_IGN
            }
        })
        .collect()
}

/// Sets `signals` back to ignored after the Ctrl-C handler took them all:
/// a build under `nohup` must outlive the terminal that started it.
fn keep_ignored(signals: &[libc::c_int]) {
    for &signal in signals {
        // SAFETY: SIG_IGN is a valid disposition for these signals, and no
        // handler of ours is running: the Ctrl-C crate's thread only waits.
        unsafe {
            libc::signal(signal, libc::SIG_IGN);
        }
    }
}

fn run_build(args: BuildArgs) -> Result<u8, Error> {
    // Ctrl-C, SIGTERM and SIGHUP: stop at the next chunk, so temporary files
    // are removed and the previous index stays in place.
    let ignored = ignored_stop_signals();
    let _ = ctrlc::set_handler(pwdex::build::interrupt);
    keep_ignored(&ignored);
    let opts = BuildOptions {
        kind: args.kind,
        fpp: args.fpp,
        bucket_bits: args.bucket_bits,
        sample_shift: args.sample_shift,
        progress: !args.quiet,
        require_sorted: args.sorted,
        skip_malformed: args.skip_malformed,
        memory_bytes: args.memory,
        tmp_dir: args.tmp_dir.clone(),
        from_plaintext: args.from_plaintext,
        ..BuildOptions::default()
    };
    let summary = build_many(&args.inputs, &args.output, &opts)?;
    for example in &summary.malformed_examples {
        eprintln!("pwdex: skipped {example}");
    }
    if summary.malformed_skipped > summary.malformed_examples.len() as u64 {
        eprintln!(
            "pwdex: ... and {} more malformed lines skipped",
            summary.malformed_skipped - summary.malformed_examples.len() as u64
        );
    }
    if !args.quiet {
        let p = &summary.params;
        eprintln!(
            "pwdex: built {} ({} {} records from {} lines: {} padding, {} duplicates merged, {} malformed skipped{}) in {:.2} s ({:.0} MB/s)",
            args.output.display(),
            p.records,
            p.kind,
            summary.lines,
            summary.padding_lines,
            summary.duplicates_merged,
            summary.malformed_skipped,
            if summary.sorted_externally {
                ", sorted"
            } else {
                ""
            },
            summary.seconds,
            summary.input_bytes as f64 / 1e6 / summary.seconds.max(1e-9)
        );
    } else if summary.malformed_skipped > 0 {
        eprintln!(
            "pwdex: {} malformed lines skipped",
            summary.malformed_skipped
        );
    }
    Ok(EXIT_OK)
}

/// A batch with at least as many queries as its index has filter pages
/// touches nearly every one of them: have the kernel read the front sections
/// ahead, sequentially, instead of faulting them in one page at a time
/// (issue 4: on a cold index the filter is read once, not randomly). Small
/// batches against a huge index skip it. Stdin counts as large.
fn prefetch_fronts_for_large_batches(indexes: &[Index<memmap2::Mmap>], files: &[PathBuf]) {
    let approx_queries: u64 = files
        .iter()
        .map(|f| (f.as_os_str() != "-").then(|| approx_lines(f)).flatten())
        .sum::<Option<u64>>()
        .unwrap_or(u64::MAX);
    for index in indexes {
        let filter_pages = index.params().filter_blocks * 64 / 4096;
        // A batch with a query per index page or more touches most pages
        // anyway: check them all up front, in file order and in parallel
        // (errors surface at the first lookup that reads a bad page, as
        // usual), instead of hashing each page when a lookup first reads
        // it. Measured crossover (100M records, 465K pages): 200K queries
        // cost the same either way, 100K are faster lazily, 1M faster up
        // front (0.21 s vs 0.26-0.31 s wall; 20M records: 0.08 vs 0.11).
        // The pass reads a cold file sequentially, in 2 MiB pages.
        let pages = index.file_len() / pwdex::format::PAGE;
        if approx_queries != u64::MAX && approx_queries >= pages {
            index.advise_full_pass();
            let _ = index.verify_all_pages();
            // The overflow directory is built on one thread: beside the
            // bucket table's parallel build it costs no wall time (0.9 ms
            // of a 1M-query check against 5M records, one after the other).
            let _ = rayon::join(|| index.index_overflow_counts(), || index.index_buckets());
            index.advise_lookups();
        } else if approx_queries >= filter_pages {
            index.prefetch_front();
        }
    }
}

/// About how many lines `path` has, from its size and the lines in its
/// first MiB (exact for smaller files); `None` if it cannot be read.
///
/// Lines of a hash list are 33-42 bytes, but pwdump and secretsdump lines
/// are about 100 and CSV rows anything: dividing the size by 33, as before,
/// took a 300 MB secretsdump export (3M accounts) for a batch of 9M
/// queries, enough to read the whole of a 28 GB NTLM index up front.
fn approx_lines(path: &std::path::Path) -> Option<u64> {
    use std::io::Read;
    const SAMPLE: usize = 1 << 20;
    // Only a regular file is sampled: reading from a pipe, a FIFO or a
    // terminal (`<(cmd)`, `/dev/stdin`) would take its first MiB away from
    // the check itself, and a FIFO drained here would never reopen.
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let file = std::fs::File::open(path).ok()?;
    let size = meta.len();
    let mut sample = Vec::with_capacity(SAMPLE);
    file.take(SAMPLE as u64).read_to_end(&mut sample).ok()?;
    let ends = memchr::memchr_iter(b'\n', &sample).count() as u64;
    if sample.len() as u64 >= size {
        // The whole file: its line ends, and a last line without one.
        let unterminated = sample.last().is_some_and(|&b| b != b'\n');
        return Some(ends + unterminated as u64);
    }
    // At least one line per sample's worth of bytes.
    let per_sample = ends.max(1);
    Some((size as u128 * per_sample as u128 / sample.len() as u128) as u64)
}

fn run_check(args: CheckArgs) -> Result<u8, Error> {
    let started = Instant::now();
    let opts = match args.options() {
        Ok(opts) => opts,
        Err(msg) => {
            eprintln!("pwdex: error: {msg}");
            return Ok(EXIT_USAGE);
        }
    };
    let indexes = args
        .index
        .iter()
        .map(Index::open)
        .collect::<Result<Vec<_>, Error>>()?;
    let files = if args.files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.files.clone()
    };
    prefetch_fronts_for_large_batches(&indexes, &files);
    let named = indexes
        .iter()
        .zip(&args.index)
        .map(|(index, path)| (index, path.display().to_string()))
        .collect();
    let mut checker = Checker::new(named, opts)?;
    let stdout = io::stdout();
    // Slices hand over their records in buffers of 100 KiB and more, which
    // a smaller BufWriter passes straight to the kernel instead of copying.
    let mut out = io::BufWriter::with_capacity(64 << 10, stdout.lock());
    let mut reported = 0u64;
    for file in &files {
        let name = if file.as_os_str() == "-" {
            PathBuf::from("<stdin>")
        } else {
            file.clone()
        };
        let mut report = |m: &Malformed| {
            reported += 1;
            if reported <= args.max_errors {
                eprintln!("pwdex: {}:{}: {}", name.display(), m.line, m.reason);
            }
        };
        if file.as_os_str() == "-" {
            checker.check(io::stdin().lock(), &name, &mut out, &mut report)?;
        } else {
            let f = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
            if args.no_mmap {
                checker.check(f, &name, &mut out, &mut report)?;
            } else {
                checker.check_file(&f, &name, &mut out, &mut report)?;
            }
        }
    }
    out.flush().map_err(|e| Error::io("<stdout>", e))?;
    let total = checker.tally().stats;
    if total.malformed > args.max_errors {
        eprintln!(
            "pwdex: ... and {} more malformed lines",
            total.malformed - args.max_errors
        );
    }
    if !args.quiet {
        let described: Vec<IndexDescription> = indexes
            .iter()
            .zip(&args.index)
            .map(|(index, path)| IndexDescription {
                name: path.display().to_string(),
                records: index.len(),
                kind: index.kind(),
            })
            .collect();
        let secs = started.elapsed().as_secs_f64();
        for line in checker
            .tally()
            .summary_lines(&described, args.min_count, secs)
        {
            eprintln!("pwdex: {line}");
        }
    }
    Ok(if args.fail_on_found && total.found > 0 {
        EXIT_FOUND
    } else if total.malformed > 0 {
        EXIT_MALFORMED
    } else {
        EXIT_OK
    })
}

fn run_verify(args: VerifyArgs) -> Result<u8, Error> {
    let started = Instant::now();
    let index = Index::open(&args.index)?;
    index.advise_sequential();
    let bar = (!args.quiet && std::io::IsTerminal::is_terminal(&io::stderr())).then(|| {
        let bar = indicatif::ProgressBar::new(pwdex::verify::progress_total(&index));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:>9} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_message("verifying");
        bar
    });
    let tell = |done: u64| {
        if let Some(b) = &bar {
            b.set_position(done)
        }
    };
    let result = pwdex::verify::verify(&index, bar.as_ref().map(|_| &tell as &dyn Fn(u64)));
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let r = result?;
    if args.quiet {
        return Ok(EXIT_OK);
    }
    let secs = started.elapsed().as_secs_f64();
    let sections: Vec<String> = r
        .sections
        .iter()
        .map(|s| format!("{} {}", s.name, s.bytes))
        .collect();
    let text = format!(
        "pwdex: {} is intact\n\
         \x20 header:    checksum, parameters and layout ({} bytes in the file)\n\
         \x20 sections:  {} section checksums (bytes: {})\n\
         \x20 pages:     {} page checksums, {} page-sums pieces, {} bytes of padding all zero\n\
         \x20 records:   {} {} records strictly ascending, every one in the filter ({} blocks)\n\
         \x20 buckets:   {} bucket sizes and {} bucket samples consistent with the records\n\
         \x20 overflow:  {} overflow counts, one for each escape-coded record\n\
         \x20 build:     {} bytes of JSON\n\
         \x20 time:      {:.3} s ({:.0} MB/s)\n",
        args.index.display(),
        r.file_bytes,
        r.sections.len(),
        sections.join(", "),
        r.data_pages,
        r.page_sum_pieces,
        r.padding_bytes,
        r.records,
        index.kind(),
        r.filter_blocks,
        r.buckets,
        r.samples,
        r.overflow_entries,
        r.build_record_bytes,
        secs,
        r.file_bytes as f64 / 1e6 / secs.max(1e-9)
    );
    io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| Error::io("<stdout>", e))?;
    Ok(EXIT_OK)
}

fn run_info(args: InfoArgs) -> Result<u8, Error> {
    let index = Index::open(&args.index)?;
    let info = IndexInfo::of(&index)?;
    let mut out = io::stdout().lock();
    let text = if args.json {
        serde_json::to_string(&info).expect("info serializes") + "\n"
    } else {
        info.to_text()
    };
    out.write_all(text.as_bytes())
        .map_err(|e| Error::io("<stdout>", e))?;
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::approx_lines;

    #[test]
    fn line_estimates_follow_the_line_length() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, line: &str, n: usize, last_end: bool| {
            let path = dir.path().join(name);
            let mut text = line.repeat(n);
            if !last_end {
                text.pop();
            }
            std::fs::write(&path, text).unwrap();
            path
        };
        // Small files are counted exactly, a last line without its end included.
        let small = write(
            "small.txt",
            "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8\n",
            1000,
            true,
        );
        assert_eq!(approx_lines(&small), Some(1000));
        let unterminated = write("u.txt", "x\n", 10, false);
        assert_eq!(approx_lines(&unterminated), Some(10));
        let empty = write("e.txt", "", 0, true);
        assert_eq!(approx_lines(&empty), Some(0));
        // Large files are scaled from the first MiB: pwdump lines of about
        // 100 bytes give a third of the queries that hash lines would.
        let pwdump = "Administrator:500:aad3b435b51404eeaad3b435b51404ee:31d6cfe0d16ae931b73c59d7e0c089c0:::\n";
        let n = 60_000;
        let big = write("big.txt", pwdump, n, true);
        let estimate = approx_lines(&big).unwrap() as f64;
        assert!((estimate - n as f64).abs() < n as f64 * 0.01, "{estimate}");
        // Unreadable: no estimate.
        assert_eq!(approx_lines(&dir.path().join("missing.txt")), None);
        // Not a regular file: nothing is read from it.
        assert_eq!(approx_lines(dir.path()), None);
        #[cfg(unix)]
        {
            let fifo = dir.path().join("fifo");
            let status = std::process::Command::new("mkfifo").arg(&fifo).status();
            if status.is_ok_and(|s| s.success()) {
                // Opening a FIFO to read would block with no writer: this
                // returns at once only if it is never opened.
                assert_eq!(approx_lines(&fifo), None);
            }
        }
    }
}
