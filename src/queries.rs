/*!
The input formats of `pwdex check`: what one query line (or CSV record)
means, and how the format of an input is detected.

| format   | a query is                                                        | hash checked                    |
|----------|-------------------------------------------------------------------|---------------------------------|
| `hash`   | `HASH`, `HASH:anything`, `user:HASH` or `user,HASH`               | the hash, of the index's kind   |
| `pwdump` | `[DOMAIN\]user:RID:LMHASH:NTHASH:::` (secretsdump, pwdump, …)    | the NT hash (NTLM indexes only) |
| `plain`  | one plaintext password per line                                   | the password, hashed locally    |
| `csv`    | one record under a header row; `--column` / `--plaintext-column` | that column                     |

Parsers work on one line without its `\n`; a trailing `\r` is accepted
everywhere. They borrow the account (and plaintext) from the line, so the
success path does not allocate, and return a reason string on failure, which
the batch engine wraps with the file name and line number.

# What is never printed

A plaintext password (plain input, a CSV plaintext column) appears in no
output and no message unless the user asks for it (`--show-plaintext`).
secretsdump output also holds secrets that are not account hashes (cleartext
`DOMAIN\user:password` lines, LSA secrets); those lines are skipped and never
printed, and a malformed pwdump line is described by its first field only.

# Encodings

Inputs are UTF-8 (ASCII for hashes). A UTF-8 byte-order mark is dropped,
and UTF-16 with a byte-order mark (what Windows PowerShell's `>` writes) is
decoded to UTF-8 first: see [`decode_input`].

# Auto-detection

[`detect`] looks at the first non-blank lines of an input (up to
[`DETECT_LINES`]): `pwdump` when account lines (`user:RID:LM:NT:::`) are
there and outnumber hash lines, or when only secretsdump's banner and status
lines are; `hash` otherwise. Plaintext is never detected, since any line is
a valid password; CSV only when asked for.
*/

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::hash::{HashKind, Key, is_hex, parse_hex_key};
use crate::parse::{strip_cr, truncate_for_message};

/// Non-blank lines [`detect`] looks at.
pub const DETECT_LINES: usize = 1000;

/// What the lines (or records) of a `check` input hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum InputFormat {
    /// Detect `hash` or `pwdump` from the first lines.
    #[default]
    Auto,
    /// One hash per line, or `HASH:anything`, `user:HASH`, `user,HASH`.
    Hash,
    /// pwdump / secretsdump output: `[DOMAIN\]user:RID:LM:NT:::`.
    Pwdump,
    /// One plaintext password per line.
    Plain,
    /// CSV with a header row.
    Csv,
}

impl InputFormat {
    /// Every name accepted on the command line.
    pub const NAMES: [&'static str; 5] = ["auto", "hash", "pwdump", "plain", "csv"];

    /// The name used on the command line and in the summary.
    pub const fn name(self) -> &'static str {
        match self {
            InputFormat::Auto => "auto",
            InputFormat::Hash => "hash",
            InputFormat::Pwdump => "pwdump",
            InputFormat::Plain => "plain",
            InputFormat::Csv => "csv",
        }
    }

    /// The hash kind every index must hold for this input, if it imposes one.
    pub const fn required_kind(self) -> Option<HashKind> {
        match self {
            InputFormat::Pwdump => Some(HashKind::Ntlm),
            _ => None,
        }
    }
}

impl fmt::Display for InputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for InputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(InputFormat::Auto),
            "hash" | "hashes" => Ok(InputFormat::Hash),
            "pwdump" | "secretsdump" => Ok(InputFormat::Pwdump),
            "plain" | "plaintext" => Ok(InputFormat::Plain),
            "csv" => Ok(InputFormat::Csv),
            _ => Err(format!(
                "unknown input format {s:?}: expected one of {}",
                Self::NAMES.join(", ")
            )),
        }
    }
}

/// The `(status=…)` suffix of a secretsdump account line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountStatus {
    Enabled,
    Disabled,
}

impl AccountStatus {
    pub const fn name(self) -> &'static str {
        match self {
            AccountStatus::Enabled => "enabled",
            AccountStatus::Disabled => "disabled",
        }
    }
}

/// What a pwdump account line says beyond the account and the hash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PwdumpInfo {
    /// From ` (status=Enabled|Disabled)`; `None` when the line has no status.
    pub status: Option<AccountStatus>,
    /// A password history entry (`user_history0`, …), not a current password.
    pub history: bool,
}

/// One query: the hash to look up and what the input said about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query<'a> {
    pub key: Key,
    /// The account, as written in the input (domain included).
    pub account: Option<&'a [u8]>,
    /// The plaintext the key was computed from (plain input, CSV plaintext column).
    pub plaintext: Option<&'a [u8]>,
    /// Present for pwdump account lines.
    pub pwdump: Option<PwdumpInfo>,
}

impl<'a> Query<'a> {
    /// A bare hash.
    #[inline]
    pub fn hash(key: Key) -> Query<'a> {
        Query {
            key,
            account: None,
            plaintext: None,
            pwdump: None,
        }
    }

    /// True for a pwdump password-history entry.
    #[inline]
    pub fn is_history(&self) -> bool {
        self.pwdump.is_some_and(|p| p.history)
    }
}

/// Why a line that is not a query was passed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipKind {
    /// The `Impacket v… - Copyright …` banner.
    Banner,
    /// `[*]`, `[-]`, `[+]`, `[!]` status lines.
    Status,
    /// `user:aes256-cts-hmac-sha1-96:<hex>` and other Kerberos keys.
    KerberosKey,
    /// LSA / DPAPI secrets, including the machine account's `NAME$:LM:NT:::`.
    Secret,
    /// A hex dump line (`0000   A1 B2 …`).
    HexDump,
    /// A cleartext password line (`DOMAIN\user:password`, `user:CLEARTEXT:…`).
    Cleartext,
    /// Cached domain logons (`$DCC2$…`, MSCache v1).
    CachedLogon,
    /// An account line whose NT hash field says there is no password.
    NoNtHash,
}

/// The outcome of reading one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    Query(Query<'a>),
    /// A blank line (only whitespace; for plain input, an empty line).
    Blank,
    /// A line recognised as not holding a query.
    Skipped(SkipKind),
}

/// A parser of one line format. Clones carry the parser's state (pwdump
/// tracks which secretsdump section it is in), so a block can be split into
/// slices that are parsed in parallel from the right starting state.
pub trait LineParser: Clone + Send + Sync {
    /// True when a line holding exactly one hash of the index kind parses
    /// as that hash, so the engine may take such lines without calling
    /// [`LineParser::parse`].
    const BARE_HASH_LINES: bool = false;

