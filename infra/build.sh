#!/usr/bin/env bash
# Cross-builds every function for Lambda (arm64, provided.al2023) with cargo-lambda, into
# target/lambda/<function>/bootstrap, where the template's CodeUri points.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PATH="$("$root/local/pytool.sh" venv-lambda 'cargo-lambda==1.9.2' cargo-lambda):$PATH"
export PATH
cd "$root"
# cargo-lambda cross-compiles with zig, but the Rust standard library for the target must exist.
if command -v rustup >/dev/null 2>&1 &&
   ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu
fi
for f in functions/*/; do
  cargo lambda build --release --arm64 -p "$(basename "$f")"
done
