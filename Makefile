# nvt: the two commands are `make demo` and `make test`; `make setup` is run by both.
CARGO ?= cargo

.PHONY: setup demo test test-clock lint bench build fuzz fuzz-coverage soak

setup:
	@scripts/setup.sh

build: setup
	$(CARGO) build --release --workspace --bins

demo: build
	@scripts/demo.sh

# The clock starts before setup, so that the time printed at the end is the whole of `make test`.
test-clock:
	@date +%s > .test-started

test: test-clock setup
	$(CARGO) fmt --all -- --check
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@echo "make test: the whole suite took $$(( $$(date +%s) - $$(cat .test-started) )) s"

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Benchmarks (timing goals live here, never in tests): scripts/bench.sh runs them all and writes
# what they print, with the machine, into docs/benchmarks.md.
bench: build models/yolov8n-448-random.onnx models/yolov8n-320-random.onnx models/shapes-heavy.onnx
	@scripts/bench.sh

models/yolov8n-448-random.onnx: models/generate.py
	.venv/bin/python models/generate.py yolov8n-448 >/dev/null

models/yolov8n-320-random.onnx: models/generate.py
	.venv/bin/python models/generate.py yolov8n-320 >/dev/null

models/shapes-heavy.onnx: models/generate.py
	.venv/bin/python models/generate.py shapes-heavy >/dev/null

# Longer robustness runs, outside `make test`; docs/reliability.md records their results.
fuzz: setup
	PROPTEST_CASES=2000000 $(CARGO) test --release -p nvt-transport

# Coverage-guided fuzzing (libFuzzer through cargo-fuzz) of both codecs and the JPEG header walk,
# on the stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its sanitizer flags. A minute each.
fuzz-coverage: setup
	cargo install --locked cargo-fuzz
	cd fuzz && for target in server_codec client_codec jpeg_header; do \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run -O $$target -- -max_total_time=60 -rss_limit_mb=2048 || exit 1; done

soak: build
	$(CARGO) run --release -p nvt-tests --bin soak -- --seconds 300 --model models/shapes.onnx
