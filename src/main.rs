/*!
The `pwdex` command line: argument parsing and reporting only. Everything it
does is a call into the library.
*/

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};

use pwdex::batch::{CheckStats, Malformed, OutputMode, check_stream};
use pwdex::build::{BuildOptions, build_many};
use pwdex::info::IndexInfo;
use pwdex::{Error, HashKind, Index};

mod serve;

/// Exit status: success.
const EXIT_OK: u8 = 0;
/// Exit status: an error stopped the command.
const EXIT_ERROR: u8 = 1;
/// Exit status: `check` completed but some input lines were malformed.
const EXIT_MALFORMED: u8 = 3;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  error (unreadable file, bad dump line, corrupt index, ...)
  2  invalid command line
  3  check: finished, but some input lines were malformed (reported on stderr)";

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
    /// Check hashes (one per line) against an index; prints found ones as HASH:COUNT.
    #[command(after_help = EXIT_CODES)]
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
    #[arg(long, default_value = "2G", value_parser = parse_size)]
    memory: usize,
    /// Directory for temporary sort runs (default: beside the output).
    #[arg(long)]
    tmp_dir: Option<PathBuf>,
    /// Target false-positive rate of the Bloom-filter front.
    #[arg(long, default_value_t = pwdex::filter::DEFAULT_FPP)]
    fpp: f64,
    /// Leading hash bits implied by the bucket table (default: chosen for the smallest index).
    #[arg(long)]
    bucket_bits: Option<u32>,
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
    let value: usize = digits.parse().map_err(|_| format!("{text:?} is not a size like 512M or 2G"))?;
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
    /// The index to check against.
    #[arg(short, long)]
    index: PathBuf,
    /// Files of hashes, one per line (stdin when none, or `-`).
    files: Vec<PathBuf>,
    /// Print every input hash as HASH:COUNT, with 0 when absent.
    #[arg(long)]
    all: bool,
    /// No summary on stderr (malformed lines are still reported).
    #[arg(short, long)]
    quiet: bool,
    /// How many malformed lines to report individually.
    #[arg(long, default_value_t = 20)]
    max_errors: u64,
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

fn run_build(args: BuildArgs) -> Result<u8, Error> {
    if !(args.fpp > 0.0 && args.fpp < 1.0) {
        return Err(Error::Usage(format!("--fpp must be between 0 and 1, got {}", args.fpp)));
    }
    // Ctrl-C: stop at the next chunk, so temporary files are removed and
    // the previous index stays in place.
    let _ = ctrlc::set_handler(pwdex::build::interrupt);
    let opts = BuildOptions {
        kind: args.kind,
        fpp: args.fpp,
        bucket_bits: args.bucket_bits,
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
            if summary.sorted_externally { ", sorted" } else { "" },
            summary.seconds,
            summary.input_bytes as f64 / 1e6 / summary.seconds.max(1e-9)
        );
    } else if summary.malformed_skipped > 0 {
        eprintln!("pwdex: {} malformed lines skipped", summary.malformed_skipped);
    }
    Ok(EXIT_OK)
}

fn run_check(args: CheckArgs) -> Result<u8, Error> {
    let started = Instant::now();
    let index = Index::open(&args.index)?;
    let mode = if args.all {
        OutputMode::All
    } else {
        OutputMode::Found
    };
    let files = if args.files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.files.clone()
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut total = CheckStats::default();
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
        let stats = if file.as_os_str() == "-" {
            check_stream(
                &index,
                io::stdin().lock(),
                &name,
                &mut out,
                mode,
                &mut report,
            )?
        } else {
            let f = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
            check_stream(&index, f, &name, &mut out, mode, &mut report)?
        };
        add_stats(&mut total, &stats);
    }
    out.flush().map_err(|e| Error::io("<stdout>", e))?;
    if total.malformed > args.max_errors {
        eprintln!(
            "pwdex: ... and {} more malformed lines",
            total.malformed - args.max_errors
        );
    }
    let secs = started.elapsed().as_secs_f64();
    if !args.quiet {
        eprintln!(
            "pwdex: checked {} hashes against {} ({} {} records): {} found, {} malformed, {} blank lines, in {:.3} s ({:.2} M hashes/s)",
            total.checked,
            args.index.display(),
            index.len(),
            index.kind(),
            total.found,
            total.malformed,
            total.blank,
            secs,
            total.checked as f64 / 1e6 / secs.max(1e-9)
        );
    }
    Ok(if total.malformed > 0 {
        EXIT_MALFORMED
    } else {
        EXIT_OK
    })
}

fn add_stats(total: &mut CheckStats, s: &CheckStats) {
    total.lines += s.lines;
    total.checked += s.checked;
    total.found += s.found;
    total.malformed += s.malformed;
    total.blank += s.blank;
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
