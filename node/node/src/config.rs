//! The node's configuration: a TOML file (`node.example.toml` lists every key with its
//! default), every key optional, validated once at start.

use crate::NodeError;
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, path::PathBuf};
use zkcredits_primitives::{Fr, constants::TAG_EXIT, field::fr_from_dec};

/// Everything a node is told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Address of the HTTP API.
    pub listen: SocketAddr,
    /// RocksDB data directory.
    pub data_dir: PathBuf,
    /// `providerId`, decimal: names this provider inside every request's `x`.
    pub provider_id: String,
    /// The escrow and the chain.
    pub chain: ChainConfig,
    /// Proving and sending deposit batches.
    pub batcher: BatcherConfig,
    /// The key that signs settlements and the set it belongs to.
    pub signer: SignerConfig,
    /// Circuit artifacts.
    pub circuits: CircuitsConfig,
    /// The provider's API the node fronts.
    pub upstream: UpstreamConfig,
    /// What requests cost.
    pub pricing: PricingConfig,
    /// Bounds on requests and on the work done per request.
    pub limits: LimitsConfig,
    /// Metadata mitigations (spec/10).
    pub privacy: PrivacyConfig,
    /// The share network (spec/06).
    pub p2p: P2pConfig,
}

/// The share network: libp2p gossip of every accepted share between the nodes of an escrow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct P2pConfig {
    /// Whether the node joins the share network. Without it, a ticket can be spent once at
    /// every other node before anyone notices.
    pub enabled: bool,
    /// A passive slasher (`zkcredits slasher --watch`): it joins the share network, judges
    /// every share, slashes what two shares reveal, publishes nothing and takes no payments.
    /// It reads no signer key (`signer.key_file` is ignored), needs `chain.wallet_key_file`,
    /// and its `signer.set` must list the escrow's signer keys (to check who publishes).
    pub passive: bool,
    /// Where to listen, as multiaddrs.
    pub listen: Vec<String>,
    /// Peers dialled at start, as multiaddrs ending in `/p2p/<peer id>`.
    pub bootstrap: Vec<String>,
    /// The peer ids of this provider's other nodes: a node holding a replayed request's share
    /// only from one of them asks it for the settlement (spec/06 §Replays at another node),
    /// and answers their questions. Nobody else is asked or answered.
    pub provider_peers: Vec<String>,
    /// The node's libp2p key (its peer id), created on first start. Empty: `p2p.key` in
    /// `data_dir`.
    pub key_file: PathBuf,
    /// The fraction of shares from bound publishers whose proof is checked, from 0 to 1: a
    /// 2-core node checks ~2,500 proofs a second, and a sampled invalid proof convicts its
    /// publisher (spec/06 §Scale).
    pub verify_fraction: f64,
    /// Shares held until the chain follower applies their root, at most.
    pub max_held_shares: usize,
    /// Seconds a share is held for its root before it is dropped.
    pub hold_secs: u64,
    /// Gossiped shares judged at once, at most; beyond, new ones are ignored.
    pub max_judging: usize,
    /// Messages one peer may send per second before the rest are ignored.
    pub messages_per_peer_per_sec: u32,
    /// Messages one peer may send at once after a quiet spell.
    pub message_burst: u32,
    /// Milliseconds a paid request waits, its share published, before the upstream is called:
    /// a share of the same ticket spent at another node that arrives meanwhile stops it
    /// before any work is done (spec/07). 0: no wait (a conflict still stops the upstream
    /// call or the stream in flight).
    pub gossip_hold_ms: u64,
    /// Seconds each rank waits before it slashes what several nodes detected: the first in
    /// a ticket's order slashes at once, the next after this long if the slash has not
    /// landed, and so on (spec/07).
    pub slash_holdoff_secs: u64,
}

impl Default for P2pConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            passive: false,
            listen: vec!["/ip4/0.0.0.0/tcp/7788".into()],
            bootstrap: Vec::new(),
            provider_peers: Vec::new(),
            key_file: PathBuf::new(),
            verify_fraction: 0.05,
            max_held_shares: 16_384,
            hold_secs: 600,
            max_judging: 1_024,
            messages_per_peer_per_sec: 10_000,
            message_burst: 20_000,
            gossip_hold_ms: 0,
            slash_holdoff_secs: 15,
        }
    }
}

