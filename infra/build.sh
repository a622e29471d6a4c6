#!/usr/bin/env bash
# Cross-builds every function for Lambda (arm64, provided.al2023) with cargo-lambda, into
# target/lambda/<function>/bootstrap, where the template's CodeUri points.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/local/.tools/venv-lambda"
if [ ! -x "$venv/bin/cargo-lambda" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'cargo-lambda==1.9.2'
fi
export PATH="$venv/bin:$PATH"
cd "$root"
for f in functions/*/; do
  cargo lambda build --release --arm64 -p "$(basename "$f")"
done
