#!/usr/bin/env bash
# `make deb-install-test`: installs the .deb that `make deb` built with dpkg -i into a minimal
# Debian 12 root made by debootstrap (target/deb-root, kept between runs), and checks what the
# maintainer scripts did: the `ferrobar` system user, /var/lib/ferrobar owned by it, the
# default node configuration, that it is valid (`ferrobar check` as that user), the man page,
# and the unit file. Then removes and purges the package and checks the node directory and the
# user stay. The root has no systemd running, so the unit is installed but not started.
# Needs root and debootstrap (installed with apt-get when missing); says SKIPPED and exits 0
# when it cannot have them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROOT=${DEB_ROOT:-$PWD/target/deb-root}
skip() { echo "deb-install-test: SKIPPED: $*"; exit 0; }

[ "$(id -u)" = 0 ] || skip "needs root (dpkg -i into a chroot)"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
arch=$(dpkg --print-architecture)
deb="dist/ferrobar_${version}-1_${arch}.deb"
[ -f "$deb" ] || { echo "ERROR: $deb is missing: run make deb first" >&2; exit 1; }

if [ ! -x "$ROOT/usr/sbin/adduser" ]; then
    if ! command -v debootstrap >/dev/null; then
        apt-get install -y -qq debootstrap >/dev/null || skip "debootstrap cannot be installed"
    fi
    echo "==> debootstrap --variant=minbase --include=adduser bookworm $ROOT (once)"
    rm -rf "$ROOT"
    debootstrap --variant=minbase --include=adduser bookworm "$ROOT" >/dev/null \
        || skip "debootstrap failed"
fi

in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
fail() { echo "ERROR: $*" >&2; exit 1; }

# A clean slate: no ferrobar from an earlier run.
in_root dpkg --purge ferrobar >/dev/null 2>&1 || true
in_root sh -c 'deluser --quiet --system ferrobar >/dev/null 2>&1 || true; delgroup --quiet --system ferrobar >/dev/null 2>&1 || true; rm -rf /var/lib/ferrobar'

cp "$deb" "$ROOT/tmp/ferrobar.deb"
echo "==> dpkg -i $(basename "$deb") (in $ROOT)"
in_root dpkg -i /tmp/ferrobar.deb

in_root getent passwd ferrobar | grep -q ':/var/lib/ferrobar:/usr/sbin/nologin$' \
    || fail "no ferrobar system user with home /var/lib/ferrobar"
uid=$(in_root id -u ferrobar)
[ "$uid" -lt 1000 ] || fail "ferrobar is not a system user (uid $uid)"
[ "$(in_root stat -c '%U:%G %a' /var/lib/ferrobar)" = "ferrobar:ferrobar 750" ] \
    || fail "/var/lib/ferrobar: $(in_root stat -c '%U:%G %a' /var/lib/ferrobar)"
[ "$(in_root stat -c '%U' /var/lib/ferrobar/.crossbar/config.json)" = ferrobar ] \
    || fail "the default config is not owned by ferrobar"
in_root setpriv --reuid=ferrobar --regid=ferrobar --clear-groups \
    /usr/bin/ferrobar check --cbdir /var/lib/ferrobar/.crossbar
in_root test -f /usr/lib/systemd/system/ferrobar.service || fail "no unit file"
in_root sh -c 'ls /usr/share/man/man1/ferrobar.1*' >/dev/null || fail "no man page"
in_root /usr/bin/ferrobar version | head -n1

# A reinstall (upgrade path) keeps the operator's config.
echo '{"version": 2, "workers": []}' > "$ROOT/var/lib/ferrobar/.crossbar/config.json"
in_root dpkg -i /tmp/ferrobar.deb >/dev/null
grep -q '"workers": \[\]' "$ROOT/var/lib/ferrobar/.crossbar/config.json" \
    || fail "reinstalling replaced the operator's config"

echo "==> dpkg --purge ferrobar"
in_root dpkg --purge ferrobar >/dev/null
in_root test ! -e /usr/bin/ferrobar || fail "/usr/bin/ferrobar left after purge"
in_root getent passwd ferrobar >/dev/null || fail "purge removed the ferrobar user"
in_root test -d /var/lib/ferrobar/.crossbar || fail "purge removed the node directory"
echo "==> deb-install-test: installed, checked, reinstalled and purged $(basename "$deb")"
