/*!
`pwdex serve`: a local stand-in for the Pwned Passwords range API.

This module is part of the binary, not the library, so that the library does
not carry the async stack (tokio + hyper). Everything it answers comes from
library calls: [`pwdex::range`] writes range bodies and [`Index::get_many`]
answers batches.

# Endpoints

| request | answer |
|---|---|
| `GET /range/{5 hex}` | `SUFFIX:COUNT\r\n` lines from the SHA-1 index, `text/plain`; the prefix is case-insensitive |
| `GET /range/{5 hex}?mode=ntlm` | the same from the NTLM index |
| `Add-Padding: true` header | pads the range to 800–1,000 lines with count-0 suffixes |
| `If-None-Match` / `If-Modified-Since` | `304` when the client's copy is current |
| `POST /check` | JSON `{"hashes": [...]}` (or `{"passwords": [...]}` with `--allow-plaintext`) → `{"results": [{"hash", "found", "count"}]}` |
| `GET /health` | JSON: the loaded indexes |
| `GET /metrics` | Prometheus text: requests by endpoint and status, latency histograms, index gauges |

A bad prefix or mode is a `400` with a one-line reason; a mode whose index
is not loaded is a `404` that says so. A known path with the wrong method is
a `405` with `Allow`; anything else is a `404`.

# Caching

A range's `ETag` is the xxh3 of its index's header page (which holds the
checksum of every section, the build record included, so any rebuild changes
it) followed by the prefix, plus a marker for padded answers, which are
random and therefore weak (`W/"…"`). `Last-Modified` is the build record's
`built_unix`; `Cache-Control: public, max-age=…` comes from `--max-age`; and
`Vary: Add-Padding` keeps caches from mixing padded and plain answers.

# Picking up a rebuilt index

`pwdex build` writes a new file and renames it over the old path, so a
running server keeps serving the old file it has mapped (the old inode
stays valid until the server lets it go). Send `SIGHUP` to reopen every `-i`
path: the new indexes are opened and checked first and swapped in only if
all of them open, so a failed reload leaves the server serving the old ones.
Requests in flight finish on the index they started with. Restarting the
server works too.

# Limits

- Request headers: at most 16 KiB and 64 fields (`431` beyond, from hyper).
- Slow clients: the request head must arrive within `--timeout` (also the
  idle limit between keep-alive requests); a `/check` body must arrive
  within `--timeout` (`408`); a response write that makes no progress for
  `--timeout` closes the connection.
- `/check` bodies: `--max-body` bytes (`413` beyond).
- Connections: at most `--max-connections` at once; further clients wait in
  the listen backlog.

Rejections hyper makes before a request reaches the router (malformed
request lines, invalid bytes, oversized headers) are not counted in
`/metrics`.

# Shutdown

`SIGINT` (Ctrl-C) or `SIGTERM` stops accepting, lets requests in flight
finish and closes idle keep-alive connections, waiting at most 10 seconds.
*/

use std::cell::RefCell;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::{Buf, Bytes};
use clap::Args;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use xxhash_rust::xxh3::xxh3_64;

use pwdex::format::PAGE;
use pwdex::hash::parse_hex_key;
use pwdex::range::{self, RangeWriter};
use pwdex::{Error, HashKind, Index, Key};

/// How long shutdown waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Largest request head (request line and headers) accepted.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most header fields accepted in one request.
const MAX_HEADERS: usize = 64;
/// `/check` batches larger than this run on the blocking pool, so one big
/// batch (milliseconds) does not stall the range requests queued behind it.
const INLINE_CHECK_KEYS: usize = 4096;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// An index to serve; give -i twice to serve a SHA-1 and an NTLM index together.
    #[arg(short, long = "index", value_name = "INDEX", required = true)]
    index: Vec<PathBuf>,
    /// Address to listen on (an address other than loopback exposes the server to the network).
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Accept {"passwords": [...]} in POST /check (plaintexts are hashed, never logged).
    #[arg(long)]
    allow_plaintext: bool,
    /// Cache-Control max-age of range answers, in seconds.
    #[arg(long, default_value_t = 86_400)]
    max_age: u64,
    /// Limit for a slow client: to send a request head, to send a /check body, or to read a response.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Largest POST /check body in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_body: usize,
    /// Most connections served at once.
    #[arg(long, default_value_t = 4096)]
    max_connections: usize,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

/// Settings derived from the arguments; building them does no I/O.
#[derive(Clone, Debug)]
struct Settings {
    paths: Vec<PathBuf>,
    listen: SocketAddr,
    allow_plaintext: bool,
    cache_control: HeaderValue,
    timeout: Duration,
    max_body: usize,
    max_connections: usize,
    threads: usize,
}

