//! The client: deposits, paid requests and exits over one wallet.
//!
//! A paid request is proven on the note's latest state against the client's own copy of the
//! identity tree, journaled in the wallet, sent, and its settlement checked and stored before
//! the answer is handed back. One note carries one request at a time; a client with several
//! notes carries as many at once.

use crate::{
    ChainView, ClientError, PaymentTerms, PrivacyOptions,
    chain::EscrowParameters,
    privacy::{Connections, Identity},
    wallet::{DepositRecord, ExitRecord, Note, PendingTicket, SignedState, Wallet},
};
use alloy::{
    primitives::{Address, U256},
    signers::local::PrivateKeySigner,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bytes::Bytes;
use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, OnceLock},
};
use zkcredits_chain::ExitRequest;
use zkcredits_primitives::{
    Fr,
    babyjubjub::Scalar,
    constants::{SIGNER_TREE_DEPTH, TREE_DEPTH},
    field::fr_to_dec,
    merkle::LeanImt,
    rln::request_x,
};
use zkcredits_prover::{
    KeyFile, Manifest, ProofCache, WitnessCircuit,
    inputs::{CircomInputs, ExitInputs, RequestInputs},
    load_checked_prover,
};
use zkcredits_wire::{
    codes,
    envelope::{PAYMENT_HEADER, PaymentEnvelope, request_digest},
    settlement::{SETTLEMENT_EVENT, SETTLEMENT_HEADER, Settlement},
};

/// Where the circuits and proving keys are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifacts {
    /// The compiled circuits (`build/circuits/main`).
    pub circuits_dir: PathBuf,
    /// The proving keys, `<circuit>.pk.bin` or `<circuit>.zkey` (`build/keys`).
    pub keys_dir: PathBuf,
    /// The artifact manifest every circuit and key is checked against.
    pub manifest: PathBuf,
}

impl Artifacts {
    /// The layout of a checkout after `make keys`: `build/…` and the committed manifest.
    pub fn in_checkout(root: &Path) -> Self {
        Self {
            circuits_dir: root.join("build/circuits/main"),
            keys_dir: root.join("build/keys"),
            manifest: root.join("circuits/artifacts/manifest.json"),
        }
    }

    fn load(&self, circuit: &str) -> Result<Prover, ClientError> {
        let manifest = Manifest::read(&self.manifest)?;
        let zkey = self.keys_dir.join(format!("{circuit}.zkey"));
        let key =
            if zkey.exists() { zkey } else { self.keys_dir.join(format!("{circuit}.pk.bin")) };
        let (calculator, key) = load_checked_prover(&self.circuits_dir, circuit, &key, &manifest)?;
        Ok(Prover { inner: Arc::new(Mutex::new((calculator, key, ProofCache::new()))) })
    }
}

/// A circuit and its key, loaded once, with what the last proof computed that the next can
/// reuse (a note's next ticket shares its tree path, identity and signer with the last one);
/// proving runs on a blocking thread.
#[derive(Clone)]
struct Prover {
    inner: Arc<Mutex<(WitnessCircuit, KeyFile, ProofCache)>>,
}

impl Prover {
    async fn prove(
        &self,
        inputs: CircomInputs,
    ) -> Result<(ark_groth16::Proof<ark_bn254::Bn254>, Vec<Fr>), ClientError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut guard = inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let (calculator, key, cache) = &mut *guard;
            key.prove_cached(calculator, inputs, &mut rand::rngs::OsRng, cache)
                .map_err(ClientError::from)
        })
        .await
        .map_err(|e| ClientError::Task(e.to_string()))?
    }
}

/// A request to pay for: what goes to the provider's node, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    /// The HTTP method, upper case.
    pub method: String,
    /// The target at the node: `/v1/chat/completions`, or `/proxy/…` with the query.
    pub path_and_query: String,
    /// The body's content type.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl ApiRequest {
    /// A JSON `POST`.
    pub fn post_json(path_and_query: &str, body: Vec<u8>) -> Self {
        Self {
            method: "POST".into(),
            path_and_query: path_and_query.into(),
            content_type: Some("application/json".into()),
            body,
        }
    }
}

/// A paid request's answer, its settlement checked and stored.
#[derive(Debug, Clone)]
pub struct PaidResponse {
    /// The note that paid.
    pub note: usize,
    /// The HTTP status.
    pub status: u16,
    /// The content type of the body.
    pub content_type: Option<String>,
    /// The body (for a streamed answer, the whole event stream).
    pub body: Bytes,
    /// The settlement now stored.
    pub settlement: Settlement,
    /// The payment sent (the proof and its public signals).
    pub payment: PaymentEnvelope,
    /// Where the call's time went.
    pub timings: CallTimings,
}

/// Where a paid call's time went on the client's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallTimings {
    /// Building the witness and the proof, and journaling the ticket (fsynced).
    pub prove: std::time::Duration,
    /// From sending the request to the end of the answer (the node and the upstream).
    pub round_trip: std::time::Duration,
    /// Checking the settlement and storing the new state (fsynced).
    pub settle: std::time::Duration,
}

/// Where a streamed answer goes while it arrives: its head first, then its chunks (without the
/// node's settlement event). The body channel closes only once the settlement is stored, so
/// the answer completes after the new state is safe; a bad or missing settlement ends it with
/// an error.
#[derive(Debug)]
pub struct Relay {
    /// Receives the status and content type when the answer turns out to be a stream.
    pub head: tokio::sync::oneshot::Sender<StreamHead>,
    /// Receives the stream's chunks.
    pub body: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
}

/// The head of a streamed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHead {
    /// The HTTP status.
    pub status: u16,
    /// The content type (`text/event-stream`).
    pub content_type: Option<String>,
}

/// The largest event a streamed answer may hold back while looking for the settlement event
/// (the node relays lines of at most 64 KiB; anything longer is passed on as it comes).
const MAX_HELD_EVENT: usize = 1 << 20;

