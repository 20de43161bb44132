//! The wallet file (spec/09): the chain it pays on and its notes, one JSON document written
//! whole, atomically (a temporary file, fsync, rename, fsync of the directory) with 0600
//! permissions, and locked against a second process.
//!
//! A note's `pending` ticket is the journal: it is written (and fsynced) before a request
//! leaves, with everything needed to ask for its settlement or to send the very same request
//! again, and cleared in the same write that stores the settled state. A crash at any point
//! therefore leaves either the old state with the pending ticket or the new state, never a
//! state that could spend a ticket twice.

use crate::ClientError;
use alloy::primitives::Address;
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};
use std::{
    fs::{File, OpenOptions, TryLockError},
    io::Write,
    path::{Path, PathBuf},
};
use zkcredits_primitives::{
    Fr,
    babyjubjub::Scalar,
    field::{fr_from_dec, fr_to_dec, from_dec, to_dec},
    identity::Secret,
    state::StateOpening,
};
use zkcredits_prover::inputs::{SpendableState, StateSignature};
use zkcredits_wire::{envelope::PaymentEnvelope, settlement::Settlement};

/// The wallet format this client writes.
pub const WALLET_VERSION: u32 = 1;

/// Where the wallet pays: the escrow and how to read its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSettings {
    /// The JSON-RPC endpoint the client reads the escrow's events from and sends transactions to.
    pub rpc_url: String,
    /// The chain id.
    pub chain_id: u64,
    /// The escrow.
    pub escrow: Address,
    /// The block the escrow was deployed at (event replay starts there).
    pub deployment_block: u64,
    /// Blocks a block must be buried under before the client builds proofs on it; use the
    /// providers' depth, or their root window will not know the client's root yet.
    pub confirmations: u64,
}

impl ChainSettings {
    /// The settings of the escrow a deployment file describes, read through `rpc_url`.
    pub fn of_deployment(
        rpc_url: String,
        deployment: &zkcredits_chain::Deployment,
        confirmations: u64,
    ) -> Self {
        Self {
            rpc_url,
            chain_id: deployment.chain_id,
            escrow: deployment.escrow,
            deployment_block: deployment.deployment_block,
            confirmations,
        }
    }
}

/// A note's deposit as the escrow recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositRecord {
    /// `D`, in base units.
    pub amount: u128,
    /// `E`, unix seconds.
    pub expiry: u64,
    /// The note's leaf in the identity tree.
    pub leaf_index: u64,
    /// The deposit transaction.
    pub tx: String,
}

/// The signature on a non-genesis state: the settlement that made it and the signer's path in
/// the signer set it was signed under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedState {
    /// The settlement whose `next` is the state.
    pub settlement: Settlement,
    /// The signer root the path leads to.
    pub signer_root: Fr,
    /// The signer's path: siblings bottom up.
    pub signer_siblings: Vec<Fr>,
    /// The signer's path: direction bits.
    pub signer_indices: Vec<bool>,
}

/// A request sent (or about to be) whose settlement is not stored yet.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingTicket {
    /// The provider's base URL.
    pub provider: String,
    /// The HTTP method.
    pub method: String,
    /// The request target at the node (`/v1/chat/completions`, `/proxy/v1/embeddings?x=1`).
    pub path_and_query: String,
    /// The body's content type.
    pub content_type: Option<String>,
    /// The body, byte for byte as `x` binds it.
    pub body: Vec<u8>,
    /// The payment envelope sent with it.
    pub envelope: PaymentEnvelope,
    /// The rerandomization `η` of the state it spends: the settled state opens with `ρ + η`.
    pub eta: Scalar,
}

/// A requested exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitRecord {
    /// Who is paid.
    pub recipient: Address,
    /// What is paid.
    pub amount: u128,
    /// Whether a pending ticket was counted as spent (`w = n + 1`).
    pub unsettled: bool,
    /// The `requestExit` transaction; `None` while the exit is journaled but not known to
    /// have landed (a retry proves the same exit again: same recipient, same amount).
    pub tx: Option<String>,
    /// When `finalizeExit` may be called (unix seconds; 0 until the exit landed).
    pub finalizable_at: u64,
    /// The `finalizeExit` transaction, once sent.
    pub finalized_tx: Option<String>,
}

/// One deposit's worth of credit: its secret, its latest state and what is in flight.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// The secret `k` (written to the file; never logged).
    pub secret: Secret,
    /// The deposit, once it landed.
    pub deposit: Option<DepositRecord>,
    /// `(R, n, ρ)` of the latest state.
    pub opening: StateOpening,
    /// Its signature, `None` at genesis.
    pub signed: Option<SignedState>,
    /// The ticket in flight.
    pub pending: Option<PendingTicket>,
    /// The exit, once requested.
    pub exit: Option<ExitRecord>,
}

