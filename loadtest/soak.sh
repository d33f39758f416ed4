#!/usr/bin/env bash
# A bounded soak of the release router (`make soak`): waves of load on one ferrobar process,
# and its memory before, at the peak and after, from /proc/PID/status (VmRSS).
#
#   loadtest/soak.sh [--waves N] [--sessions K] [--port N]
#   (FERROBAR_BIN=... WAMPBENCH_BIN=... use prebuilt binaries instead of building;
#    SOAK_RSS_SLACK_MIB=N changes the bound on "after" minus "before", default 128)
#
# One router (`ferrobar start --shards 2`, realm1, anonymous may do everything, a web
# transport on 127.0.0.1:PORT), then N waves (default 15, about 2 minutes in all), each: a
# fan-out burst (500 subscribers, 4 publishers, 4000 events of 256 B, MessagePack), an RPC
# burst (2 callees, 32 callers x 8 outstanding, 100 000 calls, JSON), then K sessions (default
# 10 000) opened from 127.0.0.1-4, held 3 s and closed. Prints one row per wave and the RSS
# table. Fails (exit 1) only if the router dies or exits uncleanly, or if its RSS after the
# last wave exceeds the one before the first by more than the slack; wampbench's own
# shortfalls (failed sessions, incomplete fan-out) are printed, not judged. Loopback only.
set -euo pipefail

WAVES=15
SESSIONS=10000
PORT=""
SLACK_MIB="${SOAK_RSS_SLACK_MIB:-128}"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --waves)
            shift
            WAVES="${1:-}"
            [[ "$WAVES" =~ ^[0-9]+$ && "$WAVES" -ge 1 && "$WAVES" -le 100 ]] || {
                echo "soak.sh: --waves takes 1..100" >&2
                exit 2
            }
            ;;
        --sessions)
            shift
            SESSIONS="${1:-}"
            # 15 000 fit the 20 000 open files a process gets here, with room for the rest.
            [[ "$SESSIONS" =~ ^[0-9]+$ && "$SESSIONS" -ge 1 && "$SESSIONS" -le 15000 ]] || {
                echo "soak.sh: --sessions takes 1..15000" >&2
                exit 2
            }
            ;;
        --port)
            shift
            PORT="${1:-}"
            [[ "$PORT" =~ ^[0-9]+$ ]] || { echo "soak.sh: --port takes a number" >&2; exit 2; }
            ;;
        -h | --help)
            sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "soak.sh: unknown argument $1 (try --help)" >&2
            exit 2
            ;;
    esac
    shift
