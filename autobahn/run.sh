#!/usr/bin/env bash
# Runs the Autobahn conformance cases against our testee server and testee
# client, then checks the reports. Usage:
#
#   autobahn/run.sh builtin   the built-in suite (Go only; what `make test` runs)
#   autobahn/run.sh builtin-h2  the same over HTTP/2 (RFC 8441): every case is
#                             a stream of one h2c connection, opened with an
#                             extended CONNECT, in both roles (GODEBUG=http2xconnect=1)
#   autobahn/run.sh real      the real suite in docker (crossbario/autobahn-testsuite)
#   autobahn/run.sh peers     the built-in suite against Node's ws and Python's
#                             websockets (server and client), compared case by
#                             case with the real suite's verdicts for that
#                             version (for websockets 10.4: its maintainers'
#                             documented results); needs node and
#                             `npm ci --prefix interop/node`, and Debian's
#                             python3-websockets (with CI=true a missing peer
#                             fails, else the test skips)
#   autobahn/run.sh auto      real when a docker engine answers, else builtin
#
# CASES (default '*') and EXCLUDE select cases for the built-in suite;
# SUITE_PROCS (default 1) is the suite processes' GOMAXPROCS;
# PARALLEL (default 2) is how many cases run at once in each role (the
# suite against our server, our client against the suite), so that cases
# waiting on the suite's timers do not hold up the others. The two roles
# run at the same time unless SERIAL=1.
# Reports: autobahn/reports/{builtin,real}-{server,client}/. Exit status 1 if
# any case fails the checker.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-builtin}
if [ "$mode" = auto ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then mode=real; else
    echo "autobahn: no docker engine here, running the built-in suite instead"
    mode=builtin
  fi
fi

if [ "$mode" = peers ]; then
  WS_AUTOBAHN_PEERS=1 exec go test -count=1 -v -run 'TestNodeWS|TestPythonWebsockets' ./autobahn/suite
fi

bin=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$bin"; }
trap cleanup EXIT
go build -o "$bin/" ./autobahn/testee/server ./autobahn/testee/client ./autobahn/wstest ./autobahn/check

# wait_port HOST:PORT — until something listens there (bounded).
wait_port() {
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "autobahn: nothing listens on $1"; return 1
}

server_addr=127.0.0.1:9001
suite_addr=127.0.0.1:9002
# builtin-h2: the same runs over HTTP/2, on ports of their own (so that it
# can run next to builtin), with reports in builtin-h2-{server,client}.
tag=builtin h2=()
if [ "$mode" = builtin-h2 ]; then
  server_addr=127.0.0.1:9011 suite_addr=127.0.0.1:9012 tag=builtin-h2 h2=(-h2)
  # Go's HTTP/2 server accepts extended CONNECT (RFC 8441) only with this
  # in the environment at process start (Go 1.26/1.27); the testee server
  # and the suite's fuzzing server need it.
  export GODEBUG="${GODEBUG:+$GODEBUG,}http2xconnect=1"
fi
out=autobahn/reports
status=0

"$bin/server" -addr "$server_addr" >"$bin/server.log" 2>&1 &
pids+=($!)
wait_port "$server_addr"

case "$mode" in
builtin|builtin-h2)
  rm -rf "$out/$tag-server" "$out/$tag-client"
  # Four processes share the machine (two suites, two testees): each suite
  # gets one processor (SUITE_PROCS), so that its goroutines hand work to
  # each other on one thread instead of waking and spinning threads; on
  # two cores this cuts the suite's CPU by about a quarter and the whole
  # run's by about a tenth, with the same verdicts. The testees keep
  # the default, as users run them.
  suite_procs=${SUITE_PROCS:-1}
  t0=$SECONDS
  # Both roles run at once: most of their time goes to compression (groups
  # 12 and 13), and together they keep both cores busy. SERIAL=1 runs them
  # one after the other.
  GOMAXPROCS=$suite_procs "$bin/wstest" -mode fuzzingserver -addr "$suite_addr" \
    -cases "${CASES:-*}" -exclude "${EXCLUDE:-}" -out "$out/$tag-client" >"$bin/client-role.log" 2>&1 &
  pids+=($!)
  wait_port "$suite_addr"
  client_role() {
    "$bin/client" -url "ws://$suite_addr" -agent ws6455 -parallel "${PARALLEL:-2}" ${h2[@]+"${h2[@]}"} >>"$bin/client-role.log" 2>&1
    echo "client role: $((SECONDS - t0)) s" >>"$bin/client-role.log"
  }
  if [ "${SERIAL:-}" = 1 ]; then client_role; else client_role & client_pid=$!; pids+=($client_pid); fi

  echo "== built-in suite against our server (fuzzingclient mode${h2[@]+, over HTTP/2})"
  GOMAXPROCS=$suite_procs "$bin/wstest" -mode fuzzingclient -url "ws://$server_addr" -agent ws6455 ${h2[@]+"${h2[@]}"} \
    -cases "${CASES:-*}" -exclude "${EXCLUDE:-}" -parallel "${PARALLEL:-2}" -out "$out/$tag-server"
  echo "server role: $((SECONDS - t0)) s"
  if [ -n "${client_pid:-}" ] && ! wait "$client_pid"; then status=1; fi
  "$bin/check" -allow autobahn/allowlist.txt "$out/$tag-server" || status=1

  echo "== built-in suite against our client (fuzzingserver mode${h2[@]+, over HTTP/2})"
  cat "$bin/client-role.log"
  "$bin/check" -allow autobahn/allowlist.txt "$out/$tag-client" || status=1
  echo "both roles: $((SECONDS - t0)) s"
  ;;
real)
  image=crossbario/autobahn-testsuite
  echo "== real suite against our server (fuzzingclient mode)"
  docker run --rm --net=host -v "$PWD/autobahn:/autobahn" -w /autobahn \
    "$image" wstest -m fuzzingclient -s config/fuzzingclient.json
  "$bin/check" -allow autobahn/allowlist.txt "$out/server" || status=1

  echo "== real suite against our client (fuzzingserver mode)"
  docker run -d --rm --name ws6455-fuzzingserver --net=host -v "$PWD/autobahn:/autobahn" -w /autobahn \
    "$image" wstest -m fuzzingserver -s config/fuzzingserver.json >/dev/null
  trap 'docker stop ws6455-fuzzingserver >/dev/null 2>&1 || true; cleanup' EXIT
  wait_port "$suite_addr"
  "$bin/client" -url "ws://$suite_addr" -agent ws6455
  "$bin/check" -allow autobahn/allowlist.txt "$out/client" || status=1
  ;;
*)
  echo "usage: $0 builtin|builtin-h2|real|auto|peers"; exit 2 ;;
esac
exit $status
