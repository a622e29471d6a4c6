#!/usr/bin/env bash
# Contract fuzzing with schemathesis against a running gateway's GET /openapi.json: every route,
# generated and mutated bodies, headers and ids, as a fresh trial user with a valid step-up
# token (so the (step-up) routes are reached, not only their 403). Checks: no 5xx, every status
# documented, every body and header as documented, the documented content type.
#   local/fuzz.sh short URL   a bounded run for `make test` (under 2 minutes)
#   local/fuzz.sh long URL    `make fuzz`: at least 10,000 requests, with the count and time
# Loopback only: URL must be http://127.0.0.1:PORT.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
mode="${1:?short|long}" url="${2:?gateway url}"
case "$url" in http://127.0.0.1:*) ;; *) echo "[fuzz] only a loopback gateway" >&2; exit 2 ;; esac
bin="$("$here/pytool.sh" venv-fuzz 'schemathesis==4.32.5' schemathesis)"
moto="${MOTO_ENDPOINT:-http://127.0.0.1:4566}"
sub="fuzz-$(date +%s)-$$"
token="$("$here/token" --sub "$sub" --email "$sub@example.com" --org-id "org-$sub" --org-role owner --plan trial | tail -n 1)"
step_up="$("$bin/python" - "$url" "$moto" "$token" "$sub@example.com" <<'PY'
import json, re, sys, time, urllib.request
url, moto, token, to = sys.argv[1:]
def post(path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=10))
challenge = post("/v1/step-up/email", {})["challenge_id"]
for _ in range(50):
    data = json.load(urllib.request.urlopen(moto + "/moto-api/data.json", timeout=10))
    mails = [m for m in data.get("ses", {}).get("Message", [])
             if to in m.get("destinations", {}).get("ToAddresses", [])]
    codes = [c for m in mails for c in re.findall(r"\b\d{6,8}\b", m.get("body", ""))]
    if codes:
        break
    time.sleep(0.1)
else:
    sys.exit("no step-up email arrived")
print(post("/v1/step-up/email/verify", {"challenge_id": challenge, "code": codes[-1]})["step_up_token"])
PY
)"
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
if [ "$mode" = short ]; then
  args=(--max-examples 15 --phases examples,coverage,fuzzing --max-time 45)
else
  args=(--max-examples 600 --phases examples,coverage,fuzzing,stateful)
fi
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
start=$(date +%s)
set +e
(cd "$(mktemp -d)" && "$bin/schemathesis" run "$url/openapi.json" --no-color -w 2 \
  -H "Authorization: Bearer $token" -H "X-Step-Up-Token: $step_up" \
  --checks "$checks" "${args[@]}") >"$out" 2>&1
status=$?
set -e
secs=$(( $(date +%s) - start ))
cases="$(grep -Eo '[0-9]+ generated' "$out" | tail -n 1 | grep -Eo '[0-9]+' || echo 0)"
if [ "$status" != 0 ]; then
  sed -n '/FAILURES/,$p' "$out" | head -n 120 >&2
  echo "[fuzz] $mode: failures after $cases test cases in ${secs}s" >&2
  exit 1
fi
grep -E "^ *(✅|❌|⚠️)|Test cases|generated" "$out" | tail -n 8 >&2 || true
echo "[fuzz] $mode: $cases test cases, 0 failures, in ${secs}s"
