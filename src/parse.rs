/*!
Line parsers for the text formats pwdex reads: Pwned Passwords dump lines
(`HASH:COUNT`), range-file lines (`SUFFIX:COUNT` under a five-digit prefix)
and query lines (one hash per line).

Parsers work on one line without its `\n`; a trailing `\r` (CRLF files) is
accepted everywhere. They return a reason string on failure, which callers
wrap with the file name and line number. Nothing here allocates on the
success path, except a range-file count written with thousands separators.
*/

use crate::hash::{HashKind, Key, parse_hex_key};

/// A parsed dump line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DumpRecord {
    pub key: Key,
    /// Prevalence count; 0 marks a padding line, which is not stored.
    pub count: u64,
}

/// Strips one trailing `\r`.
#[inline]
pub fn strip_cr(line: &[u8]) -> &[u8] {
    match line {
        [rest @ .., b'\r'] => rest,
        _ => line,
    }
}

/// The hash kind a dump line's hash field suggests, from its length.
pub fn sniff_dump_kind(line: &[u8]) -> Option<HashKind> {
    let line = strip_cr(line);
    let colon = line.iter().position(|&b| b == b':')?;
    HashKind::from_hex_len(colon)
}

/// Parses a decimal count of at most 20 digits without overflow.
#[inline]
pub fn parse_count(digits: &[u8]) -> Result<u64, String> {
    if digits.is_empty() {
        return Err("missing count after ':'".into());
    }
    let mut value: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(format!(
                "count {:?} is not a decimal number",
                String::from_utf8_lossy(digits)
            ));
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add((d - b'0') as u64))
            .ok_or_else(|| format!("count {} is too large", String::from_utf8_lossy(digits)))?;
    }
    Ok(value)
}

/// Parses a `HASH:COUNT` dump line of the given kind.
#[inline]
pub fn parse_dump_line(kind: HashKind, line: &[u8]) -> Result<DumpRecord, String> {
    let line = strip_cr(line);
    let hex_len = kind.hex_len();
    if line.len() > hex_len && line[hex_len] == b':' {
        if let Some(key) = parse_hex_key(kind, &line[..hex_len]) {
            let count = parse_count(&line[hex_len + 1..])?;
            return Ok(DumpRecord { key, count });
        }
        return Err(format!(
            "hash {:?} is not {} hex digits",
            String::from_utf8_lossy(&line[..hex_len]),
            hex_len
        ));
    }
    Err(describe_bad_dump_line(kind, line))
}

/// Parses a range-file line, `SUFFIX:COUNT`: the hash without the five hex
/// digits of `prefix` (the file's name; only its low 20 bits are used).
/// Thousands separators in the count (`1,234`), which some API answers were
/// reported to carry, are accepted.
pub fn parse_range_line(kind: HashKind, prefix: u32, line: &[u8]) -> Result<DumpRecord, String> {
    const HEX_DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let line = strip_cr(line);
    let suffix_len = kind.hex_len() - 5;
    match line.iter().position(|&b| b == b':') {
        Some(c) if c == suffix_len => {
            let mut hex = [0u8; 40];
            for (i, digit) in hex[..5].iter_mut().enumerate() {
                *digit = HEX_DIGITS[((prefix >> (4 * (4 - i))) & 0xF) as usize];
            }
            hex[5..kind.hex_len()].copy_from_slice(&line[..c]);
            let key = parse_hex_key(kind, &hex[..kind.hex_len()]).ok_or_else(|| {
                format!(
                    "suffix {:?} is not {} hex digits",
                    String::from_utf8_lossy(&line[..c]),
                    suffix_len
                )
            })?;
            let digits = &line[c + 1..];
            let count = if digits.contains(&b',') {
                let plain: Vec<u8> = digits.iter().copied().filter(|&b| b != b',').collect();
                parse_count(&plain)?
            } else {
                parse_count(digits)?
            };
            Ok(DumpRecord { key, count })
        }
        Some(c) => Err(format!(
            "suffix is {c} characters, expected {suffix_len} for {kind} range files (is this the other hash kind?)"
        )),
        None if line.is_empty() => Err("empty line; expected SUFFIX:COUNT".into()),
        None => Err("no ':' in line; expected SUFFIX:COUNT".into()),
    }
}

#[cold]
fn describe_bad_dump_line(kind: HashKind, line: &[u8]) -> String {
    if line.is_empty() {
        return "empty line; expected HASH:COUNT".into();
    }
    match line.iter().position(|&b| b == b':') {
        None => format!(
            "no ':' in {:?}; expected HASH:COUNT",
            truncate_for_message(line)
        ),
        Some(colon) => match HashKind::from_hex_len(colon) {
            Some(other) if other != kind && crate::hash::is_hex(&line[..colon]) => {
                format!("{other} hash in a {kind} input (hashes must all be of one kind)")
            }
            _ => format!(
                "hash field is {colon} characters, expected {} for {kind}",
                kind.hex_len()
            ),
        },
    }
}

