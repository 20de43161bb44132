//! Typed inputs of the protocol circuits: each maps to circom's named inputs and computes, with
//! `zkcredits-primitives`, the public signals a correct proof must carry.

use crate::ProverError;
use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, PrimeField};
use num_bigint::{BigInt, BigUint};
use zkcredits_primitives::{
    TreeError,
    babyjubjub::{IDENTITY, Point, Scalar},
    constants::{BATCH_INSERT_SIZE, DEPOSIT_BITS, EXPIRY_BITS, TREE_DEPTH},
    eddsa::{PublicKey, Signature},
    field::fr_from_be_bytes_mod_order,
    identity::{Secret, accumulate, amount_expiry, leaf},
    merkle::{CircuitPath, LeanImt},
    rln::{Share, exit_x},
    state::{StateOpening, commit, rerandomize},
};

/// Named circom inputs, arrays flattened.
pub type CircomInputs = Vec<(String, Vec<BigInt>)>;

fn fe(x: &Fr) -> BigInt {
    BigInt::from(BigUint::from(x.into_bigint()))
}

fn scalar(x: &Scalar) -> BigInt {
    BigInt::from(BigUint::from(x.into_bigint()))
}

fn point(p: &Point) -> Vec<BigInt> {
    vec![fe(&p.x), fe(&p.y)]
}

fn bits(b: &[bool]) -> Vec<BigInt> {
    b.iter().map(|&b| BigInt::from(u8::from(b))).collect()
}

fn one(name: &str, v: BigInt) -> (String, Vec<BigInt>) {
    (name.to_owned(), vec![v])
}

fn many(name: &str, v: Vec<BigInt>) -> (String, Vec<BigInt>) {
    (name.to_owned(), v)
}

/// The signature on a non-genesis state and where its key sits in the signer set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSignature {
    /// The signing key.
    pub key: PublicKey,
    /// The signature on `Poseidon(A.x, A.y, scope)`.
    pub signature: Signature,
    /// The key's signer-set path: siblings bottom up.
    pub signer_siblings: Vec<Fr>,
    /// The key's signer-set path: direction bits.
    pub signer_indices: Vec<bool>,
}

/// A state to spend from: its opening and, unless genesis, its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendableState {
    /// `(R, n, ρ)`.
    pub opening: StateOpening,
    /// `None` for genesis.
    pub signature: Option<StateSignature>,
}

impl SpendableState {
    fn circom_inputs(&self, signer_depth: usize) -> CircomInputs {
        let (key, sig, siblings, indices) = match &self.signature {
            Some(s) => (s.key.0, s.signature, s.signer_siblings.clone(), s.signer_indices.clone()),
            // Genesis: the verifier is disabled; feed the identity point so every internal
            // point operation stays well defined.
            None => (
                IDENTITY,
                Signature { r8: IDENTITY, s: Scalar::ZERO },
                vec![Fr::ZERO; signer_depth],
                vec![false; signer_depth],
            ),
        };
        vec![
            one("refunded", BigInt::from(self.opening.refunded)),
            one("index", BigInt::from(self.opening.index)),
            one("blinding", scalar(&self.opening.blinding)),
            one("isGenesis", BigInt::from(u8::from(self.signature.is_none()))),
            many("signerKey", point(&key)),
            many("signatureR8", point(&sig.r8)),
            one("signatureS", scalar(&sig.s)),
            many("signerIndices", bits(&indices)),
            many("signerSiblings", siblings.iter().map(fe).collect()),
        ]
    }
}

/// The public signals of a request proof, in meaning rather than circuit order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestStatement {
    /// Identity-tree root the proof is against.
    pub root: Fr,
    /// Deployment scope.
    pub scope: Fr,
    /// Signer-set root.
    pub signer_root: Fr,
    /// `C_MAX`.
    pub c_max: u64,
    /// Public time, a multiple of the time bucket.
    pub now: u64,
    /// The message point.
    pub x: Fr,
    /// The rerandomized state `A_anon`.
    pub anon: Point,
    /// The ticket's nullifier.
    pub nullifier: Fr,
    /// `y = k + a·x`.
    pub y: Fr,
}

impl RequestStatement {
    /// The public signals in circuit order (spec/03): root, scope, signerRoot, cMax, now, x,
    /// A_anon.x, A_anon.y, nullifier, y..
    pub fn public_signals(&self) -> Vec<Fr> {
        vec![
            self.root,
            self.scope,
            self.signer_root,
            Fr::from(self.c_max),
            Fr::from(self.now),
            self.x,
            self.anon.x,
            self.anon.y,
            self.nullifier,
            self.y,
        ]
    }
}

