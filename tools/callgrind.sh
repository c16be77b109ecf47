#!/usr/bin/env bash
# callgrind.sh — instruction counts (issue 9, item 6): for changes whose effect is below the noise of timings, count
# the instructions a fixed run executes instead of timing it. Valgrind's callgrind is deterministic to within a few
# hundred instructions for the same binary, input and thread count, so a 0.1 % change shows.
set -euo pipefail

usage() {
    cat <<EOF
usage: tools/callgrind.sh [options] [MODEL] [-- GEMMA4_ARGS...]
       tools/callgrind.sh [options] --compare BIN_A BIN_B [MODEL] [-- GEMMA4_ARGS...]

Runs one gemma4 command under valgrind --tool=callgrind, single-threaded (OMP_NUM_THREADS=1,
OPENBLAS_NUM_THREADS=1), and prints the total instructions executed (Ir) and the top functions by
inclusive and by self Ir (callgrind_annotate). The default command is
  gemma4 run -m MODEL -p "$PROMPT" -n 8 --backend BACKEND
with MODEL tiny-e2b. Arguments after -- are appended to it; if the first of them is a subcommand (a word not
starting with '-', e.g. trace), they replace it instead: -- trace -m tiny-e2b -p hi --probes '*' -o /tmp/t.npz

--compare BIN_A BIN_B  run the same command with both binaries and print both totals and B's difference to A
                       in %, e.g. probes compiled out vs compiled in:
                       tools/callgrind.sh --compare build-probes-off/gemma4 build-probes-on/gemma4

options:
  --bin PATH        the gemma4 binary (default: the first of ROOT/build/gemma4, ROOT/build-probes-on/gemma4)
  --backend NAME    ref (default) or blas, for the default command
  --collect FUNC    count only inside functions matching FUNC (callgrind --toggle-collect), e.g.
                    '*TextModel::forward*' to leave out loading and tokenizing
  --split FUNC      also cut the count into segments at each call to FUNC (callgrind --dump-before) and print
                    the non-empty ones, e.g. with bench, whose progress lines separate its measurements:
                    --collect '*TextModel::forward*' --split '*fprintf*' -- bench -m tiny-e2b --backend ref --quick
  --top N           functions to list (default 15; 0: totals only)
  --keep DIR        keep the callgrind.out files (and the annotations) in DIR
  -h, --help        this help

Needs valgrind (Debian: apt-get install -y --no-install-recommends valgrind). The run takes ~50x its native time.
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROMPT="The capital of France is"
BIN=""
BACKEND=ref
COLLECT=""
TOP=15
SPLIT=""
KEEP=""
COMPARE=()
MODEL=tiny-e2b
EXTRA=()
while [[ $# -gt 0 ]]; do
    case $1 in
        -h | --help) usage; exit 0 ;;
        --bin) BIN=$2; shift 2 ;;
        --backend) BACKEND=$2; shift 2 ;;
        --collect) COLLECT=$2; shift 2 ;;
        --top) TOP=$2; shift 2 ;;
        --split) SPLIT=$2; shift 2 ;;
        --keep) KEEP=$2; shift 2 ;;
        --compare) [[ $# -ge 3 ]] || { echo "callgrind.sh: --compare needs BIN_A BIN_B" >&2; exit 2; }
                   COMPARE=("$2" "$3"); shift 3 ;;
        --) shift; EXTRA=("$@"); break ;;
        -*) echo "callgrind.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) MODEL=$1; shift ;;
    esac