/// The escrow and the chain it lives on. `Debug` shows the RPC endpoint's scheme and host only:
/// hosted endpoints carry their API key in the path or the query.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChainConfig {
    /// JSON-RPC endpoint.
    pub rpc_url: String,
    /// The deployment file `script/Deploy.s.sol` wrote.
    pub deployment: PathBuf,
    /// Blocks behind the head before the node applies a block.
    pub confirmations: u64,
    /// How often the node polls the chain.
    pub poll_interval_ms: u64,
    /// Most blocks read per `eth_getLogs`.
    pub max_range: u64,
    /// File holding the hex private key of the account that sends slashes. Empty: slashes are
    /// recorded but not sent.
    pub wallet_key_file: PathBuf,
    /// Receives slash bounties. Empty: the wallet's address.
    pub payout_address: String,
    /// Seconds a slash transaction may stay unmined before it is replaced with the same nonce
    /// and fees 25 % higher.
    pub slash_replace_after_secs: u64,
    /// The highest `maxFeePerGas` a slash (or a replacement) offers, in gwei. A deposit batch
    /// offers at most half of it, and waits while the fees are above that.
    pub max_fee_per_gas_gwei: u64,
}

/// Proving and sending deposit batches (`insertBatch`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatcherConfig {
    /// Whether the node proves and sends batches, from `chain.wallet_key_file`.
    pub enabled: bool,
    /// Insert once this many deposits wait (1 to 64).
    pub min_batch: u64,
    /// Insert whatever waits once the oldest deposit has waited this long, in seconds.
    pub max_delay_secs: u64,
}

impl Default for BatcherConfig {
    fn default() -> Self {
        Self { enabled: false, min_batch: 64, max_delay_secs: 300 }
    }
}

/// The settlement signer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignerConfig {
    /// The key file `zkcredits keys signer new` wrote.
    pub key_file: PathBuf,
    /// Every key of the signer set, in the escrow's signer-tree order, as `"x,y"` decimals.
    /// Empty: the set is this node's key alone.
    pub set: Vec<String>,
    /// The set the operator will rotate to (`setSignerRoot`), in the same form, when it is
    /// known ahead: the node takes payments under whichever of `set` and `next_set` has the
    /// escrow's current root, so a rotation needs no restart. Empty: none. At every chain step
    /// the node checks the escrow's root; when it is neither set's, the node's settlements may
    /// be unusable and it refuses payments (`not_in_signer_set`) until configured again.
    pub next_set: Vec<String>,
    /// Earlier signer roots (decimal) whose states this node still takes after a rotation, so
    /// users move their refunds under the current root with their next request. Each is dropped
    /// as soon as the operator announces its revocation (`revokeSignerRoot`). Empty: only the
    /// current root.
    pub previous_roots: Vec<String>,
}

/// Circuit artifacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CircuitsConfig {
    /// The artifact manifest the keys and the slash circuit must match.
    pub manifest: PathBuf,
    /// The request circuit's verifying key (snarkjs JSON).
    pub request_verifying_key: PathBuf,
    /// Directory with the compiled circuits (`slash_js/slash.wasm`, `slash.r1cs`).
    pub build_dir: PathBuf,
    /// The slash proving key: a `.pk.bin` from `zkcredits circuits setup`, or a ceremony `.zkey`.
    pub slash_proving_key: PathBuf,
    /// The deposit batch proving key, in the same forms (read only with `batcher.enabled`).
    pub batch_insert_proving_key: PathBuf,
}

/// The upstream API. `Debug` never shows the API key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Base URL; request paths are appended (`/v1/chat/completions`).
    pub url: String,
    /// Bearer token sent upstream. Empty: none. Prefer the `ZKCREDITS_UPSTREAM_API_KEY`
    /// environment variable.
    pub api_key: String,
    /// Seconds the upstream may stay silent: to connect (at most 10), before a plain answer is
    /// complete, and between two chunks of a stream (a long stream is never cut while it
    /// flows). An upstream that could not be reached costs nothing; one that took the request
    /// and then failed or fell silent costs `C_MAX` (spec/05).
    pub timeout_secs: u64,
}

