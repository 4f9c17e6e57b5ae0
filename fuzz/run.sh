#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS_PER_TARGET (default 5) seconds, one
# after the other, on a scratch copy of its seed corpus (fuzz/corpus/<target> stays as
# committed). Exits non-zero on the first crash, leak, timeout or failed invariant; libFuzzer
# leaves the input in fuzz/artifacts/<target>/ and prints the command that replays it.
#
# Needs cargo-fuzz and a C++ compiler (libFuzzer is C++); as root (CI) it installs what is
# missing. cargo-fuzz passes -Z flags, so on the stable toolchain RUSTC_BOOTSTRAP=1 is set.
#
#   fuzz/run.sh [SECONDS_PER_TARGET]
#   FUZZ_SANITIZER=address fuzz/run.sh 60     # with AddressSanitizer (slower; default: none)
#   FUZZ_RUNS=10000000 fuzz/run.sh            # each target to that many executions instead
#                                             # (the long run recorded in fuzz/README.md)
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-5}"
case "$seconds" in '' | *[!0-9]*) echo "usage: fuzz/run.sh [SECONDS_PER_TARGET]" >&2; exit 2 ;; esac
# rcptsync forbids unsafe code, so a crash is a panic (failed assertion, overflow, index out
# of bounds), which libFuzzer catches without a sanitizer; ASan costs build and run time.
sanitizer="${FUZZ_SANITIZER:-none}"
export RUSTC_BOOTSTRAP=1
# The fuzz crate has its own target directory (fuzz/target); a CARGO_TARGET_DIR meant for the
# main crate must not mix instrumented builds into it.
unset CARGO_TARGET_DIR

if ! command -v c++ >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "fuzz/run.sh: installing g++ (libFuzzer is C++)" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends g++ >/dev/null
    else
        echo "fuzz/run.sh: no C++ compiler; run as root: apt-get install -y g++" >&2
        exit 1
    fi
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: installing cargo-fuzz (cargo install --locked cargo-fuzz; takes minutes)" >&2
    cargo install --locked cargo-fuzz
fi

# Several codegen units: a much faster build for a slightly slower fuzzer.
build=(--sanitizer "$sanitizer" --codegen-units 16)
cargo fuzz build "${build[@]}"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in $(cargo fuzz list); do
    if [ -n "${FUZZ_RUNS:-}" ]; then
        limit=(-runs="$FUZZ_RUNS")
        echo "fuzz/run.sh: $target for $FUZZ_RUNS executions" >&2
    else
        limit=(-max_total_time="$seconds")
        echo "fuzz/run.sh: $target for ${seconds}s" >&2
    fi
    mkdir -p "$scratch/$target"
    # The scratch directory comes first: libFuzzer writes the inputs it finds there. With
    # -jobs=1 the fuzzing runs in one child process, which logs to fuzz-0.log here.
    status=0
    started=$(date +%s)
    cargo fuzz run "${build[@]}" "$target" "$scratch/$target" "corpus/$target" -- \
        "${limit[@]}" -jobs=1 -workers=1 -print_final_stats=1 \
        >"$scratch/$target.out" 2>&1 || status=$?
    elapsed=$(($(date +%s) - started))
    mv "$scratch/$target.out" "$scratch/$target.log"
    rm -f fuzz-0.log
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$scratch/$target.log" >&2
        echo "fuzz/run.sh: $target FAILED; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E 'DONE +cov:|^stat::number_of_executed_units' "$scratch/$target.log" >&2 || true
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/$target.log" | tail -n 1)
    done_line=$(grep -E 'DONE +cov:' "$scratch/$target.log" | tail -n 1 || true)
    echo "fuzz/run.sh: result: $target executions=${execs:-?} seconds=$elapsed crashes=0 ${done_line#*DONE}" >&2
done
echo "fuzz/run.sh: every target ran ${seconds}s without a crash" >&2
