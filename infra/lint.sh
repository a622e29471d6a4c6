#!/usr/bin/env bash
# Lints the template with cfn-lint, `sam validate --lint` and checkov (installed into
# local/.tools on first use).
# checkov must report 0 failed checks, and every check the template skips must say why.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
template="$root/infra/template.yaml"
bin="$("$root/local/pytool.sh" venv-lint 'cfn-lint==1.58.0' cfn-lint)"
"$bin/cfn-lint" --config-file "$root/infra/.cfnlintrc.yaml" "$template"
echo "[lint] cfn-lint: template.yaml clean"

sam="$("$root/local/pytool.sh" venv-sam 'aws-sam-cli==1.170.0' sam)"
if ! out="$(cd "$root/infra" && SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" \
  "$sam/sam" validate --lint --template-file template.yaml 2>&1)"; then
  echo "$out" >&2
  exit 1
fi
echo "[lint] sam validate --lint: template.yaml is a valid SAM template"

# The SMS account controls custom resource's inline handler, against the service model
# (aws-sam-cli's venv has boto3 and PyYAML).
if ! out="$("$sam/python" "$root/infra/test_sms_account_controls.py" 2>&1)"; then
  echo "$out" >&2
  exit 1
fi
echo "[lint] the SMS account controls handler: $(tail -n 3 <<<"$out" | grep -E '^Ran' )"

# What `sam build` needs of each function (infra/build.sh runs it): BuildMethod
# rust-cargolambda, and a CodeUri that is a crate of this workspace.
bad="$(awk -v root="$root" '
  /^  [A-Za-z]+Function:$/ { fn = $1; method = 0 }
  fn && /BuildMethod: rust-cargolambda/ { method = 1 }
  fn && /CodeUri:/ {
    dir = root "/infra/" $2
    if (!method) print fn " has no BuildMethod rust-cargolambda"
    if (system("test -f \"" dir "/Cargo.toml\"") != 0) print fn " CodeUri " $2 " is not a crate"
    fn = ""
  }' "$template")"
if [ -n "$bad" ]; then
  echo "[lint] template functions sam build cannot build: $bad" >&2
  exit 1
fi
echo "[lint] every function builds with sam build (rust-cargolambda, CodeUri a workspace crate)"

# The DynamoDB actions every function's code path can reach through the shared domain must be
# granted to each function's role (a local run has no IAM, so nothing else would notice):
# batch reads, and the condition checks of a transaction (dynamodb:ConditionCheckItem).
dynamo="$root/shared/aws/src/dynamo"
needs=()
grep -rq "batch_get_item()" "$dynamo" && needs+=(dynamodb:BatchGetItem)
grep -rq "ConditionCheck::builder()" "$dynamo" && needs+=(dynamodb:ConditionCheckItem)
roles="$(grep -c "Sid: TableItems" "$template")"
for action in "${needs[@]}"; do
  granted="$(grep -c -- "- $action\$" "$template" || true)"
  if [ "$granted" != "$roles" ]; then
    echo "[lint] $action is used by the DynamoDB adapter but granted to $granted of $roles roles" >&2
    exit 1
  fi
done
echo "[lint] every role grants the DynamoDB actions the adapter uses (${needs[*]})"

unjustified="$(awk '/- id: CKV_/ { id = $3; getline; if ($1 != "comment:" || NF < 3) print id }' "$template")"
if [ -n "$unjustified" ]; then
  echo "[lint] checkov skips without a reason: $unjustified" >&2
  exit 1
fi
checkov="$("$root/local/pytool.sh" venv-checkov 'checkov==3.3.30' checkov)"
report="$("$checkov/checkov" -f "$template" --framework cloudformation --compact 2>&1 || true)"
summary="$(grep -E 'Passed checks' <<<"$report" || true)"
if ! grep -q "Failed checks: 0," <<<"$summary"; then
  grep -A3 -E '^Check:' <<<"$report" | grep -v PASSED >&2 || echo "$report" >&2
  echo "[lint] checkov: $summary" >&2
  exit 1
fi
echo "[lint] checkov: $summary (every skip has its reason in the template)"