impl Note {
    /// A fresh note with a random secret and a random genesis blinding.
    pub fn random() -> Self {
        use ark_ff::UniformRand;
        let mut rng = rand::rngs::OsRng;
        let secret = loop {
            if let Ok(secret) = Secret::new(Fr::rand(&mut rng)) {
                break secret;
            }
        };
        Self {
            secret,
            deposit: None,
            opening: StateOpening::genesis(Scalar::rand(&mut rng)),
            signed: None,
            pending: None,
            exit: None,
        }
    }

    /// The identity commitment `ID = Poseidon(k)`.
    pub fn identity(&self) -> Fr {
        self.secret.commitment()
    }

    /// The state as the circuits take it.
    pub fn spendable(&self) -> SpendableState {
        SpendableState {
            opening: self.opening,
            signature: self.signed.as_ref().map(|s| StateSignature {
                key: s.settlement.signer,
                signature: s.settlement.signature,
                signer_siblings: s.signer_siblings.clone(),
                signer_indices: s.signer_indices.clone(),
            }),
        }
    }

    /// What the note has been charged: `n·C_MAX − R`.
    pub fn charged(&self, c_max: u64) -> u128 {
        (u128::from(self.opening.index) * u128::from(c_max)).saturating_sub(self.opening.refunded)
    }
}

/// An open wallet: the file, its lock, and its contents.
#[derive(Debug)]
pub struct Wallet {
    path: PathBuf,
    _lock: File,
    /// Where it pays.
    pub chain: ChainSettings,
    /// Its notes, in creation order (a note's index is its name in the CLI).
    pub notes: Vec<Note>,
}

fn wallet_error(path: &Path, reason: impl std::fmt::Display) -> ClientError {
    ClientError::Wallet { path: path.to_owned(), reason: reason.to_string() }
}

/// `path` with `suffix` appended (`wallet.json` → `wallet.json.lock`): never the wallet itself,
/// whatever its extension.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn lock(path: &Path) -> Result<File, ClientError> {
    let lock_path = sibling(path, ".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| wallet_error(&lock_path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(ClientError::WalletInUse(path.to_owned())),
        Err(TryLockError::Error(e)) => Err(wallet_error(&lock_path, e)),
    }
}

impl Wallet {
    /// Creates a wallet at `path` (refusing to overwrite one) with no notes.
    pub fn create(path: &Path, chain: ChainSettings) -> Result<Self, ClientError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| wallet_error(path, e))?;
        }
        let lock = lock(path)?;
        if path.exists() {
            return Err(wallet_error(
                path,
                "a wallet exists here already; choose another path with --wallet",
            ));
        }
        let wallet = Self { path: path.to_owned(), _lock: lock, chain, notes: Vec::new() };
        wallet.save()?;
        Ok(wallet)
    }

    /// Opens the wallet at `path`, locking it for this process.
    pub fn open(path: &Path) -> Result<Self, ClientError> {
        let lock = lock(path)?;
        let bytes = std::fs::read(path).map_err(|e| {
            wallet_error(path, format!("{e} (create one with `zkcredits wallet new`)"))
        })?;
        let (chain, notes) = decode(&bytes).map_err(|e| wallet_error(path, e))?;
        Ok(Self { path: path.to_owned(), _lock: lock, chain, notes })
    }

    /// The wallet file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's bytes for the current contents.
    pub fn encode(&self) -> Vec<u8> {
        encode(&self.chain, &self.notes)
    }

    /// The file's bytes were the notes `notes`.
    pub fn encode_with(&self, notes: &[Note]) -> Vec<u8> {
        encode(&self.chain, notes)
    }

    /// Writes the wallet atomically (blocking: fsyncs).
    pub fn save(&self) -> Result<(), ClientError> {
        write_atomically(&self.path, &self.encode())
    }
}

