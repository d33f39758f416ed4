#!/usr/bin/env bash
# Crossbar vs ferrobar under the same load, from wampbench, as a Markdown table.
#
#   loadtest/compare.sh [--quick] [--only ferrobar|crossbar] [--port N]
#   (FERROBAR_BIN=... WAMPBENCH_BIN=... use prebuilt binaries instead of building)
#
# Creates loadtest/.venv-crossbar with `pip install crossbar` when missing (heavy, reused),
# builds ferrobar and wampbench in release, writes one node directory used by both routers
# (realm1, anonymous may do everything, a web transport on 127.0.0.1:PORT with path ws), runs
# the matrix against Crossbar, then against ferrobar (--shards 2), and prints
# scenario | Crossbar | ferrobar | ratio. Everything runs on loopback and ends by itself.
set -euo pipefail

QUICK=0
ONLY=""
PORT=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --only)
            shift
            ONLY="${1:-}"
            [[ "$ONLY" == ferrobar || "$ONLY" == crossbar ]] || {
                echo "compare.sh: --only takes ferrobar or crossbar" >&2
                exit 2
            }
            ;;
        --port)
            shift
            PORT="${1:-}"
            [[ "$PORT" =~ ^[0-9]+$ ]] || { echo "compare.sh: --port takes a number" >&2; exit 2; }
            ;;
        -h | --help)
            sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "compare.sh: unknown argument $1 (try --help)" >&2
            exit 2
            ;;
    esac
    shift
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/loadtest/.venv-crossbar"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/wampbench-compare.XXXXXX")"
RUN_TIMEOUT=300 # outer limit for one wampbench run, seconds

ROUTER_KIND=""
ROUTER_PID=""    # the process we started (ferrobar, or Crossbar's controller)
ROUTER_WORKER="" # the process that routes (RSS is read from it)

log() { printf '%s\n' "compare.sh: $*" >&2; }

stop_router() {
    [[ -n "$ROUTER_PID" ]] || return 0
    if [[ "$ROUTER_KIND" == crossbar ]]; then
        (cd "$WORK/node" && timeout 30 "$VENV/bin/crossbar" stop --cbdir "$WORK/node/.crossbar" >/dev/null 2>&1) || true
    else
        kill -TERM "$ROUTER_PID" 2>/dev/null || true
    fi
    for _ in $(seq 1 150); do
        kill -0 "$ROUTER_PID" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$ROUTER_PID" 2>/dev/null; then
        log "router $ROUTER_PID did not stop in 30 s; killing it"
        kill -KILL "$ROUTER_PID" 2>/dev/null || true
    fi
    if [[ -n "$ROUTER_WORKER" && "$ROUTER_WORKER" != "$ROUTER_PID" ]] && kill -0 "$ROUTER_WORKER" 2>/dev/null; then
        kill -KILL "$ROUTER_WORKER" 2>/dev/null || true
    fi
    wait "$ROUTER_PID" 2>/dev/null || true
    ROUTER_PID=""
    ROUTER_WORKER=""
}

cleanup() {
    stop_router
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

if [[ -z "$PORT" ]]; then
    PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
fi
URL="ws://127.0.0.1:$PORT/ws"

# ---------------------------------------------------------------- preparation
want() { [[ -z "$ONLY" || "$ONLY" == "$1" ]]; }

if want crossbar && [[ ! -x "$VENV/bin/crossbar" ]]; then
    log "installing Crossbar into $VENV (once; this takes a few minutes)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet crossbar
fi

if [[ -n "${FERROBAR_BIN:-}" && -n "${WAMPBENCH_BIN:-}" ]]; then
    # Prebuilt binaries (e.g. from another target directory): no build.
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

mkdir -p "$WORK/node/.crossbar"
cat >"$WORK/node/.crossbar/config.json" <<JSON
{
    "version": 2,
    "controller": {},
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
                    "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": $PORT},
                    "paths": {
                        "ws": {"type": "websocket"}
                    }
                }
            ]
        }
    ]
}
JSON

start_router() {
    ROUTER_KIND="$1"
    if port_busy "$PORT"; then
        log "port $PORT is already in use; pass a free one with --port"
        exit 1
    fi
    local logf="$WORK/$1.log"
    if [[ "$1" == crossbar ]]; then
        (cd "$WORK/node" && exec "$VENV/bin/crossbar" start --cbdir "$WORK/node/.crossbar") >>"$logf" 2>&1 &
        ROUTER_PID=$!
    else
        (cd "$WORK/node" && exec "$FERROBAR" start --cbdir "$WORK/node/.crossbar" --shards 2) >>"$logf" 2>&1 &
        ROUTER_PID=$!
        ROUTER_WORKER=$ROUTER_PID
    fi
    for _ in $(seq 1 300); do
        if ! kill -0 "$ROUTER_PID" 2>/dev/null; then
            log "$1 exited during start-up; its log:"
            tail -20 "$logf" >&2
            exit 1
        fi
        if port_busy "$PORT"; then
            break
        fi
        sleep 0.2
    done
    port_busy "$PORT" || { log "$1 did not listen on $PORT within 60 s"; exit 1; }
    if [[ "$1" == crossbar ]]; then
        ROUTER_WORKER="$(pgrep -P "$ROUTER_PID" -f RouterController | head -1 || true)"
        [[ -n "$ROUTER_WORKER" ]] || { log "cannot find Crossbar's router worker"; exit 1; }
    fi
    sleep 0.5
}

