#!/usr/bin/env bash
# Runs the README's curl walkthroughs (every walkthrough block, in order, in one shell) exactly
# as written against a gateway URL (default the dev gateway), with a fresh user and phone number
# so repeated runs do not meet the send limits. Fails if any step does not give the documented
# answer.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
url="${1:-http://127.0.0.1:3000}"
id="readme-$(date +%s%N)"
# A fresh French mobile number too, so repeated runs do not meet the per-number SMS limit.
phone=$(printf '+3362%07d' $(( (RANDOM * 32768 + RANDOM) % 10000000 )))
script=$(sed -n '/<!-- walkthrough:start -->/,/<!-- walkthrough:end -->/p' "$root/README.md" | sed '/^<!--/d;/^```/d' \
  | sed "s#http://127.0.0.1:3000#$url#g; s#user-1#$id#g; s#jane@example.com#$id@example.com#g; s#+33623456789#$phone#g")
out=$(cd "$root" && bash -euo pipefail -c "$script")
echo "$out" | grep -q '"step_up_token":"' || { echo "README walkthrough: no step-up token in: $out" >&2; exit 1; }
echo "$out" | grep -q '"code":"expired"' || { echo "README walkthrough: reuse was not refused: $out" >&2; exit 1; }
for expect in '"status":"approved","assertion":"' '"device_token":"' '"remembered_devices":1' '"api_basic_auth":"disabled"' '"keys":['; do
  echo "$out" | grep -qF "$expect" || { echo "README login walkthrough: no $expect in: $out" >&2; exit 1; }
done
echo "[readme] walkthroughs work as written"
