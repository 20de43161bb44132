//! `zkcredits linkability`: how well a provider can re-link anonymous calls to their users
//! from what it observes, with the metadata mitigations off and on (spec/10).
//!
//! A seeded population of users with their own habits (hours, rates, prompt and answer
//! lengths, streaming) makes its calls ([`population`]); each setting of the mitigations turns
//! them into what the provider's node records, through the node's and the client's own
//! mitigation code; the attacker re-links the records ([`attack`]) and is scored against the
//! truth and against guessing at random. The same seed gives the same table.

mod attack;
mod population;

use attack::{Feature, Score};
use eyre::WrapErr;
use population::{Costs, Population};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::{fmt::Write, path::PathBuf};

/// Arguments of `zkcredits linkability`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Simulated users.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(2..=2_000))]
    users: u32,
    /// Days of use simulated.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=30))]
    days: u32,
    /// The seed: the same seed gives the same population, records and table.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where `linkability.json` and `linkability.md` go (`script/plot-linkability.py` draws the
    /// PNG from the JSON).
    #[arg(long, default_value = "build/linkability")]
    out: PathBuf,
}

/// One setting of the mitigations, as a node operator and a user would configure them.
#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct Setting {
    name: &'static str,
    /// Charges not rounded to classes (what a provider without them would bill).
    exact_charges: bool,
    /// Through Tor: SOCKS5, a circuit per note.
    tor: bool,
    /// A Tor circuit for every call (`--circuit-per-call`).
    circuit_per_call: bool,
    /// A fresh connection for every call (the client's default).
    fresh_connections: bool,
    /// `--max-delay-ms`.
    client_delay_ms: u64,
    /// `--pad-bytes`.
    client_pad_bytes: usize,
    /// `pricing.fixed_charge` and `pricing.fixed_max_tokens`.
    fixed_class: bool,
    /// `privacy.pad_bytes`.
    node_pad_bytes: usize,
    /// `privacy.min_latency_ms`, `privacy.latency_classes` and `privacy.jitter_ms`.
    min_latency_ms: u64,
    latency_classes: bool,
    jitter_ms: u64,
}

/// The settings measured, each adding one mitigation to the one before.
fn ladder() -> Vec<Setting> {
    let none = Setting {
        name: "none: exact charges, own address, kept connections",
        exact_charges: true,
        tor: false,
        circuit_per_call: false,
        fresh_connections: false,
        client_delay_ms: 0,
        client_pad_bytes: 0,
        fixed_class: false,
        node_pad_bytes: 0,
        min_latency_ms: 0,
        latency_classes: false,
        jitter_ms: 0,
    };
    let classes =
        Setting { name: "charge classes (the node's default)", exact_charges: false, ..none };
    let tor = Setting {
        name: "+ Tor (--socks5): a circuit per note, a fresh connection per call",
        tor: true,
        fresh_connections: true,
        ..classes
    };
    let per_call = Setting {
        name: "+ a Tor circuit per call (--circuit-per-call)",
        circuit_per_call: true,
        ..tor
    };
    let delay = Setting {
        name: "+ client delay up to 30 s (--max-delay-ms)",
        client_delay_ms: 30_000,
        ..per_call
    };
    let fixed = Setting {
        name: "+ fixed class, no refunds (pricing.fixed_charge)",
        fixed_class: true,
        ..delay
    };
    let padded = Setting {
        name: "+ padding to 4 KiB (--pad-bytes, privacy.pad_bytes)",
        client_pad_bytes: 4_096,
        node_pad_bytes: 4_096,
        ..fixed
    };
    let timed = Setting {
        name: "+ minimum latency 1 s, jitter up to 0.5 s (privacy.min_latency_ms, jitter_ms)",
        min_latency_ms: 1_000,
        jitter_ms: 500,
        ..padded
    };
    let classed = Setting {
        name: "+ latency classes 1, 2, 4, 8 … s (privacy.latency_classes): all on",
        latency_classes: true,
        ..timed
    };
    let batch = Setting {
        name: "all on, for batch work: client delay up to 4 h",
        client_delay_ms: 4 * 3_600_000,
        ..classed
    };
    let all_but_tor = Setting {
        name: "all on but Tor (own address, fresh connections)",
        tor: false,
        circuit_per_call: false,
        ..classed
    };
    // The node's mitigations hide what leaves the node; the provider who runs it can read the
    // values before them. Against it only the client's count.
    let client_only = Setting {
        name: "client side only (Tor per call, delay, request padding): a provider reading its own node",
        exact_charges: true,
        fixed_class: false,
        node_pad_bytes: 0,
        min_latency_ms: 0,
        latency_classes: false,
        jitter_ms: 0,
        ..classed
    };
    vec![
        none,
        classes,
        tor,
        per_call,
        delay,
        fixed,
        padded,
        timed,
        classed,
        batch,
        all_but_tor,
        client_only,
    ]
}

