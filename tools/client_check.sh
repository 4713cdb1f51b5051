#!/usr/bin/env bash
# tools/client_check.sh: point a published Pwned Passwords client library at a
# local `pwdex serve` and check that it reports the corpus's counts.
#
# The client is pwned-passwords-django (PyPI), which requests
# `{api_endpoint}{prefix}` with `Add-Padding: true` by default and parses the
# body as the public API's. Its endpoint is the public class attribute
# `PwnedPasswords.api_endpoint`; we set it on the instance.
#
# Needs python3 with venv and network access to PyPI, so it is not part of
# `cargo test`. Everything it starts listens on 127.0.0.1 only and is stopped
# on exit.
#
# Usage: tools/client_check.sh
#   env: RECORDS=100000, CLIENT_VERSION=5.2.0, CARGO_TARGET_DIR,
#        NO_BUILD=1 to use the release binaries already built
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
RECORDS=${RECORDS:-100000}
CLIENT_VERSION=${CLIENT_VERSION:-5.2.0}
WORK=$(mktemp -d /tmp/pwdex-client-check.XXXXXX)
SERVER_PID=

cleanup() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -z ${NO_BUILD:-} ]]; then
    echo "== building pwdex (release)"
    (cd "$ROOT" && cargo build --release --quiet --bin pwdex --bin pwdex-synth)
fi
PWDEX=$TARGET/release/pwdex
SYNTH=$TARGET/release/pwdex-synth

echo "== installing pwned-passwords-django $CLIENT_VERSION into a venv"
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet --disable-pip-version-check \
    "pwned-passwords-django==$CLIENT_VERSION"

echo "== corpus: $RECORDS synthetic SHA-1 records with planted passwords"
"$SYNTH" corpus --kind sha1 --records "$RECORDS" -o "$WORK/sha1.txt"
"$PWDEX" build "$WORK/sha1.txt" -o "$WORK/sha1.pwdex" -q

"$PWDEX" serve -i "$WORK/sha1.pwdex" --listen 127.0.0.1:0 2>"$WORK/serve.log" &
SERVER_PID=$!
for _ in $(seq 100); do
    grep -q 'listening on' "$WORK/serve.log" 2>/dev/null && break
    sleep 0.1
done
ADDR=$(sed -n 's/^pwdex: listening on //p' "$WORK/serve.log")
[[ -n $ADDR ]] || { cat "$WORK/serve.log"; echo "server did not start" >&2; exit 1; }
echo "== server at $ADDR"

"$WORK/venv/bin/python" - "$ADDR" "$WORK/sha1.txt" <<'EOF'
import hashlib
import sys
from importlib.metadata import version

import django
from django.conf import settings

addr, dump = sys.argv[1], sys.argv[2]
corpus = {}
with open(dump) as f:
    for line in f:
        h, _, n = line.strip().partition(":")
        corpus[h.upper()] = int(n)

settings.configure(PWNED_PASSWORDS={"API_TIMEOUT": 5.0})
django.setup()
from pwned_passwords_django.api import PwnedPasswords  # noqa: E402

planted = ["password", "P@ssw0rd", "123456", "qwerty", "letmein", "admin",
           "Password1", "pässwörd"]
absent = ["correct horse battery staple", "pwdex-not-in-any-corpus-7f3a"]

failures = 0
print(f"client: pwned-passwords-django {version('pwned-passwords-django')}")
for padding in (True, False):
    client = PwnedPasswords()
    client.api_endpoint = f"{addr}/range/"
    client.add_padding = padding
    print(f"-- Add-Padding: {'true' if padding else 'not sent'}")
    for pw in planted + absent:
        sha1 = hashlib.sha1(pw.encode()).hexdigest().upper()
        want = corpus.get(sha1, 0)
        got = client.check_password(pw)
        ok = got == want
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {pw!r:32} {sha1}  client={got:<10} corpus={want}")
    # Async path too, for one planted password.
    import asyncio
    got = asyncio.run(client.check_password_async("password"))
    want = corpus[hashlib.sha1(b"password").hexdigest().upper()]
    failures += got != want
    print(f"{'ok  ' if got == want else 'FAIL'} async 'password' client={got} corpus={want}")

print("RESULT:", "all counts match" if failures == 0 else f"{failures} mismatches")
sys.exit(1 if failures else 0)
EOF
