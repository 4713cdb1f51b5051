/*!
What `pwdex check` writes: one record per query in text, CSV or JSON Lines,
and the statistics of its summary on stderr.

# Records

| format  | one record                                                                          |
|---------|-------------------------------------------------------------------------------------|
| `text`  | `[ACCOUNT:]HASH:COUNT[:INDEX]` — the account when the input has one, the index with several `-i` |
| `csv`   | header `account,hash,found,count,index,status,history` (+ `plaintext` with `--show-plaintext`) |
| `jsonl` | `{"account":…,"hash":…,"found":…,"count":…,"index":…}` + `status`, `history` for pwdump lines |

`found` means "in an index with a count of at least `--min-count`". In CSV
and JSON the count and index of a hash below that threshold stay visible
(`found` false, `count` the real count); text, which has no `found` field,
prints such a hash with count 0, as if absent. Hashes are upper-case hex.
In text, fields are separated by `:` and an account from CSV input may
itself contain `:`; CSV and JSON quote everything properly.

# Statistics

Distinct and shared hashes need memory per hash, so they are gathered in
two ways (see [`Tally`]):
- a HyperLogLog sketch of every query (4 KiB per slice, about 2% error) gives the
  distinct count of any input, printed with `~`;
- hashes that belong to an account (pwdump lines, `user:HASH`, CSV with
  `--id-column`) go into an exact map of 64-bit fingerprints to account
  counts, which gives exact distinct and shared counts. These inputs are
  small (an AD export with history is a few million lines); the map stops
  growing at [`EXACT_LIMIT`] hashes (at most about 140 MB), after which the counts
  are marked as estimates or lower bounds.
*/

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::str::FromStr;

use crate::batch::{CheckStats, write_decimal};
use crate::hash::{HashKind, Key};
use crate::queries::{InputFormat, Query};

/// How `check` writes its records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    /// `[ACCOUNT:]HASH:COUNT[:INDEX]` lines.
    #[default]
    Text,
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl OutputFormat {
    /// Every name accepted on the command line.
    pub const NAMES: [&'static str; 3] = ["text", "csv", "jsonl"];

    pub const fn name(self) -> &'static str {
        match self {
            OutputFormat::Text => "text",
            OutputFormat::Csv => "csv",
            OutputFormat::Jsonl => "jsonl",
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(OutputFormat::Text),
            "csv" => Ok(OutputFormat::Csv),
            "jsonl" | "json" | "ndjson" => Ok(OutputFormat::Jsonl),
            _ => Err(format!(
                "unknown output format {s:?}: expected one of {}",
                Self::NAMES.join(", ")
            )),
        }
    }
}

/// The verdict on one query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The count in the first index holding the hash, if any holds it.
    pub count: Option<u64>,
    /// Which index (position in `-i` order) `count` comes from.
    pub index: usize,
    /// `count >= min_count`.
    pub found: bool,
}

/// Formats records; shared by all threads (it holds only settings).
#[derive(Clone, Debug)]
pub struct RecordWriter {
    format: OutputFormat,
    kind: HashKind,
    show_plaintext: bool,
    /// Name each text record's index (several `-i`).
    text_index: bool,
    names_text: Vec<Vec<u8>>,
    names_csv: Vec<Vec<u8>>,
    names_json: Vec<Vec<u8>>,
}

impl RecordWriter {
    /// A writer for hashes of `kind`; `index_names` in `-i` order.
    pub fn new(
        format: OutputFormat,
        kind: HashKind,
        index_names: &[String],
        show_plaintext: bool,
    ) -> RecordWriter {
        RecordWriter {
            format,
            kind,
            show_plaintext,
            text_index: index_names.len() > 1,
            names_text: index_names.iter().map(|n| n.as_bytes().to_vec()).collect(),
            names_csv: index_names
                .iter()
                .map(|n| {
                    let mut v = Vec::new();
                    csv_field(&mut v, n.as_bytes());
                    v
                })
                .collect(),
            names_json: index_names
                .iter()
                .map(|n| {
                    let mut v = Vec::new();
                    json_string(&mut v, n.as_bytes());
                    v
                })
                .collect(),
        }
    }

    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// The header row (CSV only; empty otherwise).
    pub fn header(&self) -> Vec<u8> {
        match self.format {
            OutputFormat::Csv if self.show_plaintext => {
                b"account,hash,found,count,index,status,history,plaintext\n".to_vec()
            }
            OutputFormat::Csv => b"account,hash,found,count,index,status,history\n".to_vec(),
            _ => Vec::new(),
        }
    }

