# ferrobar — the commands the README names.
#
#   make run        the router on its built-in default node (realm1, anonymous,
#                   WebSocket ws://127.0.0.1:8080/ws, node info at /info)
#   make test       everything: cargo test --workspace, then the interop suite
#                   (real Autobahn|Python and Autobahn|JS clients against the
#                   release binary); installs its own Python venv and npm modules;
#                   with FERROBAR_CROSS=1 also make cross
#   make build      the release binaries
#   make bench      criterion micro-benchmarks
#   make lint       rustfmt check + clippy with warnings as errors
#   make loadtest   a short wampbench run (fan-out, RPC, connect) against ferrobar
#   make compare    the same matrix against Crossbar (installed from PyPI) and ferrobar
#   make soak       ~2 minutes of bounded waves (sessions, fan-out, RPC): router RSS before/peak/after
#   make fuzz       cargo-fuzz targets (fuzz/README.md); make fuzz-smoke: a short run of each
#   make cross      aarch64 + armv7 release binaries, their tests under qemu-user (Debian toolchain)
#   make deb        the .deb (cargo-deb); make deb-install-test: dpkg -i into a debootstrap'ed root
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
# The wamp_async interop client (a Rust program of its own, outside the workspace).
WA_CLIENT        := $(INTEROP)/wamp_async_client
WA_CLIENT_TARGET := target/interop-clients
WA_CLIENT_BIN    := $(WA_CLIENT_TARGET)/release/wamp_async_client

# Extra arguments for pytest, e.g. `make test-interop PYTEST_ARGS='-k rpc -x'`.
PYTEST_ARGS ?=

.PHONY: help run build test test-rust test-interop interop-deps bench lint loadtest compare clean-interop

help:
	@echo "make run | build | test | test-rust | test-interop | bench | lint | loadtest | compare | soak | fuzz | fuzz-smoke | cross | deb | deb-install-test | clean-interop"

run:
	$(CARGO) run --release --bin ferrobar -- start

build:
	$(CARGO) build --release --workspace --bins

# ---------------------------------------------------------------------------
# Tests

test: test-rust test-interop test-cross

# `make cross` (aarch64 + armv7 builds, their tests under qemu-user) runs in `make test` only with
# FERROBAR_CROSS=1: from a cold cache it takes longer than the rest of the suite's budget.
.PHONY: test-cross
test-cross:
ifeq ($(FERROBAR_CROSS),1)
	@$(MAKE) --no-print-directory cross
else
	@echo "==> make cross: not run (18-45 min on 2 cores; FERROBAR_CROSS=1 make test runs it)"
endif

# The nodes of the integration tests run the default reactor (auto: io_uring where the kernel
# allows it); the integration tests then run once more on the epoll backend.
test-rust:
	@echo "==> cargo test --workspace"
	@start=$$(date +%s); \
	$(CARGO) test --workspace; \
	echo "==> cargo test took $$(( $$(date +%s) - start ))s"
	@echo "==> FERROBAR_REACTOR=epoll cargo test --workspace --test '*'"
	@start=$$(date +%s); \
	FERROBAR_REACTOR=epoll $(CARGO) test --workspace --test '*'; \
	echo "==> the epoll pass took $$(( $$(date +%s) - start ))s"

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

interop-deps: $(PY_STAMP) $(NODE_STAMP) $(WA_CLIENT_BIN)

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

