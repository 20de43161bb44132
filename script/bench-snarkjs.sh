#!/usr/bin/env bash
# Proves the `request` example with snarkjs (witness + Groth16, `groth16 fullprove`) on this
# machine, to compare with `cargo bench -p zkcredits-prover` (spec/03 reports the ratio).
# Needs `make verifiers` first (it writes build/keys/request.example-input.json). The first run
# makes a local 2^14 powers-of-tau and a zkey (several minutes); later runs reuse them.
#   script/bench-snarkjs.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
sj=node_modules/.bin/snarkjs
work=build/snarkjs-bench
input=build/keys/request.example-input.json
[ -f "$input" ] || { echo "bench-snarkjs: $input missing; run make verifiers" >&2; exit 1; }
mkdir -p "$work"
if [ ! -f "$work/request.zkey" ]; then
  "$sj" powersoftau new bn128 14 "$work/pot0.ptau" >/dev/null
  "$sj" powersoftau contribute "$work/pot0.ptau" "$work/pot1.ptau" --name=bench -e="bench entropy" >/dev/null
  "$sj" powersoftau prepare phase2 "$work/pot1.ptau" "$work/pot.ptau" >/dev/null
  "$sj" groth16 setup build/circuits/main/request.r1cs "$work/pot.ptau" "$work/request.zkey" >/dev/null
fi
for i in $(seq "$runs"); do
  start=$(date +%s%N)
  "$sj" groth16 fullprove "$input" build/circuits/main/request_js/request.wasm "$work/request.zkey" \
    "$work/proof.json" "$work/public.json" >/dev/null
  echo "snarkjs request fullprove run $i: $(( ($(date +%s%N) - start) / 1000000 )) ms"
done
"$sj" zkey export verificationkey "$work/request.zkey" "$work/vk.json" >/dev/null
"$sj" groth16 verify "$work/vk.json" "$work/public.json" "$work/proof.json"
