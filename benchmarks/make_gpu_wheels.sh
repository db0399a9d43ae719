#!/usr/bin/env bash
# Builds the wheel folder that benchmarks/gpu_check.sh installs on a GPU machine
# without registry access: VISSL 0.1.6 and the pure-Python packages that VISSL,
# seer_plugins and the tests need and the GPU image lacks, at the versions
# requirements.txt and constraints.txt pin. Run it on a machine that reaches the registry; the GPU
# session then carries the folder (`carry: [".whl"]`). See docs/performance.md.
#
#   benchmarks/make_gpu_wheels.sh                           # .whl/ for Python 3.12
#   benchmarks/make_gpu_wheels.sh --python-version 3.11 --dest /tmp/whl311
#
# The image has torch, torchvision, timm (so PyYAML, huggingface_hub, safetensors),
# numpy, scipy, scikit-learn, matplotlib, tensorboard, tqdm and pillow; nothing
# here is compiled, so one folder serves any platform of that Python version.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON_VERSION=3.12
DEST="$REPO/.whl"
PIP="${PIP:-python3 -m pip}"

while [ $# -gt 0 ]; do
  case "$1" in
    --python-version) PYTHON_VERSION="$2"; shift 2 ;;
    --dest) DEST="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "make_gpu_wheels.sh: unknown argument $1 (valid: --python-version X.Y, --dest DIR)" >&2; exit 2 ;;
  esac
done

# What the GPU image lacks. VISSL's own pins do not install on today's Python
# (see the Makefile), so each package comes with --no-deps at our pin.
PACKAGES=(
  hydra-core omegaconf antlr4-python3-runtime  # VISSL's config system
  fvcore iopath yacs termcolor tabulate portalocker  # VISSL's I/O and utilities
  submitit cloudpickle  # VISSL's launcher (SLURM), imported by ours
  setuptools  # pkg_resources (removed in setuptools 81), imported by VISSL
  pytest iniconfig pluggy pygments packaging  # the GPU tests
)

# `name==version` from our pins (names compared as pip does: case and -/_).
pin() {
  local want
  want="$(echo "$1" | tr 'A-Z_' 'a-z-')"
  while IFS= read -r line; do
    case "$line" in \#*|"") continue ;; esac
    if [ "$(echo "${line%%==*}" | tr 'A-Z_' 'a-z-')" = "$want" ]; then
      echo "$line"
      return 0
    fi
  done < <(cat "$REPO/requirements.txt" "$REPO/requirements-dev.txt" "$REPO/constraints.txt")
  echo "make_gpu_wheels.sh: $1 is not pinned in requirements*.txt or constraints.txt" >&2
  return 1
}

specs=("$(grep -o 'vissl==[0-9.]*' "$REPO/Makefile" | head -1)")
for name in "${PACKAGES[@]}"; do
  specs+=("$(pin "$name")")
done

mkdir -p "$DEST"
rm -f "$DEST"/*.whl "$DEST"/MANIFEST.txt
sdists="$(mktemp -d)"
trap 'rm -rf "$sdists"' EXIT

for spec in "${specs[@]}"; do
  # A wheel for that Python where the registry has one ...
  if $PIP download -q --no-deps --python-version "$PYTHON_VERSION" \
      --only-binary=:all: --dest "$DEST" "$spec" 2>/dev/null; then
    echo "wheel  $spec"
    continue
  fi
  # ... else the source release, built here (all of these are pure Python).
  source_dir="$(mktemp -d "$sdists/XXXX")"
  $PIP download -q --no-deps --no-binary=:all: --dest "$source_dir" "$spec"
  $PIP wheel -q --no-deps --wheel-dir "$DEST" "$source_dir"/*
  echo "built  $spec"
done

# Every wheel must be pure Python (py3-none-any / py2.py3-none-any).
for wheel in "$DEST"/*.whl; do
  case "$(basename "$wheel")" in
    *-none-any.whl) ;;
    *) echo "make_gpu_wheels.sh: $(basename "$wheel") is not pure Python" >&2; exit 1 ;;
  esac
done

{
  echo "# Built by benchmarks/make_gpu_wheels.sh for Python $PYTHON_VERSION on $(date -u +%F)"
  echo "python_version=$PYTHON_VERSION"
  printf '%s\n' "${specs[@]}"
} > "$DEST/MANIFEST.txt"
echo "$(ls "$DEST"/*.whl | wc -l) wheels in $DEST ($(du -sh "$DEST" | cut -f1)) for Python $PYTHON_VERSION"
