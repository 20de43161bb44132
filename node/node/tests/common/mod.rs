//! A devnet, a node in front of a small OpenAI-compatible upstream, and a test client that
//! deposits, proves requests with the real request circuit and follows its signed states.
#![allow(dead_code, unreachable_pub)]

pub mod fixed;
pub use zkcredits_node::test_upstream as upstream;

use alloy::primitives::{Address, U256};
use ark_ff::UniformRand;
use std::{
    path::{Path, PathBuf},
    sync::Mutex,
};
use zkcredits_chain::{ExitRequest, devnet::Devnet};
use zkcredits_node::{
    Metrics, NodeConfig, RunningNode,
    batcher::{BatchPass, BatchPolicy, BatchSubmitter, Batcher},
    envelope::{PaymentEnvelope, request_digest},
    keys::write_signer_key,
    settlement::Settlement,
};
use zkcredits_primitives::{
    Fr,
    babyjubjub::Scalar,
    constants::{SIGNER_TREE_DEPTH, TREE_DEPTH},
    eddsa::PrivateKey,
    field::fr_to_dec,
    identity::Secret,
    merkle::{FixedMerkleTree, LeanImt},
    rln::request_x,
    state::StateOpening,
};
use zkcredits_prover::{
    KeyFile, WitnessCircuit,
    inputs::{ExitInputs, RequestInputs, SpendableState, StateSignature},
};

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn build() -> PathBuf {
    std::env::var_os("ZKCREDITS_BUILD_DIR").map_or_else(|| workspace().join("build"), PathBuf::from)
}

/// The provider id every test node uses.
pub const PROVIDER_ID: u64 = 4242;

/// The node's settlement key.
pub fn node_signer() -> PrivateKey {
    PrivateKey::from_bytes([0x51; 32])
}

/// The signer set the devnet starts with: the node's key alone.
pub fn signer_tree() -> FixedMerkleTree {
    FixedMerkleTree::new(SIGNER_TREE_DEPTH, &[node_signer().public_key().signer_leaf()])
        .expect("one key fits")
}

/// A circuit and its dev proving key.
pub struct Prover {
    circuit: Mutex<WitnessCircuit>,
    key: KeyFile,
}

impl Prover {
    pub fn load(name: &str) -> Self {
        let circuit = WitnessCircuit::load(&build().join("circuits/main"), name)
            .unwrap_or_else(|e| panic!("{e} (run `make circuits`)"));
        let key = KeyFile::read_dev(&build().join(format!("keys/{name}.pk.bin")))
            .unwrap_or_else(|e| panic!("{e} (run `make verifiers`)"));
        Self { circuit: Mutex::new(circuit), key }
    }

    pub fn prove(
        &self,
        inputs: Vec<(String, Vec<num_bigint::BigInt>)>,
    ) -> Result<(ark_groth16::Proof<ark_bn254::Bn254>, Vec<Fr>), zkcredits_prover::ProverError>
    {
        let mut circuit = self.circuit.lock().expect("prover lock");
        self.key.prove(&mut circuit, inputs, &mut rand::rngs::OsRng)
    }
}

/// A devnet whose signer root is the node key's, a node with `tweak` applied to its config,
/// and the upstream it fronts.
pub struct Harness {
    pub net: Devnet,
    pub node: RunningNode,
    pub upstream: upstream::TestUpstream,
    pub dir: tempfile::TempDir,
    pub config: NodeConfig,
    pub http: reqwest::Client,
    pub request_prover: Prover,
    /// Inserts deposit batches from [`UPDATER_ACCOUNT`] when the node does not batch itself.
    pub updater: Batcher,
}

/// The dev account whose key the node slashes with, and the one its bounties go to.
pub const SLASHER_ACCOUNT: usize = 1;
pub const PAYOUT_ACCOUNT: usize = 7;
/// The dev account of the tests' own deposit updater.
pub const UPDATER_ACCOUNT: usize = 8;

