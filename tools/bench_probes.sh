#!/usr/bin/env bash
# bench_probes.sh — the cost of the probe hooks (issue 9, item 3): the same `gemma4 bench` with probes compiled out
# (-DGEMMA4_PROBES=OFF) and compiled in (ON), alternating the two binaries repetition by repetition so that the
# machine's noise hits both alike, then one table of medians. Goals: compiled in with nobody listening ≤ 1 % slower
# than compiled out; recording every probe ≤ 1.5× the time of nobody listening.
set -euo pipefail

usage() {
    cat <<EOF
usage: tools/bench_probes.sh MODEL_DIR [REPS]

Builds (if needed) two Release trees of this checkout that differ only in GEMMA4_PROBES, then runs
  gemma4 bench -m MODEL_DIR --backend \$BACKEND --prefill \$PREFILL --decode \$DECODE --reps 1 --json
REPS times (default 5) with each binary, alternating which goes first, and prints the medians:
decode and prefill tok/s compiled out, compiled in with nobody listening, compiled in recording every
probe ("*", decode only), the compiled-in slowdown in % and the recording-all time ratio. Ratios are medians
of the per-repetition ratios (each pair of runs is adjacent in time); min..max shows the spread.

MODEL_DIR  a checkpoint directory or a bundled name (tiny-e2b, ...)
REPS       repetitions per binary (default 5)

Environment (defaults in brackets):
  BUILD_OFF [ROOT/build-probes-off]  BUILD_ON [ROOT/build-probes-on]  build trees, reused when present
  JOBS [2]  parallel compile jobs (builds run under nice -n 10)
  BACKEND [blas]  PREFILL [128]  DECODE [32]   what bench measures
  THREADS [unset: OpenMP's default]  OMP_NUM_THREADS for the runs (1 is steadier on a busy machine)
  KEEP_JSON [unset]  a directory to keep each run's JSON in
Timings on a shared machine are noisy: differences of a few % between the builds are within the noise
unless they hold over many repetitions; tools/callgrind.sh --compare counts instructions instead.
EOF
}

if [[ $# -lt 1 || $# -gt 2 || "$1" == "-h" || "$1" == "--help" ]]; then
    usage
    [[ $# -ge 1 && ( "$1" == "-h" || "$1" == "--help" ) ]] && exit 0
    exit 2
fi
MODEL=$1
REPS=${2:-5}
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || { echo "bench_probes.sh: REPS must be a positive integer, got '$REPS'" >&2; exit 2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_OFF=${BUILD_OFF:-$ROOT/build-probes-off}
BUILD_ON=${BUILD_ON:-$ROOT/build-probes-on}
JOBS=${JOBS:-2}
BACKEND=${BACKEND:-blas}
PREFILL=${PREFILL:-128}
DECODE=${DECODE:-32}
PYTHON=${PYTHON:-python3}
[[ -n "${THREADS:-}" ]] && export OMP_NUM_THREADS=$THREADS

# build DIR ON|OFF: configure once (the same flags for both trees but GEMMA4_PROBES), then bring gemma4 up to date.
build() {
    local dir=$1 probes=$2
    if [[ -f "$dir/CMakeCache.txt" ]]; then
        local have
        have=$(sed -n 's/^GEMMA4_PROBES:BOOL=//p' "$dir/CMakeCache.txt")
        if [[ "$have" != "$probes" ]]; then
            echo "bench_probes.sh: $dir was configured with GEMMA4_PROBES=$have, expected $probes" >&2
            exit 1
        fi
    else
        echo "[bench_probes] configuring $dir (GEMMA4_PROBES=$probes)" >&2
        cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DGEMMA4_PROBES="$probes" \
            -DGEMMA4_VIZ=OFF -DGEMMA4_TESTS=OFF -DGEMMA4_OPENCL=OFF >/dev/null
    fi
    echo "[bench_probes] building $dir/gemma4" >&2
    nice -n 10 cmake --build "$dir" --target gemma4 -j"$JOBS" >"$dir/bench_probes_build.log" 2>&1 ||
        { tail -40 "$dir/bench_probes_build.log" >&2; echo "bench_probes.sh: the build of $dir failed" >&2; exit 1; }
}
build "$BUILD_OFF" OFF
build "$BUILD_ON" ON

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
run() {  # run off|on REP
    local bin
    [[ $1 == off ]] && bin=$BUILD_OFF/gemma4 || bin=$BUILD_ON/gemma4
    "$bin" bench -m "$MODEL" --backend "$BACKEND" --prefill "$PREFILL" --decode "$DECODE" --reps 1 --json \
        2>"$OUT/$1-$2.log" | sed -n '/^{/,$p' >"$OUT/$1-$2.json" ||
        { echo "bench_probes.sh: $bin bench failed:" >&2; cat "$OUT/$1-$2.log" >&2; exit 1; }
}
for ((i = 1; i <= REPS; ++i)); do
    echo "[bench_probes] repetition $i/$REPS" >&2
    if ((i % 2)); then run off "$i"; run on "$i"; else run on "$i"; run off "$i"; fi
done
[[ -n "${KEEP_JSON:-}" ]] && mkdir -p "$KEEP_JSON" && cp "$OUT"/*.json "$KEEP_JSON"/

"$PYTHON" - "$OUT" "$REPS" "$MODEL" "$BACKEND" "$PREFILL" "$DECODE" <<'EOF'
import json, statistics, sys
out, reps, model, backend, prefill, decode = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]
def load(kind, i):
    j = json.load(open(f"{out}/{kind}-{i}.json"))
    want = kind == "on"
    if j["probes_compiled_in"] != want:
        sys.exit(f"bench_probes.sh: the {kind} binary says probes_compiled_in={j['probes_compiled_in']}")
    b = next(b for b in j["backends"] if b["backend"] == backend)
    if "skipped" in b:
        sys.exit(f"bench_probes.sh: backend {backend} skipped: {b['skipped']}")
    return j, b
off_dec, on_dec, rec_dec, off_pre, on_pre, in_vs_out, rec_ratio, pre_in_vs_out = [], [], [], [], [], [], [], []
for i in range(1, reps + 1):
    joff, boff = load("off", i)
    jon, bon = load("on", i)
    off_dec.append(boff["decode_tok_s"]); on_dec.append(bon["decode_tok_s"])
    rec_dec.append(bon["probes"]["decode_tok_s_recording_all"])
    k = prefill.split(",")[0]
    off_pre.append(boff["prefill_tok_s"][k]); on_pre.append(bon["prefill_tok_s"][k])
    in_vs_out.append(100.0 * (off_dec[-1] / on_dec[-1] - 1.0))      # time in / time out - 1, in %
    pre_in_vs_out.append(100.0 * (off_pre[-1] / on_pre[-1] - 1.0))
    rec_ratio.append(bon["probes"]["slowdown_recording_all"])          # time recording / time nobody
med = statistics.median
def row(name, xs, fmt):
    print(f"  {name:<52} {fmt.format(med(xs)):>10}   {fmt.format(min(xs))} .. {fmt.format(max(xs))}")
print(f"probe cost: gemma4 bench -m {model} --backend {backend} --prefill {prefill} --decode {decode} --reps 1,")
print(f"{reps} alternating repetitions per binary, {jon['threads']} OpenMP threads; medians (min .. max)")
print(f"  {'figure':<52} {'median':>10}   min .. max")
row(f"decode N={decode} tok/s, probes compiled out", off_dec, "{:.2f}")
row(f"decode N={decode} tok/s, compiled in, nobody listening", on_dec, "{:.2f}")
row(f"decode N={decode} tok/s, compiled in, recording all", rec_dec, "{:.2f}")
row("decode time, compiled in vs out (goal <= 1 %)", in_vs_out, "{:+.2f} %")
row("decode time, recording all / nobody (goal <= 1.5x)", rec_ratio, "x{:.3f}")
row(f"prefill T={k} tok/s, probes compiled out", off_pre, "{:.1f}")
row(f"prefill T={k} tok/s, compiled in, nobody listening", on_pre, "{:.1f}")
row("prefill time, compiled in vs out", pre_in_vs_out, "{:+.2f} %")
EOF