/// Prices in token base units. A request's cost is rounded up to the smallest bucket that
/// covers it, and is at most `C_MAX`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PricingConfig {
    /// Charged for every request.
    pub per_request: u64,
    /// Per prompt token of the upstream's `usage`.
    pub per_prompt_token: u64,
    /// Per completion token of the upstream's `usage`.
    pub per_completion_token: u64,
    /// Charge classes in increasing order, each at most `C_MAX`. Empty: `C_MAX/128, C_MAX/64, …,
    /// C_MAX/2, C_MAX`. Fewer classes leak fewer bits about a request through its refund.
    pub buckets: Vec<u64>,
    /// The upstream routes `/proxy/{path}` forwards, each with its price. Nothing else is
    /// forwarded: every proxied call runs under the provider's upstream credentials.
    pub proxy: Vec<ProxyRoute>,
    /// Fixed-class mode (0: off): every chat call the upstream answers is charged this (capped
    /// at `C_MAX`), or the class its usage costs when that is more (a long prompt), so the
    /// charge and the refund say nothing about most requests. Needs `fixed_max_tokens`, and must
    /// cover `per_request + fixed_max_tokens × per_completion_token`. Costs the user the
    /// difference on short answers (spec/10).
    pub fixed_charge: u64,
    /// With `fixed_charge`: the most tokens a chat answer may have; `max_tokens` (and
    /// `max_completion_tokens`) of every chat request are lowered to it, or set when absent.
    pub fixed_max_tokens: u64,
}

/// One upstream route clients may call through `/proxy`, and what a call costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyRoute {
    /// The HTTP method, upper case.
    pub method: String,
    /// The upstream path, without `/proxy` and without the query (`/v1/embeddings`).
    pub path: String,
    /// Charged for every call, in token base units, plus the price of the `usage` a JSON answer
    /// reports; rounded up to a charge class.
    #[serde(default)]
    pub price: u64,
    /// Answers must report `usage`: one that does not is charged `C_MAX`.
    #[serde(default)]
    pub metered: bool,
    /// Says that a route with price 0 that is not metered is meant to be free.
    #[serde(default)]
    pub free: bool,
}

/// Metadata mitigations (spec/10): each trades latency or bytes for less that an answer's
/// timing and size say about its request. All off by default.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// No paid answer (nor a stream's first byte) leaves earlier than this many milliseconds
    /// after its request arrived (0: off). Costs a fast answer up to this much latency.
    pub min_latency_ms: u64,
    /// Hold each answer on to the next of `min_latency_ms` × 1, 2, 4, 8, …, so its latency
    /// tells only its class. Needs `min_latency_ms`. Costs up to twice an answer's latency.
    pub latency_classes: bool,
    /// Then a further uniform random delay of up to this many milliseconds (0: off). Costs every
    /// answer half of it on average.
    pub jitter_ms: u64,
    /// Answers padded to a size class, the smallest of this many bytes × 1, 2, 4, … that holds
    /// them: plain JSON answers with spaces, streams with comment lines, relayed in frames of
    /// exactly this many bytes (0: off; else 64 to 65,536). Costs up to twice an answer's
    /// bytes.
    pub pad_bytes: usize,
}

/// Bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Largest payment header accepted.
    pub max_envelope_bytes: usize,
    /// Length of the public time's rounding (`TIME_BUCKET`).
    pub time_bucket_secs: u64,
    /// How far the node's clock may be from a request's time bucket.
    pub clock_tolerance_secs: u64,
    /// Roots accepted: the newest this many, cut at the last leaf removal.
    pub root_window: usize,
    /// Paid requests are refused (`chain_stale`) when the last successful chain step is older
    /// than this: a node that no longer sees exits, slashes and removals must not keep signing.
    pub max_chain_lag_secs: u64,
    /// Proofs waiting for verification before requests are refused as overloaded.
    pub verify_queue: usize,
    /// Threads verifying proofs. 0: one per core.
    pub verify_workers: usize,
    /// Most proofs checked in one batch.
    pub verify_batch: usize,
    /// Wait for the disk on every accepted request (survives power loss, costs an fsync).
    pub sync_writes: bool,
    /// Open connections at most; one more is closed at once.
    pub max_connections: usize,
    /// Open connections from one client address (an IPv6 /64 counts as one) at most (0: no
    /// cap; behind a reverse proxy every connection has its address).
    pub max_connections_per_ip: usize,
    /// Seconds a connection has to send a request's headers, and the longest it may sit idle
    /// between requests.
    pub header_read_timeout_secs: u64,
    /// Seconds a paid request's body has to arrive, once its payment header passed.
    pub body_read_timeout_secs: u64,
    /// Seconds a client may leave the node's answer unread before its connection is closed.
    pub send_timeout_secs: u64,
    /// Paid requests being checked or served at once; beyond, `overloaded` (503). Bounds the
    /// memory of buffered bodies and plain answers to this times `max_body_bytes` plus
    /// `max_response_bytes`.
    pub max_paid_in_flight: usize,
    /// Paid requests one client address may have in flight (0: no cap).
    pub max_paid_in_flight_per_ip: usize,
    /// Paid requests one client address may start per second, sustained (0: no limit; behind a
    /// reverse proxy every request has the proxy's address: limit there instead).
    pub requests_per_ip_per_sec: u64,
    /// Paid requests one client address may start at once after a quiet spell.
    pub requests_per_ip_burst: u64,
    /// Requests a client address loses from its allowance for each request that passed the
    /// payment checks and then failed: a proof that does not verify or decode, a body that
    /// does not arrive in time or does not match `x`. Junk costs its sender, never the paying
    /// clients.
    pub invalid_proof_penalty: u64,
    /// Largest upstream answer buffered for a plain (not streamed) response; a larger one is
    /// refused (`upstream_failed`, charged `C_MAX`: the upstream did the work).
    pub max_response_bytes: usize,
    /// Seconds shutdown waits for open requests and relays to finish.
    pub shutdown_grace_secs: u64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7787)),
            data_dir: PathBuf::from("zkcredits-data"),
            provider_id: "1".into(),
            chain: ChainConfig::default(),
            batcher: BatcherConfig::default(),
            signer: SignerConfig::default(),
            circuits: CircuitsConfig::default(),
            upstream: UpstreamConfig::default(),
            pricing: PricingConfig::default(),
            limits: LimitsConfig::default(),
            privacy: PrivacyConfig::default(),
            p2p: P2pConfig::default(),
        }
    }
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            rpc_url: "http://127.0.0.1:8545".into(),
            deployment: PathBuf::from("deployments/31337.json"),
            confirmations: 2,
            poll_interval_ms: 1_000,
            max_range: 2_000,
            wallet_key_file: PathBuf::new(),
            payout_address: String::new(),
            slash_replace_after_secs: 60,
            max_fee_per_gas_gwei: 500,
        }
    }
}

impl Default for SignerConfig {
    fn default() -> Self {
        Self {
            key_file: PathBuf::from("keys/signer.json"),
            set: Vec::new(),
            next_set: Vec::new(),
            previous_roots: Vec::new(),
        }
    }
}

impl CircuitsConfig {
    /// The artifacts of a checkout at `root` whose circuits and dev keys `make keys` built into
    /// `build` (`root/build` unless `ZKCREDITS_BUILD_DIR` moved it).
    pub fn in_checkout(root: &std::path::Path, build: &std::path::Path) -> Self {
        Self {
            manifest: root.join("circuits/artifacts/manifest.json"),
            request_verifying_key: root.join("circuits/artifacts/request/verification_key.json"),
            build_dir: build.join("circuits/main"),
            slash_proving_key: build.join("keys/slash.pk.bin"),
            batch_insert_proving_key: build.join("keys/batch_insert.pk.bin"),
        }
    }
}

impl Default for CircuitsConfig {
    fn default() -> Self {
        Self::in_checkout(std::path::Path::new(""), std::path::Path::new("build"))
    }
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self { url: "http://127.0.0.1:8000".into(), api_key: String::new(), timeout_secs: 300 }
    }
}

impl Default for PricingConfig {
    fn default() -> Self {
        Self {
            per_request: 0,
            per_prompt_token: 1,
            per_completion_token: 3,
            buckets: Vec::new(),
            proxy: Vec::new(),
            fixed_charge: 0,
            fixed_max_tokens: 0,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            max_envelope_bytes: 4 << 10,
            time_bucket_secs: zkcredits_primitives::constants::DEFAULT_TIME_BUCKET,
            clock_tolerance_secs: 300,
            root_window: 32,
            max_chain_lag_secs: 120,
            verify_queue: 1_024,
            verify_workers: 0,
            verify_batch: 16,
            sync_writes: false,
            max_connections: 1_024,
            max_connections_per_ip: 64,
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 10,
            send_timeout_secs: 30,
            max_paid_in_flight: 256,
            max_paid_in_flight_per_ip: 32,
            requests_per_ip_per_sec: 50,
            requests_per_ip_burst: 200,
            invalid_proof_penalty: 50,
            max_response_bytes: 16 << 20,
            shutdown_grace_secs: 30,
        }
    }
}

