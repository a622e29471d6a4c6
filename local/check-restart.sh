#!/usr/bin/env bash
# `make stop` then `make dev` must work every time: stops the services this run started and
# starts them again, twice, and checks that each start reaches a ready table (the bootstrap
# talks to both services). Run by `make test` only when it started the services itself.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for round in 1 2; do
  "$here/stack.sh" down
  if ! "$here/stack.sh" services; then
    echo "[restart] round $round: the services did not come back after a stop" >&2
    exit 1
  fi
done
echo "[restart] stop then start works twice in a row"
