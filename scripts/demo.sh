#!/usr/bin/env bash
# make demo: nvt-server and a synthetic nvt-client on loopback for about 15 s, then a clean stop.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${NVT_DEMO_PORT:-1998}
SECONDS_TO_RUN=${NVT_DEMO_SECONDS:-15}
bin=target/release

show=()
[ -n "${DISPLAY:-}" ] && show=(--show)   # a window per client where there is a display

"$bin/nvt-server" --listen "127.0.0.1:$PORT" --stats-every 1s "${show[@]}" &
server=$!
trap 'kill -TERM $server 2>/dev/null || true' EXIT

echo "demo: streaming the synthetic scene to 127.0.0.1:$PORT for ${SECONDS_TO_RUN}s"
# The client retries until the server listens, so there is no need to wait for it.
"$bin/nvt-client" --connect "127.0.0.1:$PORT" --source synthetic --duration "${SECONDS_TO_RUN}s"

kill -TERM "$server"
wait "$server"
trap - EXIT
echo "demo: stopped cleanly"