    /// Parses one line (without its `\n`).
    fn parse<'a>(&mut self, line: &'a [u8]) -> Result<Parsed<'a>, String>;

    /// The state after the lines of `text`, from `self`'s state.
    fn after(&self, text: &[u8]) -> Self {
        let _ = text;
        self.clone()
    }
}

// ---------------------------------------------------------------- hash ----

/// Parser of `hash` input lines for an index of `kind`.
#[derive(Clone, Copy, Debug)]
pub struct HashLines {
    pub kind: HashKind,
}

impl LineParser for HashLines {
    const BARE_HASH_LINES: bool = true;

    #[inline]
    fn parse<'a>(&mut self, line: &'a [u8]) -> Result<Parsed<'a>, String> {
        parse_hash_line(self.kind, line)
    }
}

/// Parses a `hash` input line: a bare hash (surrounding blanks allowed),
/// `HASH:anything`, or `user:HASH` / `user,HASH` when exactly one of the two
/// fields is a hash of `kind`.
#[inline]
pub fn parse_hash_line(kind: HashKind, line: &[u8]) -> Result<Parsed<'_>, String> {
    // Fast path: exactly the hash (optionally with CR).
    let line = strip_cr(line);
    if line.len() == kind.hex_len()
        && let Some(key) = parse_hex_key(kind, line)
    {
        return Ok(Parsed::Query(Query::hash(key)));
    }
    parse_hash_line_slow(kind, line)
}

fn parse_hash_line_slow(kind: HashKind, line: &[u8]) -> Result<Parsed<'_>, String> {
    let text = line.trim_ascii();
    if text.is_empty() {
        return Ok(Parsed::Blank);
    }
    match hash_line_query(kind, text) {
        Some(q) => Ok(Parsed::Query(q)),
        None => Err(describe_bad_hash_line(kind, text)),
    }
}

/// The query of a trimmed, non-blank `hash` line, when it holds exactly one
/// hash of `kind` in one of the accepted forms.
fn hash_line_query(kind: HashKind, text: &[u8]) -> Option<Query<'_>> {
    if let Some(key) = parse_hex_key(kind, text) {
        return Some(Query::hash(key));
    }
    for sep in [b':', b','] {
        let Some((first, second)) = split_pair(text, sep) else {
            continue;
        };
        let second_key = if memchr::memchr(sep, second).is_none() {
            parse_hex_key(kind, second)
        } else {
            None
        };
        match (parse_hex_key(kind, first), second_key) {
            // Two hashes: ambiguous.
            (Some(_), Some(_)) => return None,
            // `HASH:anything`, e.g. a dump line `HASH:COUNT`.
            (Some(key), None) => return Some(Query::hash(key)),
            (None, Some(key)) if !first.is_empty() => {
                return Some(Query {
                    account: Some(first),
                    ..Query::hash(key)
                });
            }
            _ => {}
        }
    }
    None
}

/// Splits at the first `sep`, trimming both sides.
fn split_pair(text: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let at = memchr::memchr(sep, text)?;
    Some((text[..at].trim_ascii(), text[at + 1..].trim_ascii()))
}

#[cold]
fn describe_bad_hash_line(kind: HashKind, text: &[u8]) -> String {
    if looks_like_pwdump_account(text) {
        return "looks like a pwdump account line; use --input-format pwdump".into();
    }
    for sep in [b':', b','] {
        if let Some((first, second)) = split_pair(text, sep)
            && parse_hex_key(kind, first).is_some()
            && parse_hex_key(kind, second).is_some()
        {
            return format!("both fields are {kind} hashes; expected one hash and one account");
        }
    }
    // A hash of the other kind, bare or in one of the two-field forms.
    let fields: Vec<&[u8]> = text
        .split(|&b| b == b':' || b == b',')
        .map(|f| f.trim_ascii())
        .collect();
    let n_fields = fields.len();
    for f in fields {
        if is_hex(f)
            && let Some(other) = HashKind::from_hex_len(f.len())
            && other != kind
        {
            let what = if n_fields == 1 { "" } else { " in the line" };
            return format!(
                "{other} hash ({} hex digits){what} but the index holds {kind} hashes",
                f.len()
            );
        }
    }
    if n_fields == 1 {
        if !is_hex(text) {
            return format!("{:?} is not a hex hash", truncate_for_message(text));
        }
        return format!(
            "hash has {} hex digits, expected {} for {kind}",
            text.len(),
            kind.hex_len()
        );
    }
    // Only the first field is quoted: the rest may be a password (`user:password`).
    let first = text
        .iter()
        .position(|&b| b == b':' || b == b',')
        .map_or(text, |at| &text[..=at]);
    format!(
        "line starting {:?} holds no {kind} hash ({} hex digits) as HASH, HASH:anything, \
         user:HASH or user,HASH (rest not shown)",
        truncate_for_message(first),
        kind.hex_len()
    )
}

// -------------------------------------------------------------- pwdump ----

/// The part of a secretsdump output a line is in, as far as it matters:
/// inside the LSA secrets and cleartext sections, lines that match no known
/// shape (a bare secret name before its hex dump, a password) are secrets
/// and are skipped; elsewhere they are malformed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DumpSection {
    #[default]
    Hashes,
    Secrets,
    Cleartext,
}

/// Parser of pwdump / secretsdump lines (NT hashes).
#[derive(Clone, Copy, Debug, Default)]
pub struct PwdumpLines {
    pub section: DumpSection,
}

impl LineParser for PwdumpLines {
    fn parse<'a>(&mut self, line: &'a [u8]) -> Result<Parsed<'a>, String> {
        parse_pwdump_line(line, &mut self.section)
    }

    fn after(&self, text: &[u8]) -> Self {
        let mut section = self.section;
        // Only status lines change the section; find them without parsing the rest.
        for line in text.split(|&b| b == b'\n') {
            let t = line.trim_ascii();
            if t.first() == Some(&b'[') && status_line(t) {
                section = section_after_status(t, section);
            }
        }
        PwdumpLines { section }
    }
}

/// True for impacket's log lines: `[*] …`, `[-] …`, `[+] …`, `[!] …`.
fn status_line(t: &[u8]) -> bool {
    t.len() >= 3 && t[0] == b'[' && t[2] == b']' && matches!(t[1], b'*' | b'-' | b'+' | b'!')
}

