//! The client: deposits, paid requests and exits over one wallet.
//!
//! A paid request is proven on the note's latest state against the client's own copy of the
//! identity tree, journaled in the wallet, sent, and its settlement checked and stored before
//! the answer is handed back. One note carries one request at a time; a client with several
//! notes carries as many at once.

use crate::{
    ChainView, ClientError, PaymentTerms,
    chain::EscrowParameters,
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
use zkcredits_chain::{ExitRequest, proof::fr_to_u256};
use zkcredits_primitives::{
    Fr,
    babyjubjub::Scalar,
    constants::{SIGNER_TREE_DEPTH, TREE_DEPTH},
    field::fr_to_dec,
    identity::leaf,
    merkle::LeanImt,
    rln::request_x,
};
use zkcredits_prover::{
    KeyFile, Manifest, WitnessCircuit,
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
        Ok(Prover { inner: Arc::new(Mutex::new((calculator, key))) })
    }
}

/// A circuit and its key, loaded once; proving runs on a blocking thread.
#[derive(Clone)]
struct Prover {
    inner: Arc<Mutex<(WitnessCircuit, KeyFile)>>,
}

impl Prover {
    async fn prove(
        &self,
        inputs: CircomInputs,
    ) -> Result<(ark_groth16::Proof<ark_bn254::Bn254>, Vec<Fr>), ClientError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut guard = inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let (calculator, key) = &mut *guard;
            key.prove(calculator, inputs, &mut rand::rngs::OsRng).map_err(ClientError::from)
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

/// Calls that may wait for a note at once; more are refused rather than queued without bound.
const MAX_WAITING_CALLS: usize = 1_024;

/// What sending a journaled ticket came to.
enum Outcome {
    /// The node settled the ticket (served, replayed, or the upstream failed).
    Settled { status: u16, content_type: Option<String>, body: Bytes, settlement: Box<Settlement> },
    /// The node refused the request before taking the ticket: the ticket is unspent.
    Refused { code: String, status: u16, message: String },
    /// The ticket may be taken but its settlement is not in hand.
    Unsettled(String),
}

/// Refusals that mean the node took the ticket (or another spend of it) and that a later
/// look may settle: anything else is refused before the share is recorded (spec/05 §Checks).
fn ticket_may_be_taken(code: &str) -> bool {
    [codes::IN_PROGRESS, codes::SERVED_ELSEWHERE, codes::INTERNAL].contains(&code)
}

/// The wallet, the chain view and the provers, shared by every call.
pub struct Client {
    wallet: tokio::sync::Mutex<Wallet>,
    chain: ChainView,
    artifacts: Artifacts,
    request_prover: OnceLock<Prover>,
    exit_prover: OnceLock<Prover>,
    http: reqwest::Client,
    busy: Mutex<HashSet<usize>>,
    note_freed: tokio::sync::Notify,
    waiting: std::sync::atomic::AtomicUsize,
    terms: tokio::sync::Mutex<HashMap<String, (PaymentTerms, EscrowParameters)>>,
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
    wallet.with_extension("chain")
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn provider_error(url: &str, reason: impl std::fmt::Display) -> ClientError {
    ClientError::Provider { url: url.to_owned(), reason: reason.to_string() }
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
    loop {
        let chunk = match chunks.next().await {
            Some(Ok(chunk)) => chunk,
            Some(Err(e)) => return Outcome::Unsettled(format!("the stream broke off: {e}")),
            None => break,
        };
        held.extend_from_slice(&chunk);
        // Pass on every complete event but the settlement's.
        while let Some(end) = held.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = held.drain(..end + 2).collect();
            if event.starts_with(marker.as_bytes()) {
                settlement_event = Some(event);
            } else {
                forward(event, &mut out).await;
            }
        }
        if held.len() > MAX_HELD_EVENT && !held.starts_with(marker.as_bytes()) {
            forward(std::mem::take(&mut held), &mut out).await;
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
        let wallet = Wallet::open(wallet)?;
        let chain = ChainView::open(&wallet.chain, &chain_dir(wallet.path()))?;
        Ok(Self {
            wallet: tokio::sync::Mutex::new(wallet),
            chain,
            artifacts,
            request_prover: OnceLock::new(),
            exit_prover: OnceLock::new(),
            http: reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(10))
                .build()
                .map_err(|e| provider_error("-", e))?,
            busy: Mutex::new(HashSet::new()),
            note_freed: tokio::sync::Notify::new(),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            terms: tokio::sync::Mutex::new(HashMap::new()),
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

    /// Runs `change` on the wallet and writes it, fsynced, before returning.
    async fn update<T>(&self, change: impl FnOnce(&mut Wallet) -> T) -> Result<T, ClientError> {
        let mut wallet = self.wallet.lock().await;
        let result = change(&mut wallet);
        let bytes = wallet.encode();
        let path = wallet.path().to_owned();
        // The wallet lock is held across the write, so writes land in the order made.
        tokio::task::spawn_blocking(move || crate::wallet::write_atomically(&path, &bytes))
            .await
            .map_err(|e| ClientError::Task(e.to_string()))??;
        drop(wallet);
        Ok(result)
    }

    /// Makes `count` notes and deposits `amount` wei into each from `payer` (ETH escrows).
    /// Each note's secret is written before its deposit is sent, so no crash loses a deposit.
    pub async fn deposit(
        &self,
        payer: PrivateKeySigner,
        amount: u128,
        count: usize,
    ) -> Result<Vec<usize>, ClientError> {
        let escrow = self.chain.escrow_as(payer)?;
        let token = escrow.parameters().await?.token;
        if token != Address::ZERO {
            return Err(ClientError::Note(format!(
                "this escrow takes the token {token}, not ETH; token deposits are not supported by this client yet"
            )));
        }
        let mut made = Vec::with_capacity(count);
        for _ in 0..count {
            let note = Note::random();
            let identity = note.identity();
            let index = self
                .update(|w| {
                    w.notes.push(note);
                    w.notes.len() - 1
                })
                .await?;
            let submitted = escrow.deposit(identity, U256::from(amount)).await?;
            let event = submitted.event;
            let record = DepositRecord {
                amount: event.amount.to::<u128>(),
                expiry: event.expiry.to::<u64>(),
                leaf_index: event.leafIndex.to::<u64>(),
                tx: submitted.tx_hash.to_string(),
            };
            self.update(|w| w.notes[index].deposit = Some(record)).await?;
            made.push(index);
        }
        Ok(made)
    }

    /// Fills in the deposits of notes whose deposit landed but was not recorded (a crash
    /// after sending it): the escrow's record and the leaf in the local tree.
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
        self.chain.sync().await?;
        let escrow = self.chain.escrow();
        for (index, identity) in missing {
            let record = escrow.deposit_record(identity).await?;
            if record.status == 0 {
                continue;
            }
            let amount: u128 = record.amount.to::<u128>();
            let expiry: u64 = record.expiry.to::<u64>();
            let Some(leaf_index) = self.chain.find_leaf(leaf(identity, amount, expiry)).await?
            else {
                continue;
            };
            let found = DepositRecord { amount, expiry, leaf_index, tx: "recovered".into() };
            self.update(|w| w.notes[index].deposit = Some(found)).await?;
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
        let info: serde_json::Value = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| provider_error(provider, e))?
            .json()
            .await
            .map_err(|e| provider_error(provider, format!("GET /v1/info is not JSON: {e}")))?;
        let terms = PaymentTerms::from_json(&info["payment"])?;
        let parameters = self.chain.check_terms(&terms).await?;
        self.terms.lock().await.insert(provider.to_owned(), (terms.clone(), parameters));
        Ok((terms, parameters))
    }

    /// Reserves note `wanted`, or the first idle note that can pay; `None` when every usable
    /// note is busy.
    fn try_lease(
        &self,
        notes: &[Note],
        wanted: Option<usize>,
    ) -> Result<Option<NoteLease<'_>>, ClientError> {
        let mut busy = self.busy.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let usable = |i: usize| notes[i].deposit.is_some() && notes[i].exit.is_none();
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
            None if !(0..notes.len()).any(usable) => {
                return Err(ClientError::Note(
                    "no deposited note can pay: deposit one (`zkcredits deposit`)".into(),
                ));
            }
            None => match (0..notes.len()).find(|i| usable(*i) && !busy.contains(i)) {
                Some(i) => i,
                None => return Ok(None),
            },
        };
        busy.insert(index);
        Ok(Some(NoteLease { client: self, index }))
    }

