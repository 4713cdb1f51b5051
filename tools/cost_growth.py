#!/usr/bin/env python3
"""Per-query cost of `pwdex check` as the index grows, with a plot.

For each index size (default 1M, 10M and 100M SHA-1 records) this script

 1. makes a corpus with `pwdex-synth corpus` and a batch of queries (half
    present) with `pwdex-synth queries`, cached in --work;
 2. builds the index with the pwdex under test (rebuilt every invocation,
    so the figures are the current build's);
 3. evicts the index and reads it in with one untimed check (as a user's
    first check after a build does), reads the index and the queries once
    more (warm page cache), then times
    --runs runs of `pwdex check -q -i INDEX QUERIES > /dev/null`, taking
    wall time and CPU time (user + system, from `os.wait4`);
 4. fits CPU ns per query against log10(records) by least squares and
    projects it to 2,000,000,000 records (the full corpus);
 5. prints a Markdown table and writes an SVG plot (--svg).

CPU time per query is the figure to compare across sizes: it is what grows
when lookups get dearer, and it is less disturbed by other load than wall
time. Fixed costs (starting the process, checking every index page once
for batches with a query per page or more) are included, as a user pays them.

Usage:
  python3 tools/cost_growth.py [--sizes 1000000,10000000,100000000]
      [--queries 1000000] [--runs 5] [--svg docs/cost-growth.svg]

100M records need about 4.4 GB of corpus text and 1.9 GB of index in --work.
"""

import argparse
import math
import os
import statistics
import subprocess
import sys
import time

# The page-cache helpers of the benchmark harness beside this script.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import evict, warm  # noqa: E402

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(argv, stdout=subprocess.DEVNULL):
    """Runs argv; returns (wall s, cpu s)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{' '.join(argv)} exited with {code}:\n{err}")
    return wall, ru.ru_utime + ru.ru_stime


def read_in_as_pwdex_does(pwdex, index, queries):
    """Evict the index and let one untimed check read it in, as a user's
    first check after a build or a reboot does. Read with read() instead,
    part of it stays cached in small folios and is mapped without 2 MiB
    pages, which made lookups dearer (BENCHMARKS.md, eighth session)."""
    evict(index)
    run([pwdex, "check", "-q", "-i", index, queries])


def prepare(args, records):
    d = os.path.join(args.work, f"sha1-{records}")
    os.makedirs(d, exist_ok=True)
    corpus = os.path.join(d, "corpus.txt")
    queries = os.path.join(d, f"queries-{args.queries}.txt")
    index = os.path.join(d, "index.pwdex")
    if not os.path.exists(corpus):
        run([args.synth, "corpus", "--kind", "sha1", "--records", str(records), "-o", corpus])
    if not os.path.exists(queries):
        run([args.synth, "queries", "--corpus", corpus, "--count", str(args.queries),
             "-o", queries])
    build_wall, _ = run([args.pwdex, "build", "-q", corpus, "-o", index])
    return index, queries, build_wall


def fit(xs, ys):
    """Least-squares line y = a + b x."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    return my - b * mx, b


