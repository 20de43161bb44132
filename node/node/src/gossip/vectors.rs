//! `spec/vectors/gossip.json`: a node with the vectors' view (escrow, signer set, applied
//! roots) on real RocksDB and a real swarm judges each message in order, as spec/06 says.

use super::{Gossip, GossipSettings};
use crate::{
    Metrics,
    config::{LimitsConfig, PricingConfig, UpstreamConfig},
    pipeline::{Deployed, Inflight, NodeState, SignerSet},
    pricing::Pricing,
    slasher::{SlashTiming, Slasher},
    throttle::{AddressCounter, RequestLimiter},
    upstream::Upstream,
    verify::VerificationPool,
};
use serde_json::Value;
use std::{
    sync::{Arc, OnceLock, RwLock, atomic::AtomicU64},
    time::Duration,
};
use tokio_util::task::TaskTracker;
use zkcredits_p2p::{Keypair, P2pConfig, PeerId};
use zkcredits_primitives::{
    Fr,
    babyjubjub::Point,
    eddsa::{PrivateKey, PublicKey},
    field::fr_from_dec,
};
use zkcredits_prover::{Verifier, encoding::verifying_key_from_json};
use zkcredits_storage::{RocksStorage, Storage};

fn field(v: &Value) -> Fr {
    fr_from_dec(v.as_str().expect("decimal string")).expect("field element")
}

fn bytes(v: &Value) -> Vec<u8> {
    alloy::hex::decode(v.as_str().expect("hex")).expect("hex")
}

