#!/usr/bin/env bash
# HTTP throughput with wrk on a pinned core (issue #8, target 3): the release `edge-infer serve` on core 0, wrk
# on core 1, the same load for every route, like wasmtime's benches/wasmtime-serve-rps.sh.
#
# The in-process bench (`cargo bench --bench http_throughput`) shares the two cores between the node and a
# reqwest load generator, which is slower than the node's bare route. Here the generator is wrk, in C, on a core
# of its own, and the node has the other one to itself. Routes, alternated for --rounds rounds of --secs each:
#
#   bare     GET /healthz                  the node's router, no guest
#   guest    GET /run/bench/probe/echo     the probe guest's trivial route, a fresh pooled instance per request
#   reused   GET /run/bench/reused/echo    the same on an endpoint with max_instance_reuse
#   pt-fresh, pt-reused   GET /run/bench/pt-*/healthz   the portable-tensor guest's model-less route, likewise
#
# With $WASMTIME naming a wasmtime 48 CLI (BENCHMARKS.md has the `cargo install` line), `wasmtime serve` runs the
# same portable-tensor component on core 0 as well, and two more routes measure the nearest wasm peer on the
# same guest and the same load: wt-fresh (a fresh instance per request, its default) and wt-reused
# (--max-instance-reuse-count). Only the server being measured gets requests.
#
# Printed per route: requests/s, wrk's p50 and p99, and the server's CPU per request (utime + stime of the whole
# process from /proc/PID/stat over wrk's request count). Bounded: rounds x routes x secs, then everything stops.
#
#   [WASMTIME=path/to/wasmtime] bash tests/benches/http_wrk.sh [--rounds 3] [--secs 5] [--connections 16] [--port 18480]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

rounds=3 secs=5 connections=16 port=18480
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --secs) secs=$2; shift 2 ;;
        --connections) connections=$2; shift 2 ;;
        --port) port=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ "$(nproc)" -lt 2 ]; then
    echo "needs two cores: one for the node, one for wrk" >&2
    exit 1
fi
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

(cd guest && cargo build --release --locked -p probe -p portable-tensor -q)
cargo build --release --locked -p edge-infer -q
binary="${CARGO_TARGET_DIR:-target}/release/edge-infer"

work=$(mktemp -d)
node= peers=()
cleanup() {
    for pid in $node "${peers[@]}"; do { kill "$pid" && wait "$pid"; } 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
portable="$PWD/guest/target/wasm32-wasip2/release/portable_tensor.wasm"
# Waits up to 10 s for URL to answer, then checks that it did and that PID, the server just started, is alive
# (not a stray server on the same port); otherwise prints LOG and stops.
wait_ready() {
    local url=$1 pid=$2 log=$3
    for _ in $(seq 100); do
        curl -sf "$url" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -sf "$url" >/dev/null && kill -0 "$pid" || { cat "$log"; exit 1; }
}
cat >"$work/catalog.toml" <<EOF
[tenants.bench.components.probe]
path = "$PWD/guest/target/wasm32-wasip2/release/probe.wasm"
[tenants.bench.endpoints.probe]
component = "probe"
public = true
[tenants.bench.endpoints.reused]
component = "probe"
public = true
max_instance_reuse = 1000000
[tenants.bench.components.portable]
path = "$portable"
[tenants.bench.endpoints.pt-fresh]
component = "portable"
public = true
[tenants.bench.endpoints.pt-reused]
component = "portable"
public = true
max_instance_reuse = 1000000
EOF
EDGE_INFER_LOG=warn taskset -c 0 "$binary" serve --catalog "$work/catalog.toml" \
    --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/node.log" 2>&1 &
node=$!
wait_ready "http://127.0.0.1:$port/readyz" "$node" "$work/node.log"
wait_ready "http://127.0.0.1:$port/run/bench/probe/echo" "$node" "$work/node.log"

declare -A path=([bare]=/healthz [guest]=/run/bench/probe/echo [reused]=/run/bench/reused/echo
    [pt-fresh]=/run/bench/pt-fresh/healthz [pt-reused]=/run/bench/pt-reused/healthz)
declare -A server=([bare]=$port [guest]=$port [reused]=$port [pt-fresh]=$port [pt-reused]=$port)
declare -A pid_of=([$port]=$node)
routes=(bare guest reused pt-fresh pt-reused)
if [ -n "${WASMTIME:-}" ]; then
    for peer in wt-fresh wt-reused; do
        peer_port=$((port + ${#peers[@]} + 1))
        reuse=()
        [ "$peer" = wt-reused ] && reuse=(--max-instance-reuse-count 1000000)
        taskset -c 0 "$WASMTIME" serve -S cli,nn --addr "127.0.0.1:$peer_port" "${reuse[@]}" "$portable" \
            >"$work/$peer.log" 2>&1 &
        peers+=($!)
        pid_of[$peer_port]=$!
        server[$peer]=$peer_port
        path[$peer]=/healthz
        routes+=("$peer")
        wait_ready "http://127.0.0.1:$peer_port/healthz" "$!" "$work/$peer.log"
    done
fi

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# wrk's latency figures come as 1.23ms / 456.00us / 1.01s: in microseconds.
micros() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; unit = v; sub(/^[0-9.]+/, "", unit)
        if (unit == "us") print n; else if (unit == "ms") print n * 1000; else if (unit == "s") print n * 1e6; else print n
    }'
}

printf '%-9s %5s %12s %10s %10s %12s\n' route round 'req/s' 'p50 µs' 'p99 µs' 'CPU µs/req'
for round in $(seq "$rounds"); do
    for route in "${routes[@]}"; do
        target=${server[$route]}
        before=$(cpu_ticks "${pid_of[$target]}")
        out=$(taskset -c 1 wrk -t1 -c"$connections" -d"${secs}s" --latency "http://127.0.0.1:$target${path[$route]}")
        after=$(cpu_ticks "${pid_of[$target]}")
        requests=$(awk '/requests in/ {print $1}' <<<"$out")
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        p50=$(micros "$(awk '$1 == "50%" {print $2}' <<<"$out")")
        p99=$(micros "$(awk '$1 == "99%" {print $2}' <<<"$out")")
        errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
        cpu=$(awk -v t=$((after - before)) -v hz="$ticks" -v n="$requests" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
        printf '%-9s %5s %12s %10s %10s %12s %s\n' "$route" "$round" "$rps" "$p50" "$p99" "$cpu" "$errors"
    done
done
