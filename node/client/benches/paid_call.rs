//! What a paid call costs on the client's side (`make bench-client`): proving the ticket and
//! journaling it, then checking the settlement and storing the new state, against a real node
//! on anvil (both on the same two cores). Calls go one at a time through one note, each from
//! the state the previous settlement signed. `ZKCREDITS_CLIENT_CALLS` sets how many (200).

#[path = "../../node/tests/common/mod.rs"]
mod common;

use common::fixed::{bench_main, env_usize, ms, percentile};
use std::time::Duration;
use zkcredits_client::{
    ApiRequest, Artifacts, Client,
    wallet::{ChainSettings, Wallet},
};

fn main() {
    bench_main(run);
}

fn summary(name: &str, mut values: Vec<Duration>) {
    values.sort_unstable();
    println!(
        "{name:<44} p50 {:>7.2} ms   p99 {:>7.2} ms",
        ms(percentile(&values, 0.5)),
        ms(percentile(&values, 0.99))
    );
}

async fn run() {
    let calls = env_usize("ZKCREDITS_CLIENT_CALLS", 200);
    let h = common::harness(|_| {}).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wallet.json");
    Wallet::create(
        &path,
        ChainSettings::of_deployment(h.net.anvil.endpoint(), &h.net.deployment, 0),
    )
    .expect("wallet");
    let client = Client::open(&path, Artifacts::in_checkout(&common::workspace())).expect("client");
    let payer = h.net.anvil.keys()[3].clone().into();
    let deposit = u128::from(h.c_max()) * (calls as u128 + 10);
    client.deposit(payer, deposit, 1).await.expect("deposit");
    h.node.sync_chain().await.expect("sync");
    client.preload().expect("prover");

    let request = |i: usize| {
        ApiRequest::post_json(
            "/v1/chat/completions",
            format!(r#"{{"model":"m","messages":[{{"role":"user","content":"call {i}"}}]}}"#)
                .into_bytes(),
        )
    };
    for i in 0..5 {
        client.pay(&h.node.url(), &request(i), Some(0)).await.expect("warm-up call");
    }
    let (mut prove, mut settle, mut added, mut round_trip) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..calls {
        let paid = client.pay(&h.node.url(), &request(100 + i), Some(0)).await.expect("paid");
        let t = paid.timings;
        prove.push(t.prove);
        settle.push(t.settle);
        added.push(t.prove + t.settle);
        round_trip.push(t.round_trip);
    }
    println!("{calls} paid calls, one at a time, one note:");
    summary("client: prove + journal (fsync)", prove);
    summary("client: settlement check + store (fsync)", settle);
    summary("client: added per call (both)", added);
    summary("node + upstream: round trip", round_trip);
}
