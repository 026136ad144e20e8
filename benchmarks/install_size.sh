#!/usr/bin/env bash
# The install size of the package and of each extra: for each, a fresh virtual environment with torch==2.13.0
# first (as the README installs it), then the package from SOURCE (a checkout, an sdist or a wheel) with that
# extra; prints the distributions and the MB on disk of site-packages beyond torch's, and the total.
#   bash benchmarks/install_size.sh SOURCE [EXTRA ...]     ("" for the core; default: the core and every extra)
#   bash benchmarks/install_size.sh . "" report flow video ray all tests docs
# The environments are made under ${INSTALL_SIZE_DIR:-/tmp/install_size} and removed after each measurement.
set -euo pipefail
SOURCE=$(readlink -f "${1:?SOURCE: a checkout, an sdist or a wheel}")
shift
extras=("$@")
[ ${#extras[@]} -gt 0 ] || extras=("" report flow video ray all)
DIR=${INSTALL_SIZE_DIR:-/tmp/install_size}
mkdir -p "$DIR"

count_and_size() {  # distributions (pip, setuptools and wheel left out) and MB of site-packages
  local venv=$1
  local n mb
  n=$("$venv/bin/python" -m pip list --format=freeze 2>/dev/null | grep -v -E '^(pip|setuptools|wheel)==' | wc -l)
  mb=$(du -sm "$venv"/lib/python3*/site-packages | cut -f1)
  echo "$n $mb"
}

echo "| install | distributions | MB | beyond torch: distributions | beyond torch: MB |"
echo "|---|---|---|---|---|"
for extra in "${extras[@]}"; do
  venv="$DIR/venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet torch==2.13.0
  read -r n0 mb0 <<<"$(count_and_size "$venv")"
  spec="$SOURCE"
  [ -z "$extra" ] || spec="$SOURCE[$extra]"
  "$venv/bin/python" -m pip install --quiet "$spec"
  read -r n1 mb1 <<<"$(count_and_size "$venv")"
  echo "| ${extra:-core} | $n1 | $mb1 | $((n1 - n0)) | $((mb1 - mb0)) |"
  rm -rf "$venv"
done
