#!/usr/bin/env bash
# Fetches the running gateway's `GET /openapi.json` (no token), validates it as OpenAPI 3.1 with
# openapi-spec-validator, and checks that it is the checked-in docs/openapi.json.
# Usage: local/check-openapi.sh GATEWAY_URL
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
bin="$("$here/pytool.sh" venv-openapi 'openapi-spec-validator==0.9.0' openapi-spec-validator)"
served="$(mktemp --suffix=.json)"
trap 'rm -f "$served"' EXIT
"$bin/python" -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1] + "/openapi.json", timeout=10).read().decode())' "$1" >"$served"
"$bin/openapi-spec-validator" --schema 3.1 "$served"
if ! cmp -s "$served" "$root/docs/openapi.json"; then
  echo "[openapi] the served document is not docs/openapi.json: run \`make openapi\`" >&2
  exit 1
fi
echo "[openapi] GET /openapi.json is valid OpenAPI 3.1 and matches docs/openapi.json"