/// One measured row.
#[derive(Debug, Clone, Serialize)]
struct Row {
    setting: Setting,
    /// The attacker's best feature set, and its score.
    attack: Vec<&'static str>,
    score: Score,
    /// The attacker's score without each feature (with all the others).
    without: Vec<(&'static str, f64)>,
    /// Guessing at random with the attacker's cluster sizes.
    random: Score,
    /// The deposit-timing attack: the share of users whose deposit address is linked to their
    /// calls, when they deposit minutes before their first call, and a day or more before.
    deposit_minutes_before: f64,
    deposit_days_before: f64,
    /// The same attack on the attacker's clusters shuffled (minutes before): its chance level.
    deposit_random: f64,
    added_latency_secs: f64,
    overcharge: f64,
    extra_bytes: f64,
    truncated: f64,
}

/// The whole measurement.
#[derive(Debug, Clone, Serialize)]
struct Report {
    seed: u64,
    users: usize,
    days: u32,
    calls: usize,
    rows: Vec<Row>,
    /// All on, against a provider that also runs the model and so sees exact token counts.
    model_operator: Row,
    /// The target: with all mitigations on, an adjusted Rand index within this of random (0).
    target_ari: f64,
}

const TARGET_ARI: f64 = 0.10;
/// The row of [`ladder`] with every mitigation on.
const ALL_ON: usize = 8;

/// The feature sets the attacker tries: `base`, and `base` without each one of its features.
fn attacks(base: &[Feature]) -> Vec<Vec<Feature>> {
    let mut sets = vec![base.to_vec()];
    for dropped in base {
        sets.push(base.iter().copied().filter(|f| f != dropped).collect());
    }
    sets
}

fn measure(
    population: &Population,
    setting: &Setting,
    base: &[Feature],
    seed: u64,
    deposits: &[Vec<f64>; 2],
) -> Row {
    let (observations, costs): (_, Costs) = population::observe(population, setting, seed);
    let truth: Vec<usize> = population.calls.iter().map(|c| c.user).collect();
    let circuit = setting.tor.then_some(600.0);
    let tried: Vec<(Vec<Feature>, Vec<usize>, Score)> = attacks(base)
        .into_iter()
        .map(|features| {
            let clusters =
                attack::relink(&observations, population.users, &features, circuit, seed);
            let score = attack::score(&truth, &clusters);
            (features, clusters, score)
        })
        .collect();
    let without = base
        .iter()
        .zip(&tried[1..])
        .map(|(dropped, (_, _, score))| (dropped.name(), score.ari))
        .collect();
    let (features, clusters, score) =
        tried.into_iter().max_by(|a, b| a.2.ari.total_cmp(&b.2.ari)).expect("at least one attack");
    let linked =
        |deposits: &[f64]| attack::deposit_matches(&observations, &truth, &clusters, deposits);
    let shuffled = attack::shuffled(&clusters, seed);
    Row {
        setting: *setting,
        attack: features.iter().map(|f| f.name()).collect(),
        score,
        without,
        random: attack::score(&truth, &shuffled),
        deposit_minutes_before: linked(&deposits[0]),
        deposit_days_before: linked(&deposits[1]),
        deposit_random: attack::deposit_matches(&observations, &truth, &shuffled, &deposits[0]),
        added_latency_secs: costs.added_latency,
        overcharge: costs.overcharge,
        extra_bytes: costs.extra_bytes,
        truncated: costs.truncated,
    }
}

fn report(users: usize, days: u32, seed: u64) -> Report {
    let population = Population::simulate(users, days, seed);
    // When each user deposited: minutes before the first call, or a day to three before.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6465_706f_7369_7473);
    let deposits = [
        population.first_call.iter().map(|t| t - 60.0 - rng.gen_range(0.0..1_200.0)).collect(),
        population.first_call.iter().map(|t| t - rng.gen_range(86_400.0..259_200.0)).collect(),
    ];
    let settings = ladder();
    // Every row draws from the same seed: rows differ by their settings, not their luck.
    let rows: Vec<Row> = settings
        .iter()
        .map(|s| measure(&population, s, &Feature::RECORDED, seed, &deposits))
        .collect();
    let all_on = &settings[ALL_ON];
    let model_operator = measure(
        &population,
        all_on,
        &[Feature::RECORDED.as_slice(), &[Feature::Tokens]].concat(),
        seed,
        &deposits,
    );
    Report {
        seed,
        users,
        days,
        calls: population.calls.len(),
        rows,
        model_operator,
        target_ari: TARGET_ARI,
    }
}

fn percent(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Re-linking {} calls of {} simulated users over {} days (seed {}). ARI: adjusted Rand index of the attacker's best clustering, its feature set chosen knowing the truth (0 = random guessing, 1 = every call re-linked). Precision: of the pairs of calls put together, the share that are one user's (random: the same cluster sizes, shuffled). Deposit link: users whose deposit address is tied to their calls by timing (random: the same attack on the shuffled clusters).\n",
        report.calls, report.users, report.days, report.seed
    );
    let _ = writeln!(
        out,
        "| mitigations | ARI | pair precision (random) | pair recall | deposit link, minutes before (random) / days before | added latency | overcharge | extra bytes |"
    );
    let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- | --- | --- |");
    let line = |out: &mut String, row: &Row, name: &str| {
        let _ = writeln!(
            out,
            "| {name} | {:.3} | {} ({}) | {} | {} ({}) / {} | {:.2} s | {} | {} |",
            row.score.ari,
            percent(row.score.precision),
            percent(row.random.precision),
            percent(row.score.recall),
            percent(row.deposit_minutes_before),
            percent(row.deposit_random),
            percent(row.deposit_days_before),
            row.added_latency_secs,
            percent(row.overcharge),
            percent(row.extra_bytes),
        );
    };
    for row in &report.rows {
        line(&mut out, row, row.setting.name);
    }
    line(
        &mut out,
        &report.model_operator,
        "all on, against a provider that runs the model (token counts)",
    );
    let all_on = &report.rows[ALL_ON];
    let _ = writeln!(
        out,
        "\nWhat the attacker still uses with all on: its best feature set is {}; its ARI without each feature: {}.",
        all_on.attack.join(", "),
        all_on
            .without
            .iter()
            .map(|(name, ari)| format!("{name} {ari:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "\nAll on: ARI {:.3} against {:.3} for random guessing; target: within {:.2}. {}",
        all_on.score.ari,
        all_on.random.ari,
        report.target_ari,
        if all_on.score.ari - all_on.random.ari <= report.target_ari { "Met." } else { "Not met." }
    );
    out
}

impl Args {
    pub(crate) fn run(self) -> eyre::Result<()> {
        let report = report(self.users as usize, self.days, self.seed);
        std::fs::create_dir_all(&self.out)
            .wrap_err_with(|| format!("cannot create {}", self.out.display()))?;
        let json = self.out.join("linkability.json");
        std::fs::write(&json, serde_json::to_vec_pretty(&report)?)
            .wrap_err_with(|| format!("cannot write {}", json.display()))?;
        let table = markdown(&report);
        let md = self.out.join("linkability.md");
        std::fs::write(&md, &table).wrap_err_with(|| format!("cannot write {}", md.display()))?;
        print!("{table}");
        eprintln!("wrote {} and {}", json.display(), md.display());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_report_and_the_attack_works_on_the_open_setting() {
        let first = serde_json::to_string(&report(24, 2, 7)).expect("JSON");
        let again = serde_json::to_string(&report(24, 2, 7)).expect("JSON");
        assert_eq!(first, again, "deterministic for a seed");
        let other = serde_json::to_string(&report(24, 2, 8)).expect("JSON");
        assert_ne!(first, other);
        let report = report(24, 2, 7);
        let open = &report.rows[0];
        assert!(open.score.ari > 0.99, "one address per user links everything: {:?}", open.score);
        assert!(report.rows[ALL_ON].score.ari < open.score.ari);
        let fixed = &report.rows[5];
        assert!(fixed.overcharge > report.rows[1].overcharge, "a fixed class costs more");
    }
}
