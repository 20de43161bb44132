//! The node against a real anvil with the deployed escrow, real request proofs, RocksDB and a
//! small OpenAI-compatible upstream: paid requests, replays, streaming, double spends slashed
//! on chain, and every refusal with its reason.

mod common;

use alloy::providers::Provider;
use common::{
    Harness, PAYOUT_ACCOUNT, PROVIDER_ID, harness, node_signer, now_bucket, prove_request,
    settlement_of, signer_tree,
};
use serde_json::Value;
use std::time::Duration;
use zkcredits_node::settlement::Settlement;
use zkcredits_primitives::{Fr, field::fr_to_dec, merkle::FixedMerkleTree};
use zkcredits_storage::SlashStatus;

const CHAT: &str = "/v1/chat/completions";

async fn json(response: reqwest::Response) -> Value {
    serde_json::from_slice(&response.bytes().await.expect("body")).expect("JSON body")
}

/// Asserts the status and the error code of a refusal.
async fn refused(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status for {code}");
    let body = json(response).await;
    assert_eq!(body["error"]["code"], code, "{body}");
    body
}

/// The settlement event at the end of a streamed response.
fn streamed_settlement(text: &str) -> Settlement {
    let event = text
        .split("\n\n")
        .find_map(|e| e.strip_prefix("event: zkcredits.settlement\ndata: "))
        .expect("a settlement event");
    Settlement::from_bytes(event.as_bytes()).expect("settlement JSON")
}

