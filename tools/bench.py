#!/usr/bin/env python3
"""Whole-program benchmark: `pwdex check` side by side with the tools a user
would otherwise reach for, on the same synthetic corpus and query batch.

One invocation is one side-by-side run:

 1. Generate (cached under --work, keyed by every parameter) a sorted
    `HASH:COUNT` dump and a query file with `pwdex-synth`, plus the
    generator's own expected answers, which serve as the oracle.
 2. Build the index with `pwdex build` (timed once) and read its sizes from
    `pwdex info --json`.
 3. Time every contender `--runs` times on the same files, interleaved round
    by round so that a burst of background load hits all of them alike.
    Each child runs in its own process group with a timeout; its wall time,
    peak RSS and page faults come from `os.wait4`.
 4. Check every answer: pwdex against the generator's expected output
    byte for byte, every baseline against pwdex as a sorted multiset.
    Any difference prints MISMATCH and makes the exit status non-zero.
 5. Print Markdown tables (and, with --json, the same numbers as JSON).

The contenders:

  pwdex         `pwdex check -i INDEX QUERIES -q` (found-only), and `--all`.
  join          `LC_ALL=C sort QUERIES | LC_ALL=C join -t: - CORPUS_LF`;
                the query side is sorted inside the timed command, as a user
                would have to; the corpus is already sorted.
  look          util-linux `look` (a binary search over the sorted file), one
                process per query in a bash loop, on the first --look-sample
                queries; the batch time is extrapolated and labelled so.
  sqlite        sqlite3 table `pw(hash TEXT PRIMARY KEY, count INTEGER)
                WITHOUT ROWID` imported once (timed, reported as setup); each
                run imports the queries into a temp table and joins.
                sqlite3 settings are its defaults.
  pyset         python3 loading the corpus into a dict and looking up every
                query; load and lookup are also reported separately.

With --evict the index is dropped from the page cache before each pwdex run
(os.sync, then POSIX_FADV_DONTNEED) and `fincore` reports how much of it is
resident before and after the run.

Only the Python standard library is used. Nothing is written outside --work
except the --json file.
"""

import argparse
import hashlib
import json
import mmap
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL_BASELINES = ("join", "look", "sqlite", "pyset")
HEX_LEN = {"sha1": 40, "ntlm": 32}


class BenchError(Exception):
    """A failure that ends the run with a one-line explanation."""


# ---------------------------------------------------------------- arguments


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Side-by-side whole-program benchmark of pwdex check against baselines.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--records", type=int, default=5_000_000, help="corpus lines")
    p.add_argument("--queries", type=int, default=1_000_000, help="query lines")
    p.add_argument("--kind", choices=sorted(HEX_LEN), default="sha1")
    p.add_argument("--present", type=float, default=0.5, help="fraction of queries present")
    p.add_argument("--seed", type=int, default=1, help="corpus seed")
    p.add_argument("--query-seed", type=int, default=2, help="query seed")
    p.add_argument("--work", default="/tmp/pwdex-bench", help="work directory (cache and outputs)")
    p.add_argument("--runs", type=int, default=3, help="timed runs per contender")
    p.add_argument(
        "--baselines",
        default=",".join(ALL_BASELINES),
        help="comma-separated subset of %s, or 'none'" % ",".join(ALL_BASELINES),
    )
    p.add_argument("--look-sample", type=int, default=10_000, help="queries given to the look loop")
    p.add_argument("--evict", action="store_true", help="also run pwdex with the index evicted from the page cache")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--timeout", type=float, default=1200, help="seconds allowed per command")
    p.add_argument("--pwdex", default=os.path.join(REPO, "target/release/pwdex"))
    p.add_argument("--synth", default=os.path.join(REPO, "target/release/pwdex-synth"))
    p.add_argument("--regen", action="store_true", help="regenerate the cached corpus and queries")
    p.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                   help="before each timed run, wait up to this long for other processes to use under 0.25 CPU cores")
    p.add_argument("--prepare-only", action="store_true", help="generate the cached corpus and queries, then stop")
    a = p.parse_args(argv)

    names = [] if a.baselines.strip() in ("", "none") else [b.strip() for b in a.baselines.split(",") if b.strip()]
    unknown = [b for b in names if b not in ALL_BASELINES]
    if unknown:
        p.error("unknown baseline(s) %s; choose from %s or 'none'" % (",".join(unknown), ",".join(ALL_BASELINES)))
    a.baseline_list = [b for b in ALL_BASELINES if b in names]
    if a.records < 1 or a.queries < 1 or a.runs < 1 or a.look_sample < 1:
        p.error("--records, --queries, --runs and --look-sample must be at least 1")
    if not 0.0 <= a.present <= 1.0:
        p.error("--present must be between 0 and 1")
    a.work = os.path.abspath(a.work)
    if a.work in ("/", os.path.expanduser("~"), REPO) or a.work.startswith(REPO + os.sep):
        p.error("--work must be a scratch directory outside the repository, not %s" % a.work)
    return a


# ---------------------------------------------------------------- running children


