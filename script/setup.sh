#!/usr/bin/env bash
# Installs everything zkcredits needs beyond the Rust toolchain, from the package registries only:
# Debian packages when missing, then the pinned npm toolchain (Foundry, solcjs, circom, Solidity
# libraries, circomlibjs and snarkjs). Idempotent: a second run does nothing but print versions.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "setup: $*" >&2
  exit 1
}

for tool in cargo node npm sha256sum; do
  command -v "$tool" >/dev/null || fail "'$tool' is not on PATH; this machine kind ships it, so install it before running setup (see README)"
done

# Debian packages: libclang for bindgen (RocksDB bindings).
missing=()
ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1 || missing+=(libclang-dev)
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  command -v apt-get >/dev/null || fail "apt-get not found; install ${missing[*]} by hand"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -q >/dev/null || fail "apt-get update failed (is the Debian mirror reachable?)"
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q "${missing[@]}" >/dev/null \
    || fail "apt-get install ${missing[*]} failed"
fi

# npm toolchain, pinned by package-lock.json; reinstalled only when the lock file changes.
stamp=node_modules/.zkcredits-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing the npm toolchain (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error || fail "npm ci failed: check that the npm registry is reachable and package-lock.json is committed"
  echo "$want" >"$stamp"
fi

# Python with the pinned openai package, for the end-to-end test of the proxy (tests/sdk), and
# matplotlib, for the linkability plot (script/plot-linkability.py); rebuilt only when a
# requirements file changes.
python_dir="${ZKCREDITS_PYTHON_DIR:-$HOME/.cache/zkcredits/python}"
python_stamp="$python_dir/.zkcredits-requirements.sha256"
python_want=$(cat tests/sdk/requirements.txt script/plot-requirements.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$python_stamp" ] || [ "$(cat "$python_stamp")" != "$python_want" ]; then
  command -v python3 >/dev/null || fail "'python3' is not on PATH; this machine kind ships it"
  echo "setup: installing the Python packages (openai, matplotlib) into $python_dir"
  rm -rf "$python_dir"
  python3 -m venv "$python_dir" || fail "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$python_dir/bin/pip" install --quiet --disable-pip-version-check \
    -r tests/sdk/requirements.txt -r script/plot-requirements.txt \
    || fail "pip install failed: check that PyPI is reachable"
  echo "$python_want" >"$python_stamp"
fi

export PATH="$PWD/node_modules/.bin:$PATH"
for tool in forge anvil cast circom2 snarkjs; do
  command -v "$tool" >/dev/null || fail "'$tool' missing from node_modules/.bin after npm ci; delete node_modules and rerun"
done

echo "setup: toolchain ready"
printf '  %-10s %s\n' \
  rustc "$(rustc --version)" \
  cargo "$(cargo --version)" \
  node "$(node --version)" \
  forge "$(forge --version | head -1)" \
  anvil "$(anvil --version | head -1)" \
  solc "$(script/solc --version | tail -1)" \
  circom "$(circom2 --version 2>&1 | tail -1)" \
  circomlib "$(node -p "require('./node_modules/circomlib/package.json').version")" \
  circomlibjs "$(node -p "require('./node_modules/circomlibjs/package.json').version")" \
  snarkjs "$(node -p "require('./node_modules/snarkjs/package.json').version")" \
  openai "$("$python_dir/bin/python" -c 'import openai; print(openai.__version__)') (python), $(node -p "require('./node_modules/openai/package.json').version") (npm)"