fn section_after_status(t: &[u8], current: DumpSection) -> DumpSection {
    let has = |needle: &[u8]| memchr::memmem::find(t, needle).is_some();
    if has(b"Dumping LSA Secrets") {
        DumpSection::Secrets
    } else if has(b"ClearText password") || has(b"Cleartext password") {
        DumpSection::Cleartext
    } else if has(b"Dumping ")
        || has(b"Kerberos keys")
        || has(b"Reading and decrypting hashes")
        || has(b"Cleaning up")
    {
        DumpSection::Hashes
    } else {
        current
    }
}

/// Splits on `:` into at most `N` fields; returns the fields and how many.
fn split_fields<const N: usize>(line: &[u8]) -> ([&[u8]; N], usize) {
    let mut out: [&[u8]; N] = [&[]; N];
    let mut n = 0;
    for f in line.splitn(N, |&b| b == b':') {
        out[n] = f;
        n += 1;
    }
    (out, n)
}

fn is_rid(f: &[u8]) -> bool {
    !f.is_empty() && f.len() <= 10 && f.iter().all(u8::is_ascii_digit)
}

/// pwdump7 and friends write this (padded with `*`) for an empty hash.
fn is_no_password(f: &[u8]) -> bool {
    f.starts_with(b"NO PASSWORD")
}

fn is_lm_field(f: &[u8]) -> bool {
    f.is_empty() || (f.len() == 32 && is_hex(f)) || is_no_password(f)
}

fn is_hex32(f: &[u8]) -> bool {
    f.len() == 32 && is_hex(f)
}

/// True when `line` is a well-formed pwdump account line (whatever the index).
pub fn looks_like_pwdump_account(line: &[u8]) -> bool {
    // An account line has at least six ':'; most lines that are not one
    // are ruled out here, without building an error message.
    if memchr::memchr_iter(b':', line).take(6).count() < 6 {
        return false;
    }
    let mut section = DumpSection::Hashes;
    matches!(
        parse_pwdump_line(line, &mut section),
        Ok(Parsed::Query(_)) | Ok(Parsed::Skipped(SkipKind::NoNtHash))
    )
}

/// True for secretsdump's banner and status lines.
pub fn is_secretsdump_marker(line: &[u8]) -> bool {
    let t = strip_cr(line).trim_ascii();
    status_line(t) || t.starts_with(b"Impacket v")
}

/// True when a Kerberos key type name (or a numeric encryption type).
fn is_kerberos_etype(f: &[u8]) -> bool {
    if is_rid(f) {
        return true;
    }
    let lower = f.to_ascii_lowercase();
    ["aes", "des-", "des3", "rc4", "arcfour", "camellia"]
        .iter()
        .any(|p| lower.starts_with(p.as_bytes()))
        && lower
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A hex dump line as impacket prints it: `0000   A1 B2 C3 …   ...`.
fn is_hex_dump(t: &[u8]) -> bool {
    if t.len() < 9 || !is_hex(&t[..4]) || t[4] != b' ' {
        return false;
    }
    let rest = t[4..].trim_ascii_start();
    rest.len() >= 2 && is_hex(&rest[..2]) && (rest.len() == 2 || rest[2] == b' ')
}

/// The name part of a user field, after any `DOMAIN\`.
fn bare_name(user: &[u8]) -> &[u8] {
    match memchr::memrchr(b'\\', user) {
        Some(p) => &user[p + 1..],
        None => user,
    }
}

/// `…_history<digits>`: a password history entry.
fn is_history_name(user: &[u8]) -> bool {
    let name = bare_name(user);
    let digits = name.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    digits > 0 && name[..name.len() - digits].ends_with(b"_history")
}

/// Parses the text after an account line's `:::`: ` (status=…)`,
/// ` (pwdLastSet=…)` and other `(key=value)` groups, in any order.
fn parse_suffix(rest: &[u8]) -> Option<Option<AccountStatus>> {
    let mut status = None;
    let mut rest = rest.trim_ascii();
    while !rest.is_empty() {
        if rest[0] != b'(' {
            return None;
        }
        let close = memchr::memchr(b')', rest)?;
        let group = &rest[1..close];
        if let Some(value) = group.strip_prefix(b"status=") {
            if value.eq_ignore_ascii_case(b"enabled") {
                status = Some(AccountStatus::Enabled);
            } else if value.eq_ignore_ascii_case(b"disabled") {
                status = Some(AccountStatus::Disabled);
            }
        } else if memchr::memchr(b'=', group).is_none() {
            return None;
        }
        rest = rest[close + 1..].trim_ascii_start();
    }
    Some(status)
}

/// Parses one line of pwdump / secretsdump output; `section` is the
/// secretsdump section the line is in, updated by status lines.
pub fn parse_pwdump_line<'a>(
    line: &'a [u8],
    section: &mut DumpSection,
) -> Result<Parsed<'a>, String> {
    let t = strip_cr(line).trim_ascii();
    if t.is_empty() {
        return Ok(Parsed::Blank);
    }
    if status_line(t) {
        *section = section_after_status(t, *section);
        return Ok(Parsed::Skipped(SkipKind::Status));
    }
    if t.starts_with(b"Impacket v") {
        return Ok(Parsed::Skipped(SkipKind::Banner));
    }
    let (f, n) = split_fields::<7>(t);
    let user = f[0];
    // `user:RID:LM:…` commits the line to being an account line.
    if n >= 4 && is_rid(f[1]) && is_lm_field(f[2]) {
        if n < 7 || user.is_empty() {
            return Err(format!(
                "account line of {:?} is cut short: expected user:RID:LMHASH:NTHASH:::",
                truncate_for_message(user)
            ));
        }
        let nt = f[3];
        let Some(status) = parse_suffix(f[6]) else {
            return Err(format!(
                "account line of {:?} has unexpected text after ':::'",
                truncate_for_message(user)
            ));
        };
        if is_no_password(nt) {
            return Ok(Parsed::Skipped(SkipKind::NoNtHash));
        }
        let Some(key) = parse_hex_key(HashKind::Ntlm, nt) else {
            return Err(format!(
                "NT hash field of account {:?} is not 32 hex digits ({} characters)",
                truncate_for_message(user),
                nt.len()
            ));
        };
        return Ok(Parsed::Query(Query {
            key,
            account: Some(user),
            plaintext: None,
            pwdump: Some(PwdumpInfo {
                status,
                history: is_history_name(user),
            }),
        }));
    }
    // MSCache v1 `user:HASH:DOMAIN:DOMAINLONG:::`.
    if n == 7 && is_hex32(f[1]) && f[4].is_empty() && f[5].is_empty() {
        return Ok(Parsed::Skipped(SkipKind::CachedLogon));
    }
    // The machine account from the LSA secrets: `DOMAIN\NAME$:LM:NT:::`.
    // Without the `$` it is an account line that lost its RID: skipping it
    // would leave its NT hash unchecked.
    if n == 6 && is_hex32(f[1]) && is_hex32(f[2]) && f[3..6].iter().all(|x| x.is_empty()) {
        if user.ends_with(b"$") || user.starts_with(b"$MACHINE.ACC") {
            return Ok(Parsed::Skipped(SkipKind::Secret));
        }
        return Err(format!(
            "account line of {:?} has no RID: expected user:RID:LMHASH:NTHASH:::",
            truncate_for_message(user)
        ));
    }
    // The shape of an account line, NT hash and all, with a damaged RID or
    // LM field. Such a line must not fall through to the rules below, which
    // skip `DOMAIN\user:…` lines as cleartext secrets: its NT hash would go
    // unchecked.
    if n == 7 && is_hex32(f[3]) && f[4].is_empty() && f[5].is_empty() {
        let damage = if !is_rid(f[1]) {
            format!(
                "its RID {:?} is not a number",
                String::from_utf8_lossy(&f[1][..f[1].len().min(20)])
            )
        } else {
            format!(
                "its LM hash field is not 32 hex digits ({} characters)",
                f[2].len()
            )
        };
        return Err(format!(
            "account line of {:?} is damaged: {damage}; expected user:RID:LMHASH:NTHASH:::",
            truncate_for_message(user)
        ));
    }
    if n == 1 {
        if is_hex_dump(t) {
            return Ok(Parsed::Skipped(SkipKind::HexDump));
        }
        return match section {
            DumpSection::Secrets => Ok(Parsed::Skipped(SkipKind::Secret)),
            DumpSection::Cleartext => Ok(Parsed::Skipped(SkipKind::Cleartext)),
            DumpSection::Hashes => Err(format!(
                "not an account line (user:RID:LMHASH:NTHASH:::), Kerberos key, status or \
                 secrets line ({} characters without ':', not shown)",
                t.len()
            )),
        };
    }
    let rest = &t[user.len() + 1..];
    let (kf, kn) = split_fields::<2>(rest);
    if kn == 2 {
        if is_kerberos_etype(kf[0]) && !kf[1].is_empty() && is_hex(kf[1]) {
            return Ok(Parsed::Skipped(SkipKind::KerberosKey));
        }
        if kf[0].eq_ignore_ascii_case(b"plain_password_hex") {
            return Ok(Parsed::Skipped(SkipKind::Secret));
        }
        if kf[0] == b"CLEARTEXT" {
            return Ok(Parsed::Skipped(SkipKind::Cleartext));
        }
    }
    if rest.starts_with(b"$DCC2$") || rest.starts_with(b"$DCC$") {
        return Ok(Parsed::Skipped(SkipKind::CachedLogon));
    }
    if rest.starts_with(b"0x") && is_hex(&rest[2..]) {
        // dpapi_machinekey:0x…, dpapi_userkey:0x…
        return Ok(Parsed::Skipped(SkipKind::Secret));
    }
    if user == b"NL$KM" || user.starts_with(b"$MACHINE.ACC") || user.starts_with(b"dpapi_") {
        return Ok(Parsed::Skipped(SkipKind::Secret));
    }
    if user.contains(&b'\\')
        || user.contains(&b'/')
        || user.contains(&b'@')
        || user == b"(Unknown User)"
    {
        return Ok(Parsed::Skipped(SkipKind::Cleartext));
    }
    match section {
        DumpSection::Secrets => Ok(Parsed::Skipped(SkipKind::Secret)),
        DumpSection::Cleartext => Ok(Parsed::Skipped(SkipKind::Cleartext)),
        DumpSection::Hashes => Err(format!(
            "line starting {:?} is not an account line (user:RID:LMHASH:NTHASH:::), \
             Kerberos key, status or secrets line (rest not shown; for user:HASH lines \
             use --input-format hash)",
            format!("{}:", truncate_for_message(user))
        )),
    }
}

