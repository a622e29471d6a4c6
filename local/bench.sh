#!/usr/bin/env bash
# `make bench`: builds every function and the hello-world baseline in release, starts the local
# stack if it is not up (and stops what it started), and runs local/bench.py, which prints the
# table and writes docs/PERFORMANCE.md with its chart. Not part of `make test`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
export MFA_LOCAL_STATE="${MFA_LOCAL_STATE:-$here/.state}"
source "$here/env.sh"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
started_services=0
if ! port_open 8000 || ! port_open 4566; then started_services=1; fi
cleanup() { if [ "$started_services" = 1 ]; then "$here/stack.sh" down; fi; }
trap cleanup EXIT
"$here/stack.sh" services

cd "$root"
packages=(-p bench-hello)
for f in functions/*/; do packages+=(-p "$(basename "$f")"); done
echo "[bench] building ${#packages[@]} binaries in release (a first build takes about 20 minutes)" >&2
start=$(date +%s)
cargo build --release -q "${packages[@]}"
echo "[bench] built in $(( $(date +%s) - start )) s" >&2
"$("$here/pytool.sh" bench "pyotp==2.9.0" python3)/python3" "$here/bench.py" "$root/target/release" "$root/docs/PERFORMANCE.md" \
  "$root/docs/performance-init.svg" "${BENCH_ROUNDS:-7}"
echo "[bench] wrote docs/PERFORMANCE.md and docs/performance-init.svg" >&2
