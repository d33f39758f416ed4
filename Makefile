# ferrobar — the commands the README names.
#
#   make run        the router on its built-in default node (realm1, anonymous,
#                   WebSocket ws://127.0.0.1:8080/ws, node info at /info)
#   make test       everything: cargo test --workspace, then the interop suite
#                   (real Autobahn|Python and Autobahn|JS clients against the
#                   release binary); installs its own Python venv and npm modules
#   make build      the release binaries
#   make bench      criterion micro-benchmarks
#   make lint       rustfmt check + clippy with warnings as errors
#   make loadtest   a short wampbench run (fan-out, RPC, connect) against ferrobar
#   make compare    the same matrix against Crossbar (installed from PyPI) and ferrobar
#
# Needs only the Rust toolchain, python3 (with venv + pip) and Node.js/npm.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO   ?= cargo
PYTHON  ?= python3
NPM     ?= npm

# cargo's target directory (honours CARGO_TARGET_DIR like cargo does)
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
BIN        := $(abspath $(TARGET_DIR)/release/ferrobar)
VENV       := .venv
VENV_PY    := $(VENV)/bin/python
INTEROP    := tests/interop
# Stamp files: the install steps rerun only when their pinned inputs change.
PY_STAMP   := $(VENV)/.interop-requirements.stamp
NODE_STAMP := $(INTEROP)/node_modules/.interop-lock.stamp

# Extra arguments for pytest, e.g. `make test-interop PYTEST_ARGS='-k rpc -x'`.
PYTEST_ARGS ?=

.PHONY: help run build test test-rust test-interop interop-deps bench lint loadtest compare clean-interop

help:
	@echo "make run | build | test | test-rust | test-interop | bench | lint | loadtest | compare | clean-interop"

run:
	$(CARGO) run --release --bin ferrobar -- start

build:
	$(CARGO) build --release --workspace --bins

# ---------------------------------------------------------------------------
# Tests

test: test-rust test-interop

test-rust:
	@echo "==> cargo test --workspace"
	@start=$$(date +%s); \
	$(CARGO) test --workspace; \
	echo "==> cargo test took $$(( $$(date +%s) - start ))s"

# The interop suite runs against the release binary. pytest exits 5 when it
# collected no test: that is turned into a failure, never a silent pass.
test-interop: interop-deps
	@echo "==> cargo build --release --bin ferrobar"
	@start=$$(date +%s); \
	$(CARGO) build --release --bin ferrobar; \
	echo "==> release build took $$(( $$(date +%s) - start ))s"
	@echo "==> interop suite (tests/interop)"
	@start=$$(date +%s); rc=0; \
	( cd $(INTEROP) && FERROBAR_BIN="$(BIN)" NODE_PATH="$(CURDIR)/$(INTEROP)/node_modules" \
	    "$(CURDIR)/$(VENV_PY)" -m pytest $(PYTEST_ARGS) ) || rc=$$?; \
	echo "==> interop suite took $$(( $$(date +%s) - start ))s"; \
	if [ $$rc -eq 5 ]; then echo "ERROR: the interop suite collected no tests" >&2; exit 1; fi; \
	exit $$rc

interop-deps: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): $(INTEROP)/requirements.txt
	@echo "==> Python venv $(VENV) (autobahn[twisted], msgpack, six, pytest)"
	@start=$$(date +%s); \
	if [ ! -x $(VENV_PY) ]; then $(PYTHON) -m venv $(VENV); fi; \
	$(VENV_PY) -m pip install --disable-pip-version-check --quiet -r $(INTEROP)/requirements.txt; \
	echo "==> pip install took $$(( $$(date +%s) - start ))s"
	@touch $@

$(NODE_STAMP): $(INTEROP)/package.json $(INTEROP)/package-lock.json
	@echo "==> npm ci in $(INTEROP) (autobahn)"
	@start=$$(date +%s); \
	cd $(INTEROP) && $(NPM) ci --no-audit --no-fund --loglevel=error; \
	echo "==> npm ci took $$(( $$(date +%s) - start ))s"
	@touch $@

clean-interop:
	rm -rf $(VENV) $(INTEROP)/node_modules

# ---------------------------------------------------------------------------
# Performance and hygiene

bench:
	$(CARGO) bench

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# wampbench against ferrobar on loopback (bounded, ends by itself): the quick matrix.
loadtest: build
	loadtest/compare.sh --only ferrobar --quick

# Crossbar vs ferrobar, same node config, same load, one run: a Markdown table
# (docs/performance.md keeps the history). Installs Crossbar into loadtest/.venv-crossbar.
compare: build
	loadtest/compare.sh