// --------------------------------------------------------------- plain ----

/// Parser of plaintext passwords, hashed with `kind`.
#[derive(Clone, Copy, Debug)]
pub struct PlainLines {
    pub kind: HashKind,
}

impl LineParser for PlainLines {
    #[inline]
    fn parse<'a>(&mut self, line: &'a [u8]) -> Result<Parsed<'a>, String> {
        parse_plain_line(self.kind, line)
    }
}

/// Parses a plaintext password line: the whole line but its `\r`, as UTF-8.
/// An empty line is blank (the empty password can be checked by its hash);
/// blanks inside or around a password are part of it.
#[inline]
pub fn parse_plain_line(kind: HashKind, line: &[u8]) -> Result<Parsed<'_>, String> {
    let password = strip_cr(line);
    if password.is_empty() {
        return Ok(Parsed::Blank);
    }
    plaintext_query(kind, password).map(Parsed::Query)
}

/// The query for a plaintext password; the error never quotes the password.
pub fn plaintext_query(kind: HashKind, password: &[u8]) -> Result<Query<'_>, String> {
    if std::str::from_utf8(password).is_err() {
        return Err(format!(
            "plaintext is not valid UTF-8, or holds an unpaired UTF-16 surrogate ({} bytes, \
             not shown)",
            password.len()
        ));
    }
    Ok(Query {
        key: kind.hash_plaintext(password),
        account: None,
        plaintext: Some(password),
        pwdump: None,
    })
}

// ----------------------------------------------------------------- csv ----

/// The columns named on the command line for CSV input.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CsvColumns {
    /// The hash column (`--column`).
    pub hash: Option<String>,
    /// The plaintext password column (`--plaintext-column`).
    pub plaintext: Option<String>,
    /// The account column (`--id-column`).
    pub id: Option<String>,
}

impl CsvColumns {
    /// True when any column was named.
    pub fn any(&self) -> bool {
        self.hash.is_some() || self.plaintext.is_some() || self.id.is_some()
    }
}

/// Header names taken as the hash column when `--column` is not given.
pub const DEFAULT_HASH_COLUMNS: [&str; 8] = [
    "hash",
    "nthash",
    "nt_hash",
    "ntlm",
    "nt",
    "sha1",
    "sha-1",
    "password_hash",
];

/// Where the columns of a CSV input are, from its header row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvLayout {
    /// The field holding the hash or the plaintext.
    pub value: usize,
    /// True when `value` holds plaintext passwords.
    pub plaintext: bool,
    /// The field holding the account.
    pub id: Option<usize>,
    /// The value column's name, for the summary.
    pub value_name: String,
}

fn header_name(field: &[u8], first: bool) -> String {
    let field = if first {
        field.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(field)
    } else {
        field
    };
    String::from_utf8_lossy(field.trim_ascii()).into_owned()
}

