#!/usr/bin/env bash
# `make test`: installs and starts what the tests need (reusing a running dev stack), runs a
# fresh gateway of the current build on its own port, runs every test, and stops what it started.
# `local/test.sh fuzz` (`make fuzz`) does the same around the long contract fuzz run only.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
export MFA_LOCAL_STATE="${MFA_LOCAL_STATE:-$here/.state}"
source "$here/env.sh"
state="$MFA_LOCAL_STATE"; mkdir -p "$state"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
started_services=0
if ! port_open 8000 || ! port_open 4566; then started_services=1; fi
test_gw_pid=""
cleanup() {
  [ -n "$test_gw_pid" ] && kill "$test_gw_pid" 2>/dev/null || true
  if [ "$started_services" = 1 ]; then "$here/stack.sh" down; fi
}
trap cleanup EXIT

"$here/stack.sh" services
# Services this run owns may be stopped and started again: that must work every time.
if [ "$started_services" = 1 ]; then "$here/check-restart.sh"; fi
cd "$root"
echo "[test] building the workspace and tests" >&2
cargo build -q --workspace --all-targets

# Every gateway of the run logs at TRACE into one directory, and the tests record every secret
# they see: the last test greps those logs for each of them.
export E2E_LOG_DIR="$state/suite-logs" E2E_SECRETS_FILE="$state/suite-secrets.txt"
export E2E_GATEWAY_RUST_LOG=trace
rm -rf "$E2E_LOG_DIR" "$E2E_SECRETS_FILE"; mkdir -p "$E2E_LOG_DIR"
gateway_log="$E2E_LOG_DIR/test-gateway.log"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=$E2E_GATEWAY_RUST_LOG GATEWAY_PORT=$port "$root/target/debug/dev-gateway" >"$gateway_log" 2>&1 &
test_gw_pid=$!
for _ in $(seq 1 150); do port_open "$port" && break; sleep 0.2; done
port_open "$port" || { echo "test gateway did not start:" >&2; tail -n 30 "$gateway_log" >&2; exit 1; }

export E2E_GATEWAY_URL="http://127.0.0.1:$port"
export E2E_GATEWAY_BIN="$root/target/debug/dev-gateway"
export MOTO_SERVER_BIN="$here/.tools/venv/bin/moto_server"
if [ "${1:-}" = fuzz ]; then
  "$here/fuzz.sh" long "$E2E_GATEWAY_URL"
  # Replay races: every way a code is checked, 50 rounds of 20 concurrent same-code requests.
  start=$(date +%s)
  cargo test -q --workspace --test api races -- --ignored --test-threads 1 --nocapture 2>&1 \
    | tee "$state/races.log" | grep -oE '\[races\].*|panicked.*|FAILED.*|test result.*'
  races_status=${PIPESTATUS[0]}
  echo "[races] $(( $(date +%s) - start )) s"
  exit "$races_status"
fi
log="$state/test-output.log"
set +e
cargo test -q --workspace --no-fail-fast -- --test-threads 8 2>&1 | tee "$log"
cargo_status=${PIPESTATUS[0]}
"$here/check-readme.sh" "$E2E_GATEWAY_URL"
readme_status=$?
"$here/check-openapi.sh" "$E2E_GATEWAY_URL"
openapi_status=$?
"$here/fuzz.sh" short "$E2E_GATEWAY_URL"
fuzz_status=$?
# The console page in headless Chromium; it adds the secrets it saw for the log audit below.
"$here/check-web.sh"
web_status=$?
cargo test -q --workspace --test api logs::after_the_whole_suite -- --ignored --nocapture 2>&1 \
  | tee "$state/log-audit.txt" | grep -E '^\[logs\]|panicked|secrets in|test result'
audit_status=${PIPESTATUS[0]}
set -e
# One plain closing line for the whole run (cargo's own last line is a doc-test binary's).
passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
[ "$readme_status" = 0 ] && passed=$((passed + 1)) || failed=$((failed + 1))
[ "$openapi_status" = 0 ] && passed=$((passed + 1)) || failed=$((failed + 1))
[ "$fuzz_status" = 0 ] && passed=$((passed + 1)) || failed=$((failed + 1))
[ "$web_status" = 0 ] && passed=$((passed + 1)) || failed=$((failed + 1))
[ "$audit_status" = 0 ] && passed=$((passed + 1)) || failed=$((failed + 1))
summary="$passed passed, $failed failed"
echo "$summary" > "$state/test-summary.txt"
echo "$summary"
[ "$cargo_status" = 0 ] && [ "$readme_status" = 0 ] && [ "$openapi_status" = 0 ] && [ "$fuzz_status" = 0 ] && [ "$web_status" = 0 ] && [ "$audit_status" = 0 ]
