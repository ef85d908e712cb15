#!/usr/bin/env bash
# WebSocket interop: clients written by others against an echo server.
#
#   ECHO_BIN=build/apps/echo/echo_server tests/interop/run_interop.sh [node|python|all]
#
# Starts `$ECHO_BIN --port P` on a free port, runs the chosen clients against
# ws://127.0.0.1:P/echo, stops it; then the same with `$ECHO_BIN --port Q
# --compression`, where every connection must negotiate permessage-deflate.
# The clients are Node's `ws` (tests/interop/ws_client.mjs; `npm ci` in
# tests/interop, which tools/bootstrap runs) and Python's `websockets`
# (tests/interop/websockets_client.py; Debian's python3-websockets). Each
# prints TAP. Exits 0 when every client passed, 1 when one failed or the
# server died, 77 when none of the chosen clients can run here (ctest's skip).
#
# ECHO_BIN may carry arguments, so other servers of the same contract can be
# checked too, e.g. Tornado itself:
#   ECHO_BIN="/usr/bin/python3 tools/bench/tornado_echo.py" ECHO_TODO=ping-between-fragments \
#     tests/interop/run_interop.sh
# (Tornado 6.2 loses the compression of a fragmented message when a ping
# arrives between its fragments; ECHO_TODO turns named cases into TAP TODOs.)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 2

which=${1:-all}
case "$which" in
  node | python | all) ;;
  *) echo "usage: ECHO_BIN=... $0 [node|python|all]" >&2; exit 2 ;;
esac
if [[ -z "${ECHO_BIN:-}" ]]; then
  echo "ECHO_BIN is not set (the echo server binary, e.g. build/apps/echo/echo_server)" >&2
  exit 2
fi
read -r -a server_cmd <<<"$ECHO_BIN"

python=/usr/bin/python3
[[ -x "$python" ]] || python=python3

# Which clients can run here.
clients=()
skipped=()
if [[ "$which" == node || "$which" == all ]]; then
  if ! command -v node >/dev/null; then
    skipped+=("ws client: node is missing (run tools/bootstrap)")
  elif [[ ! -f "$here/node_modules/ws/package.json" ]]; then
    skipped+=("ws client: tests/interop/node_modules is missing (run tools/bootstrap)")
  else
    clients+=(node)
  fi
fi
if [[ "$which" == python || "$which" == all ]]; then
  if ! "$python" -c "import websockets" 2>/dev/null; then
    skipped+=("websockets client: python3-websockets is missing (run tools/bootstrap)")
  else
    clients+=(python)
  fi
fi
for reason in "${skipped[@]}"; do echo "SKIPPED: $reason"; done
((${#clients[@]})) || exit 77

free_port() {
  "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

logdir=$(mktemp -d "${TMPDIR:-/tmp}/tornado-interop.XXXXXX")
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null
  fi
  rm -rf "$logdir"
}
trap cleanup EXIT

# start_server PORT [FLAGS...]: starts it and waits until the port accepts.
start_server() {
  local port=$1
  shift
  "${server_cmd[@]}" --port "$port" "$@" >"$logdir/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "server exited at start: ${server_cmd[*]} --port $port $*"
      sed 's/^/  | /' "$logdir/server.log"
      return 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "server did not listen on port $port within 10 s"
  return 1
}

# stop_server: fails if the server died before being asked to stop.
stop_server() {
  local status=0
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "server died during the run:"
    sed 's/^/  | /' "$logdir/server.log" | tail -n 30
    status=1
  else
    kill -TERM "$server_pid"
    for _ in $(seq 50); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
      echo "note: server still running 5 s after SIGTERM; killed"
      kill -KILL "$server_pid"
    fi
  fi
  wait "$server_pid" 2>/dev/null
  server_pid=""
  return "$status"
}

failed=0
summary=()
for mode in plain compression; do
  port=$(free_port)
  flags=()
  export ECHO_COMPRESSION=0
  if [[ "$mode" == compression ]]; then
    flags=(--compression)
    export ECHO_COMPRESSION=1
  fi
  echo "== ${server_cmd[*]} --port $port ${flags[*]}"
  if ! start_server "$port" "${flags[@]}"; then
    failed=1
    summary+=("server ($mode): did not start")
    continue
  fi
  export ECHO_URL="ws://127.0.0.1:$port/echo"
  for client in "${clients[@]}"; do
    if [[ "$client" == node ]]; then
      node "$here/ws_client.mjs" | tee "$logdir/client.tap"
    else
      "$python" "$here/websockets_client.py" | tee "$logdir/client.tap"
    fi
    status=${PIPESTATUS[0]}
    line=$(grep -E '^# .*client: ' "$logdir/client.tap" | tail -n 1)
    summary+=("${line:-# $client client: no summary (exit $status)} [$mode]")
    ((status == 0)) || failed=1
  done
  if ! stop_server; then
    failed=1
    summary+=("server ($mode): died during the run")
  fi
done

echo "== interop summary"
printf '%s\n' "${summary[@]}"
for reason in "${skipped[@]}"; do echo "SKIPPED: $reason"; done
if ((failed)); then
  echo "interop: FAILED"
  exit 1
fi
echo "interop: passed"