impl Settings {
    fn from_args(args: ServeArgs) -> Result<Settings, Error> {
        if args.index.len() > 2 {
            return Err(Error::Usage(format!(
                "{} indexes given; serve at most one SHA-1 and one NTLM index",
                args.index.len()
            )));
        }
        if args.timeout.is_zero() {
            return Err(Error::Usage("--timeout must be above zero".into()));
        }
        if args.max_body == 0 || args.max_connections == 0 || args.threads == Some(0) {
            return Err(Error::Usage(
                "--max-body, --max-connections and --threads must be at least 1".into(),
            ));
        }
        let cache_control = HeaderValue::from_str(&format!("public, max-age={}", args.max_age))
            .expect("digits are a valid header value");
        Ok(Settings {
            paths: args.index,
            listen: args.listen,
            allow_plaintext: args.allow_plaintext,
            cache_control,
            timeout: args.timeout,
            max_body: args.max_body,
            max_connections: args.max_connections,
            threads: args
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        })
    }
}

// ---------------------------------------------------------------------------
// Indexes
// ---------------------------------------------------------------------------

/// One open index and the response headers derived from it.
struct ServedIndex {
    index: Index<memmap2::Mmap>,
    /// xxh3 of the header page: changes whenever the index is rebuilt.
    identity: u64,
    built_unix: u64,
    last_modified: HeaderValue,
}

impl ServedIndex {
    fn open(path: &Path) -> Result<ServedIndex, Error> {
        let index = Index::open(path)?;
        let identity = xxh3_64(&index.bytes()[..PAGE as usize]);
        let built_unix = index.build_record()?["built_unix"].as_u64().unwrap_or(0);
        let built = UNIX_EPOCH + Duration::from_secs(built_unix);
        let last_modified = HeaderValue::from_str(&httpdate::fmt_http_date(built))
            .expect("HTTP dates are valid header values");
        Ok(ServedIndex {
            index,
            identity,
            built_unix,
            last_modified,
        })
    }

    /// `"<identity>-<prefix>"`, or `W/"<identity>-<prefix>p"` for padded answers.
    fn etag(&self, prefix: u32, padding: bool) -> HeaderValue {
        let mut tag = [0u8; 2 + 1 + 16 + 1 + 5 + 1 + 1];
        let mut at = 0;
        let mut push = |bytes: &[u8]| {
            tag[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        if padding {
            push(b"W/");
        }
        push(b"\"");
        push(hex16(self.identity).as_slice());
        push(b"-");
        push(&range::prefix_hex(prefix));
        if padding {
            push(b"p");
        }
        push(b"\"");
        HeaderValue::from_bytes(&tag[..at]).expect("ASCII")
    }
}

/// 16 lower-case hex digits of `v`.
fn hex16(v: u64) -> [u8; 16] {
    let digits = b"0123456789abcdef";
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = digits[(v >> (60 - 4 * i) & 0xF) as usize];
    }
    out
}

/// The indexes being served: at most one per hash kind.
struct Indexes {
    sha1: Option<(PathBuf, ServedIndex)>,
    ntlm: Option<(PathBuf, ServedIndex)>,
}

impl Indexes {
    fn open(paths: &[PathBuf]) -> Result<Indexes, Error> {
        let mut set = Indexes {
            sha1: None,
            ntlm: None,
        };
        for path in paths {
            let served = ServedIndex::open(path)?;
            let kind = served.index.kind();
            let slot = match kind {
                HashKind::Sha1 => &mut set.sha1,
                HashKind::Ntlm => &mut set.ntlm,
            };
            if let Some((other, _)) = slot {
                return Err(Error::Usage(format!(
                    "{} and {} are both {kind} indexes; serve at most one SHA-1 and one NTLM index",
                    other.display(),
                    path.display()
                )));
            }
            *slot = Some((path.clone(), served));
        }
        Ok(set)
    }

