#!/usr/bin/env bash
# Compiles every circom main file in a directory (r1cs, wasm, sym; full simplification, --O2)
# into an output directory.
# A circuit is rebuilt only when the hash of its sources, the templates, circomlib and the
# compiler version changes.
#   script/build-circuits.sh circuits/test build/circuits/test
set -euo pipefail
cd "$(dirname "$0")/.."
src_dir=${1:?usage: build-circuits.sh SOURCE_DIR OUTPUT_DIR}
out_dir=${2:?usage: build-circuits.sh SOURCE_DIR OUTPUT_DIR}
circom=node_modules/.bin/circom2
[ -x "$circom" ] || { echo "build-circuits: $circom missing; run script/setup.sh" >&2; exit 1; }
mkdir -p "$out_dir"

# The compiler that made these artifacts, for the artifact manifest (`zkcredits circuits setup`).
compiler="$("$circom" --version 2>&1 | grep '^circom compiler') --O2"
echo "$compiler" >"$out_dir/compiler.txt"

shared_hash=$( (
  "$circom" --version 2>&1
  echo "--O2"
  cat node_modules/circomlib/package.json
  cat circuits/src/*.circom
) | sha256sum | cut -d' ' -f1)

for main in "$src_dir"/*.circom; do
  name=$(basename "$main" .circom)
  hash=$( (echo "$shared_hash"; cat "$main") | sha256sum | cut -d' ' -f1)
  stamp="$out_dir/$name.sha256"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] && [ -f "$out_dir/$name.r1cs" ]; then
    continue
  fi
  echo "build-circuits: compiling $main"
  if ! log=$("$circom" "$main" --r1cs --wasm --sym --O2 -l node_modules -o "$out_dir" 2>&1); then
    echo "$log" >&2
    echo "build-circuits: $main failed to compile" >&2
    exit 1
  fi
  echo "$hash" >"$stamp"
done
