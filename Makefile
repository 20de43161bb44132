# zkcredits developer commands. `make test` is what CI runs (.ci/run) and what the README names.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

# Build caches live outside the checkout so fresh clones build incrementally.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/zkcredits/target
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
export FOUNDRY_OFFLINE := true
export ZKCREDITS_BUILD_DIR ?= $(CURDIR)/build

CARGO ?= cargo

# The `zkcredits` binary the targets below run, built by `cli`. Under `make test` that step builds
# every target of the workspace (the tests' feature set), so the binary and the tests share one
# build of each dependency (`cargo run -p zkcredits-cli` resolved features for the CLI alone and
# compiled about a hundred crates, wasmer and cranelift among them, a second time).
ZKCREDITS := $(CARGO_TARGET_DIR)/debug/zkcredits
CLI_TARGETS ?= --bins
test test-rust: CLI_TARGETS = --all-targets

.PHONY: check-portable cli demo install linkability abi abi-check bench-client bench-gossip bench-load bench-node gas keys test setup circuits circuits-test verifiers verifiers-check fmt fmt-check clippy test-rust test-forge test-js vectors vectors-check

## test: everything CI checks, from a fresh clone
test: setup fmt-check clippy check-portable circuits circuits-test test-rust test-forge test-js vectors-check verifiers-check abi-check
	@echo "make test: all checks passed"

## demo: the whole system on a devnet, narrated: deposits, paid requests with refunds, a double
## spend at two providers' nodes slashed on chain, an exit paid out (evidence in build/demo/)
demo: setup circuits cli keys
	$(CARGO_TARGET_DIR)/debug/zkcredits-demo

## cli: build the workspace's binaries (every target under `make test`)
cli:
	$(CARGO) build --locked --workspace $(CLI_TARGETS)

## install: the `zkcredits` binary into ~/.cargo/bin
install:
	$(CARGO) install --locked --path node/cli

## setup: install the toolchain (Debian packages, pinned npm packages); idempotent
setup:
	script/setup.sh

## circuits: compile the protocol circuits in circuits/main (cached by content hash)
circuits: setup
	script/build-circuits.sh circuits/main $(ZKCREDITS_BUILD_DIR)/circuits/main

## circuits-test: compile the circuit test harnesses (cached by content hash)
circuits-test: setup
	script/build-circuits.sh circuits/test $(ZKCREDITS_BUILD_DIR)/circuits/test

# The development keys are deterministic and INSECURE: anyone can forge proofs under them.
DEV_SEED ?= zkcredits-dev

## verifiers: regenerate keys (build/keys), verifying keys, the manifest, the Solidity verifiers
## and spec/vectors/groth16 from the circuits
verifiers: circuits cli
	$(ZKCREDITS) circuits setup --insecure-dev-seed $(DEV_SEED)

## keys: the INSECURE dev proving keys in build/keys that the node, the tests and the benchmarks
## prove with, and the native witness graphs beside the circuits (rebuilt when a circuit is
## recompiled; the committed artifacts it also derives go to a scratch directory)
DEV_KEYS := $(foreach c,request exit slash batch_insert,$(ZKCREDITS_BUILD_DIR)/keys/$(c).pk.bin $(ZKCREDITS_BUILD_DIR)/circuits/main/$(c).graph)
keys: circuits $(DEV_KEYS)

$(DEV_KEYS) &: $(foreach c,request exit slash batch_insert,$(ZKCREDITS_BUILD_DIR)/circuits/main/$(c).r1cs $(ZKCREDITS_BUILD_DIR)/circuits/main/$(c)_js/$(c).wasm) | cli
	$(ZKCREDITS) circuits setup --insecure-dev-seed $(DEV_SEED) \
		--build-dir $(ZKCREDITS_BUILD_DIR) --keys-dir $(ZKCREDITS_BUILD_DIR)/keys --root $(ZKCREDITS_BUILD_DIR)/dev-setup >/dev/null

