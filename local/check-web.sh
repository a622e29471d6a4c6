#!/usr/bin/env bash
# The console page's browser test (`make test` runs it): installs Debian's chromium with apt if
# it is missing and a venv with Playwright for Python (driving that chromium, never a downloaded
# browser), zxing-cpp (reads the QR image) and pyotp, then runs local/tests/web_console.py
# against a private dev gateway of this build. Needs DynamoDB Local and moto running.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
if ! command -v chromium >/dev/null 2>&1; then
  echo "[web] installing chromium (Debian)" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
export CHROMIUM_BIN="${CHROMIUM_BIN:-$(command -v chromium)}"
# Playwright must not fetch its own browser: it drives the one above by its path.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
bin="$("$here/pytool.sh" venv-web 'pillow==13.0.0 zxing-cpp==3.1.1 pyotp==2.12.1 playwright==1.65.2' playwright)"
exec "$bin/python3" "$here/tests/web_console.py"