/// The largest settlement event a stream may carry (a settlement is about 1 KiB).
const MAX_SETTLEMENT_EVENT: usize = 64 << 10;

/// The largest answer read whole (the node sends at most 16 MiB of a plain answer).
const MAX_ANSWER_BYTES: usize = 32 << 20;

/// How long a provider may stay silent before the call gives up (the ticket stays pending).
pub(crate) const SILENCE_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

/// The escrow's status of a deposit whose exit was requested.
const STATUS_EXITING: u8 = 2;

/// The most notes one deposit transaction makes (the escrow's `MAX_DEPOSIT_BATCH`).
pub const MAX_DEPOSIT_BATCH: usize = 16;

/// Calls that may wait for a note at once; more are refused rather than queued without bound.
const MAX_WAITING_CALLS: usize = 1_024;
/// How long a call waits for a batch to insert its note's deposit: nodes batch within their
/// `batcher.max_delay_secs` (5 minutes by default) plus a proof.
const INSERTION_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// What sending a journaled ticket came to.
enum Outcome {
    /// The node settled the ticket (served, replayed, or the upstream failed).
    Settled { status: u16, content_type: Option<String>, body: Bytes, settlement: Box<Settlement> },
    /// The node refused the request before taking the ticket: the ticket is unspent.
    Refused { code: String, status: u16, message: String },
    /// The ticket may be taken but its settlement is not in hand.
    Unsettled(String),
}

/// Refusals that proving the same ticket again on the current chain and clock can cure: the
/// ticket keeps its `x` (and so its share), only the root and `now` change.
fn cured_by_proving_again(code: &str) -> bool {
    [codes::UNKNOWN_ROOT, codes::TIME_OUT_OF_RANGE].contains(&code)
}

/// The wallet, the chain view and the provers, shared by every call.
pub struct Client {
    wallet: tokio::sync::Mutex<Wallet>,
    chain: ChainView,
    artifacts: Artifacts,
    request_prover: OnceLock<Prover>,
    exit_prover: OnceLock<Prover>,
    connections: Connections,
    busy: Mutex<HashSet<usize>>,
    note_freed: tokio::sync::Notify,
    waiting: std::sync::atomic::AtomicUsize,
    terms: tokio::sync::Mutex<HashMap<String, (PaymentTerms, EscrowParameters)>>,
    /// The escrow's `C_MAX`, once read: lets the choice of a note skip exhausted ones.
    c_max: OnceLock<u64>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("artifacts", &self.artifacts).finish_non_exhaustive()
    }
}

/// A note reserved for one call; released when dropped.
struct NoteLease<'a> {
    client: &'a Client,
    index: usize,
}

impl Drop for NoteLease<'_> {
    fn drop(&mut self) {
        self.client
            .busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.index);
        self.client.note_freed.notify_waiters();
    }
}

