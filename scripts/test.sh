#!/usr/bin/env bash
# Runs rcptsync's whole test suite: unit tests, the binary's CLI tests, and the integration
# tests against real servers (slapd, Samba AD DC, Postfix, sshd) that the tests start on
# loopback themselves.
#
# Installs the Debian packages those servers come from when they are missing (needs root, as
# CI has); without root it says what to install. A test whose server is missing fails and
# names the package: nothing is skipped silently.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(slapd ldap-utils samba samba-ad-provision samba-dsdb-modules samba-vfs-modules
          ldb-tools krb5-user winbind openssl
          postfix postfix-cdb postfix-lmdb tinycdb lmdb-utils db-util
          openssh-server openssh-client time)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "scripts/test.sh: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        # Postfix without a system configuration: the tests run private instances.
        echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "scripts/test.sh: missing packages; run as root: apt-get install -y ${missing[*]}" >&2
    fi
fi

if ! command -v cargo >/dev/null; then
    echo "scripts/test.sh: cargo not found; install Rust (https://rustup.rs) first" >&2
    exit 1
fi

# Tests that start servers on fixed ports serialize themselves; the rest run in parallel.
cargo test --locked --all-targets "$@"