impl std::fmt::Debug for ChainConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainConfig")
            .field("rpc_url", &redact_url(&self.rpc_url))
            .field("deployment", &self.deployment)
            .field("confirmations", &self.confirmations)
            .field("poll_interval_ms", &self.poll_interval_ms)
            .field("max_range", &self.max_range)
            .field("wallet_key_file", &self.wallet_key_file)
            .field("payout_address", &self.payout_address)
            .field("slash_replace_after_secs", &self.slash_replace_after_secs)
            .field("max_fee_per_gas_gwei", &self.max_fee_per_gas_gwei)
            .finish()
    }
}

impl std::fmt::Debug for UpstreamConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamConfig")
            .field("url", &redact_url(&self.url))
            .field("api_key", &if self.api_key.is_empty() { "" } else { "<redacted>" })
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

/// `scheme://host[:port]` of `url`, with `/…` when it had more: credentials ride in the user
/// part, the path or the query of hosted endpoints.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    // Credentials end at the last `@`, even when they hold an unescaped `/`.
    let rest = rest.rsplit_once('@').map_or(rest, |(_, after)| after);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..authority_end];
    let more =
        if authority_end < rest.len() && &rest[authority_end..] != "/" { "/…" } else { "" };
    if scheme.is_empty() { format!("{host}{more}") } else { format!("{scheme}://{host}{more}") }
}

/// `message` with every occurrence of `url` (as configured, or as an HTTP client prints it, with
/// a trailing `/`) shown as [`redact_url`] shows it: transport errors quote the endpoint, and a
/// hosted endpoint's key rides in it.
pub fn scrub_url(message: &str, url: &str) -> String {
    if url.is_empty() {
        return message.to_owned();
    }
    let shown = redact_url(url);
    let with_slash = format!("{}/", url.trim_end_matches('/'));
    message.replace(&with_slash, &shown).replace(url, &shown)
}

/// Upstream paths with their own metered endpoint, never forwarded by `/proxy`.
const METERED_PATHS: [&str; 1] = ["/v1/chat/completions"];

