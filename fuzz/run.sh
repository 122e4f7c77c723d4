#!/usr/bin/env bash
# Fuzz the API with schemathesis against a real gunicorn (issue 5, item 2).
#   fuzz/run.sh [MAX_EXAMPLES] [MAX_TIME_SECONDS]
# A fresh instance folder, a user, a project and a PAT holding every scope of the
# catalogue (no expiry); all of schemathesis' checks; the server stops on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${BIN:-$ROOT/.venv/bin}
EXAMPLES=${1:-100}
MAX_TIME=${2:-}
SEED=${FUZZ_SEED:-$RANDOM}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tokenapp-fuzz.XXXXXX")
export TOKENAPP_INSTANCE_PATH="$WORK/instance"
unset TOKENAPP_DATABASE_URL TOKENAPP_SCOPES_FILE
SERVER=
cleanup() {
  if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then
    kill "$SERVER" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# GET a URL (optionally with a bearer token); fails on any non-2xx answer.
get() {
  "$BIN/python" - "$@" <<'PY'
import sys, urllib.request
request = urllib.request.Request(sys.argv[1])
if len(sys.argv) > 2:
    request.add_header("Authorization", "Bearer " + sys.argv[2])
urllib.request.urlopen(request, timeout=5)
PY
}

PORT=$("$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"

"$BIN/tokenapp" init
PASSWORD=$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(18))')
echo "$PASSWORD" | "$BIN/tokenapp" create-user fuzzer --password-stdin
"$BIN/tokenapp" project create fuzz --owner fuzzer
FUZZ_SCOPES=$("$BIN/python" -c 'from tokenapp import create_app
print(" ".join(create_app().extensions["tokenapp.scopes"].scope_strings))')
# shellcheck disable=SC2046  # one --scope=S word per scope string
TOKEN=$("$BIN/tokenapp" token create --user fuzzer --note fuzz --expiration never \
  $(printf -- '--scope=%s ' $FUZZ_SCOPES))

"$BIN/tokenapp" serve --bind "127.0.0.1:$PORT" --workers 2 >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do
  get "$BASE/healthz" 2>/dev/null && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  sleep 0.2
done

echo "== schemathesis: $EXAMPLES examples per operation, seed $SEED${MAX_TIME:+, at most ${MAX_TIME}s}"
status=0
# Run from the temp folder: schemathesis keeps a .schemathesis/ cache in its working directory.
cd "$WORK"
FUZZ_PROJECT=fuzz FUZZ_TOKEN=$TOKEN FUZZ_SCOPES=$FUZZ_SCOPES FUZZ_BASE_URL=$BASE BIN=$BIN \
  SCHEMATHESIS_HOOKS=fuzz.hooks PYTHONPATH=$ROOT \
  "$BIN/schemathesis" --config-file "$ROOT/fuzz/schemathesis.toml" run "$BASE/api/v1/openapi.json" \
  --checks all \
  --max-examples "$EXAMPLES" \
  --seed "$SEED" \
  --workers 2 \
  --request-timeout 10 \
  --report junit --report-dir "${FUZZ_REPORT_DIR:-$WORK/report}" \
  ${MAX_TIME:+--max-time "$MAX_TIME"} || status=$?

# Any 5xx in gunicorn's access log fails the run (schemathesis checks it too).
if grep -E '" 5[0-9]{2} ' "$WORK/server.log"; then
  echo "== the server answered 5xx (above)"; status=1
fi
tracebacks=$(grep -c "Traceback" "$WORK/server.log" || true)
echo "== server log: $tracebacks logged traceback(s) (errors the app caught and logged)"
[ "$tracebacks" = 0 ] || grep -A1 -B1 "^Traceback" "$WORK/server.log" | grep -v "^Traceback\|^--" | sort | uniq -c | head
exit "$status"
