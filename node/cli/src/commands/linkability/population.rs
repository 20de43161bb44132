//! The simulated users and what a provider observes of their calls under one setting of the
//! mitigations. Every mitigation is the node's or the client's own code: the charge classes
//! and the fixed class ([`Pricing`]), the answer hold ([`Mitigations::release_at`]), the
//! answer padding and stream framing, the client's delay and request padding.

use super::Setting;
use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::{Duration, Instant};
use zkcredits_client::{ApiRequest, PrivacyOptions};
use zkcredits_node::{
    config::{PricingConfig, PrivacyConfig},
    pricing::{Pricing, Usage},
    privacy::Mitigations,
};

/// `C_MAX` of the simulated deployment, in base units: with one unit per prompt token and
/// three per completion token, the users' calls spread over all eight default classes.
pub(super) const C_MAX: u64 = 16_384;
/// Fixed-class mode: the charge and the token cap.
pub(super) const FIXED_CHARGE: u64 = C_MAX / 4;
pub(super) const FIXED_MAX_TOKENS: u64 = 1_024;
const HOUR: f64 = 3_600.0;
const DAY: f64 = 24.0 * HOUR;
/// Tor keeps a circuit for new connections this long (MaxCircuitDirtiness).
const CIRCUIT_SECS: f64 = 600.0;
/// Exit relays a circuit may leave by.
const EXITS: u64 = 1_000;
/// An idle kept connection is closed after this long (reqwest's default pool timeout).
const KEEP_ALIVE_SECS: f64 = 90.0;

/// A standard normal sample (Box–Muller).
fn normal(rng: &mut impl Rng) -> f64 {
    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
    let v: f64 = rng.gen_range(0.0..1.0);
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

fn exponential(rng: &mut impl Rng, mean: f64) -> f64 {
    -mean * rng.gen_range(f64::EPSILON..1.0).ln()
}

/// How one user uses the API: the features a provider could cluster on.
#[derive(Debug, Clone)]
pub(super) struct Profile {
    /// The hour of day around which the user's sessions start, and their spread in hours.
    peak_hour: f64,
    spread_hours: f64,
    sessions_per_day: f64,
    /// Mean calls in a session and the mean pause between two, in seconds.
    calls_per_session: f64,
    think_secs: f64,
    /// Median prompt and completion tokens (log-normal).
    prompt_tokens: f64,
    completion_tokens: f64,
    stream_share: f64,
}

impl Profile {
    fn draw(rng: &mut impl Rng) -> Self {
        Self {
            peak_hour: rng.gen_range(0.0..24.0),
            spread_hours: rng.gen_range(1.0..4.0),
            sessions_per_day: rng.gen_range(0.5..3.0),
            calls_per_session: rng.gen_range(2.0..8.0),
            think_secs: rng.gen_range(15.0..180.0),
            prompt_tokens: (rng.gen_range(40f64.ln()..2_500f64.ln())).exp(),
            completion_tokens: (rng.gen_range(15f64.ln()..900f64.ln())).exp(),
            stream_share: rng.gen_range(0.0..1.0),
        }
    }
}

/// One call as the user makes it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Call {
    pub user: usize,
    /// When the user's software asks for it, in seconds from the start.
    pub at: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub stream: bool,
    /// The user's previous call was at most five minutes before: its prefix is in the
    /// upstream's cache, and the first token comes sooner.
    pub cached: bool,
}

/// The users and their calls, fixed by the seed for every setting.
#[derive(Debug, Clone)]
pub(super) struct Population {
    pub users: usize,
    pub calls: Vec<Call>,
    /// Each user's first call.
    pub first_call: Vec<f64>,
}

