#!/usr/bin/env bash
# Creates or updates the Python environment of the export tests (tests/python/) at .venv/: Debian's
# interpreter with its packages visible (--system-site-packages: python3-onnx, python3-sklearn,
# python3-numpy, python3-torch, installed by tools/setup/install_deps.sh) plus onnxruntime and safetensors
# from PyPI. Quiet and idempotent: pip runs only when a client is missing. VENV_DIR overrides the place.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${VENV_DIR:-.venv}
system_python=/usr/bin/python3

# Every client the tests use. The quick check finds them without importing (torch takes seconds); the full
# check imports them, after an install, so a half-made or broken venv is reported.
quick='import importlib.util as u, importlib.metadata as m, sys
mods = ["onnx", "onnxruntime", "safetensors", "sklearn", "numpy", "torch"]
sys.exit(any(u.find_spec(x) is None for x in mods) or m.version("numpy").split(".")[0] != "1")'
full='import onnx, onnxruntime, safetensors.torch, sklearn, numpy, torch
assert numpy.__version__.split(".")[0] == "1", "numpy " + numpy.__version__ + " (Debian scikit-learn needs numpy<2)"'

if [[ -x $venv/bin/python ]] && "$venv/bin/python" -c "$quick" >/dev/null 2>&1; then
  exit 0
fi
if [[ ! -x $venv/bin/python ]]; then
  "$system_python" -m venv --system-site-packages "$venv"
fi
echo "python_env: installing onnxruntime and safetensors into $venv" >&2
# "numpy<2" in the same command: otherwise pip may pull numpy 2 for onnxruntime, and Debian's
# scikit-learn (built against numpy 1) fails to import. Debian's numpy 1.24 already satisfies it.
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-input "numpy<2" onnxruntime safetensors
if ! err=$("$venv/bin/python" -c "$full" 2>&1); then
  echo "python_env: the export test clients do not import in $venv: $err" >&2
  exit 1
fi
