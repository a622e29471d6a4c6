#!/usr/bin/env bash
# Lints the template with cfn-lint (installed into local/.tools on first use).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$("$root/local/pytool.sh" venv-lint 'cfn-lint==1.58.0' cfn-lint)"
"$bin/cfn-lint" --config-file "$root/infra/.cfnlintrc.yaml" "$root/infra/template.yaml"
echo "[lint] cfn-lint: template.yaml clean"
