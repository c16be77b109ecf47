#!/usr/bin/env bash
# tools/fuzz.sh — builds the libFuzzer targets of tests/fuzz (clang, ASan + UBSan, in build-fuzz/) and runs each one
# for a while on a copy of its seed corpus. One line per target: executions, exec/s, coverage, corpus, findings.
# Exits 1 if any target found something (a crash, sanitizer report, timeout, out-of-memory or leak): the input is in
# build-fuzz/findings/<target>/ and the line says how to replay it.
#
#   bash tools/fuzz.sh                          every target for 10 s, one at a time (what CI runs)
#   bash tools/fuzz.sh --seconds 600 --jobs 2   ten minutes each, two targets at once
#   bash tools/fuzz.sh npz image                only these targets
#   bash tools/fuzz.sh --merge config           afterwards add the inputs that found new coverage to the committed
#                                               seed corpus tests/fuzz/corpus/config/ (minimised by libFuzzer)
#   bash tools/fuzz.sh --list                   the target names
#
# New inputs accumulate in build-fuzz/corpus/<target>/ across runs; the committed corpus is only read, unless --merge.
# Needs clang, libclang-rt-14-dev (libFuzzer) and libomp-dev (tools/debian-packages.txt). FUZZ_BUILD_JOBS caps the
# parallel compile (default: all cores).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }

seconds=10
jobs=1
merge=0
list=0
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
        --jobs) jobs="${2:?--jobs needs a number}"; shift 2 ;;
        --merge) merge=1; shift ;;
        --list) list=1; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "fuzz.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
case "$seconds$jobs" in *[!0-9]*) echo "fuzz.sh: --seconds and --jobs take whole numbers" >&2; exit 2 ;; esac

all_targets=()
for src in tests/fuzz/fuzz_*.cpp; do
    name="${src#tests/fuzz/fuzz_}"
    all_targets+=("${name%.cpp}")
done
if [ "$list" = 1 ]; then printf '%s\n' "${all_targets[@]}"; exit 0; fi
if [ ${#targets[@]} -eq 0 ]; then targets=("${all_targets[@]}"); fi
for t in "${targets[@]}"; do
    if [ ! -f "tests/fuzz/fuzz_$t.cpp" ]; then
        echo "fuzz.sh: no target '$t' (there is no tests/fuzz/fuzz_$t.cpp); targets: ${all_targets[*]}" >&2
        exit 2
    fi
done

# Longest input per target, in bytes: room for the seeds to grow, small enough that each run stays quick.
declare -A max_len=(
    [safetensors]=65536 [safetensors_index]=16384 [config]=16384 [tokenizer]=65536 [tokenizer_config]=16384
    [chat]=8192 [image]=262144 [audio]=262144 [npz]=65536
)

build=build-fuzz
for tool in clang clang++; do
    command -v "$tool" >/dev/null || { echo "fuzz.sh: $tool not found (apt-get install clang libclang-rt-14-dev libomp-dev)" >&2; exit 2; }
done
if [ ! -f "$build/CMakeCache.txt" ]; then
    CC=clang CXX=clang++ cmake -S . -B "$build" -DGEMMA4_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DGEMMA4_VIZ=OFF -DGEMMA4_OPENCL=OFF -DGEMMA4_TESTS=OFF >/dev/null
fi
mkdir -p "$build/logs"
echo "fuzz.sh: building ${#targets[@]} target(s) in $build/ (log: $build/logs/build.log)"
if ! cmake --build "$build" -j "${FUZZ_BUILD_JOBS:-$(nproc)}" --target "${targets[@]/#/fuzz_}" >"$build/logs/build.log" 2>&1; then
    tail -40 "$build/logs/build.log" >&2
    echo "fuzz.sh: the build failed" >&2
    exit 2
fi

# One run: the committed seeds are copied (never moved) into the working corpus, findings land in their own folder.
run_one() {
    local t="$1"
    local corpus="$build/corpus/$t" findings="$build/findings/$t" log="$build/logs/$t.log"
    mkdir -p "$corpus" "$build/logs"
    rm -rf "$findings" && mkdir -p "$findings"
    if [ -d "tests/fuzz/corpus/$t" ]; then cp -n "tests/fuzz/corpus/$t"/* "$corpus"/ 2>/dev/null || true; fi
    local dict=()
    if [ -f "tests/fuzz/$t.dict" ]; then dict=("-dict=tests/fuzz/$t.dict"); fi
    OMP_NUM_THREADS=1 ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
    LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=tests/fuzz/lsan.supp:print_suppressions=0}" \
        "$build/fuzz/fuzz_$t" "$corpus" "${dict[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=2048 -max_len="${max_len[$t]:-65536}" -artifact_prefix="$findings/" -print_final_stats=1 \
        >"$log" 2>&1 || true
    if [ "$merge" = 1 ]; then
        mkdir -p "tests/fuzz/corpus/$t"
        "$build/fuzz/fuzz_$t" -merge=1 "tests/fuzz/corpus/$t" "$corpus" >>"$log" 2>&1 || true
    fi
}

# The summary line of one finished run, from libFuzzer's final statistics and the last status line.
report() {
    local t="$1" log="$build/logs/$1.log" findings="$build/findings/$1"
    local execs rate added cov corpus_files found
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    added=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
    corpus_files=$(find "$build/corpus/$t" -type f | wc -l)
    found=$(find "$findings" -type f ! -name 'slow-unit-*' | sort)
    printf '%-18s %10s execs  %6s exec/s  cov %-6s corpus %-5s (+%s new)  findings: %s\n' "$t" "${execs:-?}" \
        "${rate:-?}" "${cov:-?}" "$corpus_files" "${added:-0}" "$( [ -n "$found" ] && echo "$found" | wc -l || echo 0)"
    if [ -n "$found" ]; then
        grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|property violated|terminate called' \
            "$log" | sed 's/^/    /' || true
        echo "$found" | sed "s|^|    replay: $build/fuzz/fuzz_$t |"
        return 1
    fi
    if [ -z "$execs" ]; then
        echo "    the fuzzer did not finish normally; see $log" >&2
        return 1
    fi
}

echo "fuzz.sh: ${#targets[@]} target(s), $seconds s each, $jobs at a time; logs in $build/logs/"
running=0
for t in "${targets[@]}"; do
    if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
    run_one "$t" &
    running=$((running + 1))
done
wait

status=0
for t in "${targets[@]}"; do report "$t" || status=1; done
[ "$status" = 0 ] && echo "fuzz.sh: no findings" || echo "fuzz.sh: FINDINGS (see above)"
exit "$status"