    /// Appends the record of `q`.
    #[inline]
    pub fn write(&self, out: &mut Vec<u8>, q: &Query<'_>, v: Verdict) {
        match self.format {
            OutputFormat::Text => self.write_text(out, q, v),
            OutputFormat::Csv => self.write_csv(out, q, v),
            OutputFormat::Jsonl => self.write_json(out, q, v),
        }
    }

    #[inline]
    fn write_hex(&self, out: &mut Vec<u8>, key: &Key) {
        let mut buf = [0u8; 40];
        out.extend_from_slice(key_hex(self.kind, key, &mut buf));
    }

    /// Appends the record of `q` in this format (whatever the writer's own format).
    #[inline]
    pub fn write_text(&self, out: &mut Vec<u8>, q: &Query<'_>, v: Verdict) {
        if let Some(account) = q.account {
            out.extend_from_slice(account);
            out.push(b':');
        } else if self.show_plaintext
            && let Some(p) = q.plaintext
        {
            out.extend_from_slice(p);
            out.push(b':');
        }
        // `HASH:COUNT` assembled on the stack and appended at once: the
        // common record, so it gets the fewest capacity checks.
        let mut line = [0u8; 40 + 1 + 20 + 1];
        let hex_len = key_hex(self.kind, &q.key, (&mut line[..40]).try_into().unwrap()).len();
        line[hex_len] = b':';
        let count = if v.found { v.count.unwrap_or(0) } else { 0 };
        let end = hex_len + 1 + decimal_into(count, &mut line[hex_len + 1..hex_len + 21]);
        if !self.text_index {
            line[end] = b'\n';
            out.extend_from_slice(&line[..end + 1]);
            return;
        }
        out.extend_from_slice(&line[..end]);
        out.push(b':');
        if v.found {
            out.extend_from_slice(&self.names_text[v.index]);
        }
        out.push(b'\n');
    }

    /// Appends the record of `q` in this format (whatever the writer's own format).
    #[inline]
    pub fn write_csv(&self, out: &mut Vec<u8>, q: &Query<'_>, v: Verdict) {
        if let Some(a) = q.account {
            csv_field(out, a);
        }
        out.push(b',');
        self.write_hex(out, &q.key);
        out.extend_from_slice(if v.found { b",true," } else { b",false," });
        write_decimal(out, v.count.unwrap_or(0));
        out.push(b',');
        if v.count.is_some() {
            out.extend_from_slice(&self.names_csv[v.index]);
        }
        out.push(b',');
        if let Some(p) = q.pwdump {
            if let Some(s) = p.status {
                out.extend_from_slice(s.name().as_bytes());
            }
            out.extend_from_slice(if p.history { b",true" } else { b",false" });
        } else {
            out.push(b',');
        }
        if self.show_plaintext {
            out.push(b',');
            if let Some(p) = q.plaintext {
                csv_field(out, p);
            }
        }
        out.push(b'\n');
    }