async fn metrics(h: &Harness) -> String {
    h.http.get(h.url("/metrics")).send().await.expect("metrics").text().await.expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paid_requests_settle_replays_are_not_served_twice_and_double_spends_are_slashed() {
    // The node inserts the deposits and the slashed leaf's removal itself.
    let h = harness(|c| {
        c.batcher.enabled = true;
        c.batcher.min_batch = 1;
        c.batcher.max_delay_secs = 0;
    })
    .await;
    let c_max = h.c_max();
    let mut alice = h.deposit(11, u128::from(c_max) * 10).await;
    let mut bob = h.deposit(12, u128::from(c_max) * 10).await;

    let body = br#"{"model":"m","messages":[{"role":"user","content":"hello there"}]}"#;
    let unpaid = h.send(CHAT, body, None).await;
    // x402: the same description in a PAYMENT-REQUIRED header, offering the zk-credits scheme.
    let x402 = unpaid.headers().get("payment-required").expect("x402 header").clone();
    let unpaid = refused(unpaid, 402, "payment_required").await;
    let payment = &unpaid["payment"];
    let x402: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::STANDARD, x402.as_bytes())
            .expect("base64"),
    )
    .expect("JSON");
    assert_eq!(x402["x402Version"], 2);
    assert_eq!(x402["resource"]["url"], CHAT);
    let offer = &x402["accepts"][0];
    assert_eq!(offer["scheme"], "zk-credits");
    assert_eq!(offer["network"], "eip155:31337");
    assert_eq!(offer["amount"], c_max.to_string());
    assert_eq!(offer["payTo"], h.net.deployment.escrow.to_string());
    assert_eq!(&offer["extra"], payment);
    assert_eq!(payment["scope"], h.net.deployment.scope);
    assert_eq!(payment["cMax"], c_max.to_string());
    assert_eq!(payment["signerRoot"], h.net.deployment.signer_root);
    assert_eq!(payment["providerId"], PROVIDER_ID.to_string());
    assert_eq!(payment["chainId"], 31337);
    assert_eq!(payment["header"], "zkcredits-payment");

    // Ticket 0 from the genesis state.
    let paid = alice.pay(&h, CHAT, body);
    let response = h.send(CHAT, body, Some(&paid.envelope)).await;
    assert_eq!(response.status(), 200);
    let settlement = settlement_of(&response);
    let reply = json(response).await;
    assert_eq!(reply["choices"][0]["message"]["content"], "Hello");
    // 11 prompt tokens at 1 and 5 completion tokens at 3 cost 26: the smallest class, C_MAX/128.
    assert_eq!((settlement.charge, settlement.refund), (c_max >> 7, c_max - (c_max >> 7)));
    alice.apply(&h, &paid, &settlement);
    assert_eq!(h.upstream.calls.count(body), 1);

    // The same request again: its settlement, and the upstream is not called again.
    let replay = h.send(CHAT, body, Some(&paid.envelope)).await;
    assert_eq!(settlement_of(&replay), settlement);
    let replay = refused(replay, 409, "replayed_request").await;
    assert_eq!(Settlement::from_json(&replay["settlement"]).expect("settlement"), settlement);
    assert_eq!(h.upstream.calls.count(body), 1, "served once");
    let nullifier = fr_to_dec(&paid.envelope.statement.nullifier);
    let fetched =
        h.http.get(h.url(&format!("/v1/settlements/{nullifier}"))).send().await.expect("answer");
    assert_eq!(fetched.status(), 200);
    assert_eq!(Settlement::from_json(&json(fetched).await).expect("settlement"), settlement);
    let unknown = h.http.get(h.url("/v1/settlements/12345")).send().await.expect("answer");
    refused(unknown, 404, "unknown_nullifier").await;
    // Every refusal has the error shape, routing ones too.
    let nowhere = h.http.get(h.url("/v1/nowhere")).send().await.expect("answer");
    let answer = refused(nowhere, 404, "not_found").await;
    assert!(answer["error"]["message"].as_str().expect("message").contains("/v1/nowhere"));
    let wrong_method = h.http.get(h.url(CHAT)).send().await.expect("answer");
    refused(wrong_method, 405, "method_not_allowed").await;

    // Ticket 1 from the signed state, streamed.
    let stream_body = br#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#;
    let paid_stream = alice.pay(&h, CHAT, stream_body);
    let response = h.send(CHAT, stream_body, Some(&paid_stream.envelope)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.expect("stream");
    assert!(text.contains(r#""content":"Hel""#) && text.contains("data: [DONE]"), "{text}");
    let streamed = streamed_settlement(&text);
    assert_eq!(streamed.charge, c_max >> 7);
    let before_ticket_1 = alice.clone();
    alice.apply(&h, &paid_stream, &streamed);
    assert_eq!(alice.state.opening.index, 2);

    // Bob proves against today's root; he sends it after the slash below.
    let bob_body = br#"{"messages":[{"role":"user","content":"bob"}]}"#;
    let bob_early = bob.pay(&h, CHAT, bob_body);

    // Alice spends ticket 1 again on another request: refused, recovered, slashed.
    let payout = h.net.anvil.addresses()[PAYOUT_ACCOUNT];
    let balance_before = h.net.provider.get_balance(payout).await.expect("balance");
    let other = br#"{"model":"m","messages":[{"role":"user","content":"something else"}]}"#;
    let cheat = before_ticket_1.pay(&h, CHAT, other);
    assert_eq!(cheat.envelope.statement.nullifier, paid_stream.envelope.statement.nullifier);
    refused(h.send(CHAT, other, Some(&cheat.envelope)).await, 403, "double_spend").await;
    assert_eq!(h.upstream.calls.count(other), 0, "a double spend is never served");

    h.until_slash_done(&alice.secret.commitment()).await;
    let slashes = h.node.store().slashes().expect("slashes");
    assert_eq!(slashes.len(), 1);
    assert_eq!(slashes[0].identity, alice.secret.commitment());
    let record = h.net.escrow.deposit_record(alice.secret.commitment()).await.expect("record");
    assert_eq!(record.status, 4, "Slashed");
    let bounty: u128 = h.net.deployment.slash_bounty.parse().expect("decimal");
    let balance_after = h.net.provider.get_balance(payout).await.expect("balance");
    assert_eq!(balance_after - balance_before, alloy::primitives::U256::from(bounty));

    // The node's next batch removed Alice's leaf: roots from before the removal leave the window
    // at once.
    h.node.sync_chain().await.expect("sync");
    refused(h.send(CHAT, bob_body, Some(&bob_early.envelope)).await, 409, "unknown_root").await;
    let bob_again = bob.pay(&h, CHAT, bob_body);
    let response = h.send(CHAT, bob_body, Some(&bob_again.envelope)).await;
    assert_eq!(response.status(), 200);
    bob.apply(&h, &bob_again, &settlement_of(&response));
    // Alice's leaf is gone: no membership proof of hers exists any more.
    let (gone, _) = alice.inputs(&h, CHAT, body, now_bucket());
    assert!(h.request_prover.prove(gone.circom_inputs(4)).is_err());

    let metrics = metrics(&h).await;
    for line in [
        "zkcredits_requests_served_total 3",
        "zkcredits_requests_replayed_total 1",
        r#"zkcredits_requests_rejected_total{reason="double_spend"} 1"#,
        r#"zkcredits_requests_rejected_total{reason="unknown_root"} 1"#,
        r#"zkcredits_slashes_total{outcome="submitted"} 1"#,
        r#"zkcredits_deposit_batches_total{outcome="inserted"} "#,
    ] {
        assert!(metrics.contains(line), "missing `{line}` in\n{metrics}");
    }
    h.node.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_refuses_with_its_reason_and_stores_nothing() {
    let h = harness(|c| {
        c.limits.max_body_bytes = 2_048;
        c.upstream.timeout_secs = 3;
        c.pricing.proxy = ["/v1/embeddings", "/v1/moderations"]
            .map(|path| zkcredits_node::config::ProxyRoute {
                method: "POST".into(),
                path: path.into(),
                price: 0,
                metered: true,
                free: false,
            })
            .to_vec();
    })
    .await;
    let c_max = h.c_max();
    let user = h.deposit(21, u128::from(c_max) * 10).await;
    let body = br#"{"model":"m","messages":[{"role":"user","content":"check me"}]}"#;
    let paid = user.pay(&h, CHAT, body);

    refused(h.send(CHAT, &[b' '; 4_096], Some(&paid.envelope)).await, 413, "body_too_large").await;
    let garbage = h
        .http
        .post(h.url(CHAT))
        .header("zkcredits-payment", "not base64!")
        .body(body.to_vec())
        .send()
        .await
        .expect("answer");
    refused(garbage, 400, "malformed_envelope").await;

    type Tamper = fn(&mut zkcredits_node::envelope::PaymentEnvelope);
    let cases: [(Tamper, u16, &str); 7] = [
        (|e| e.statement.scope += Fr::from(1u64), 400, "wrong_scope"),
        (|e| e.statement.signer_root += Fr::from(1u64), 400, "wrong_signer_root"),
        (|e| e.statement.c_max += 1, 400, "wrong_c_max"),
        (|e| e.statement.root += Fr::from(1u64), 409, "unknown_root"),
        (|e| e.statement.now -= 2 * 3_600, 400, "time_out_of_range"),
        (|e| e.nonce += Fr::from(1u64), 400, "x_mismatch"),
        (|e| e.statement.y += Fr::from(1u64), 400, "invalid_proof"),
    ];
    for (tamper, status, code) in cases {
        let mut envelope = paid.envelope.clone();
        tamper(&mut envelope);
        refused(h.send(CHAT, body, Some(&envelope)).await, status, code).await;
    }
    // The body the proof covers is what is hashed: another body does not match x.
    refused(h.send(CHAT, b"{}", Some(&paid.envelope)).await, 400, "x_mismatch").await;
    assert!(h.upstream.calls.all().is_empty(), "nothing refused reached the upstream");

    // Nothing was stored by the refusals: the genuine request is served.
    let response = h.send(CHAT, body, Some(&paid.envelope)).await;
    assert_eq!(response.status(), 200);

    // An exit spends the exit ticket; reusing that ticket for a request is caught and slashed.
    let carol = h.deposit(22, u128::from(c_max) * 3).await;
    let (exit, proof) = carol.exit(&h, h.net.anvil.addresses()[5]);
    h.net.escrow.request_exit(&exit, &proof).await.expect("exit requested");
    h.node.sync_chain().await.expect("sync");
    let reuse = carol.pay(&h, CHAT, body);
    refused(h.send(CHAT, body, Some(&reuse.envelope)).await, 403, "exited_ticket").await;
    h.node.submit_slashes().await;
    let record = h.net.escrow.deposit_record(carol.secret.commitment()).await.expect("record");
    assert_eq!(record.status, 4, "slashed while exiting");

    // A replay while the first request is still being served.
    let dave = h.deposit(23, u128::from(c_max) * 3).await;
    let slow = br#"{"sleep_ms":1500,"messages":[]}"#;
    let paid_slow = dave.pay(&h, CHAT, slow);
    let (first, second) = tokio::join!(h.send(CHAT, slow, Some(&paid_slow.envelope)), async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        h.send(CHAT, slow, Some(&paid_slow.envelope)).await
    });
    // Whichever recorded the share first is served; the other is told to wait.
    let (served, waiting) = if first.status() == 200 { (first, second) } else { (second, first) };
    assert_eq!(served.status(), 200);
    refused(waiting, 409, "in_progress").await;
    assert_eq!(h.upstream.calls.count(slow), 1);

    // An upstream that took the request and then stays silent past the limit may be working
    // (and billing) all along: C_MAX, or a request that never finishes would be free compute.
    let mut frank = h.deposit(25, u128::from(c_max) * 3).await;
    let stuck = br#"{"sleep_ms":5000,"messages":[]}"#;
    let paid_stuck = frank.pay(&h, CHAT, stuck);
    let response = h.send(CHAT, stuck, Some(&paid_stuck.envelope)).await;
    let settlement = settlement_of(&response);
    assert_eq!((settlement.charge, settlement.refund), (c_max, 0));
    refused(response, 502, "upstream_failed").await;
    frank.apply(&h, &paid_stuck, &settlement);

    // /proxy forwards the listed routes only, before anything else is looked at: not the chat
    // route (it has its own metered endpoint), not any other upstream route.
    let chat_by_proxy = "/proxy/v1/chat/completions";
    refused(h.send(chat_by_proxy, body, Some(&paid.envelope)).await, 404, "unknown_route").await;
    let files = h.http.get(h.url("/proxy/v1/files")).send().await.expect("answer");
    refused(files, 404, "unknown_route").await;
    assert_eq!(h.upstream.calls.count(body), 1, "only the genuine request reached the upstream");

    // A listed route is charged for the usage its answer reports, and C_MAX when a metered
    // route's answer reports none.
    let mut erin = h.deposit(24, u128::from(c_max) * 3).await;
    let embed = br#"{"input":"x"}"#;
    let (inputs, nonce) = erin.inputs(&h, "/proxy/v1/embeddings", embed, now_bucket());
    let paid_embed = prove_request(&h, &inputs, nonce);
    let response = h.send("/proxy/v1/embeddings", embed, Some(&paid_embed.envelope)).await;
    assert_eq!(response.status(), 200);
    let settlement = settlement_of(&response);
    assert_eq!(settlement.charge, c_max >> 7, "one prompt token, rounded up to the first class");
    assert_eq!(json(response).await["object"], "list");
    erin.apply(&h, &paid_embed, &settlement);
    let moderate = br#"{"input":"y"}"#;
    let (inputs, nonce) = erin.inputs(&h, "/proxy/v1/moderations", moderate, now_bucket());
    let paid_moderate = prove_request(&h, &inputs, nonce);
    let response = h.send("/proxy/v1/moderations", moderate, Some(&paid_moderate.envelope)).await;
    assert_eq!(response.status(), 200);
    let settlement = settlement_of(&response);
    assert_eq!(settlement.charge, c_max, "a metered answer without usage costs C_MAX");
    erin.apply(&h, &paid_moderate, &settlement);
    h.node.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insolvent_and_expired_tickets_cannot_be_proven_and_an_rpc_outage_is_bridged_then_refused()
{
    const MAX_CHAIN_LAG_SECS: u64 = 3;
    let mut h = harness(|c| c.limits.max_chain_lag_secs = MAX_CHAIN_LAG_SECS).await;
    let c_max = h.c_max();
    // A deposit of exactly C_MAX pays one request; after a charge, a second one is insolvent.
    let mut user = h.deposit(31, u128::from(c_max)).await;
    let body = br#"{"messages":[{"role":"user","content":"one"}]}"#;
    let paid = user.pay(&h, CHAT, body);
    let response = h.send(CHAT, body, Some(&paid.envelope)).await;
    assert_eq!(response.status(), 200);
    user.apply(&h, &paid, &settlement_of(&response));
    let (insolvent, _) = user.inputs(&h, CHAT, body, now_bucket());
    assert!(
        h.request_prover.prove(insolvent.circom_inputs(4)).is_err(),
        "(n+1)·C_MAX > D + R has no witness"
    );
    // An expired note: no proof with now ≥ E exists, and an older now is refused by the clock.
    let (mut expired, _) = user.inputs(&h, CHAT, body, now_bucket());
    expired.now = user.expiry - user.expiry % 3_600 + 3_600;
    assert!(h.request_prover.prove(expired.circom_inputs(4)).is_err(), "now ≥ E has no witness");

    // The chain goes away: the node keeps serving against the roots it has, for at most
    // limits.max_chain_lag_secs after its last successful step.
    let mut other = h.deposit(32, u128::from(c_max) * 2).await;
    let body = br#"{"messages":[{"role":"user","content":"offline chain"}]}"#;
    let paid = other.pay(&h, CHAT, body);
    h.net.anvil.child_mut().kill().expect("anvil stops");
    let killed = std::time::Instant::now();
    assert!(h.node.sync_chain().await.is_err(), "the RPC is down");
    let response = h.send(CHAT, body, Some(&paid.envelope)).await;
    assert_eq!(response.status(), 200);
    other.apply(&h, &paid, &settlement_of(&response));
    let later = br#"{"messages":[{"role":"user","content":"still offline"}]}"#;
    let paid_later = other.pay(&h, CHAT, later);
    // Whole seconds on both sides of the comparison: wait well past the bound.
    let stale_after = Duration::from_secs(MAX_CHAIN_LAG_SECS + 2);
    tokio::time::sleep(stale_after.saturating_sub(killed.elapsed())).await;
    refused(h.send(CHAT, later, Some(&paid_later.envelope)).await, 503, "chain_stale").await;
    let health = h.http.get(h.url("/healthz")).send().await.expect("answer");
    assert_eq!(health.status(), 503);
    assert_eq!(json(health).await["status"], "stale");
    assert_eq!(h.upstream.calls.count(later), 0, "a stale node serves nothing");
    // The follower loop (every 200 ms here) counts its failed steps.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let metrics = metrics(&h).await;
    let errors: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("zkcredits_chain_errors_total "))
        .and_then(|v| v.parse().ok())
        .expect("chain error counter");
    assert!(errors >= 1, "{metrics}");
    h.node.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_charged_when_long_broken_or_unread() {
    let h = harness(|c| c.upstream.timeout_secs = 2).await;
    let c_max = h.c_max();
    let mut user = h.deposit(61, u128::from(c_max) * 10).await;
    // Four prompt bytes and five completion tokens at 1 and 3 cost 19: the first class.
    let usage_charge = c_max >> 7;

    // `x` binds the query too, on the chat route as on any other.
    let with_query = "/v1/chat/completions?trace=1";
    let plain = br#"{"messages":[{"content":"qery"}]}"#;
    let paid = user.pay(&h, with_query, plain);
    let response = h.send(with_query, plain, Some(&paid.envelope)).await;
    assert_eq!(response.status(), 200);
    user.apply(&h, &paid, &settlement_of(&response));

    // Longer than the upstream timeout, but never silent that long: relayed to its end and
    // charged by its usage (a total deadline used to cut it and charge nothing).
    let long =
        br#"{"messages":[{"content":"long"}],"stream":true,"chunks":6,"chunk_delay_ms":400}"#;
    let paid = user.pay(&h, CHAT, long);
    let text = h.send(CHAT, long, Some(&paid.envelope)).await.text().await.expect("whole stream");
    let settlement = streamed_settlement(&text);
    assert_eq!(settlement.charge, usage_charge);
    user.apply(&h, &paid, &settlement);

    // Broken off after content, before any usage: the provider paid for what was produced.
    let broken = br#"{"messages":[{"content":"cut!"}],"stream":true,"break_after":2}"#;
    let paid = user.pay(&h, CHAT, broken);
    let text = h.send(CHAT, broken, Some(&paid.envelope)).await.text().await.expect("relayed");
    let settlement = streamed_settlement(&text);
    assert_eq!(settlement.charge, c_max, "no usage came: C_MAX");
    user.apply(&h, &paid, &settlement);

    // A client that stops reading does not stop the metering: it is dropped, the upstream is
    // read to its end, and the settlement waits at /v1/settlements.
    let unread = br#"{"messages":[{"content":"mute"}],"stream":true,"chunks":300,"pad":65536}"#;
    let paid = user.pay(&h, CHAT, unread);
    let response = h.send(CHAT, unread, Some(&paid.envelope)).await;
    assert_eq!(response.status(), 200);
    let url = h.url(&format!("/v1/settlements/{}", fr_to_dec(&paid.envelope.statement.nullifier)));
    let settlement = loop {
        let answer = h.http.get(&url).send().await.expect("answer");
        if answer.status() == 200 {
            break Settlement::from_bytes(&answer.bytes().await.expect("body")).expect("JSON");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(settlement.charge, usage_charge);
    drop(response);
    user.apply(&h, &paid, &settlement);
    h.node.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_cannot_be_reached_costs_nothing() {
    // Nothing listens on port 9 of loopback.
    let h = harness(|c| c.upstream.url = "http://127.0.0.1:9".into()).await;
    let user = h.deposit(71, u128::from(h.c_max()) * 3).await;
    let body = br#"{"messages":[{"content":"anyone there?"}]}"#;
    let paid = user.pay(&h, CHAT, body);
    let response = h.send(CHAT, body, Some(&paid.envelope)).await;
    let settlement = settlement_of(&response);
    assert_eq!((settlement.charge, settlement.refund), (0, h.c_max()));
    refused(response, 502, "upstream_failed").await;
    h.node.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_slash_is_recorded_before_any_wait_replaced_with_higher_fees_and_confirmed_from_the_chain()
 {
    let h = harness(|c| c.chain.slash_replace_after_secs = 1).await;
    let mut alice = h.deposit(61, u128::from(h.c_max()) * 10).await;
    let before = alice.clone();
    let body = br#"{"messages":[{"content":"mine"}]}"#;
    let paid = alice.pay(&h, CHAT, body);
    let response = h.send(CHAT, body, Some(&paid.envelope)).await;
    assert_eq!(response.status(), 200);
    alice.apply(&h, &paid, &settlement_of(&response));

    // A congested chain: nothing is mined until we say so.
    h.net.set_automine(false).await.expect("automine off");
    let other = br#"{"messages":[{"content":"ticket 0 again"}]}"#;
    let cheat = before.pay(&h, CHAT, other);
    refused(h.send(CHAT, other, Some(&cheat.envelope)).await, 403, "double_spend").await;
    let submitted = |h: &Harness| {
        let slashes = h.node.store().slashes().expect("slashes");
        assert_eq!(slashes.len(), 1);
        match slashes[0].status {
            SlashStatus::Submitted {
                tx_hash,
                nonce,
                max_fee_per_gas,
                max_priority_fee_per_gas,
                ..
            } => (tx_hash, nonce, max_fee_per_gas, max_priority_fee_per_gas),
            ref other => panic!("expected a sent slash, found {other:?}"),
        }
    };
    // The transaction is on record while it waits in the pool.
    h.node.submit_slashes().await;
    let (first, nonce, fee, tip) = submitted(&h);
    let pending = h.net.provider.get_transaction_by_hash(first.into()).await.expect("rpc");
    assert!(pending.is_some_and(|tx| tx.block_number.is_none()), "sent and not mined");

    // Still unmined after `slash_replace_after_secs`: replaced, same nonce, fees 25 % higher.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    h.node.submit_slashes().await;
    let (replacement, same_nonce, higher_fee, higher_tip) = submitted(&h);
    assert_ne!(replacement, first);
    assert_eq!(same_nonce, nonce);
    assert!(higher_fee >= fee + fee / 4 && higher_tip >= tip + tip / 4, "{fee}->{higher_fee}");

    // The chain moves: whichever version is mined, the escrow's state says the slash landed,
    // and it is the node's own.
    h.net.set_automine(true).await.expect("automine on");
    h.net.mine().await.expect("mine");
    // Done once a batch removed the leaf and the node's own follower applied it.
    let status = h.until_slash_done(&alice.secret.commitment()).await;
    let SlashStatus::Done { tx_hash: Some(landed) } = status else {
        panic!("expected the slash done with the node's transaction, found {status:?}")
    };
    let receipt = h.net.provider.get_transaction_receipt(landed.into()).await.expect("rpc");
    assert!(receipt.is_some_and(|r| r.status()), "the recorded transaction is the one that landed");
    let record = h.net.escrow.deposit_record(alice.secret.commitment()).await.expect("record");
    assert_eq!((record.status, record.leaf), (4, 2), "Slashed, leaf Removed");
    h.node.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caught_identity_cannot_pay_with_new_tickets_before_its_leaf_is_removed() {
    // Without a wallet the node slashes nothing: the leaf stays in every root, as it does at
    // any node between a slash and its removal.
    let h = harness(|c| c.chain.wallet_key_file = std::path::PathBuf::new()).await;
    let mut alice = h.deposit(51, u128::from(h.c_max()) * 10).await;
    let before = alice.clone();
    let body = br#"{"messages":[{"content":"first"}]}"#;
    let paid = alice.pay(&h, CHAT, body);
    let response = h.send(CHAT, body, Some(&paid.envelope)).await;
    assert_eq!(response.status(), 200);
    alice.apply(&h, &paid, &settlement_of(&response));
    let other = br#"{"messages":[{"content":"ticket 0 again"}]}"#;
    let cheat = before.pay(&h, CHAT, other);
    refused(h.send(CHAT, other, Some(&cheat.envelope)).await, 403, "double_spend").await;

    // Her next ticket is fresh and her proof valid, but the node knows her secret now.
    let next = br#"{"messages":[{"content":"ticket 1"}]}"#;
    let paid = alice.pay(&h, CHAT, next);
    refused(h.send(CHAT, next, Some(&paid.envelope)).await, 403, "slashed_identity").await;
    assert_eq!(h.upstream.calls.count(next), 0);
    // Anyone else still pays.
    let bob = h.deposit(52, u128::from(h.c_max()) * 10).await;
    let paid = bob.pay(&h, CHAT, next);
    assert_eq!(h.send(CHAT, next, Some(&paid.envelope)).await.status(), 200);
    h.node.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_earlier_signer_root_is_re_signed_under_the_new_one_until_its_revocation_is_announced() {
    let first_root = signer_tree().root();
    let other = zkcredits_primitives::eddsa::PrivateKey::from_bytes([0x52; 32]);
    let key_entry = |key: &zkcredits_primitives::eddsa::PublicKey| {
        zkcredits_node::keys::public_key_to_string(key)
    };
    let next_set = vec![key_entry(&node_signer().public_key()), key_entry(&other.public_key())];
    let h = harness(|c| {
        c.signer.previous_roots = vec![fr_to_dec(&first_root)];
        c.signer.next_set = next_set;
    })
    .await;
    let c_max = u128::from(h.c_max());
    // Two users, each with a state signed under the first root.
    let mut users = Vec::new();
    for k in 41..43 {
        let mut user = h.deposit(k, c_max * 5).await;
        let body = format!(r#"{{"messages":[{{"content":"{k} before the rotation"}}]}}"#);
        let paid = user.pay(&h, CHAT, body.as_bytes());
        let response = h.send(CHAT, body.as_bytes(), Some(&paid.envelope)).await;
        assert_eq!(response.status(), 200);
        user.apply(&h, &paid, &settlement_of(&response));
        users.push(user);
    }
    let [mut alice, bob]: [_; 2] = users.try_into().expect("two users");

    // The operator rotates to the set the node was told of ahead: the node's key and another.
    let second = FixedMerkleTree::new(
        4,
        &[node_signer().public_key().signer_leaf(), other.public_key().signer_leaf()],
    )
    .expect("fits");
    h.net.escrow.set_signer_root(second.root()).await.expect("rotate");
    h.node.sync_chain().await.expect("sync");

    // Alice's state is under the first root: still taken, and the settlement moves her under
    // the second one, where her next request is proven.
    let body = br#"{"messages":[{"content":"alice after the rotation"}]}"#;
    let paid = alice.pay(&h, CHAT, body);
    assert_eq!(paid.envelope.statement.signer_root, first_root);
    let response = h.send(CHAT, body, Some(&paid.envelope)).await;
    assert_eq!(response.status(), 200);
    alice.apply_under(&h, &paid, &settlement_of(&response), &second);
    let body = br#"{"messages":[{"content":"alice under the second root"}]}"#;
    let paid = alice.pay(&h, CHAT, body);
    assert_eq!(paid.envelope.statement.signer_root, second.root());
    assert_eq!(h.send(CHAT, body, Some(&paid.envelope)).await.status(), 200);

    // The operator announces the first root's revocation: from then on the node takes no state
    // under it (it might be forged with a leaked key); Bob, who never moved, is refused and
    // exits under that root instead (the escrow accepts it for notes older than the revocation,
    // to the second: one passes first).
    h.net.provider.raw_request::<_, i64>("evm_increaseTime".into(), (1,)).await.expect("time");
    let receipt = h
        .net
        .escrow
        .instance()
        .revokeSignerRoot(zkcredits_chain::proof::fr_to_u256(&first_root))
        .send()
        .await
        .expect("revoke")
        .get_receipt()
        .await
        .expect("receipt");
    assert!(receipt.status());
    h.node.sync_chain().await.expect("sync");
    let body = br#"{"messages":[{"content":"bob after the revocation"}]}"#;
    let paid = bob.pay(&h, CHAT, body);
    refused(h.send(CHAT, body, Some(&paid.envelope)).await, 400, "wrong_signer_root").await;
    let (exit, proof) = bob.exit(&h, h.net.anvil.addresses()[5]);
    assert_eq!(exit.signer_root, first_root);
    h.net.escrow.request_exit(&exit, &proof).await.expect("bob exits under the revoked root");

    // The operator rotates the node out (a set of the other key alone): whatever it signed now
    // would be unusable, so it refuses payments, says so in /healthz and publishes no signers.
    let without_node = FixedMerkleTree::new(4, &[other.public_key().signer_leaf()]).expect("fits");
    h.net.escrow.set_signer_root(without_node.root()).await.expect("rotate");
    h.node.sync_chain().await.expect("sync");
    let body = br#"{"messages":[{"content":"alice after the node left the set"}]}"#;
    let paid = alice.pay(&h, CHAT, body);
    refused(h.send(CHAT, body, Some(&paid.envelope)).await, 503, "not_in_signer_set").await;
    let health = h.http.get(h.url("/healthz")).send().await.expect("health");
    assert_eq!(health.status(), 503);
    assert_eq!(json(health).await["status"], "not_in_signer_set");
    let info = json(h.http.get(h.url("/v1/info")).send().await.expect("info")).await;
    assert_eq!(info["payment"]["signers"], serde_json::json!([]));
    // Back in a configured set: payments resume.
    h.net.escrow.set_signer_root(second.root()).await.expect("rotate");
    h.node.sync_chain().await.expect("sync");
    let health = h.http.get(h.url("/healthz")).send().await.expect("health");
    assert_eq!(health.status(), 200);
    assert_eq!(json(health).await["role"], "provider");
    h.node.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_and_circuits_of_another_build_are_refused_at_start() {
    let net = common::devnet();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = common::node_config(&net, dir.path(), "http://127.0.0.1:9");
    let committed: Value =
        serde_json::from_slice(&std::fs::read(&config.circuits.manifest).expect("manifest"))
            .expect("JSON");
    // A manifest recording other hashes, as for keys from another setup.
    let start_with = |circuit: &str, field: &str| {
        let mut manifest = committed.clone();
        manifest[circuit][field] = "ab".repeat(32).into();
        let path = dir.path().join(format!("manifest-{circuit}-{field}.json"));
        std::fs::write(&path, manifest.to_string()).expect("writable");
        let mut config = config.clone();
        config.circuits.manifest = path;
        zkcredits_node::start(config)
    };
    for (circuit, field, named) in [
        ("request", "verification_key_sha256", "circuits.request_verifying_key"),
        ("slash", "verification_key_sha256", "slash.pk.bin does not match"),
        ("slash", "wasm_sha256", "slash.wasm does not match"),
    ] {
        let error = start_with(circuit, field).await.expect_err("refused").to_string();
        assert!(error.contains(named) && error.contains("ab".repeat(32).as_str()), "{error}");
    }
    let mut missing = config.clone();
    missing.circuits.manifest = dir.path().join("no-manifest.json");
    let error = zkcredits_node::start(missing).await.expect_err("refused").to_string();
    assert!(error.contains("circuits.manifest"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_mode_holds_pads_and_charges_one_fixed_class() {
    let h = harness(|c| {
        c.privacy.min_latency_ms = 400;
        c.privacy.latency_classes = true;
        c.privacy.jitter_ms = 50;
        c.privacy.pad_bytes = 512;
        c.pricing.fixed_charge = 300;
        c.pricing.fixed_max_tokens = 64;
    })
    .await;
    let c_max = h.c_max();
    let mut user = h.deposit(71, u128::from(c_max) * 10).await;
    let info = json(h.http.get(h.url("/v1/info")).send().await.expect("info")).await;
    assert_eq!(info["payment"]["pricing"]["fixedCharge"], "300");
    assert_eq!(info["payment"]["privacy"]["padBytes"], 512);
    assert_eq!(info["payment"]["privacy"]["minLatencyMs"], 400);

    // A plain answer: held past the floor, padded to whole 512-byte units, charged the fixed
    // class whatever its usage, and its request capped at 64 tokens upstream.
    let plain = br#"{"messages":[{"content":"a short question"}],"max_tokens":4000,"n":50}"#;
    let paid = user.pay(&h, CHAT, plain);
    let sent = std::time::Instant::now();
    let response = h.send(CHAT, plain, Some(&paid.envelope)).await;
    assert!(sent.elapsed() >= Duration::from_millis(400), "held to privacy.min_latency_ms");
    assert_eq!(response.status(), 200);
    let settlement = settlement_of(&response);
    assert_eq!(settlement.charge, 300);
    let body = response.bytes().await.expect("body");
    assert!(
        body.len().is_multiple_of(512) && (body.len() / 512).is_power_of_two(),
        "{}",
        body.len()
    );
    let answer: Value = serde_json::from_slice(&body).expect("still JSON");
    assert_eq!(answer["usage"]["completion_tokens"], 5);
    let upstream: Value =
        serde_json::from_slice(h.upstream.calls.all().last().expect("one call")).expect("JSON");
    assert_eq!(upstream["max_tokens"], 64, "the token cap went upstream");
    assert_eq!(upstream["n"], 1, "and one choice");
    user.apply(&h, &paid, &settlement);

    // A body the node cannot cap is not forwarded: refused, settled with a full refund.
    let unreadable = br#"{"messages":[],"max_tokens":100000,"x":NaN}"#;
    let paid = user.pay(&h, CHAT, unreadable);
    let response = h.send(CHAT, unreadable, Some(&paid.envelope)).await;
    let settlement = settlement_of(&response);
    assert_eq!(settlement.charge, 0);
    refused(response, 400, "malformed_body").await;
    assert_eq!(h.upstream.calls.count(unreadable), 0, "nothing went upstream");
    user.apply(&h, &paid, &settlement);

    // A stream: its first byte held too, then whole frames, the settlement event still last
    // but for the padding comment, and the same fixed charge.
    let streamed = br#"{"messages":[{"content":"a much much longer question, streamed"}],"stream":true,"chunks":3,"pad":700}"#;
    let paid = user.pay(&h, CHAT, streamed);
    let sent = std::time::Instant::now();
    let response = h.send(CHAT, streamed, Some(&paid.envelope)).await;
    let text = response.text().await.expect("whole stream");
    assert!(sent.elapsed() >= Duration::from_millis(400), "the first byte is held too");
    assert!(
        text.len().is_multiple_of(512) && (text.len() / 512).is_power_of_two(),
        "{}",
        text.len()
    );
    assert!(text.trim_end_matches(' ').ends_with('\n'));
    let padding = text.rsplit("\n\n").next().expect("the padding");
    assert!(padding.lines().all(|l| l.starts_with(':') && l[1..].trim().is_empty()), "{padding:?}");
    let settlement = streamed_settlement(&text);
    assert_eq!(settlement.charge, 300, "no refund tells the answer's length");
    user.apply(&h, &paid, &settlement);
    h.node.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_releases_answers_held_for_privacy() {
    // A hold far longer than the shutdown grace.
    let h = harness(|c| {
        c.privacy.min_latency_ms = 60_000;
        c.limits.shutdown_grace_secs = 5;
    })
    .await;
    let user = h.deposit(72, u128::from(h.c_max()) * 10).await;
    let body = br#"{"messages":[{"content":"held"}]}"#;
    let paid = user.pay(&h, CHAT, body);
    let url = h.url(CHAT);
    let (http, envelope) = (h.http.clone(), paid.envelope.encode());
    let call = tokio::spawn(async move {
        http.post(url)
            .header("content-type", "application/json")
            .header("zkcredits-payment", envelope)
            .body(body.to_vec())
            .send()
            .await
    });
    // Shut down once the answer is held (the upstream has answered).
    while h.upstream.calls.count(body) == 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.node.shutdown().await.expect("shut down within its grace, the held answer released");
    let response = call.await.expect("task").expect("answered");
    assert_eq!(response.status(), 200);
    assert!(settlement_of(&response).charge > 0, "served and settled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_waits_while_the_fees_are_above_its_ceiling() {
    use zkcredits_node::batcher::BatchPass;
    let h = harness(|_| {}).await;
    let identity = zkcredits_primitives::identity::Secret::new(Fr::from(91u64)).expect("non-zero");
    let amount = alloy::primitives::U256::from(u128::from(h.c_max()) * 2);
    h.net.escrow.deposit(identity.commitment(), amount).await.expect("deposit");
    h.node.sync_chain().await.expect("sync");
    // One wei: anvil's fee estimate never falls that low (EIP-1559 stops lowering the base fee
    // at 7 wei).
    let frugal = common::updater_with_fee_ceiling(&h.net, std::sync::Arc::clone(h.node.store()), 1);
    let pass = frugal.pass().await.expect("pass");
    assert!(matches!(&pass, BatchPass::NotReady(why) if why.contains("fee ceiling")), "{pass:?}");
    let (_, size, queued) = h.net.escrow.tree().await.expect("tree");
    assert_eq!(size + 1, queued, "nothing was sent");
    // Under the default ceiling the same deposit goes in.
    let pass = h.updater.pass().await.expect("batch");
    assert_eq!(pass, BatchPass::Inserted { start: size, count: 1, removed: false });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_appends_a_condemned_queued_note_only_with_its_removal() {
    let h = harness(|_| {}).await;
    let c_max = u128::from(h.c_max());
    let scope = h.scope();
    let slasher = h.net.anvil.addresses()[PAYOUT_ACCOUNT];
    let slash_prover = common::Prover::load("slash");
    let slash = |secret: zkcredits_primitives::identity::Secret| {
        let statement = zkcredits_prover::inputs::SlashInputs {
            secret,
            receiver: zkcredits_primitives::field::fr_from_be_bytes_mod_order(slasher.as_slice()),
            scope,
        };
        let (proof, _) = slash_prover.prove(statement.circom_inputs()).expect("slash proof");
        let escrow = &h.net.escrow;
        async move { escrow.slash(secret.commitment(), slasher, &proof).await.expect("slash") }
    };
    // A's leaf is in the tree and condemned first: the removal queue's head.
    let alice = h.deposit(81, c_max * 2).await;
    slash(alice.secret).await;
    // B and C wait in the queue; C is condemned second, before any batch appended it.
    let deposit = |k: u64| {
        let identity = zkcredits_primitives::identity::Secret::new(Fr::from(k)).expect("non-zero");
        let escrow = &h.net.escrow;
        async move {
            escrow
                .deposit(identity.commitment(), alloy::primitives::U256::from(c_max * 2))
                .await
                .expect("deposit")
                .event
        }
    };
    deposit(82).await;
    let carol_event = deposit(83).await;
    slash(zkcredits_primitives::identity::Secret::new(Fr::from(83u64)).expect("non-zero")).await;
    h.node.sync_chain().await.expect("sync");

    // The batch removes A and stops before C, which is not the head: C never enters a root
    // with its leaf.
    use zkcredits_node::batcher::BatchPass;
    let first = h.updater.pass().await.expect("batch");
    assert_eq!(first, BatchPass::Inserted { start: 1, count: 1, removed: true });
    let second = h.updater.pass().await.expect("batch");
    assert_eq!(second, BatchPass::Inserted { start: 2, count: 1, removed: true });
    h.node.sync_chain().await.expect("sync");
    let leaves = h.node.store().leaves().expect("leaves");
    let carol_index = carol_event.leafIndex.to::<usize>();
    assert_eq!(carol_index, 2);
    assert_eq!(leaves.len(), 3);
    assert_eq!(leaves[0], Fr::from(0u64), "A removed");
    assert_ne!(leaves[1], Fr::from(0u64), "B appended");
    assert_eq!(leaves[carol_index], Fr::from(0u64), "C appended already zeroed");
    assert_eq!(h.updater.pass().await.expect("pass"), BatchPass::Idle);
    h.node.shutdown().await.expect("clean shutdown");
}
