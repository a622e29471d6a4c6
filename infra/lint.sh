#!/usr/bin/env bash
# Lints the template with cfn-lint (installed into local/.tools on first use).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/local/.tools/venv-lint"
if [ ! -x "$venv/bin/cfn-lint" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'cfn-lint==1.58.0'
fi
"$venv/bin/cfn-lint" --config-file "$root/infra/.cfnlintrc.yaml" "$root/infra/template.yaml"
echo "[lint] cfn-lint: template.yaml clean"
