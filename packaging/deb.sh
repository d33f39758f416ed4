#!/usr/bin/env bash
# `make deb`: dist/ferrobar_<version>-1_<arch>.deb with cargo-deb ([package.metadata.deb] in
# Cargo.toml): /usr/bin/ferrobar, the systemd unit (packaging/ferrobar.service: enabled and
# started on install), the man pages and bash/zsh/fish completions generated from the CLI, and
# a postinst that creates the `ferrobar` system user and the node directory /var/lib/ferrobar.
# Then checks what it built: the file list, the control fields, the maintainer scripts' syntax,
# and (for this machine's architecture) that the packaged binary runs.
#
#   packaging/deb.sh                                     for this machine (x86_64: amd64)
#   DEB_TARGET=aarch64-unknown-linux-gnu packaging/deb.sh   from `make cross`'s binary (arm64)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO=${CARGO:-cargo}
CARGO_DEB_VERSION=3.8.0
TARGET=${DEB_TARGET:-}
ASSETS=target/assets

if ! "$CARGO" deb --version >/dev/null 2>&1; then
    echo "==> cargo install cargo-deb $CARGO_DEB_VERSION (once, a few minutes)"
    "$CARGO" install cargo-deb --locked --version "$CARGO_DEB_VERSION"
fi

# The man pages and completions come from the CLI definition, so the host binary makes them
# for every target (the CLI is the same).
echo "==> cargo build --release --bin ferrobar"
"$CARGO" build --locked --release --bin ferrobar
host_bin=target/release/ferrobar
rm -rf "$ASSETS"
mkdir -p "$ASSETS/completions"
"$host_bin" man --out-dir "$ASSETS/man"
"$host_bin" completions bash > "$ASSETS/completions/ferrobar.bash"
"$host_bin" completions zsh > "$ASSETS/completions/_ferrobar"
"$host_bin" completions fish > "$ASSETS/completions/ferrobar.fish"

mkdir -p dist
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
if [ -z "$TARGET" ]; then
    arch=$(dpkg --print-architecture)
    echo "==> cargo deb"
    "$CARGO" deb --no-build --output dist/
else
    bin="target/cross/$TARGET/release/ferrobar"
    [ -x "$bin" ] || { echo "ERROR: $bin is missing: run make cross first" >&2; exit 1; }
    case "$TARGET" in
        aarch64-unknown-linux-gnu) arch=arm64; gnu=aarch64-linux-gnu ;;
        armv7-unknown-linux-gnueabihf) arch=armhf; gnu=arm-linux-gnueabihf ;;
        *) echo "ERROR: no .deb recipe for $TARGET" >&2; exit 1 ;;
    esac
    echo "==> cargo deb --target $TARGET"
    # cargo-deb splits off the debug symbols with the target's binutils (from the cross gcc).
    env "STRIP_$gnu=$gnu-strip" "OBJCOPY_$gnu=$gnu-objcopy" CARGO_TARGET_DIR=target/cross \
        "$CARGO" deb --no-build --target "$TARGET" --output dist/
fi
deb="dist/ferrobar_${version}-1_${arch}.deb"
echo "==> $deb"

# What an operator gets.
contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/ferrobar ./usr/lib/systemd/system/ferrobar.service \
         ./usr/share/man/man1/ferrobar.1 ./usr/share/man/man1/ferrobar-start.1 \
         ./usr/share/bash-completion/completions/ferrobar ./usr/share/zsh/vendor-completions/_ferrobar \
         ./usr/share/fish/vendor_completions.d/ferrobar.fish; do
    if ! grep -qE " $f(\.gz)?\$" <<<"$contents"; then
        echo "ERROR: $deb lacks $f; it has:" >&2
        echo "$contents" >&2
        exit 1
    fi
done
info=$(dpkg-deb -I "$deb")
grep -q "^ Depends:.*adduser" <<<"$info" || { echo "ERROR: Depends lacks adduser" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -e "$deb" "$work/DEBIAN"
for s in postinst prerm postrm; do
    [ -f "$work/DEBIAN/$s" ] && sh -n "$work/DEBIAN/$s"
done
grep -q "adduser --system" "$work/DEBIAN/postinst" || { echo "ERROR: postinst creates no user" >&2; exit 1; }
grep -q "systemctl\|deb-systemd" "$work/DEBIAN/postinst" || { echo "ERROR: postinst does not enable the unit" >&2; exit 1; }
if [ -z "$TARGET" ]; then
    dpkg-deb -x "$deb" "$work/root"
    "$work/root/usr/bin/ferrobar" version | head -n1
fi
echo "==> $deb: $(du -h "$deb" | cut -f1), contents checked"