/// A node state with `view`'s escrow, signer set (this node holds the first key) and roots.
fn node_state(view: &Value, store: Arc<dyn Storage>, tasks: &TaskTracker) -> Arc<NodeState> {
    let scope = field(&view["scope"]);
    let c_max: u64 = view["c_max"].as_str().expect("decimal").parse().expect("u64");
    let keys: Vec<PublicKey> = view["signer_keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| PublicKey(Point::new(field(&k["x"]), field(&k["y"])).expect("point")))
        .collect();
    let signer_root = field(&view["signer_root"]);
    let metrics = Arc::new(Metrics::default());
    let key_json: Value = serde_json::from_str(include_str!(
        "../../../../circuits/artifacts/request/verification_key.json"
    ))
    .expect("verifying key JSON");
    let verifier = Verifier::new(&verifying_key_from_json(&key_json).expect("verifying key"));
    let deployed = Deployed {
        chain_id: 31_337,
        escrow: alloy::primitives::Address::ZERO,
        token: alloy::primitives::Address::ZERO,
        scope,
        c_max,
    };
    let slasher = Arc::new(Slasher::new(
        Arc::clone(&store),
        "http://127.0.0.1:1".into(),
        deployed.escrow,
        None,
        SlashTiming {
            confirmations: 0,
            receipt_wait: Duration::ZERO,
            replace_after: Duration::from_secs(60),
            max_fee_per_gas: 0,
            holdoff: Duration::ZERO,
            rank_among: None,
        },
        Arc::clone(&metrics),
    ));
    let upstream = Upstream::new(&UpstreamConfig {
        url: "http://127.0.0.1:1".into(),
        ..UpstreamConfig::default()
    })
    .expect("upstream client");
    let state = Arc::new(NodeState {
        provider_id: Fr::from(1u64),
        deployed,
        signer: PrivateKey::from_bytes([0x61; 32]),
        signer_sets: vec![SignerSet { root: signer_root, keys }],
        active_signer_set: RwLock::new(None),
        pricing: Pricing::new(&PricingConfig::default(), c_max),
        mitigations: crate::privacy::Mitigations::default(),
        limits: LimitsConfig::default(),
        store,
        pool: VerificationPool::start(verifier, 1, 16, 4, Arc::clone(&metrics)),
        metrics,
        slasher,
        upstream,
        signer_root: RwLock::new(Fr::from(0u64)),
        previous_signer_roots: RwLock::default(),
        roots: RwLock::default(),
        known_roots: RwLock::new(
            view["applied_roots"].as_array().expect("roots").iter().map(field).collect(),
        ),
        gossip: OnceLock::new(),
        passive: false,
        chain_synced_at: AtomicU64::new(0),
        inflight: Inflight::default(),
        throttle: RequestLimiter::new(50, 200),
        paid_slots: Arc::new(tokio::sync::Semaphore::new(16)),
        paid_per_ip: Arc::new(AddressCounter::default()),
        tasks: tasks.clone(),
        releasing: tokio_util::sync::CancellationToken::new(),
    });
    state.observe_signer_root(signer_root);
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_gossip_vector_gets_its_judgement_in_order() {
    let v: Value = serde_json::from_str(include_str!("../../../../spec/vectors/gossip.json"))
        .expect("vector JSON");
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Storage> =
        Arc::new(RocksStorage::open(&dir.path().join("data"), false).expect("RocksDB"));
    let tasks = TaskTracker::new();
    let state = node_state(&v["node"], Arc::clone(&store), &tasks);
    let (client, _events, _swarm) =
        zkcredits_p2p::start(P2pConfig::new(Keypair::generate_ed25519(), "zkcredits/vectors"))
            .await
            .expect("swarm");
    let fraction = v["node"]["verify_fraction"].as_f64().expect("fraction");
    let gossip = Arc::new(Gossip::new(
        Arc::clone(&state),
        client.clone(),
        false,
        GossipSettings {
            verify_fraction: fraction,
            max_held: 16,
            hold: Duration::from_secs(60),
            // The vectors' times are fixed: none is too old, whenever they run.
            retention_secs: u64::MAX / 2,
            max_judging: 16,
            serve_hold: Duration::ZERO,
        },
    ));
    let authors: Vec<PeerId> = v["authors"]
        .as_array()
        .expect("authors")
        .iter()
        .map(|a| PeerId::from_bytes(&bytes(a)).expect("peer id"))
        .collect();
    for step in v["steps"].as_array().expect("steps") {
        let author =
            authors[usize::try_from(step["author"].as_u64().expect("index")).expect("small")];
        let judgement = gossip.judge(author, &bytes(&step["message"])).await;
        assert_eq!(judgement.reason(), step["reason"], "{}", step["name"]);
        assert_eq!(judgement.verdict_label(), step["verdict"], "{}", step["name"]);
    }
    let slashed = field(&v["slashed_identity"]);
    assert!(store.slash(&slashed).expect("read").is_some(), "the double spend is recorded");
    client.shutdown().await;
}

#[test]
fn the_settlement_question_and_its_answers_decode_to_the_vectors() {
    use super::{SettlementAnswer, SettlementQuestion};
    use crate::settlement::Settlement;
    let v: Value = serde_json::from_str(include_str!("../../../../spec/vectors/gossip.json"))
        .expect("vector JSON");
    let q = &v["settlement_question"];
    let question = SettlementQuestion { nullifier: field(&q["nullifier"]), x: field(&q["x"]) };
    assert_eq!(SettlementQuestion::decode(&bytes(&q["bytes"])), Ok(question));
    assert_eq!(question.encode(), bytes(&q["bytes"]));
    let settlement = Settlement::from_json(&q["settlement"]).expect("settlement");
    let anon = Point::new(field(&q["anon"]["x"]), field(&q["anon"]["y"])).expect("point");
    let scope = field(&v["node"]["scope"]);
    let c_max: u64 = v["node"]["c_max"].as_str().expect("decimal").parse().expect("u64");
    settlement
        .verify(&question.nullifier, &anon, &scope, c_max)
        .expect("the settlement checks out");
    let expected = [
        SettlementAnswer::Settled(Box::new(settlement)),
        SettlementAnswer::InProgress,
        SettlementAnswer::NotTaken,
    ];
    for (answer, expected) in q["answers"].as_array().expect("answers").iter().zip(expected) {
        assert_eq!(SettlementAnswer::decode(&bytes(&answer["bytes"])), Ok(expected.clone()));
        assert_eq!(expected.encode(), bytes(&answer["bytes"]), "{}", answer["answer"]);
    }
}