# ---------------------------------------------------------------- the matrix
# Crossbar does roughly 70-100 k deliveries/s and 2-3 k calls/s here, ferrobar 20-100x that:
# counts are sized per router so that each run takes a few seconds (rates are per second,
# so they compare; the counts are printed with the table).
if [[ $QUICK == 1 ]]; then
    SCENARIOS=(fanout-1x100-json fanout-1x1000-msgpack rpc-1x1 connect-1k ceiling-json)
else
    SCENARIOS=(
        fanout-1x1-json fanout-1x100-json fanout-1x1000-json fanout-10x1000-json
        fanout-1x1-msgpack fanout-1x100-msgpack fanout-1x1000-msgpack fanout-10x1000-msgpack
        rpc-1x1 rpc-32x8 connect-1k connect-15k ceiling-json ceiling-msgpack
    )
fi

# events (or calls) per scenario and router
count() {
    local s="$1" r="$2" q=$QUICK
    case "$s:$r" in
        fanout-1x1-*:crossbar) echo $((q ? 4000 : 12000)) ;;
        fanout-1x1-*:ferrobar) echo $((q ? 50000 : 200000)) ;;
        fanout-1x100-*:crossbar) echo $((q ? 700 : 2000)) ;;
        fanout-1x100-*:ferrobar) echo $((q ? 10000 : 40000)) ;;
        fanout-*x1000-*:crossbar) echo $((q ? 80 : 200)) ;;
        fanout-*x1000-*:ferrobar) echo $((q ? 1000 : 4000)) ;;
        rpc-1x1:crossbar) echo $((q ? 2000 : 6000)) ;;
        rpc-1x1:ferrobar) echo $((q ? 10000 : 30000)) ;;
        rpc-32x8:crossbar) echo 10000 ;;
        rpc-32x8:ferrobar) echo 400000 ;;
        ceiling-*) echo $((q ? 1000 : 4000)) ;;
    esac
}

run_wb() { # file, args...
    local out="$1"
    shift
    if ! timeout "$RUN_TIMEOUT" "$WB" "$@" --json --quiet >"$out" 2>"$out.err"; then
        log "wampbench $1 failed: $(tail -1 "$out.err" 2>/dev/null)"
    fi
}

run_scenario() { # router, scenario
    local r="$1" s="$2" out="$WORK/$1-$2.json" n
    n="$(count "$s" "$r")"
    log "$r: $s${n:+ ($n)}"
    case "$s" in
        fanout-*)
            local shape="${s#fanout-}" ser="${s##*-}"
            shape="${shape%-*}"
            local pubs="${shape%x*}" subs="${shape#*x}"
            run_wb "$out" fanout --url "$URL" --publishers "$pubs" --subscribers "$subs" \
                --events "$n" --payload-size 64 --serializer "$ser" --timeout 60
            ;;
        rpc-1x1)
            run_wb "$out" rpc --url "$URL" --callers 1 --outstanding 1 --calls "$n" --timeout 60
            ;;
        rpc-32x8)
            run_wb "$out" rpc --url "$URL" --callers 32 --outstanding 8 --calls "$n" --timeout 60
            ;;
        connect-*)
            # A fresh router per run, so RSS growth is the sessions' and not earlier runs'.
            stop_router
            start_router "$r"
            local k=1000 ips=127.0.0.1
            if [[ "$s" == connect-15k ]]; then
                k=15000
                ips=127.0.0.1,127.0.0.2,127.0.0.3
            fi
            run_wb "$out" connect --url "$URL" --sessions "$k" --rate 20000 --hold 3 \
                --source-ips "$ips" --router-pid "$ROUTER_WORKER" --max-pending 48 --timeout 120
            ;;
        ceiling-*)
            run_wb "$out" ceiling --subscribers 1000 --events "$n" --payload-size 64 \
                --serializer "${s#ceiling-}" --timeout 60
            ;;
    esac
}

CEILING_DONE=0
for r in crossbar ferrobar; do
    want "$r" || continue
    start_router "$r"
    log "$r is up (pid $ROUTER_WORKER) on $URL"
    for s in "${SCENARIOS[@]}"; do
        # The ceiling does not involve the router: measured once (router idle).
        if [[ "$s" == ceiling-* && $CEILING_DONE == 1 ]]; then
            continue
        fi
        run_scenario "$r" "$s"
    done
    CEILING_DONE=1
    stop_router
