"""gemma4nb — what every notebook shares: find the `gemma4` CLI, run it, and read what it writes.

The notebooks drive the command-line tool (so the numbers are the C++ reference's, not a Python re-implementation)
and read its JSON and .npz traces with numpy. Nothing here needs more than Debian's python3-numpy and
python3-matplotlib.

Where things come from:
  GEMMA4_CLI    path of the gemma4 binary (default: build/gemma4 next to this folder)
  GEMMA4_MODEL  a checkpoint directory or bundled name to use instead of the notebook's default tiny model
"""
import json
import os
import subprocess
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSETS = os.path.join(ROOT, "assets")
VARIANTS = ["e2b", "e4b", "26b-a4b", "31b"]


def cli():
    """Path of the gemma4 binary; a clear error when it has not been built."""
    path = os.environ.get("GEMMA4_CLI", os.path.join(ROOT, "build", "gemma4"))
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: build it first (bash tools/setup.sh) or set GEMMA4_CLI")
    return path


def model(default):
    """The model a notebook runs: $GEMMA4_MODEL when set (e.g. a real Hugging Face checkpoint), else `default`."""
    return os.environ.get("GEMMA4_MODEL", default)


def run(*args):
    """Runs `gemma4 ARGS...` and returns its standard output; a failing command raises with its error text."""
    proc = subprocess.run([cli(), *map(str, args)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"gemma4 {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}")
    return proc.stdout


def info(variant=None, model_dir=None, context=None):
    """`gemma4 info --json` of a released variant ('e2b', ...) or a checkpoint, optionally with --context N."""
    args = ["info", "--json"]
    if variant:
        args += ["--variant", variant]
    if model_dir:
        args += ["-m", model_dir]
    if context:
        args += ["--context", context]
    return json.loads(run(*args))


def trace(model_dir, probes, prompt=None, tokens=None, extra=()):
    """Runs one forward pass with `gemma4 trace` and returns {name: numpy array} (probes and meta.* entries)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run.npz")
        args = ["trace", "-m", model_dir, "--probes", probes, "-o", out, *extra]
        if prompt is not None:
            args += ["-p", prompt]
        if tokens is not None:
            args += ["--tokens", ",".join(map(str, tokens))]
        run(*args)
        with np.load(out) as npz:
            return {name: npz[name] for name in npz.files}


def load_npz(path):
    """A trace or golden .npz as {name: numpy array}."""
    with np.load(path) as npz:
        return {name: npz[name] for name in npz.files}


def config(model_dir):
    """config.json of a bundled model or checkpoint directory, as a dict."""
    path = model_dir if os.path.isdir(model_dir) else os.path.join(ASSETS, "models", model_dir)
    with open(os.path.join(path, "config.json")) as f:
        return json.load(f)
