#!/usr/bin/env bash
# `make bench`: every benchmark, one after another (run it on an otherwise quiet machine). What
# they print goes to the terminal and, with the machine and date, into the "Latest `make bench`
# run" section of docs/benchmarks.md (between its two markers); the rest of that file is the
# reading of a run, written by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs || echo "unknown CPU")
echo "Run of $(date -u '+%Y-%m-%d %H:%M UTC'): $cpu, $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)." | tee "$out"

# Runs one benchmark command, its output to the terminal and to the record under its own name.
run() {
  printf '\n#### `%s`\n\n' "$*" | tee -a "$out"
  "$@" | tee -a "$out"
}

run cargo run -q --release -p nvt-tests --bin transport-bench -- --seconds 10
run cargo run -q --release -p nvt-tests --bin rates-bench
run cargo run -q --release -p nvt-tests --bin links-bench
run cargo run -q --release -p nvt-tests --bin camera-bench -- --seconds 12 --with-4g
run cargo run -q --release -p nvt-tests --bin detect-bench
run cargo run -q --release -p nvt-tests --bin detect-bench -- --threads 1
run scripts/compare-detect.sh models/yolov8n-random.onnx 2 7
run scripts/compare-detect.sh models/yolov8n-random.onnx 1 3 --workers 1
run scripts/compare-detect.sh models/yolov8n-320-random.onnx 0 3
run scripts/compare-detect.sh models/yolov8n-320-random.onnx 0 3 --workers 1
run cargo run -q --release -p nvt-tests --bin motion-bench
run cargo run -q --release -p nvt-tests --bin pipeline-bench
run cargo run -q --release -p nvt-tests --bin swap-bench
run cargo run -q --release -p nvt-tests --bin events-bench -- --cameras 8 --fps 10 --seconds 30
run cargo run -q --release -p nvt-tests --bin fleet-bench -- --seconds 15
run cargo run -q --release -p nvt-tests --bin history-bench
printf '\n#### `cargo bench -p nvt-tests --bench pieces`\n\n```\n' >> "$out"
cargo bench -q -p nvt-tests --bench pieces -- --output-format bencher | tee -a "$out"
printf '```\n' >> "$out"

python3 - "$out" docs/benchmarks.md <<'PY'
import sys
run, doc = open(sys.argv[1]).read().strip(), sys.argv[2]
start, end = "<!-- make bench: start -->", "<!-- make bench: end -->"
text = open(doc).read()
if start not in text or end not in text:
    sys.exit(f"{doc} has no {start} ... {end} section to write the run into")
head, rest = text.split(start, 1)
tail = rest.split(end, 1)[1]
open(doc, "w").write(f"{head}{start}\n{run}\n{end}{tail}")
print(f"\nbench: the run is recorded in {doc}")
PY
