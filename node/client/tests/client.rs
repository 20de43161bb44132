//! The client against a real devnet and node: deposits, paid requests with refunds, a lost
//! settlement recovered without spending a ticket twice, parallel calls over several notes,
//! terms that disagree with the chain, and an exit taken to its payout.

#[path = "../../node/tests/common/mod.rs"]
mod common;

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use common::{Harness, User};
use std::{path::PathBuf, sync::Arc, time::Duration};
use zkcredits_client::{
    ApiRequest, Artifacts, Client, ClientError, PrivacyOptions,
    wallet::{ChainSettings, PendingTicket, Wallet},
};
use zkcredits_primitives::rln::Share;

const CHAT: &str = "/v1/chat/completions";
/// The dev account that pays deposits and exits.
const PAYER: usize = 3;

fn chat(content: &str) -> ApiRequest {
    ApiRequest::post_json(
        CHAT,
        format!(r#"{{"model":"m","messages":[{{"role":"user","content":"{content}"}}]}}"#)
            .into_bytes(),
    )
}

fn payer(h: &Harness) -> PrivateKeySigner {
    h.net.anvil.keys()[PAYER].clone().into()
}

fn settings(h: &Harness) -> ChainSettings {
    ChainSettings::of_deployment(h.net.anvil.endpoint(), &h.net.deployment, 0)
}

/// A new wallet for the harness's escrow in `dir`.
fn new_wallet(h: &Harness, dir: &tempfile::TempDir) -> PathBuf {
    let path = dir.path().join("wallet.json");
    Wallet::create(&path, settings(h)).expect("wallet created");
    path
}

fn open(path: &std::path::Path) -> Client {
    Client::open(path, Artifacts::in_checkout(&common::workspace())).expect("client opens")
}

/// Deposits `count` notes of `5·C_MAX`, inserts them and lets the node see them.
async fn deposit(h: &Harness, client: &Client, count: usize) -> Vec<usize> {
    let made =
        client.deposit(payer(h), u128::from(h.c_max()) * 5, count).await.expect("deposits land");
    h.insert_pending().await;
    made
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_deposits_pays_with_refunds_and_exits_with_the_rest() {
    // The node inserts deposits itself, within a second of seeing one.
    let h = common::harness(|c| {
        c.batcher.enabled = true;
        c.batcher.min_batch = 64;
        c.batcher.max_delay_secs = 1;
    })
    .await;
    let c_max = u128::from(h.c_max());
    let dir = tempfile::tempdir().expect("temp dir");
    let path = new_wallet(&h, &dir);
    let client = open(&path);
    let made = client.deposit(payer(&h), c_max * 5, 1).await.expect("deposit lands");
    assert_eq!(made, vec![0]);
    assert_eq!(h.net.escrow.tree().await.expect("tree").1, 0, "queued, not inserted yet");

    // The call waits until the node's batch inserted the note, then pays.
    let first = client.pay(&h.node.url(), &chat("first"), None).await.expect("paid");
    assert_eq!(first.status, 200);
    assert!(first.settlement.refund > 0, "a small request is refunded");
    // The second request spends from the signed state the first settlement made.
    let second = client.pay(&h.node.url(), &chat("second"), Some(0)).await.expect("paid");
    let note = &client.notes().await[0];
    assert_eq!(note.opening.index, 2);
    assert_eq!(
        note.opening.refunded,
        u128::from(first.settlement.refund + second.settlement.refund)
    );
    assert!(note.pending.is_none());
    assert_eq!(h.upstream.calls.all().len(), 2);

    // The state survives the process: a reopened wallet holds it.
    drop(client);
    let client = open(&path);
    let note = client.notes().await[0].clone();
    assert_eq!(note.opening.index, 2);

    let recipient = Address::repeat_byte(0x5e);
    let exit = client.exit(0, payer(&h), recipient).await.expect("exit requested");
    let expected = 5 * c_max + note.opening.refunded - 2 * c_max;
    assert_eq!(exit.amount, expected, "what is left: D + R − n·C_MAX");
    assert!(!exit.unsettled);
    assert!(matches!(
        client.pay(&h.node.url(), &chat("after exit"), Some(0)).await,
        Err(ClientError::Note(_))
    ));

    let delay = h.net.deployment.exit_delay;
    h.net
        .provider
        .raw_request::<_, serde_json::Value>("evm_increaseTime".into(), (delay + 1,))
        .await
        .expect("time moves");
    h.net.mine().await.expect("mined");
    client.finalize(0, payer(&h)).await.expect("finalized");
    let balance = h.net.provider.get_balance(recipient).await.expect("balance");
    assert_eq!(balance, U256::from(expected));
    h.node.shutdown().await.expect("the node stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_killed_between_request_and_settlement_recovers_and_spends_nothing_twice() {
    let h = common::harness(|_| {}).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = new_wallet(&h, &dir);
    let client = Arc::new(open(&path));
    deposit(&h, &client, 1).await;

    // Killed while the upstream works: the journal holds the ticket, the node serves it.
    let slow = ApiRequest::post_json(
        CHAT,
        br#"{"model":"m","sleep_ms":1500,"messages":[{"role":"user","content":"slow"}]}"#.to_vec(),
    );
    let task = {
        let (client, slow, url) = (Arc::clone(&client), slow.clone(), h.node.url());
        tokio::spawn(async move { client.pay(&url, &slow, None).await })
    };
    while h.upstream.calls.count(&slow.body) == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    let _ = task.await;
    drop(client);

    let client = open(&path);
    let pending = client.notes().await[0].pending.clone().expect("journaled");
    // The node is still serving it; the client waits for its settlement.
    loop {
        match client.settle_pending(0).await {
            Ok(()) => break,
            Err(ClientError::SettlementPending(_)) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let note = client.notes().await[0].clone();
    assert_eq!(note.opening.index, 1);
    assert!(note.pending.is_none());
    assert_eq!(h.upstream.calls.count(&slow.body), 1, "served once");

    // Killed before the request left: the journal holds a ticket the node never saw; the
    // client sends the very same request, which is served once.
    drop(client);
    let mut wallet = Wallet::open(&path).expect("wallet");
    let note = wallet.notes[0].clone();
    let deposit = note.deposit.clone().expect("deposited");
    let signed = note.signed.clone().expect("signed");
    let user = User {
        secret: note.secret,
        deposit: deposit.amount,
        expiry: deposit.expiry,
        leaf_index: deposit.leaf_index as usize,
        state: note.spendable(),
        signer_root: signed.signer_root,
    };
    let unsent = chat("never left");
    let paid = user.pay(&h, CHAT, &unsent.body);
    wallet.notes[0].pending = Some(PendingTicket {
        provider: h.node.url(),
        method: unsent.method.clone(),
        path_and_query: unsent.path_and_query.clone(),
        content_type: unsent.content_type.clone(),
        body: unsent.body.clone(),
        envelope: paid.envelope.clone(),
        eta: paid.eta,
    });
    wallet.save().expect("saved");
    drop(wallet);

    let client = open(&path);
    client.pay(&h.node.url(), &chat("next"), Some(0)).await.expect("recovers, then pays");
    let note = client.notes().await[0].clone();
    assert_eq!(note.opening.index, 3, "tickets 0, 1 and 2, each once");
    assert_eq!(h.upstream.calls.count(&unsent.body), 1);

    // Every ticket the note spent has exactly one share at the node: nothing spent twice.
    for index in 0..3 {
        let nullifier = Share::new(&note.secret, &h.scope(), index, 1u64.into()).nullifier;
        assert_eq!(h.node.store().shares(&nullifier).expect("shares").len(), 1, "ticket {index}");
    }
    assert_eq!(pending.envelope.statement.nullifier, {
        Share::new(&note.secret, &h.scope(), 0, 1u64.into()).nullifier
    });
    h.node.shutdown().await.expect("the node stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k_notes_carry_k_parallel_calls() {
    const K: usize = 3;
    let h = common::harness(|_| {}).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let client = Arc::new(open(&new_wallet(&h, &dir)));
    assert_eq!(deposit(&h, &client, K).await, (0..K).collect::<Vec<_>>());
    let txs: std::collections::HashSet<String> = client
        .notes()
        .await
        .iter()
        .map(|n| n.deposit.as_ref().expect("deposited").tx.clone())
        .collect();
    assert_eq!(txs.len(), 1, "K notes in one depositBatch transaction");
    client.preload().expect("prover loads");

    let calls: Vec<_> = (0..K)
        .map(|i| {
            let (client, url) = (Arc::clone(&client), h.node.url());
            tokio::spawn(async move {
                let body = format!(
                    r#"{{"model":"m","sleep_ms":300,"messages":[{{"role":"user","content":"parallel {i}"}}]}}"#
                );
                client.pay(&url, &ApiRequest::post_json(CHAT, body.into_bytes()), None).await
            })
        })
        .collect();
    let mut notes: Vec<usize> = Vec::new();
    for call in calls {
        notes.push(call.await.expect("task").expect("paid").note);
    }
    notes.sort_unstable();
    assert_eq!(notes, (0..K).collect::<Vec<_>>(), "each call on its own note");
    assert!(client.notes().await.iter().all(|n| n.opening.index == 1));

    // Notes deposited apart, for a user who does not want them seen together.
    let apart = client
        .deposit_in_batches_of(payer(&h), u128::from(h.c_max()), 2, 1)
        .await
        .expect("deposits");
    let notes = client.notes().await;
    assert_ne!(
        notes[apart[0]].deposit.as_ref().map(|d| &d.tx),
        notes[apart[1]].deposit.as_ref().map(|d| &d.tx)
    );
    h.node.shutdown().await.expect("the node stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_of_another_escrow_is_refused_before_anything_is_proven() {
    let h = common::harness(|_| {}).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wallet.json");
    // A wallet of another escrow on the same chain.
    let mut other = settings(&h);
    other.escrow = Address::repeat_byte(0x42);
    Wallet::create(&path, other).expect("wallet");
    let client = open(&path);
    let error = client.terms(&h.node.url()).await.expect_err("refused");
    assert!(matches!(error, ClientError::Terms(_)), "{error}");
    assert!(error.to_string().contains("escrow"), "{error}");
    assert!(h.upstream.calls.all().is_empty());
    h.node.shutdown().await.expect("the node stops cleanly");
}

/// A provider that forwards `/v1/info` from `node` and refuses every paid call with a made-up
/// `unknown_root`, keeping each payment header it is sent: an attacker fishing for a second
/// share of one ticket (two shares reveal the secret and the deposit's bounty).
async fn lying_provider(node: String) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::{Json, Router, extract::State, http::HeaderMap, routing::get};
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let info = move || {
        let node = node.clone();
        async move {
            let body = reqwest::get(format!("{node}/v1/info"))
                .await
                .expect("node answers")
                .bytes()
                .await
                .expect("body");
            let info: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
            Json(info)
        }
    };
    let app = Router::new()
        .route("/v1/info", get(info))
        .fallback(
            |State(seen): State<Arc<std::sync::Mutex<Vec<String>>>>, headers: HeaderMap| async move {
                if let Some(payment) = headers.get("zkcredits-payment") {
                    seen.lock().expect("lock").push(payment.to_str().expect("ascii").to_owned());
                }
                (
                    axum::http::StatusCode::CONFLICT,
                    Json(serde_json::json!({"error": {"code": "unknown_root", "message": "prove again", "type": "zkcredits"}})),
                )
            },
        )
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_lying_about_refusals_never_gets_two_shares_of_a_ticket() {
    let h = common::harness(|_| {}).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let client = open(&new_wallet(&h, &dir));
    deposit(&h, &client, 1).await;
    let (liar, seen) = lying_provider(h.node.url()).await;

    // A route the provider does not list is refused before a ticket is proven for it.
    let files = ApiRequest {
        method: "GET".into(),
        path_and_query: "/proxy/v1/files".into(),
        content_type: None,
        body: Vec::new(),
    };
    assert!(matches!(client.pay(&liar, &files, None).await, Err(ClientError::UnknownRoute { .. })));
    assert!(client.notes().await[0].pending.is_none());

    for content in ["first", "second", "third"] {
        let refused = client.pay(&liar, &chat(content), None).await;
        assert!(
            matches!(refused, Err(ClientError::Refused { ref code, .. }) if code == "unknown_root"),
            "{refused:?}"
        );
    }
    // Every payment it received is ticket 0 for the first request: one x, one share.
    let envelopes: Vec<_> = seen
        .lock()
        .expect("lock")
        .iter()
        .map(|h| {
            zkcredits_wire::envelope::PaymentEnvelope::decode(h.as_bytes(), usize::MAX)
                .expect("envelope")
        })
        .collect();
    assert!(envelopes.len() >= 4, "re-proven once per call, then sent again: {}", envelopes.len());
    let first = &envelopes[0].statement;
    for envelope in &envelopes {
        assert_eq!(envelope.statement.nullifier, first.nullifier);
        assert_eq!(envelope.statement.x, first.x);
        assert_eq!(envelope.statement.y, first.y);
    }
    let note = client.notes().await[0].clone();
    assert_eq!(note.opening.index, 0);
    assert_eq!(note.pending.as_ref().map(|p| p.body.clone()), Some(chat("first").body));

    // The user leaves: the ticket the liar holds counts as spent, at most C_MAX lost.
    let exit = client.exit(0, payer(&h), Address::repeat_byte(0x5f)).await.expect("exit");
    assert!(exit.unsettled);
    assert_eq!(exit.amount, 5 * u128::from(h.c_max()) - u128::from(h.c_max()));
    h.node.shutdown().await.expect("the node stops cleanly");
}

/// A SOCKS5 proxy (RFC 1928, with RFC 1929 user names) standing for Tor: it records the user
/// name of every connection it carries and pipes it to its target.
async fn socks5_proxy() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    async fn carry(
        mut inbound: tokio::net::TcpStream,
        seen: Arc<std::sync::Mutex<Vec<String>>>,
    ) -> std::io::Result<()> {
        let mut head = [0u8; 2];
        inbound.read_exact(&mut head).await?;
        let mut methods = vec![0u8; usize::from(head[1])];
        inbound.read_exact(&mut methods).await?;
        assert!(methods.contains(&2), "the client offers user/password: {methods:?}");
        inbound.write_all(&[5, 2]).await?;
        let mut version_and_length = [0u8; 2];
        inbound.read_exact(&mut version_and_length).await?;
        let mut user = vec![0u8; usize::from(version_and_length[1])];
        inbound.read_exact(&mut user).await?;
        let mut password = vec![0u8; usize::from(inbound.read_u8().await?)];
        inbound.read_exact(&mut password).await?;
        inbound.write_all(&[1, 0]).await?;
        let mut request = [0u8; 4];
        inbound.read_exact(&mut request).await?;
        let host = match request[3] {
            1 => {
                let mut ip = [0u8; 4];
                inbound.read_exact(&mut ip).await?;
                std::net::Ipv4Addr::from(ip).to_string()
            }
            3 => {
                let mut name = vec![0u8; usize::from(inbound.read_u8().await?)];
                inbound.read_exact(&mut name).await?;
                String::from_utf8_lossy(&name).into_owned()
            }
            other => panic!("address type {other}"),
        };
        let port = inbound.read_u16().await?;
        let mut outbound = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
        inbound.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
        seen.lock().expect("log").push(String::from_utf8_lossy(&user).into_owned());
        tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await?;
        Ok(())
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                if let Err(e) = carry(inbound, log).await {
                    eprintln!("socks: {e}");
                }
            });
        }
    });
    (format!("socks5h://{address}"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_socks5_a_circuit_per_note_or_per_call_no_connection_twice_and_padded_bodies() {
    let h = common::harness(|_| {}).await;
    let (proxy, socks) = socks5_proxy().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = new_wallet(&h, &dir);
    let privacy =
        PrivacyOptions { socks5: Some(proxy.clone()), pad_bytes: 1_024, ..Default::default() };
    let client = Client::open_with(&path, Artifacts::in_checkout(&common::workspace()), privacy)
        .expect("client opens");
    assert_eq!(deposit(&h, &client, 2).await, vec![0, 1]);
    for (note, content) in [(0, "one"), (0, "two"), (1, "three")] {
        client
            .pay(&h.node.url(), &chat(content), Some(note))
            .await
            .expect("paid through the proxy");
    }
    let bodies = h.upstream.calls.all();
    assert_eq!(bodies.len(), 3);
    assert!(bodies.iter().all(|b| b.len() == 1_024), "padded, and x bound the padded body");
    let seen = socks.lock().expect("log").clone();
    // The terms once, then one connection per call (none is kept for the next call), each
    // note under a random name of its own.
    assert_eq!(seen.len(), 4, "{seen:?}");
    let (terms, first, second, other) = (&seen[0], &seen[1], &seen[2], &seen[3]);
    assert_eq!(first, second, "one note, one circuit");
    assert!(terms != first && other != first && other != terms, "{seen:?}");
    assert!(seen.iter().all(|u| u.len() == 32 && !u.contains("note")), "random: {seen:?}");

    // A circuit per call: two calls of one note leave under two names.
    drop(client);
    let privacy =
        PrivacyOptions { socks5: Some(proxy), circuit_per_call: true, ..PrivacyOptions::default() };
    let client = Client::open_with(&path, Artifacts::in_checkout(&common::workspace()), privacy)
        .expect("client opens");
    for content in ["four", "five"] {
        client.pay(&h.node.url(), &chat(content), Some(0)).await.expect("paid through the proxy");
    }
    let calls: Vec<String> = socks.lock().expect("log")[4..].to_vec();
    assert_eq!(calls.len(), 3, "the terms, then two calls: {calls:?}");
    assert!(calls[1] != calls[2] && !seen.contains(&calls[1]), "{calls:?}");

    // A URL the client cannot use is refused before anything is opened.
    let bad =
        PrivacyOptions { socks5: Some("socks5://127.0.0.1:9050".into()), ..Default::default() };
    let err = Client::open_with(
        &dir.path().join("w2.json"),
        Artifacts::in_checkout(&common::workspace()),
        bad,
    )
    .expect_err("not SOCKS5");
    assert!(err.to_string().contains("local DNS"), "{err}");
    h.node.shutdown().await.expect("the node stops cleanly");
}
