#!/usr/bin/env python3
"""Malformed-request barrage against a running `pwdex serve` (loopback only).

Sends bad paths, invalid UTF-8, huge and numerous headers, wrong methods,
oversized and endless bodies, garbage bytes, slow-header clients, a client
that never reads its responses and a burst of idle connections. Every answer's
status is tallied; a connection the server closes without an answer (as it
does for a head that never completes) is counted as "closed".

Exits non-zero if any answer is a 5xx, or if the server stops answering
`GET /health` afterwards. Bounded: about 30 s with the server's default
10 s `--timeout`.

Usage: serve_barrage.py HOST:PORT [--timeout SECONDS]
"""

import argparse
import collections
import json
import socket
import sys
import threading
import time

parser = argparse.ArgumentParser()
parser.add_argument("addr")
parser.add_argument("--timeout", type=float, default=10.0,
                    help="the server's --timeout (slow-client checks wait a little longer)")
args = parser.parse_args()
host, port = args.addr.rsplit(":", 1)
if host not in ("127.0.0.1", "localhost", "::1"):
    sys.exit("the barrage only targets loopback addresses")
port = int(port)

tally = collections.Counter()
lock = threading.Lock()
notes = []


def count(key):
    with lock:
        tally[key] += 1


def connect(timeout=5.0):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_status(s, timeout):
    """Status of the first answer on `s`, or None if closed without one."""
    s.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    except socket.timeout:
        return "timeout"
    if not data.startswith(b"HTTP/1."):
        return None
    return int(data[9:12])


def shoot(raw, label, timeout=5.0, chunks=None):
    """Sends `raw` (or `chunks` one by one) on a new connection; tallies the answer."""
    try:
        s = connect()
    except OSError as e:
        count(("connect-failed", label))
        notes.append(f"{label}: connect failed: {e}")
        return
    try:
        for part in chunks or [raw]:
            try:
                s.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server already answered and closed
        status = read_status(s, timeout)
    finally:
        s.close()
    if status is None:
        count(("closed", label))
    elif status == "timeout":
        count(("no-answer-timeout", label))
    else:
        count((f"{status // 100}xx", label))
        if status >= 500:
            notes.append(f"{label}: got {status}")


def req(method, target, headers=(), body=b""):
    head = f"{method} {target} HTTP/1.1\r\nHost: x\r\n".encode("latin-1")
    for h in headers:
        head += h + b"\r\n"
    if body:
        head += f"Content-Length: {len(body)}\r\n".encode()
    return head + b"\r\n" + body


# --- bad paths and prefixes -------------------------------------------------
bad_targets = [
    "/range/", "/range", "/range/1", "/range/1234", "/range/123456", "/range/GGGGG",
    "/range/%35BAA6", "/range/5BAA6/", "/range/5BAA6/../../etc/passwd", "/range/../health",
    "/range/+BAA6", "/range/-1234", "/range/0x123", "/range/ 5BAA", "/range/%00%00%00%00%00",
    "/range/5BAA6?mode=md5", "/range/5BAA6?mode=", "/range/5BAA6?mode=ntlm%00",
    "/range/" + "A" * 10_000, "/" + "x" * 60_000, "//range//5BAA6", "/RANGE/5BAA6",
    "*", "http://evil.example/range/5BAA6", "/range/5BAA6#frag", "/range/5BAA6?" + "a=b&" * 2000,
]
for t in bad_targets:
    shoot(req("GET", t), "bad path")

# --- invalid UTF-8, control bytes, garbage ----------------------------------
raw_cases = [
    b"GET /range/\xff\xfe\xfd\xfc\xfb HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /range/\xc3\x28\xa0\xa1\xe2 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /range/5BAA6 HTTP/1.1\r\nHost: x\r\nAdd-Padding: \xff\xfe\r\n\r\n",
    b"GET /range/5BAA6 HTTP/1.1\r\nHost: x\r\nX-\xff: 1\r\n\r\n",
    b"GET /range/5B\x00A6 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /range/5BAA6 HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"\r\n\r\n\r\n",
    b"GET /\r\n\r\n",  # HTTP/0.9
    b"GET /range/5BAA6 HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /range/5BAA6 HTTP/1.1\r\nBad Header Line\r\n\r\n",
    b"GET /range/5BAA6 HTTP/1.1\r\n : empty-name\r\n\r\n",
    b"GET /range/5BAA6 HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    b"GET /range/5BAA6 HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"GET /range/5BAA6 HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)),  # a TLS ClientHello start
    bytes(range(256)) * 8,
]
for raw in raw_cases:
    shoot(raw, "malformed bytes")

# --- huge and numerous headers ----------------------------------------------
for size in (16 * 1024, 64 * 1024, 1024 * 1024):
    shoot(req("GET", "/range/5BAA6", [b"X-Big: " + b"a" * size]), "huge header")
shoot(req("GET", "/range/5BAA6", [f"X-{i}: {i}".encode() for i in range(1000)]), "many headers")
shoot(req("GET", "/range/5BAA6", [b"Add-Padding: true"] * 70), "many headers")