/// Replaces `path` with `bytes` so that a crash leaves the old or the new file, whole, with
/// owner-only permissions from the first byte.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
    let temporary = sibling(path, ".tmp");
    let mut options = OpenOptions::new();
    options.create(true).write(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary).map_err(|e| wallet_error(&temporary, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| wallet_error(&temporary, e))?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(|e| wallet_error(path, e))?;
    // The rename is durable only once the directory is: a relative path's is the current one.
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or_else(|| Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| wallet_error(dir, e))?;
    Ok(())
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WalletJson {
    version: u32,
    chain: ChainJson,
    notes: Vec<NoteJson>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ChainJson {
    rpc_url: String,
    chain_id: u64,
    escrow: Address,
    deployment_block: u64,
    confirmations: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NoteJson {
    secret: String,
    deposit: Option<DepositJson>,
    state: StateJson,
    pending: Option<PendingJson>,
    exit: Option<ExitJson>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DepositJson {
    amount: String,
    expiry: u64,
    leaf_index: u64,
    tx: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StateJson {
    refunded: String,
    index: u32,
    blinding: String,
    signed: Option<SignedJson>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignedJson {
    settlement: serde_json::Value,
    signer_root: String,
    signer_siblings: Vec<String>,
    signer_indices: Vec<bool>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PendingJson {
    provider: String,
    method: String,
    path_and_query: String,
    content_type: Option<String>,
    body: String,
    envelope: String,
    eta: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExitJson {
    recipient: Address,
    amount: String,
    unsettled: bool,
    tx: Option<String>,
    finalizable_at: u64,
    finalized_tx: Option<String>,
}

fn encode(chain: &ChainSettings, notes: &[Note]) -> Vec<u8> {
    let json = WalletJson {
        version: WALLET_VERSION,
        chain: ChainJson {
            rpc_url: chain.rpc_url.clone(),
            chain_id: chain.chain_id,
            escrow: chain.escrow,
            deployment_block: chain.deployment_block,
            confirmations: chain.confirmations,
        },
        notes: notes.iter().map(note_json).collect(),
    };
    serde_json::to_vec_pretty(&json).unwrap_or_else(|_| unreachable!("strings and numbers"))
}

fn note_json(note: &Note) -> NoteJson {
    NoteJson {
        secret: fr_to_dec(note.secret.expose()),
        deposit: note.deposit.as_ref().map(|d| DepositJson {
            amount: d.amount.to_string(),
            expiry: d.expiry,
            leaf_index: d.leaf_index,
            tx: d.tx.clone(),
        }),
        state: StateJson {
            refunded: note.opening.refunded.to_string(),
            index: note.opening.index,
            blinding: to_dec(&note.opening.blinding),
            signed: note.signed.as_ref().map(|s| SignedJson {
                settlement: s.settlement.to_json(),
                signer_root: fr_to_dec(&s.signer_root),
                signer_siblings: s.signer_siblings.iter().map(fr_to_dec).collect(),
                signer_indices: s.signer_indices.clone(),
            }),
        },
        pending: note.pending.as_ref().map(|p| PendingJson {
            provider: p.provider.clone(),
            method: p.method.clone(),
            path_and_query: p.path_and_query.clone(),
            content_type: p.content_type.clone(),
            body: STANDARD.encode(&p.body),
            envelope: p.envelope.encode(),
            eta: to_dec(&p.eta),
        }),
        exit: note.exit.as_ref().map(|e| ExitJson {
            recipient: e.recipient,
            amount: e.amount.to_string(),
            unsettled: e.unsettled,
            tx: e.tx.clone(),
            finalizable_at: e.finalizable_at,
            finalized_tx: e.finalized_tx.clone(),
        }),
    }
}

fn decode(bytes: &[u8]) -> Result<(ChainSettings, Vec<Note>), String> {
    let json: WalletJson =
        serde_json::from_slice(bytes).map_err(|e| format!("not a zkcredits wallet: {e}"))?;
    if json.version != WALLET_VERSION {
        return Err(format!(
            "wallet version {} is not supported; this client reads version {WALLET_VERSION}",
            json.version
        ));
    }
    let chain = ChainSettings {
        rpc_url: json.chain.rpc_url,
        chain_id: json.chain.chain_id,
        escrow: json.chain.escrow,
        deployment_block: json.chain.deployment_block,
        confirmations: json.chain.confirmations,
    };
    let notes = json
        .notes
        .into_iter()
        .enumerate()
        .map(|(i, note)| decode_note(note).map_err(|e| format!("note {i}: {e}")))
        .collect::<Result<_, _>>()?;
    Ok((chain, notes))
}

fn field(name: &str, value: &str) -> Result<Fr, String> {
    fr_from_dec(value).map_err(|e| format!("{name}: {e}"))
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
    value.parse().map_err(|_| format!("{name}: expected a decimal integer, found {value:?}"))
}

fn decode_note(note: NoteJson) -> Result<Note, String> {
    // The value is never echoed: it is the note's secret.
    let secret = fr_from_dec(&note.secret)
        .ok()
        .and_then(|k| Secret::new(k).ok())
        .ok_or("secret: not a non-zero canonical decimal field element")?;
    let deposit = note
        .deposit
        .map(|d| -> Result<_, String> {
            Ok(DepositRecord {
                amount: number("deposit.amount", &d.amount)?,
                expiry: d.expiry,
                leaf_index: d.leaf_index,
                tx: d.tx,
            })
        })
        .transpose()?;
    let opening = StateOpening {
        refunded: number("state.refunded", &note.state.refunded)?,
        index: note.state.index,
        blinding: from_dec(&note.state.blinding).map_err(|e| format!("state.blinding: {e}"))?,
    };
    let signed = note
        .state
        .signed
        .map(|s| -> Result<_, String> {
            Ok(SignedState {
                settlement: Settlement::from_json(&s.settlement)
                    .map_err(|e| format!("state.signed.settlement: {e}"))?,
                signer_root: field("state.signed.signerRoot", &s.signer_root)?,
                signer_siblings: s
                    .signer_siblings
                    .iter()
                    .map(|v| field("state.signed.signerSiblings", v))
                    .collect::<Result<_, _>>()?,
                signer_indices: s.signer_indices,
            })
        })
        .transpose()?;
    let pending = note
        .pending
        .map(|p| -> Result<_, String> {
            Ok(PendingTicket {
                envelope: PaymentEnvelope::decode(p.envelope.as_bytes(), usize::MAX)
                    .map_err(|e| format!("pending.envelope: {e}"))?,
                body: STANDARD.decode(&p.body).map_err(|e| format!("pending.body: {e}"))?,
                eta: from_dec(&p.eta).map_err(|e| format!("pending.eta: {e}"))?,
                provider: p.provider,
                method: p.method,
                path_and_query: p.path_and_query,
                content_type: p.content_type,
            })
        })
        .transpose()?;
    let exit = note
        .exit
        .map(|e| -> Result<_, String> {
            Ok(ExitRecord {
                recipient: e.recipient,
                amount: number("exit.amount", &e.amount)?,
                unsettled: e.unsettled,
                tx: e.tx,
                finalizable_at: e.finalizable_at,
                finalized_tx: e.finalized_tx,
            })
        })
        .transpose()?;
    Ok(Note { secret, deposit, opening, signed, pending, exit })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ChainSettings {
        ChainSettings {
            rpc_url: "http://127.0.0.1:8545".into(),
            chain_id: 31_337,
            escrow: Address::repeat_byte(0x11),
            deployment_block: 3,
            confirmations: 0,
        }
    }

    #[test]
    fn a_wallet_round_trips_through_its_file_with_owner_only_permissions() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("wallet.json");
        let mut wallet = Wallet::create(&path, settings()).expect("created");
        let mut note = Note::random();
        note.deposit =
            Some(DepositRecord { amount: 10_000, expiry: 99, leaf_index: 4, tx: "0xab".into() });
        note.opening.index = 3;
        note.opening.refunded = 1_234;
        wallet.notes.push(note.clone());
        wallet.notes.push(Note::random());
        wallet.save().expect("saved");
        drop(wallet);

        let reopened = Wallet::open(&path).expect("opens");
        assert_eq!(reopened.chain, settings());
        assert_eq!(reopened.notes.len(), 2);
        assert_eq!(reopened.notes[0], note);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_second_process_cannot_open_a_wallet_in_use_and_none_is_overwritten() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("wallet.json");
        let wallet = Wallet::create(&path, settings()).expect("created");
        assert!(matches!(Wallet::open(&path), Err(ClientError::WalletInUse(_))));
        drop(wallet);
        assert!(matches!(Wallet::create(&path, settings()), Err(ClientError::Wallet { .. })));
        Wallet::open(&path).expect("free again");
    }

    #[test]
    fn a_damaged_wallet_is_refused_with_what_is_wrong() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("wallet.json");
        std::fs::write(&path, b"{\"version\": 7, \"chain\": {}, \"notes\": []}").expect("write");
        let error = Wallet::open(&path).expect_err("refused").to_string();
        assert!(error.contains("not a zkcredits wallet"), "{error}");
        let mut json: serde_json::Value =
            serde_json::from_slice(&encode(&settings(), &[Note::random()])).expect("json");
        json["notes"][0]["secret"] = "0".into();
        std::fs::write(&path, json.to_string()).expect("write");
        let error = Wallet::open(&path).expect_err("refused").to_string();
        assert!(error.contains("note 0: secret"), "{error}");
    }
}