# The wamp_async interop client (tests/interop/test_wamp_async.py): a standalone Cargo package
# with its own Cargo.lock, built into target/interop-clients. The binary is the make target:
# while it is newer than the package's sources, a second run costs nothing. wamp_async pulls in
# native-tls, so the build needs OpenSSL's headers (Debian: libssl-dev, pkg-config).
$(WA_CLIENT_BIN): $(WA_CLIENT)/Cargo.toml $(WA_CLIENT)/Cargo.lock $(wildcard $(WA_CLIENT)/src/*.rs)
	@echo "==> cargo build --release (wamp_async interop client, $(WA_CLIENT))"
	@if ! pkg-config --exists openssl 2>/dev/null; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	        echo "==> apt-get install libssl-dev pkg-config (OpenSSL headers for the wamp_async client)"; \
	        apt-get update -qq && apt-get install -y -qq libssl-dev pkg-config >/dev/null; \
	    else \
	        echo "ERROR: the wamp_async client needs OpenSSL's headers: apt-get install libssl-dev pkg-config" >&2; \
	        exit 1; \
	    fi; \
	fi
	@start=$$(date +%s); \
	CARGO_TARGET_DIR="$(CURDIR)/$(WA_CLIENT_TARGET)" $(CARGO) build --release --locked \
	    --manifest-path $(WA_CLIENT)/Cargo.toml; \
	echo "==> wamp_async client build took $$(( $$(date +%s) - start ))s"
	@touch $@

clean-interop:
	rm -rf $(VENV) $(INTEROP)/node_modules $(WA_CLIENT_TARGET)

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

# ---------------------------------------------------------------------------
# Fuzzing (fuzz/README.md): cargo-fuzz targets for the three decoders, WebSocket
# and RawSocket framing, the HTTP request path, the config loader, and a
# session-level target over two router cores.
#
#   make fuzz         every target for FUZZ_TIME seconds (default 60); the corpora
#                     grow in fuzz/corpus/, crashes land in fuzz/artifacts/
#   make fuzz-smoke   every target for FUZZ_SMOKE_TIME seconds (default 10): CI's
#                     short run
#   make fuzz FUZZ_TARGETS='session http' FUZZ_TIME=600
#
# cargo-fuzz needs nightly-only compiler flags (-Zsanitizer, sanitizer coverage);
# the machine's one stable toolchain accepts them with RUSTC_BOOTSTRAP=1.
# cargo-fuzz itself is installed from crates.io on first use (a few minutes).

FUZZ_TARGETS      ?= codec_json codec_msgpack codec_cbor websocket rawsocket http config session mqtt_codec mqtt_session
FUZZ_TIME         ?= 60
FUZZ_SMOKE_TIME   ?= 10
FUZZ_SANITIZER    ?= address
# No allocation stack traces: 2-3x faster on the allocation-heavy session target. To see
# them for an ASan report, rerun the crash input with FUZZ_ASAN_OPTIONS=.
FUZZ_ASAN_OPTIONS ?= malloc_context_size=0
CARGO_FUZZ_VERSION := 0.13.2
# --release --debug-assertions: optimised, with the core's debug_assert!s on.
FUZZ_CARGO  = RUSTC_BOOTSTRAP=1 $(CARGO) fuzz
FUZZ_FLAGS  = --release --debug-assertions --sanitizer $(FUZZ_SANITIZER)

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-tool

# Makes `cargo fuzz` available: installs cargo-fuzz unless it already works.
FUZZ_INSTALL = $(CARGO) fuzz --version >/dev/null 2>&1 || { \
	echo "==> cargo install cargo-fuzz $(CARGO_FUZZ_VERSION) (a few minutes, once)"; \
	$(CARGO) install cargo-fuzz --locked --version $(CARGO_FUZZ_VERSION); }

fuzz-tool:
	@$(FUZZ_INSTALL)

fuzz-build: fuzz-tool
	@echo "==> cargo fuzz build ($(FUZZ_SANITIZER) sanitizer)"
	@start=$$(date +%s); \
	$(FUZZ_CARGO) build $(FUZZ_FLAGS); \
	echo "==> cargo fuzz build took $$(( $$(date +%s) - start ))s"

# Runs each target in turn for $(1) seconds: seeds from fuzz/seeds/<target>/ (read
# only), the growing corpus in fuzz/corpus/<target>/. Every target runs even after
# one fails; the failures are listed at the end.
define fuzz_run
	@failed=""; \
	for t in $(FUZZ_TARGETS); do \
	    extra=""; \
	    if [ -f fuzz/dicts/$$t.dict ]; then extra="-dict=fuzz/dicts/$$t.dict"; fi; \
	    if [ $$t = session ]; then extra="-len_control=10"; fi; \
	    mkdir -p fuzz/corpus/$$t fuzz/logs; \
	    echo "==> fuzz $$t for $(1)s"; \
	    ASAN_OPTIONS="$(FUZZ_ASAN_OPTIONS)" $(FUZZ_CARGO) run $(FUZZ_FLAGS) $$t fuzz/corpus/$$t fuzz/seeds/$$t -- \
	        -max_total_time=$(1) -timeout=10 -print_final_stats=1 $$extra \
	        >fuzz/logs/$$t.log 2>&1 || failed="$$failed $$t"; \
	    grep -E '^stat::number_of_executed_units|^stat::average_exec_per_sec' fuzz/logs/$$t.log | sed "s/^/    $$t /" || true; \
	done; \
	if [ -n "$$failed" ]; then \
	    for t in $$failed; do echo "---- fuzz/logs/$$t.log (tail)"; tail -n 40 fuzz/logs/$$t.log; done; \
	    echo "ERROR: fuzz targets failed:$$failed (crash inputs in fuzz/artifacts/)" >&2; exit 1; \
	fi; \
	echo "==> fuzz: all targets ran $(1)s without a crash"
endef

fuzz: fuzz-build
	$(call fuzz_run,$(FUZZ_TIME))

# CI's short run. Skips (exit 0, one line saying so) only when cargo-fuzz cannot
# be installed; a build failure or a crash fails it.
fuzz-smoke:
	@if ! ( $(FUZZ_INSTALL) ); then \
	    echo "fuzz-smoke: SKIPPED: cargo-fuzz could not be installed (cargo install cargo-fuzz failed)"; \
	    exit 0; \
	fi; \
	$(MAKE) --no-print-directory fuzz-build fuzz-smoke-run

.PHONY: fuzz-smoke-run
fuzz-smoke-run:
	$(call fuzz_run,$(FUZZ_SMOKE_TIME))

# ---------------------------------------------------------------------------
# Soak (loadtest/soak.sh): about 2 minutes of waves against one release router
# (--shards 2): fan-out and RPC bursts from wampbench, then 10 k sessions from
# 127.0.0.1-4 opened, held and closed. Prints the router's RSS before, at the
# peak and after; fails only if the router dies or keeps far more than it had.
#
#   make soak                       15 waves of 10 000 sessions
#   make soak SOAK_ARGS='--waves 4 --sessions 2000'

SOAK_ARGS ?=

.PHONY: soak
soak: build
	FERROBAR_BIN="$(BIN)" WAMPBENCH_BIN="$(abspath $(TARGET_DIR)/release/wampbench)" \
	    loadtest/soak.sh $(SOAK_ARGS)

# ---------------------------------------------------------------------------
# Packages and cross builds (README: "Packages and cross builds")
#
#   make cross   release binaries for aarch64-unknown-linux-gnu and armv7-unknown-linux-gnueabihf
#                (dist/), built with Debian's Rust toolchain and cross gcc, and the library's
#                unit tests and the integration tests run for each under qemu-user. Installs the
#                Debian packages it needs when run as root; when it cannot, it prints
#                "cross: SKIPPED: <why>" and exits 0 (CROSS_REQUIRED=1: exits 1).
#   make deb     dist/ferrobar_<version>_<arch>.deb (cargo-deb): binary, systemd unit, man
#                pages, shell completions, `ferrobar` system user

.PHONY: cross
cross:
	@start=$$(date +%s); \
	packaging/cross.sh; \
	echo "==> make cross took $$(( $$(date +%s) - start ))s"

.PHONY: deb
deb:
	@start=$$(date +%s); \
	packaging/deb.sh; \
	echo "==> make deb took $$(( $$(date +%s) - start ))s"

# Installs the .deb into a debootstrap'ed Debian 12 root (target/deb-root) with dpkg -i and
# checks the user, the node directory, the config, reinstall and purge.
.PHONY: deb-install-test
deb-install-test:
	packaging/deb-install-test.sh
