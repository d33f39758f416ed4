#!/usr/bin/env bash
# ferrobar's two reactor backends (epoll, io_uring) under the same load, back to back in one
# run, as a Markdown table of router CPU per delivery (per call for RPC).
#
#   loadtest/reactors.sh [--rounds N] [--port N] [--shards N] [--quick]
#   (FERROBAR_BIN=... WAMPBENCH_BIN=... use prebuilt binaries instead of building)
#
# Per round, per scenario: epoll then io_uring, each on a fresh `ferrobar start --reactor X`
# (default node: realm1, anonymous may do everything, ws on 127.0.0.1:PORT) measured with
# wampbench --router-pid. Scenarios: latency-bounded fan-out 1->1000 (--rate 50), batched
# fan-out 1->1000, 1->1, RPC 32x8. Loopback only; every run is bounded and ends by itself.
set -euo pipefail

ROUNDS=2
PORT=18093
SHARDS=2
QUICK=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) shift; ROUNDS="${1:-}" ;;
        --port) shift; PORT="${1:-}" ;;
        --shards) shift; SHARDS="${1:-}" ;;
        --quick) QUICK=1 ;;
        -h | --help)
            sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "reactors.sh: unknown argument $1 (try --help)" >&2
            exit 2
            ;;
    esac
    shift
done
[[ "$ROUNDS" =~ ^[0-9]+$ && "$PORT" =~ ^[0-9]+$ && "$SHARDS" =~ ^[0-9]+$ ]] || {
    echo "reactors.sh: --rounds, --port and --shards take numbers" >&2
    exit 2
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/wampbench-reactors.XXXXXX")"
RUN_TIMEOUT=300
ROUTER_PID=""
log() { printf '%s\n' "reactors.sh: $*" >&2; }

stop_router() {
    [[ -n "$ROUTER_PID" ]] || return 0
    kill -TERM "$ROUTER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$ROUTER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$ROUTER_PID" 2>/dev/null || true
    wait "$ROUTER_PID" 2>/dev/null || true
    ROUTER_PID=""
}
trap 'stop_router; rm -rf "$WORK"' EXIT

if [[ -z "${FERROBAR_BIN:-}" || -z "${WAMPBENCH_BIN:-}" ]]; then
    log "building release binaries"
    (cd "$ROOT" && cargo build --release --quiet -p ferrobar --bin ferrobar && cargo build --release --quiet -p wampbench)
fi
FERROBAR="${FERROBAR_BIN:-$ROOT/target/release/ferrobar}"
WAMPBENCH="${WAMPBENCH_BIN:-$ROOT/target/release/wampbench}"

mkdir -p "$WORK/node/.crossbar"
cat >"$WORK/node/.crossbar/config.json" <<EOF
{"version": 2, "workers": [{"type": "router",
  "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [{"uri": "",
    "match": "prefix", "allow": {"call": true, "register": true, "publish": true,
    "subscribe": true}, "disclose": {"caller": false, "publisher": false}, "cache": true}]}]}],
  "transports": [{"type": "web", "endpoint": {"type": "tcp", "port": $PORT, "interface": "127.0.0.1"},
    "paths": {"ws": {"type": "websocket"}}}]}]}
EOF

start_router() {
    "$FERROBAR" start --cbdir "$WORK/node/.crossbar" --shards "$SHARDS" --reactor "$1" \
        --loglevel warn --color false >"$WORK/router-$1.log" 2>&1 &
    ROUTER_PID=$!
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    log "ferrobar --reactor $1 did not listen on $PORT"
    cat "$WORK/router-$1.log" >&2
    exit 1
}

if [[ $QUICK == 1 ]]; then
    SCENARIOS=(
        "latency-bounded 1→1000|fanout --subscribers 1000 --publishers 1 --window 1 --rate 50 --events 100|router_cpu_ns_per_delivery"
        "batched 1→1000|fanout --subscribers 1000 --publishers 1 --events 2000|router_cpu_ns_per_delivery"
        "1→1|fanout --subscribers 1 --publishers 1 --events 100000|router_cpu_ns_per_delivery"
        "RPC 32×8 (per call)|rpc --callees 1 --callers 32 --outstanding 8 --calls 100000|router_cpu_ns_per_call"
    )
else
    SCENARIOS=(
        "latency-bounded 1→1000|fanout --subscribers 1000 --publishers 1 --window 1 --rate 50 --events 400|router_cpu_ns_per_delivery"
        "batched 1→1000|fanout --subscribers 1000 --publishers 1 --events 8000|router_cpu_ns_per_delivery"
        "1→1|fanout --subscribers 1 --publishers 1 --events 600000|router_cpu_ns_per_delivery"
        "RPC 32×8 (per call)|rpc --callees 1 --callers 32 --outstanding 8 --calls 600000|router_cpu_ns_per_call"
    )
fi

declare -A RESULT
for round in $(seq 1 "$ROUNDS"); do
    for s in "${SCENARIOS[@]}"; do
        IFS='|' read -r name args field <<<"$s"
        for reactor in epoll io_uring; do
            start_router "$reactor"
            # shellcheck disable=SC2086
            out="$(timeout "$RUN_TIMEOUT" "$WAMPBENCH" $args --url "ws://127.0.0.1:$PORT/ws" \
                --router-pid "$ROUTER_PID" --json --quiet 2>>"$WORK/wampbench.err" || true)"
            stop_router
            ns="$(jq -r ".results.$field // \"failed\" | if type == \"number\" then (. + 0.5 | floor) else . end" <<<"$out" 2>/dev/null || echo failed)"
            extra="$(jq -r '.results | if .completeness then " (\(.completeness * 100 | floor) %)" else "" end' <<<"$out" 2>/dev/null || true)"
            log "round $round, $name, $reactor: $ns ns$extra"
            RESULT["$name|$reactor"]="${RESULT["$name|$reactor"]:+${RESULT["$name|$reactor"]} / }$ns"
            printf '%s\n' "$out" >>"$WORK/results.jsonl"
        done
    done
done

echo "| scenario (wampbench …) | epoll ns | io_uring ns |"
echo "|---|---:|---:|"
for s in "${SCENARIOS[@]}"; do
    IFS='|' read -r name args field <<<"$s"
    echo "| $name: \`$args\` | ${RESULT["$name|epoll"]} | ${RESULT["$name|io_uring"]} |"
done