/// Everything the `request` circuit needs.
#[derive(Debug, Clone)]
pub struct RequestInputs {
    /// The user secret `k`.
    pub secret: Secret,
    /// Deposit `D`.
    pub deposit: u128,
    /// Note expiry `E`.
    pub expiry: u64,
    /// Tree root the proof is against.
    pub root: Fr,
    /// The leaf's path padded to the circuit depth.
    pub path: CircuitPath,
    /// The state spent.
    pub state: SpendableState,
    /// The rerandomization `η`.
    pub eta: Scalar,
    /// Deployment scope.
    pub scope: Fr,
    /// Signer-set root.
    pub signer_root: Fr,
    /// Maximum charge per request.
    pub c_max: u64,
    /// Public time, rounded to the time bucket.
    pub now: u64,
    /// The message point.
    pub x: Fr,
}

impl RequestInputs {
    /// The public signals a proof of these inputs carries, computed with the primitives.
    pub fn statement(&self) -> RequestStatement {
        let share = Share::new(&self.secret, &self.scope, self.state.opening.index, self.x);
        RequestStatement {
            root: self.root,
            scope: self.scope,
            signer_root: self.signer_root,
            c_max: self.c_max,
            now: self.now,
            x: self.x,
            anon: rerandomize(&commit(&self.secret, &self.state.opening), &self.eta),
            nullifier: share.nullifier,
            y: share.y,
        }
    }

    /// The public signals in circuit order.
    pub fn public_signals(&self) -> Vec<Fr> {
        self.statement().public_signals()
    }

    /// The named circom inputs, public ones included.
    pub fn circom_inputs(&self, signer_depth: usize) -> CircomInputs {
        let public = self.public_signals();
        let mut inputs = vec![
            one("root", fe(&public[0])),
            one("scope", fe(&public[1])),
            one("signerRoot", fe(&public[2])),
            one("cMax", fe(&public[3])),
            one("now", fe(&public[4])),
            one("x", fe(&public[5])),
            many("anonCommitment", vec![fe(&public[6]), fe(&public[7])]),
            one("nullifier", fe(&public[8])),
            one("y", fe(&public[9])),
            one("secret", fe(self.secret.expose())),
            one("deposit", BigInt::from(self.deposit)),
            one("expiry", BigInt::from(self.expiry)),
            one("treeDepth", BigInt::from(self.path.depth)),
            many("treeIndices", bits(&self.path.indices)),
            many("treeSiblings", self.path.siblings.iter().map(fe).collect()),
            one("eta", scalar(&self.eta)),
        ];
        inputs.extend(self.state.circom_inputs(signer_depth));
        inputs
    }
}

/// Everything the `exit` circuit needs.
#[derive(Debug, Clone)]
pub struct ExitInputs {
    /// The user secret `k`.
    pub secret: Secret,
    /// Deposit `D`.
    pub deposit: u128,
    /// The latest state.
    pub state: SpendableState,
    /// Whether the last request's settlement never arrived (`p = 1`: ticket `n` is charged at
    /// `C_MAX` and the exit uses ticket `n + 1`).
    pub unsettled: bool,
    /// Who receives the amount.
    pub recipient: [u8; 20],
    /// Deployment scope.
    pub scope: Fr,
    /// A signer root the escrow has had.
    pub signer_root: Fr,
    /// Maximum charge per request.
    pub c_max: u64,
}

impl ExitInputs {
    /// The exit ticket `w = n + p`.
    pub fn ticket(&self) -> u32 {
        self.state.opening.index.saturating_add(u32::from(self.unsettled))
    }

    /// `amount = D + R − w·C_MAX`, or `None` when the state cannot cover its tickets.
    pub fn amount(&self) -> Option<u128> {
        let available = self.deposit.checked_add(self.state.opening.refunded)?;
        available.checked_sub(u128::from(self.ticket()) * u128::from(self.c_max))
    }

    /// The public signals in circuit order: deposit, identity, recipient, amount, nullifier, y,
    /// scope, signerRoot, cMax. `None` when the amount would be negative.
    pub fn public_signals(&self) -> Option<Vec<Fr>> {
        let amount = self.amount()?;
        let share =
            Share::new(&self.secret, &self.scope, self.ticket(), exit_x(&self.recipient, amount));
        Some(vec![
            Fr::from(self.deposit),
            self.secret.commitment(),
            fr_from_be_bytes_mod_order(&self.recipient),
            Fr::from(amount),
            share.nullifier,
            share.y,
            self.scope,
            self.signer_root,
            Fr::from(self.c_max),
        ])
    }

