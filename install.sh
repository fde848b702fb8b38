#!/usr/bin/env bash
# Install openami into the active Python environment in one step.
#
# PyTorch: a torch that is already importable (for example a CUDA build you
# installed yourself) is kept as it is. Otherwise the CPU build is installed:
# torch==2.13.0, which pip finds as a CPU wheel where one is provided locally.
# Elsewhere, point pip at PyTorch's CPU wheel index first (see the README), or
# set OPENAMI_TORCH to the requirement you want (e.g. OPENAMI_TORCH="torch==2.13.0+cpu").
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"

if "$PYTHON" -c "import torch" 2>/dev/null; then
  echo "install.sh: keeping the installed torch $("$PYTHON" -c 'import torch; print(torch.__version__)')"
else
  echo "install.sh: installing the CPU build of PyTorch (${OPENAMI_TORCH:-torch==2.13.0})"
  "$PYTHON" -m pip install --quiet "${OPENAMI_TORCH:-torch==2.13.0}"
fi
"$PYTHON" -m pip install --quiet -e ".[dev]"
echo "install.sh: done; run 'ami demo' or 'ami --help'"
