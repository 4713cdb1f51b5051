//! `pwdex serve` end to end: the real binary on an ephemeral loopback port,
//! its answers compared with a `BTreeMap` reference, over a small raw
//! HTTP/1.1 client (so malformed requests can be sent too).

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use pwdex::{HashKind, Key};

// ---------------------------------------------------------------------------
// Server process and client
// ---------------------------------------------------------------------------

/// A running `pwdex serve`; killed when dropped.
struct Server {
    child: Child,
    addr: String,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = pwdex()
            .arg("serve")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pwdex serve starts");
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix("pwdex: listening on http://") {
                        let addr = addr.trim().to_string();
                        return Server {
                            child,
                            addr,
                            stderr: rx,
                        };
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("server did not report its address; stderr: {seen:#?}");
                }
            }
        }
    }

    fn client(&self) -> Client {
        Client::connect(&self.addr)
    }

    fn signal(&self, name: &str) {
        // The shell's builtin `kill`: no dependency on procps or libc.
        let status = std::process::Command::new("sh")
            .args(["-c", &format!("kill -{name} {}", self.child.id())])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for a stderr line containing `needle`.
    fn wait_for_log(&self, needle: &str) -> String {
        loop {
            let line = self
                .stderr
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no log line containing {needle:?}"));
            if line.contains(needle) {
                return line;
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8 body")
    }
}

/// A keep-alive HTTP/1.1 client over one connection.
struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: &str) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Client {
            reader: BufReader::new(stream),
        }
    }

    /// Sends bytes; a write error is ignored because a server may rightly
    /// answer and close before a request is complete (413, 431, 408): the
    /// reply that follows is what the tests assert on.
    fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.reader.get_mut().write_all(bytes);
    }

    fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.send_raw(&bytes);
        self.read_reply(method == "HEAD")
    }

    fn get(&mut self, target: &str, headers: &[(&str, &str)]) -> Reply {
        self.request("GET", target, headers, b"")
    }

    fn read_reply(&mut self, head_only: bool) -> Reply {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        assert!(line.starts_with("HTTP/1.1 "), "bad status line {line:?}");
        let status: u16 = line[9..12].parse().unwrap();
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (n, v) = l.split_once(':').expect("header line");
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
        let mut reply = Reply {
            status,
            headers,
            body: Vec::new(),
        };
        if !head_only && status != 304 {
            let len: usize = reply
                .header("content-length")
                .expect("content-length")
                .parse()
                .unwrap();
            reply.body = vec![0; len];
            self.reader.read_exact(&mut reply.body).unwrap();
        }
        reply
    }

    /// True when the server has closed the connection.
    fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.reader.read(&mut b), Ok(0) | Err(_))
    }
}

// ---------------------------------------------------------------------------
// Corpora
// ---------------------------------------------------------------------------

/// Random hashes plus dense prefixes holding many hashes each.
fn corpus(kind: HashKind, seed: u64) -> Corpus {
    let mut c = random_corpus(kind, 2_000, seed);
    let mut rng = Rng(seed ^ 0xD15E);
    let suffix_bits = kind.bits() - 20;
    for prefix in [0x00000u64, 0x5BAA6, 0xFFFFF] {
        for _ in 0..120 {
            let chunks = [
                rng.next(),
                rng.next() & mask(suffix_bits - 64),
                rng.next() & mask(suffix_bits.saturating_sub(128)),
            ];
            c.insert(Key::from_parts(prefix, chunks, suffix_bits), rng.count());
        }
    }
    c
}

fn mask(bits: u32) -> u64 {
    pwdex::hash::mask(bits.min(64))
}

fn prefix_of(kind: HashKind, key: &Key) -> u32 {
    key.top_bits(kind, 20) as u32
}

fn expected_range(kind: HashKind, c: &Corpus, prefix: u32) -> String {
    c.iter()
        .filter(|(k, _)| prefix_of(kind, k) == prefix)
        .map(|(k, n)| format!("{}:{n}\r\n", &k.to_hex(kind)[5..]))
        .collect()
}

/// Every prefix of the corpus, a neighbour of each, and some random ones.
fn prefixes(kind: HashKind, c: &Corpus, seed: u64) -> Vec<u32> {
    let mut set = BTreeSet::new();
    for k in c.keys() {
        set.insert(prefix_of(kind, k));
        set.insert(prefix_of(kind, k) ^ 1);
    }
    let mut rng = Rng(seed);
    for _ in 0..300 {
        set.insert((rng.next() >> 44) as u32);
    }
    set.into_iter().collect()
}