    /// The named circom inputs, or `None` when the amount would be negative.
    pub fn circom_inputs(&self, signer_depth: usize) -> Option<CircomInputs> {
        let names = [
            "deposit",
            "identity",
            "recipient",
            "amount",
            "nullifier",
            "y",
            "scope",
            "signerRoot",
            "cMax",
        ];
        let mut inputs: CircomInputs = names
            .iter()
            .zip(self.public_signals()?)
            .map(|(name, value)| one(name, fe(&value)))
            .collect();
        inputs.push(one("secret", fe(self.secret.expose())));
        inputs.push(one("unsettled", BigInt::from(u8::from(self.unsettled))));
        inputs.extend(self.state.circom_inputs(signer_depth));
        Some(inputs)
    }
}

/// Everything the `slash` circuit needs.
#[derive(Debug, Clone)]
pub struct SlashInputs {
    /// The recovered secret.
    pub secret: Secret,
    /// Who receives the bounty (an address as a field element).
    pub receiver: Fr,
    /// The deployment the slash is for: a proof for one escrow is refused by every other.
    pub scope: Fr,
}

impl SlashInputs {
    /// The public signals: identity, receiver, scope.
    pub fn public_signals(&self) -> Vec<Fr> {
        vec![self.secret.commitment(), self.receiver, self.scope]
    }

    /// The named circom inputs.
    pub fn circom_inputs(&self) -> CircomInputs {
        vec![
            one("secret", fe(self.secret.expose())),
            one("identity", fe(&self.secret.commitment())),
            one("receiver", fe(&self.receiver)),
            one("scope", fe(&self.scope)),
        ]
    }
}

/// A deposit waiting in the escrow's queue, as its `Deposited` event reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedNote {
    /// `ID`.
    pub identity: Fr,
    /// `D`, below `2^96`.
    pub deposit: u128,
    /// `E`, below `2^40`.
    pub expiry: u64,
}

impl QueuedNote {
    /// The tree leaf `Poseidon(ID, D, E)`.
    pub fn leaf(&self) -> Fr {
        leaf(self.identity, self.deposit, self.expiry)
    }

    fn check(&self) -> Result<(), ProverError> {
        if self.deposit >> DEPOSIT_BITS != 0 || self.expiry >> EXPIRY_BITS != 0 {
            return Err(ProverError::Batch(format!(
                "a queued note has D = {} or E = {} beyond the escrow's {DEPOSIT_BITS} and \
                 {EXPIRY_BITS} bits",
                self.deposit, self.expiry
            )));
        }
        Ok(())
    }
}

/// Everything the `batch_insert` circuit needs: the tree and queue as the escrow holds them
/// before the batch, the deposits to append and the condemned leaf to zero afterwards.
#[derive(Debug, Clone)]
pub struct BatchInsertInputs {
    /// The identity tree before the batch; its size is the count of deposits inserted.
    pub tree: LeanImt,
    /// The queue accumulator after the first `tree.size()` deposits.
    pub acc_start: Fr,
    /// The next queued deposits in queue order, at most [`BATCH_INSERT_SIZE`].
    pub notes: Vec<QueuedNote>,
    /// The removal queue's head and its leaf index, when one is due in this batch.
    pub removal: Option<(usize, QueuedNote)>,
}

impl BatchInsertInputs {
    /// The tree after the batch (the notes appended, then the removal's leaf zeroed) and the
    /// accumulator after the notes; an error says why the escrow could not accept the batch.
    pub fn outcome(&self) -> Result<(LeanImt, Fr), ProverError> {
        let (mut tree, acc) = self.appended()?;
        self.remove_condemned(&mut tree)?;
        Ok((tree, acc))
    }

    /// The public signals in circuit order: preRoot, postRoot, start, count, accStart, accEnd,
    /// removedIdentity, removedAmountExpiry (both 0 without a removal).
    pub fn public_signals(&self) -> Result<Vec<Fr>, ProverError> {
        let (tree, acc_end) = self.outcome()?;
        Ok(self.signals(tree.root(), acc_end))
    }