impl Population {
    pub(super) fn simulate(users: usize, days: u32, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut calls = Vec::new();
        for user in 0..users {
            let profile = Profile::draw(&mut rng);
            let mut mine = Vec::new();
            for day in 0..days {
                let sessions =
                    (profile.sessions_per_day + rng.gen_range(-0.5..0.5)).round().max(0.0);
                for _ in 0..sessions as usize {
                    let hour = (profile.peak_hour + profile.spread_hours * normal(&mut rng))
                        .rem_euclid(24.0);
                    let mut at = f64::from(day) * DAY + hour * HOUR;
                    let n =
                        1 + exponential(&mut rng, profile.calls_per_session - 1.0).round() as usize;
                    for _ in 0..n.min(40) {
                        let draw = |rng: &mut ChaCha8Rng, median: f64, sigma: f64| {
                            (median * (sigma * normal(rng)).exp()).round().max(1.0) as u64
                        };
                        mine.push(Call {
                            user,
                            at,
                            prompt_tokens: draw(&mut rng, profile.prompt_tokens, 0.5),
                            completion_tokens: draw(&mut rng, profile.completion_tokens, 0.6),
                            stream: rng.gen_bool(profile.stream_share),
                            cached: false,
                        });
                        at += exponential(&mut rng, profile.think_secs) + 2.0;
                    }
                }
            }
            // Every user calls at least once.
            if mine.is_empty() {
                let at = profile.peak_hour * HOUR;
                mine.push(Call {
                    user,
                    at,
                    prompt_tokens: profile.prompt_tokens.round() as u64,
                    completion_tokens: profile.completion_tokens.round() as u64,
                    stream: profile.stream_share > 0.5,
                    cached: false,
                });
            }
            mine.sort_by(|a, b| a.at.total_cmp(&b.at));
            for i in 1..mine.len() {
                mine[i].cached = mine[i].at - mine[i - 1].at <= 300.0;
            }
            calls.extend(mine);
        }
        calls.sort_by(|a, b| a.at.total_cmp(&b.at).then(a.user.cmp(&b.user)));
        let mut first_call = vec![f64::INFINITY; users];
        for call in &calls {
            first_call[call.user] = first_call[call.user].min(call.at);
        }
        Self { users, calls, first_call }
    }
}

/// What the provider's node records of one call (and what crosses the network to it).
#[derive(Debug, Clone, Copy)]
pub(super) struct Observation {
    /// Arrival, in seconds from the start.
    pub arrival: f64,
    /// The address the call came from (the user's own, or a Tor exit).
    pub source: u64,
    /// The connection it came on.
    pub connection: u64,
    pub request_bytes: u64,
    pub answer_bytes: u64,
    pub charge: u64,
    /// A plain answer's latency, or a stream's time to its first byte.
    pub first_byte: f64,
    /// A stream's time from its first byte to its last; 0 for a plain answer.
    pub streaming: f64,
    pub stream: bool,
    /// Token counts the upstream reports: seen by a provider that runs the model.
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// What the mitigations cost under one setting, averaged over the calls.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Costs {
    /// Seconds each call waits longer than it would without the mitigations.
    pub added_latency: f64,
    /// Charged over what the exact price would be, as a fraction.
    pub overcharge: f64,
    /// Bytes on the wire over the unpadded ones, as a fraction.
    pub extra_bytes: f64,
    /// Calls whose answer the token cap cut short, as a fraction.
    pub truncated: f64,
}

/// The bytes of a chat request for `prompt_tokens` (about four per token, and the JSON).
fn request_bytes(prompt_tokens: u64) -> usize {
    (4 * prompt_tokens + 220) as usize
}

/// Bytes of event stream per generated token (one event per token, as OpenAI streams).
const STREAM_BYTES_PER_TOKEN: usize = 30;
/// The upstream's generation speed.
const TOKENS_PER_SEC: f64 = 45.0;

/// The bytes of a plain answer, and of a stream (one event per token, the usage event and
/// the settlement event).
fn answer_bytes(completion_tokens: u64, stream: bool) -> usize {
    if stream {
        STREAM_BYTES_PER_TOKEN * completion_tokens as usize + 260 + 620
    } else {
        (4 * completion_tokens + 420) as usize
    }
}

/// The upstream's time to the first token, and to generate the rest.
fn upstream_times(call: &Call, completion_tokens: u64, rng: &mut impl Rng) -> (f64, f64) {
    let prefill = call.prompt_tokens as f64 / 6_000.0 * if call.cached { 0.3 } else { 1.0 };
    let first = 0.06 + prefill + 0.01 * normal(rng).abs();
    (first, completion_tokens as f64 / TOKENS_PER_SEC)
}