    /// [`Client::try_lease`], waiting (in a bounded queue) while every usable note is busy.
    async fn lease(&self, wanted: Option<usize>) -> Result<NoteLease<'_>, ClientError> {
        loop {
            // Registered before looking, so a note freed in between is not missed.
            let freed = self.note_freed.notified();
            let notes = self.wallet.lock().await.notes.clone();
            if let Some(lease) = self.try_lease(&notes, wanted)? {
                return Ok(lease);
            }
            use std::sync::atomic::Ordering;
            if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING_CALLS {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                return Err(ClientError::Note(format!(
                    "{MAX_WAITING_CALLS} calls already wait for a note; deposit more notes for more parallel calls"
                )));
            }
            freed.await;
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Pays for `request` at `provider` with note `note` (or the first idle one, waiting for
    /// one when all are busy): settles a pending ticket of the note first, proves, journals,
    /// sends, and stores the settlement before returning the answer.
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
    pub async fn pay_relayed(
        &self,
        provider: &str,
        request: &ApiRequest,
        note: Option<usize>,
        mut relay: Option<Relay>,
    ) -> Result<PaidResponse, ClientError> {
        let provider = provider.trim_end_matches('/');
        let lease = self.lease(note).await?;
        self.settle_pending(lease.index).await?;
        let (terms, parameters) = self.terms(provider).await?;
        let prover = self.request_prover()?;
        let mut tree = self.chain.sync().await?;
        let mut resynced = false;
        loop {
            let pending = self
                .prove(&prover, lease.index, provider, request, &terms, &parameters, &tree)
                .await?;
            self.update(|w| w.notes[lease.index].pending = Some(pending.clone())).await?;
            let body_out = relay.as_ref().map(|r| r.body.clone());
            match self.send(&pending, &mut relay).await {
                Outcome::Settled { status, content_type, body, settlement } => {
                    let applied = self
                        .apply(lease.index, &pending, (*settlement).clone(), &terms, &parameters)
                        .await;
                    if let (Err(e), Some(out)) = (&applied, body_out) {
                        // A relayed stream must not end as if complete.
                        let _ = out.send(Err(std::io::Error::other(e.to_string()))).await;
                    }
                    applied?;
                    return Ok(PaidResponse {
                        note: lease.index,
                        status,
                        content_type,
                        body,
                        settlement: *settlement,
                        payment: pending.envelope.clone(),
                    });
                }
                Outcome::Refused { code, status, message } => {
                    // Refused before the share was recorded: the ticket is unspent.
                    self.update(|w| w.notes[lease.index].pending = None).await?;
                    if code == codes::UNKNOWN_ROOT && !resynced {
                        // The node's root window moved on (or has not reached ours): prove again
                        // on the chain as it is now.
                        resynced = true;
                        tree = self.chain.sync().await?;
                        continue;
                    }
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

    /// Builds and proves the request's ticket on note `index`'s latest state.
    #[allow(clippy::too_many_arguments)]
    async fn prove(
        &self,
        prover: &Prover,
        index: usize,
        provider: &str,
        request: &ApiRequest,
        terms: &PaymentTerms,
        parameters: &EscrowParameters,
        tree: &LeanImt,
    ) -> Result<PendingTicket, ClientError> {
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
                    "note {index}'s leaf {leaf_index} is not in the local tree yet (the deposit waits for {} confirmations)",
                    self.wallet_confirmations().unwrap_or_default()
                ))
            })?;
        let mut rng = rand::rngs::OsRng;
        let nonce = Fr::rand(&mut rng);
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
            eta: Scalar::rand(&mut rng),
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
    async fn send(&self, pending: &PendingTicket, relay: &mut Option<Relay>) -> Outcome {
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
        let mut request = self
            .http
            .request(method, format!("{}{}", pending.provider, pending.path_and_query))
            .header(PAYMENT_HEADER, pending.envelope.encode())
            .body(pending.body.clone());
        if let Some(content_type) = &pending.content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Outcome::Unsettled(format!("the request failed: {e}")),
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
        let body = match response.bytes().await {
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
            Some(code) if !ticket_may_be_taken(code) => Outcome::Refused {
                code: code.to_owned(),
                status,
                message: error["error"]["message"].as_str().unwrap_or_default().to_owned(),
            },
            Some(code) => Outcome::Unsettled(format!("the node answered {code}")),
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
        self.update(|w| -> Result<(), ClientError> {
            let note = &mut w.notes[index];
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

    /// Settles note `index`'s pending ticket, if any: asks its provider for the settlement,
    /// and when the provider never took the ticket, sends the very same request again (a
    /// replay is served once, so nothing is spent twice).
    pub async fn settle_pending(&self, index: usize) -> Result<(), ClientError> {
        let Some(pending) =
            self.wallet.lock().await.notes.get(index).and_then(|n| n.pending.clone())
        else {
            return Ok(());
        };
        let (terms, parameters) = self.terms(&pending.provider).await?;
        let nullifier = fr_to_dec(&pending.envelope.statement.nullifier);
        let url = format!("{}/v1/settlements/{nullifier}", pending.provider);
        let answer = self.http.get(&url).send().await.map_err(|e| {
            ClientError::SettlementPending(format!("the provider is unreachable: {e}"))
        })?;
        let status = answer.status().as_u16();
        let body = answer
            .bytes()
            .await
            .map_err(|e| ClientError::SettlementPending(format!("the answer broke off: {e}")))?;
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if status == 200 {
            let settlement = Settlement::from_json(&json)
                .map_err(|e| ClientError::BadSettlement(e.to_string()))?;
            return self.apply(index, &pending, settlement, &terms, &parameters).await;
        }
        if json["error"]["code"].as_str() != Some(codes::UNKNOWN_NULLIFIER) {
            return Err(ClientError::SettlementPending(format!(
                "the provider answered HTTP {status} {}",
                json["error"]["code"].as_str().unwrap_or("without an error code")
            )));
        }
        match self.send(&pending, &mut None).await {
            Outcome::Settled { settlement, .. } => {
                self.apply(index, &pending, *settlement, &terms, &parameters).await
            }
            Outcome::Refused { .. } => {
                // The same request is refused before its share is recorded (its time bucket or
                // root is gone): it can never be taken, and the ticket is unspent.
                self.update(|w| w.notes[index].pending = None).await
            }
            Outcome::Unsettled(reason) => Err(ClientError::SettlementPending(reason)),
        }
    }

    /// Exits note `index` to `recipient`, sending `requestExit` from `payer`. A pending ticket
    /// that cannot be settled counts as spent at `C_MAX` (`unsettled`).
    pub async fn exit(
        &self,
        index: usize,
        payer: PrivateKeySigner,
        recipient: Address,
    ) -> Result<ExitRecord, ClientError> {
        let lease = self.lease(Some(index)).await?;
        let unsettled = match self.settle_pending(lease.index).await {
            Ok(()) => false,
            Err(ClientError::SettlementPending(_) | ClientError::Provider { .. }) => true,
            Err(e) => return Err(e),
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
        let circom = inputs.circom_inputs(SIGNER_TREE_DEPTH).ok_or_else(|| {
            ClientError::Note(format!("note {index}'s state owes more than its deposit"))
        })?;
        let (proof, signals) = self.exit_prover()?.prove(circom).await?;
        let request = ExitRequest {
            identity: signals[1],
            recipient,
            amount: fr_to_u256(&signals[3]),
            nullifier: signals[4],
            y: signals[5],
            signer_root: signals[7],
        };
        let submitted = self.chain.escrow_as(payer)?.request_exit(&request, &proof).await?;
        let record = ExitRecord {
            recipient,
            amount: submitted.event.amount.to::<u128>(),
            unsettled: inputs.unsettled,
            tx: submitted.tx_hash.to_string(),
            finalizable_at: submitted.event.finalizableAt.to::<u64>(),
            finalized_tx: None,
        };
        self.update(|w| {
            let note = &mut w.notes[lease.index];
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
        let Some(exit) = &note.exit else {
            return Err(ClientError::Note(format!(
                "note {index} has no exit to finalize (`zkcredits exit` first)"
            )));
        };
        if let Some(tx) = &exit.finalized_tx {
            return Ok(tx.clone());
        }
        let submitted = self.chain.escrow_as(payer)?.finalize_exit(note.identity()).await?;
        let tx = submitted.tx_hash.to_string();
        self.update(|w| {
            if let Some(exit) = &mut w.notes[index].exit {
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
    fn only_refusals_after_the_share_is_recorded_keep_the_ticket_pending() {
        for code in [codes::IN_PROGRESS, codes::SERVED_ELSEWHERE, codes::INTERNAL] {
            assert!(ticket_may_be_taken(code), "{code}");
        }
        for code in
            [codes::UNKNOWN_ROOT, codes::TIME_OUT_OF_RANGE, codes::OVERLOADED, codes::INVALID_PROOF]
        {
            assert!(!ticket_may_be_taken(code), "{code}");
        }
    }
}
