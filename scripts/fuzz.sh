#!/usr/bin/env bash
# scripts/fuzz.sh: builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan, the
# libraries instrumented with -fsanitize=fuzzer-no-link) in a build directory of their own,
# then fuzzes each for FUZZ_SECONDS from its seeds in tests/fuzz/corpus/<target>/. Every input
# must finish within FUZZ_TIMEOUT seconds (-timeout), so a hang fails like a crash, and within
# 1 GiB of RSS.
# New inputs go to BUILD_DIR/corpus/<target>/, never into the source tree; a failing input is
# saved under BUILD_DIR/artifacts/<target>/ and the command to replay it is printed.
#
# usage: scripts/fuzz.sh [BUILD_DIR]          (default: build-fuzz in the source root)
#   FUZZ_SECONDS  seconds per target (default 60)
#   FUZZ_TIMEOUT  seconds one input may take (default 5: this instrumented build runs the
#                 recurrence code about eight times slower than a release build, where every
#                 seed takes under half a second)
#   FUZZ_TARGETS  targets to run, space-separated (default: every tests/fuzz/fuzz_<target>.c)
#   FUZZ_JOBS     parallel compile jobs (default: nproc)
#   FUZZ_FRESH=1  start from the seeds only, forgetting earlier runs' corpus (the smoke test)
#   FUZZ_CC       the compiler (default clang; scripts/install-deps.sh installs it)
#   FUZZ_KNOWN_HANGS=REF  timeouts are a known, tracked bug (REF, e.g. "#18"): fuzz in fork
#                 mode, which records an input past -timeout and goes on, and report such
#                 inputs without failing (exit 77, which ctest shows as skipped). Crashes,
#                 sanitizer reports, leaks and OOMs still fail.
# Exit status: 0 when every target ran its time without a failure; 1 on a failure; 77 when
# the only findings were timeouts under FUZZ_KNOWN_HANGS.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
limit=${FUZZ_TIMEOUT:-5}
all=$(cd "$src/tests/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//' | tr '\n' ' ')
targets=${FUZZ_TARGETS:-$all}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
cc=${FUZZ_CC:-clang}
known=${FUZZ_KNOWN_HANGS:-}

if ! command -v "$cc" >/dev/null; then
    echo "fuzz: $cc is not installed (apt-get install clang; see scripts/install-deps.sh)"
    exit 1
fi
# Configured every time (a second or so once cached): a target added since the build
# directory was made is then known to it.
cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER="$cc" -DALMANAC_FUZZ=ON \
    -DALMANAC_SANITIZE=ON -DALMANAC_WERROR=ON -DALMANAC_FAULTS=ON >/dev/null
build_targets=()
for t in $targets; do
    build_targets+=("fuzz_$t")
done
cmake --build "$build" -j"$jobs" --target "${build_targets[@]}" >/dev/null

failed=()
known_found=0
for t in $targets; do
    work="$build/corpus/$t"
    art="$build/artifacts/$t"
    if [ "${FUZZ_FRESH:-0}" = 1 ]; then
        rm -rf "$work"
    fi
    mkdir -p "$work" "$art"
    flags=(-max_total_time="$seconds" -timeout="$limit" -rss_limit_mb=1024 -print_final_stats=1
        -artifact_prefix="$art/")
    if [ -n "$known" ]; then
        # Fork mode ignores timeouts and OOMs unless told otherwise: only timeouts are known.
        flags+=(-fork=1 -ignore_timeouts=1 -ignore_ooms=0 -ignore_crashes=0)
        rm -f "$art"/timeout-*
    fi
    echo "fuzz: $t for ${seconds}s, -timeout=$limit -rss_limit_mb=1024, seeds tests/fuzz/corpus/$t"
    # The targets that run requests over a store (tests/fuzz/routes.c) make it here: libFuzzer
    # exits without the atexit handler that would remove it.
    export FUZZ_STORE_DIR="$build/store/$t"
    rm -rf "$FUZZ_STORE_DIR"
    mkdir -p "$FUZZ_STORE_DIR"
    # The output is also kept in BUILD_DIR/logs/<target>.log: a failure's reason is repeated at
    # the end, where a CI summary that keeps only the last lines still shows it.
    mkdir -p "$build/logs"
    if ! "$build/tests/fuzz_$t" "${flags[@]}" "$work" "$src/tests/fuzz/corpus/$t" 2>&1 |
        tee "$build/logs/$t.log"; then
        rm -rf "$FUZZ_STORE_DIR"
        echo "fuzz: $t FAILED; the input is in $art/; replay it with"
        echo "  $build/tests/fuzz_$t -timeout=$limit $art/<file>"
        failed+=("$t")
        continue
    fi
    rm -rf "$FUZZ_STORE_DIR"
    if [ -n "$known" ] && compgen -G "$art/timeout-*" >/dev/null; then
        echo "fuzz: $t: inputs ran past ${limit} s, a known bug ($known), so not a failure yet:"
        ls "$art"/timeout-*
        known_found=1
    fi
done
if [ "${#failed[@]}" -ne 0 ]; then
    for t in "${failed[@]}"; do
        echo "fuzz: $t failed; what libFuzzer and the sanitizers said of it:"
        grep -E '^(==[0-9]+==|SUMMARY|ALARM|MS: |artifact_prefix|Test unit written)|ERROR|Deadly|timeout|out-of-memory|leak|#[0-9]+ 0x' \
            "$build/logs/$t.log" | head -n 40 || true
        echo "  the input: $(ls "$build/artifacts/$t"/ 2>/dev/null | tr '\n' ' ')"
        for f in "$build/artifacts/$t"/*; do
            # small inputs are printed whole (base64), so a CI log alone can replay them
            if [ -f "$f" ] && [ "$(stat -c %s "$f")" -le 4096 ]; then
                echo "  $(basename "$f") in base64: $(base64 -w0 "$f")"
            fi
        done
    done
    echo "fuzz: FAILED: ${failed[*]}"
    exit 1
fi
if [ "$known_found" -ne 0 ]; then
    exit 77
fi
exit 0