# --- wrong methods ----------------------------------------------------------
for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO", "CONNECT"]:
    for target in ["/range/5BAA6", "/health", "/metrics", "/check" if method != "POST" else "/nope"]:
        shoot(req(method, target), "wrong method")

# --- /check bodies -----------------------------------------------------------
check_bodies = [
    b"{", b"[]", b"null", b'{"hashes": 5}', b'{"hashes": ["XYZ"]}', b"\xff\xfe\xfd",
    b'{"hashes": ["' + b"A" * 40 + b'"], "x": 1}', b'{"passwords": ["password"]}',
    json.dumps({"hashes": ["0" * 40] * 10}).encode(),
]
for body in check_bodies:
    shoot(req("POST", "/check", [b"Content-Type: application/json"], body), "check body")
shoot(req("POST", "/check", [], b"[" + b"1," * (2 << 20) + b"1]"), "oversized body")
shoot(b"POST /check HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n", "oversized body")
endless = [b"POST /check HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"]
endless += [b"10000\r\n" + b" " * 0x10000 + b"\r\n"] * 40
shoot(None, "oversized body", chunks=endless)

# --- slow clients (in parallel; each bounded) --------------------------------
slow_results = collections.Counter()


def slow_header_client():
    """Sends one header byte per second; the server should hang up."""
    try:
        s = connect(timeout=args.timeout + 10)
    except OSError:
        slow_results["connect-failed"] += 1
        return
    started = time.time()
    head = b"GET /range/5BAA6 HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    try:
        for b in head:
            s.sendall(bytes([b]))
            time.sleep(1.0)
            if time.time() - started > args.timeout + 8:
                slow_results["never cut off"] += 1
                return
    except (BrokenPipeError, ConnectionResetError):
        pass
    status = read_status(s, 2)
    slow_results[f"cut off after {round(time.time() - started)} s" if status in (None, 408)
                 else f"answered {status}"] += 1
    s.close()


def slow_body_client():
    """Declares a body and sends a few bytes of it: expect 408."""
    s = connect(timeout=args.timeout + 10)
    s.sendall(b"POST /check HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"hashes\"")
    status = read_status(s, args.timeout + 5)
    slow_results[f"slow body: {status}"] += 1
    if isinstance(status, int) and status >= 500:
        notes.append(f"slow body got {status}")
    s.close()


def never_reads_client():
    """Pipelines many padded range requests and never reads: the server
    should give up writing after its --timeout and close."""
    s = connect(timeout=args.timeout + 10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    one = b"GET /range/5BAA6 HTTP/1.1\r\nHost: x\r\nAdd-Padding: true\r\n\r\n"
    try:
        s.sendall(one * 3000)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    time.sleep(args.timeout + 4)
    got = 0
    s.settimeout(3)
    try:
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            got += chunk.count(b"HTTP/1.1 200")
    except (ConnectionResetError, socket.timeout):
        pass
    slow_results[f"never-reads: {got} of 3000 answers before the server hung up"] += 1
    s.close()


threads = [threading.Thread(target=slow_header_client) for _ in range(200)]
threads += [threading.Thread(target=slow_body_client) for _ in range(20)]
threads += [threading.Thread(target=never_reads_client)]
for t in threads:
    t.start()

# --- a burst of idle connections while the slow clients wait ----------------
idle = []
for _ in range(1000):
    try:
        idle.append(connect())
    except OSError as e:
        notes.append(f"idle burst: connect failed: {e}")
        break
time.sleep(1)
for s in idle:
    s.close()
count(("opened and dropped", f"{len(idle)} idle connections"))

for t in threads:
    t.join()

# --- the server must still answer ------------------------------------------
s = connect()
s.sendall(req("GET", "/health"))
health = read_status(s, 5)
s.close()
s = connect()
s.sendall(req("GET", "/metrics") + b"")
s.settimeout(5)
metrics = b""
try:
    while True:
        chunk = s.recv(1 << 16)
        metrics += chunk
        if not chunk or b"pwdex_uptime_seconds" in metrics:
            break
except socket.timeout:
    pass
s.close()
five_xx = sum(
    int(line.rsplit(b" ", 1)[1])
    for line in metrics.splitlines()
    if line.startswith(b"pwdex_http_requests_total") and b'status="5' in line
)

print("barrage answers (class, case): count")
for (cls, label), n in sorted(tally.items()):
    print(f"  {cls:18} {label:28} {n}")
print("slow clients:")
for k, n in sorted(slow_results.items()):
    print(f"  {k}: {n}")
for n in notes:
    print("  note:", n)
answers_5xx = sum(n for (cls, _), n in tally.items() if cls == "5xx")
print(f"5xx answers: {answers_5xx}; 5xx in /metrics: {five_xx}; /health after barrage: {health}")
ok = answers_5xx == 0 and five_xx == 0 and health == 200
print("BARRAGE:", "PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