    /// Appends the record of `q` in this format (whatever the writer's own format).
    #[inline]
    pub fn write_json(&self, out: &mut Vec<u8>, q: &Query<'_>, v: Verdict) {
        out.extend_from_slice(b"{\"account\":");
        match q.account {
            Some(a) => json_string(out, a),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"hash\":\"");
        self.write_hex(out, &q.key);
        out.extend_from_slice(if v.found {
            b"\",\"found\":true,\"count\":"
        } else {
            b"\",\"found\":false,\"count\":"
        });
        write_decimal(out, v.count.unwrap_or(0));
        out.extend_from_slice(b",\"index\":");
        if v.count.is_some() {
            out.extend_from_slice(&self.names_json[v.index]);
        } else {
            out.extend_from_slice(b"null");
        }
        if let Some(p) = q.pwdump {
            out.extend_from_slice(b",\"status\":");
            match p.status {
                Some(s) => {
                    out.push(b'"');
                    out.extend_from_slice(s.name().as_bytes());
                    out.push(b'"');
                }
                None => out.extend_from_slice(b"null"),
            }
            out.extend_from_slice(if p.history {
                b",\"history\":true"
            } else {
                b",\"history\":false"
            });
        }
        if self.show_plaintext
            && let Some(p) = q.plaintext
        {
            out.extend_from_slice(b",\"plaintext\":");
            json_string(out, p);
        }
        out.extend_from_slice(b"}\n");
    }
}

/// Eight hex digits (upper case) of `x`, first digit in the first byte.
///
/// SWAR: spreads the nibbles to one per byte, then adds `'0'`, and 7 more
/// for the nibbles from 10 up. About 5x fewer instructions than a table
/// lookup per byte (measured with cachegrind on 1M `check --all` records).
#[inline(always)]
fn hex8_upper(x: u32) -> [u8; 8] {
    let x = x as u64;
    let mut n = ((x & 0xFFFF_0000) << 16) | (x & 0xFFFF);
    n = ((n & 0x0000_FF00_0000_FF00) << 8) | (n & 0x0000_00FF_0000_00FF);
    n = ((n & 0x00F0_00F0_00F0_00F0) << 4) | (n & 0x000F_000F_000F_000F);
    let letters = ((n + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    (n + 0x3030_3030_3030_3030 + letters * 7).to_be_bytes()
}

/// The upper-case hex of a `kind` key, written into `buf`.
#[inline(always)]
pub fn key_hex<'b>(kind: HashKind, key: &Key, buf: &'b mut [u8; 40]) -> &'b [u8] {
    let (hi, mid, lo) = key.limbs();
    #[cfg(target_arch = "x86_64")]
    match kind {
        // 16 bytes at once: SHA-1's first 16 and its last 4, NTLM's 16.
        HashKind::Sha1 => {
            let mut first = [0u8; 16];
            first[..4].copy_from_slice(&(hi as u32).to_be_bytes());
            first[4..12].copy_from_slice(&mid.to_be_bytes());
            first[12..].copy_from_slice(&((lo >> 32) as u32).to_be_bytes());
            buf[..32].copy_from_slice(&hex32_upper(first));
            buf[32..].copy_from_slice(&hex8_upper(lo as u32));
        }
        HashKind::Ntlm => {
            let bytes = (((mid as u128) << 64) | lo as u128).to_be_bytes();
            buf[..32].copy_from_slice(&hex32_upper(bytes));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let words = [
            hi as u32,
            (mid >> 32) as u32,
            mid as u32,
            (lo >> 32) as u32,
            lo as u32,
        ];
        let words = match kind {
            HashKind::Sha1 => &words[..],
            HashKind::Ntlm => &words[1..],
        };
        for (chunk, &w) in buf.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&hex8_upper(w));
        }
    }
    &buf[..kind.hex_len()]
}

