#!/usr/bin/env bash
# Runs ceph/s3-tests (the S3 conformance suite) against sagebox. The suite is not vendored: pass
# the path of a checkout. Not part of `make test` (CI cannot fetch the suite).
#
#   tests/s3tests/run.sh /path/to/s3-tests [extra pytest args...]
#
# Starts target/debug/sagebox (or $SAGEBOX_BIN) on a free port with a temp data dir, writes an
# s3tests.conf for it, and runs the functional S3 tests minus the groups in skip.txt, with the
# suite's own requirements in a venv at $S3TESTS_VENV (default /tmp/s3tests-venv).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
suite="${1:?usage: run.sh /path/to/s3-tests [pytest args...]}"; shift
suite="$(cd "$suite" && pwd)"
bin="${SAGEBOX_BIN:-$repo/target/debug/sagebox}"
venv="${S3TESTS_VENV:-/tmp/s3tests-venv}"
[ -x "$bin" ] || { echo "no sagebox binary at $bin: run cargo build" >&2; exit 2; }

if [ ! -x "$venv/bin/pytest" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet -r "$suite/requirements.txt"
fi

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$bin" serve --bind "127.0.0.1:$port" --data-dir "$work/data" --no-samples >"$work/sagebox.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/_sagebox/health" >/dev/null && break; sleep 0.1; done

# Every identity the suite knows maps to sagebox's single user: sagebox accepts any credentials.
cat >"$work/s3tests.conf" <<CONF
[DEFAULT]
host = 127.0.0.1
port = $port
is_secure = False
ssl_verify = False
[fixtures]
bucket prefix = s3t-{random}-
iam name prefix = s3-tests-
iam path prefix = /s3-tests/
[s3 main]
display_name = sagebox
user_id = sagebox
email = sagebox@example.com
api_name = default
access_key = main-key
secret_key = main-secret
[s3 alt]
display_name = alt
email = alt@example.com
user_id = alt
access_key = alt-key
secret_key = alt-secret
[s3 tenant]
display_name = tenant
user_id = tenant
access_key = tenant-key
secret_key = tenant-secret
email = tenant@example.com
tenant = testx
[iam]
email = iam@example.com
user_id = iam
access_key = iam-key
secret_key = iam-secret
display_name = iam
[iam root]
access_key = root-key
secret_key = root-secret
user_id = root
email = root@example.com
[iam alt root]
access_key = altroot-key
secret_key = altroot-secret
user_id = altroot
email = altroot@example.com
CONF

# skip.txt: "mark <name>" lines become a -m exclusion, "test <name>" lines a -k exclusion.
marks=$(awk '$1=="mark"{print $2}' "$here/skip.txt" | paste -sd' ' | sed 's/ / or /g')
tests=$(awk '$1=="test"{print $2}' "$here/skip.txt" | paste -sd' ' | sed 's/ / or /g')
args=(-q -p no:cacheprovider "s3tests/functional/test_s3.py")
[ -n "$marks" ] && args+=(-m "not ($marks)")
[ -n "$tests" ] && args+=(-k "not ($tests)")
cd "$suite"
S3TEST_CONF="$work/s3tests.conf" "$venv/bin/pytest" "${args[@]}" "$@" || status=$?
echo "sagebox log: last lines"; tail -5 "$work/sagebox.log"
exit "${status:-0}"