/// The directory of the wallet's local chain copy.
pub fn chain_dir(wallet: &Path) -> PathBuf {
    let mut name = wallet.as_os_str().to_owned();
    name.push(".chain");
    PathBuf::from(name)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// An HTTP error with its causes ("error sending request" alone says nothing of a refused
/// connection or a proxy that failed).
pub(crate) fn with_causes(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

pub(crate) fn provider_error(url: &str, reason: impl std::fmt::Display) -> ClientError {
    ClientError::Provider { url: url.to_owned(), reason: reason.to_string() }
}

/// Reads an answer whole, refusing one larger than `limit` bytes.
async fn read_limited(response: reqwest::Response, limit: usize) -> Result<Bytes, String> {
    use futures::StreamExt;
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        if body.len() + chunk.len() > limit {
            return Err(format!("the answer exceeds {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.into())
}

/// The settlement a node attached to an answer: the header of a plain answer, the body of a
/// refusal that settles (replayed, upstream failed), or the last event of a stream.
fn attached_settlement(
    header: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Option<Settlement>, String> {
    if let Some(header) = header {
        let json = URL_SAFE_NO_PAD
            .decode(header.as_bytes())
            .map_err(|e| format!("the settlement header is not base64url: {e}"))?;
        return Settlement::from_bytes(&json).map(Some).map_err(|e| e.to_string());
    }
    if content_type.is_some_and(|t| t.starts_with("text/event-stream")) {
        let text = String::from_utf8_lossy(body);
        let marker = format!("event: {SETTLEMENT_EVENT}\n");
        return match text.rfind(&marker) {
            Some(at) => {
                let rest = &text[at + marker.len()..];
                let data = rest
                    .lines()
                    .find_map(|line| line.strip_prefix("data:"))
                    .ok_or("the settlement event has no data line")?;
                Settlement::from_bytes(data.trim().as_bytes()).map(Some).map_err(|e| e.to_string())
            }
            None => Ok(None),
        };
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) if !json["settlement"].is_null() => {
            Settlement::from_json(&json["settlement"]).map(Some).map_err(|e| e.to_string())
        }
        _ => Ok(None),
    }
}

/// Relays an event stream through `relay`, holding back the node's settlement event, and
/// returns the settlement it carried. A caller that stopped reading does not stop the relay:
/// the stream is read to its end for its settlement.
async fn relay_stream(
    response: reqwest::Response,
    status: u16,
    content_type: Option<String>,
    relay: Relay,
) -> Outcome {
    use futures::StreamExt;
    let _ = relay.head.send(StreamHead { status, content_type: content_type.clone() });
    let marker = format!("event: {SETTLEMENT_EVENT}\n");
    let mut out = Some(relay.body);
    let mut held: Vec<u8> = Vec::new();
    let mut settlement_event: Option<Vec<u8>> = None;
    let mut chunks = response.bytes_stream();
    let forward = async |bytes: Vec<u8>, out: &mut Option<tokio::sync::mpsc::Sender<_>>| {
        if let Some(sender) = out
            && sender.send(Ok(Bytes::from(bytes))).await.is_err()
        {
            *out = None;
        }
    };
    // Bytes of `held` already searched for the blank line that ends an event.
    let mut searched: usize = 0;
    loop {
        let chunk = match chunks.next().await {
            Some(Ok(chunk)) => chunk,
            Some(Err(e)) => return Outcome::Unsettled(format!("the stream broke off: {e}")),
            None => break,
        };
        held.extend_from_slice(&chunk);
        // Pass on every complete event but the settlement's; each byte is searched once.
        loop {
            let from = searched.saturating_sub(1);
            let Some(end) = held[from..].windows(2).position(|w| w == b"\n\n").map(|i| i + from)
            else {
                break;
            };
            let event: Vec<u8> = held.drain(..end + 2).collect();
            searched = 0;
            // Blank lines before an event are no part of it.
            let start = event.iter().position(|b| !matches!(b, b'\r' | b'\n')).unwrap_or(0);
            if event[start..].starts_with(marker.as_bytes()) {
                settlement_event = Some(event);
            } else {
                forward(event, &mut out).await;
            }
        }
        searched = held.len();
        if held.starts_with(marker.as_bytes()) {
            if held.len() > MAX_SETTLEMENT_EVENT {
                return Outcome::Unsettled("the stream's settlement event is too large".into());
            }
        } else if held.len() > MAX_HELD_EVENT {
            forward(std::mem::take(&mut held), &mut out).await;
            searched = 0;
        }
    }
    if !held.is_empty() {
        if held.starts_with(marker.as_bytes()) {
            settlement_event = Some(held);
        } else {
            forward(held, &mut out).await;
        }
    }
    let Some(event) = settlement_event else {
        return Outcome::Unsettled("the stream ended without its settlement".into());
    };
    match attached_settlement(None, content_type.as_deref(), &event) {
        Ok(Some(settlement)) => Outcome::Settled {
            status,
            content_type,
            body: Bytes::new(),
            settlement: Box::new(settlement),
        },
        Ok(None) => Outcome::Unsettled("the stream ended without its settlement".into()),
        Err(e) => Outcome::Unsettled(format!("the stream's settlement is malformed: {e}")),
    }
}

impl Client {
    /// Opens the wallet at `wallet` (locking it) and its chain copy.
    pub fn open(wallet: &Path, artifacts: Artifacts) -> Result<Self, ClientError> {
        Self::open_with(wallet, artifacts, PrivacyOptions::default())
    }

    /// [`Client::open`], with metadata mitigations beyond the default (spec/10).
    pub fn open_with(
        wallet: &Path,
        artifacts: Artifacts,
        privacy: PrivacyOptions,
    ) -> Result<Self, ClientError> {
        let connections = Connections::new(privacy)?;
        let wallet = Wallet::open(wallet)?;
        let chain = ChainView::open(&wallet.chain, &chain_dir(wallet.path()))?;
        Ok(Self {
            wallet: tokio::sync::Mutex::new(wallet),
            chain,
            artifacts,
            request_prover: OnceLock::new(),
            exit_prover: OnceLock::new(),
            connections,
            busy: Mutex::new(HashSet::new()),
            note_freed: tokio::sync::Notify::new(),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            terms: tokio::sync::Mutex::new(HashMap::new()),
            c_max: OnceLock::new(),
        })
    }

    /// The chain view.
    pub fn chain(&self) -> &ChainView {
        &self.chain
    }

    /// A copy of the wallet's notes.
    pub async fn notes(&self) -> Vec<Note> {
        self.wallet.lock().await.notes.clone()
    }

    fn request_prover(&self) -> Result<Prover, ClientError> {
        if let Some(prover) = self.request_prover.get() {
            return Ok(prover.clone());
        }
        let prover = self.artifacts.load("request")?;
        Ok(self.request_prover.get_or_init(|| prover).clone())
    }

    fn exit_prover(&self) -> Result<Prover, ClientError> {
        if let Some(prover) = self.exit_prover.get() {
            return Ok(prover.clone());
        }
        let prover = self.artifacts.load("exit")?;
        Ok(self.exit_prover.get_or_init(|| prover).clone())
    }

    /// Loads the request circuit and key now rather than on the first call.
    pub fn preload(&self) -> Result<(), ClientError> {
        self.request_prover().map(drop)
    }

    /// Runs `change` on a copy of the notes, writes the wallet with it (fsynced), and only then
    /// makes it the wallet's state: what the client holds in memory is never ahead of the disk.
    async fn update<T>(&self, change: impl FnOnce(&mut Vec<Note>) -> T) -> Result<T, ClientError> {
        let mut wallet = self.wallet.lock().await;
        let mut notes = wallet.notes.clone();
        let result = change(&mut notes);
        let bytes = wallet.encode_with(&notes);
        let path = wallet.path().to_owned();
        // The wallet lock is held across the write, so writes land in the order made.
        tokio::task::spawn_blocking(move || crate::wallet::write_atomically(&path, &bytes))
            .await
            .map_err(|e| ClientError::Task(e.to_string()))??;
        wallet.notes = notes;
        drop(wallet);
        Ok(result)
    }

    /// Makes `count` notes and deposits `amount` wei into each from `payer` (ETH escrows), up
    /// to [`MAX_DEPOSIT_BATCH`] notes per transaction. Each note's secret is written before its
    /// deposit is sent, so no crash loses a deposit.
    pub async fn deposit(
        &self,
        payer: PrivateKeySigner,
        amount: u128,
        count: usize,
    ) -> Result<Vec<usize>, ClientError> {
        self.deposit_in_batches_of(payer, amount, count, MAX_DEPOSIT_BATCH).await
    }

    /// [`Client::deposit`] with at most `per_transaction` notes per transaction (clamped to
    /// 1..=[`MAX_DEPOSIT_BATCH`]): 1 costs 26 % more gas but does not show chain observers
    /// that the notes belong together.
    pub async fn deposit_in_batches_of(
        &self,
        payer: PrivateKeySigner,
        amount: u128,
        count: usize,
        per_transaction: usize,
    ) -> Result<Vec<usize>, ClientError> {
        let per_transaction = per_transaction.clamp(1, MAX_DEPOSIT_BATCH);
        let escrow = self.chain.escrow_as(payer)?;
        let token = escrow.parameters().await?.token;
        if token != Address::ZERO {
            return Err(ClientError::Note(format!(
                "this escrow takes the token {token}, not ETH; token deposits are not supported by this client yet"
            )));
        }
        let mut made = Vec::with_capacity(count);
        let mut left = count;
        while left > 0 {
            let batch = left.min(per_transaction);
            left -= batch;
            let notes: Vec<Note> = (0..batch).map(|_| Note::random()).collect();
            let identities: Vec<Fr> = notes.iter().map(Note::identity).collect();
            let first = self
                .update(|all| {
                    let first = all.len();
                    all.extend(notes);
                    first
                })
                .await?;
            let (tx, events) = if batch == 1 {
                let submitted = escrow.deposit(identities[0], U256::from(amount)).await?;
                (submitted.tx_hash, vec![submitted.event])
            } else {
                let submitted = escrow.deposit_batch(&identities, U256::from(amount)).await?;
                (submitted.tx_hash, submitted.event)
            };
            let records: Vec<DepositRecord> = events
                .iter()
                .map(|event| DepositRecord {
                    amount: event.amount.to::<u128>(),
                    expiry: event.expiry.to::<u64>(),
                    leaf_index: event.leafIndex.to::<u64>(),
                    tx: tx.to_string(),
                })
                .collect();
            self.update(|all| {
                for (offset, record) in records.into_iter().enumerate() {
                    all[first + offset].deposit = Some(record);
                }
            })
            .await?;
            made.extend(first..first + batch);
        }
        Ok(made)
    }

    /// Fills in the deposits of notes whose deposit landed but was not recorded (a crash
    /// after sending it): the escrow's record names the leaf's index.
    pub async fn refresh_deposits(&self) -> Result<(), ClientError> {
        let missing: Vec<(usize, Fr)> = {
            let wallet = self.wallet.lock().await;
            wallet
                .notes
                .iter()
                .enumerate()
                .filter(|(_, n)| n.deposit.is_none())
                .map(|(i, n)| (i, n.identity()))
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let escrow = self.chain.escrow();
        for (index, identity) in missing {
            let record = escrow.deposit_record(identity).await?;
            if record.status == 0 {
                continue;
            }
            let found = DepositRecord {
                amount: record.amount.to::<u128>(),
                expiry: record.expiry.to::<u64>(),
                leaf_index: u64::from(record.leafIndex),
                tx: "recovered".into(),
            };
            self.update(|notes| notes[index].deposit = Some(found)).await?;
        }
        Ok(())
    }

    /// The payment terms of `provider`, fetched once and checked against the chain.
    pub async fn terms(
        &self,
        provider: &str,
    ) -> Result<(PaymentTerms, EscrowParameters), ClientError> {
        if let Some(terms) = self.terms.lock().await.get(provider) {
            return Ok(terms.clone());
        }
        let url = format!("{provider}/v1/info");
        let http = self.connections.client(Identity::Terms)?;
        let answer =
            http.get(&url).send().await.map_err(|e| provider_error(provider, with_causes(&e)))?;
        let body = read_limited(answer, 1 << 20).await.map_err(|e| provider_error(provider, e))?;
        let info: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| provider_error(provider, format!("GET /v1/info is not JSON: {e}")))?;
        let terms = PaymentTerms::from_json(&info["payment"])?;
        let parameters = self.chain.check_terms(&terms).await?;
        let _ = self.c_max.set(parameters.c_max);
        self.terms.lock().await.insert(provider.to_owned(), (terms.clone(), parameters));
        Ok((terms, parameters))
    }

    /// Reserves note `wanted`, or an idle note that can pay (one without a ticket in flight
    /// first); `None` when every usable note is busy. `exiting` also takes a note whose exit is
    /// journaled but not sent.
    fn try_lease(
        &self,
        notes: &[Note],
        wanted: Option<usize>,
        exiting: bool,
    ) -> Result<Option<NoteLease<'_>>, ClientError> {
        let mut busy = self.busy.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let usable = |i: usize| {
            let note = &notes[i];
            note.deposit.is_some()
                && match &note.exit {
                    None => true,
                    Some(exit) => exiting && exit.tx.is_none(),
                }
        };
        // Skip notes that cannot pay another ticket (out of credit, or expired).
        let now = unix_now();
        let can_pay = |i: usize| {
            let note = &notes[i];
            note.deposit.as_ref().is_some_and(|d| {
                now < d.expiry
                    && self.c_max.get().is_none_or(|c_max| {
                        zkcredits_primitives::state::is_solvent(
                            note.opening.index,
                            *c_max,
                            d.amount,
                            note.opening.refunded,
                        )
                    })
            })
        };
        let index = match wanted {
            Some(i) if i >= notes.len() => {
                return Err(ClientError::Note(format!(
                    "no note {i}: the wallet has {} (see `zkcredits status`)",
                    notes.len()
                )));
            }
            Some(i) if !usable(i) => {
                return Err(ClientError::Note(format!(
                    "note {i} cannot pay: it is not deposited or it exited"
                )));
            }
            Some(i) if busy.contains(&i) => {
                return Err(ClientError::Note(format!("note {i} is carrying another request")));
            }
            Some(i) => i,
            None if !(0..notes.len()).any(|i| usable(i) && can_pay(i)) => {
                return Err(ClientError::Note(
                    "no note can pay (none deposited, or all spent or expired): deposit one (`zkcredits deposit`)".into(),
                ));
            }
            None => {
                let idle = |i: &usize| usable(*i) && can_pay(*i) && !busy.contains(i);
                let free = (0..notes.len()).filter(idle).find(|i| notes[*i].pending.is_none());
                match free.or_else(|| (0..notes.len()).find(idle)) {
                    Some(i) => i,
                    None => return Ok(None),
                }
            }
        };
        busy.insert(index);
        Ok(Some(NoteLease { client: self, index }))
    }

    /// [`Client::try_lease`], waiting (in a bounded queue) while every usable note is busy.
    async fn lease(
        &self,
        wanted: Option<usize>,
        exiting: bool,
    ) -> Result<NoteLease<'_>, ClientError> {
        use std::sync::atomic::Ordering;
        /// Counts a waiting call for as long as it waits, even when the wait is cancelled.
        struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        loop {
            // Registered before looking, so a note freed in between is not missed.
            let freed = self.note_freed.notified();
            let lease = {
                let wallet = self.wallet.lock().await;
                self.try_lease(&wallet.notes, wanted, exiting)?
            };
            if let Some(lease) = lease {
                return Ok(lease);
            }
            if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING_CALLS {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                return Err(ClientError::Note(format!(
                    "{MAX_WAITING_CALLS} calls already wait for a note; deposit more notes for more parallel calls"
                )));
            }
            let _waiting = Waiting(&self.waiting);
            freed.await;
        }
    }

    /// Pays for `request` at `provider` with note `note` (or an idle one, waiting for one when
    /// all are busy): settles the note's pending ticket first, proves, journals, sends, and
    /// stores the settlement before returning the answer.
    pub async fn pay(
        &self,
        provider: &str,
        request: &ApiRequest,
        note: Option<usize>,
    ) -> Result<PaidResponse, ClientError> {
        self.pay_relayed(provider, request, note, None).await
    }

    /// [`Client::pay`], relaying a streamed answer through `relay` as it arrives (the returned
    /// body is then empty). A plain answer, or a refusal, comes back whole as from `pay`.
    ///
    /// A ticket, once proven for a request, is only ever sent for that request: a refusal
    /// leaves it pending in the wallet (a provider that lies about refusing must not get a
    /// second share of it), and the note's next call sends it again, as it was, before its
    /// own. A call for the very request that is pending is that resend.
    pub async fn pay_relayed(
        &self,
        provider: &str,
        request: &ApiRequest,
        note: Option<usize>,
        relay: Option<Relay>,
    ) -> Result<PaidResponse, ClientError> {
        let provider = provider.trim_end_matches('/');
        let request = &self.connections.options().padded(request);
        let lease = self.lease(note, false).await?;
        let pending = self.wallet.lock().await.notes[lease.index].pending.clone();
        if let Some(pending) = pending {
            // Padding aside: `--pad-bytes` may have changed since the ticket was proven.
            let unpadded =
                |body: &[u8]| body.len() - body.iter().rev().take_while(|&&b| b == b' ').count();
            let same = pending.provider == provider
                && pending.method == request.method
                && pending.path_and_query == request.path_and_query
                && pending.body[..unpadded(&pending.body)]
                    == request.body[..unpadded(&request.body)];
            if same {
                return self.drive(lease.index, pending, relay).await;
            }
            self.settle_leased(lease.index).await?;
        }
        let (terms, parameters) = self.terms(provider).await?;
        terms.check_route(&request.method, &request.path_and_query)?;
        let leaf_index = self.wallet.lock().await.notes[lease.index]
            .deposit
            .as_ref()
            .map_or(0, |d| d.leaf_index);
        let tree = self.chain.sync_until_inserted(leaf_index, INSERTION_WAIT).await?;
        // After the settlement lookup, the terms and the chain reads, so neither the provider
        // nor the RPC can time this call against them.
        let delay = self.connections.options().delay(&mut rand::thread_rng());
        // tokio rounds a timer up to the next millisecond: no delay, no timer.
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let started = std::time::Instant::now();
        let pending =
            self.prove(lease.index, provider, request, &terms, &parameters, &tree, None).await?;
        self.update(|notes| notes[lease.index].pending = Some(pending.clone())).await?;
        let mut paid = self.drive(lease.index, pending, relay).await?;
        paid.timings.prove =
            started.elapsed().saturating_sub(paid.timings.round_trip + paid.timings.settle);
        Ok(paid)
    }

    /// Sends note `index`'s journaled ticket `pending` until it is settled or refused: a
    /// refusal for a stale root or time bucket is cured by proving the same ticket (same `x`,
    /// same share) on the current chain and clock, once. The ticket stays pending unless its
    /// settlement is stored.
    async fn drive(
        &self,
        index: usize,
        mut pending: PendingTicket,
        mut relay: Option<Relay>,
    ) -> Result<PaidResponse, ClientError> {
        let (terms, parameters) = self.terms(&pending.provider).await?;
        let mut proved_again = false;
        loop {
            let sent = std::time::Instant::now();
            let body_out = relay.as_ref().map(|r| r.body.clone());
            let outcome = self.send(index, &pending, &mut relay).await;
            let answered = std::time::Instant::now();
            match outcome {
                Outcome::Settled { status, content_type, body, settlement } => {
                    let mut applied = self
                        .apply(index, &pending, (*settlement).clone(), &terms, &parameters)
                        .await;
                    if matches!(applied, Err(ClientError::BadSettlement(_))) {
                        // The provider's signer set may have rotated since its terms were read.
                        self.terms.lock().await.remove(&pending.provider);
                        let (terms, parameters) = self.terms(&pending.provider).await?;
                        applied = self
                            .apply(index, &pending, (*settlement).clone(), &terms, &parameters)
                            .await;
                    }
                    if let (Err(e), Some(out)) = (&applied, body_out) {
                        // A relayed stream must not end as if complete.
                        let _ = out.send(Err(std::io::Error::other(e.to_string()))).await;
                    }
                    applied?;
                    return Ok(PaidResponse {
                        note: index,
                        status,
                        content_type,
                        body,
                        settlement: *settlement,
                        payment: pending.envelope,
                        timings: CallTimings {
                            prove: std::time::Duration::ZERO,
                            round_trip: answered - sent,
                            settle: answered.elapsed(),
                        },
                    });
                }
                Outcome::Refused { code, .. } if cured_by_proving_again(&code) && !proved_again => {
                    proved_again = true;
                    let tree = self.chain.sync().await?;
                    let request = ApiRequest {
                        method: pending.method.clone(),
                        path_and_query: pending.path_and_query.clone(),
                        content_type: pending.content_type.clone(),
                        body: pending.body.clone(),
                    };
                    let binding = (pending.envelope.nonce, pending.eta);
                    pending = self
                        .prove(
                            index,
                            &pending.provider,
                            &request,
                            &terms,
                            &parameters,
                            &tree,
                            Some(binding),
                        )
                        .await?;
                    self.update(|notes| notes[index].pending = Some(pending.clone())).await?;
                }
                Outcome::Refused { code, status, message } => {
                    return Err(ClientError::Refused {
                        code,
                        status,
                        message,
                        payment: Box::new(pending.envelope),
                    });
                }
                Outcome::Unsettled(reason) => {
                    if let Some(out) = body_out {
                        let _ = out.send(Err(std::io::Error::other(reason.clone()))).await;
                    }
                    return Err(ClientError::SettlementPending(reason));
                }
            }
        }
    }

    /// Builds and proves the request's ticket on note `index`'s latest state, against `tree`
    /// and the current time bucket. `binding` is the `(nonce, η)` of a ticket proven before for
    /// this request: proving it again keeps its `x`, its share and its `A_anon`.
    #[allow(clippy::too_many_arguments)]
    async fn prove(
        &self,
        index: usize,
        provider: &str,
        request: &ApiRequest,
        terms: &PaymentTerms,
        parameters: &EscrowParameters,
        tree: &LeanImt,
        binding: Option<(Fr, Scalar)>,
    ) -> Result<PendingTicket, ClientError> {
        let prover = self.request_prover()?;
        use ark_ff::UniformRand;
        let note = self.wallet.lock().await.notes[index].clone();
        let deposit = note
            .deposit
            .as_ref()
            .ok_or_else(|| ClientError::Note(format!("note {index} is not deposited")))?;
        let now = terms.now_bucket(unix_now());
        if now >= deposit.expiry {
            return Err(ClientError::Note(format!(
                "note {index} expired at {}; it can no longer pay (its deposit goes to the treasury)",
                deposit.expiry
            )));
        }
        let leaf_index = usize::try_from(deposit.leaf_index)
            .map_err(|_| ClientError::Note("leaf index".into()))?;
        let path = tree
            .proof(leaf_index)
            .and_then(|p| p.circuit_path(TREE_DEPTH))
            .map_err(|_| {
                ClientError::Note(format!(
                    "note {index}'s leaf {leaf_index} is not in the local tree yet: no batch has inserted it within {} s (any account may send one), or it waits for {} confirmations",
                    INSERTION_WAIT.as_secs(),
                    self.wallet_confirmations().unwrap_or_default()
                ))
            })?;
        let mut rng = rand::rngs::OsRng;
        let (nonce, eta) = binding.unwrap_or_else(|| (Fr::rand(&mut rng), Scalar::rand(&mut rng)));
        let x = request_x(
            &terms.provider_id,
            &request_digest(&request.method, &request.path_and_query, &request.body),
            &nonce,
        );
        let inputs = RequestInputs {
            secret: note.secret,
            deposit: deposit.amount,
            expiry: deposit.expiry,
            root: tree.root(),
            path,
            state: note.spendable(),
            eta,
            scope: parameters.scope,
            signer_root: note.signed.as_ref().map_or(parameters.signer_root, |s| s.signer_root),
            c_max: parameters.c_max,
            now,
            x,
        };
        if !zkcredits_primitives::state::is_solvent(
            inputs.state.opening.index,
            parameters.c_max,
            deposit.amount,
            inputs.state.opening.refunded,
        ) {
            return Err(ClientError::Note(format!(
                "note {index} has no credit left for another request (exit it to take the rest back)"
            )));
        }
        let statement = inputs.statement();
        let (proof, public) = prover.prove(inputs.circom_inputs(SIGNER_TREE_DEPTH)).await?;
        if public != statement.public_signals() {
            return Err(ClientError::Task(
                "the request circuit disagrees with the client's public signals".into(),
            ));
        }
        Ok(PendingTicket {
            provider: provider.to_owned(),
            method: request.method.clone(),
            path_and_query: request.path_and_query.clone(),
            content_type: request.content_type.clone(),
            body: request.body.clone(),
            envelope: PaymentEnvelope { proof, statement, nonce },
            eta: inputs.eta,
        })
    }

    fn wallet_confirmations(&self) -> Option<u64> {
        self.wallet.try_lock().ok().map(|w| w.chain.confirmations)
    }

    /// Sends a journaled ticket's request and reads its answer: a successful event stream is
    /// relayed through `relay` when one is given (and taken), anything else is read whole.
    async fn send(
        &self,
        index: usize,
        pending: &PendingTicket,
        relay: &mut Option<Relay>,
    ) -> Outcome {
        let http = match self.connections.client(Identity::Note(index)) {
            Ok(http) => http,
            Err(e) => return Outcome::Unsettled(e.to_string()),
        };
        let method = match reqwest::Method::from_bytes(pending.method.as_bytes()) {
            Ok(method) => method,
            Err(e) => {
                return Outcome::Refused {
                    code: "bad_method".into(),
                    status: 0,
                    message: e.to_string(),
                };
            }
        };
        let mut request = http
            .request(method, format!("{}{}", pending.provider, pending.path_and_query))
            .header(PAYMENT_HEADER, pending.envelope.encode())
            .body(pending.body.clone());
        if let Some(content_type) = &pending.content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                return Outcome::Unsettled(format!("the request failed: {}", with_causes(&e)));
            }
        };
        let status = response.status().as_u16();
        let header_text = |name: &str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
        };
        let settlement_header = header_text(SETTLEMENT_HEADER);
        let content_type = header_text(reqwest::header::CONTENT_TYPE.as_str());
        let streamed = content_type.as_deref().is_some_and(|t| t.starts_with("text/event-stream"));
        if streamed
            && (200..300).contains(&status)
            && let Some(relay) = relay.take()
        {
            return relay_stream(response, status, content_type, relay).await;
        }
        let body = match read_limited(response, MAX_ANSWER_BYTES).await {
            Ok(body) => body,
            Err(e) => return Outcome::Unsettled(format!("the answer broke off: {e}")),
        };
        match attached_settlement(settlement_header.as_deref(), content_type.as_deref(), &body) {
            Ok(Some(settlement)) => {
                return Outcome::Settled {
                    status,
                    content_type,
                    body,
                    settlement: Box::new(settlement),
                };
            }
            Ok(None) => {}
            Err(e) => {
                return Outcome::Unsettled(format!("the attached settlement is malformed: {e}"));
            }
        }
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        match error["error"]["code"].as_str() {
            Some(code) => Outcome::Refused {
                code: code.to_owned(),
                status,
                message: error["error"]["message"].as_str().unwrap_or_default().to_owned(),
            },
            None => Outcome::Unsettled(format!("HTTP {status} without a settlement")),
        }
    }

    /// Checks `settlement` for `pending` and stores the state it signs, clearing the journal.
    async fn apply(
        &self,
        index: usize,
        pending: &PendingTicket,
        settlement: Settlement,
        terms: &PaymentTerms,
        parameters: &EscrowParameters,
    ) -> Result<(), ClientError> {
        let statement = &pending.envelope.statement;
        settlement
            .verify(&statement.nullifier, &statement.anon, &parameters.scope, parameters.c_max)
            .map_err(|e| ClientError::BadSettlement(e.to_string()))?;
        let position =
            terms.signers.iter().position(|k| *k == settlement.signer).ok_or_else(|| {
                ClientError::BadSettlement("its signer is not in the escrow's signer set".into())
            })?;
        let signers = terms.signer_tree()?;
        let (signer_siblings, signer_indices) =
            signers.path(position).map_err(|e| ClientError::BadSettlement(e.to_string()))?;
        let signed = SignedState {
            settlement,
            signer_root: signers.root(),
            signer_siblings,
            signer_indices,
        };
        self.update(|notes| -> Result<(), ClientError> {
            let note = &mut notes[index];
            if note.pending.as_ref() != Some(pending) {
                return Err(ClientError::BadSettlement("the note moved on meanwhile".into()));
            }
            note.opening = note
                .opening
                .settled(&pending.eta, u128::from(signed.settlement.refund))
                .ok_or_else(|| {
                    ClientError::BadSettlement("the refund overflows the state".into())
                })?;
            note.signed = Some(signed);
            note.pending = None;
            Ok(())
        })
        .await?
    }

    /// Settles note `index`'s pending ticket, if any (see [`Client::pay_relayed`]).
    pub async fn settle_pending(&self, index: usize) -> Result<(), ClientError> {
        let lease = self.lease(Some(index), true).await?;
        self.settle_leased(lease.index).await
    }

    /// Settles the pending ticket of a leased note: asks its provider for the settlement, and
    /// when the provider holds none, sends the very same request again (a ticket is served
    /// once, so a copy that arrived meanwhile is answered with its settlement). Nothing but a
    /// stored settlement clears the ticket.
    async fn settle_leased(&self, index: usize) -> Result<(), ClientError> {
        let Some(pending) =
            self.wallet.lock().await.notes.get(index).and_then(|n| n.pending.clone())
        else {
            return Ok(());
        };
        let (terms, parameters) = self.terms(&pending.provider).await?;
        let nullifier = fr_to_dec(&pending.envelope.statement.nullifier);
        let url = format!("{}/v1/settlements/{nullifier}", pending.provider);
        let http = self.connections.client(Identity::Note(index))?;
        let answer = http.get(&url).send().await.map_err(|e| {
            ClientError::SettlementPending(format!(
                "the provider is unreachable: {}",
                with_causes(&e)
            ))
        })?;
        let status = answer.status().as_u16();
        let body = read_limited(answer, 1 << 20)
            .await
            .map_err(|e| ClientError::SettlementPending(format!("the answer broke off: {e}")))?;
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if status == 200 {
            let settlement = Settlement::from_json(&json)
                .map_err(|e| ClientError::BadSettlement(e.to_string()))?;
            return self.apply(index, &pending, settlement, &terms, &parameters).await;
        }
        if json["error"]["code"].as_str() == Some(codes::IN_PROGRESS) {
            return Err(ClientError::SettlementPending(
                "the provider is still serving it; retry shortly".into(),
            ));
        }
        self.drive(index, pending, None).await.map(drop)
    }

    /// Exits note `index` to `recipient`, sending `requestExit` from `payer`. A pending ticket
    /// that cannot be settled now counts as spent at `C_MAX` (`unsettled`). The exit is
    /// journaled before it is proven: a retry (after a crash, or a receipt that never came)
    /// proves the same exit again (same state, recipient and amount, so the same share), and an
    /// exit the escrow already holds is recorded, not sent twice.
    pub async fn exit(
        &self,
        index: usize,
        payer: PrivateKeySigner,
        recipient: Address,
    ) -> Result<ExitRecord, ClientError> {
        let lease = self.lease(Some(index), true).await?;
        let journaled = self.wallet.lock().await.notes[lease.index].exit.clone();
        let unsettled = match journaled {
            Some(exit) if exit.recipient != recipient => {
                return Err(ClientError::Note(format!(
                    "note {index}'s exit to {} is journaled; retry it with that recipient",
                    exit.recipient
                )));
            }
            Some(exit) => exit.unsettled,
            None => match self.settle_leased(lease.index).await {
                Ok(()) => false,
                // A wallet that cannot be written must not exit on a state it did not store.
                Err(e @ (ClientError::Wallet { .. } | ClientError::Task(_))) => return Err(e),
                // Whatever the provider did, the user can always leave, at most C_MAX poorer.
                Err(_) => true,
            },
        };
        let note = self.wallet.lock().await.notes[lease.index].clone();
        let deposit = note
            .deposit
            .as_ref()
            .ok_or_else(|| ClientError::Note(format!("note {index} is not deposited")))?;
        let parameters = self.chain.parameters().await?;
        let inputs = ExitInputs {
            secret: note.secret,
            deposit: deposit.amount,
            state: note.spendable(),
            unsettled: unsettled || note.pending.is_some(),
            recipient: recipient.0.0,
            scope: parameters.scope,
            signer_root: note.signed.as_ref().map_or(parameters.signer_root, |s| s.signer_root),
            c_max: parameters.c_max,
        };
        let amount = inputs.amount().ok_or_else(|| {
            ClientError::Note(format!("note {index}'s state owes more than its deposit"))
        })?;
        let mut record = ExitRecord {
            recipient,
            amount,
            unsettled: inputs.unsettled,
            tx: None,
            finalizable_at: 0,
            finalized_tx: None,
        };
        self.update(|notes| notes[lease.index].exit = Some(record.clone())).await?;

        let escrow = self.chain.escrow_as(payer)?;
        let on_chain = escrow.deposit_record(note.identity()).await?;
        if on_chain.status == STATUS_EXITING {
            // An earlier attempt landed; its receipt never reached the wallet.
            record.tx = Some("landed earlier (see the escrow's ExitRequested event)".into());
        } else {
            let circom = inputs.circom_inputs(SIGNER_TREE_DEPTH).ok_or_else(|| {
                ClientError::Note(format!("note {index}'s state owes more than its deposit"))
            })?;
            let (proof, signals) = self.exit_prover()?.prove(circom).await?;
            let request = ExitRequest::from_signals(recipient, &signals)?;
            let submitted = escrow.request_exit(&request, &proof).await?;
            record.tx = Some(submitted.tx_hash.to_string());
            record.finalizable_at = submitted.event.finalizableAt.to::<u64>();
        }
        self.update(|notes| {
            let note = &mut notes[lease.index];
            note.exit = Some(record.clone());
            note.pending = None;
        })
        .await?;
        Ok(record)
    }

    /// Finalizes note `index`'s exit once its delay passed, from `payer`'s account.
    pub async fn finalize(
        &self,
        index: usize,
        payer: PrivateKeySigner,
    ) -> Result<String, ClientError> {
        let note = self
            .wallet
            .lock()
            .await
            .notes
            .get(index)
            .cloned()
            .ok_or_else(|| ClientError::Note(format!("no note {index}")))?;
        let Some(exit) = note.exit.as_ref().filter(|e| e.tx.is_some()) else {
            return Err(ClientError::Note(format!(
                "note {index} has no exit to finalize (`zkcredits exit` first)"
            )));
        };
        if let Some(tx) = &exit.finalized_tx {
            return Ok(tx.clone());
        }
        let submitted = self.chain.escrow_as(payer)?.finalize_exit(note.identity()).await?;
        let tx = submitted.tx_hash.to_string();
        self.update(|notes| {
            if let Some(exit) = &mut notes[index].exit {
                exit.finalized_tx = Some(tx.clone());
            }
        })
        .await?;
        Ok(tx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settlement_is_found_in_a_header_a_refusal_body_or_a_stream() {
        use zkcredits_primitives::{babyjubjub::Generators, eddsa::PrivateKey};
        let key = PrivateKey::from_bytes([3; 32]);
        let anon = Generators::get().h.mul_u128(7);
        let settlement = Settlement::sign(&key, Fr::from(9u64), &anon, &Fr::from(1u64), 100, 40);
        let json = settlement.to_json().to_string();

        let header = URL_SAFE_NO_PAD.encode(&json);
        assert_eq!(attached_settlement(Some(&header), None, b"{}"), Ok(Some(settlement.clone())));

        let refusal = serde_json::json!({"error": {"code": "replayed_request"}, "settlement": settlement.to_json()});
        assert_eq!(
            attached_settlement(None, Some("application/json"), refusal.to_string().as_bytes()),
            Ok(Some(settlement.clone()))
        );

        let stream =
            format!("data: {{}}\n\ndata: [DONE]\n\nevent: {SETTLEMENT_EVENT}\ndata: {json}\n\n");
        assert_eq!(
            attached_settlement(None, Some("text/event-stream"), stream.as_bytes()),
            Ok(Some(settlement))
        );
        assert_eq!(
            attached_settlement(None, Some("text/event-stream"), b"data: [DONE]\n\n"),
            Ok(None)
        );
        assert!(attached_settlement(Some("!!"), None, b"").is_err());
    }

    #[test]
    fn only_a_stale_root_or_clock_is_cured_by_proving_again() {
        assert!(cured_by_proving_again(codes::UNKNOWN_ROOT));
        assert!(cured_by_proving_again(codes::TIME_OUT_OF_RANGE));
        for code in
            [codes::OVERLOADED, codes::INVALID_PROOF, codes::DOUBLE_SPEND, codes::IN_PROGRESS]
        {
            assert!(!cured_by_proving_again(code), "{code}");
        }
    }
}
