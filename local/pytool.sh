#!/usr/bin/env bash
# Ensures a Python tool is installed in its own venv under local/.tools, then prints the venv's
# bin directory. Usage: local/pytool.sh VENV_NAME 'package==version [package==version ...]' EXECUTABLE
# (the executable of the last package marks the venv as complete).
set -euo pipefail
tools="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/.tools"
venv="$tools/$1" spec="$2" exe="$3"
if [ ! -x "$venv/bin/$exe" ]; then
  echo "[tools] installing $spec into local/.tools/$1" >&2
  mkdir -p "$tools"
  python3 -m venv "$venv"
  read -ra specs <<<"$spec"
  "$venv/bin/pip" install -q --disable-pip-version-check "${specs[@]}" >&2
fi
echo "$venv/bin"