    fn get(&self, kind: HashKind) -> Option<&ServedIndex> {
        match kind {
            HashKind::Sha1 => self.sha1.as_ref().map(|(_, s)| s),
            HashKind::Ntlm => self.ntlm.as_ref().map(|(_, s)| s),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &(PathBuf, ServedIndex)> {
        self.sha1.iter().chain(self.ntlm.iter())
    }

    fn describe(&self) -> String {
        self.iter()
            .map(|(path, s)| {
                format!(
                    "{} ({} {} records)",
                    path.display(),
                    s.index.len(),
                    s.index.kind()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    Range,
    Check,
    Health,
    Metrics,
    Other,
}

impl Endpoint {
    const ALL: [Endpoint; 5] = [
        Endpoint::Range,
        Endpoint::Check,
        Endpoint::Health,
        Endpoint::Metrics,
        Endpoint::Other,
    ];

    fn name(self) -> &'static str {
        match self {
            Endpoint::Range => "range",
            Endpoint::Check => "check",
            Endpoint::Health => "health",
            Endpoint::Metrics => "metrics",
            Endpoint::Other => "other",
        }
    }
}

/// Statuses counted individually; anything else is counted as "other".
const STATUSES: [u16; 11] = [200, 304, 400, 403, 404, 405, 408, 413, 500, 503, 0];
/// Upper bounds of the latency histogram buckets, in nanoseconds.
const LATENCY_BOUNDS_NS: [u64; 14] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    100_000_000,
    250_000_000,
    1_000_000_000,
];
const ENDPOINTS: usize = Endpoint::ALL.len();

/// Counters behind `/metrics`; relaxed atomics, no locks on the request path.
struct Metrics {
    requests: [[AtomicU64; STATUSES.len()]; ENDPOINTS],
    latency: [[AtomicU64; LATENCY_BOUNDS_NS.len() + 1]; ENDPOINTS],
    latency_sum_ns: [AtomicU64; ENDPOINTS],
    connections_accepted: AtomicU64,
    connections_closed: AtomicU64,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
    started: Instant,
}

impl Metrics {
    fn new() -> Metrics {
        Metrics {
            requests: [const { [const { AtomicU64::new(0) }; STATUSES.len()] }; ENDPOINTS],
            latency: [const { [const { AtomicU64::new(0) }; LATENCY_BOUNDS_NS.len() + 1] };
                ENDPOINTS],
            latency_sum_ns: [const { AtomicU64::new(0) }; ENDPOINTS],
            connections_accepted: AtomicU64::new(0),
            connections_closed: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    fn record(&self, endpoint: Endpoint, status: StatusCode, elapsed: Duration) {
        let e = endpoint as usize;
        let s = STATUSES
            .iter()
            .position(|&c| c == status.as_u16())
            .unwrap_or(STATUSES.len() - 1);
        self.requests[e][s].fetch_add(1, Ordering::Relaxed);
        let ns = elapsed.as_nanos().min(u64::MAX as u128) as u64;
        let b = LATENCY_BOUNDS_NS
            .iter()
            .position(|&bound| ns <= bound)
            .unwrap_or(LATENCY_BOUNDS_NS.len());
        self.latency[e][b].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ns[e].fetch_add(ns, Ordering::Relaxed);
    }

    fn render(&self, indexes: &Indexes) -> String {
        let mut s = String::with_capacity(8 << 10);
        s.push_str(
            "# HELP pwdex_http_requests_total HTTP requests answered, by endpoint and status.\n",
        );
        s.push_str("# TYPE pwdex_http_requests_total counter\n");
        for endpoint in Endpoint::ALL {
            for (i, status) in STATUSES.iter().enumerate() {
                let n = self.requests[endpoint as usize][i].load(Ordering::Relaxed);
                if n == 0 && *status != 200 {
                    continue;
                }
                let status = if *status == 0 {
                    "other".to_string()
                } else {
                    status.to_string()
                };
                let _ = writeln!(
                    s,
                    "pwdex_http_requests_total{{endpoint=\"{}\",status=\"{status}\"}} {n}",
                    endpoint.name()
                );
            }
        }
        s.push_str(
            "# HELP pwdex_http_request_duration_seconds Time from request head to response head.\n",
        );
        s.push_str("# TYPE pwdex_http_request_duration_seconds histogram\n");
        for endpoint in Endpoint::ALL {
            let e = endpoint as usize;
            let name = endpoint.name();
            let mut cumulative = 0;
            for (b, counter) in self.latency[e].iter().enumerate() {
                cumulative += counter.load(Ordering::Relaxed);
                let le = match LATENCY_BOUNDS_NS.get(b) {
                    Some(ns) => format!("{}", *ns as f64 / 1e9),
                    None => "+Inf".to_string(),
                };
                let _ = writeln!(
                    s,
                    "pwdex_http_request_duration_seconds_bucket{{endpoint=\"{name}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let sum = self.latency_sum_ns[e].load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                s,
                "pwdex_http_request_duration_seconds_sum{{endpoint=\"{name}\"}} {sum}\n\
                 pwdex_http_request_duration_seconds_count{{endpoint=\"{name}\"}} {cumulative}"
            );
        }
        let accepted = self.connections_accepted.load(Ordering::Relaxed);
        let closed = self.connections_closed.load(Ordering::Relaxed);
        let _ = write!(
            s,
            "# HELP pwdex_connections_accepted_total TCP connections accepted.\n\
             # TYPE pwdex_connections_accepted_total counter\n\
             pwdex_connections_accepted_total {accepted}\n\
             # HELP pwdex_connections_open TCP connections open now.\n\
             # TYPE pwdex_connections_open gauge\n\
             pwdex_connections_open {}\n\
             # HELP pwdex_index_reloads_total Index reloads (SIGHUP), by result.\n\
             # TYPE pwdex_index_reloads_total counter\n\
             pwdex_index_reloads_total{{result=\"ok\"}} {}\n\
             pwdex_index_reloads_total{{result=\"failed\"}} {}\n\
             # HELP pwdex_uptime_seconds Seconds since the server started.\n\
             # TYPE pwdex_uptime_seconds gauge\n\
             pwdex_uptime_seconds {:.3}\n",
            accepted.saturating_sub(closed),
            self.reloads.load(Ordering::Relaxed),
            self.reload_failures.load(Ordering::Relaxed),
            self.started.elapsed().as_secs_f64(),
        );
        s.push_str("# HELP pwdex_index_records Distinct hashes in each served index.\n");
        s.push_str("# TYPE pwdex_index_records gauge\n");
        for (_, served) in indexes.iter() {
            let _ = writeln!(
                s,
                "pwdex_index_records{{kind=\"{}\"}} {}",
                served.index.kind(),
                served.index.len()
            );
        }
        s.push_str("# HELP pwdex_index_build_time_seconds Build time of each served index (Unix seconds).\n");
        s.push_str("# TYPE pwdex_index_build_time_seconds gauge\n");
        for (_, served) in indexes.iter() {
            let _ = writeln!(
                s,
                "pwdex_index_build_time_seconds{{kind=\"{}\"}} {}",
                served.index.kind(),
                served.built_unix
            );
        }
        s
    }
}

// ---------------------------------------------------------------------------
// Response bodies from a buffer pool
// ---------------------------------------------------------------------------

/// Range bodies are written into pooled buffers that return to the pool when
/// hyper has written them out, so a steady stream of range requests does not
/// allocate for bodies.
struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
}

/// Buffers kept for reuse (one per connection in flight is plenty).
const POOL_BUFFERS: usize = 1024;
/// Buffers that grew beyond this are freed instead of kept.
const POOL_MAX_CAPACITY: usize = 1 << 20;

static POOL: BufferPool = BufferPool {
    free: Mutex::new(Vec::new()),
};

impl BufferPool {
    fn take(&'static self) -> PooledBuf {
        let buf = self
            .free
            .lock()
            .map(|mut f| f.pop())
            .ok()
            .flatten()
            .unwrap_or_else(|| Vec::with_capacity(64 << 10));
        PooledBuf { buf, pos: 0 }
    }

    fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() > POOL_MAX_CAPACITY {
            return;
        }
        buf.clear();
        if let Ok(mut free) = self.free.lock()
            && free.len() < POOL_BUFFERS
        {
            free.push(buf);
        }
    }
}

/// A pooled buffer being written out.
struct PooledBuf {
    buf: Vec<u8>,
    pos: usize,
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        POOL.give(std::mem::take(&mut self.buf));
    }
}

/// The data of a response body.
enum Chunk {
    Pooled(PooledBuf),
    Bytes(Bytes),
}

impl Buf for Chunk {
    fn remaining(&self) -> usize {
        match self {
            Chunk::Pooled(p) => p.buf.len() - p.pos,
            Chunk::Bytes(b) => b.remaining(),
        }
    }

    fn chunk(&self) -> &[u8] {
        match self {
            Chunk::Pooled(p) => &p.buf[p.pos..],
            Chunk::Bytes(b) => b.chunk(),
        }
    }

    fn advance(&mut self, n: usize) {
        match self {
            Chunk::Pooled(p) => {
                assert!(n <= p.buf.len() - p.pos, "advance past the end");
                p.pos += n;
            }
            Chunk::Bytes(b) => b.advance(n),
        }
    }
}

/// A response body: one chunk, or nothing.
struct Body(Option<Chunk>);

impl Body {
    fn empty() -> Body {
        Body(None)
    }

    fn chunk(chunk: Chunk) -> Body {
        if chunk.remaining() == 0 {
            Body(None)
        } else {
            Body(Some(chunk))
        }
    }
}

impl hyper::body::Body for Body {
    type Data = Chunk;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Chunk>, Infallible>>> {
        Poll::Ready(self.get_mut().0.take().map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.as_ref().map_or(0, |c| c.remaining() as u64))
    }
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

struct App {
    settings: Settings,
    indexes: RwLock<Arc<Indexes>>,
    metrics: Metrics,
}

impl App {
    fn indexes(&self) -> Arc<Indexes> {
        self.indexes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn reload(&self) {
        match Indexes::open(&self.settings.paths) {
            Ok(fresh) => {
                let described = fresh.describe();
                *self.indexes.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
                self.metrics.reloads.fetch_add(1, Ordering::Relaxed);
                // Only after the swap, so that whoever reads this line gets
                // the new indexes from then on.
                eprintln!("pwdex: SIGHUP: reloaded {described}");
            }
            Err(e) => {
                eprintln!("pwdex: SIGHUP: reload failed, still serving the old indexes: {e}");
                self.metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

thread_local! {
    /// Each worker thread keeps its own padding state and scratch space.
    static RANGE_WRITER: RefCell<RangeWriter> = RefCell::new(RangeWriter::new());
}

static TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain");
static TEXT_UTF8: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
static JSON: HeaderValue = HeaderValue::from_static("application/json");
static PROMETHEUS: HeaderValue = HeaderValue::from_static("text/plain; version=0.0.4");
static VARY_PADDING: HeaderValue = HeaderValue::from_static("Add-Padding");
static ANY_ORIGIN: HeaderValue = HeaderValue::from_static("*");
static CLOSE: HeaderValue = HeaderValue::from_static("close");
static GET_HEAD: HeaderValue = HeaderValue::from_static("GET, HEAD");
static POST: HeaderValue = HeaderValue::from_static("POST");

/// A short plain-text answer, used for every error.
fn text(status: StatusCode, message: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Body::chunk(Chunk::Bytes(message.into())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, TEXT_UTF8.clone());
    r
}

fn json(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Body::chunk(Chunk::Bytes(body.into())));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, JSON.clone());
    r
}

fn method_not_allowed(allow: &HeaderValue) -> Response<Body> {
    let mut r = text(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed; use {}\n", allow.to_str().unwrap_or("")),
    );
    r.headers_mut().insert(header::ALLOW, allow.clone());
    r
}

async fn handle(app: Arc<App>, req: Request<Incoming>) -> Response<Body> {
    let started = Instant::now();
    let (endpoint, response) = route(&app, req).await;
    app.metrics
        .record(endpoint, response.status(), started.elapsed());
    response
}

async fn route(app: &Arc<App>, req: Request<Incoming>) -> (Endpoint, Response<Body>) {
    let path = req.uri().path();
    let is_get = matches!(*req.method(), Method::GET | Method::HEAD);
    if let Some(prefix) = path.strip_prefix("/range/") {
        let r = if is_get {
            range_answer(app, &req, prefix)
        } else {
            method_not_allowed(&GET_HEAD)
        };
        return (Endpoint::Range, r);
    }
    match path {
        "/range" => (Endpoint::Range, bad_prefix()),
        "/check" if *req.method() == Method::POST => (Endpoint::Check, check(app, req).await),
        "/check" => (Endpoint::Check, method_not_allowed(&POST)),
        "/health" if is_get => (Endpoint::Health, health(app)),
        "/metrics" if is_get => {
            let body = app.metrics.render(&app.indexes());
            let mut r = text(StatusCode::OK, body);
            r.headers_mut()
                .insert(header::CONTENT_TYPE, PROMETHEUS.clone());
            (Endpoint::Metrics, r)
        }
        "/health" => (Endpoint::Health, method_not_allowed(&GET_HEAD)),
        "/metrics" => (Endpoint::Metrics, method_not_allowed(&GET_HEAD)),
        _ => (
            Endpoint::Other,
            text(
                StatusCode::NOT_FOUND,
                "not found; this server answers GET /range/{5 hex}, POST /check, GET /health and GET /metrics\n",
            ),
        ),
    }
}

fn bad_prefix() -> Response<Body> {
    text(
        StatusCode::BAD_REQUEST,
        "the prefix must be exactly 5 hex digits, as in /range/5BAA6\n",
    )
}

/// The hash kind a range request asks for: `?mode=ntlm`, or SHA-1; `None`
/// for an unknown mode.
fn range_mode(query: Option<&str>) -> Option<HashKind> {
    let mode = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("mode="));
    match mode {
        None => Some(HashKind::Sha1),
        Some(m) if m.eq_ignore_ascii_case("ntlm") => Some(HashKind::Ntlm),
        Some(m) if m.eq_ignore_ascii_case("sha1") => Some(HashKind::Sha1),
        Some(_) => None,
    }
}

fn missing_index(kind: HashKind) -> Response<Body> {
    let hint = match kind {
        HashKind::Sha1 => {
            "this server has no SHA-1 index (add ?mode=ntlm for NTLM, or start it with -i SHA1_INDEX)\n"
        }
        HashKind::Ntlm => "this server has no NTLM index (start it with -i NTLM_INDEX)\n",
    };
    text(StatusCode::NOT_FOUND, hint)
}

/// True when the client's cached copy (`If-None-Match`, or else
/// `If-Modified-Since`) is still current.
fn not_modified(headers: &HeaderMap, etag: &HeaderValue, built_unix: u64) -> bool {
    if let Some(inm) = headers.get(header::IF_NONE_MATCH) {
        // Weak comparison (RFC 9110 13.1.2): ignore `W/` on both sides.
        let ours = strip_weak(etag.as_bytes());
        return inm.as_bytes().split(|&b| b == b',').any(|candidate| {
            let c = candidate.trim_ascii();
            c == b"*" || strip_weak(c) == ours
        });
    }
    if let Some(since) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    {
        return since
            .duration_since(UNIX_EPOCH)
            .is_ok_and(|d| d.as_secs() >= built_unix);
    }
    false
}

fn strip_weak(tag: &[u8]) -> &[u8] {
    tag.strip_prefix(b"W/").unwrap_or(tag)
}

fn range_answer(app: &App, req: &Request<Incoming>, prefix: &str) -> Response<Body> {
    let Some(prefix) = range::parse_prefix(prefix.as_bytes()) else {
        return bad_prefix();
    };
    let Some(kind) = range_mode(req.uri().query()) else {
        return text(
            StatusCode::BAD_REQUEST,
            "unknown mode; use ?mode=ntlm for NTLM, or no mode for SHA-1\n",
        );
    };
    let indexes = app.indexes();
    let Some(served) = indexes.get(kind) else {
        return missing_index(kind);
    };
    let padding = req
        .headers()
        .get("add-padding")
        .is_some_and(|v| v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"true"));
    let etag = served.etag(prefix, padding);
    let mut response = if not_modified(req.headers(), &etag, served.built_unix) {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut body = POOL.take();
        let written = RANGE_WRITER.with(|w| {
            w.borrow_mut()
                .write(&served.index, prefix, padding, &mut body.buf)
        });
        if let Err(e) = written {
            eprintln!("pwdex: error: range {:05X}: {e}", prefix);
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("index error: {e}\n"),
            );
        }
        let mut r = Response::new(Body::chunk(Chunk::Pooled(body)));
        r.headers_mut()
            .insert(header::CONTENT_TYPE, TEXT_PLAIN.clone());
        r
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, etag);
    h.insert(header::CACHE_CONTROL, app.settings.cache_control.clone());
    h.insert(header::LAST_MODIFIED, served.last_modified.clone());
    h.insert(header::VARY, VARY_PADDING.clone());
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN.clone());
    response
}

fn health(app: &App) -> Response<Body> {
    let indexes = app.indexes();
    let list: Vec<serde_json::Value> = indexes
        .iter()
        .map(|(path, s)| {
            serde_json::json!({
                "kind": s.index.kind().name(),
                "path": path.display().to_string(),
                "records": s.index.len(),
                "built_unix": s.built_unix,
                "identity": format!("{:016x}", s.identity),
            })
        })
        .collect();
    let body = serde_json::json!({
        "status": "ok",
        "indexes": list,
        "uptime_seconds": app.metrics.started.elapsed().as_secs(),
    });
    json(
        StatusCode::OK,
        serde_json::to_vec(&body).expect("JSON values serialize"),
    )
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckRequest {
    hashes: Option<Vec<String>>,
    passwords: Option<Vec<String>>,
    /// For passwords: `sha1` or `ntlm` (default: SHA-1 if served, else NTLM).
    mode: Option<String>,
}

/// Why a request body could not be used.
enum BodyError {
    TooLarge(usize),
    Timeout,
    Read(hyper::Error),
}

impl BodyError {
    fn response(self) -> Response<Body> {
        let mut r = match self {
            BodyError::TooLarge(limit) => text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body above the {limit}-byte limit; split the batch\n"),
            ),
            BodyError::Timeout => text(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time\n",
            ),
            BodyError::Read(e) => text(
                StatusCode::BAD_REQUEST,
                format!("could not read the request body: {e}\n"),
            ),
        };
        // The rest of the body is unread, so the connection cannot be reused.
        r.headers_mut().insert(header::CONNECTION, CLOSE.clone());
        r
    }
}

/// Reads a request body of at most `limit` bytes within `timeout`.
async fn read_body(
    req: Request<Incoming>,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, BodyError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut body = req.into_body();
    let read = async {
        let mut buf = Vec::with_capacity(declared.unwrap_or(0) as usize);
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.map_err(BodyError::Read)?.into_data() {
                if buf.len() + data.len() > limit {
                    return Err(BodyError::TooLarge(limit));
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf)
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(BodyError::Timeout))
}

/// Shortens client text echoed in an error message.
fn excerpt(s: &str) -> String {
    let mut t: String = s.chars().take(48).collect();
    if t.len() < s.len() {
        t.push('…');
    }
    format!("{t:?}")
}

async fn check(app: &Arc<App>, req: Request<Incoming>) -> Response<Body> {
    let settings = &app.settings;
    let body = match read_body(req, settings.max_body, settings.timeout).await {
        Ok(b) => b,
        Err(e) => return e.response(),
    };
    let request: CheckRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("bad JSON ({e}); expected {{\"hashes\": [\"5BAA61E4…\", …]}}\n"),
            );
        }
    };
    let indexes = app.indexes();
    let mut keys: Vec<(HashKind, Key)> = Vec::new();
    match (request.hashes, request.passwords) {
        (Some(hashes), None) => {
            keys.reserve(hashes.len());
            for (i, h) in hashes.iter().enumerate() {
                let t = h.trim();
                let Some(kind) = HashKind::from_hex_len(t.len()) else {
                    return text(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "hashes[{i}] = {} is not a 40-hex SHA-1 or 32-hex NTLM hash\n",
                            excerpt(h)
                        ),
                    );
                };
                let Some(key) = parse_hex_key(kind, t.as_bytes()) else {
                    return text(
                        StatusCode::BAD_REQUEST,
                        format!("hashes[{i}] = {} is not hex\n", excerpt(h)),
                    );
                };
                if indexes.get(kind).is_none() {
                    return missing_index(kind);
                }
                keys.push((kind, key));
            }
        }
        (None, Some(passwords)) => {
            if !settings.allow_plaintext {
                return text(
                    StatusCode::FORBIDDEN,
                    "plaintext passwords are refused; send hashes, or start the server with --allow-plaintext\n",
                );
            }
            let kind = match request.mode.as_deref() {
                None if indexes.sha1.is_some() => HashKind::Sha1,
                None => HashKind::Ntlm,
                Some(m) => match m.parse::<HashKind>() {
                    Ok(k) => k,
                    Err(e) => return text(StatusCode::BAD_REQUEST, format!("mode: {e}\n")),
                },
            };
            if indexes.get(kind).is_none() {
                return missing_index(kind);
            }
            keys.extend(
                passwords
                    .iter()
                    .map(|p| (kind, kind.hash_plaintext(p.as_bytes()))),
            );
        }
        _ => {
            return text(
                StatusCode::BAD_REQUEST,
                "give exactly one of \"hashes\" or \"passwords\"\n",
            );
        }
    }
    let inline = keys.len() <= INLINE_CHECK_KEYS;
    let answer = move || lookup_all(&indexes, &keys);
    let result = if inline {
        answer()
    } else {
        match tokio::task::spawn_blocking(answer).await {
            Ok(r) => r,
            Err(e) => Err(format!("lookup task failed: {e}")),
        }
    };
    match result {
        Ok(body) => json(StatusCode::OK, body),
        Err(e) => {
            eprintln!("pwdex: error: /check: {e}");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("index error: {e}\n"),
            )
        }
    }
}

/// Looks every key up in the index of its kind; the JSON answer.
fn lookup_all(indexes: &Indexes, keys: &[(HashKind, Key)]) -> Result<Vec<u8>, String> {
    let mut counts = vec![None; keys.len()];
    for kind in [HashKind::Sha1, HashKind::Ntlm] {
        let Some(served) = indexes.get(kind) else {
            continue;
        };
        let positions: Vec<usize> = (0..keys.len()).filter(|&i| keys[i].0 == kind).collect();
        if positions.is_empty() {
            continue;
        }
        let wanted: Vec<Key> = positions.iter().map(|&i| keys[i].1).collect();
        let mut found = vec![None; wanted.len()];
        served
            .index
            .get_many(&wanted, &mut found)
            .map_err(|e| e.to_string())?;
        for (&i, c) in positions.iter().zip(found) {
            counts[i] = c;
        }
    }
    let mut out = Vec::with_capacity(16 + keys.len() * 72);
    out.extend_from_slice(b"{\"results\":[");
    let mut hex = [0u8; 40];
    for (i, ((kind, key), count)) in keys.iter().zip(&counts).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let hex = &mut hex[..kind.hex_len()];
        key.write_hex(*kind, hex);
        out.extend_from_slice(b"{\"hash\":\"");
        out.extend_from_slice(hex);
        let _ = write!(
            ByteWriter(&mut out),
            "\",\"found\":{},\"count\":{}}}",
            count.is_some(),
            count.unwrap_or(0)
        );
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

/// `fmt::Write` into a byte vector.
struct ByteWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------

/// A TCP stream whose writes fail once they have made no progress for
/// `timeout`, so a client that stops reading cannot hold a connection (and
/// its response buffer) forever.
struct StallGuard {
    io: TcpStream,
    timeout: Duration,
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
    stalled: bool,
}

impl StallGuard {
    fn new(io: TcpStream, timeout: Duration) -> StallGuard {
        StallGuard {
            io,
            timeout,
            stall: None,
            stalled: false,
        }
    }

    /// Called when a write is pending: arms the stall timer (once per stall)
    /// and fails the write when it fires.
    fn poll_stall<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let sleep = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.stalled {
            sleep.as_mut().reset(deadline);
            self.stalled = true;
        }
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progress<T>(&mut self, p: Poll<io::Result<T>>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match p {
            Poll::Pending => self.poll_stall(cx),
            ready => {
                self.stalled = false;
                ready
            }
        }
    }
}

impl AsyncRead for StallGuard {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for StallGuard {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let p = Pin::new(&mut this.io).poll_write(cx, buf);
        this.progress(p, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let p = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.progress(p, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let p = Pin::new(&mut this.io).poll_flush(cx);
        this.progress(p, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Runs `pwdex serve` until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> Result<u8, Error> {
    let settings = Settings::from_args(args)?;
    let indexes = Indexes::open(&settings.paths)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.threads)
        .enable_all()
        .build()
        .map_err(|e| Error::io("<tokio runtime>", e))?;
    runtime.block_on(serve(settings, indexes))
}

async fn serve(settings: Settings, indexes: Indexes) -> Result<u8, Error> {
    let listener = bind(settings.listen)
        .map_err(|e| Error::io(format!("listen address {}", settings.listen), e))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::io("<listener>", e))?;
    eprintln!("pwdex: serving {}", indexes.describe());
    eprintln!("pwdex: listening on http://{local}");

    let app = Arc::new(App {
        indexes: RwLock::new(Arc::new(indexes)),
        metrics: Metrics::new(),
        settings,
    });
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(app.settings.timeout)
        .max_header_size(MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS);
    let graceful = GracefulShutdown::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(app.settings.max_connections));

    use tokio::signal::unix::{SignalKind, signal};
    let signal_error = |e| Error::io("<signal handler>", e);
    let mut sighup = signal(SignalKind::hangup()).map_err(signal_error)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(signal_error)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(signal_error)?;

    loop {
        let accept = async {
            let permit = limit.clone().acquire_owned().await;
            (permit, listener.accept().await)
        };
        let (permit, accepted) = tokio::select! {
            biased;
            _ = sigint.recv() => { eprintln!("pwdex: SIGINT: shutting down"); break; }
            _ = sigterm.recv() => { eprintln!("pwdex: SIGTERM: shutting down"); break; }
            _ = sighup.recv() => { app.reload(); continue; }
            a = accept => a,
        };
        let permit = permit.expect("the connection semaphore is never closed");
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // Out of descriptors or a connection reset before accept:
                // back off briefly rather than spin.
                eprintln!("pwdex: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(StallGuard::new(stream, app.settings.timeout));
        let conn_app = app.clone();
        let service = service_fn(move |req| {
            let app = conn_app.clone();
            async move { Ok::<_, Infallible>(handle(app, req).await) }
        });
        let conn = graceful.watch(http.serve_connection(io, service));
        let metrics_app = app.clone();
        metrics_app
            .metrics
            .connections_accepted
            .fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            // Connection errors (resets, timeouts, malformed requests hyper
            // already answered) concern one client only.
            let _ = conn.await;
            metrics_app
                .metrics
                .connections_closed
                .fetch_add(1, Ordering::Relaxed);
            drop(permit);
        });
    }

    drop(listener);
    let open = graceful.count();
    if open > 0 {
        eprintln!("pwdex: waiting for {open} open connections");
    }
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => {
            eprintln!("pwdex: connections still open after {SHUTDOWN_GRACE:?}; closing them");
        }
        _ = sigint.recv() => eprintln!("pwdex: second SIGINT; closing connections now"),
    }
    eprintln!("pwdex: stopped");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn settings(args: &[&str]) -> Result<Settings, Error> {
        let cli = Cli::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))
            .map_err(|e| Error::Usage(e.to_string()))?;
        Settings::from_args(cli.args)
    }

