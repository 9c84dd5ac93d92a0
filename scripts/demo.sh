#!/usr/bin/env bash
# make demo: nvt-server with models/shapes.onnx and a synthetic nvt-client on loopback for about
# 15 s, printing the detections once a second and the client's live stats, then a clean stop.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${NVT_DEMO_PORT:-1998}
SECONDS_TO_RUN=${NVT_DEMO_SECONDS:-15}
bin=target/release

show=()
[ -n "${DISPLAY:-}" ] && show=(--show)   # a window per client where there is a display

# One line a second out of the server's JSON Lines records.
summarise() {
  python3 -u -c '
import json, sys, time
last = 0.0
for line in sys.stdin:
    r = json.loads(line)
    if r["time"] - last < 1.0:
        continue
    last = r["time"]
    found = "  ".join("%s #%s %.2f [%s]" % (d["label"], d.get("track_id", "-"), d["score"], ",".join("%.0f" % v for v in d["box"])) for d in r["detections"])
    print("frame %5s  latency %5.1f ms  infer %4.1f ms | %s" % (r.get("stamp", {}).get("frame", r["seq"]), r["latency_ms"], r["timings_ms"]["infer"], found or "nothing"))
'
}

RUST_LOG=${RUST_LOG:-warn} "$bin/nvt-server" --listen "127.0.0.1:$PORT" --model models/shapes.onnx --log - "${show[@]}" \
  > >(summarise) &
server=$!
trap 'kill -TERM $server 2>/dev/null || true' EXIT

# Wait (at most 30 s) for the server to listen, so that the client's first try finds it (read
# from the kernel's socket table: a test connection would be a client to the server).
listening=$(printf ':%04X 00000000:0000 0A' "$PORT")
for _ in $(seq 300); do
  grep -q "$listening" /proc/net/tcp && break
  kill -0 "$server" 2>/dev/null || { echo "demo: nvt-server did not start" >&2; exit 1; }
  sleep 0.1
done
echo "demo: streaming the synthetic scene to nvt-server (model: models/shapes.onnx) for ${SECONDS_TO_RUN}s"
RUST_LOG=${RUST_LOG:-warn} "$bin/nvt-client" --connect "127.0.0.1:$PORT" --source synthetic --duration "${SECONDS_TO_RUN}s"

kill -TERM "$server"
wait "$server"
trap - EXIT
sleep 0.2
echo "demo: stopped cleanly"