impl CsvLayout {
    /// Finds the named columns in `header` (the fields of the header row).
    pub fn from_header(header: &[&[u8]], cols: &CsvColumns, input: &Path) -> Result<CsvLayout> {
        let names: Vec<String> = header
            .iter()
            .enumerate()
            .map(|(i, f)| header_name(f, i == 0))
            .collect();
        let listing = || {
            names
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let find = |wanted: &str, flag: &str| -> Result<usize> {
            names
                .iter()
                .position(|n| n == wanted)
                .or_else(|| names.iter().position(|n| n.eq_ignore_ascii_case(wanted)))
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "{}: no column {wanted:?} ({flag}) in the header row; its columns are {}",
                        input.display(),
                        listing()
                    ))
                })
        };
        let (value, plaintext, value_name) = match (&cols.hash, &cols.plaintext) {
            (Some(_), Some(_)) => {
                return Err(Error::Usage(
                    "--column and --plaintext-column cannot both be given".into(),
                ));
            }
            (Some(h), None) => (find(h, "--column")?, false, h.clone()),
            (None, Some(p)) => (find(p, "--plaintext-column")?, true, p.clone()),
            (None, None) => {
                let found: Vec<usize> = (0..names.len())
                    .filter(|&i| {
                        DEFAULT_HASH_COLUMNS
                            .iter()
                            .any(|d| names[i].eq_ignore_ascii_case(d))
                    })
                    .collect();
                match found[..] {
                    [i] => (i, false, names[i].clone()),
                    _ => {
                        return Err(Error::Usage(format!(
                            "{}: name the hash column with --column NAME (or the password column \
                             with --plaintext-column NAME); the header row's columns are {}",
                            input.display(),
                            listing()
                        )));
                    }
                }
            }
        };
        let id = match &cols.id {
            Some(name) => Some(find(name, "--id-column")?),
            None => None,
        };
        Ok(CsvLayout {
            value,
            plaintext,
            id,
            value_name,
        })
    }

    /// Reads one CSV record.
    pub fn parse<'a>(
        &self,
        kind: HashKind,
        fields: &'a csv::ByteRecord,
    ) -> Result<Parsed<'a>, String> {
        let Some(value) = fields.get(self.value) else {
            return Err(format!(
                "record has {} fields; column {:?} is field {}",
                fields.len(),
                self.value_name,
                self.value + 1
            ));
        };
        // A line break in a field pwdex reads is a quote left open, or text
        // that would forge extra records in the line-based outputs.
        if memchr::memchr2(b'\n', b'\r', value).is_some() {
            return Err(format!(
                "the {:?} field holds a line break",
                self.value_name
            ));
        }
        let account = match self.id {
            Some(i) => match fields.get(i) {
                Some(a) if memchr::memchr2(b'\n', b'\r', a).is_some() => {
                    return Err("the --id-column field holds a line break".into());
                }
                Some(a) => Some(a.trim_ascii()).filter(|a| !a.is_empty()),
                None => {
                    return Err(format!(
                        "record has {} fields; the --id-column is field {}",
                        fields.len(),
                        i + 1
                    ));
                }
            },
            None => None,
        };
        let mut query = if self.plaintext {
            if value.is_empty() {
                return Ok(Parsed::Blank);
            }
            plaintext_query(kind, value)?
        } else {
            let hex = value.trim_ascii();
            if hex.is_empty() {
                return Ok(Parsed::Blank);
            }
            match parse_hex_key(kind, hex) {
                Some(key) => Query::hash(key),
                None => return Err(describe_bad_hash_line(kind, hex)),
            }
        };
        query.account = account;
        Ok(Parsed::Query(query))
    }
}

// ------------------------------------------------------------ encoding ----

/// Text encodings recognised by their byte-order mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bom {
    None,
    Utf8,
    Utf16Le,
    Utf16Be,
}

impl Bom {
    /// The mark `start` begins with, and its length.
    pub fn of(start: &[u8]) -> (Bom, usize) {
        match start {
            [0xEF, 0xBB, 0xBF, ..] => (Bom::Utf8, 3),
            [0xFF, 0xFE, ..] => (Bom::Utf16Le, 2),
            [0xFE, 0xFF, ..] => (Bom::Utf16Be, 2),
            _ => (Bom::None, 0),
        }
    }
}

/// Wraps `input` so that it reads as UTF-8 without a byte-order mark.
///
/// Windows PowerShell's `>` and `Out-File` write UTF-16LE with a BOM, which
/// is how DSInternals exports often arrive; newer PowerShell and Excel write
/// a UTF-8 BOM. Inputs without a BOM are passed through untouched (the bytes
/// are the caller's: plain input may hold any encoding, hash input is ASCII).
pub fn decode_input<'r, R: std::io::Read + 'r>(
    input: R,
) -> std::io::Result<Box<dyn std::io::Read + 'r>> {
    Ok(Box::new(Decoded::new(input)?))
}

/// An input read as UTF-8 without a byte-order mark: [`decode_input`]'s
/// reader, `Send` when `R` is (the build's plaintext lists take it).
pub enum Decoded<R> {
    Utf8(std::io::Chain<std::io::Cursor<Vec<u8>>, R>),
    Utf16(Utf16Decoder<std::io::Chain<std::io::Cursor<Vec<u8>>, R>>),
}

impl<R: std::io::Read> Decoded<R> {
    /// Reads the first bytes of `input` for a byte-order mark.
    pub fn new(mut input: R) -> std::io::Result<Self> {
        let mut head = [0u8; 3];
        let mut n = 0;
        while n < head.len() {
            match input.read(&mut head[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let (bom, skip) = Bom::of(&head[..n]);
        let rest = std::io::Read::chain(std::io::Cursor::new(head[skip..n].to_vec()), input);
        Ok(match bom {
            Bom::None | Bom::Utf8 => Decoded::Utf8(rest),
            Bom::Utf16Le => Decoded::Utf16(Utf16Decoder::new(rest, false)),
            Bom::Utf16Be => Decoded::Utf16(Utf16Decoder::new(rest, true)),
        })
    }
}

impl<R: std::io::Read> std::io::Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Decoded::Utf8(r) => r.read(buf),
            Decoded::Utf16(r) => r.read(buf),
        }
    }
}

/// An unpaired UTF-16 surrogate as the three bytes UTF-8 would give its
/// code point (as WTF-8 does): invalid UTF-8, so a plaintext holding one is
/// reported as malformed. As U+FFFD it was hashed as another password.
fn unpaired_surrogate(unit: u16) -> [u8; 3] {
    [
        0xED,
        0x80 | ((unit >> 6) & 0x3F) as u8,
        0x80 | (unit & 0x3F) as u8,
    ]
}