def read_cpu_busy():
    """System-wide busy CPU seconds so far (all cores), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_idle(limit_s, threshold=0.25, window=1.0):
    """Wait until other processes use under `threshold` cores (sampled over `window`); return the last level."""
    deadline = time.monotonic() + limit_s
    while True:
        b0 = read_cpu_busy()
        time.sleep(window)
        b1 = read_cpu_busy()
        level = None if b0 is None or b1 is None else (b1 - b0) / window
        if level is None or level < threshold or time.monotonic() >= deadline:
            return level


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Child:
    """Runs one command in its own process group and measures it."""

    def __init__(self, env, timeout):
        self.env = env
        self.timeout = timeout
        # ru_maxrss from wait4 cannot go below the parent's RSS: on exec the kernel keeps the
        # high-water mark of the pre-exec image, which for a child forked from this interpreter
        # is ~20 MiB. GNU time forks from a ~1 MiB image, so its %M is exact; use it when present.
        self.gnu_time = None
        t = "/usr/bin/time"
        if os.access(t, os.X_OK):
            r = subprocess.run([t, "--version"], capture_output=True, text=True)
            if "GNU" in (r.stdout + r.stderr):
                self.gnu_time = t

    def run(self, argv, stdout_path, stderr_path, ok_codes=(0,), label=None):
        label = label or shlex.join(argv)
        rusage_path = stderr_path + ".rusage"
        if self.gnu_time:
            if os.path.exists(rusage_path):
                os.remove(rusage_path)
            argv = [self.gnu_time, "-f", "%M %F %R", "-o", rusage_path, "--"] + list(argv)
        busy0 = read_cpu_busy()
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            t0 = time.perf_counter()
            try:
                proc = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=self.env, start_new_session=True
                )
            except OSError as e:
                raise BenchError("cannot start %s: %s" % (label, e))
            timed_out = threading.Event()

            def on_timeout():
                timed_out.set()
                kill_group(proc.pid)

            timer = threading.Timer(self.timeout, on_timeout)
            timer.daemon = True
            timer.start()
            try:
                _, status, ru = os.wait4(proc.pid, 0)
            except BaseException:
                kill_group(proc.pid)
                os.wait4(proc.pid, 0)
                proc.returncode = -signal.SIGKILL
                raise
            finally:
                timer.cancel()
            wall = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
            kill_group(proc.pid)  # anything the command left running in its group
        busy1 = read_cpu_busy()
        if timed_out.is_set():
            raise BenchError("%s: timed out after %g s and was killed" % (label, self.timeout))
        if proc.returncode not in ok_codes:
            raise BenchError(
                "%s: exit status %d; stderr ends with:\n%s" % (label, proc.returncode, tail(stderr_path))
            )
        child_cpu = ru.ru_utime + ru.ru_stime
        others = None
        # /proc/stat counts in 10 ms ticks: too coarse to say anything about shorter runs.
        if busy0 is not None and busy1 is not None and wall >= 0.5:
            others = max(0.0, (busy1 - busy0 - child_cpu) / wall)
        m = {
            "wall_s": wall,
            "user_s": ru.ru_utime,
            "sys_s": ru.ru_stime,
            "max_rss_kib": ru.ru_maxrss,
            "major_faults": ru.ru_majflt,
            "minor_faults": ru.ru_minflt,
            "rusage_from": "wait4 (RSS floor = parent's RSS)",
            "other_cores": others,
            "exit": proc.returncode,
        }
        if self.gnu_time:
            try:
                with open(rusage_path) as f:
                    last = f.read().strip().splitlines()[-1].split()
                m.update(max_rss_kib=int(last[0]), major_faults=int(last[1]), minor_faults=int(last[2]),
                         rusage_from="GNU time")
            except (OSError, IndexError, ValueError):
                pass
        return m


def tail(path, n=2000):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - n))
            return f.read().decode("utf-8", "replace").rstrip() or "(empty)"
    except OSError:
        return "(unreadable)"


def quick(argv, env, timeout, **kw):
    """An untimed helper command; failure is fatal."""
    try:
        return subprocess.run(argv, env=env, timeout=timeout, check=True, capture_output=True, **kw)
    except subprocess.CalledProcessError as e:
        raise BenchError("%s: exit status %d: %s" % (shlex.join(argv), e.returncode, e.stderr.decode(errors="replace")[-2000:]))
    except subprocess.TimeoutExpired:
        raise BenchError("%s: timed out after %g s" % (shlex.join(argv), timeout))
    except OSError as e:
        raise BenchError("cannot run %s: %s" % (argv[0], e))


# ---------------------------------------------------------------- files and caching


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def warm(path):
    """Read a file once so that the timed runs start from a warm page cache."""
    with open(path, "rb", buffering=0) as f:
        while f.read(8 << 20):
            pass


def count_lines(path):
    n = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(8 << 20), b""):
            n += chunk.count(b"\n")
    return n


def load_meta(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_json_atomic(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def cache_valid(meta_path, params, files):
    meta = load_meta(meta_path)
    if not meta or meta.get("params") != params:
        return None
    for path in files:
        if not os.path.exists(path) or os.path.getsize(path) != meta.get("sizes", {}).get(os.path.basename(path)):
            return None
    return meta


def snapshot_binary(src, bindir):
    """Copy a binary into --work so that a concurrent `cargo build` cannot swap it mid-run."""
    if not os.path.isfile(src) or not os.access(src, os.X_OK):
        raise BenchError("%s not found or not executable; run `cargo build --release` first" % src)
    digest = sha256_file(src)
    dst = os.path.join(bindir, "%s-%s" % (os.path.basename(src), digest[:12]))
    if not os.path.exists(dst):
        shutil.copy2(src, dst + ".tmp")
        os.replace(dst + ".tmp", dst)
    return dst, digest


def git_describe():
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", REPO, "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"],
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()
        return rev + ("+uncommitted" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_facts():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "mem_bytes": mem, "kernel": platform.release()}


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def fincore(path):
    """Resident bytes of `path` in the page cache, or None when fincore is unavailable."""
    exe = shutil.which("fincore")
    if not exe:
        return None
    r = subprocess.run([exe, "--bytes", "--noheadings", "--output", "RES", path], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return None
    try:
        return int(r.stdout.split()[0])
    except (IndexError, ValueError):
        return None


def evict(path):
    os.sync()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def pmd_mapped_share(path):
    """Share of `path`'s bytes the kernel maps with 2 MiB pages when mapped
    (FilePmdMapped over Rss in /proc/self/smaps), after reading it all in;
    None where that cannot be told. It depends on the sizes of the page
    cache's folios for the file, that is on how the file was read in."""
    try:
        with open(path, "rb") as f:
            m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
            try:
                try:
                    m.madvise(22)  # MADV_POPULATE_READ (Linux 5.14)
                except (OSError, AttributeError):
                    return None
                name = os.path.realpath(path)
                rss = None
                inside = False
                with open("/proc/self/smaps") as smaps:
                    for line in smaps:
                        fields = line.split()
                        if "-" in fields[0] and fields[-1:] == [name]:
                            inside = True
                        elif inside and fields[0] == "Rss:":
                            rss = int(fields[1])
                        elif inside and fields[0] == "FilePmdMapped:":
                            return int(fields[1]) / rss if rss else None
                return None
            finally:
                m.close()
    except OSError:
        return None