    #[test]
    fn defaults() {
        let s = settings(&["-i", "a.pwdex"]).unwrap();
        assert_eq!(s.listen, "127.0.0.1:8787".parse().unwrap());
        assert_eq!(s.cache_control, "public, max-age=86400");
        assert_eq!(s.timeout, Duration::from_secs(10));
        assert_eq!(s.max_body, 1 << 20);
        assert!(!s.allow_plaintext);
        assert!(s.threads >= 1);
    }

    #[test]
    fn each_flag() {
        let s = settings(&[
            "-i",
            "a",
            "--index",
            "b",
            "--listen",
            "[::1]:0",
            "--allow-plaintext",
            "--max-age",
            "60",
            "--timeout",
            "1500ms",
            "--max-body",
            "100",
            "--max-connections",
            "7",
            "--threads",
            "3",
        ])
        .unwrap();
        assert_eq!(s.paths, [PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!(s.listen, "[::1]:0".parse().unwrap());
        assert!(s.allow_plaintext);
        assert_eq!(s.cache_control, "public, max-age=60");
        assert_eq!(s.timeout, Duration::from_millis(1500));
        assert_eq!((s.max_body, s.max_connections, s.threads), (100, 7, 3));
    }

    #[test]
    fn bad_settings_are_usage_errors() {
        for args in [
            &["--listen", "127.0.0.1:0"][..],
            &["-i", "a", "-i", "b", "-i", "c"],
            &["-i", "a", "--timeout", "0s"],
            &["-i", "a", "--threads", "0"],
            &["-i", "a", "--max-body", "0"],
            &["-i", "a", "--listen", "localhost"],
        ] {
            assert!(matches!(settings(args), Err(Error::Usage(_))), "{args:?}");
        }
    }

    #[test]
    fn range_modes() {
        assert_eq!(range_mode(None), Some(HashKind::Sha1));
        assert_eq!(range_mode(Some("")), Some(HashKind::Sha1));
        assert_eq!(range_mode(Some("mode=ntlm")), Some(HashKind::Ntlm));
        assert_eq!(range_mode(Some("x=1&mode=NTLM")), Some(HashKind::Ntlm));
        assert_eq!(range_mode(Some("mode=sha1")), Some(HashKind::Sha1));
        assert_eq!(range_mode(Some("mode=md5")), None);
        assert_eq!(range_mode(Some("mode=")), None);
    }

    #[test]
    fn conditional_requests() {
        let etag = HeaderValue::from_static("\"abc-5BAA6\"");
        let check = |name: header::HeaderName, value: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(name, HeaderValue::from_static(value));
            not_modified(&h, &etag, 1_000_000_000)
        };
        assert!(!not_modified(&HeaderMap::new(), &etag, 0));
        assert!(check(header::IF_NONE_MATCH, "\"abc-5BAA6\""));
        assert!(check(header::IF_NONE_MATCH, "W/\"abc-5BAA6\""));
        assert!(check(header::IF_NONE_MATCH, "\"x\", \"abc-5BAA6\""));
        assert!(check(header::IF_NONE_MATCH, "*"));
        assert!(!check(header::IF_NONE_MATCH, "\"abc-5BAA7\""));
        // 1_000_000_000 is Sun, 09 Sep 2001 01:46:40 GMT.
        assert!(check(
            header::IF_MODIFIED_SINCE,
            "Sun, 09 Sep 2001 01:46:40 GMT"
        ));
        assert!(!check(
            header::IF_MODIFIED_SINCE,
            "Sun, 09 Sep 2001 01:46:39 GMT"
        ));
        assert!(!check(header::IF_MODIFIED_SINCE, "not a date"));
    }

    #[test]
    fn hex16_digits() {
        assert_eq!(&hex16(0x0123_4567_89ab_cdef), b"0123456789abcdef");
        assert_eq!(&hex16(0), b"0000000000000000");
    }
}
