//! Prometheus metrics, served at `/metrics` in the text exposition format.

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Task {
    task: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Judged {
    verdict: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

/// Every metric the node exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    served: Counter,
    replayed: Counter,
    rejected: Family<Reason, Counter>,
    upstream_failures: Counter,
    verification_seconds: Histogram,
    batch_size: Histogram,
    slashes: Family<Outcome, Counter>,
    inserted_batches: Family<Outcome, Counter>,
    chain_block: Gauge,
    chain_errors: Counter,
    connections_refused: Family<Reason, Counter>,
    verify_worker_restarts: Counter,
    task_restarts: Family<Task, Counter>,
    gossip_messages: Family<Judged, Counter>,
    gossip_published: Family<Outcome, Counter>,
    gossip_peers: Gauge,
    gossip_held: Gauge,
    settlements_asked: Family<Outcome, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("zkcredits");
        let served = Counter::default();
        let replayed = Counter::default();
        let rejected = Family::<Reason, Counter>::default();
        let upstream_failures = Counter::default();
        let verification_seconds = Histogram::new(exponential_buckets(0.000_25, 2.0, 12));
        let batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 8));
        let slashes = Family::<Outcome, Counter>::default();
        let inserted_batches = Family::<Outcome, Counter>::default();
        let chain_block = Gauge::default();
        let chain_errors = Counter::default();
        let connections_refused = Family::<Reason, Counter>::default();
        let verify_worker_restarts = Counter::default();
        let task_restarts = Family::<Task, Counter>::default();
        let gossip_messages = Family::<Judged, Counter>::default();
        let gossip_published = Family::<Outcome, Counter>::default();
        let gossip_peers = Gauge::default();
        let gossip_held = Gauge::default();
        let settlements_asked = Family::<Outcome, Counter>::default();
        registry.register("requests_served", "Paid requests served and settled", served.clone());
        registry.register(
            "requests_replayed",
            "Requests answered with a stored settlement",
            replayed.clone(),
        );
        registry.register(
            "requests_rejected",
            "Refused requests by reason (spec/05)",
            rejected.clone(),
        );
        registry.register(
            "upstream_failures",
            "Upstream calls that failed (settled with a full refund)",
            upstream_failures.clone(),
        );
        registry.register(
            "proof_verification_seconds",
            "Time per verification batch",
            verification_seconds.clone(),
        );
        registry.register("proof_batch_size", "Proofs per verification batch", batch_size.clone());
        registry.register("slashes", "Slashes by outcome", slashes.clone());
        registry.register(
            "deposit_batches",
            "Deposit batches this node proved, by outcome",
            inserted_batches.clone(),
        );
        registry.register(
            "chain_block",
            "The newest block applied from the chain",
            chain_block.clone(),
        );
        registry.register(
            "chain_errors",
            "Failed chain synchronisation steps",
            chain_errors.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections closed at accept, by the cap they hit",
            connections_refused.clone(),
        );
        registry.register(
            "verify_worker_restarts",
            "Verification threads started again after one died",
            verify_worker_restarts.clone(),
        );
        registry.register(
            "task_restarts",
            "Background tasks (chain, slasher) started again after a panic",
            task_restarts.clone(),
        );
        registry.register(
            "gossip_messages",
            "Gossiped share messages by verdict and reason (spec/06)",
            gossip_messages.clone(),
        );
        registry.register(
            "gossip_published",
            "Shares this node published, by outcome",
            gossip_published.clone(),
        );
        registry.register(
            "gossip_peers",
            "Peers connected on the share network",
            gossip_peers.clone(),
        );
        registry.register(
            "gossip_held",
            "Gossiped shares held until the chain follower applies their root",
            gossip_held.clone(),
        );
        registry.register(
            "settlements_asked",
            "Replays' settlements asked of the provider node that served them, by outcome",
            settlements_asked.clone(),
        );
        Self {
            registry,
            served,
            replayed,
            rejected,
            upstream_failures,
            verification_seconds,
            batch_size,
            slashes,
            inserted_batches,
            chain_block,
            chain_errors,
            connections_refused,
            verify_worker_restarts,
            task_restarts,
            gossip_messages,
            gossip_published,
            gossip_peers,
            gossip_held,
            settlements_asked,
        }
    }
}

impl Metrics {
    /// A gossiped message judged: `verdict` accept, ignore or reject, for `reason`.
    pub fn gossip_judged(&self, verdict: &'static str, reason: &'static str) {
        self.gossip_messages.get_or_create(&Judged { verdict, reason }).inc();
    }