## verifiers-check: the committed circuit artifacts equal what the circuits generate
verifiers-check: circuits cli
	$(ZKCREDITS) circuits setup --insecure-dev-seed $(DEV_SEED) --check

## fmt: format Rust and Solidity
fmt:
	$(CARGO) fmt --all
	forge fmt

fmt-check:
	$(CARGO) fmt --all --check
	forge fmt --check

CLIPPY := $(CARGO) clippy --workspace --all-targets --locked -- -D warnings

clippy:
	$(CLIPPY)

## check-portable: the workspace linted with the prover built without its x86-64 code, as aarch64
## and other CPUs build it. The cfg goes to clippy for the workspace's own crates only, so the
## dependencies `make clippy` checked are reused (RUSTFLAGS would rebuild every crate: 5 min cold)
check-portable:
	$(CLIPPY) --cfg zkcredits_portable_only

test-rust: circuits circuits-test keys
	$(CARGO) test --workspace --locked

## test-forge: Foundry tests; fails when a gas snapshot in snapshots/ drifts (the gas tests run
## isolated: each call is its own transaction, so a snapshot is what a user's transaction pays)
test-forge:
	forge test --no-match-path 'contracts/test/gas/*'
	FORGE_SNAPSHOT_CHECK=true forge test --isolate --match-path 'contracts/test/gas/*'

## abi: export the escrow ABI the Rust bindings (node/chain) are generated from
abi:
	forge inspect CreditEscrow abi --json > node/chain/abi/CreditEscrow.json

abi-check:
	@forge inspect CreditEscrow abi --json | diff -q - node/chain/abi/CreditEscrow.json >/dev/null \
		|| { echo "node/chain/abi/CreditEscrow.json differs from the contract: run make abi and commit it"; exit 1; }
	@echo "escrow ABI matches"

## bench-node: requests per second through one node and the latency it adds (real anvil and
## proofs; the proofs are made once and cached in ~/.cache/zkcredits/bench)
bench-node: keys
	$(CARGO) bench --locked -p zkcredits-node --bench throughput

## bench-load: paid throughput and p99 through one node alone and under as much junk (random
## envelopes, proofs that do not verify or decode, oversized bodies, stalled connections)
bench-load: keys
	$(CARGO) bench --locked -p zkcredits-node --bench load

## bench-gossip: five nodes on loopback: detection latency of a ticket spent at two nodes
## (p50/p99 over ZKCREDITS_GOSSIP_TRIALS) and the shares each node absorbs per second
bench-gossip: keys
	$(CARGO) bench --locked -p zkcredits-node --bench gossip

## bench-client: what a paid call adds on the client's side (prove and journal, settlement check
## and store), p50/p99, against a real node on anvil
bench-client: keys
	$(CARGO) bench --locked -p zkcredits-client --bench paid_call

## linkability: how well a provider re-links anonymous calls with the metadata mitigations off
## and on (spec/10): build/linkability/linkability.{md,json,png}; SEED, USERS and DAYS vary it
linkability: setup
	$(CARGO) build --release --locked -p zkcredits-cli
	$(CARGO_TARGET_DIR)/release/zkcredits linkability --seed $(or $(SEED),1) \
	  --users $(or $(USERS),100) --days $(or $(DAYS),3) --out build/linkability
	$${ZKCREDITS_PYTHON_DIR:-$$HOME/.cache/zkcredits/python}/bin/python script/plot-linkability.py \
	  build/linkability/linkability.json

## gas: rewrite the gas snapshots in snapshots/ (commit them with the change that moved them)
gas:
	forge test --isolate --match-path 'contracts/test/gas/*'

## test-js: circomlibjs recomputes every vector
test-js:
	node --test tests/js/

## vectors: regenerate spec/vectors/ (commit the result with the spec change it belongs to)
vectors: cli
	$(ZKCREDITS) test-vectors --write

vectors-check: cli
	$(ZKCREDITS) test-vectors --check
