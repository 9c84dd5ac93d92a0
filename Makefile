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

bench: build
	$(CARGO) run --release -p nvt-tests --bin transport-bench -- --seconds 10
	$(CARGO) run --release -p nvt-tests --bin detect-bench
	$(CARGO) run --release -p nvt-tests --bin detect-bench -- --threads 1
	$(CARGO) run --release -p nvt-tests --bin swap-bench

# Longer robustness runs, outside `make test`; docs/reliability.md records their results.
fuzz: setup
	PROPTEST_CASES=2000000 $(CARGO) test --release -p nvt-transport

soak: build
	$(CARGO) run --release -p nvt-tests --bin soak -- --seconds 300 --model models/shapes.onnx
