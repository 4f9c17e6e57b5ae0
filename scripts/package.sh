#!/usr/bin/env bash
# Builds the Debian package with cargo-deb (metadata in Cargo.toml, [package.metadata.deb]),
# then, as root, installs it and checks what it installed: the account and its state
# directory, the config's owner and mode, the man pages and completions, the systemd units
# (`systemd-analyze verify`, and `systemd-analyze security --offline=yes` at most 3.0 for
# rcptsync-sync.service and 5.0 for rcptsync-apply.service), the installed binary run on
# the packaged example as the rcptsync account; then purges it and checks that nothing is
# left. Without root it only builds.
#
#   scripts/package.sh            build target/debian/rcptsync_VERSION_ARCH.deb (and check it)
#   scripts/package.sh --build    build only
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "scripts/package.sh: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

if ! command -v cargo-deb >/dev/null; then
    say "installing cargo-deb"
    cargo install cargo-deb --locked
fi
# The package is built with the kerberos feature, whose bindings bindgen generates.
build_need=()
for p in libkrb5-dev clang libclang-dev pkgconf; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || build_need+=("$p")
done
if [ ${#build_need[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || fail "to build, install as root: apt-get install -y ${build_need[*]}"
    say "installing ${build_need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${build_need[@]}" >/dev/null
fi
# The generated man pages and completions must be current before they are packaged.
cargo test --locked --test it docs::
deb=$(cargo deb --strip -- --locked | tail -n 1)
[ -f "$deb" ] || fail "cargo deb did not print the package's path"
say "built $deb"
if [ "${1:-}" = "--build" ] || [ "$(id -u)" -ne 0 ]; then
    [ "$(id -u)" -eq 0 ] || say "not root: the package is built, not installed and checked"
    exit 0
fi

need=()
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v man >/dev/null || need+=(man-db)
dpkg-query -W -f='${Status}' adduser 2>/dev/null | grep -q "install ok installed" || need+=(adduser)
dpkg-query -W -f='${Status}' openssh-client 2>/dev/null | grep -q "install ok installed" || need+=(openssh-client)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if dpkg-query -W -f='${Status}' rcptsync 2>/dev/null | grep -q "installed"; then
    fail "rcptsync is already installed here; this check installs and purges it (dpkg --purge rcptsync first)"
fi
work=$(mktemp -d)
cleanup() {
    dpkg --purge rcptsync >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

dpkg -i "$deb" >/dev/null

# The binary, its docs and completions.
[ "$(command -v rcptsync)" = /usr/bin/rcptsync ] || fail "rcptsync is not /usr/bin/rcptsync"
rcptsync --version >/dev/null
for page in rcptsync rcptsync-extract rcptsync-push rcptsync-sync rcptsync-watch rcptsync-receive \
            rcptsync-apply rcptsync-verify rcptsync-doctor rcptsync-prune rcptsync-import-ini; do
    man -w "$page" >/dev/null || fail "no man page $page(1)"
done
man -w 5 rcptsync.toml >/dev/null || fail "no man page rcptsync.toml(5)"
for f in /usr/share/bash-completion/completions/rcptsync /usr/share/zsh/vendor-completions/_rcptsync \
         /usr/share/fish/vendor_completions.d/rcptsync.fish /usr/share/doc/rcptsync/examples/rcptsync.toml; do
    [ -s "$f" ] || fail "$f is missing"
done

# The account, its state directory and the config.
id rcptsync >/dev/null || fail "no rcptsync account"
[ "$(stat -c '%U:%G %a' /var/lib/rcptsync)" = "rcptsync:rcptsync 750" ] \
    || fail "/var/lib/rcptsync is $(stat -c '%U:%G %a' /var/lib/rcptsync)"
[ "$(stat -c '%U:%G %a' /etc/rcptsync/rcptsync.toml)" = "root:rcptsync 640" ] \
    || fail "/etc/rcptsync/rcptsync.toml is $(stat -c '%U:%G %a' /etc/rcptsync/rcptsync.toml)"
dpkg-query --showformat='${Conffiles}\n' --show rcptsync | grep -q ' /etc/rcptsync/rcptsync.toml ' \
    || fail "/etc/rcptsync/rcptsync.toml is not a conffile"
runuser -u rcptsync -- test -r /etc/rcptsync/rcptsync.toml || fail "rcptsync cannot read its config"
# An upgrade (here: the same package again) keeps the account, the state and the modes.
touch /var/lib/rcptsync/kept
dpkg -i "$deb" >/dev/null
[ -f /var/lib/rcptsync/kept ] || fail "the upgrade lost /var/lib/rcptsync"
[ "$(stat -c '%U:%G %a' /etc/rcptsync/rcptsync.toml)" = "root:rcptsync 640" ] \
    || fail "after the upgrade /etc/rcptsync/rcptsync.toml is $(stat -c '%U:%G %a' /etc/rcptsync/rcptsync.toml)"

# The units: valid, and as closed as they claim.
units=(rcptsync-sync.service rcptsync-sync.timer rcptsync-apply.service rcptsync-apply.path
       rcptsync-apply.timer rcptsync-apply-freshness.service rcptsync-watch.service
       rcptsync-failure@.service)
for unit in "${units[@]}"; do
    [ -f "/usr/lib/systemd/system/$unit" ] || fail "$unit is not installed"
done
(cd /usr/lib/systemd/system && systemd-analyze verify rcptsync-sync.service rcptsync-sync.timer \
    rcptsync-apply.service rcptsync-apply.path rcptsync-apply.timer \
    rcptsync-apply-freshness.service rcptsync-watch.service \
    rcptsync-failure@x.service) \
    || fail "systemd-analyze verify"
for check in rcptsync-sync.service:30 rcptsync-watch.service:30 rcptsync-apply.service:50 \
    rcptsync-apply-freshness.service:50; do
    unit=${check%%:*}
    systemd-analyze security --offline=yes --threshold="${check##*:}" "/usr/lib/systemd/system/$unit" \
        | tail -n 1 >&2 || fail "$unit is rated above ${check##*:}/10"
done

# The packaged config loads as the rcptsync account, and status finds the packaged layout.
runuser -u rcptsync -- rcptsync status -c /etc/rcptsync/rcptsync.toml >"$work/status" \
    || fail "status on the packaged config"
grep -q '^map /var/lib/rcptsync/relay_recipients: none yet' "$work/status" \
    || fail "status said: $(cat "$work/status")"

# The installed binary on the packaged example: a dry run where it lies, a real run in a copy.
runuser -u rcptsync -- rcptsync extract --dry-run -c /usr/share/doc/rcptsync/examples/rcptsync.toml \
    >"$work/dry-run" || fail "extract --dry-run on the example"
grep -q 'dry run, nothing written' "$work/dry-run" || fail "extract --dry-run said: $(cat "$work/dry-run")"
cp -r /usr/share/doc/rcptsync/examples "$work/examples"
chown -R rcptsync:rcptsync "$work"
runuser -u rcptsync -- rcptsync extract -q -c "$work/examples/rcptsync.toml" >/dev/null \
    || fail "extract on a copy of the example"
[ "$(wc -l <"$work/examples/out/relay_recipients")" -eq 21 ] || fail "the example map does not have 21 recipients"

# Built with Kerberos: a keytab source gets as far as opening the keytab.
cat >"$work/kerberos.toml" <<'TOML'
[recipients]
domains = ["example.com"]

[output]
path = "relay_recipients"

[[source]]
name = "ad"
kind = "ldap"
servers = ["ldap://dc1.example.com"]
base_dn = "DC=example,DC=com"
keytab = "/nonexistent/rcptsync.keytab"
principal = "svc-rcptsync@EXAMPLE.COM"
TOML
out=$(runuser -u rcptsync -- rcptsync extract --dry-run -c "$work/kerberos.toml" 2>&1) && fail "a missing keytab was not refused"
case "$out" in
    *"/nonexistent/rcptsync.keytab"*) ;;
    *) fail "the packaged binary on a keytab source said: $out" ;;
esac

# Purge leaves nothing of it.
dpkg --purge rcptsync >/dev/null
# The system account stays (Debian practice: files it owns may outlive the package).
id rcptsync >/dev/null 2>&1 || fail "the purge removed the rcptsync account"
for left in /var/lib/rcptsync /etc/rcptsync /usr/bin/rcptsync; do
    [ ! -e "$left" ] || fail "$left survived the purge"
done
! dpkg-statoverride --list /etc/rcptsync/rcptsync.toml >/dev/null || fail "a stat override survived the purge"
say "installed, checked and purged $deb"