impl NodeConfig {
    fn check_proxy_routes(&self) -> Result<(), NodeError> {
        let invalid = |reason: String| NodeError::ConfigValue { key: "pricing.proxy", reason };
        let mut seen = std::collections::HashSet::new();
        for route in &self.pricing.proxy {
            let name = format!("{} {}", route.method, route.path);
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&route.method.as_str()) {
                return Err(invalid(format!(
                    "{name}: the method must be GET, POST, PUT, PATCH or DELETE"
                )));
            }
            if !route.path.starts_with('/')
                || route.path.contains(['?', '#', '%'])
                || route.path.contains("..")
            {
                return Err(invalid(format!(
                    "{name}: the path must start with / and hold no query, fragment, `%` or `..`"
                )));
            }
            // Compared as an upstream may route it: case, doubled and trailing slashes aside.
            let parts = |path: &str| -> Vec<String> {
                path.split('/')
                    .filter(|part| !part.is_empty())
                    .map(str::to_ascii_lowercase)
                    .collect()
            };
            if METERED_PATHS.iter().any(|metered| parts(metered) == parts(&route.path)) {
                return Err(invalid(format!(
                    "{name}: this path has its own metered endpoint; clients call it there"
                )));
            }
            if route.price == 0 && !route.metered && !route.free {
                return Err(invalid(format!(
                    "{name} would cost nothing: set a price, `metered = true`, or `free = true` if it is meant to be free"
                )));
            }
            if !seen.insert((route.method.as_str(), route.path.as_str())) {
                return Err(invalid(format!("{name} is listed twice")));
            }
        }
        Ok(())
    }

    /// Reads and validates a config file.
    pub fn load(path: &std::path::Path) -> Result<Self, NodeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| NodeError::ConfigRead { path: path.to_owned(), source })?;
        let config: Self = toml::from_str(&text)
            .map_err(|e| NodeError::ConfigParse { path: path.to_owned(), reason: e.to_string() })?;
        config.validate()?;
        Ok(config)
    }

    fn check_privacy(&self) -> Result<(), NodeError> {
        let pricing = &self.pricing;
        if (pricing.fixed_charge == 0) != (pricing.fixed_max_tokens == 0) {
            return Err(NodeError::ConfigValue {
                key: "pricing.fixed_charge",
                reason: "fixed-class mode needs both pricing.fixed_charge and pricing.fixed_max_tokens (a fixed price without a token cap would sell unbounded answers); set both or neither".into(),
            });
        }
        let covered = u128::from(pricing.per_request)
            + u128::from(pricing.per_completion_token) * u128::from(pricing.fixed_max_tokens);
        if pricing.fixed_charge != 0 && u128::from(pricing.fixed_charge) < covered {
            return Err(NodeError::ConfigValue {
                key: "pricing.fixed_charge",
                reason: format!(
                    "must cover per_request + fixed_max_tokens x per_completion_token = {covered}, or a capped answer would cost more than its charge"
                ),
            });
        }
        let privacy = &self.privacy;
        if privacy.latency_classes && privacy.min_latency_ms == 0 {
            return Err(NodeError::ConfigValue {
                key: "privacy.latency_classes",
                reason: "the classes are doublings of privacy.min_latency_ms: set it too".into(),
            });
        }
        if privacy.pad_bytes != 0 && !(64..=1 << 16).contains(&privacy.pad_bytes) {
            return Err(NodeError::ConfigValue {
                key: "privacy.pad_bytes",
                reason: format!("must be 0 (off) or 64 to 65536, got {}", privacy.pad_bytes),
            });
        }
        // A stream's upstream is not read while its first byte is held: keep the hold well
        // inside the upstream's silence limit.
        let hold = privacy.min_latency_ms.saturating_add(privacy.jitter_ms);
        let most = self.upstream.timeout_secs.saturating_mul(500).min(60_000);
        if hold > most {
            return Err(NodeError::ConfigValue {
                key: "privacy.min_latency_ms",
                reason: format!(
                    "min_latency_ms + jitter_ms is {hold} ms; it must be at most {most} ms (half of upstream.timeout_secs, and at most a minute)"
                ),
            });
        }
        Ok(())
    }

    /// Checks every value that parsing cannot.
    pub fn validate(&self) -> Result<(), NodeError> {
        self.provider_id()?;
        let limits = &self.limits;
        let positive = [
            ("limits.max_body_bytes", limits.max_body_bytes as u64),
            ("limits.max_envelope_bytes", limits.max_envelope_bytes as u64),
            ("limits.time_bucket_secs", limits.time_bucket_secs),
            ("limits.root_window", limits.root_window as u64),
            ("limits.max_chain_lag_secs", limits.max_chain_lag_secs),
            ("limits.verify_queue", limits.verify_queue as u64),
            ("limits.verify_batch", limits.verify_batch as u64),
            ("limits.max_connections", limits.max_connections as u64),
            ("limits.header_read_timeout_secs", limits.header_read_timeout_secs),
            ("limits.body_read_timeout_secs", limits.body_read_timeout_secs),
            ("limits.send_timeout_secs", limits.send_timeout_secs),
            ("limits.max_paid_in_flight", limits.max_paid_in_flight as u64),
            ("limits.max_response_bytes", limits.max_response_bytes as u64),
            ("chain.poll_interval_ms", self.chain.poll_interval_ms),
            ("chain.max_range", self.chain.max_range),
            ("chain.slash_replace_after_secs", self.chain.slash_replace_after_secs),
            ("chain.max_fee_per_gas_gwei", self.chain.max_fee_per_gas_gwei),
            ("upstream.timeout_secs", self.upstream.timeout_secs),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(NodeError::ConfigValue { key, reason: "must be at least 1".into() });
            }
        }
        let batch_size = zkcredits_primitives::constants::BATCH_INSERT_SIZE as u64;
        if !(1..=batch_size).contains(&self.batcher.min_batch) {
            return Err(NodeError::ConfigValue {
                key: "batcher.min_batch",
                reason: format!("must be 1 to {batch_size}, the most one batch inserts"),
            });
        }
        if self.batcher.enabled && self.chain.wallet_key_file.as_os_str().is_empty() {
            return Err(NodeError::ConfigValue {
                key: "batcher.enabled",
                reason: "sending batches needs a wallet: set chain.wallet_key_file too".into(),
            });
        }
        if self.batcher.enabled && self.chain.max_range <= self.chain.confirmations {
            return Err(NodeError::ConfigValue {
                key: "chain.max_range",
                reason: format!(
                    "must exceed chain.confirmations ({}) when batching: the batcher reads the blocks above the confirmed ones in one query",
                    self.chain.confirmations
                ),
            });
        }
        if limits.max_chain_lag_secs.saturating_mul(1_000) <= self.chain.poll_interval_ms {
            return Err(NodeError::ConfigValue {
                key: "limits.max_chain_lag_secs",
                reason: format!(
                    "must be longer than chain.poll_interval_ms ({} ms), or every request between two polls would be refused",
                    self.chain.poll_interval_ms
                ),
            });
        }
        if !self.pricing.buckets.windows(2).all(|w| w[0] < w[1]) {
            return Err(NodeError::ConfigValue {
                key: "pricing.buckets",
                reason: "charge classes must be strictly increasing".into(),
            });
        }
        self.check_proxy_routes()?;
        self.check_privacy()?;
        let p2p = &self.p2p;
        if p2p.passive && !p2p.enabled {
            return Err(NodeError::ConfigValue {
                key: "p2p.passive",
                reason: "a passive slasher lives on the share network: set p2p.enabled too (zkcredits slasher --watch does)".into(),
            });
        }
        if !(0.0..=1.0).contains(&p2p.verify_fraction) {
            return Err(NodeError::ConfigValue {
                key: "p2p.verify_fraction",
                reason: format!("must be between 0 and 1, got {}", p2p.verify_fraction),
            });
        }
        for (key, value) in [
            ("p2p.max_held_shares", p2p.max_held_shares as u64),
            ("p2p.hold_secs", p2p.hold_secs),
            ("p2p.max_judging", p2p.max_judging as u64),
            ("p2p.messages_per_peer_per_sec", u64::from(p2p.messages_per_peer_per_sec)),
            ("p2p.message_burst", u64::from(p2p.message_burst)),
        ] {
            if value == 0 {
                return Err(NodeError::ConfigValue { key, reason: "must be at least 1".into() });
            }
        }
        for (key, value, most) in [
            ("p2p.hold_secs", p2p.hold_secs, 86_400),
            ("p2p.max_held_shares", p2p.max_held_shares as u64, 65_536),
            ("p2p.slash_holdoff_secs", p2p.slash_holdoff_secs, 3_600),
            ("p2p.gossip_hold_ms", p2p.gossip_hold_ms, 60_000),
            ("limits.root_window", limits.root_window as u64, 1_024),
        ] {
            if value > most {
                return Err(NodeError::ConfigValue {
                    key,
                    reason: format!("must be at most {most}"),
                });
            }
        }
        for (key, addresses) in [("p2p.listen", &p2p.listen), ("p2p.bootstrap", &p2p.bootstrap)] {
            for address in addresses {
                if address.parse::<zkcredits_p2p::Multiaddr>().is_err() {
                    return Err(NodeError::ConfigValue {
                        key,
                        reason: format!(
                            "`{address}` is not a multiaddr (e.g. /ip4/10.0.0.2/tcp/7788/p2p/12D3Koo…)"
                        ),
                    });
                }
            }
        }
        for peer in &p2p.provider_peers {
            if peer.parse::<zkcredits_p2p::PeerId>().is_err() {
                return Err(NodeError::ConfigValue {
                    key: "p2p.provider_peers",
                    reason: format!(
                        "`{peer}` is not a peer id (a node prints its own at start: `joined the share network peer_id=12D3Koo…`)"
                    ),
                });
            }
        }
        if !(self.upstream.url.starts_with("http://") || self.upstream.url.starts_with("https://"))
        {
            return Err(NodeError::ConfigValue {
                key: "upstream.url",
                reason: format!("`{}` is not an http(s) URL", self.upstream.url),
            });
        }
        Ok(())
    }

    /// The parsed `provider_id`.
    pub fn provider_id(&self) -> Result<Fr, NodeError> {
        let id = fr_from_dec(&self.provider_id).map_err(|_| NodeError::ConfigValue {
            key: "provider_id",
            reason: format!("`{}` is not a canonical decimal field element", self.provider_id),
        })?;
        if id == Fr::from(0u64) || id == Fr::from(TAG_EXIT) {
            return Err(NodeError::ConfigValue {
                key: "provider_id",
                reason: "must be neither 0 nor TAG_EXIT (spec/01)".into(),
            });
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_valid_and_lists_the_defaults() {
        let example: NodeConfig =
            toml::from_str(include_str!("../../../node.example.toml")).expect("example parses");
        example.validate().expect("example is valid");
        assert_eq!(example, NodeConfig::default());
        let empty: NodeConfig = toml::from_str("").expect("every key is optional");
        assert_eq!(empty, NodeConfig::default());
    }

    #[test]
    fn debug_shows_no_credentials() {
        let mut config = NodeConfig::default();
        config.chain.rpc_url = "https://user:pw@rpc.example/v3/0123456789abcdef?key=k".into();
        config.upstream.url = "https://api.example/v1?token=t0k".into();
        config.upstream.api_key = "sk-very-secret".into();
        let shown = format!("{config:?}");
        for secret in ["pw", "0123456789abcdef", "key=k", "t0k", "sk-very-secret"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("https://rpc.example/…") && shown.contains("<redacted>"), "{shown}");
        assert_eq!(redact_url("http://127.0.0.1:8545"), "http://127.0.0.1:8545");
        assert_eq!(redact_url("https://user:p/ss@host/k"), "https://host/…");
        let url = "https://rpc.example/v3/KEY";
        let error = "error sending request for url (https://rpc.example/v3/KEY/)";
        assert_eq!(scrub_url(error, url), "error sending request for url (https://rpc.example/…)");
    }

    #[test]
    fn bad_values_say_which_key() {
        let cases = [
            ("provider_id = \"0\"", "provider_id"),
            ("provider_id = \"0x1\"", "provider_id"),
            ("[limits]\nroot_window = 0", "limits.root_window"),
            ("[limits]\nmax_chain_lag_secs = 0", "limits.max_chain_lag_secs"),
            (
                "[limits]\nmax_chain_lag_secs = 2\n[chain]\npoll_interval_ms = 2000",
                "limits.max_chain_lag_secs",
            ),
            ("[pricing]\nbuckets = [5, 5]", "pricing.buckets"),
            ("[p2p]\npassive = true", "p2p.passive"),
            ("[p2p]\nverify_fraction = 1.5", "p2p.verify_fraction"),
            ("[p2p]\nslash_holdoff_secs = 4000", "p2p.slash_holdoff_secs"),
            ("[batcher]\nmin_batch = 0", "batcher.min_batch"),
            ("[batcher]\nmin_batch = 65", "batcher.min_batch"),
            ("[batcher]\nenabled = true", "batcher.enabled"),
            (
                "[batcher]\nenabled = true\n[chain]\nwallet_key_file = \"w.hex\"\nconfirmations = 2000",
                "chain.max_range",
            ),
            ("[p2p]\nbootstrap = [\"10.0.0.1:7788\"]", "p2p.bootstrap"),
            ("[p2p]\nprovider_peers = [\"10.0.0.1\"]", "p2p.provider_peers"),
            ("[[pricing.proxy]]\nmethod = \"GET\"\npath = \"/v1/models\"", "free"),
            (
                "[[pricing.proxy]]\nmethod = \"POST\"\npath = \"/v1/chat/completions\"\nprice = 9",
                "own metered endpoint",
            ),
            ("[[pricing.proxy]]\nmethod = \"get\"\npath = \"/v1/models\"\nfree = true", "method"),
            ("[[pricing.proxy]]\nmethod = \"GET\"\npath = \"/v1/m?x=1\"\nfree = true", "query"),
            (
                "[[pricing.proxy]]\nmethod = \"POST\"\npath = \"//V1/Chat/completions/\"\nprice = 9",
                "own metered endpoint",
            ),
            ("[[pricing.proxy]]\nmethod = \"GET\"\npath = \"/v1/%63hat\"\nfree = true", "`%`"),
            (
                "[[pricing.proxy]]\nmethod = \"GET\"\npath = \"/m\"\nprice = 1\n[[pricing.proxy]]\nmethod = \"GET\"\npath = \"/m\"\nprice = 2",
                "listed twice",
            ),
            ("[upstream]\nurl = \"localhost:80\"", "upstream.url"),
            ("[pricing]\nfixed_charge = 64", "pricing.fixed_charge"),
            ("[pricing]\nfixed_charge = 100\nfixed_max_tokens = 64", "must cover"),
            ("[pricing]\nfixed_max_tokens = 64", "pricing.fixed_charge"),
            ("[privacy]\npad_bytes = 8", "privacy.pad_bytes"),
            ("[privacy]\nlatency_classes = true", "privacy.latency_classes"),
            ("[privacy]\nmin_latency_ms = 50000\njitter_ms = 20000", "at most 60000 ms"),
            ("[privacy]\nmin_latency_ms = 900\n[upstream]\ntimeout_secs = 1", "at most 500 ms"),
        ];
        for (text, key) in cases {
            let config: NodeConfig = toml::from_str(text).expect(text);
            let err = config.validate().expect_err(text).to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
        let unknown = toml::from_str::<NodeConfig>("[limits]\nroot_windw = 3");
        assert!(unknown.expect_err("typo").to_string().contains("root_windw"));
    }
}