done
[[ "$SLACK_MIB" =~ ^[0-9]+$ ]] || { echo "soak.sh: SOAK_RSS_SLACK_MIB must be a number" >&2; exit 2; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ferrobar-soak.XXXXXX")"
RUN_TIMEOUT=120 # outer limit for one wampbench run, seconds
SOURCE_IPS=127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4
ROUTER_PID=""
SAMPLER_PID=""

log() { printf '%s\n' "soak.sh: $*" >&2; }

stop_sampler() {
    [[ -n "$SAMPLER_PID" ]] || return 0
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=""
}

cleanup() {
    stop_sampler
    if [[ -n "$ROUTER_PID" ]] && kill -0 "$ROUTER_PID" 2>/dev/null; then
        kill -KILL "$ROUTER_PID" 2>/dev/null || true
        wait "$ROUTER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { # true while something listens on 127.0.0.1:$1 (TIME_WAIT leftovers do not count)
    python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
PY
}

alive() { # the router runs (a crashed child stays a zombie until waited for: kill -0 is not enough)
    local state
    state="$(awk '{print $3}' "/proc/$ROUTER_PID/stat" 2>/dev/null)" || return 1
    [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

rss_kib() { # VmRSS of the router in KiB (0 once it is gone)
    awk '/^VmRSS:/ {print $2; found=1} END {if (!found) print 0}' "/proc/$ROUTER_PID/status" 2>/dev/null || echo 0
}

crashed() { # the router is gone: say so with the end of its log, and fail
    log "the router (pid $ROUTER_PID) is gone $1; the end of its log:"
    tail -30 "$WORK/router.log" >&2 || true
    wait "$ROUTER_PID" 2>/dev/null && rc=0 || rc=$?
    log "its exit status: $rc"
    ROUTER_PID=""
    exit 1
}

if [[ -z "$PORT" ]]; then
    PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
fi
URL="ws://127.0.0.1:$PORT/ws"

# ---------------------------------------------------------------- binaries and node
if [[ -n "${FERROBAR_BIN:-}" && -n "${WAMPBENCH_BIN:-}" ]]; then
    FERROBAR="$FERROBAR_BIN"
    WB="$WAMPBENCH_BIN"
else
    log "building ferrobar and wampbench (release)"
    (cd "$ROOT" && cargo build --release --quiet -p ferrobar -p wampbench)
    TARGET_DIR="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
    FERROBAR="$TARGET_DIR/release/ferrobar"
    WB="$TARGET_DIR/release/wampbench"
fi
[[ -x "$FERROBAR" && -x "$WB" ]] || { log "missing binaries: $FERROBAR, $WB"; exit 1; }
FERROBAR="$(realpath "$FERROBAR")" # the router starts in its node directory
WB="$(realpath "$WB")"

mkdir -p "$WORK/node/.crossbar"
cat >"$WORK/node/.crossbar/config.json" <<JSON
{
    "version": 2,
    "workers": [
        {
            "type": "router",
            "realms": [
                {
                    "name": "realm1",
                    "roles": [
                        {
                            "name": "anonymous",
                            "permissions": [
                                {
                                    "uri": "",
                                    "match": "prefix",
                                    "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
                                    "disclose": {"caller": false, "publisher": false},
                                    "cache": true
                                }
                            ]
                        }
                    ]
                }
            ],
            "transports": [
                {
                    "type": "web",
                    "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": $PORT, "backlog": 4096},
                    "paths": {"ws": {"type": "websocket"}}
                }
            ]
        }
    ]
}
JSON

if port_busy "$PORT"; then
    log "port $PORT is already in use; pass a free one with --port"
    exit 1
fi
(cd "$WORK/node" && exec "$FERROBAR" start --cbdir "$WORK/node/.crossbar" --shards 2) >"$WORK/router.log" 2>&1 &
ROUTER_PID=$!
for _ in $(seq 1 100); do
    alive || crashed "during start-up"
    port_busy "$PORT" && break
    sleep 0.1
done
port_busy "$PORT" || { log "the router did not listen on $PORT within 10 s"; exit 1; }
sleep 1
RSS_BEFORE="$(rss_kib)"
log "router pid $ROUTER_PID on $URL; RSS before: $RSS_BEFORE KiB; $WAVES waves of $SESSIONS sessions"

# RSS every 100 ms into a file, until stopped (and never longer than 30 minutes).
(
    for _ in $(seq 1 18000); do
        r="$(rss_kib)"
        [[ "$r" == 0 ]] && break
        echo "$r"
        sleep 0.1
    done
) >"$WORK/rss.samples" &
SAMPLER_PID=$!

# ---------------------------------------------------------------- the waves
run_wb() { # output file, args...
    local out="$1"
    shift
    if ! timeout "$RUN_TIMEOUT" "$WB" "$@" --json --quiet >"$out" 2>"$out.err"; then
        log "wampbench $1 ended with an error: $(tail -1 "$out.err" 2>/dev/null)"
    fi
    alive || crashed "after wampbench $1"
}

STARTED=$SECONDS
for w in $(seq 1 "$WAVES"); do
    log "wave $w/$WAVES: fan-out burst"
    run_wb "$WORK/w$w-fanout.json" fanout --url "$URL" --subscribers 500 --publishers 4 \
        --events 4000 --payload-size 256 --serializer msgpack --timeout 60
    echo "$(rss_kib)" >"$WORK/w$w-after-fanout.rss"
    log "wave $w/$WAVES: RPC burst"
    run_wb "$WORK/w$w-rpc.json" rpc --url "$URL" --callees 2 --callers 32 --outstanding 8 \
        --calls 100000 --timeout 60
    log "wave $w/$WAVES: $SESSIONS sessions, held 3 s"
    run_wb "$WORK/w$w-connect.json" connect --url "$URL" --sessions "$SESSIONS" --rate 10000 \
        --hold 3 --source-ips "$SOURCE_IPS" --router-pid "$ROUTER_PID" --max-pending 48 --timeout 60
done
ELAPSED=$((SECONDS - STARTED))

sleep 2
alive || crashed "after the last wave"
RSS_AFTER="$(rss_kib)"
stop_sampler
RSS_PEAK="$(sort -n "$WORK/rss.samples" | tail -1)"
[[ -n "$RSS_PEAK" ]] || RSS_PEAK=0

# A clean stop is part of surviving: SIGTERM, exit 0 within 30 s.
kill -TERM "$ROUTER_PID"
for _ in $(seq 1 300); do
    alive || break
    sleep 0.1
done
if alive; then
    log "the router did not stop within 30 s of SIGTERM"
    exit 1
fi
wait "$ROUTER_PID" && STOP_RC=0 || STOP_RC=$?
ROUTER_PID=""
if [[ $STOP_RC -ne 0 ]]; then
    log "the router exited with status $STOP_RC on SIGTERM; the end of its log:"
    tail -30 "$WORK/router.log" >&2
    exit 1
fi

# ---------------------------------------------------------------- the tables
python3 - "$WORK" "$WAVES" "$SESSIONS" "$RSS_BEFORE" "$RSS_PEAK" "$RSS_AFTER" "$ELAPSED" <<'PY'
import json, os, sys

work, waves, sessions = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
before, peak, after, elapsed = (int(x) for x in sys.argv[4:8])

def load(name):
    try:
        with open(os.path.join(work, name)) as f:
            return json.loads(f.readline())
    except (OSError, ValueError):
        return None

def res(doc, key, default=None):
    if not doc or "results" not in doc:
        return default
    return doc["results"].get(key, default)

def mib(kib):
    return f"{kib / 1024:.1f}"

def num(v, fmt="{:,.0f}"):
    return "—" if v is None else fmt.format(v).replace(",", " ")

print("| wave | fan-out deliveries/s | complete | RSS after fan-out (MiB) "
      "| RPC calls/s | RPC errors | sessions/s | failed | RSS held (MiB) | RSS after close (MiB) |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for w in range(1, waves + 1):
    f, r, c = load(f"w{w}-fanout.json"), load(f"w{w}-rpc.json"), load(f"w{w}-connect.json")
    try:
        after_fanout = int(open(os.path.join(work, f"w{w}-after-fanout.rss")).read())
    except (OSError, ValueError):
        after_fanout = None
    comp = res(f, "completeness")
    held, closed = res(c, "rss_held"), res(c, "rss_after")
    failed = None if c is None else (res(c, "failed", 0) or 0) + (res(c, "dropped_while_held", 0) or 0)
    print(f"| {w} | {num(res(f, 'delivery_rate'))} "
          f"| {'—' if comp is None else f'{comp * 100:.2f} %'} "
          f"| {'—' if after_fanout is None else mib(after_fanout)} "
          f"| {num(res(r, 'call_rate'))} | {num(res(r, 'errors'))} "
          f"| {num(res(c, 'session_rate'))} | {num(failed)} "
          f"| {'—' if held is None else mib(held / 1024)} "
          f"| {'—' if closed is None else mib(closed / 1024)} |")
print()
print("| router RSS | MiB |")
print("|---|---:|")
print(f"| before the first wave | {mib(before)} |")
print(f"| peak (sampled every 100 ms) | {mib(peak)} |")
print(f"| after the last wave (+2 s) | {mib(after)} |")
print()
print(f"{waves} waves in {elapsed} s: each a fan-out burst (500 subscribers, 4 publishers, "
      f"4000 events of 256 B, msgpack), an RPC burst (32 callers x 8 outstanding, 100 000 calls), "
      f"then {sessions} sessions opened, held 3 s and closed.")
PY

LIMIT=$((RSS_BEFORE + SLACK_MIB * 1024))
if [[ "$RSS_AFTER" -gt "$LIMIT" ]]; then
    log "FAIL: router RSS after the soak ($RSS_AFTER KiB) exceeds before ($RSS_BEFORE KiB) + $SLACK_MIB MiB"
    exit 1
fi
log "OK: the router survived $WAVES waves and stopped cleanly; RSS after - before = $(((RSS_AFTER - RSS_BEFORE) / 1024)) MiB (bound $SLACK_MIB MiB)"