fn build_index(dir: &Path, name: &str, kind: HashKind, c: &Corpus, extra: &[&str]) -> String {
    let dump = write(dir, &format!("{name}.txt"), dump_text(kind, c, true, false));
    let index = dir.join(format!("{name}.pwdex"));
    let mut args = vec!["build", p(&dump), "-o", p(&index), "-q"];
    args.extend_from_slice(extra);
    let o = run(&args, b"");
    assert!(
        o.status.success(),
        "build: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    p(&index).to_string()
}

/// Mixed-case spelling of a prefix, varying with `i`.
fn spelled(prefix: u32, i: usize) -> String {
    let hex = format!("{prefix:05X}");
    match i % 3 {
        0 => hex,
        1 => hex.to_ascii_lowercase(),
        _ => hex
            .chars()
            .enumerate()
            .map(|(j, c)| {
                if j % 2 == 0 {
                    c.to_ascii_lowercase()
                } else {
                    c
                }
            })
            .collect(),
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    sha1: Corpus,
    ntlm: Corpus,
    sha1_index: String,
    ntlm_index: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let sha1 = corpus(HashKind::Sha1, 11);
    let ntlm = corpus(HashKind::Ntlm, 12);
    // SHA-1 with the default layout (buckets wider than a prefix at this
    // size); NTLM with 2^(22-20) buckets per prefix.
    let sha1_index = build_index(dir.path(), "sha1", HashKind::Sha1, &sha1, &[]);
    let ntlm_index = build_index(
        dir.path(),
        "ntlm",
        HashKind::Ntlm,
        &ntlm,
        &["--bucket-bits", "22"],
    );
    Fixture {
        _dir: dir,
        sha1,
        ntlm,
        sha1_index,
        ntlm_index,
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn range_answers_match_the_corpus_with_and_without_padding() {
    let f = fixture();
    let server = Server::start(&["-i", &f.sha1_index, "-i", &f.ntlm_index]);
    let mut client = server.client();
    for (kind, corpus, query) in [
        (HashKind::Sha1, &f.sha1, ""),
        (HashKind::Ntlm, &f.ntlm, "?mode=ntlm"),
    ] {
        let mut padded_totals = BTreeSet::new();
        for (i, prefix) in prefixes(kind, corpus, 5).into_iter().enumerate() {
            let want = expected_range(kind, corpus, prefix);
            let target = format!("/range/{}{query}", spelled(prefix, i));
            let r = client.get(&target, &[]);
            assert_eq!(r.status, 200, "{target}");
            assert_eq!(r.header("content-type"), Some("text/plain"));
            assert_same_text(&want, r.text());
            assert_eq!(r.text(), want, "{target}: CRLF line ends");

            if i % 4 == 0 {
                let r = client.get(&target, &[("Add-Padding", "true")]);
                assert_eq!(r.status, 200);
                let lines: Vec<&str> = r.text().split_terminator("\r\n").collect();
                assert!(
                    (800..=1000).contains(&lines.len()),
                    "{target}: {} padded lines",
                    lines.len()
                );
                padded_totals.insert(lines.len());
                let suffixes: Vec<&str> = lines.iter().map(|l| &l[..kind.hex_len() - 5]).collect();
                assert!(
                    suffixes.windows(2).all(|w| w[0] < w[1]),
                    "{target}: sorted, distinct"
                );
                assert!(
                    lines.iter().all(|l| l.len() > kind.hex_len() - 5
                        && l.as_bytes()[kind.hex_len() - 5] == b':')
                );
                let real: String = lines
                    .iter()
                    .filter(|l| !l.ends_with(":0"))
                    .map(|l| format!("{l}\r\n"))
                    .collect();
                assert_same_text(&want, &real);
            }
        }
        assert!(
            padded_totals.len() > 20,
            "padding sizes vary: {padded_totals:?}"
        );
    }
    // `mode=sha1` is the default made explicit.
    let r = client.get("/range/5BAA6?mode=sha1", &[]);
    assert_eq!(r.text(), expected_range(HashKind::Sha1, &f.sha1, 0x5BAA6));
    // Unrelated query parameters (cache busters) are ignored.
    let r = client.get("/range/5baa6?mode=ntlm&t=123", &[]);
    assert_eq!(r.text(), expected_range(HashKind::Ntlm, &f.ntlm, 0x5BAA6));
}

#[test]
fn caching_headers_and_conditional_requests() {
    let f = fixture();
    let server = Server::start(&["-i", &f.sha1_index, "-i", &f.ntlm_index, "--max-age", "600"]);
    let mut c = server.client();
    let r = c.get("/range/5BAA6", &[]);
    let etag = r.header("etag").expect("ETag").to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert_eq!(r.header("cache-control"), Some("public, max-age=600"));
    assert_eq!(r.header("vary"), Some("Add-Padding"));
    let last_modified = r
        .header("last-modified")
        .expect("Last-Modified")
        .to_string();
    assert!(last_modified.ends_with(" GMT"), "{last_modified}");

    // Same tag for another spelling of the prefix; others for other
    // prefixes, kinds and padding.
    assert_eq!(
        c.get("/range/5baa6", &[]).header("etag"),
        Some(etag.as_str())
    );
    let other = c
        .get("/range/5BAA7", &[])
        .header("etag")
        .unwrap()
        .to_string();
    let ntlm = c
        .get("/range/5BAA6?mode=ntlm", &[])
        .header("etag")
        .unwrap()
        .to_string();
    let padded = c
        .get("/range/5BAA6", &[("Add-Padding", "true")])
        .header("etag")
        .unwrap()
        .to_string();
    assert!(
        padded.starts_with("W/"),
        "padded answers vary: weak tag {padded}"
    );
    assert_eq!(BTreeSet::from([&etag, &other, &ntlm, &padded]).len(), 4);

    let r = c.get("/range/5BAA6", &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 304);
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let r = c.get(
        "/range/5BAA6",
        &[("If-None-Match", &format!("\"nope\", {etag}"))],
    );
    assert_eq!(r.status, 304);
    let r = c.get("/range/5BAA6", &[("If-None-Match", "\"nope\"")]);
    assert_eq!(r.status, 200);
    assert_eq!(
        c.get("/range/5BAA6", &[("If-None-Match", &other)]).status,
        200
    );
    let r = c.get(
        "/range/5BAA6",
        &[("If-None-Match", &padded), ("Add-Padding", "true")],
    );
    assert_eq!(r.status, 304);
    assert_eq!(
        c.get("/range/5BAA6", &[("If-Modified-Since", &last_modified)])
            .status,
        304
    );
    assert_eq!(
        c.get(
            "/range/5BAA6",
            &[("If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")]
        )
        .status,
        200
    );

    // A rebuilt index changes the tag once the server reloads (SIGHUP).
    let mut changed = f.sha1.clone();
    let first = *changed.keys().next().unwrap();
    changed.insert(first, 424242);
    let dir = Path::new(&f.sha1_index).parent().unwrap();
    build_index(dir, "sha1", HashKind::Sha1, &changed, &[]);
    server.signal("HUP");
    server.wait_for_log("reloaded");
    let prefix = prefix_of(HashKind::Sha1, &first);
    let r = c.get(&format!("/range/{prefix:05X}"), &[]);
    assert_eq!(r.text(), expected_range(HashKind::Sha1, &changed, prefix));
    assert!(r.text().contains(":424242\r\n"));
    let r = c.get("/range/5BAA6", &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 200, "old tag no longer matches after a rebuild");
    assert_ne!(r.header("etag"), Some(etag.as_str()));
}

#[test]
fn bad_requests_get_4xx_and_the_server_survives() {
    let f = fixture();
    let server = Server::start(&["-i", &f.sha1_index, "--max-body", "1000"]);
    let mut c = server.client();
    for bad in [
        "/range/5BAA",
        "/range/5BAA61",
        "/range/5BAG6",
        "/range/",
        "/range",
        "/range/5BAA6/",
        "/range/%35BAA6",
        "/range/+BAA6",
        "/range/5BAA6/x",
        "/range/%00%00%00%00%00",
    ] {
        let r = c.get(bad, &[]);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert!(r.text().contains("5 hex digits"), "{bad}");
    }
    let r = c.get("/range/5BAA6?mode=md5", &[]);
    assert_eq!(r.status, 400);
    let r = c.get("/range/5BAA6?mode=ntlm", &[]);
    assert_eq!(r.status, 404, "no NTLM index loaded");
    assert!(r.text().contains("no NTLM index"), "{}", r.text());
    assert_eq!(c.get("/nope", &[]).status, 404);
    assert_eq!(c.get("/", &[]).status, 404);

    for (method, target, allow) in [
        ("POST", "/range/5BAA6", "GET, HEAD"),
        ("DELETE", "/range/5BAA6", "GET, HEAD"),
        ("GET", "/check", "POST"),
        ("PUT", "/health", "GET, HEAD"),
        ("POST", "/metrics", "GET, HEAD"),
    ] {
        let r = c.request(method, target, &[], b"");
        assert_eq!(r.status, 405, "{method} {target}");
        assert_eq!(r.header("allow"), Some(allow));
    }
    // HEAD has the headers of GET and no body.
    let r = c.request("HEAD", "/range/5BAA6", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.header("etag").is_some());

    // /check: bad JSON, bad hashes, both or neither field, plaintext refused.
    for (body, status) in [
        (&b"{"[..], 400),
        (b"[]", 400),
        (b"{\"hashes\": [\"XYZ\"]}", 400),
        (
            b"{\"hashes\": [\"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FDZ\"]}",
            400,
        ),
        (b"{\"hashes\": 5}", 400),
        (b"{}", 400),
        (b"{\"hashes\": [], \"passwords\": []}", 400),
        (b"{\"hashes\": [], \"extra\": 1}", 400),
        (b"{\"passwords\": [\"password\"]}", 403),
        (b"{\"hashes\": [\"8846F7EAEE8FB117AD06BDD830B7586C\"]}", 404),
        (b"\xff\xfe", 400),
    ] {
        let r = c.request("POST", "/check", &[], body);
        assert_eq!(
            r.status,
            status,
            "{}: {}",
            String::from_utf8_lossy(body),
            r.text()
        );
    }
    // Over the body limit: 413, by Content-Length or by what arrives.
    let big = format!("{{\"hashes\": [{}]}}", vec!["\"00\""; 400].join(","));
    let r = c.request("POST", "/check", &[], big.as_bytes());
    assert_eq!(r.status, 413);
    let mut c = server.client();
    c.send_raw(b"POST /check HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    let chunk = vec![b' '; 600];
    for _ in 0..2 {
        c.send_raw(format!("{:x}\r\n", chunk.len()).as_bytes());
        c.send_raw(&chunk);
        c.send_raw(b"\r\n");
    }
    c.send_raw(b"0\r\n\r\n");
    assert_eq!(c.read_reply(false).status, 413);

    // Malformed at the HTTP level: hyper answers 400 or 431 and closes.
    for raw in [
        &b"GET /range/\xff\xfe\xfd\xfc\xfb HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"GARBAGE\r\n\r\n",
        b"GET /range/5BAA6 HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /range/5BAA6 HTTP/1.1\r\nBad Header\r\n\r\n",
    ] {
        let mut c = server.client();
        c.send_raw(raw);
        let r = c.read_reply(true);
        assert!(
            (400..500).contains(&r.status),
            "{:?}: {}",
            String::from_utf8_lossy(raw),
            r.status
        );
    }
    let mut c = server.client();
    let huge = format!(
        "GET /range/5BAA6 HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 << 10)
    );
    c.send_raw(huge.as_bytes());
    assert_eq!(c.read_reply(true).status, 431);
    let mut c = server.client();
    let many: String = (0..100).map(|i| format!("X-{i}: 1\r\n")).collect();
    c.send_raw(format!("GET /range/5BAA6 HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes());
    assert_eq!(c.read_reply(true).status, 431);

    // Still alive and answering.
    let mut c = server.client();
    assert_eq!(
        c.get("/range/5BAA6", &[]).text(),
        expected_range(HashKind::Sha1, &f.sha1, 0x5BAA6)
    );
    assert_eq!(c.get("/health", &[]).status, 200);
}

#[test]
fn slow_clients_are_cut_off() {
    let f = fixture();
    let server = Server::start(&["-i", &f.sha1_index, "--timeout", "500ms"]);
    // A head that never completes.
    let mut c = server.client();
    c.send_raw(b"GET /range/5BAA6 HTTP/1.1\r\nHost: x\r\n");
    let started = std::time::Instant::now();
    assert!(c.is_closed());
    assert!(started.elapsed() < Duration::from_secs(10));
    // An idle keep-alive connection.
    let mut c = server.client();
    assert_eq!(c.get("/health", &[]).status, 200);
    assert!(c.is_closed());
    // A body that never arrives.
    let mut c = server.client();
    c.send_raw(b"POST /check HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"hashes\"");
    assert_eq!(c.read_reply(false).status, 408);
    assert_eq!(server.client().get("/health", &[]).status, 200);
}

#[test]
fn check_health_and_metrics() {
    let f = fixture();
    let server = Server::start(&[
        "-i",
        &f.sha1_index,
        "-i",
        &f.ntlm_index,
        "--allow-plaintext",
    ]);
    let mut c = server.client();
    let mut hashes = Vec::new();
    let mut want = Vec::new();
    for (kind, corpus, seed) in [(HashKind::Sha1, &f.sha1, 1), (HashKind::Ntlm, &f.ntlm, 2)] {
        for q in queries(kind, corpus, 300, seed) {
            let hex = q.to_hex(kind);
            hashes.push(if seed == 1 {
                hex.to_ascii_lowercase()
            } else {
                hex.clone()
            });
            want.push((hex, corpus.get(&q).copied()));
        }
    }
    let body = serde_json::json!({ "hashes": hashes }).to_string();
    let r = c.request(
        "POST",
        "/check",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), want.len());
    for (got, (hex, count)) in results.iter().zip(&want) {
        assert_eq!(got["hash"], hex.as_str());
        assert_eq!(got["found"], count.is_some(), "{hex}");
        assert_eq!(got["count"], count.unwrap_or(0), "{hex}");
    }
    assert!(want.iter().any(|w| w.1.is_some()) && want.iter().any(|w| w.1.is_none()));

    // Plaintexts (allowed here) are hashed with the requested kind.
    let r = c.request(
        "POST",
        "/check",
        &[],
        br#"{"passwords": ["password", "P@ssw0rd"], "mode": "ntlm"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["results"][0]["hash"], "8846F7EAEE8FB117AD06BDD830B7586C");
    assert_eq!(v["results"][1]["hash"], "E19CCF75EE54E06B06A5907AF13CEF42");
    let r = c.request("POST", "/check", &[], br#"{"passwords": []}"#);
    assert_eq!(r.text(), r#"{"results":[]}"#);

    let r = c.get("/health", &[]);
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["status"], "ok");
    let kinds: Vec<(&str, u64)> = v["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["kind"].as_str().unwrap(), i["records"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("sha1", f.sha1.len() as u64), ("ntlm", f.ntlm.len() as u64)]
    );

    c.get("/range/00000", &[]);
    c.get("/range/0000", &[]);
    c.get("/range/00000?mode=ntlm", &[]);
    c.request("POST", "/health", &[], b"");
    let m = c.get("/metrics", &[]);
    assert_eq!(m.status, 200);
    assert!(m.header("content-type").unwrap().starts_with("text/plain"));
    let text = m.text();
    for line in [
        "pwdex_http_requests_total{endpoint=\"range\",status=\"200\"} 2",
        "pwdex_http_requests_total{endpoint=\"range\",status=\"400\"} 1",
        "pwdex_http_requests_total{endpoint=\"check\",status=\"200\"} 3",
        "pwdex_http_requests_total{endpoint=\"health\",status=\"200\"} 1",
        "pwdex_http_requests_total{endpoint=\"health\",status=\"405\"} 1",
        "pwdex_http_request_duration_seconds_count{endpoint=\"range\"} 3",
        "pwdex_http_request_duration_seconds_bucket{endpoint=\"range\",le=\"+Inf\"} 3",
        "# TYPE pwdex_http_request_duration_seconds histogram",
        &format!("pwdex_index_records{{kind=\"sha1\"}} {}", f.sha1.len()),
        &format!("pwdex_index_records{{kind=\"ntlm\"}} {}", f.ntlm.len()),
        "pwdex_index_build_time_seconds{kind=\"ntlm\"} ",
    ] {
        assert!(text.contains(line), "metrics lack {line:?}:\n{text}");
    }
}

#[test]
fn startup_errors_and_graceful_shutdown() {
    let f = fixture();
    // Two indexes of one kind: an error naming both files.
    let o = run(
        &[
            "serve",
            "-i",
            &f.sha1_index,
            "-i",
            &f.sha1_index,
            "--listen",
            "127.0.0.1:0",
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.matches(f.sha1_index.as_str()).count() == 2 && err.contains("both sha1"),
        "{err}"
    );
    let o = run(
        &[
            "serve",
            "-i",
            "/nonexistent.pwdex",
            "--listen",
            "127.0.0.1:0",
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent.pwdex"));

    // SIGTERM: stops accepting, finishes, exits 0.
    let mut server = Server::start(&["-i", &f.ntlm_index]);
    let mut idle = server.client();
    assert_eq!(idle.get("/range/00000?mode=ntlm", &[]).status, 200);
    let r = idle.get("/range/00000", &[]);
    assert_eq!(r.status, 404, "no SHA-1 index loaded");
    server.signal("TERM");
    server.wait_for_log("stopped");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(idle.is_closed());
}
