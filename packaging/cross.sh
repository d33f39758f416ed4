#!/usr/bin/env bash
# `make cross`: release binaries of ferrobar for 64-bit and 32-bit ARM Linux, built on an
# x86_64 Debian 12 machine, and the library's unit tests and the integration tests run for
# each target under qemu-user.
#
# The toolchain is Debian's, not rustup's (rustup cannot download targets here):
#   rustc-web + cargo-web (Rust 1.96 as /usr/bin/rustc, /usr/bin/cargo), the standard library
#   for each target from libstd-rust-web-dev:arm64 / :armhf (multiarch), the cross C
#   compilers gcc-aarch64-linux-gnu / gcc-arm-linux-gnueabihf (linkers, and ring's C code),
#   and qemu-user (qemu-aarch64, qemu-arm) to run what was built.
# Missing packages are installed with apt-get when running as root; otherwise, or when apt
# cannot get them, this says so on one line ("cross: SKIPPED: ...") and exits 0 — unless
# CROSS_REQUIRED=1, when it exits 1.
#
#   packaging/cross.sh                  build both targets, run their tests under qemu
#   CROSS_TARGETS=armv7-unknown-linux-gnueabihf packaging/cross.sh
#   CROSS_TESTS=0 packaging/cross.sh    build only
#   CROSS_TEST_ARGS='-- --test-threads=1' packaging/cross.sh
#
# Outputs: target/cross/<triple>/release/ferrobar (CROSS_TARGET_DIR overrides target/cross)
# and dist/ferrobar-<version>-<triple>
# (+ .sha256).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGETS=${CROSS_TARGETS:-"aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf"}
RUN_TESTS=${CROSS_TESTS:-1}
TEST_ARGS=${CROSS_TEST_ARGS:-}
DEB_CARGO=/usr/bin/cargo
DEB_RUSTC=/usr/bin/rustc
DEB_RUSTDOC=/usr/bin/rustdoc
export CARGO_TARGET_DIR="${CROSS_TARGET_DIR:-$PWD/target/cross}"

skip() {
    echo "cross: SKIPPED: $*"
    if [ "${CROSS_REQUIRED:-0}" = 1 ]; then exit 1; fi
    exit 0
}

# Per target: Debian architecture, GNU triple of the cross gcc, qemu-user program.
arch_of() {
    case "$1" in
        aarch64-unknown-linux-gnu) echo "arm64 aarch64-linux-gnu qemu-aarch64" ;;
        armv7-unknown-linux-gnueabihf) echo "armhf arm-linux-gnueabihf qemu-arm" ;;
        *) return 1 ;;
    esac
}

missing_packages() {
    local pkgs=() t deb gnu qemu
    [ -x "$DEB_RUSTC" ] && "$DEB_RUSTC" --version >/dev/null 2>&1 || pkgs+=(rustc-web)
    [ -x "$DEB_CARGO" ] && "$DEB_CARGO" --version >/dev/null 2>&1 || pkgs+=(cargo-web)
    for t in $TARGETS; do
        read -r deb gnu qemu < <(arch_of "$t")
        [ -d "/usr/lib/rustlib/$t/lib" ] || pkgs+=("libstd-rust-web-dev:$deb")
        command -v "$gnu-gcc" >/dev/null || pkgs+=("gcc-$gnu")
        [ -d "/usr/$gnu/include" ] || pkgs+=("libc6-dev-$deb-cross")
        command -v "$qemu" >/dev/null || pkgs+=(qemu-user)
    done
    printf '%s\n' "${pkgs[@]}" | sort -u | grep -v '^$' || true
}

for t in $TARGETS; do
    arch_of "$t" >/dev/null || skip "unknown target $t (known: aarch64-unknown-linux-gnu, armv7-unknown-linux-gnueabihf)"
done

mapfile -t need < <(missing_packages)
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        skip "the cross toolchain is missing (${need[*]}) and this is not root with apt-get; install as root: dpkg --add-architecture arm64; dpkg --add-architecture armhf; apt-get update; apt-get install ${need[*]}"
    fi
    echo "==> apt-get install ${need[*]} (the Debian cross toolchain, once)"
    start=$(date +%s)
    for t in $TARGETS; do
        read -r deb _ _ < <(arch_of "$t")
        dpkg --add-architecture "$deb"
    done
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; }; then
        skip "apt-get could not install ${need[*]}"
    fi
    echo "==> apt-get took $(( $(date +%s) - start ))s"
    mapfile -t still < <(missing_packages)
    [ "${#still[@]}" -eq 0 ] || skip "still missing after apt-get: ${still[*]}"
fi

echo "==> toolchain: $("$DEB_RUSTC" --version), $("$DEB_CARGO" --version)"
export RUSTC="$DEB_RUSTC" RUSTDOC="$DEB_RUSTDOC"
# rustup's proxies must not pick the toolchain for Debian's cargo.
unset RUSTUP_TOOLCHAIN

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
mkdir -p dist
failed=""
for t in $TARGETS; do
    read -r deb gnu qemu < <(arch_of "$t")
    upper=$(echo "$t" | tr 'a-z-' 'A-Z_')
    # The cross gcc links; qemu-user runs the test binaries (cargo's runner) and the ferrobar
    # binary the integration tests start (FERROBAR_TEST_RUNNER, tests/common/binary.rs).
    # Plain qemu, without -L /usr/<triple>: the binaries use the multiarch loader and libc
    # (/lib/ld-linux-*.so from libc6:<arch>), which -L would swap for the cross libc.
    export "CARGO_TARGET_${upper}_LINKER=$gnu-gcc"
    export "CARGO_TARGET_${upper}_RUNNER=$qemu"
    export "CC_${t//-/_}=$gnu-gcc" "AR_${t//-/_}=$gnu-ar"

    echo "==> [$t] cargo build --release --bin ferrobar"
    start=$(date +%s)
    "$DEB_CARGO" build --locked --release --target "$t" --bin ferrobar
    echo "==> [$t] release build took $(( $(date +%s) - start ))s"
    out="dist/ferrobar-$version-$t"
    # dist/ gets the stripped binary (target/ keeps the one with debug info).
    "$gnu-strip" -o "$out" "$CARGO_TARGET_DIR/$t/release/ferrobar"
    (cd dist && sha256sum "$(basename "$out")" > "$(basename "$out").sha256")
    echo "==> [$t] $out: $(file -b "$out" | cut -d, -f1-2)"
    echo "==> [$t] $qemu $out version"
    "$qemu" "$out" version | sed 's/^/    /'

    if [ "$RUN_TESTS" = 1 ]; then
        echo "==> [$t] cargo test --profile cross-test --lib --tests (under $qemu)"
        start=$(date +%s)
        # shellcheck disable=SC2086
        if FERROBAR_TEST_RUNNER="$qemu" "$DEB_CARGO" test --locked --profile cross-test \
            --target "$t" -p ferrobar --lib --tests $TEST_ARGS; then
            echo "==> [$t] tests passed in $(( $(date +%s) - start ))s"
        else
            echo "==> [$t] tests FAILED after $(( $(date +%s) - start ))s"
            failed="$failed $t"
        fi
    fi
done
if [ -n "$failed" ]; then
    echo "ERROR: cross tests failed for:$failed" >&2
    exit 1
fi
echo "==> cross: built and tested$( [ "$RUN_TESTS" = 1 ] || echo ' (tests not run)') for: $TARGETS"