/// A reader that decodes UTF-16 to UTF-8. Unpaired surrogates and a lone
/// last byte are kept as bytes that are not UTF-8 (a surrogate as its
/// WTF-8 bytes), never replaced by U+FFFD.
pub struct Utf16Decoder<R> {
    inner: R,
    big_endian: bool,
    /// Raw bytes read but not decoded yet (an odd byte, a high surrogate).
    raw: Vec<u8>,
    /// Decoded UTF-8 not handed out yet, from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
    eof: bool,
}

impl<R: std::io::Read> Utf16Decoder<R> {
    pub fn new(inner: R, big_endian: bool) -> Self {
        Utf16Decoder {
            inner,
            big_endian,
            raw: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            eof: false,
        }
    }

    /// Reads and decodes the next chunk into `out`.
    fn refill(&mut self) -> std::io::Result<()> {
        self.out.clear();
        self.out_pos = 0;
        while self.out.is_empty() && !self.eof {
            let start = self.raw.len();
            self.raw.resize(start + (64 << 10), 0);
            let n = loop {
                match self.inner.read(&mut self.raw[start..]) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    other => break other,
                }
            };
            let n = n.inspect_err(|_| self.raw.truncate(start))?;
            self.raw.truncate(start + n);
            self.eof = n == 0;
            let mut units: Vec<u16> = self
                .raw
                .chunks_exact(2)
                .map(|p| {
                    let pair = [p[0], p[1]];
                    if self.big_endian {
                        u16::from_be_bytes(pair)
                    } else {
                        u16::from_le_bytes(pair)
                    }
                })
                .collect();
            let mut keep = self.raw.len() % 2;
            // A high surrogate at the end may pair with the next chunk's first unit.
            if !self.eof && units.last().is_some_and(|u| (0xD800..0xDC00).contains(u)) {
                units.pop();
                keep += 2;
            }
            let consumed = self.raw.len() - keep;
            self.raw.drain(..consumed);
            let mut utf8 = [0u8; 4];
            for c in char::decode_utf16(units) {
                match c {
                    Ok(c) => self
                        .out
                        .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes()),
                    Err(e) => self
                        .out
                        .extend_from_slice(&unpaired_surrogate(e.unpaired_surrogate())),
                }
            }
            if self.eof && !self.raw.is_empty() {
                // A lone trailing byte: a byte no UTF-8 text holds.
                self.out.push(0xFF);
                self.raw.clear();
            }
        }
        Ok(())
    }
}

impl<R: std::io::Read> std::io::Read for Utf16Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.out_pos == self.out.len() {
            self.refill()?;
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

// ----------------------------------------------------------- detection ----

/// Detects the format of an input from its first lines (`text` is the start
/// of the input, cut anywhere): `Pwdump` or `Hash`, never `Plain` or `Csv`.
pub fn detect(text: &[u8]) -> InputFormat {
    let mut accounts = 0usize;
    let mut markers = 0usize;
    let mut hashes = 0usize;
    let mut seen = 0usize;
    for line in text.split(|&b| b == b'\n') {
        if line.trim_ascii().is_empty() {
            continue;
        }
        seen += 1;
        if seen > DETECT_LINES {
            break;
        }
        if looks_like_pwdump_account(line) {
            accounts += 1;
        } else if is_secretsdump_marker(line) {
            markers += 1;
        } else if [HashKind::Ntlm, HashKind::Sha1]
            .iter()
            .any(|&k| hash_line_query(k, line.trim_ascii()).is_some())
        {
            hashes += 1;
        }
    }
    if (accounts > 0 && accounts >= hashes) || (accounts == 0 && hashes == 0 && markers > 0) {
        InputFormat::Pwdump
    } else {
        InputFormat::Hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NT: &str = "8846F7EAEE8FB117AD06BDD830B7586C";
    const SHA: &str = "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8";
    const LM: &str = "aad3b435b51404eeaad3b435b51404ee";

    fn key(kind: HashKind, hex: &str) -> Key {
        parse_hex_key(kind, hex.as_bytes()).unwrap()
    }

    /// Test lines built with `format!` live for the whole test run.
    fn leak(s: String) -> &'static str {
        Box::leak(s.into_boxed_str())
    }

    fn pw(line: &str) -> Result<Parsed<'_>, String> {
        let mut s = DumpSection::Hashes;
        parse_pwdump_line(line.as_bytes(), &mut s)
    }

