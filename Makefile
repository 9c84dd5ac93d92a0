# nvt: the two commands are `make demo` and `make test`; `make setup` is run by both.
CARGO ?= cargo

.PHONY: setup demo test lint bench build fuzz soak

setup:
	@scripts/setup.sh

build: setup
	$(CARGO) build --release --workspace --bins

demo: build
	@scripts/demo.sh

test: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace
	$(CARGO) clippy --workspace --all-targets -- -D warnings

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Benchmarks (timing goals live here, never in tests); the output is what docs/benchmarks.md records.
bench: build models/yolov8n-448-random.onnx
	$(CARGO) run --release -p nvt-tests --bin transport-bench -- --seconds 10
	$(CARGO) run --release -p nvt-tests --bin detect-bench
	$(CARGO) run --release -p nvt-tests --bin detect-bench -- --threads 1
	scripts/compare-detect.sh models/yolov8n-random.onnx 2 7
	scripts/compare-detect.sh models/yolov8n-random.onnx 1 3
	$(CARGO) run --release -p nvt-tests --bin pipeline-bench
	$(CARGO) run --release -p nvt-tests --bin swap-bench
	$(CARGO) bench -p nvt-tests --bench pieces

models/yolov8n-448-random.onnx: models/generate.py
	.venv/bin/python models/generate.py yolov8n-448 >/dev/null

# Longer robustness runs, outside `make test`; docs/reliability.md records their results.
fuzz: setup
	PROPTEST_CASES=2000000 $(CARGO) test --release -p nvt-transport

soak: build
	$(CARGO) run --release -p nvt-tests --bin soak -- --seconds 300 --model models/shapes.onnx