/// Outcome of reading one query line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryLine {
    /// A hash to look up.
    Hash(Key),
    /// A blank line (only whitespace): not a query, counted separately.
    Blank,
}

/// Parses a query line: one hash of `kind`, either case, surrounding blanks allowed.
#[inline]
pub fn parse_query_line(kind: HashKind, line: &[u8]) -> Result<QueryLine, String> {
    // Fast path: exactly the hash (optionally with CR).
    let line = strip_cr(line);
    if line.len() == kind.hex_len()
        && let Some(key) = parse_hex_key(kind, line)
    {
        return Ok(QueryLine::Hash(key));
    }
    let trimmed = line.trim_ascii();
    if trimmed.is_empty() {
        return Ok(QueryLine::Blank);
    }
    if let Some(key) = parse_hex_key(kind, trimmed) {
        return Ok(QueryLine::Hash(key));
    }
    Err(describe_bad_query(kind, trimmed))
}

#[cold]
fn describe_bad_query(kind: HashKind, text: &[u8]) -> String {
    if !crate::hash::is_hex(text) {
        return format!("{:?} is not a hex hash", truncate_for_message(text));
    }
    match HashKind::from_hex_len(text.len()) {
        Some(other) => format!(
            "{other} hash ({} hex digits) but the index holds {kind} hashes",
            text.len()
        ),
        None => format!(
            "hash has {} hex digits, expected {} for {kind}",
            text.len(),
            kind.hex_len()
        ),
    }
}

/// A short, printable excerpt of a bad line for error messages.
pub fn truncate_for_message(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(&line[..line.len().min(60)]).into_owned();
    if line.len() > 60 {
        format!("{text}…")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_lines_in_every_accepted_form() {
        let k = HashKind::Sha1;
        let r = parse_dump_line(k, b"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:10434004\r").unwrap();
        assert_eq!(r.count, 10434004);
        assert_eq!(r.key.to_hex(k), "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8");
        let lower = parse_dump_line(k, b"5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8:1").unwrap();
        assert_eq!(lower.key, r.key);
        assert_eq!(
            parse_dump_line(k, b"5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8:0")
                .unwrap()
                .count,
            0
        );
        let n = parse_dump_line(HashKind::Ntlm, b"8846F7EAEE8FB117AD06BDD830B7586C:7").unwrap();
        assert_eq!(n.count, 7);
    }

    #[test]
    fn dump_line_errors_say_what_is_wrong() {
        let k = HashKind::Sha1;
        let err = |l: &[u8]| parse_dump_line(k, l).unwrap_err();
        assert!(err(b"").contains("empty"));
        assert!(err(b"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8").contains("no ':'"));
        assert!(err(b"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:").contains("missing count"));
        assert!(err(b"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:12x").contains("not a decimal"));
        assert!(
            err(b"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:99999999999999999999999")
                .contains("too large")
        );
        assert!(err(b"ZBAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:1").contains("not 40 hex"));
        assert!(err(b"8846F7EAEE8FB117AD06BDD830B7586C:7").contains("ntlm hash in a sha1 input"));
        assert!(err(b"5BAA61E4C9B93F3F0682250B6CF8331B7EE68F:1").contains("38 characters"));
    }

    #[test]
    fn query_lines() {
        let k = HashKind::Ntlm;
        let want = parse_hex_key(k, b"8846F7EAEE8FB117AD06BDD830B7586C").unwrap();
        assert_eq!(
            parse_query_line(k, b"8846f7eaee8fb117ad06bdd830b7586c\r"),
            Ok(QueryLine::Hash(want))
        );
        assert_eq!(
            parse_query_line(k, b"  8846F7EAEE8FB117AD06BDD830B7586C \t"),
            Ok(QueryLine::Hash(want))
        );
        assert_eq!(parse_query_line(k, b" \r"), Ok(QueryLine::Blank));
        assert!(
            parse_query_line(k, b"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8")
                .unwrap_err()
                .contains("sha1 hash")
        );
        assert!(
            parse_query_line(k, b"hello")
                .unwrap_err()
                .contains("not a hex hash")
        );
        assert!(
            parse_query_line(k, b"ABC")
                .unwrap_err()
                .contains("3 hex digits")
        );
    }

    #[test]
    fn sniffing_the_kind() {
        assert_eq!(
            sniff_dump_kind(b"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:1\r"),
            Some(HashKind::Sha1)
        );
        assert_eq!(
            sniff_dump_kind(b"8846F7EAEE8FB117AD06BDD830B7586C:1"),
            Some(HashKind::Ntlm)
        );
        assert_eq!(sniff_dump_kind(b"garbage"), None);
    }
}
