#!/usr/bin/env bash
# Detection speed, nvt-detect against the Python pipeline and session.run alone, interleaved so
# that both see the same machine: ROUNDS rounds, each running both on the same video and model.
# Usage: scripts/compare-detect.sh [MODEL] [THREADS] [ROUNDS] [NVT-DETECT FLAGS...]
#   (after make setup and make build). THREADS 0 is every program's default: ONNX Runtime's own
#   for Python, nvt-detect's (a session per core, one thread each) for nvt.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-models/yolov8n-random.onnx}
THREADS=${2:-0}
ROUNDS=${3:-5}
FLAGS=("${@:4}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# An 80-frame 640x480 video made from a real photo.
.venv/bin/python - "$tmp/clip.avi" <<'PY'
import sys, cv2, numpy as np
frame = cv2.resize(cv2.imread("/usr/share/darknet/data/dog.jpg"), (640, 480))
out = cv2.VideoWriter(sys.argv[1], cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
for i in range(80):
    out.write(np.roll(frame, 3 * i, axis=1))
out.release()
PY

for round in $(seq "$ROUNDS"); do
  target/release/nvt-detect --model "$MODEL" --threads "$THREADS" ${FLAGS[@]+"${FLAGS[@]}"} --log "$tmp/nvt.jsonl" "$tmp/clip.avi" 2>/dev/null
  python3 -c "
import json
r = [json.loads(l) for l in open('$tmp/nvt.jsonl')][5:]
print(json.dumps({'nvt_ms': 1000 * (r[-1]['time'] - r[0]['time']) / (len(r) - 1)}))" >> "$tmp/rounds.jsonl"
  (cd models && ../.venv/bin/python speed.py "../$MODEL" "$tmp/clip.avi" --threads "$THREADS") >> "$tmp/rounds.jsonl"
  : > "$tmp/nvt.jsonl"
done

python3 - "$tmp/rounds.jsonl" "$THREADS" "${FLAGS[*]+${FLAGS[*]}}" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
nvt = [r["nvt_ms"] for r in rows if "nvt_ms" in r]
py = [r["pipeline_ms"] for r in rows if "pipeline_ms" in r]
run = [r["session_run_ms"] for r in rows if "session_run_ms" in r]
m = statistics.median
print(f"threads {sys.argv[2]}{' ' + sys.argv[3] if sys.argv[3] else ''}, {len(nvt)} rounds, median ms/frame: nvt-detect {m(nvt):.1f}, "
      f"Python pipeline {m(py):.1f}, session.run alone {m(run):.1f}; "
      f"nvt / session.run = {m(nvt) / m(run):.2f}, nvt / Python pipeline = {m(nvt) / m(py):.2f}")
print("per round (nvt, pipeline, session.run):", [(round(a), round(b), round(c)) for a, b, c in zip(nvt, py, run)])
PY