done
[[ "$TOP" =~ ^[0-9]+$ ]] || { echo "callgrind.sh: --top must be a number, got '$TOP'" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not found (apt-get install -y --no-install-recommends valgrind)" >&2; exit 1; }

if [[ ${#EXTRA[@]} -gt 0 && "${EXTRA[0]}" != -* ]]; then
    CMD=("${EXTRA[@]}")
else
    CMD=(run -m "$MODEL" -p "$PROMPT" -n 8 --backend "$BACKEND" "${EXTRA[@]}")
fi

if [[ ${#COMPARE[@]} -eq 0 ]]; then
    if [[ -z "$BIN" ]]; then
        for b in "$ROOT/build/gemma4" "$ROOT/build-probes-on/gemma4"; do [[ -x $b ]] && { BIN=$b; break; }; done
        [[ -n "$BIN" ]] || { echo "callgrind.sh: no gemma4 binary found; give --bin PATH" >&2; exit 1; }
    fi
    BINS=("$BIN")
else
    BINS=("${COMPARE[@]}")
fi
for b in "${BINS[@]}"; do [[ -x $b ]] || { echo "callgrind.sh: $b is not an executable" >&2; exit 1; }; done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# total Ir of a callgrind.out file: its "totals:" (or "summary:") line, first event.
total_ir() { sed -n 's/^\(totals\|summary\): *\([0-9]*\).*/\2/p' "$1" | head -1; }

TOTALS=()
for i in "${!BINS[@]}"; do
    b=${BINS[$i]}
    out=$WORK/callgrind.out.$i
    args=(--tool=callgrind --callgrind-out-file="$out")
    [[ -n "$COLLECT" ]] && args+=(--toggle-collect="$COLLECT")
    [[ -n "$SPLIT" ]] && args+=(--dump-before="$SPLIT")
    echo "== $b ${CMD[*]}"
    echo "   OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 valgrind ${args[*]}"
    if ! OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 valgrind "${args[@]}" "$b" "${CMD[@]}" >"$WORK/stdout.$i" 2>"$WORK/stderr.$i"; then
        echo "callgrind.sh: the run failed:" >&2
        cat "$WORK/stdout.$i" "$WORK/stderr.$i" >&2
        exit 1
    fi
    if [[ -n "$SPLIT" ]]; then  # the segments are $out.1, $out.2, ... and $out (the last); their sum is the total
        ir=0
        n=0
        while IFS= read -r f; do
            seg=$(total_ir "$f")
            ir=$((ir + seg))
            n=$((n + 1))
            [[ "$seg" -gt 0 ]] && printf '   segment %3d (up to call %d of %s): %14s Ir\n' "$n" "$n" "$SPLIT" "$seg"
        done < <(ls "$out".* 2>/dev/null | sort -V; echo "$out")
    else
        ir=$(total_ir "$out")
    fi
    TOTALS+=("$ir")
    printf '   total instructions (Ir): %s\n' "$(printf "%'d" "$ir" 2>/dev/null || echo "$ir")"
    if [[ "$TOP" -gt 0 && -z "$SPLIT" ]]; then  # (with --split, $out holds only the last segment)
        echo "   top $TOP by inclusive Ir:"
        callgrind_annotate --inclusive=yes --threshold=100 "$out" 2>/dev/null |
            sed -n '/^ *Ir *file:function/,$p' | sed -n "2,$((TOP + 2))p" | grep -v '^-*$' | sed 's/^/     /' | cut -c1-160 || true
        echo "   top $TOP by self Ir:"
        callgrind_annotate --threshold=100 "$out" 2>/dev/null |
            sed -n '/^ *Ir *file:function/,$p' | sed -n "2,$((TOP + 2))p" | grep -v '^-*$' | sed 's/^/     /' | cut -c1-160 || true
    fi
    if [[ -n "$KEEP" ]]; then
        mkdir -p "$KEEP"
        cp "$out" "$out".* "$KEEP/" 2>/dev/null || cp "$out" "$KEEP/"
        cp "$WORK/stdout.$i" "$KEEP/stdout.$i"
    fi
done

if [[ ${#BINS[@]} -eq 2 ]]; then
    cmp -s "$WORK/stdout.0" "$WORK/stdout.1" ||
        echo "   warning: the two runs printed different output (not the same work?)"
    python3 - "${BINS[0]}" "${TOTALS[0]}" "${BINS[1]}" "${TOTALS[1]}" <<'EOF'
import sys
a, ia, b, ib = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
print(f"== compare (Ir, instructions executed)")
print(f"   A {ia:>16,}  {a}")
print(f"   B {ib:>16,}  {b}")
print(f"   B - A {ib - ia:>+12,}  ({100.0 * (ib - ia) / ia:+.3f} %)")
EOF
fi
