//! Deterministic example statements for every circuit: what the tests, the benchmarks and the
//! Groth16 vectors in `spec/vectors/groth16/` prove.

use crate::inputs::{
    BatchInsertInputs, CircomInputs, ExitInputs, QueuedNote, RequestInputs, SlashInputs,
    SpendableState, StateSignature,
};
use ark_bn254::Fr;
use ark_ff::AdditiveGroup;
use zkcredits_primitives::{
    babyjubjub::Scalar,
    constants::{SIGNER_TREE_DEPTH, TREE_DEPTH},
    eddsa::PrivateKey,
    identity::{Secret, accumulate, leaf},
    merkle::{FixedMerkleTree, LeanImt},
    rln::{payload_digest, request_x, scope},
    state::{StateOpening, commit, state_message},
};

/// Signer `i` of the example signer set (keys 0 to 2 are in the set).
pub fn signer(i: u8) -> PrivateKey {
    PrivateKey::from_bytes([i + 1; 32])
}

/// A user with a deposit in a 7-leaf tree, spending ticket `index` of a state signed by signer 1
/// (or genesis), with `c_max` per request.
#[derive(Debug, Clone)]
pub struct RequestScenario {
    /// The spender.
    pub secret: Secret,
    /// Deposit `D`.
    pub deposit: u128,
    /// Refunded total `R` of the state.
    pub refunded: u128,
    /// Ticket index `n` of the state.
    pub index: u32,
    /// Maximum charge per request.
    pub c_max: u64,
    /// Whether the state is genesis (unsigned).
    pub genesis: bool,
    /// Who signs the state (a key outside the set when not 0..3).
    pub signed_by: u8,
    /// Whose owner tag the signed state carries.
    pub state_owner: Secret,
}

impl Default for RequestScenario {
    fn default() -> Self {
        let secret = example_secret(0x5eed);
        Self {
            secret,
            deposit: 5_000,
            refunded: 700,
            index: 3,
            c_max: 1_000,
            genesis: false,
            signed_by: 1,
            state_owner: secret,
        }
    }
}

impl RequestScenario {
    /// The circuit inputs of this scenario.
    pub fn inputs(&self) -> RequestInputs {
        let expiry = 2_000_000_000;
        let mut tree = LeanImt::new();
        for i in 1..=5u64 {
            tree.insert(Fr::from(i * 7919)).expect("a non-zero leaf fits");
        }
        let own = tree
            .insert(leaf(self.secret.commitment(), self.deposit, expiry))
            .expect("a non-zero leaf fits");
        tree.insert(Fr::from(424_242u64)).expect("a non-zero leaf fits");
        let path = tree.proof(own).expect("in tree").circuit_path(TREE_DEPTH).expect("fits");

        let signers: Vec<Fr> = (0..3).map(|i| signer(i).public_key().signer_leaf()).collect();
        let signer_tree = FixedMerkleTree::new(SIGNER_TREE_DEPTH, &signers).expect("fits");
        let opening = StateOpening {
            refunded: self.refunded,
            index: self.index,
            blinding: Scalar::from(77u64),
        };
        let signature = (!self.genesis).then(|| {
            let key = signer(self.signed_by);
            let (signer_siblings, signer_indices) = signer_tree.path(1).expect("in set");
            StateSignature {
                key: key.public_key(),
                signature: key.sign(&state_message(
                    &commit(&self.state_owner, &opening),
                    &scope(EXAMPLE_CHAIN_ID, &EXAMPLE_ESCROW),
                )),
                signer_siblings,
                signer_indices,
            }
        });
        let provider = Fr::from(99u64);
        RequestInputs {
            secret: self.secret,
            deposit: self.deposit,
            expiry,
            root: tree.root(),
            path,
            state: SpendableState { opening, signature },
            eta: Scalar::from(123_456_789u64),
            scope: scope(EXAMPLE_CHAIN_ID, &EXAMPLE_ESCROW),
            signer_root: signer_tree.root(),
            c_max: self.c_max,
            now: 1_900_000_000,
            x: request_x(&provider, &payload_digest(b"{\"messages\":[]}"), &Fr::from(5u64)),
        }
    }
}

/// The chain id every example statement's `scope` is bound to (anvil's and Foundry's).
pub const EXAMPLE_CHAIN_ID: u64 = 31337;

/// The escrow address every example statement's `scope` is bound to: the first contract that
/// [`EXAMPLE_DEPLOYER`] creates (the Foundry tests deploy the escrow from it).
pub const EXAMPLE_ESCROW: [u8; 20] = [
    0xd7, 0xc1, 0xb5, 0x4f, 0x90, 0x52, 0xe0, 0x32, 0xed, 0xc3, 0xa8, 0x46, 0xbb, 0x88, 0xaf, 0x4a,
    0x58, 0xf0, 0x91, 0x14,
];

/// The second contract [`EXAMPLE_DEPLOYER`] creates: the token escrow of the Foundry tests, whose
/// own scope the token escrow's example proofs are bound to.
pub const EXAMPLE_TOKEN_ESCROW: [u8; 20] = [
    0xbd, 0x9a, 0xd3, 0x9b, 0xd5, 0xf0, 0xff, 0x24, 0xd7, 0xc2, 0xa0, 0xb4, 0x22, 0x9e, 0xd1, 0x22,
    0x55, 0xa9, 0x88, 0x00,
];