    fn account(line: String) -> Query<'static> {
        let line = leak(line);
        match pw(line) {
            Ok(Parsed::Query(q)) => q,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn skipped(line: &str) -> SkipKind {
        match pw(line) {
            Ok(Parsed::Skipped(k)) => k,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn hash_lines_in_every_form() {
        let k = HashKind::Ntlm;
        let want = key(k, NT);
        let q = |l: &str| -> Query<'static> {
            match parse_hash_line(k, leak(l.to_string()).as_bytes()) {
                Ok(Parsed::Query(q)) => q,
                other => panic!("{l}: {other:?}"),
            }
        };
        assert_eq!(q(NT), Query::hash(want));
        assert_eq!(q(&format!("  {} \r", NT.to_lowercase())), Query::hash(want));
        assert_eq!(q(&format!("{NT}:123")), Query::hash(want));
        assert_eq!(q(&format!("{NT}:x:y")), Query::hash(want));
        assert_eq!(q(&format!("{NT},anything")), Query::hash(want));
        let a = q(&format!("alice:{NT}"));
        assert_eq!((a.key, a.account), (want, Some(&b"alice"[..])));
        let b = q(&format!("CORP\\bob , {NT}"));
        assert_eq!(b.account, Some(&b"CORP\\bob"[..]));
        let c = q(&format!("Smith, John:{NT}"));
        assert_eq!(c.account, Some(&b"Smith, John"[..]));
        assert_eq!(parse_hash_line(k, b" \t\r"), Ok(Parsed::Blank));
    }

    #[test]
    fn hash_line_errors() {
        let k = HashKind::Ntlm;
        let err = |l: &str| parse_hash_line(k, l.as_bytes()).unwrap_err();
        assert!(err("not a hash").contains("\"not a hash\" is not a hex hash"));
        assert!(err(SHA).starts_with("sha1 hash (40 hex digits) but the index holds ntlm"));
        assert!(err(&format!("bob:{SHA}")).contains("sha1 hash"));
        assert!(err(&format!("{NT}:{NT}")).contains("both fields"));
        assert!(err("ABC").contains("3 hex digits"));
        assert!(err(&format!("a:500:{LM}:{NT}:::")).contains("--input-format pwdump"));
        assert!(err(":x").contains("holds no ntlm hash"));
        let e = err("alice:Summer2024!");
        assert!(
            e.starts_with("line starting \"alice:\" holds no ntlm hash") && !e.contains("Summer"),
            "{e}"
        );
    }

    #[test]
    fn pwdump_accounts_with_every_decoration() {
        let want = key(HashKind::Ntlm, NT);
        let a = account(format!("Administrator:500:{LM}:{}:::", NT.to_lowercase()));
        assert_eq!(a.key, want);
        assert_eq!(a.account, Some(&b"Administrator"[..]));
        assert_eq!(
            a.pwdump,
            Some(PwdumpInfo {
                status: None,
                history: false
            })
        );
        let d = account(format!(
            "CORP.LOCAL\\krbtgt:502:{LM}:{NT}::: (status=Disabled)  \r"
        ));
        assert_eq!(d.account, Some(&b"CORP.LOCAL\\krbtgt"[..]));
        assert_eq!(d.pwdump.unwrap().status, Some(AccountStatus::Disabled));
        let e = account(format!(
            "CORP\\alice:1104:{LM}:{NT}::: (pwdLastSet=2024-03-01 10:22) (status=Enabled)"
        ));
        assert_eq!(e.pwdump.unwrap().status, Some(AccountStatus::Enabled));
        let e2 = account(format!(
            "alice:1104:{LM}:{NT}::: (status=Enabled) (pwdLastSet=never)"
        ));
        assert_eq!(e2.pwdump.unwrap().status, Some(AccountStatus::Enabled));
        let h = account(format!("CORP\\alice_history12:1104:{LM}:{NT}:::"));
        assert!(h.is_history());
        assert!(!account(format!("history_fan:1105:{LM}:{NT}:::")).is_history());
        let m = account(format!("CORP\\WS01$:1106:{LM}:{NT}:::"));
        assert_eq!(m.account, Some(&b"CORP\\WS01$"[..]));
        // Classic pwdump with comment and home directory fields; empty LM.
        assert_eq!(account(format!("bob:1001::{NT}:Bob B:home:")).key, want);
        assert_eq!(
            skipped(
                "guest:501:NO PASSWORD*********************:NO PASSWORD*********************:::"
            ),
            SkipKind::NoNtHash
        );
    }

    #[test]
    fn secretsdump_noise_is_skipped() {
        let aes256 = "a".repeat(64);
        let aes128 = "b".repeat(32);
        let cases = [
            (
                "Impacket v0.12.0 - Copyright Fortra, LLC and its affiliated companies ",
                SkipKind::Banner,
            ),
            ("[*] Target system bootKey: 0x1234", SkipKind::Status),
            ("[-] RemoteOperations failed", SkipKind::Status),
            ("[+] debug", SkipKind::Status),
            (
                &format!("CORP\\alice:aes256-cts-hmac-sha1-96:{aes256}"),
                SkipKind::KerberosKey,
            ),
            (
                &format!("CORP\\alice:aes128-cts-hmac-sha1-96:{aes128}"),
                SkipKind::KerberosKey,
            ),
            ("alice:des-cbc-md5:0123456789abcdef", SkipKind::KerberosKey),
            ("alice:18:0123456789abcdef", SkipKind::KerberosKey),
            ("CORP\\DC01$:plain_password_hex:4142", SkipKind::Secret),
            (&format!("CORP\\DC01$:{LM}:{NT}:::"), SkipKind::Secret),
            ("dpapi_machinekey:0x0123abcd", SkipKind::Secret),
            ("NL$KM:0123456789abcdef0123456789abcdef", SkipKind::Secret),
            (
                " 0000   8D D2 8E 67 54 58 89 B1  ...gTX..",
                SkipKind::HexDump,
            ),
            ("CORP\\svc_sql:Summer2024!", SkipKind::Cleartext),
            ("CORP.LOCAL\\bob:CLEARTEXT:pass:word", SkipKind::Cleartext),
            ("bob:CLEARTEXT:x", SkipKind::Cleartext),
            ("(Unknown User):hunter2", SkipKind::Cleartext),
            (
                "CORP.LOCAL/alice:$DCC2$10240#alice#e4e938d12fe5974dc42a90120bd9c90f",
                SkipKind::CachedLogon,
            ),
            (
                &format!("alice:{}:CORP:CORP.LOCAL:::", "c".repeat(32)),
                SkipKind::CachedLogon,
            ),
        ];
        for (line, kind) in cases {
            assert_eq!(skipped(line), kind, "{line}");
        }
        assert_eq!(pw("   \r"), Ok(Parsed::Blank));
    }

    #[test]
    fn unknown_pwdump_lines_are_malformed_and_not_quoted() {
        let e = pw("this is garbage").unwrap_err();
        assert!(!e.contains("garbage"), "{e}");
        let e = pw("alice:Secret123").unwrap_err();
        assert!(e.contains("\"alice:\"") && !e.contains("Secret123"), "{e}");
        let e = pw(&format!("alice:1104:{LM}:ZZ:::")).unwrap_err();
        assert!(e.contains("NT hash field of account \"alice\""), "{e}");
        let e = pw(&format!("alice:1104:{LM}:{NT}")).unwrap_err();
        assert!(e.contains("cut short"), "{e}");
        let e = pw(&format!("alice:1104:{LM}:{NT}::: trailing words")).unwrap_err();
        assert!(e.contains("after ':::'"), "{e}");
        // A bare hash is not a pwdump line.
        assert!(pw(NT).is_err());
    }

    #[test]
    fn damaged_account_lines_are_malformed_not_skipped() {
        // Each carries an NT hash: skipped as a secret or cleartext line
        // (they have a `\`, `@` or no RID), the hash went unchecked.
        let lm31 = &LM[..31];
        let cases = [
            (format!("CORP\\bob:1105:{lm31}:{NT}:::"), "LM hash field"),
            (format!("CORP\\erin:11O9:{LM}:{NT}:::"), "RID \"11O9\""),
            (
                format!("CORP\\hank:1112:{LM}X:{NT}:::  (status=Enabled)"),
                "LM hash field",
            ),
            (
                format!("alice@corp.local:1113:NOPASS:{NT}:::"),
                "LM hash field",
            ),
            (format!("alice:{LM}:{NT}:::"), "no RID"),
            (format!("CORP\\alice:{LM}:{NT}:::"), "no RID"),
        ];
        for section in [
            DumpSection::Hashes,
            DumpSection::Secrets,
            DumpSection::Cleartext,
        ] {
            for (line, what) in &cases {
                let mut s = section;
                let e = parse_pwdump_line(line.as_bytes(), &mut s).unwrap_err();
                assert!(
                    e.contains(what) && e.contains("account line"),
                    "{line}: {e}"
                );
            }
        }
        // The machine account of the LSA secrets still is a secret.
        assert_eq!(
            skipped(&format!("$MACHINE.ACC:{LM}:{NT}:::")),
            SkipKind::Secret
        );
        assert_eq!(
            skipped(&format!("CORP\\DC01$:{LM}:{NT}:::")),
            SkipKind::Secret
        );
    }

    #[test]
    fn lsa_secrets_section_skips_bare_secret_names() {
        let mut s = DumpSection::Hashes;
        let lines = [
            "[*] Dumping LSA Secrets",
            "L$ASP.NETAutoGenKeysV44.0.30319.0",
            " 0000   01 02 03 04",
            "[*] Dumping Domain Credentials (domain\\uid:rid:lmhash:nthash)",
        ];
        let parsed: Vec<_> = lines
            .iter()
            .map(|l| parse_pwdump_line(l.as_bytes(), &mut s))
            .collect();
        assert!(parsed.iter().all(|p| matches!(p, Ok(Parsed::Skipped(_)))));
        assert_eq!(s, DumpSection::Hashes);
        assert!(parse_pwdump_line(b"L$ASP.NETAutoGenKeysV44.0.30319.0", &mut s).is_err());
        // The state after a block equals the state reached line by line.
        let text = lines[..3].join("\n");
        assert_eq!(
            PwdumpLines::default().after(text.as_bytes()).section,
            DumpSection::Secrets
        );
    }

    #[test]
    fn plaintext_lines() {
        let k = HashKind::Sha1;
        match parse_plain_line(k, b"password\r") {
            Ok(Parsed::Query(q)) => {
                assert_eq!(q.key, key(k, SHA));
                assert_eq!(q.plaintext, Some(&b"password"[..]));
            }
            other => panic!("{other:?}"),
        }
        match parse_plain_line(HashKind::Ntlm, b" pass word ") {
            Ok(Parsed::Query(q)) => assert_eq!(q.plaintext, Some(&b" pass word "[..])),
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_plain_line(k, b"\r"), Ok(Parsed::Blank));
        let e = parse_plain_line(k, b"caf\xe9").unwrap_err();
        assert!(e.contains("UTF-8") && !e.contains("caf"), "{e}");
    }

    #[test]
    fn csv_layouts_and_records() {
        let header: Vec<&[u8]> = vec![b"\xEF\xBB\xBFUser", b"NTHash", b"note"];
        let cols = CsvColumns {
            id: Some("user".into()),
            ..CsvColumns::default()
        };
        let layout = CsvLayout::from_header(&header, &cols, Path::new("x.csv")).unwrap();
        assert_eq!(
            (layout.value, layout.id, layout.plaintext),
            (1, Some(0), false)
        );
        let rec = csv::ByteRecord::from(vec![&b"Doe, Jane"[..], NT.as_bytes(), b""]);
        match layout.parse(HashKind::Ntlm, &rec) {
            Ok(Parsed::Query(q)) => assert_eq!(q.account, Some(&b"Doe, Jane"[..])),
            other => panic!("{other:?}"),
        }
        assert!(
            layout
                .parse(HashKind::Ntlm, &csv::ByteRecord::from(vec!["x"]))
                .unwrap_err()
                .contains("record has 1 fields")
        );
        let missing = CsvColumns {
            hash: Some("hash".into()),
            ..CsvColumns::default()
        };
        let err = CsvLayout::from_header(&header, &missing, Path::new("x.csv")).unwrap_err();
        assert!(err.to_string().contains("\"User\", \"NTHash\""), "{err}");
    }

    /// A reader that hands out at most 3 bytes per call, to split every unit.
    struct Dribble<'a>(&'a [u8]);

    impl std::io::Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(3).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn decoded(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut decode_input(Dribble(bytes)).unwrap(), &mut out).unwrap();
        out
    }

