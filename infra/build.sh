#!/usr/bin/env bash
# Cross-builds every function for Lambda (arm64, provided.al2023) with cargo-lambda, into
# target/lambda/<function>/bootstrap, where the template's CodeUri points.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PATH="$("$root/local/pytool.sh" venv-lambda 'cargo-lambda==1.9.2' cargo-lambda):$PATH"
export PATH
cd "$root"
for f in functions/*/; do
  cargo lambda build --release --arm64 -p "$(basename "$f")"
done