    /// The named circom inputs; an error says why the batch cannot be proven.
    pub fn circom_inputs(&self) -> Result<CircomInputs, ProverError> {
        let (mut tree, acc_end) = self.appended()?;
        // The removal's path in the grown tree: zeroing the leaf keeps its siblings.
        let path = match &self.removal {
            Some((index, _)) => {
                tree.proof(*index).and_then(|p| p.circuit_path(TREE_DEPTH)).map_err(tree_error)?
            }
            None => CircuitPath {
                depth: 0,
                indices: vec![false; TREE_DEPTH],
                siblings: vec![Fr::ZERO; TREE_DEPTH],
            },
        };
        self.remove_condemned(&mut tree)?;
        let names = [
            "preRoot",
            "postRoot",
            "start",
            "count",
            "accStart",
            "accEnd",
            "removedIdentity",
            "removedAmountExpiry",
        ];
        let mut inputs: CircomInputs = names
            .iter()
            .zip(&self.signals(tree.root(), acc_end))
            .map(|(name, value)| one(name, fe(value)))
            .collect();
        // Padding slots hold zeros: they are range-checked and hashed but never appended.
        let padded = |f: &dyn Fn(&QueuedNote) -> BigInt| {
            let mut column: Vec<BigInt> = self.notes.iter().map(f).collect();
            column.resize(BATCH_INSERT_SIZE, BigInt::ZERO);
            column
        };
        inputs.push(many("identities", padded(&|n| fe(&n.identity))));
        inputs.push(many("deposits", padded(&|n| BigInt::from(n.deposit))));
        inputs.push(many("expiries", padded(&|n| BigInt::from(n.expiry))));
        inputs.push(many("frontier", self.tree.frontier(TREE_DEPTH + 1).iter().map(fe).collect()));
        inputs.push(one("removedDepth", BigInt::from(path.depth)));
        inputs.push(many("removedIndices", bits(&path.indices)));
        inputs.push(many("removedSiblings", path.siblings.iter().map(fe).collect()));
        Ok(inputs)
    }

    /// The tree with the notes appended, before the removal, and the accumulator after them.
    fn appended(&self) -> Result<(LeanImt, Fr), ProverError> {
        if self.notes.len() > BATCH_INSERT_SIZE {
            return Err(ProverError::Batch(format!(
                "{} notes exceed the batch size {BATCH_INSERT_SIZE}",
                self.notes.len()
            )));
        }
        if self.tree.size() + self.notes.len() > 1 << TREE_DEPTH {
            return Err(ProverError::Batch(format!(
                "the tree would exceed its 2^{TREE_DEPTH} leaves"
            )));
        }
        let mut tree = self.tree.clone();
        let mut acc = self.acc_start;
        for note in &self.notes {
            note.check()?;
            tree.insert(note.leaf()).map_err(tree_error)?;
            acc = accumulate(acc, note.identity, note.deposit, note.expiry);
        }
        Ok((tree, acc))
    }

    /// Zeroes the condemned note's leaf, which must be at its index.
    fn remove_condemned(&self, tree: &mut LeanImt) -> Result<(), ProverError> {
        let Some((index, note)) = &self.removal else { return Ok(()) };
        note.check()?;
        if tree.leaf(*index).map_err(tree_error)? != note.leaf() {
            return Err(ProverError::Batch(format!("leaf {index} is not the condemned note's")));
        }
        tree.remove(*index).map_err(tree_error)
    }

    /// The public signals for the tree's root and accumulator after the batch.
    fn signals(&self, post_root: Fr, acc_end: Fr) -> Vec<Fr> {
        let (removed, removed_amount_expiry) =
            self.removal.map_or((Fr::ZERO, Fr::ZERO), |(_, n)| {
                (n.identity, amount_expiry(n.deposit, n.expiry))
            });
        vec![
            self.tree.root(),
            post_root,
            Fr::from(self.tree.size() as u64),
            Fr::from(self.notes.len() as u64),
            self.acc_start,
            acc_end,
            removed,
            removed_amount_expiry,
        ]
    }
}

fn tree_error(e: TreeError) -> ProverError {
    ProverError::Batch(e.to_string())
}

/// Replaces one named input (tests and tools that probe a circuit's constraints).
pub fn with_input(mut inputs: CircomInputs, name: &str, values: Vec<BigInt>) -> CircomInputs {
    if let Some(slot) = inputs.iter_mut().find(|(n, _)| n == name) {
        slot.1 = values;
    }
    inputs
}