    #[test]
    fn byte_order_marks_are_removed_and_utf16_decoded() {
        let text = "admin:500:x:y:::\r\nJürgen 😀:1\n";
        assert_eq!(decoded(text.as_bytes()), text.as_bytes());
        let mut bom8 = vec![0xEF, 0xBB, 0xBF];
        bom8.extend_from_slice(text.as_bytes());
        assert_eq!(decoded(&bom8), text.as_bytes());
        for big_endian in [false, true] {
            let mut utf16: Vec<u8> = if big_endian {
                vec![0xFE, 0xFF]
            } else {
                vec![0xFF, 0xFE]
            };
            for u in text.encode_utf16() {
                utf16.extend(if big_endian {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                });
            }
            assert_eq!(decoded(&utf16), text.as_bytes(), "big endian: {big_endian}");
        }
        // An unpaired surrogate and a lone trailing byte become bytes that
        // are not UTF-8, so that no plaintext holding one is hashed.
        let d = decoded(&[0xFF, 0xFE, b'a', 0, 0x00, 0xD8, b'b', 0, 7]);
        assert_eq!(d, [b'a', 0xED, 0xA0, 0x80, b'b', 0xFF]);
        assert!(std::str::from_utf8(&d).is_err());
        let d = decoded(&[0xFE, 0xFF, 0xDC, 0x01, 0, b'c']);
        assert_eq!(d, [0xED, 0xB0, 0x81, b'c']);
        assert!(plaintext_query(HashKind::Ntlm, &d).is_err());
        assert_eq!(decoded(b""), b"");
        assert_eq!(decoded(b"ab"), b"ab");
    }

    #[test]
    fn detection() {
        let dump =
            format!("Impacket v0.12.0 - Copyright Fortra\n\n[*] Dumping\nadmin:500:{LM}:{NT}:::\n");
        assert_eq!(detect(dump.as_bytes()), InputFormat::Pwdump);
        assert_eq!(
            detect(b"Impacket v0.12.0\n[*] nothing dumped\n"),
            InputFormat::Pwdump
        );
        assert_eq!(
            detect(format!("{NT}\n{SHA}\n").as_bytes()),
            InputFormat::Hash
        );
        assert_eq!(detect(format!("bob:{NT}\n").as_bytes()), InputFormat::Hash);
        assert_eq!(detect(b"password\n123456\n"), InputFormat::Hash);
        assert_eq!(detect(b""), InputFormat::Hash);
        // One stray account line among many hashes does not flip the format.
        let mostly = format!("{NT}\n{NT}\nadmin:500:{LM}:{NT}:::\n");
        assert_eq!(detect(mostly.as_bytes()), InputFormat::Hash);
    }
}