# ---------------------------------------------------------------- the benchmark


PYSET_SCRIPT = r"""
import json, sys, time
corpus, queries, out, timings = sys.argv[1:5]
t0 = time.perf_counter()
counts = {}
with open(corpus, "rb") as f:
    for line in f:
        h, _, c = line.rstrip(b"\r\n").partition(b":")
        counts[h] = c
t1 = time.perf_counter()
get = counts.get
with open(queries, "rb") as f, open(out, "wb") as o:
    w = o.write
    for line in f:
        h = line.rstrip(b"\r\n").upper()
        c = get(h)
        if c is not None:
            w(h + b":" + c + b"\n")
t2 = time.perf_counter()
with open(timings, "w") as f:
    json.dump({"load_s": t1 - t0, "lookup_s": t2 - t1, "records": len(counts)}, f)
"""

LOOK_SCRIPT = r"""
while IFS= read -r h; do
    look "$h" "$2"
    rc=$?
    [ "$rc" -le 1 ] || exit "$rc"
done < "$1"
"""

JOIN_SCRIPT = 'set -o pipefail; LC_ALL=C sort -- "$1" | LC_ALL=C join -t: - "$2"'


class Bench:
    def __init__(self, args):
        self.a = args
        self.work = args.work
        self.dirs = {k: os.path.join(self.work, k) for k in ("bin", "data", "out", "tmp")}
        for d in self.dirs.values():
            os.makedirs(d, exist_ok=True)
        env = dict(os.environ)
        env.update({"LC_ALL": "C", "TMPDIR": self.dirs["tmp"], "SQLITE_TMPDIR": self.dirs["tmp"]})
        env.pop("LANG", None)
        self.env = env
        self.child = Child(env, args.timeout)
        self.results = {"contenders": [], "setup": [], "notes": [], "mismatches": [], "failures": []}

    def log(self, msg):
        print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)

    def out(self, name):
        return os.path.join(self.dirs["out"], name)

    # -- step 1: data -------------------------------------------------------

    def check_disk(self):
        a = self.a
        line = HEX_LEN[a.kind] + 6
        need = a.records * line * 2 + a.queries * (HEX_LEN[a.kind] + 1) * 5 + a.records * 20
        if "sqlite" in a.baseline_list:
            need += a.records * 70
        free = shutil.disk_usage(self.work).free
        if free < need:
            raise BenchError(
                "about %.1f GB needed under %s but only %.1f GB free; use a smaller --records/--queries or another --work"
                % (need / 1e9, self.work, free / 1e9)
            )

    def prepare_data(self):
        a = self.a
        key = "%s-%d-seed%d" % (a.kind, a.records, a.seed)
        ddir = os.path.join(self.dirs["data"], key)
        os.makedirs(ddir, exist_ok=True)
        self.corpus = os.path.join(ddir, "corpus.txt")
        self.corpus_lf = os.path.join(ddir, "corpus.lf.txt")
        cparams = {"kind": a.kind, "records": a.records, "seed": a.seed}
        cmeta_path = os.path.join(ddir, "corpus.meta.json")
        meta = None if a.regen else cache_valid(cmeta_path, cparams, [self.corpus, self.corpus_lf])
        if meta is None:
            self.log("generating corpus %s (%d records)" % (key, a.records))
            t0 = time.perf_counter()
            quick([self.synth, "corpus", "--kind", a.kind, "--records", str(a.records), "--seed", str(a.seed), "-o", self.corpus], self.env, a.timeout)
            gen_s = time.perf_counter() - t0
            # The LF copy feeds join and look, which would otherwise carry the CR into their output.
            with open(self.corpus, "rb") as src, open(self.corpus_lf + ".tmp", "wb") as dst:
                for chunk in iter(lambda: src.read(8 << 20), b""):
                    dst.write(chunk.replace(b"\r", b""))
            os.replace(self.corpus_lf + ".tmp", self.corpus_lf)
            meta = {
                "params": cparams,
                "sizes": {os.path.basename(p): os.path.getsize(p) for p in (self.corpus, self.corpus_lf)},
                "synth_sha256": self.synth_sha,
                "generate_s": gen_s,
                "made_at": time.time(),
            }
            write_json_atomic(cmeta_path, meta)
        elif meta.get("synth_sha256") != self.synth_sha:
            self.results["notes"].append("cached corpus was made by an older pwdex-synth build; use --regen to remake it")
        self.corpus_meta = meta

        qkey = "queries-%d-p%g-seed%d" % (a.queries, a.present, a.query_seed)
        self.queries = os.path.join(ddir, qkey + ".txt")
        self.expected_all = os.path.join(ddir, qkey + ".expected-all.txt")
        self.expected_found = os.path.join(ddir, qkey + ".expected-found.txt")
        qparams = dict(cparams, queries=a.queries, present=a.present, query_seed=a.query_seed)
        qmeta_path = os.path.join(ddir, qkey + ".meta.json")
        files = [self.queries, self.expected_all, self.expected_found]
        qmeta = None if a.regen else cache_valid(qmeta_path, qparams, files)
        if qmeta is not None and qmeta.get("corpus_made_at") != meta.get("made_at"):
            qmeta = None  # the corpus was remade since these queries were drawn from it
        if qmeta is None:
            self.log("generating %d queries (present %g)" % (a.queries, a.present))
            quick(
                [self.synth, "queries", "--corpus", self.corpus, "--count", str(a.queries), "--present", str(a.present),
                 "--seed", str(a.query_seed), "-o", self.queries,
                 "--expected-all", self.expected_all, "--expected-found", self.expected_found],
                self.env, a.timeout,
            )
            qmeta = {
                "params": qparams,
                "sizes": {os.path.basename(p): os.path.getsize(p) for p in files},
                "corpus_made_at": meta.get("made_at"),
                "expected_found_lines": count_lines(self.expected_found),
                "synth_sha256": self.synth_sha,
            }
            write_json_atomic(qmeta_path, qmeta)
        self.query_meta = qmeta
        self.data_dir = ddir

    # -- step 2: index ------------------------------------------------------

    def build_index(self):
        a = self.a
        self.index = os.path.join(self.data_dir, "index.pwdex")
        if os.path.exists(self.index):
            os.remove(self.index)
        warm(self.corpus)
        self.log("building the index")
        m = self.child.run([self.pwdex, "build", self.corpus, "-o", self.index, "-q"], self.out("build.out"), self.out("build.err"))
        info = quick([self.pwdex, "info", self.index, "--json"], self.env, a.timeout).stdout
        try:
            self.info = json.loads(info)
        except ValueError:
            raise BenchError("pwdex info --json did not print JSON: %r" % info[:200])
        if self.info.get("records") != a.records:
            self.results["mismatches"].append(
                "pwdex info reports %s records for a %d-line corpus" % (self.info.get("records"), a.records)
            )
        m["what"] = "pwdex build (%s)" % os.path.basename(self.corpus)
        self.results["setup"].append(m)
        # The build writes with direct I/O, so nothing of the index is cached
        # yet. Read it in as a user's first check after the build (or after a
        # reboot) does: pwdex's own pass over the file, which asks for 2 MiB
        # pages. Read with read() instead, part of the file came to sit in
        # small folios (74% mapped with 2 MiB pages instead of 99% at 20M
        # records), and lookups in it cost 1.17x the CPU (farm-bench).
        evict(self.index)
        try:
            subprocess.run([self.pwdex, "check", "-q", "-i", self.index, self.queries], env=self.env,
                           timeout=a.timeout, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except (subprocess.SubprocessError, OSError) as e:
            raise BenchError("reading the index in with a first check failed: %s" % e)
        # A sparse batch (fewer queries than index pages) reads only the pages
        # it needs; measuring the share would read the rest in small pages.
        dense = a.queries >= os.path.getsize(self.index) // 4096
        self.results["index_pmd_share"] = pmd_mapped_share(self.index) if dense else "sparse"

    # -- step 3: contenders -------------------------------------------------

    def contenders(self):
        """(name, label, argv, stdout, per-query sample size or None, before-run hook)."""
        a = self.a
        cs = [
            ("pwdex", "pwdex check -q", [self.pwdex, "check", "-i", self.index, self.queries, "-q"], None),
            ("pwdex-all", "pwdex check --all -q", [self.pwdex, "check", "-i", self.index, self.queries, "--all", "-q"], None),
        ]
        if a.evict:
            cs += [
                ("pwdex-cold", "pwdex check -q, index evicted", cs[0][2], "evict"),
                ("pwdex-all-cold", "pwdex check --all -q, index evicted", cs[1][2], "evict"),
            ]
        if "join" in a.baseline_list:
            cs.append(("join", "LC_ALL=C sort | join", ["bash", "-c", JOIN_SCRIPT, "bench-join", self.queries, self.corpus_lf], None))
        if "look" in a.baseline_list and self.look_sample:
            cs.append(("look", "look, 1 process/query (extrapolated from %d)" % self.look_n,
                       ["bash", "-c", LOOK_SCRIPT, "bench-look", self.look_sample, self.corpus_lf], None))
        if "sqlite" in a.baseline_list and self.sqlite_db:
            cs.append(("sqlite", "sqlite3 temp table + JOIN", [self.sqlite3, "-batch", "-bail", self.sqlite_db, ".read " + self.sqlite_query_sql], None))
        if "pyset" in a.baseline_list:
            cs.append(("pyset", "python3 dict (load + lookup)",
                       [sys.executable, "-c", PYSET_SCRIPT, self.corpus, self.queries, self.out("pyset.out"), self.out("pyset.timings.json")], None))
        return cs

    def inputs_of(self, name):
        """The files a contender reads, re-read just before each of its warm runs."""
        if name.startswith("pwdex"):
            return [self.queries] if name.endswith("-cold") else [self.index, self.queries]
        return {
            "join": [self.queries, self.corpus_lf],
            "look": [self.look_sample, self.corpus_lf],
            "sqlite": [self.sqlite_db, self.queries],
            "pyset": [self.corpus, self.queries],
        }[name]

    def setup_baselines(self):
        a = self.a
        self.look_sample = None
        self.sqlite_db = None
        self.sqlite3 = shutil.which("sqlite3")
        if "look" in a.baseline_list:
            if not shutil.which("look"):
                self.results["notes"].append("look skipped: no `look` on PATH")
            else:
                self.look_n = min(a.look_sample, a.queries)
                self.look_sample = self.out("look-sample.txt")
                with open(self.queries, "rb") as src, open(self.look_sample, "wb") as dst:
                    for i, line in enumerate(src):
                        if i >= self.look_n:
                            break
                        dst.write(line)
        if "sqlite" in a.baseline_list:
            if not self.sqlite3:
                self.results["notes"].append("sqlite skipped: no `sqlite3` on PATH")
            else:
                self.setup_sqlite()

    def setup_sqlite(self):
        db = os.path.join(self.data_dir, "corpus.sqlite")
        for suffix in ("", "-journal", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.remove(db + suffix)
        imp = self.out("sqlite-import.sql")
        with open(imp, "w") as f:
            f.write(
                "PRAGMA journal_mode=OFF;\nPRAGMA synchronous=OFF;\n"
                "CREATE TABLE pw(hash TEXT PRIMARY KEY, count INTEGER) WITHOUT ROWID;\n"
                ".mode list\n.separator \":\" \"\\n\"\n"
                ".import %s pw\n" % sql_path(self.corpus_lf)
            )
        self.sqlite_query_sql = self.out("sqlite-query.sql")
        with open(self.sqlite_query_sql, "w") as f:
            f.write(
                ".mode list\n.separator \":\" \"\\n\"\n"
                "CREATE TEMP TABLE q(hash TEXT);\n"
                ".import %s q\n"
                "SELECT q.hash, pw.count FROM q JOIN pw ON pw.hash = q.hash;\n" % sql_path(self.queries)
            )
        warm(self.corpus_lf)
        self.log("importing the corpus into sqlite3")
        m = self.child.run([self.sqlite3, "-batch", "-bail", db, ".read " + imp], self.out("sqlite-import.out"), self.out("sqlite-import.err"))
        if os.path.getsize(self.out("sqlite-import.err")):
            raise BenchError("sqlite3 import complained:\n" + tail(self.out("sqlite-import.err")))
        m["what"] = "sqlite3 .import into WITHOUT ROWID table (journal off, synchronous off)"
        m["db_bytes"] = os.path.getsize(db)
        self.results["setup"].append(m)
        self.sqlite_db = db

    def run_all(self):
        a = self.a
        cs = self.contenders()
        for path in {self.index, self.queries, self.corpus_lf, self.corpus} | ({self.sqlite_db} if self.sqlite_db else set()):
            warm(path)
        runs = {c[0]: [] for c in cs}
        residency = {c[0]: [] for c in cs}
        page = os.sysconf("SC_PAGE_SIZE")
        for r in range(a.runs):
            for name, label, argv, hook in cs:
                self.log("run %d/%d: %s" % (r + 1, a.runs, label))
                before = None
                if a.wait_idle > 0:
                    level = wait_idle(a.wait_idle)
                    if level is not None and level >= 0.25:
                        self.results.setdefault("busy_starts", []).append("%s run %d: %.1f cores busy" % (name, r + 1, level))
                # The page cache on this kind of VM loses pages even without memory
                # pressure (seen: 15% of a 93 MB index gone within 30 s of idling), so
                # "warm" is re-established right before every run, not once.
                for path in self.inputs_of(name):
                    warm(path)
                if hook == "evict":
                    evict(self.index)
                    before = fincore(self.index)
                try:
                    m = self.child.run(argv, self.out(name + ".out"), self.out(name + ".err"), label=label)
                except BenchError as e:
                    self.results["failures"].append("%s: %s" % (name, e))
                    self.log("FAILED: %s" % e)
                    runs[name].append(None)
                    continue
                if hook == "evict":
                    after = fincore(self.index)
                    residency[name].append({"index_bytes": os.path.getsize(self.index), "page": page,
                                            "resident_before": before, "resident_after": after, "wall_s": m["wall_s"]})
                if name == "pyset":
                    with open(self.out("pyset.timings.json")) as f:
                        m.update(json.load(f))
                runs[name].append(m)
                if os.path.getsize(self.out(name + ".err")) and name.startswith("pwdex"):
                    self.results["notes"].append("%s wrote to stderr: %s" % (name, tail(self.out(name + ".err"), 500)))
            # Verify after the first round, while the outputs of that round are on disk;
            # later rounds produce the same files again and are checked the same way.
            self.verify([c[0] for c in cs], runs, round_no=r + 1)
        self.summarise(cs, runs, residency)

    # -- step 4: correctness ------------------------------------------------

    def sorted_norm(self, src, dst):
        """Line endings and case normalised, then sorted: the multiset of found lines."""
        quick(["bash", "-c", "set -o pipefail; tr -d '\\r' < \"$1\" | tr a-f A-F | LC_ALL=C sort > \"$2\"", "bench-sort", src, dst],
              self.env, self.a.timeout)

    def verify(self, names, runs, round_no):
        ok = lambda n: runs.get(n) and runs[n][-1] is not None
        mism = self.results["mismatches"]
        if ok("pwdex") and not same_file(self.out("pwdex.out"), self.expected_found):
            mism.append("round %d: pwdex check output differs from pwdex-synth --expected-found (%s)"
                        % (round_no, first_difference(self.out("pwdex.out"), self.expected_found)))
        if ok("pwdex-all") and not same_file(self.out("pwdex-all.out"), self.expected_all):
            mism.append("round %d: pwdex check --all output differs from pwdex-synth --expected-all (%s)"
                        % (round_no, first_difference(self.out("pwdex-all.out"), self.expected_all)))
        for cold, warm_name in (("pwdex-cold", "pwdex"), ("pwdex-all-cold", "pwdex-all")):
            if ok(cold) and ok(warm_name) and not same_file(self.out(cold + ".out"), self.out(warm_name + ".out")):
                mism.append("round %d: %s output differs from the warm run" % (round_no, cold))
        if not ok("pwdex"):
            return
        ref = self.out("pwdex.sorted")
        if round_no == 1 or not os.path.exists(ref):
            self.sorted_norm(self.out("pwdex.out"), ref)
        for n in ("join", "sqlite", "pyset"):
            if n in names and ok(n):
                mine = self.out(n + ".sorted")
                self.sorted_norm(self.out(n + ".out"), mine)
                if not same_file(mine, ref):
                    mism.append("round %d: %s found set differs from pwdex (%s)" % (round_no, n, first_difference(mine, ref)))
        if "look" in names and ok("look") and ok("pwdex-all"):
            want = []
            with open(self.out("pwdex-all.out"), "rb") as f:
                for i, line in enumerate(f):
                    if i >= self.look_n:
                        break
                    if not line.rstrip().endswith(b":0"):
                        want.append(line.rstrip().upper())
            with open(self.out("look.out"), "rb") as f:
                got = [l.rstrip(b"\r\n").upper() for l in f]
            if sorted(got) != sorted(want):
                extra = sorted(set(got) - set(want))[:3]
                missing = sorted(set(want) - set(got))[:3]
                mism.append("round %d: look found %d lines, pwdex %d for the same %d queries; look-only %s, pwdex-only %s"
                            % (round_no, len(got), len(want), self.look_n, extra, missing))

    # -- step 5: report -----------------------------------------------------

    def summarise(self, cs, runs, residency):
        a = self.a
        q = a.queries
        for name, label, argv, hook in cs:
            good = [m for m in runs[name] if m is not None]
            row = {"name": name, "label": label, "command": shlex.join(argv), "runs": runs[name]}
            if good:
                walls = [m["wall_s"] for m in good]
                scale = 1.0
                if name == "look":
                    scale = q / self.look_n
                    row["extrapolated"] = True
                    row["per_query_s"] = statistics.median(walls) / self.look_n
                row.update({
                    "median_s": statistics.median(walls) * scale,
                    "min_s": min(walls) * scale,
                    "max_s": max(walls) * scale,
                    "cpu_median_s": statistics.median(m["user_s"] + m["sys_s"] for m in good) * scale,
                    "max_rss_mib": max(m["max_rss_kib"] for m in good) / 1024,
                    "major_faults": statistics.median(m["major_faults"] for m in good),
                    "minor_faults": statistics.median(m["minor_faults"] for m in good),
                    "other_cores_max": max((m["other_cores"] or 0.0) for m in good),
                })
            if residency.get(name):
                row["residency"] = residency[name]
            self.results["contenders"].append(row)
            if name == "pyset" and good:
                lk = [m["lookup_s"] for m in good]
                ld = [m["load_s"] for m in good]
                self.results["contenders"].append({
                    "name": "pyset-lookup", "label": "python3 dict, lookup phase only",
                    "command": "(inside the run above)", "median_s": statistics.median(lk), "min_s": min(lk),
                    "max_s": max(lk), "max_rss_mib": row["max_rss_mib"], "major_faults": None, "minor_faults": None,
                    "load_median_s": statistics.median(ld), "runs": [],
                })
        base = next((c for c in self.results["contenders"] if c["name"] == "pwdex" and "median_s" in c), None)
        for c in self.results["contenders"]:
            if "median_s" in c:
                c["queries_per_s"] = q / c["median_s"] if c["median_s"] > 0 else None
                c["ratio_vs_pwdex"] = c["median_s"] / base["median_s"] if base else None


def sql_path(p):
    if any(ch in p for ch in " \t\"'\n"):
        raise BenchError("sqlite3 .import path must not contain blanks or quotes: %s" % p)
    return p


def same_file(a, b):
    if os.path.getsize(a) != os.path.getsize(b):
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(8 << 20), fb.read(8 << 20)
            if x != y:
                return False
            if not x:
                return True


def first_difference(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        n = 0
        for la, lb in zip(fa, fb):
            n += 1
            if la != lb:
                return "first at line %d: %r vs %r" % (n, la.rstrip()[:60], lb.rstrip()[:60])
    return "one file is a prefix of the other: %d vs %d lines" % (count_lines(a), count_lines(b))


# ---------------------------------------------------------------- output


def fmt_s(x):
    return "—" if x is None else ("%.3f" % x if x < 100 else "%.1f" % x)


def fmt_int(x):
    return "—" if x is None else "{:,}".format(int(round(x)))


def render(bench, args, facts, started, elapsed, load0, load1):
    r = bench.results
    info = bench.info
    a = args
    lines = []
    P = lines.append
    mem = facts["mem_bytes"]
    P("### pwdex check vs baselines — %s, %s records, %s queries" % (a.kind, fmt_int(a.records), fmt_int(a.queries)))
    P("")
    P("- command: `%s`" % r["command"])
    P("- machine: %s × %s, %.1f GiB RAM, Linux %s; load average %s at start, %s at end"
      % (facts["nproc"], facts["cpu"], (mem or 0) / 2**30, facts["kernel"], load0, load1))
    P("- pwdex: %s (binary sha256 %s…), started %s, whole run %.0f s"
      % (r["pwdex_git"], r["pwdex_sha256"][:12], started, elapsed))
    P("- corpus: %s %s records, %s bytes (CRLF; LF copy for join/look %s bytes)"
      % (fmt_int(a.records), a.kind, fmt_int(bench.corpus_meta["sizes"]["corpus.txt"]), fmt_int(bench.corpus_meta["sizes"]["corpus.lf.txt"])))
    P("- queries: %s lines, %s bytes, present fraction %g; %s found"
      % (fmt_int(a.queries), fmt_int(os.path.getsize(bench.queries)), a.present, fmt_int(bench.query_meta["expected_found_lines"])))
    build = r["setup"][0]
    P("- index: %s bytes, %.2f bytes/record, filter %.2f bits/record (fpp %.4f); built in %.2f s, peak RSS %.0f MiB"
      % (fmt_int(info["file_bytes"]), info["bytes_per_record"], info["filter_bytes"] * 8 / info["records"], info["fpp"],
         build["wall_s"], build["max_rss_kib"] / 1024))
    share = r.get("index_pmd_share")
    if share == "sparse":
        P("- index read in by a first check after the build; the batch has fewer queries than the index has pages, "
          "so that check read only the pages it needed (share mapped with 2 MiB pages not measured)")
    else:
        P("- index in the page cache as pwdex's first check after the build leaves it: %s of it mapped with 2 MiB pages"
          % ("%.1f%%" % (100 * share) if share is not None else "unknown share"))
    P("- %d timed runs per contender, interleaved round by round; each contender's inputs re-read just before each run (warm page cache)%s"
      % (a.runs, "; `--evict` rows drop the index from the page cache before each run" if a.evict else ""))
    P("")
    P("| contender | median s | min s | × pwdex | queries/s | CPU s | peak RSS MiB | major faults | minor faults |")
    P("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for c in r["contenders"]:
        if "median_s" not in c:
            P("| %s | FAILED | | | | | | | |" % c["label"].replace("|", "\\|"))
            continue
        ratio = c.get("ratio_vs_pwdex")
        P("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            c["label"].replace("|", "\\|") + (" *" if c.get("extrapolated") else ""),
            fmt_s(c["median_s"]), fmt_s(c["min_s"]),
            "—" if ratio is None else ("%.2f" % ratio if ratio < 10 else "%.0f" % ratio),
            fmt_int(c.get("queries_per_s")), fmt_s(c.get("cpu_median_s")),
            "%.0f" % c["max_rss_mib"] if c.get("max_rss_mib") is not None else "—",
            fmt_int(c.get("major_faults")), fmt_int(c.get("minor_faults"))))
    P("")
    srcs = sorted({m.get("rusage_from") for c in r["contenders"] for m in c.get("runs", []) if m})
    P("× pwdex = contender median / `pwdex check -q` median (how many times slower); wall times include starting the "
      "process(es). CPU s = median user+sys time of the whole command, less sensitive than wall time to other load. Peak RSS is the largest single process in the command's tree, not the sum over a pipeline; faults "
      "are summed over the tree (source: %s)." % ", ".join(srcs))
    for c in r["contenders"]:
        if c.get("extrapolated"):
            P("\\* look: %d queries in %.2f s median (%.3f ms/query, one `look` process each), scaled to %s queries. "
              "The same sample would take pwdex a single process start." % (
                  bench.look_n, c["per_query_s"] * bench.look_n, c["per_query_s"] * 1e3, fmt_int(a.queries)))
        if c["name"] == "pyset-lookup":
            P("python3 dict: loading the corpus took %.2f s median, the lookups %.2f s." % (c["load_median_s"], c["median_s"]))
    busy = [c for c in r["contenders"] if (c.get("other_cores_max") or 0) > 0.25]
    if busy:
        P("Background load: other processes used up to %s CPU cores during some runs; treat those rows as noisy."
          % ", ".join("%.1f (%s)" % (c["other_cores_max"], c["name"]) for c in busy))
    if r.get("busy_starts"):
        P("Runs that started while other processes were still busy after --wait-idle %g s: %s."
          % (a.wait_idle, "; ".join(r["busy_starts"])))
    spread = [c for c in r["contenders"] if c.get("min_s") and c.get("max_s", 0) / c["min_s"] > 1.2]
    if spread:
        P("Spread above 20%% (max/min): %s." % ", ".join("%s %.2f" % (c["name"], c["max_s"] / c["min_s"]) for c in spread))
    P("")
    P("One-off setup (not in the ratios):")
    P("")
    P("| step | wall s | peak RSS MiB | result |")
    P("|---|--:|--:|---|")
    for s in r["setup"]:
        extra = ("database %s bytes (%.1f bytes/record)" % (fmt_int(s["db_bytes"]), s["db_bytes"] / a.records)) if "db_bytes" in s else (
            "index %s bytes" % fmt_int(info["file_bytes"]))
        P("| %s | %s | %.0f | %s |" % (s["what"], fmt_s(s["wall_s"]), s["max_rss_kib"] / 1024, extra))
    for c in r["contenders"]:
        if c["name"] == "pyset-lookup":
            P("| python3 dict load (every run) | %s | %.0f | %s entries |" % (fmt_s(c["load_median_s"]), c["max_rss_mib"], fmt_int(a.records)))
    res_rows = [(c, x) for c in r["contenders"] for x in c.get("residency", [])]
    if res_rows:
        P("")
        P("Index page-cache residency around the evicted runs (fincore; eviction is advisory and may be imperfect in a VM):")
        P("")
        P("| run | index pages | resident before run | resident after run | wall s |")
        P("|---|--:|--:|--:|--:|")
        for c, x in res_rows:
            pages = -(-x["index_bytes"] // x["page"])
            f = lambda b: "n/a" if b is None else "%s (%.1f%%)" % (fmt_int(b // x["page"]), 100.0 * b / x["index_bytes"])
            P("| %s | %s | %s | %s | %s |" % (c["label"], fmt_int(pages), f(x["resident_before"]), f(x["resident_after"]), fmt_s(x["wall_s"])))
    for n in r["notes"]:
        P("")
        P("Note: " + n)
    if r["failures"]:
        P("")
        for f in r["failures"]:
            P("**FAILED** " + f)
    if r["mismatches"]:
        P("")
        for m in r["mismatches"]:
            P("**MISMATCH** " + m)
    else:
        P("")
        P("Correctness: pwdex output equals pwdex-synth's expected output byte for byte (found-only and --all); "
          "every baseline's found set equals pwdex's%s." % (" (failed runs could not be checked)" if r["failures"] else ""))
    return "\n".join(lines)


def main(argv):
    args = parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    t_start = time.perf_counter()
    load0 = loadavg()

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    os.makedirs(args.work, exist_ok=True)
    bench = Bench(args)
    bench.pwdex, pwdex_sha = snapshot_binary(os.path.abspath(args.pwdex), bench.dirs["bin"])
    bench.synth, bench.synth_sha = snapshot_binary(os.path.abspath(args.synth), bench.dirs["bin"])
    cmd = "python3 " + shlex.join([os.path.relpath(os.path.abspath(__file__), REPO)] + argv)
    bench.results.update({"command": cmd, "pwdex_git": git_describe(), "pwdex_sha256": pwdex_sha, "synth_sha256": bench.synth_sha})
    bench.check_disk()
    bench.prepare_data()
    if args.prepare_only:
        print("data ready in %s" % bench.data_dir)
        return 0
    bench.build_index()
    bench.setup_baselines()
    bench.run_all()
    elapsed = time.perf_counter() - t_start
    facts = machine_facts()
    load1 = loadavg()
    text = render(bench, args, facts, started, elapsed, load0, load1)
    print(text)
    if args.json:
        out = dict(bench.results)
        out.update({
            "machine": facts, "started": started, "elapsed_s": elapsed, "loadavg_start": load0, "loadavg_end": load1,
            "params": {k: getattr(args, k) for k in ("records", "queries", "kind", "present", "seed", "query_seed", "runs", "evict", "look_sample")},
            "baselines": args.baseline_list, "index_info": bench.info,
            "corpus": bench.corpus_meta, "queries": bench.query_meta, "markdown": text,
        })
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2, default=str)
            f.write("\n")
    if bench.results["mismatches"]:
        print("\nMISMATCH: %d correctness check(s) failed; see above." % len(bench.results["mismatches"]), file=sys.stderr)
        return 1
    if bench.results["failures"]:
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as e:
        print("bench.py: error: %s" % e, file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("bench.py: interrupted", file=sys.stderr)
        sys.exit(130)