def svg_plot(rows, a, b, project_to, title):
    """A small SVG: CPU ns per query against records (log scale)."""
    w, h, left, right, top, bottom = 640, 360, 70, 20, 40, 50
    x_lo, x_hi = 6.0, math.log10(project_to) + 0.1
    y_hi = max([r["ns"] for r in rows] + [a + b * math.log10(project_to)]) * 1.15
    sx = lambda x: left + (x - x_lo) / (x_hi - x_lo) * (w - left - right)
    sy = lambda y: h - bottom - y / y_hi * (h - top - bottom)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{w / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>']
    # Axes and grid.
    out.append(f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="black"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="black"/>')
    for e, label in [(6, "1M"), (7, "10M"), (8, "100M"), (9, "1G"), (math.log10(2e9), "2G")]:
        x = sx(e)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{h - bottom}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{h - bottom + 16}" text-anchor="middle">{label}</text>')
    step = 10 ** math.floor(math.log10(y_hi / 4)) if y_hi > 0 else 1
    while y_hi / step > 8:
        step *= 2
    y = 0.0
    while y <= y_hi:
        out.append(f'<line x1="{left}" y1="{sy(y):.1f}" x2="{w - right}" y2="{sy(y):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:g}</text>')
        y += step
    out.append(f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle">index records (log scale)</text>')
    out.append(f'<text x="16" y="{h / 2}" text-anchor="middle" '
               f'transform="rotate(-90 16 {h / 2})">CPU ns per query</text>')
    # Fit, dashed beyond the measured range.
    xs = [math.log10(r["records"]) for r in rows]
    x0, x1, x2 = min(xs), max(xs), math.log10(project_to)
    out.append(f'<line x1="{sx(x0):.1f}" y1="{sy(a + b * x0):.1f}" x2="{sx(x1):.1f}" '
               f'y2="{sy(a + b * x1):.1f}" stroke="#36c" stroke-width="1.5"/>')
    out.append(f'<line x1="{sx(x1):.1f}" y1="{sy(a + b * x1):.1f}" x2="{sx(x2):.1f}" '
               f'y2="{sy(a + b * x2):.1f}" stroke="#36c" stroke-width="1.5" stroke-dasharray="5,4"/>')
    out.append(f'<circle cx="{sx(x2):.1f}" cy="{sy(a + b * x2):.1f}" r="4" fill="none" stroke="#36c"/>')
    out.append(f'<text x="{sx(x2) - 6:.1f}" y="{sy(a + b * x2) - 8:.1f}" text-anchor="end">'
               f'projected {a + b * x2:.0f} ns</text>')
    for r in rows:
        x, y = sx(math.log10(r["records"])), sy(r["ns"])
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#c33"/>')
        out.append(f'<text x="{x + 7:.1f}" y="{y - 6:.1f}">{r["ns"]:.0f}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000000,10000000,100000000",
                   help="comma-separated record counts (default: %(default)s)")
    p.add_argument("--queries", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--work", default="/tmp/pwdex-growth")
    p.add_argument("--pwdex", default=os.path.join(PROJECT, "target/release/pwdex"))
    p.add_argument("--synth", default=os.path.join(PROJECT, "target/release/pwdex-synth"))
    p.add_argument("--svg", help="write the plot here")
    p.add_argument("--project-to", type=float, default=2e9)
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if len(sizes) < 2:
        sys.exit("give at least two --sizes to fit a curve")
    for tool in (args.pwdex, args.synth):
        if not os.access(tool, os.X_OK):
            sys.exit(f"{tool} not found: run `cargo build --release` first")

    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load0 = os.getloadavg()
    rows = []
    for records in sizes:
        index, queries, build_wall = prepare(args, records)
        read_in_as_pwdex_does(args.pwdex, index, queries)
        warm(index)
        warm(queries)
        walls, cpus = [], []
        for _ in range(args.runs):
            wall, cpu = run([args.pwdex, "check", "-q", "-i", index, queries])
            walls.append(wall)
            cpus.append(cpu)
        cpu = statistics.median(cpus)
        rows.append({
            "records": records,
            "index_bytes": os.path.getsize(index),
            "wall": statistics.median(walls),
            "wall_min": min(walls),
            "cpu": cpu,
            "ns": cpu / args.queries * 1e9,
            "build": build_wall,
        })
        print(f"{records:>13,} records: cpu {cpu:.3f} s, {rows[-1]['ns']:.0f} ns/query",
              file=sys.stderr)

    a, b = fit([math.log10(r["records"]) for r in rows], [r["ns"] for r in rows])
    projected = a + b * math.log10(args.project_to)
    print(f"### Cost growth: {args.queries:,} queries (half present), warm page cache\n")
    print(f"- command: `python3 tools/cost_growth.py --sizes {args.sizes} "
          f"--queries {args.queries} --runs {args.runs}"
          + (f" --svg {args.svg}`" if args.svg else "`"))
    print(f"- started {started}; load average {load0[0]:.2f} at start, "
          f"{os.getloadavg()[0]:.2f} at end\n")
    print("| index records | index bytes | wall s (median) | CPU s (median) | ns CPU per query |")
    print("|--:|--:|--:|--:|--:|")
    for r in rows:
        print(f"| {r['records']:,} | {r['index_bytes']:,} | {r['wall']:.3f} | "
              f"{r['cpu']:.3f} | {r['ns']:.0f} |")
    print(f"\nLeast-squares fit: {a:.0f} + {b:.0f} · log10(records) ns per query; "
          f"projected at {args.project_to:,.0f} records: **{projected:.0f} ns** per query "
          f"(index in memory).")
    if args.svg:
        with open(args.svg, "w") as f:
            f.write(svg_plot(rows, a, b, args.project_to,
                             f"pwdex check: CPU per query, {args.queries:,} queries"))
        print(f"\nPlot: `{args.svg}`.")


if __name__ == "__main__":
    main()
