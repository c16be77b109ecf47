#!/usr/bin/env bash
# bench_vs_llamacpp.sh — gemma4 side by side with llama.cpp on the same checkpoint (issue 9, item 4): converts
# MODEL_DIR with llama.cpp's own convert_hf_to_gguf.py to F32 and BF16 GGUF, then alternates
# `gemma4 bench --backend blas,bf16` and `llama-bench` on each GGUF repetition by repetition (so that the machine's
# noise hits all of them alike) and prints one table of medians with the gemma4 / llama.cpp ratios. gemma4 blas keeps
# float32 activations (llama.cpp's F32 arithmetic); gemma4 bf16 rounds them to bf16 as llama.cpp does for a BF16
# weight (ops_bf16.cpp), so each gemma4 run has a llama.cpp run of the same arithmetic beside it.
# Goals: decode ≥ 1.0× llama.cpp, prefill ≥ 0.8×. llama.cpp is built by the user and never part of this repository.
set -euo pipefail

usage() {
    cat <<EOF
usage: tools/bench_vs_llamacpp.sh [options] LLAMA_CPP_BUILD_DIR MODEL_DIR

LLAMA_CPP_BUILD_DIR  a CMake build tree of llama.cpp holding bin/llama-bench, e.g. made with
                       cmake -S llama.cpp -B BUILD -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \\
                             -DLLAMA_CURL=OFF -DLLAMA_BUILD_SERVER=OFF
                       cmake --build BUILD -j2 --target llama-bench
                     Its source tree (CMAKE_HOME_DIRECTORY in CMakeCache.txt) provides convert_hf_to_gguf.py and gguf-py.
MODEL_DIR            a Hugging Face Gemma 4 checkpoint directory (config.json + safetensors), e.g. one written by
                     \`gemma4 synth\`. It is only read: the converter gets a staging directory of symlinks to it.

For each of REPS repetitions it runs, one after the other:
  gemma4 bench -m MODEL_DIR --backend BACKENDS --prefill P --decode N --reps 1 --json
  llama-bench -m MODEL-BF16.gguf -p P -n N -t THREADS -r 1 -o json
  llama-bench -m MODEL-F32.gguf  -p P -n N -t THREADS -r 1 -o json
and prints prefill (P tokens) and decode tok/s (medians) and the ratios gemma4 / llama.cpp (medians of the
per-repetition ratios, min..max beside them) and the best of the repetitions, for every pair of a gemma4 backend
and a GGUF type; "same arithmetic" marks blas / F32 and bf16 / BF16. gemma4 runs the checkpoint in its stored dtype
(bf16 for synth). Every file is read once into the page cache before timing; a warning says when they
do not all fit in RAM (then alternated runs page weights in while timing: use fewer --types).

options:
  --reps N          repetitions (default 3)
  --prefill P       prompt length of the prefill figure (default 512)
  --decode N        tokens decoded (default 64)
  --threads N       llama-bench threads (default: nproc); when given, also OMP_NUM_THREADS for gemma4
  --types LIST      GGUF types to convert and run, comma separated, of bf16,f32 (default bf16,f32)
  --backends LIST   gemma4 backends to run, comma separated, of blas,bf16 (default blas,bf16; bf16 matches
                    llama.cpp's BF16 arithmetic: activations rounded to bf16, vdpbf16ps on AVX512-BF16 CPUs)
  --work-dir DIR    where the staging directory, GGUFs and logs go (default: a new mktemp directory under
                    \${TMPDIR:-/tmp}, removed at the end unless --keep)
  --cache-dir DIR   keep the GGUFs in DIR, named by model path, file sizes and mtimes and the llama.cpp source,
                    and reuse them on later runs (F32 GGUFs are twice the checkpoint's size)
  --tokenizer DIR   directory with tokenizer.json and tokenizer_config.json for the converter (default: MODEL_DIR's
                    own, else assets/models/tiny-e2b). A tokenizer smaller than the config's vocab_size is padded
                    with unused tokens up to it in the staging directory, so that the GGUF keeps the full vocab.
  --keep            keep the work directory (GGUFs, converter and bench logs)
  -h, --help        show this help

environment:
  PYTHON   interpreter for the converter [python3]; needs torch, numpy, transformers (with Gemma 4: >= 5.x),
           safetensors, pyyaml, tqdm (gguf comes from the llama.cpp source tree)
  GEMMA4   the gemma4 binary [ROOT/build/gemma4]

Timings are noisy on a shared machine; llama-bench's decode starts from an empty context, gemma4 bench's after a
16-token prompt. Both load the weights by mmap and warm up before timing.
EOF
}

die() { echo "bench_vs_llamacpp.sh: $*" >&2; exit 1; }
bad_usage() { echo "bench_vs_llamacpp.sh: $*" >&2; echo "run with -h for help" >&2; exit 2; }
posint() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || bad_usage "$1 must be a positive integer, got '$2'"; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPS=3 PREFILL=512 DECODE=64 THREADS="" THREADS_GIVEN="" TYPES="bf16,f32" BACKENDS="blas,bf16" WORK="" CACHE="" TOKDIR="" KEEP=0
positional=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --reps|--prefill|--decode|--threads|--types|--backends|--work-dir|--cache-dir|--tokenizer)
            [[ $# -ge 2 ]] || bad_usage "$1 needs a value"
            case "$1" in
                --reps) posint "$1" "$2"; REPS=$2 ;;
                --prefill) posint "$1" "$2"; PREFILL=$2 ;;
                --decode) posint "$1" "$2"; DECODE=$2 ;;
                --threads) posint "$1" "$2"; THREADS=$2; THREADS_GIVEN=1 ;;
                --types) TYPES=$2 ;;
                --backends) BACKENDS=$2 ;;
                --work-dir) WORK=$2 ;;
                --cache-dir) CACHE=$2 ;;
                --tokenizer) TOKDIR=$2 ;;
            esac
            shift 2 ;;
        --keep) KEEP=1; shift ;;
        --) shift; positional+=("$@"); break ;;
        -*) bad_usage "unknown option '$1'" ;;
        *) positional+=("$1"); shift ;;
    esac
done
[[ ${#positional[@]} -eq 2 ]] || { usage >&2; echo >&2; bad_usage "expected LLAMA_CPP_BUILD_DIR and MODEL_DIR, got ${#positional[@]} argument(s)"; }
LLB=${positional[0]} MODEL=${positional[1]}
IFS=',' read -r -a types <<<"$TYPES"
[[ ${#types[@]} -ge 1 ]] || bad_usage "--types is empty"
for t in "${types[@]}"; do [[ "$t" == bf16 || "$t" == f32 ]] || bad_usage "--types: '$t' is not bf16 or f32"; done
IFS=',' read -r -a gbackends <<<"$BACKENDS"
[[ ${#gbackends[@]} -ge 1 ]] || bad_usage "--backends is empty"
for b in "${gbackends[@]}"; do [[ "$b" == blas || "$b" == bf16 ]] || bad_usage "--backends: '$b' is not blas or bf16"; done
PYTHON=${PYTHON:-python3}
GEMMA4=${GEMMA4:-$ROOT/build/gemma4}
[[ -n "$THREADS" ]] || THREADS=$(nproc)

# ---- llama.cpp build and source tree
[[ -d "$LLB" ]] || die "LLAMA_CPP_BUILD_DIR '$LLB' is not a directory"
LLB=$(cd "$LLB" && pwd)
[[ -f "$LLB/CMakeCache.txt" ]] || die "'$LLB' has no CMakeCache.txt: not a CMake build directory of llama.cpp"
LLSRC=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$LLB/CMakeCache.txt")
[[ -n "$LLSRC" && -d "$LLSRC" ]] || die "CMAKE_HOME_DIRECTORY in $LLB/CMakeCache.txt ('$LLSRC') is not a directory"
LLAMA_BENCH=$LLB/bin/llama-bench
[[ -x "$LLAMA_BENCH" ]] || die "no $LLAMA_BENCH: build it with  cmake --build $LLB -j2 --target llama-bench"
CONVERT=$LLSRC/convert_hf_to_gguf.py
[[ -f "$CONVERT" ]] || die "no convert_hf_to_gguf.py in the llama.cpp source tree $LLSRC"
[[ -d "$LLSRC/gguf-py/gguf" ]] || die "no gguf-py/gguf in the llama.cpp source tree $LLSRC"
if ! grep -qs 'Gemma4ForConditionalGeneration' "$CONVERT" "$LLSRC"/conversion/*.py; then
    die "this llama.cpp ($LLSRC) predates Gemma 4: its converter does not know Gemma4ForConditionalGeneration"
fi
grep -qs '"gemma4"' "$LLSRC/src/llama-arch.cpp" ||
    die "this llama.cpp ($LLSRC) predates Gemma 4: src/llama-arch.cpp has no \"gemma4\" architecture"
LLCOMMIT=$(git -C "$LLSRC" rev-parse --short=9 HEAD 2>/dev/null || echo unknown)

# ---- model and gemma4
[[ -d "$MODEL" ]] || die "MODEL_DIR '$MODEL' is not a directory"
MODEL=$(cd "$MODEL" && pwd)
[[ -f "$MODEL/config.json" ]] || die "MODEL_DIR '$MODEL' has no config.json: not a Hugging Face checkpoint"
compgen -G "$MODEL/*.safetensors" >/dev/null || die "MODEL_DIR '$MODEL' has no *.safetensors"
[[ -x "$GEMMA4" ]] || die "no gemma4 binary at $GEMMA4: build it (cmake --build build --target gemma4) or set GEMMA4"
command -v "$PYTHON" >/dev/null || die "no Python interpreter '$PYTHON' (set PYTHON)"
if [[ -z "$TOKDIR" ]]; then
    if [[ -f "$MODEL/tokenizer.json" ]]; then TOKDIR=$MODEL; else TOKDIR=$ROOT/assets/models/tiny-e2b; fi
fi
[[ -f "$TOKDIR/tokenizer.json" && -f "$TOKDIR/tokenizer_config.json" ]] ||
    die "--tokenizer '$TOKDIR' lacks tokenizer.json or tokenizer_config.json"

# ---- the converter's imports, before anything long
if ! missing=$(cd "$LLSRC" && "$PYTHON" - "$LLSRC" <<'EOF' 2>&1
import importlib, sys
sys.path.insert(0, sys.argv[1] + "/gguf-py")
missing = []
for m in ("numpy", "torch", "transformers", "safetensors", "yaml", "tqdm", "gguf"):
    try:
        importlib.import_module(m)
    except Exception as e:
        missing.append(f"{m} ({type(e).__name__}: {e})")
if missing:
    print("\n".join(missing)); sys.exit(1)
try:
    from transformers import CONFIG_MAPPING
    if "gemma4" not in CONFIG_MAPPING:
        import transformers
        print(f"transformers {transformers.__version__} does not know model_type gemma4 (needs 5.x with Gemma 4)")
        sys.exit(1)
except ImportError:
    pass
EOF
); then
    die "the converter cannot run under $PYTHON ($("$PYTHON" --version 2>&1)); missing or unusable:
$missing
install them (e.g. $PYTHON -m pip install torch numpy transformers safetensors pyyaml tqdm), or set PYTHON"
fi

# ---- work directory
if [[ -n "$WORK" ]]; then
    mkdir -p "$WORK"; WORK=$(cd "$WORK" && pwd)
    REMOVE_WORK=0
else
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench_vs_llamacpp.XXXXXX")
    REMOVE_WORK=$((1 - KEEP))
fi
cleanup() {
    if [[ "$REMOVE_WORK" == 1 ]]; then rm -rf "$WORK"; else echo "bench_vs_llamacpp.sh: kept $WORK" >&2; fi
}
trap cleanup EXIT
mkdir -p "$WORK/logs"
GGUF_DIR=$WORK
if [[ -n "$CACHE" ]]; then mkdir -p "$CACHE"; GGUF_DIR=$(cd "$CACHE" && pwd); fi

# ---- staging directory: symlinks to the checkpoint + a tokenizer the size of the vocab
STAGE=$WORK/stage
rm -rf "$STAGE"; mkdir -p "$STAGE"
for f in "$MODEL"/*; do
    case "$(basename "$f")" in tokenizer.json|tokenizer_config.json) ;; *) ln -s "$f" "$STAGE/" ;; esac
done
cp "$TOKDIR/tokenizer_config.json" "$STAGE/"
TOKNOTE=$("$PYTHON" - "$STAGE/config.json" "$TOKDIR/tokenizer.json" "$STAGE/tokenizer.json" <<'EOF'
import json, sys
cfg = json.load(open(sys.argv[1]))
n = (cfg.get("text_config") or cfg)["vocab_size"]
tok = json.load(open(sys.argv[2], encoding="utf-8"))
vocab = tok["model"]["vocab"]
have = max(list(vocab.values()) + [a["id"] for a in tok.get("added_tokens", [])]) + 1
if have > n:
    sys.exit(f"tokenizer {sys.argv[2]} has {have} ids, more than the config's vocab_size {n}")
for i in range(have, n):
    vocab[f"<unused_pad_{i}>"] = i
json.dump(tok, open(sys.argv[3], "w", encoding="utf-8"), ensure_ascii=False)
print(f"tokenizer {sys.argv[2]}: {have} ids" + (f", padded with {n - have} unused tokens to vocab_size {n}" if have < n else ""))
EOF
)

# ---- conversion (cached by model path, sizes and mtimes and the llama.cpp source)
key=$( { echo "$MODEL"; stat -L -c '%n %s %Y' "$MODEL"/*; echo "$LLSRC $LLCOMMIT"; stat -c '%s %Y' "$CONVERT";
         sha256sum "$STAGE/tokenizer.json" "$STAGE/tokenizer_config.json" | cut -d' ' -f1; } | sha256sum | cut -c1-12)
declare -A gguf
convert_cmds=()
for t in "${types[@]}"; do
    out=$GGUF_DIR/$(basename "$MODEL")-$key-$t.gguf
    gguf[$t]=$out
    cmd="$PYTHON $CONVERT $STAGE --outtype $t --outfile $out"
    convert_cmds+=("$cmd")
    if [[ -f "$out" ]]; then
        echo "[convert] $t: reusing $out" >&2
        continue
    fi
    echo "[convert] $cmd" >&2
    start=$SECONDS
    if ! (cd "$WORK" && "$PYTHON" "$CONVERT" "$STAGE" --outtype "$t" --outfile "$out.part") >"$WORK/logs/convert-$t.log" 2>&1; then
        tail -n 25 "$WORK/logs/convert-$t.log" >&2
        rm -f "$out.part"
        KEEP=1 REMOVE_WORK=0
        die "llama.cpp's converter failed on $MODEL ($t); full log: $WORK/logs/convert-$t.log"
    fi
    mv "$out.part" "$out"
    echo "[convert] $t: $(du -h "$out" | cut -f1) in $((SECONDS - start)) s" >&2
done

# ---- the runs, alternating
# Alternating only shares the noise fairly when every file stays in the page cache between runs.
total_bytes=0
for sz in $(stat -L -c %s "$MODEL"/*.safetensors "${gguf[@]}"); do total_bytes=$((total_bytes + sz)); done
mem_bytes=$(( $(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo) * 1024 ))
RAM_WARNING=""
if (( total_bytes > mem_bytes * 8 / 10 )); then
    RAM_WARNING="warning: the checkpoint and GGUFs take $((total_bytes >> 30)) GiB, RAM is $((mem_bytes >> 30)) GiB: alternated runs page weights back in from disk while timing (MoE decode most of all); fewer --types help"
    echo "bench_vs_llamacpp.sh: $RAM_WARNING" >&2
fi
gemma4_env=()
[[ -n "$THREADS_GIVEN" ]] && gemma4_env=(env OMP_NUM_THREADS="$THREADS")
gemma4_cmd=("${gemma4_env[@]}" "$GEMMA4" bench -m "$MODEL" --backend "$BACKENDS" --prefill "$PREFILL" --decode "$DECODE" --reps 1 --json)
run_logged() {  # name, command...: stdout to logs/NAME.json, stderr to logs/NAME.err, clear error on failure
    local name=$1; shift
    if ! "$@" >"$WORK/logs/$name.json" 2>"$WORK/logs/$name.err"; then
        tail -n 25 "$WORK/logs/$name.err" >&2
        KEEP=1 REMOVE_WORK=0
        die "failed: $* (log: $WORK/logs/$name.err)"
    fi
}
echo "[bench] reading the checkpoint and GGUFs once into the page cache" >&2
for f in "$MODEL"/*.safetensors "${gguf[@]}"; do cat "$f" >/dev/null; done
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for ((rep = 1; rep <= REPS; rep++)); do
    echo "[bench] rep $rep/$REPS: gemma4 $BACKENDS" >&2
    run_logged "gemma4-$rep" "${gemma4_cmd[@]}"
    for t in "${types[@]}"; do
        echo "[bench] rep $rep/$REPS: llama.cpp $t" >&2
        run_logged "llama-$t-$rep" "$LLAMA_BENCH" -m "${gguf[$t]}" -p "$PREFILL" -n "$DECODE" -t "$THREADS" -r 1 -o json
    done
done

# ---- one table
cpu_flags=$(grep -m1 -o -w -E 'avx2|fma|f16c|avx512f|avx512_bf16|amx_bf16' /proc/cpuinfo | sort -u | paste -sd' ' || true)
CPU_DESC="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //') (${cpu_flags:-no AVX2})"
"$PYTHON" - "$WORK/logs" "$REPS" "$PREFILL" "$DECODE" "$TYPES" "$BACKENDS" <<EOF
import json, statistics, sys
logs, reps, P, N, types = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5].split(",")
backends = sys.argv[6].split(",")
med = statistics.median
def load(name):
    with open(f"{logs}/{name}.json") as f:
        return json.load(f)
g = {b: {"pre": [], "dec": []} for b in backends}
llama = {t: {"pre": [], "dec": []} for t in types}
ginfo = linfo = None
for r in range(1, reps + 1):
    j = load(f"gemma4-{r}")
    ginfo = j
    for name in backends:
        b = next(e for e in j["backends"] if e["backend"] == name)
        g[name]["pre"].append(b["prefill_tok_s"][P]); g[name]["dec"].append(b["decode_tok_s"])
    for t in types:
        for e in load(f"llama-{t}-{r}"):
            linfo = e
            if e["n_prompt"] == int(P) and e["n_gen"] == 0: llama[t]["pre"].append(e["avg_ts"])
            if e["n_prompt"] == 0 and e["n_gen"] == N: llama[t]["dec"].append(e["avg_ts"])
def ratio(k, b, t):
    rs = [x / y for x, y in zip(g[b][k], llama[t][k])]
    return f"{med(rs):5.2f}x ({min(rs):.2f}..{max(rs):.2f})"
import glob, struct, collections
by_dtype = collections.Counter()  # bytes of weights per stored dtype, from the safetensors headers
for path in glob.glob("$MODEL/*.safetensors"):
    with open(path, "rb") as f:
        header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    for name, v in header.items():
        if name != "__metadata__": by_dtype[v["dtype"].lower()] += v["data_offsets"][1] - v["data_offsets"][0]
stored = by_dtype.most_common(1)[0][0] if by_dtype else "?"
print(f"model      $MODEL ({ginfo['variant']}, {ginfo['layers']} layers, weights stored as {stored})")
print(f"machine    $CPU_DESC, $(nproc) cores, {ginfo['bandwidth_gb_s']:.1f} GB/s read, sgemm {ginfo['sgemm_gflop_s']:.0f} GFLOP/s (gemma4 bench, last rep)")
print(f"gemma4     $GEMMA4 (checkout at $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)), {ginfo['threads']} threads")
print(f"llama.cpp  $LLB (commit {linfo['build_commit']}, build {linfo['build_number']}), {linfo['n_threads']} threads, "
      f"n_batch {linfo['n_batch']}, n_ubatch {linfo['n_ubatch']}, flash_attn {dict([(-1, 'auto'), (0, 'off'), (1, 'on')]).get(linfo.get('flash_attn'), linfo.get('flash_attn'))}, {linfo['cpu_info']}")
print(f"converter  $TOKNOTE")
print(f"load       before: $LOAD_BEFORE; after: {' '.join(open('/proc/loadavg').read().split()[:3])} (1/5/15-min load averages, $(nproc) cores)")
print(f"medians of {reps} alternated repetitions; ratio = gemma4 / llama.cpp, median of per-repetition ratios (min..max)")
print()
same = {("blas", "f32"), ("bf16", "bf16")}  # pairs computing with the same arithmetic
hdr = f"{'':32} {'prefill(' + P + ') tok/s':>20} {'decode(' + str(N) + ') tok/s':>18}"
print(hdr); print("-" * len(hdr))
for b in backends:
    print(f"{'gemma4 ' + b + ' (' + stored + ')':32} {med(g[b]['pre']):20.1f} {med(g[b]['dec']):18.2f}")
for t in types:
    print(f"{'llama.cpp ' + t.upper():32} {med(llama[t]['pre']):20.1f} {med(llama[t]['dec']):18.2f}")
print()
hdr = f"{'ratio':32} {'prefill':>22}   {'decode':>22}"
print(hdr); print("-" * len(hdr))
for b in backends:
    for t in types:
        name = f"gemma4 {b} / llama.cpp {t.upper()}"
        print(f"{name:32} {ratio('pre', b, t):>22}   {ratio('dec', b, t):>22}" + ("   same arithmetic" if (b, t) in same else ""))
print()
print("samples (tok/s, per repetition):")
for b in backends:
    print(f"  gemma4 {b:5} prefill {[round(x, 1) for x in g[b]['pre']]}  decode {[round(x, 2) for x in g[b]['dec']]}")
for t in types:
    print(f"  llama {t:6} prefill {[round(x, 1) for x in llama[t]['pre']]}  decode {[round(x, 2) for x in llama[t]['dec']]}")
print(f"best of {reps} (contention only ever slows a run down): " +
      "; ".join(f"gemma4 {b} prefill {max(g[b]['pre']):.1f} decode {max(g[b]['dec']):.2f}" for b in backends) + "; " +
      "; ".join(f"llama {t} prefill {max(llama[t]['pre']):.1f} decode {max(llama[t]['dec']):.2f}" for t in types))
print("goals: decode >= 1.0x llama.cpp, prefill >= 0.8x")
if "$RAM_WARNING": print("$RAM_WARNING")
EOF
echo
echo "commands (stage: symlinks to MODEL_DIR's files + tokenizer files, removed at the end):"
for c in "${convert_cmds[@]}"; do echo "  $c"; done
echo "  ${gemma4_cmd[*]}   (x$REPS, alternated)"
for t in "${types[@]}"; do echo "  $LLAMA_BENCH -m ${gguf[$t]} -p $PREFILL -n $DECODE -t $THREADS -r 1 -o json   (x$REPS)"; done