/// Inserts every queued deposit with [`updater`] passes over `store`'s view, until none waits.
pub async fn insert_all(net: &Devnet, store: &std::sync::Arc<dyn zkcredits_storage::Storage>) {
    let updater = updater(net, std::sync::Arc::clone(store));
    for _ in 0..1_000 {
        match updater.pass().await.expect("batch pass") {
            BatchPass::Idle => return,
            BatchPass::Inserted { .. } | BatchPass::Stale => {}
            _ => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    panic!("the deposits were never inserted");
}

/// A batcher outside the node, as any account may run one: it inserts every deposit at once.
pub fn updater(net: &Devnet, store: std::sync::Arc<dyn zkcredits_storage::Storage>) -> Batcher {
    updater_with_fee_ceiling(net, store, 500_000_000_000)
}

/// [`updater`] offering at most `max_fee_per_gas` wei.
pub fn updater_with_fee_ceiling(
    net: &Devnet,
    store: std::sync::Arc<dyn zkcredits_storage::Storage>,
    max_fee_per_gas: u128,
) -> Batcher {
    let Prover { circuit, key } = Prover::load("batch_insert");
    let wallet = net.private_key_hex(UPDATER_ACCOUNT).parse().expect("dev key");
    Batcher::new(
        store,
        net.anvil.endpoint(),
        net.deployment.escrow,
        BatchSubmitter { wallet, circuit, key },
        BatchPolicy {
            min_batch: 1,
            max_delay: std::time::Duration::ZERO,
            max_lag: 1_000,
            max_fee_per_gas,
        },
        std::sync::Arc::new(Metrics::default()),
        std::sync::Arc::default(),
    )
}

pub fn node_config(net: &Devnet, dir: &Path, upstream: &str) -> NodeConfig {
    let key_file = dir.join("signer.json");
    if !key_file.exists() {
        write_signer_key(&key_file, &node_signer()).expect("key file");
    }
    let wallet = dir.join("wallet.hex");
    std::fs::write(&wallet, net.private_key_hex(SLASHER_ACCOUNT)).expect("wallet file");
    let mut config = NodeConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: dir.join("data"),
        provider_id: PROVIDER_ID.to_string(),
        ..NodeConfig::default()
    };
    config.chain.rpc_url = net.anvil.endpoint();
    config.chain.deployment = net.deployment_file.clone();
    config.chain.confirmations = 0;
    config.chain.poll_interval_ms = 200;
    config.chain.wallet_key_file = wallet;
    config.chain.payout_address = net.anvil.addresses()[PAYOUT_ACCOUNT].to_string();
    config.signer.key_file = key_file;
    config.circuits = zkcredits_node::config::CircuitsConfig::in_checkout(&workspace(), &build());
    config.upstream.url = upstream.to_owned();
    config
}

pub fn devnet() -> Devnet {
    Devnet::start(&workspace(), &[("ZKCREDITS_SIGNER_ROOT", fr_to_dec(&signer_tree().root()))])
        .unwrap_or_else(|e| panic!("{e}"))
}

pub async fn harness(tweak: impl FnOnce(&mut NodeConfig)) -> Harness {
    let net = devnet();
    let upstream = upstream::TestUpstream::start().await.expect("upstream starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = node_config(&net, dir.path(), &upstream.url());
    tweak(&mut config);
    let node = zkcredits_node::start(config.clone()).await.expect("node starts");
    let updater = updater(&net, std::sync::Arc::clone(node.store()));
    Harness {
        net,
        node,
        upstream,
        dir,
        config,
        http: reqwest::Client::new(),
        request_prover: Prover::load("request"),
        updater,
    }
}

impl Harness {
    pub fn c_max(&self) -> u64 {
        self.net.deployment.c_max.parse().expect("decimal")
    }

    pub fn scope(&self) -> Fr {
        zkcredits_primitives::field::fr_from_dec(&self.net.deployment.scope).expect("decimal")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.node.url())
    }

    /// The identity tree as the chain has it (read from the node's store: a real client
    /// replays the escrow's events itself, so the provider never learns its leaf).
    pub fn tree(&self) -> LeanImt {
        LeanImt::from_leaves(&self.node.store().leaves().expect("leaves")).expect("tree")
    }

    /// Waits until every queued deposit is inserted and no condemned leaf waits, and the node
    /// followed: by the node's own batcher when it runs one, else by [`Harness::updater`].
    pub async fn insert_pending(&self) {
        for _ in 0..240 {
            self.node.sync_chain().await.expect("sync");
            let (_, size, queued) = self.net.escrow.tree().await.expect("tree");
            let removals = self.net.escrow.pending_removals().await.expect("removals");
            let followed = self.node.store().leaves().expect("leaves").len() as u64 == size;
            if size == queued && removals == 0 && followed {
                return;
            }
            if self.config.batcher.enabled {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                continue;
            }
            match self.updater.pass().await.expect("batch pass") {
                BatchPass::Inserted { .. } | BatchPass::Stale => {}
                _ => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
            }
        }
        panic!("the deposits were never inserted");
    }

    /// Runs slash passes, batches and chain steps until the node records the slash of
    /// `identity` done (its leaf removed and the removal followed).
    pub async fn until_slash_done(&self, identity: &Fr) -> zkcredits_storage::SlashStatus {
        for _ in 0..120 {
            self.node.submit_slashes().await;
            self.insert_pending().await;
            self.node.submit_slashes().await;
            let status = self.node.store().slash(identity).expect("read").map(|s| s.status);
            if let Some(status @ zkcredits_storage::SlashStatus::Done { .. }) = status {
                return status;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        panic!("the slash of {identity} never completed")
    }

    /// Deposits `amount` for a fresh user `k`, inserts it, and lets the node see it.
    pub async fn deposit(&self, k: u64, amount: u128) -> User {
        let secret = Secret::new(Fr::from(k)).expect("non-zero");
        let event = self
            .net
            .escrow
            .deposit(secret.commitment(), U256::from(amount))
            .await
            .expect("deposit")
            .event;
        self.insert_pending().await;
        User {
            secret,
            deposit: amount,
            expiry: event.expiry.to::<u64>(),
            leaf_index: event.leafIndex.to::<usize>(),
            state: SpendableState {
                opening: StateOpening::genesis(Scalar::from(k)),
                signature: None,
            },
            signer_root: signer_tree().root(),
        }
    }

    /// Sends a paid request.
    pub async fn send(
        &self,
        path: &str,
        body: &[u8],
        envelope: Option<&PaymentEnvelope>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(envelope) = envelope {
            request = request.header("zkcredits-payment", envelope.encode());
        }
        request.send().await.expect("node answers")
    }
}

/// The current time bucket.
pub fn now_bucket() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    now - now % 3600
}

/// A depositor with its current state.
#[derive(Debug, Clone)]
pub struct User {
    pub secret: Secret,
    pub deposit: u128,
    pub expiry: u64,
    pub leaf_index: usize,
    pub state: SpendableState,
    /// The signer root the state is signed under (any root for genesis).
    pub signer_root: Fr,
}

/// A request ready to send, with what the client keeps to check and apply its settlement.
pub struct Paid {
    pub envelope: PaymentEnvelope,
    pub eta: Scalar,
}

impl User {
    /// The inputs of a request for `method path body` with the current state.
    pub fn inputs(&self, h: &Harness, path: &str, body: &[u8], now: u64) -> (RequestInputs, Fr) {
        self.inputs_in(h, &h.tree(), path, body, now)
    }

    /// [`User::inputs`] against `tree`, the identity tree read once for many users.
    pub fn inputs_in(
        &self,
        h: &Harness,
        tree: &LeanImt,
        path: &str,
        body: &[u8],
        now: u64,
    ) -> (RequestInputs, Fr) {
        let path_proof = tree.proof(self.leaf_index).expect("in tree");
        let nonce = Fr::rand(&mut rand::rngs::OsRng);
        let x = request_x(&Fr::from(PROVIDER_ID), &request_digest("POST", path, body), &nonce);
        let inputs = RequestInputs {
            secret: self.secret,
            deposit: self.deposit,
            expiry: self.expiry,
            root: tree.root(),
            path: path_proof.circuit_path(TREE_DEPTH).expect("fits"),
            state: self.state.clone(),
            eta: Scalar::rand(&mut rand::rngs::OsRng),
            scope: h.scope(),
            signer_root: self.signer_root,
            c_max: h.c_max(),
            now,
            x,
        };
        (inputs, nonce)
    }

    /// Proves a request for `POST path` with `body`.
    pub fn pay(&self, h: &Harness, path: &str, body: &[u8]) -> Paid {
        let (inputs, nonce) = self.inputs(h, path, body, now_bucket());
        prove_request(h, &inputs, nonce)
    }

    /// Checks a settlement for `paid` and moves to the state it signs.
    pub fn apply(&mut self, h: &Harness, paid: &Paid, settlement: &Settlement) {
        self.apply_under(h, paid, settlement, &signer_tree());
    }

    /// [`User::apply`] when the escrow's signer set is `signers` (the node's key at index 0).
    pub fn apply_under(
        &mut self,
        h: &Harness,
        paid: &Paid,
        settlement: &Settlement,
        signers: &FixedMerkleTree,
    ) {
        let s = &paid.envelope.statement;
        settlement
            .verify(&s.nullifier, &s.anon, &h.scope(), h.c_max())
            .expect("the settlement checks out");
        assert_eq!(settlement.signer, node_signer().public_key());
        let (signer_siblings, signer_indices) = signers.path(0).expect("in set");
        self.signer_root = signers.root();
        self.state = SpendableState {
            opening: self
                .state
                .opening
                .settled(&paid.eta, u128::from(settlement.refund))
                .expect("in range"),
            signature: Some(StateSignature {
                key: settlement.signer,
                signature: settlement.signature,
                signer_siblings,
                signer_indices,
            }),
        };
    }

    /// An exit to `recipient` from the current state, proven, as the escrow takes it.
    pub fn exit(
        &self,
        h: &Harness,
        recipient: Address,
    ) -> (ExitRequest, ark_groth16::Proof<ark_bn254::Bn254>) {
        let exit = ExitInputs {
            secret: self.secret,
            deposit: self.deposit,
            state: self.state.clone(),
            unsettled: false,
            recipient: recipient.0.0,
            scope: h.scope(),
            signer_root: self.signer_root,
            c_max: h.c_max(),
        };
        let (proof, signals) = Prover::load("exit")
            .prove(exit.circom_inputs(SIGNER_TREE_DEPTH).expect("affordable"))
            .expect("exit proves");
        let request = ExitRequest::from_signals(recipient, &signals).expect("exit signals");
        (request, proof)
    }
}

/// Proves `inputs` and wraps the proof in an envelope.
pub fn prove_request(h: &Harness, inputs: &RequestInputs, nonce: Fr) -> Paid {
    prove_with(&h.request_prover, inputs, nonce)
}

/// As [`prove_request`], with a given prover (one per thread).
pub fn prove_with(prover: &Prover, inputs: &RequestInputs, nonce: Fr) -> Paid {
    let (proof, public) =
        prover.prove(inputs.circom_inputs(SIGNER_TREE_DEPTH)).expect("request proves");
    let statement = inputs.statement();
    assert_eq!(public, statement.public_signals(), "the circuit agrees with the primitives");
    Paid { envelope: PaymentEnvelope { proof, statement, nonce }, eta: inputs.eta }
}

/// The settlement in a response's header.
pub fn settlement_of(response: &reqwest::Response) -> Settlement {
    use base64::Engine;
    let header = response.headers().get("zkcredits-settlement").expect("settlement header");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.as_bytes())
        .expect("base64url");
    Settlement::from_bytes(&json).expect("settlement JSON")
}

/// Proves every user's request for `POST path` with its body at time `now`, on two threads
/// (genesis tickets do not depend on settlements, so they can all be made ahead).
pub fn prove_all(
    h: &Harness,
    users: &[User],
    path: &str,
    bodies: &[Vec<u8>],
    now: u64,
) -> Vec<Paid> {
    let tree = &h.tree();
    std::thread::scope(|scope| {
        let parts: Vec<_> = (0..2)
            .map(|part| {
                scope.spawn(move || {
                    let prover = Prover::load("request");
                    (part..users.len())
                        .step_by(2)
                        .map(|i| {
                            let (inputs, nonce) =
                                users[i].inputs_in(h, tree, path, &bodies[i], now);
                            (i, prove_with(&prover, &inputs, nonce))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(usize, Paid)> =
            parts.into_iter().flat_map(|p| p.join().expect("prover thread")).collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, p)| p).collect()
    })
}