/// The 32 upper-case hex digits of 16 bytes, with SSE2 (every x86-64 CPU
/// has it): nibbles split and interleaved, then `'0'` added, and 7 more
/// for the nibbles from 10 up. A hand-written hot path: a found record's
/// hex took 120 instructions with [`hex8_upper`] five times (callgrind;
/// the commit message has the figures).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn hex32_upper(bytes: [u8; 16]) -> [u8; 32] {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi8, _mm_and_si128, _mm_cmpgt_epi8, _mm_set1_epi8, _mm_srli_epi16,
        _mm_unpackhi_epi8, _mm_unpacklo_epi8,
    };
    // SAFETY: `[u8; 16]` and `__m128i` have the same size and every bit
    // pattern is valid for both, as for `[__m128i; 2]` and `[u8; 32]`; the
    // SSE2 intrinsics are part of the x86-64 baseline, so always available.
    unsafe {
        let x: __m128i = std::mem::transmute::<[u8; 16], __m128i>(bytes);
        let low_nibbles = _mm_set1_epi8(0x0F);
        let low = _mm_and_si128(x, low_nibbles);
        let high = _mm_and_si128(_mm_srli_epi16::<4>(x), low_nibbles);
        let digit = |n: __m128i| {
            let letter = _mm_cmpgt_epi8(n, _mm_set1_epi8(9));
            _mm_add_epi8(
                _mm_add_epi8(n, _mm_set1_epi8(b'0' as i8)),
                _mm_and_si128(letter, _mm_set1_epi8(7)),
            )
        };
        std::mem::transmute::<[__m128i; 2], [u8; 32]>([
            digit(_mm_unpacklo_epi8(high, low)),
            digit(_mm_unpackhi_epi8(high, low)),
        ])
    }
}

/// Writes the decimal digits of `v` at the start of `out` (20 bytes hold any
/// u64) and returns how many. The one decimal formatter of the crate.
#[inline]
pub(crate) fn decimal_into(mut v: u64, out: &mut [u8]) -> usize {
    let len = v.checked_ilog10().unwrap_or(0) as usize + 1;
    for d in out[..len].iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    len
}

