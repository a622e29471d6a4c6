#!/usr/bin/env bash
# Builds every function for Lambda (arm64, provided.al2023) the way a deploy does: `sam build`
# with the template's BuildMethod rust-cargolambda, which runs `cargo lambda build --release
# --arm64` in each function's crate and copies its bootstrap into infra/.aws-sam/build/<Function>/.
# Installs cargo-lambda and the SAM CLI from PyPI, and the aarch64 standard library with rustup,
# when they are missing. Then checks that each function got an arm64 Linux executable.
# Deploy afterwards with `sam deploy --guided` from infra/ (it picks up .aws-sam/build).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lambda="$("$root/local/pytool.sh" venv-lambda 'cargo-lambda==1.9.2' cargo-lambda)"
sam="$("$root/local/pytool.sh" venv-sam 'aws-sam-cli==1.170.0' sam)"
# cargo-lambda cross-compiles with zig (from its wheel), but the Rust standard library for the
# target must be installed.
if command -v rustup >/dev/null 2>&1 &&
  ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu
fi
cd "$root/infra"
PATH="$lambda:$PATH" SAM_CLI_TELEMETRY=0 SAM_CLI_BETA_RUST_CARGO_LAMBDA=1 \
  AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" \
  "$sam/sam" build --template-file template.yaml --beta-features "$@"

# One bootstrap per function in the template, each an aarch64 ELF executable.
functions="$(awk '/^  [A-Za-z]+Function:$/ { sub(":", "", $1); print $1 }' template.yaml)"
[ -n "$functions" ] || { echo "[build] no functions found in template.yaml" >&2; exit 1; }
for f in $functions; do
  bin=".aws-sam/build/$f/bootstrap"
  if [ ! -x "$bin" ]; then
    echo "[build] $f: no executable $bin" >&2
    exit 1
  fi
  # ELF magic, 64-bit class, and e_machine 0xB7 (AArch64) at offset 18.
  if [ "$(head -c 4 "$bin" | od -An -c | tr -d ' ')" != '177ELF' ] ||
    [ "$(od -An -tx1 -j18 -N2 "$bin" | tr -d ' ')" != 'b700' ]; then
    echo "[build] $f: $bin is not an arm64 ELF executable" >&2
    exit 1
  fi
  zipped="$(python3 -c 'import io, sys, zipfile
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    z.write(sys.argv[1], "bootstrap")
print(f"{buf.tell() / 1e6:.2f}")' "$bin")"
  echo "[build] $f: arm64 bootstrap $(du -h "$bin" | cut -f1), zip ${zipped} MB"
done
