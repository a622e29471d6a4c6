#!/usr/bin/env bash
# Runs the README's curl walkthrough exactly as written against a gateway URL (default the dev
# gateway), with a fresh user so repeated runs do not meet the send limit. Fails if any step
# does not give the documented answer.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
url="${1:-http://127.0.0.1:3000}"
id="readme-$(date +%s%N)"
script=$(sed -n '/<!-- walkthrough:start -->/,/<!-- walkthrough:end -->/p' "$root/README.md" | sed '/^<!--/d;/^```/d' \
  | sed "s#http://127.0.0.1:3000#$url#g; s#user-1#$id#g; s#jane@example.com#$id@example.com#g")
out=$(cd "$root" && bash -euo pipefail -c "$script")
echo "$out" | grep -q '"step_up_token":"' || { echo "README walkthrough: no step-up token in: $out" >&2; exit 1; }
echo "$out" | grep -q '"code":"expired"' || { echo "README walkthrough: reuse was not refused: $out" >&2; exit 1; }
echo "[readme] walkthrough works as written"