    /// A share published (`published`) or not (`no_peers`, `failed`).
    pub fn gossip_published(&self, outcome: &'static str) {
        self.gossip_published.get_or_create(&Outcome { outcome }).inc();
    }

    /// A replay's settlement asked of the node that served it: `settled`, `in_progress`,
    /// `not_taken`, `not_provider_peer`, `busy` (too many questions open), `unanswered` or
    /// `invalid`.
    pub fn settlement_asked(&self, outcome: &'static str) {
        self.settlements_asked.get_or_create(&Outcome { outcome }).inc();
    }

    /// A peer connected (`+1`) or left (`-1`).
    pub fn gossip_peers(&self, change: i64) {
        self.gossip_peers.inc_by(change);
    }

    /// How many shares are held for roots not applied yet.
    pub fn gossip_held(&self, held: usize) {
        self.gossip_held.set(i64::try_from(held).unwrap_or(i64::MAX));
    }

    /// A served request.
    pub fn served(&self) {
        self.served.inc();
    }

    /// A request answered from the settlement store.
    pub fn replayed(&self) {
        self.replayed.inc();
    }

    /// A refused request.
    pub fn rejected(&self, reason: &'static str) {
        self.rejected.get_or_create(&Reason { reason }).inc();
    }

    /// An upstream failure.
    pub fn upstream_failed(&self) {
        self.upstream_failures.inc();
    }

    /// One verification batch.
    pub fn verified(&self, proofs: usize, seconds: f64) {
        self.batch_size.observe(proofs as f64);
        self.verification_seconds.observe(seconds);
    }

    /// A slash reached `outcome` (`detected`, `submitted`, `landed`, `removed`, `failed`).
    pub fn slash(&self, outcome: &'static str) {
        self.slashes.get_or_create(&Outcome { outcome }).inc();
    }

    /// A deposit batch this node proved reached `outcome` (`inserted`, `stale`, `failed`).
    pub fn deposit_batch(&self, outcome: &'static str) {
        self.inserted_batches.get_or_create(&Outcome { outcome }).inc();
    }

    /// The chain follower applied `block`.
    pub fn chain_block(&self, block: u64) {
        self.chain_block.set(i64::try_from(block).unwrap_or(i64::MAX));
    }

    /// A chain step failed.
    pub fn chain_error(&self) {
        self.chain_errors.inc();
    }

    /// A connection closed at accept: `reason` is the cap it hit.
    pub fn connection_refused(&self, reason: &'static str) {
        self.connections_refused.get_or_create(&Reason { reason }).inc();
    }

    /// A verification thread died and was started again.
    pub fn verify_worker_restarted(&self) {
        self.verify_worker_restarts.inc();
    }

    /// The background task `task` panicked and was started again.
    pub fn task_restarted(&self, task: &'static str) {
        self.task_restarts.get_or_create(&Task { task }).inc();
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The metric names a PromQL expression reads (`zkcredits_…`, sample suffixes stripped).
    fn metrics_read(expr: &str) -> Vec<String> {
        expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|token| token.starts_with("zkcredits_"))
            .map(|token| {
                ["_total", "_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| token.strip_suffix(suffix))
                    .unwrap_or(token)
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn the_dashboard_queries_only_exported_metrics_and_shows_every_one() {
        // A labelled family is exported once it has a child.
        let metrics = Metrics::default();
        metrics.rejected("any");
        metrics.slash("any");
        metrics.connection_refused("any");
        metrics.task_restarted("any");
        metrics.gossip_judged("any", "any");
        metrics.gossip_published("any");
        let exported: HashSet<String> = metrics
            .encode()
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .filter_map(|line| line.split_whitespace().next())
            .map(str::to_owned)
            .collect();
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../grafana/zkcredits-node.json")).expect("JSON");
        let mut shown = HashSet::new();
        for panel in dashboard["panels"].as_array().expect("panels") {
            let targets = panel["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "panel {} queries nothing", panel["title"]);
            for target in targets {
                let expr = target["expr"].as_str().expect("expr");
                let read = metrics_read(expr);
                assert!(!read.is_empty(), "panel {} reads no zkcredits metric", panel["title"]);
                for name in read {
                    assert!(
                        exported.contains(&name),
                        "panel {} reads {name}, not exported",
                        panel["title"]
                    );
                    shown.insert(name);
                }
            }
        }
        let missing: Vec<_> = exported.difference(&shown).collect();
        assert!(missing.is_empty(), "metrics no panel shows: {missing:?}");
    }
}