/// Appends a CSV field, quoted when it holds a comma, quote, line break or
/// surrounding blanks (RFC 4180; quotes doubled).
pub fn csv_field(out: &mut Vec<u8>, field: &[u8]) {
    let needs_quotes = field
        .iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
        || field.first().is_some_and(u8::is_ascii_whitespace)
        || field.last().is_some_and(u8::is_ascii_whitespace);
    if !needs_quotes {
        out.extend_from_slice(field);
        return;
    }
    out.push(b'"');
    for &b in field {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Appends a JSON string; bytes that are not UTF-8 become U+FFFD.
pub fn json_string(out: &mut Vec<u8>, text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    serde_json::to_writer(&mut *out, text.as_ref()).expect("writing to a Vec cannot fail");
}

// ---------------------------------------------------------- statistics ----

/// Exact distinct-hash tracking stops growing at this many hashes.
pub const EXACT_LIMIT: usize = 1 << 22;

/// Registers of the HyperLogLog sketch: 2^12, standard error 1.04/64 = 1.6%.
/// 4 KiB, so that it mostly stays in L1 beside the lookups: per 1M queries
/// it adds 0.3M L1 misses (2^14 registers: 0.8M), measured with cachegrind.
const SKETCH_BITS: u32 = 12;

/// A well-mixed 64-bit fingerprint of a key. Keys from user input need not
/// be random (e.g. `000…001`), and a single multiply leaves such sequences
/// too regular for the sketch (3% off in the unit test), hence the full
/// splitmix64 finalizer.
#[inline]
pub fn fingerprint(key: &Key) -> u64 {
    let (hi, mid, lo) = key.limbs();
    let mut z = lo ^ mid.rotate_left(21) ^ hi.rotate_left(43);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A HyperLogLog sketch of distinct fingerprints.
#[derive(Clone)]
pub struct DistinctSketch {
    /// An array, not a slice, so that indexing by a 14-bit slot needs no bounds check.
    registers: Box<[u8; 1 << SKETCH_BITS]>,
}

impl Default for DistinctSketch {
    fn default() -> Self {
        DistinctSketch {
            registers: vec![0u8; 1 << SKETCH_BITS]
                .into_boxed_slice()
                .try_into()
                .expect("the length is right"),
        }
    }
}

impl DistinctSketch {
    #[inline]
    pub fn insert(&mut self, fp: u64) {
        let slot = (fp >> (64 - SKETCH_BITS)) as usize;
        let rank = ((fp << SKETCH_BITS) | (1 << (SKETCH_BITS - 1))).leading_zeros() as u8 + 1;
        let r = &mut self.registers[slot];
        if rank > *r {
            *r = rank;
        }
    }

    pub fn merge(&mut self, other: &DistinctSketch) {
        for (a, b) in self.registers.iter_mut().zip(other.registers.iter()) {
            *a = (*a).max(*b);
        }
    }

    /// The estimated number of distinct fingerprints inserted.
    pub fn estimate(&self) -> u64 {
        let m = self.registers.len() as f64;
        let mut sum = 0.0;
        let mut zeros = 0usize;
        for &r in self.registers.iter() {
            sum += 2f64.powi(-(r as i32));
            zeros += (r == 0) as usize;
        }
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m / sum;
        let est = if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        est.round() as u64
    }
}

/// Identity hashing for fingerprints, which are already well mixed.
#[derive(Default)]
pub struct FingerprintHasher(u64);

impl Hasher for FingerprintHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Exact per-hash account counts, for inputs that carry accounts.
#[derive(Default)]
pub struct HashSharing {
    /// fingerprint → current (non-history) accounts with that hash.
    accounts: HashMap<u64, u32, BuildHasherDefault<FingerprintHasher>>,
    /// Account-bearing queries seen (history entries included).
    pub tracked: u64,
    /// Set once the map reached [`EXACT_LIMIT`] and stopped growing.
    pub overflowed: bool,
}

impl HashSharing {
    /// Notes one account-bearing query; `current` is false for history entries.
    pub fn add(&mut self, fp: u64, current: bool) {
        self.tracked += 1;
        let n = current as u32;
        if let Some(c) = self.accounts.get_mut(&fp) {
            *c += n;
        } else if self.accounts.len() < EXACT_LIMIT {
            self.accounts.insert(fp, n);
        } else {
            self.overflowed = true;
        }
    }

    /// Distinct hashes seen.
    pub fn distinct(&self) -> u64 {
        self.accounts.len() as u64
    }

    /// Hashes held by two or more current accounts, and how many accounts hold them.
    pub fn shared(&self) -> (u64, u64) {
        self.accounts
            .values()
            .filter(|&&c| c >= 2)
            .fold((0, 0), |(h, a), &c| (h + 1, a + c as u64))
    }
}

/// Everything the summary reports, gathered across inputs.
#[derive(Default)]
pub struct Tally {
    pub stats: CheckStats,
    /// Found queries per index, in `-i` order.
    pub found_by_index: Vec<u64>,
    pub sketch: DistinctSketch,
    pub sharing: HashSharing,
    /// Each input's name, format, and whether the format was detected.
    pub inputs: Vec<(String, InputFormat, bool)>,
}

/// One index as the summary describes it.
pub struct IndexDescription {
    pub name: String,
    pub records: u64,
    pub kind: HashKind,
}

impl Tally {
    /// The summary, as lines without the `pwdex: ` prefix.
    pub fn summary_lines(
        &self,
        indexes: &[IndexDescription],
        min_count: u64,
        seconds: f64,
    ) -> Vec<String> {
        let s = &self.stats;
        let mut lines = Vec::new();

        // Which formats were read.
        let mut formats: Vec<String> = Vec::new();
        for (_, format, detected) in &self.inputs {
            let f = if *detected {
                format!("{format} (detected)")
            } else {
                format.to_string()
            };
            if !formats.contains(&f) {
                formats.push(f);
            }
        }
        let files = self.inputs.len();
        lines.push(format!(
            "input: {} from {} {}, {} lines",
            if formats.is_empty() {
                "nothing".to_string()
            } else {
                formats.join(", ")
            },
            files,
            if files == 1 { "input" } else { "inputs" },
            s.lines
        ));

        // The line issue 3 specified, extended.
        let against = indexes
            .iter()
            .map(|i| format!("{} ({} {} records)", i.name, i.records, i.kind))
            .collect::<Vec<_>>()
            .join(", ");
        let threshold = if min_count > 1 {
            format!(
                " (count >= {min_count}; {} more below it)",
                s.below_min_count
            )
        } else {
            String::new()
        };
        lines.push(format!(
            "checked {} hashes against {}: {} found{}, {} malformed, {} blank lines, {} skipped lines, {} not found, in {:.3} s ({:.2} M hashes/s)",
            s.checked,
            against,
            s.found,
            threshold,
            s.malformed,
            s.blank,
            s.skipped,
            s.checked - s.found,
            seconds,
            s.checked as f64 / 1e6 / seconds.max(1e-9)
        ));
        if indexes.len() > 1 {
            let per = indexes
                .iter()
                .zip(&self.found_by_index)
                .map(|(i, n)| format!("{n} in {}", i.name))
                .collect::<Vec<_>>()
                .join(", ");
            lines.push(format!("found (first index holding the hash): {per}"));
        }

        // Accounts and hashes.
        let exact_distinct = s.checked > 0 && self.sharing.tracked == s.checked;
        let distinct = if exact_distinct && !self.sharing.overflowed {
            format!("{} distinct hashes", self.sharing.distinct())
        } else {
            format!("~{} distinct hashes (estimate)", self.sketch.estimate())
        };
        if s.accounts + s.history > 0 {
            let (shared, holders) = self.sharing.shared();
            let bound = if self.sharing.overflowed {
                "at least "
            } else {
                ""
            };
            let history = if s.history > 0 {
                let entries = if s.history == 1 { "entry" } else { "entries" };
                format!(
                    " (+ {} history {entries}, {} found)",
                    s.history, s.history_found
                )
            } else {
                String::new()
            };
            lines.push(format!(
                "accounts: {}{}, {} found ({:.1}%); {}, {}{} shared by 2+ accounts ({}{} accounts)",
                s.accounts,
                history,
                s.accounts_found,
                100.0 * s.accounts_found as f64 / (s.accounts.max(1)) as f64,
                distinct,
                bound,
                shared,
                bound,
                holders
            ));
        } else if s.checked > 0 {
            lines.push(distinct);
        }
        if s.checked == 0 && s.malformed > 0 && self.inputs.iter().any(|i| i.1 == InputFormat::Hash)
        {
            lines.push(
                "no line was a hash; for plaintext passwords use --input-format plain, for CSV --input-format csv"
                    .into(),
            );
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queries::{AccountStatus, PwdumpInfo};

    fn key() -> Key {
        HashKind::Ntlm.hash_plaintext(b"password")
    }

    #[test]
    fn records_in_each_format() {
        let names = vec!["nt.pwdex".to_string(), "in \"house\".pwdex".to_string()];
        let q = Query {
            account: Some(b"CORP\\Doe, \"J\""),
            pwdump: Some(PwdumpInfo {
                status: Some(AccountStatus::Disabled),
                history: false,
            }),
            ..Query::hash(key())
        };
        let found = Verdict {
            count: Some(7),
            index: 1,
            found: true,
        };
        let below = Verdict {
            count: Some(7),
            index: 0,
            found: false,
        };
        let render = |format, v| {
            let mut out = Vec::new();
            RecordWriter::new(format, HashKind::Ntlm, &names, false).write(&mut out, &q, v);
            String::from_utf8(out).unwrap()
        };
        let h = "8846F7EAEE8FB117AD06BDD830B7586C";
        assert_eq!(
            render(OutputFormat::Text, found),
            format!("CORP\\Doe, \"J\":{h}:7:in \"house\".pwdex\n")
        );
        assert_eq!(
            render(OutputFormat::Text, below),
            format!("CORP\\Doe, \"J\":{h}:0:\n")
        );
        assert_eq!(
            render(OutputFormat::Csv, found),
            format!(
                "\"CORP\\Doe, \"\"J\"\"\",{h},true,7,\"in \"\"house\"\".pwdex\",disabled,false\n"
            )
        );
        assert_eq!(
            render(OutputFormat::Csv, below),
            format!("\"CORP\\Doe, \"\"J\"\"\",{h},false,7,nt.pwdex,disabled,false\n")
        );
        let json: serde_json::Value =
            serde_json::from_str(&render(OutputFormat::Jsonl, found)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"account": "CORP\\Doe, \"J\"", "hash": h, "found": true,
                "count": 7, "index": "in \"house\".pwdex", "status": "disabled", "history": false})
        );
        let bare = Query::hash(key());
        let none = Verdict {
            count: None,
            index: 0,
            found: false,
        };
        let mut out = Vec::new();
        let w = RecordWriter::new(OutputFormat::Jsonl, HashKind::Ntlm, &names[..1], false);
        w.write(&mut out, &bare, none);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "{{\"account\":null,\"hash\":\"{h}\",\"found\":false,\"count\":0,\"index\":null}}\n"
            )
        );
        let mut out = Vec::new();
        let w = RecordWriter::new(OutputFormat::Csv, HashKind::Ntlm, &names[..1], false);
        w.write(&mut out, &bare, none);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(",{h},false,0,,,\n")
        );
    }

    #[test]
    fn hex_and_decimal_match_the_reference_encoders() {
        let mut rng = 0x1234_5678_9ABC_DEF0u64;
        let mut next = || {
            rng = rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let z = (rng ^ (rng >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z ^ (z >> 27)
        };
        let edge = [0u64, u64::MAX, 0x0123_4567_89AB_CDEF, 0xA0A0_9F9F_0909_FAFA];
        for round in 0..2000 {
            let (a, b, c) = if round < edge.len() {
                (edge[round], edge[round], edge[3 - round])
            } else {
                (next(), next(), next())
            };
            for kind in [HashKind::Sha1, HashKind::Ntlm] {
                let hi = if kind == HashKind::Sha1 { a >> 32 } else { 0 };
                let key = Key::from_limbs(hi, b, c);
                let mut buf = [0u8; 40];
                assert_eq!(key_hex(kind, &key, &mut buf), key.to_hex(kind).as_bytes());
            }
            let mut out = [0u8; 20];
            let n = decimal_into(a, &mut out);
            assert_eq!(&out[..n], a.to_string().as_bytes());
        }
    }

    #[test]
    fn plaintext_only_when_asked() {
        let names = vec!["i".to_string()];
        let q = Query {
            plaintext: Some(b"pass,word"),
            ..Query::hash(key())
        };
        let v = Verdict {
            count: Some(3),
            index: 0,
            found: true,
        };
        for format in [OutputFormat::Text, OutputFormat::Csv, OutputFormat::Jsonl] {
            let mut hidden = Vec::new();
            RecordWriter::new(format, HashKind::Ntlm, &names, false).write(&mut hidden, &q, v);
            assert!(!String::from_utf8_lossy(&hidden).contains("pass"));
            let mut shown = Vec::new();
            RecordWriter::new(format, HashKind::Ntlm, &names, true).write(&mut shown, &q, v);
            assert!(String::from_utf8_lossy(&shown).contains("pass,word"));
        }
    }

    #[test]
    fn sketch_estimates_within_a_few_percent() {
        for n in [0u64, 1, 100, 10_000, 300_000] {
            let mut s = DistinctSketch::default();
            for i in 0..n {
                let k = Key::from_limbs(0, i, i * 3);
                s.insert(fingerprint(&k));
                s.insert(fingerprint(&k)); // duplicates do not count
            }
            let e = s.estimate() as f64;
            assert!((e - n as f64).abs() <= 0.05 * n as f64 + 1.0, "{n}: {e}");
        }
    }

    #[test]
    fn sharing_counts_current_accounts_only() {
        let mut s = HashSharing::default();
        s.add(1, true);
        s.add(1, true);
        s.add(1, false);
        s.add(2, true);
        s.add(3, false);
        s.add(3, true);
        assert_eq!(s.distinct(), 3);
        assert_eq!(s.shared(), (1, 2));
    }
}
