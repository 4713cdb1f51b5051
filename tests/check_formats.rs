//! `pwdex check` input and output formats (issue 7), end to end through the
//! binary: secretsdump/pwdump exports, plaintexts, CSV, `--min-count`,
//! `--fail-on-found`, several indexes and malformed lines.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use pwdex::{HashKind, Key};

const LM: &str = "aad3b435b51404eeaad3b435b51404ee";

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}
fn stderr(o: &std::process::Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn hex(kind: HashKind, password: &str) -> String {
    kind.hash_plaintext(password.as_bytes()).to_hex(kind)
}

/// Builds an index of `kind` from planted passwords and `filler` random hashes.
fn build_index(
    dir: &Path,
    name: &str,
    kind: HashKind,
    planted: &[(&str, u64)],
    filler: usize,
) -> PathBuf {
    let mut corpus = random_corpus(kind, filler, 77);
    for (password, count) in planted {
        corpus.insert(kind.hash_plaintext(password.as_bytes()), *count);
    }
    let dump = write(
        dir,
        &format!("{name}.txt"),
        dump_text(kind, &corpus, true, false),
    );
    let index = dir.join(name);
    let o = run(&["build", p(&dump), "-o", p(&index), "-q"], b"");
    assert!(o.status.success(), "build failed: {}", stderr(&o));
    index
}

/// A hash that is in no index.
fn absent(kind: HashKind, seed: u64) -> String {
    let mut rng = Rng(seed ^ 0xABCD);
    rng.key(kind).to_hex(kind)
}

fn json_name(path: &Path) -> String {
    serde_json::to_string(p(path)).unwrap()
}

/// NTLM corpus of the secretsdump tests.
const NT_PLANTED: &[(&str, u64)] = &[
    ("password", 10_434_004),
    ("P@ssw0rd", 201_377),
    ("Welcome1", 3),
    ("", 49_000_000),
];

/// A secretsdump run as a user would save it: banner, status lines, SAM,
/// cached logons, LSA secrets with a hex dump, NTDS with status and
/// pwdLastSet suffixes, history entries, machine accounts, shared hashes,
/// Kerberos keys (an aes128 key equal to a planted NT hash), cleartext lines
/// and trailing blanks.
fn secretsdump() -> String {
    let nt = |pw: &str| hex(HashKind::Ntlm, pw);
    let password = nt("password");
    let p_at = nt("P@ssw0rd");
    let welcome = nt("Welcome1");
    let empty = nt("").to_lowercase();
    let krbtgt = absent(HashKind::Ntlm, 1).to_lowercase();
    let dave = absent(HashKind::Ntlm, 2);
    let dc = absent(HashKind::Ntlm, 3).to_lowercase();
    let ws = absent(HashKind::Ntlm, 4).to_lowercase();
    let hist1 = absent(HashKind::Ntlm, 5).to_lowercase();
    let machine_lsa = absent(HashKind::Ntlm, 6).to_lowercase();
    let aes256 = "7d3f1e".repeat(10) + "abcd";
    // An aes128 key has the length of an NT hash; this one even equals a
    // planted one. It must never be taken for an account.
    let aes128 = password.to_lowercase();
    format!(
        "Impacket v0.12.0 - Copyright Fortra, LLC and its affiliated companies \n\
         \n\
         [*] Service RemoteRegistry is in stopped state\n\
         [*] Starting service RemoteRegistry\n\
         [*] Target system bootKey: 0x8e3f2b1c9d7a6e5f4a3b2c1d0e9f8a7b\n\
         [*] Dumping local SAM hashes (uid:rid:lmhash:nthash)\n\
         Administrator:500:{LM}:{pw_lower}:::\n\
         Guest:501:{LM}:{empty}:::\n\
         [*] Dumping cached domain logon information (domain/username:hash)\n\
         CORP.LOCAL/alice:$DCC2$10240#alice#e4e938d12fe5974dc42a90120bd9c90f\n\
         [*] Dumping LSA Secrets\n\
         [*] $MACHINE.ACC \n\
         CORP\\DC01$:aes256-cts-hmac-sha1-96:{aes256}\n\
         CORP\\DC01$:aes128-cts-hmac-sha1-96:{aes128}\n\
         CORP\\DC01$:des-cbc-md5:4f5e6d7c8b9a0102\n\
         CORP\\DC01$:plain_password_hex:4100420043004400\n\
         CORP\\DC01$:{LM}:{machine_lsa}:::\n\
         [*] DPAPI_SYSTEM \n\
         dpapi_machinekey:0x0f6ea2b4c8d0e1f2a3b4c5d6e7f8091a2b3c4d5e\n\
         dpapi_userkey:0x1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d\n\
         [*] NL$KM \n\
         \x20  0000   8D D2 8E 67 54 58 89 B1  C9 53 B9 5B 46 A2 B3 66   ...gTX...S.[F..f\n\
         \x20  0010   D4 3B 95 80 92 7D 67 78  B7 1D F9 2D A5 55 B7 A3   .;...}}gx...-.U..\n\
         NL$KM:8dd28e67545889b1c953b95b46a2b366d43b9580927d6778b71df92da555b7a3\n\
         [*] _SC_MSSQLSERVER \n\
         CORP\\svc_sql:Summer2024!\n\
         [*] Dumping Domain Credentials (domain\\uid:rid:lmhash:nthash)\n\
         [*] Using the DRSUAPI method to get NTDS.DIT secrets\n\
         CORP.LOCAL\\Administrator:500:{LM}:{pw_lower}::: (status=Enabled)\n\
         Guest:501:{LM}:{empty}::: (status=Disabled)\n\
         krbtgt:502:{LM}:{krbtgt}::: (status=Disabled)\n\
         CORP.LOCAL\\alice:1104:{LM}:{p_at_lower}::: (pwdLastSet=2024-03-01 10:22) (status=Enabled)\n\
         CORP.LOCAL\\alice_history0:1104:{LM}:{password}::: (status=Enabled)\n\
         CORP.LOCAL\\alice_history1:1104:{LM}:{hist1}::: (status=Enabled)\n\
         CORP.LOCAL\\bob:1105:{LM}:{p_at}::: (status=Disabled)\r\n\
         CORP.LOCAL\\carol:1106:{LM}:{welcome}::: (status=Enabled)\n\
         CORP.LOCAL\\dave:1107:{LM}:{dave}::: (status=Enabled)   \t\n\
         DC01$:1000:{LM}:{dc}::: (status=Enabled)\n\
         CORP.LOCAL\\WS01$:1108:{LM}:{ws}::: (status=Enabled)\n\
         [*] Kerberos keys grabbed\n\
         CORP.LOCAL\\Administrator:aes256-cts-hmac-sha1-96:{aes256}\n\
         CORP.LOCAL\\Administrator:aes128-cts-hmac-sha1-96:{aes128}\n\
         CORP.LOCAL\\Administrator:des-cbc-md5:1a2b3c4d5e6f7081\n\
         krbtgt:aes256-cts-hmac-sha1-96:{aes256}\n\
         [*] ClearText passwords grabbed\n\
         CORP.LOCAL\\eve:CLEARTEXT:Spring2024!\n\
         [*] Cleaning up... \n\
         [*] Stopping service RemoteRegistry\n\
         \n\
         \x20  \n",
        pw_lower = password.to_lowercase(),
        p_at_lower = p_at.to_lowercase(),
    )
}

/// The expected per-account verdicts of [`secretsdump`]:
/// (account, hash, found, count, status, history).
/// (account, hash, found, count, status, history)
type ExpectedVerdict = (&'static str, String, bool, u64, Option<&'static str>, bool);

fn expected_verdicts() -> Vec<ExpectedVerdict> {
    let nt = |pw: &str| hex(HashKind::Ntlm, pw);
    vec![
        (
            "Administrator",
            nt("password"),
            true,
            10_434_004,
            None,
            false,
        ),
        ("Guest", nt(""), true, 49_000_000, None, false),
        (
            "CORP.LOCAL\\Administrator",
            nt("password"),
            true,
            10_434_004,
            Some("enabled"),
            false,
        ),
        ("Guest", nt(""), true, 49_000_000, Some("disabled"), false),
        (
            "krbtgt",
            absent(HashKind::Ntlm, 1),
            false,
            0,
            Some("disabled"),
            false,
        ),
        (
            "CORP.LOCAL\\alice",
            nt("P@ssw0rd"),
            true,
            201_377,
            Some("enabled"),
            false,
        ),
        (
            "CORP.LOCAL\\alice_history0",
            nt("password"),
            true,
            10_434_004,
            Some("enabled"),
            true,
        ),
        (
            "CORP.LOCAL\\alice_history1",
            absent(HashKind::Ntlm, 5),
            false,
            0,
            Some("enabled"),
            true,
        ),
        (
            "CORP.LOCAL\\bob",
            nt("P@ssw0rd"),
            true,
            201_377,
            Some("disabled"),
            false,
        ),
        (
            "CORP.LOCAL\\carol",
            nt("Welcome1"),
            true,
            3,
            Some("enabled"),
            false,
        ),
        (
            "CORP.LOCAL\\dave",
            absent(HashKind::Ntlm, 2),
            false,
            0,
            Some("enabled"),
            false,
        ),
        (
            "DC01$",
            absent(HashKind::Ntlm, 3),
            false,
            0,
            Some("enabled"),
            false,
        ),
        (
            "CORP.LOCAL\\WS01$",
            absent(HashKind::Ntlm, 4),
            false,
            0,
            Some("enabled"),
            false,
        ),
    ]
}

#[test]
fn secretsdump_export_gives_exact_account_verdicts_in_jsonl_csv_and_text() {
    let dir = tempfile::tempdir().unwrap();
    let index = build_index(dir.path(), "nt.pwdex", HashKind::Ntlm, NT_PLANTED, 2_000);
    let dump = secretsdump();
    let input = write(dir.path(), "corp.secretsdump", &dump);
    let name = json_name(&index);

    // JSON Lines: every account, in input order (the default for jsonl).
    let o = run(
        &["check", "-i", p(&index), p(&input), "--format", "jsonl"],
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let expected: String = expected_verdicts()
        .into_iter()
        .map(|(account, hash, found, count, status, history)| {
            let account = serde_json::to_string(account).unwrap();
            let index = if count > 0 { name.as_str() } else { "null" };
            let status = status.map_or("null".to_string(), |s| format!("\"{s}\""));
            format!(
                "{{\"account\":{account},\"hash\":\"{hash}\",\"found\":{found},\"count\":{count},\
                 \"index\":{index},\"status\":{status},\"history\":{history}}}\n"
            )
        })
        .collect();
    assert_same_text(&expected, &stdout(&o));
    for line in stdout(&o).lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("each line is JSON");
    }

    // The summary states the format and the account-level figures.
    let err = stderr(&o);
    assert!(err.contains("input: pwdump (detected)"), "{err}");
    assert!(
        err.contains("checked 13 hashes against") && err.contains("8 found, 0 malformed"),
        "{err}"
    );
    // 11 current accounts (+2 history), 6 of them found; 9 distinct hashes;
    // shared by 2+ accounts: password (2), empty (2), P@ssw0rd (2).
    assert!(
        err.contains("accounts: 11 (+ 2 history entries, 1 found), 7 found (63.6%); 9 distinct hashes, 3 shared by 2+ accounts (6 accounts)"),
        "{err}"
    );
    // 28 recognised non-account lines (banner, status, keys, secrets, hex dump, cleartext).
    assert!(err.contains("skipped lines"), "{err}");

    // Nothing secret that is not an account hash leaks out.
    let all_output = stdout(&o) + &err;
    for secret in ["Summer2024!", "Spring2024!", "svc_sql", "4100420043004400"] {
        assert!(!all_output.contains(secret), "{secret} leaked");
    }
    assert!(
        !all_output.contains("DC01$:"),
        "machine secret from LSA leaked"
    );

    // CSV: the same verdicts, with a header and proper quoting.
    let o = run(
        &["check", "-i", p(&index), p(&input), "--format", "csv", "-q"],
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut expected = String::from("account,hash,found,count,index,status,history\n");
    for (account, hash, found, count, status, history) in expected_verdicts() {
        let index = if count > 0 { p(&index) } else { "" };
        expected.push_str(&format!(
            "{account},{hash},{found},{count},{index},{},{history}\n",
            status.unwrap_or("")
        ));
    }
    assert_same_text(&expected, &stdout(&o));
    assert_eq!(stderr(&o), "", "-q prints nothing on success");

    // Text: found accounts only, ACCOUNT:HASH:COUNT.
    let o = run(&["check", "-i", p(&index), p(&input), "-q"], b"");
    assert_eq!(o.status.code(), Some(0));
    let expected: String = expected_verdicts()
        .into_iter()
        .filter(|v| v.2)
        .map(|(account, hash, _, count, _, _)| format!("{account}:{hash}:{count}\n"))
        .collect();
    assert_same_text(&expected, &stdout(&o));

    // Explicit --input-format pwdump and stdin give the same records.
    let o2 = run(
        &["check", "-i", p(&index), "--input-format", "pwdump", "-q"],
        dump.as_bytes(),
    );
    assert_same_text(&stdout(&o), &stdout(&o2));
}

#[test]
fn pwdump_needs_an_ntlm_index_and_names_the_wrong_one() {
    let dir = tempfile::tempdir().unwrap();
    let sha = build_index(
        dir.path(),
        "sha1.pwdex",
        HashKind::Sha1,
        &[("password", 5)],
        100,
    );
    let nt = build_index(
        dir.path(),
        "nt.pwdex",
        HashKind::Ntlm,
        &[("password", 5)],
        100,
    );
    let dump = secretsdump();
    // Detected pwdump against a SHA-1 index.
    let o = run(&["check", "-i", p(&sha)], dump.as_bytes());
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("pwdump input holds NT hashes"), "{err}");
    assert!(err.contains(p(&sha)) && err.contains("sha1"), "{err}");
    // Explicit pwdump, the SHA-1 index second: refused before reading input.
    let o = run(
        &[
            "check",
            "-i",
            p(&nt),
            "-i",
            p(&sha),
            "--input-format",
            "pwdump",
        ],
        dump.as_bytes(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(p(&sha)), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
}

#[test]
fn malformed_pwdump_lines_are_reported_counted_and_not_quoted() {
    let dir = tempfile::tempdir().unwrap();
    let index = build_index(dir.path(), "nt.pwdex", HashKind::Ntlm, NT_PLANTED, 100);
    let pw = hex(HashKind::Ntlm, "password");
    let text = format!(
        "[*] Dumping Domain Credentials (domain\\uid:rid:lmhash:nthash)\n\
         CORP\\ann:1201:{LM}:{pw}:::\n\
         this line is garbage hunter2\n\
         CORP\\ben:1202:{LM}:{short}:::\n\
         ben:TopSecret99\n\
         CORP\\cat:1203:{LM}:{pw}\n\
         CORP\\dan:1204:{LM}:{pw}::: (status=Enabled)\n",
        short = &pw[..31],
    );
    let input = write(dir.path(), "bad.ntds", &text);
    let o = run(
        &[
            "check",
            "-i",
            p(&index),
            p(&input),
            "--input-format",
            "pwdump",
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!("CORP\\ann:{pw}:10434004\nCORP\\dan:{pw}:10434004\n")
    );
    let err = stderr(&o);
    assert!(err.contains("bad.ntds:3: not an account line"), "{err}");
    assert!(
        err.contains("bad.ntds:4: NT hash field of account \"CORP\\\\ben\""),
        "{err}"
    );
    assert!(err.contains("bad.ntds:5: line starting \"ben:\""), "{err}");
    assert!(err.contains("bad.ntds:6: account line of"), "{err}");
    assert!(err.contains("2 found, 4 malformed"), "{err}");
    for secret in ["garbage", "hunter2", "TopSecret99"] {
        assert!(!err.contains(secret), "{secret} quoted: {err}");
    }
}

#[test]
fn plaintexts_are_found_via_sha1_and_ntlm_and_shown_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let planted = [("password", 10_434_004), ("P@ssw0rd", 201_377)];
    let sha = build_index(dir.path(), "s.pwdex", HashKind::Sha1, &planted, 1_000);
    let nt = build_index(dir.path(), "n.pwdex", HashKind::Ntlm, &planted, 1_000);
    // CRLF and LF lines, an empty line, blanks kept inside a password, invalid UTF-8.
    let mut input = b"password\r\nP@ssw0rd\nnot in any corpus 7c1d\n\n P@ssw0rd\n".to_vec();
    input.extend_from_slice(b"caf\xe9-secret\n");
    for (index, kind) in [(&sha, HashKind::Sha1), (&nt, HashKind::Ntlm)] {
        let o = run(
            &["check", "-i", p(index), "--input-format", "plain", "--all"],
            &input,
        );
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        let expected = format!(
            "{}:10434004\n{}:201377\n{}:0\n{}:0\n",
            hex(kind, "password"),
            hex(kind, "P@ssw0rd"),
            hex(kind, "not in any corpus 7c1d"),
            hex(kind, " P@ssw0rd"),
        );
        assert_same_text(&expected, &stdout(&o));
        let err = stderr(&o);
        assert!(err.contains("input: plain from 1 input"), "{err}");
        assert!(err.contains("2 found, 1 malformed, 1 blank"), "{err}");
        assert!(
            err.contains("<stdin>:6: plaintext is not valid UTF-8"),
            "{err}"
        );
        let everything = stdout(&o) + &err;
        for secret in ["password", "P@ssw0rd", "corpus 7c1d", "secret"] {
            assert!(
                !everything.contains(secret),
                "{secret} printed: {everything}"
            );
        }

        // Asked for: text puts the plaintext first, JSON in its own field.
        let o = run(
            &[
                "check",
                "-i",
                p(index),
                "--input-format",
                "plain",
                "--show-plaintext",
                "-q",
            ],
            b"password\nP@ssw0rd\n",
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(
            stdout(&o),
            format!(
                "password:{}:10434004\nP@ssw0rd:{}:201377\n",
                hex(kind, "password"),
                hex(kind, "P@ssw0rd")
            )
        );
        let o = run(
            &[
                "check",
                "-i",
                p(index),
                "--input-format",
                "plain",
                "--show-plaintext",
                "--format",
                "jsonl",
                "-q",
            ],
            b"P@ssw0rd\n",
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["plaintext"], "P@ssw0rd");
        assert_eq!(v["count"], 201_377);
        assert_eq!(v["hash"], hex(kind, "P@ssw0rd"));
    }
    // Plaintext is never detected: without --input-format plain these are malformed.
    let o = run(&["check", "-i", p(&nt), "--max-errors", "0"], b"password\n");
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("--input-format plain"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn min_count_and_fail_on_found() {
    let dir = tempfile::tempdir().unwrap();
    let index = build_index(dir.path(), "nt.pwdex", HashKind::Ntlm, NT_PLANTED, 500);
    let nt = |pw: &str| hex(HashKind::Ntlm, pw);
    let input = format!(
        "alice:{}\nbob:{}\ncarol:{}\n",
        nt("P@ssw0rd"),
        nt("Welcome1"),
        absent(HashKind::Ntlm, 9)
    );

    // Text: below the threshold is not found.
    let o = run(
        &["check", "-i", p(&index), "--min-count", "10"],
        input.as_bytes(),
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), format!("alice:{}:201377\n", nt("P@ssw0rd")));
    assert!(
        stderr(&o).contains("1 found (count >= 10; 1 more below it)"),
        "{}",
        stderr(&o)
    );
    let o = run(
        &["check", "-i", p(&index), "--min-count", "10", "--all", "-q"],
        input.as_bytes(),
    );
    assert_eq!(
        stdout(&o),
        format!(
            "alice:{}:201377\nbob:{}:0\ncarol:{}:0\n",
            nt("P@ssw0rd"),
            nt("Welcome1"),
            absent(HashKind::Ntlm, 9)
        )
    );
    // JSON keeps the real count, with found=false.
    let o = run(
        &[
            "check",
            "-i",
            p(&index),
            "--min-count",
            "10",
            "--format",
            "jsonl",
            "-q",
        ],
        input.as_bytes(),
    );
    let rows: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        (&rows[1]["account"], &rows[1]["found"], &rows[1]["count"]),
        (&"bob".into(), &false.into(), &3.into())
    );
    assert_eq!(rows[1]["index"], p(&index));
    assert_eq!(
        (&rows[2]["found"], &rows[2]["index"]),
        (&false.into(), &serde_json::Value::Null)
    );
    // --only-found applies to jsonl too.
    let o = run(
        &[
            "check",
            "-i",
            p(&index),
            "--min-count",
            "10",
            "--format",
            "jsonl",
            "--only-found",
            "-q",
        ],
        input.as_bytes(),
    );
    assert_eq!(stdout(&o).lines().count(), 1);

    // --fail-on-found: 4 when something is found, also over malformed lines.
    let args = ["check", "-i", p(&index), "--fail-on-found", "-q"];
    assert_eq!(run(&args, input.as_bytes()).status.code(), Some(4));
    let with_bad = format!("{input}not-a-hash\n");
    assert_eq!(run(&args, with_bad.as_bytes()).status.code(), Some(4));
    let nothing = format!("{}\nnot-a-hash\n", absent(HashKind::Ntlm, 10));
    assert_eq!(run(&args, nothing.as_bytes()).status.code(), Some(3));
    let clean = format!("{}\n", absent(HashKind::Ntlm, 10));
    assert_eq!(run(&args, clean.as_bytes()).status.code(), Some(0));
    // Below --min-count is not "found" for the gate either.
    let mut strict = args.to_vec();
    strict.extend(["--min-count", "1000000"]);
    assert_eq!(
        run(&strict, format!("{}\n", nt("P@ssw0rd")).as_bytes())
            .status
            .code(),
        Some(0)
    );
    let help = run(&["check", "--help"], b"");
    assert!(
        stdout(&help).contains("4  check --fail-on-found"),
        "{}",
        stdout(&help)
    );
}

#[test]
fn several_indexes_name_the_first_that_holds_the_hash() {
    let dir = tempfile::tempdir().unwrap();
    let public = build_index(
        dir.path(),
        "public.pwdex",
        HashKind::Ntlm,
        &[("password", 10_434_004), ("P@ssw0rd", 201_377)],
        500,
    );
    let inhouse = build_index(
        dir.path(),
        "inhouse.pwdex",
        HashKind::Ntlm,
        &[("password", 2), ("Acme2024!", 7)],
        50,
    );
    let nt = |pw: &str| hex(HashKind::Ntlm, pw);
    let miss = absent(HashKind::Ntlm, 11);
    let input = format!(
        "{}\n{}\n{}\n{miss}\n",
        nt("password"),
        nt("Acme2024!"),
        nt("P@ssw0rd")
    );
    let o = run(
        &["check", "-i", p(&public), "-i", p(&inhouse), "--all"],
        input.as_bytes(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (pu, ih) = (p(&public), p(&inhouse));
    assert_eq!(
        stdout(&o),
        format!(
            "{}:10434004:{pu}\n{}:7:{ih}\n{}:201377:{pu}\n{miss}:0:\n",
            nt("password"),
            nt("Acme2024!"),
            nt("P@ssw0rd")
        )
    );
    assert!(
        stderr(&o).contains(&format!(
            "found (first index holding the hash): 2 in {pu}, 1 in {ih}"
        )),
        "{}",
        stderr(&o)
    );
    // The order given decides.
    let o = run(
        &[
            "check",
            "-i",
            p(&inhouse),
            "-i",
            p(&public),
            "--format",
            "csv",
            "-q",
        ],
        input.as_bytes(),
    );
    assert_same_text(
        &format!(
            "account,hash,found,count,index,status,history\n\
             ,{},true,2,{ih},,\n,{},true,7,{ih},,\n,{},true,201377,{pu},,\n,{miss},false,0,,,\n",
            nt("password"),
            nt("Acme2024!"),
            nt("P@ssw0rd")
        ),
        &stdout(&o),
    );
    // An index of the other kind is refused by name.
    let sha = build_index(
        dir.path(),
        "sha.pwdex",
        HashKind::Sha1,
        &[("password", 1)],
        10,
    );
    let o = run(
        &["check", "-i", p(&public), "-i", p(&sha)],
        input.as_bytes(),
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("index {} holds sha1 hashes", p(&sha))),
        "{err}"
    );
    assert_eq!(stdout(&o), "");
}

#[test]
fn csv_line_numbers_and_quotes_left_open() {
    let dir = tempfile::tempdir().unwrap();
    let index = build_index(dir.path(), "nt.pwdex", HashKind::Ntlm, NT_PLANTED, 300);
    let nt = |pw: &str| hex(HashKind::Ntlm, pw);
    let args = |input: &PathBuf| -> Vec<String> {
        [
            "check",
            "-i",
            p(&index),
            p(input),
            "--column",
            "hash",
            "--id-column",
            "id",
        ]
        .map(String::from)
        .to_vec()
    };
    let check = |input: &PathBuf| {
        let a = args(input);
        run(&a.iter().map(String::as_str).collect::<Vec<_>>(), b"")
    };
    // Bad rows name their own lines, with CRLF, CR and LF line ends and
    // after a quoted field over two lines.
    // Empty lines between records, which the reader passes over, count.
    for end in ["\r\n", "\r", "\n"] {
        let text = format!(
            "id,hash{end}a,zz{end}\"two{end}lines\",{}{end}b,yy{end}{end}{end}c,xx{end}{end}d,ww",
            nt("password")
        );
        let input = write(dir.path(), "ends.csv", &text);
        let o = check(&input);
        assert_eq!(o.status.code(), Some(3), "{end:?}: {}", stderr(&o));
        let err = stderr(&o);
        for line in [
            "ends.csv:2: \"zz\" is not a hex hash\n",
            "ends.csv:5: \"yy\" is not a hex hash\n",
            "ends.csv:8: \"xx\" is not a hex hash\n",
            "ends.csv:10: \"ww\" is not a hex hash\n",
            "ends.csv:3: the --id-column",
        ] {
            assert!(err.contains(line), "{end:?}: {line} in {err}");
        }
    }
    // A quote left open swallows the rows after it, found hashes and all:
    // reported with the lines it covers, never silently.
    let mut text = format!("id,hash\n\"bob,{}\n", nt("password"));
    for i in 0..50 {
        text.push_str(&format!("u{i},{}\n", nt("Welcome1")));
    }
    let input = write(dir.path(), "open.csv", &text);
    let o = check(&input);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    assert!(
        stderr(&o).contains("open.csv:2: record has 1 fields")
            && stderr(&o).contains("runs over lines 2-52"),
        "{}",
        stderr(&o)
    );
    // A field with a line break cannot forge a HASH:COUNT line in the output.
    let text = format!(
        "id,hash\n\"mallory\n{}:999999\nx\",{}\n",
        nt("password"),
        nt("Welcome1")
    );
    let input = write(dir.path(), "forged.csv", &text);
    let o = check(&input);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    assert!(stderr(&o).contains("forged.csv:2: the --id-column field holds a line break"));
}

#[test]
fn csv_input_with_quoted_fields() {
    let dir = tempfile::tempdir().unwrap();
    let index = build_index(dir.path(), "nt.pwdex", HashKind::Ntlm, NT_PLANTED, 300);
    let nt = |pw: &str| hex(HashKind::Ntlm, pw);
    let miss = absent(HashKind::Ntlm, 12);
    // A BOM, quoted headers and fields with commas, quotes and a line break,
    // an empty hash, a bad hash, and a short record.
    let text = format!(
        "\u{FEFF}\"user name\",\"NT Hash\",note\r\n\
         \"Doe, Jane\",{},\"said \"\"hi\"\"\"\r\n\
         plainuser,{},\"two\nlines\"\r\n\
         nohash,,x\r\n\
         \"Roe, \"\"Rick\"\"\",{miss},\r\n\
         broken,NOT-A-HASH,x\r\n\
         short\r\n",
        nt("password"),
        nt("Welcome1").to_lowercase(),
    );
    let input = write(dir.path(), "users.csv", &text);
    let o = run(
        &[
            "check",
            "-i",
            p(&index),
            p(&input),
            "--column",
            "NT Hash",
            "--id-column",
            "user name",
            "--format",
            "csv",
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let name = p(&index);
    assert_same_text(
        &format!(
            "account,hash,found,count,index,status,history\n\
             \"Doe, Jane\",{},true,10434004,{name},,\n\
             plainuser,{},true,3,{name},,\n\
             \"Roe, \"\"Rick\"\"\",{miss},false,0,,,\n",
            nt("password"),
            nt("Welcome1"),
        ),
        &stdout(&o),
    );
    let err = stderr(&o);
    assert!(err.contains("input: csv from 1 input"), "{err}");
    assert!(
        err.contains("users.csv:7: \"NOT-A-HASH\" is not a hex hash"),
        "{err}"
    );
    assert!(err.contains("users.csv:8: record has 1 fields"), "{err}");
    assert!(err.contains("2 found, 2 malformed, 1 blank"), "{err}");
    assert!(err.contains("accounts: 3, 2 found"), "{err}");

    // JSON Lines of the same input.
    let o = run(
        &[
            "check",
            "-i",
            p(&index),
            p(&input),
            "--column",
            "NT Hash",
            "--id-column",
            "user name",
            "--format",
            "jsonl",
            "-q",
        ],
        b"",
    );
    let first: serde_json::Value =
        serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(first["account"], "Doe, Jane");
    assert_eq!(first["count"], 10_434_004);

    // A plaintext column, hashed locally; a missing column names the real ones.
    let text = "login,password\nann,password\nbo,\"Pass, word\"\n";
    let input = write(dir.path(), "pw.csv", text);
    let o = run(
        &[
            "check",
            "-i",
            p(&index),
            p(&input),
            "--plaintext-column",
            "password",
            "--id-column",
            "login",
            "-q",
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("ann:{}:10434004\n", nt("password")));
    let o = run(
        &["check", "-i", p(&index), p(&input), "--column", "hash"],
        b"",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no column \"hash\" (--column) in the header row; its columns are \"login\", \"password\""),
        "{}",
        stderr(&o)
    );
    // Column options need CSV input.
    let o = run(
        &[
            "check",
            "-i",
            p(&index),
            "--input-format",
            "hash",
            "--column",
            "x",
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn hash_input_accepts_dump_lines_and_user_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let index = build_index(
        dir.path(),
        "s.pwdex",
        HashKind::Sha1,
        &[("password", 42)],
        200,
    );
    let h = hex(HashKind::Sha1, "password");
    let miss: Key = Rng(5).key(HashKind::Sha1);
    let miss = miss.to_hex(HashKind::Sha1);
    let input = format!(
        "{h}\n{h}:12345\nalice:{h}\nbob,{}\n{miss}:1\ncarol:{miss}\n",
        h.to_lowercase()
    );
    let o = run(&["check", "-i", p(&index), "--all"], input.as_bytes());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!("{h}:42\n{h}:42\nalice:{h}:42\nbob:{h}:42\n{miss}:0\ncarol:{miss}:0\n")
    );
    let err = stderr(&o);
    assert!(err.contains("input: hash (detected)"), "{err}");
    assert!(err.contains("checked 6 hashes"), "{err}");
    assert!(err.contains("accounts: 3, 2 found"), "{err}");
}

#[test]
fn a_utf16_powershell_export_is_read() {
    // Windows PowerShell's `>` writes UTF-16LE with a byte-order mark, CRLF.
    let dir = tempfile::tempdir().unwrap();
    let index = build_index(dir.path(), "nt.pwdex", HashKind::Ntlm, NT_PLANTED, 100);
    let pw = hex(HashKind::Ntlm, "password");
    let text = format!(
        "CORP\\Jürgen:1301:{LM}:{pw}:::\r\nCORP\\kim:1302:{LM}:{}:::\r\n",
        absent(HashKind::Ntlm, 13)
    );
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        utf16.extend(unit.to_le_bytes());
    }
    let input = write(dir.path(), "export.txt", &utf16);
    let o = run(&["check", "-i", p(&index), p(&input)], b"");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("CORP\\Jürgen:{pw}:10434004\n"));
    assert!(
        stderr(&o).contains("input: pwdump (detected)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_file_with_a_utf8_byte_order_mark_reads_like_one_without() {
    // Files are read through a memory map; the mark must be skipped there
    // as it is when the same bytes come through a pipe.
    let dir = tempfile::tempdir().unwrap();
    let index = build_index(dir.path(), "nt.pwdex", HashKind::Ntlm, NT_PLANTED, 100);
    let pw = hex(HashKind::Ntlm, "password");
    let text = format!("{pw}\r\n{}\r\n{pw}", absent(HashKind::Ntlm, 7));
    let marked = [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat();
    let input = write(dir.path(), "marked.txt", &marked);
    let from_file = run(&["check", "--all", "-i", p(&index), p(&input)], b"");
    let from_pipe = run(&["check", "--all", "-i", p(&index)], &marked);
    assert_eq!(from_file.status.code(), Some(0), "{}", stderr(&from_file));
    let expected = format!(
        "{pw}:10434004\n{}:0\n{pw}:10434004\n",
        absent(HashKind::Ntlm, 7)
    );
    assert_eq!(stdout(&from_file), expected);
    assert_eq!(stdout(&from_pipe), expected);
}
