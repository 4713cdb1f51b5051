#!/usr/bin/env bash
# Cold-index check: evict an index from the page cache, run one batch, and
# report the time, the pages brought in (fincore) and the issue-4 budget
# (filter pages + 1.5 pages per present query + 5% of the file).
#
# Usage: tools/cold_check.sh INDEX QUERIES [PWDEX]
#   e.g. pwdex-synth corpus --kind sha1 --records 100000000 -o /tmp/c100.txt
#        pwdex build /tmp/c100.txt -o /tmp/c100.pwdex
#        pwdex-synth queries --corpus /tmp/c100.txt --count 100000 -o /tmp/q100k.txt
#        tools/cold_check.sh /tmp/c100.pwdex /tmp/q100k.txt
set -euo pipefail
index=$1 queries=$2 pwdex=${3:-target/release/pwdex}
evict() { python3 -c "import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)" "$1"; }
sync
evict "$index"
before=$(fincore --noheadings --output PAGES "$index" | tr -d ' ')
start=$(date +%s.%N)
found=$("$pwdex" check -i "$index" "$queries" -q | wc -l)
end=$(date +%s.%N)
after=$(fincore --noheadings --output PAGES "$index" | tr -d ' ')
queries_n=$(wc -l < "$queries")
read -r file_bytes filter_bytes < <("$pwdex" info "$index" --json | python3 -c "import json,sys; v=json.load(sys.stdin); print(v['file_bytes'], v['filter_bytes'])")
python3 - "$before" "$after" "$found" "$queries_n" "$file_bytes" "$filter_bytes" "$start" "$end" <<'PY'
import sys
before, after, found, n, file_bytes, filter_bytes = map(int, sys.argv[1:7])
secs = float(sys.argv[8]) - float(sys.argv[7])
budget = filter_bytes / 4096 + 1.5 * found + 0.05 * file_bytes / 4096
print(f"queries {n}, found {found}, {secs:.2f} s ({secs / n * 1e6:.1f} us/query)")
print(f"pages resident before {before}, after {after} of {file_bytes // 4096} "
      f"({after / (file_bytes / 4096) * 100:.1f}% of the file); budget {budget:.0f} -> {'OK' if after <= budget else 'OVER'}")
PY