done

# ---------------------------------------------------------------- the table
python3 - "$QUICK" "$WORK" "${SCENARIOS[@]}" <<'PY'
import json, os, sys

quick, work, scenarios = sys.argv[1], sys.argv[2], sys.argv[3:]

def load(router, scenario):
    path = os.path.join(work, f"{router}-{scenario}.json")
    if not os.path.exists(path) and scenario.startswith("ceiling-"):
        path = os.path.join(work, f"crossbar-{scenario}.json")
    try:
        with open(path) as f:
            return json.loads(f.readline())
    except (OSError, ValueError):
        return None

def get(doc, path):
    if doc is None or "results" not in doc:
        return None
    v = doc["results"]
    for k in path.split("."):
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return v

def fmt(v, unit):
    if v is None:
        return "—"
    if unit == "%":
        return f"{v * 100:.1f} %"
    if isinstance(v, float) and v >= 100 or isinstance(v, int):
        return f"{v:,.0f}".replace(",", " ") + (f" {unit}" if unit else "")
    return f"{v:.2f}" + (f" {unit}" if unit else "")

def note(doc):
    if doc is None:
        return " (failed)"
    if "error" in doc:
        return " (error)"
    r = doc["results"]
    c = r.get("completeness")
    if c is not None and c < 0.9999:
        return f" ({c * 100:.1f} % complete)"
    if r.get("errors") or r.get("failed"):
        return f" ({r.get('errors') or r.get('failed')} errors)"
    return ""

rows = []
ceiling = {}
for s in scenarios:
    if s.startswith("ceiling-"):
        ceiling[s[len("ceiling-"):]] = get(load("crossbar", s) or load("ferrobar", s), "delivery_rate")

for s in scenarios:
    if s.startswith("fanout-"):
        shape, ser = s[len("fanout-"):].rsplit("-", 1)
        p, n = shape.split("x")
        label = f"fanout {p}→{n} subscribers, 64 B, {ser}: deliveries/s"
        rows.append((label, s, "delivery_rate", "", "higher"))
        rows.append((f"fanout {p}→{n}, {ser}: latency p50 (µs)", s, "latency_us.p50", "", "lower"))
    elif s == "rpc-1x1":
        rows.append(("rpc 1 caller × 1 outstanding: latency p50 (µs)", s, "latency_us.p50", "", "lower"))
        rows.append(("rpc 1 caller × 1 outstanding: calls/s", s, "call_rate", "", "higher"))
    elif s == "rpc-32x8":
        rows.append(("rpc 32 callers × 8 outstanding: calls/s", s, "call_rate", "", "higher"))
    elif s.startswith("connect-"):
        k = s[len("connect-"):]
        rows.append((f"connect {k} sessions: router RSS per session (bytes)", s, "rss_per_session", "", "lower"))
        rows.append((f"connect {k} sessions: sessions/s", s, "session_rate", "", "higher"))

print("| scenario | Crossbar | ferrobar | ratio |")
print("|---|---:|---:|---:|")
for label, s, path, unit, better in rows:
    cd, fd = load("crossbar", s), load("ferrobar", s)
    c, f = get(cd, path), get(fd, path)
    ratio = "—"
    if isinstance(c, (int, float)) and isinstance(f, (int, float)) and c > 0 and f > 0:
        ratio = f"{(f / c if better == 'higher' else c / f):.1f}×"
    print(f"| {label} | {fmt(c, unit)}{note(cd) if c is not None or cd is None else ''} "
          f"| {fmt(f, unit)}{note(fd) if f is not None or fd is None else ''} | {ratio} |")
    # A fan-out throughput as a fraction of what the machine can do at all.
    if path == "delivery_rate" and s.endswith(("json", "msgpack")):
        ser = s.rsplit("-", 1)[1]
        top = ceiling.get(ser)
        if top and "x1000-" in s:
            pc = f"{c / top * 100:.1f} %" if isinstance(c, (int, float)) else "—"
            pf = f"{f / top * 100:.1f} %" if isinstance(f, (int, float)) else "—"
            print(f"| … as a share of the {ser} ceiling | {pc} | {pf} | |")
for ser, top in ceiling.items():
    print(f"| ceiling: null router in wampbench → 1000 subscribers, {ser}: deliveries/s | {fmt(top, '')} | | |")
print()
print("ratio: how many times better ferrobar is (higher rate, or lower latency/memory). "
      "Event and call counts are sized per router so that each run takes a few seconds; "
      "rates are per second and compare across counts. "
      "The ceiling is wampbench's own null router flooding its own clients on this machine: "
      "no router can be measured above it.")
if quick == "1":
    print("(--quick: a short subset with smaller counts)")
PY