/// The observations of every call of `population` under `setting`, and their costs.
pub(super) fn observe(
    population: &Population,
    setting: &Setting,
    seed: u64,
) -> (Vec<Observation>, Costs) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6f62_7365_7276_6573);
    let classes = if setting.exact_charges {
        PricingConfig { buckets: (1..=C_MAX).collect(), ..PricingConfig::default() }
    } else {
        PricingConfig::default()
    };
    let pricing_config = if setting.fixed_class {
        PricingConfig { fixed_charge: FIXED_CHARGE, fixed_max_tokens: FIXED_MAX_TOKENS, ..classes }
    } else {
        classes
    };
    let pricing = Pricing::new(&pricing_config, C_MAX);
    let node = Mitigations::new(&PrivacyConfig {
        min_latency_ms: setting.min_latency_ms,
        latency_classes: setting.latency_classes,
        jitter_ms: setting.jitter_ms,
        pad_bytes: setting.node_pad_bytes,
    });
    let client = PrivacyOptions {
        max_delay: Duration::from_millis(setting.client_delay_ms),
        socks5: None,
        circuit_per_call: false,
        pad_bytes: setting.client_pad_bytes,
    };
    let origin = Instant::now();
    let at = |secs: f64| origin + Duration::from_secs_f64(secs.max(0.0));
    let since = |instant: Instant| instant.duration_since(origin).as_secs_f64();
    // Per user: the phase of its circuits, its kept connection and when it was last used.
    let phases: Vec<f64> =
        (0..population.users).map(|_| rng.gen_range(0.0..CIRCUIT_SECS)).collect();
    let mut kept: Vec<(u64, f64)> = vec![(u64::MAX, f64::NEG_INFINITY); population.users];
    let mut next_connection = 0u64;
    let mut observations = Vec::with_capacity(population.calls.len());
    let mut costs = Costs::default();
    let (mut exact_total, mut charged_total, mut raw_bytes, mut wire_bytes) = (0.0, 0.0, 0.0, 0.0);
    for call in &population.calls {
        let delay = client.delay(&mut rng).as_secs_f64();
        let arrival = call.at + delay + if setting.tor { 0.4 } else { 0.03 };
        let source = if setting.circuit_per_call {
            rng.gen_range(0..EXITS)
        } else if setting.tor {
            let circuit = ((call.at + phases[call.user]) / CIRCUIT_SECS).floor() as u64;
            let mut circuit_rng = ChaCha8Rng::seed_from_u64(
                seed ^ (call.user as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ circuit,
            );
            circuit_rng.gen_range(0..EXITS)
        } else {
            call.user as u64
        };
        let connection = if setting.fresh_connections {
            next_connection += 1;
            next_connection
        } else {
            let (id, last) = kept[call.user];
            if arrival - last <= KEEP_ALIVE_SECS {
                id
            } else {
                next_connection += 1;
                next_connection
            }
        };
        let completion_tokens = if setting.fixed_class {
            call.completion_tokens.min(FIXED_MAX_TOKENS)
        } else {
            call.completion_tokens
        };
        costs.truncated += f64::from(u8::from(completion_tokens < call.completion_tokens));
        let request = ApiRequest::post_json(
            "/v1/chat/completions",
            vec![b'{'; request_bytes(call.prompt_tokens)],
        );
        let request_sent = client.padded(&request).body.len();
        let answer = answer_bytes(completion_tokens, call.stream);
        let answer_sent = if call.stream {
            let mut framer = node.framer();
            let mut stream = vec![b'x'; answer];
            stream[answer - 1] = b'\n';
            let mut sent: usize = framer.push(Bytes::from(stream)).iter().map(Bytes::len).sum();
            sent += framer.finish().map(|frame| frame.len()).sum::<usize>();
            sent
        } else {
            node.pad_answer(Some("application/json"), Bytes::from(vec![b' '; answer])).len()
        };
        let usage = Usage { prompt_tokens: call.prompt_tokens, completion_tokens };
        let charge = pricing.charge(Some(usage));
        let (first, generate) = upstream_times(call, completion_tokens, &mut rng);
        // A framed stream's first frame waits until a frame's worth of events was generated.
        let frame_tokens = setting.node_pad_bytes.div_ceil(STREAM_BYTES_PER_TOKEN) as f64;
        let first_frame = (first + frame_tokens / TOKENS_PER_SEC).min(first + generate);
        let ready = if call.stream { first_frame } else { first + generate };
        let released = since(node.release_at(at(arrival), at(arrival + ready), &mut rng));
        let first_byte = released - arrival;
        let streaming =
            if call.stream { (arrival + first + generate - released).max(0.0) } else { 0.0 };
        kept[call.user] = (connection, arrival + first_byte + streaming);
        observations.push(Observation {
            arrival,
            source,
            connection,
            request_bytes: request_sent as u64,
            answer_bytes: answer_sent as u64,
            charge,
            first_byte,
            streaming,
            stream: call.stream,
            prompt_tokens: call.prompt_tokens,
            completion_tokens,
        });
        costs.added_latency += delay + (first_byte - ready).max(0.0);
        exact_total += (call.prompt_tokens + 3 * completion_tokens) as f64;
        charged_total += charge as f64;
        raw_bytes += (request_bytes(call.prompt_tokens) + answer) as f64;
        wire_bytes += (request_sent + answer_sent) as f64;
    }
    let n = population.calls.len().max(1) as f64;
    costs.added_latency /= n;
    costs.truncated /= n;
    costs.overcharge = charged_total / exact_total - 1.0;
    costs.extra_bytes = wire_bytes / raw_bytes - 1.0;
    (observations, costs)
}