/// `keccak256("zkcredits/example-deployer")[12..]`, the account that deploys the example escrow.
pub const EXAMPLE_DEPLOYER: [u8; 20] = [
    0x8f, 0x81, 0x7c, 0xb6, 0x72, 0x56, 0x5b, 0x49, 0x7f, 0x9e, 0x55, 0x99, 0xbc, 0xf1, 0x71, 0x49,
    0x05, 0x9f, 0xfe, 0xde,
];

/// The recipient of the example exits.
pub const EXAMPLE_RECIPIENT: [u8; 20] = [0xab; 20];

/// The one key of the exit examples' signer set.
pub fn exit_signer() -> PrivateKey {
    PrivateKey::from_bytes([3; 32])
}

/// The root of the exit examples' signer set.
pub fn exit_signer_root() -> Fr {
    exit_signer_tree().root()
}

fn exit_signer_tree() -> FixedMerkleTree {
    FixedMerkleTree::new(SIGNER_TREE_DEPTH, &[exit_signer().public_key().signer_leaf()])
        .expect("one leaf fits")
}

/// User `i` of the escrow examples: its secret and deposit. User 0 is the exit example's user.
pub fn escrow_user(i: u8) -> (Secret, u128) {
    const DEPOSITS: [u128; 3] = [10_000, 8_000, 25_000];
    (example_secret(0xe417 + u64::from(i)), DEPOSITS[usize::from(i) % DEPOSITS.len()])
}

/// An exit of a signed state (R = 1,234, n = 5, C_MAX = 1,000) of escrow user 0 (D = 10,000)
/// from the example escrow; `unsettled` charges ticket 5 and exits with ticket 6.
pub fn exit(unsettled: bool) -> ExitInputs {
    let (secret, deposit) = escrow_user(0);
    exit_of(secret, deposit, unsettled, scope(EXAMPLE_CHAIN_ID, &EXAMPLE_ESCROW))
}

/// The exit of `secret`'s deposit from the signed state R = 1,234, n = 5 (C_MAX = 1,000) of the
/// deployment `scope`.
pub fn exit_of(secret: Secret, deposit: u128, unsettled: bool, scope: Fr) -> ExitInputs {
    let signer = exit_signer();
    let signer_tree = exit_signer_tree();
    let (signer_siblings, signer_indices) = signer_tree.path(0).expect("in set");
    let opening = StateOpening { refunded: 1_234, index: 5, blinding: Scalar::from(8u64) };
    ExitInputs {
        secret,
        deposit,
        state: SpendableState {
            opening,
            signature: Some(StateSignature {
                key: signer.public_key(),
                signature: signer.sign(&state_message(&commit(&secret, &opening), &scope)),
                signer_siblings,
                signer_indices,
            }),
        },
        unsettled,
        recipient: EXAMPLE_RECIPIENT,
        scope,
        signer_root: signer_tree.root(),
        c_max: 1_000,
    }
}

/// A slash of the exit example's identity at the example escrow, paying `receiver`.
pub fn slash(receiver: Fr) -> SlashInputs {
    SlashInputs {
        secret: exit(false).secret,
        receiver,
        scope: scope(EXAMPLE_CHAIN_ID, &EXAMPLE_ESCROW),
    }
}

fn example_secret(k: u64) -> Secret {
    Secret::new(Fr::from(k)).unwrap_or_else(|_| unreachable!("example secrets are non-zero"))
}

/// The example statement of a protocol circuit (`request`, `exit`, `slash` or `batch_insert`): its circom
/// inputs and the public signals `zkcredits-primitives` computes for it. `None` for another name.
pub fn example(circuit: &str) -> Option<(CircomInputs, Vec<Fr>)> {
    match circuit {
        "request" => {
            let inputs = RequestScenario::default().inputs();
            Some((inputs.circom_inputs(SIGNER_TREE_DEPTH), inputs.public_signals()))
        }
        "exit" => {
            let inputs = exit(false);
            Some((inputs.circom_inputs(SIGNER_TREE_DEPTH)?, inputs.public_signals()?))
        }
        "slash" => {
            let inputs = slash(Fr::from(0xabcd_u64));
            Some((inputs.circom_inputs(), inputs.public_signals()))
        }
        "batch_insert" => {
            let inputs = batch_insert(5, 3, Some(1));
            Some((inputs.circom_inputs().ok()?, inputs.public_signals().ok()?))
        }
        _ => None,
    }
}

/// Deposit `i` of the example deposit queue.
pub fn queued_note(i: u64) -> QueuedNote {
    QueuedNote {
        identity: example_secret(0xb000 + i).commitment(),
        deposit: 1_000_000 + u128::from(i),
        expiry: 1_900_000_000 + i,
    }
}

/// A batch of the example queue: `before` deposits already in the tree, the next `count`
/// appended and, with `remove = Some(i)`, deposit `i` zeroed after them.
pub fn batch_insert(before: u64, count: u64, remove: Option<u64>) -> BatchInsertInputs {
    let inserted: Vec<QueuedNote> = (0..before).map(queued_note).collect();
    let leaves: Vec<Fr> = inserted.iter().map(QueuedNote::leaf).collect();
    BatchInsertInputs {
        tree: LeanImt::from_leaves(&leaves)
            .unwrap_or_else(|_| unreachable!("example trees are far from full")),
        acc_start: inserted
            .iter()
            .fold(Fr::ZERO, |acc, n| accumulate(acc, n.identity, n.deposit, n.expiry)),
        notes: (before..before + count).map(queued_note).collect(),
        removal: remove.map(|i| (i as usize, queued_note(i))),
    }
}
