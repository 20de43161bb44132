//! The provider's re-linking attack and how well it does against the truth.
//!
//! The attacker first joins calls that share a link it can see (a source address, a kept
//! connection, a Tor exit within one circuit's lifetime), then clusters the groups on the
//! calls' features with k-means (k-means++ start, k = the number of users: the attacker is
//! told how many there are). It tries several feature sets and keeps its best; the report
//! scores that best against the truth, and says what each feature is worth to it.

use super::population::Observation;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

/// A group of features the attacker may cluster on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub(super) enum Feature {
    /// The hour of day of the arrival.
    Hour,
    /// The absolute arrival time: calls of one session sit close together.
    Time,
    /// The request's and the answer's bytes.
    Sizes,
    /// The charge (and so the refund).
    Charge,
    /// The first byte's latency and a stream's duration.
    Timing,
    /// Whether the answer was streamed.
    Streamed,
    /// The upstream's exact token counts: seen only by a provider that runs the model.
    Tokens,
}

impl Feature {
    /// What the node records.
    pub(super) const RECORDED: [Self; 6] =
        [Self::Hour, Self::Time, Self::Sizes, Self::Charge, Self::Timing, Self::Streamed];

    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Hour => "hour of day",
            Self::Time => "arrival time",
            Self::Sizes => "sizes",
            Self::Charge => "charge",
            Self::Timing => "latency and stream duration",
            Self::Streamed => "streamed or not",
            Self::Tokens => "token counts",
        }
    }
}

/// Union–find over calls.
struct Groups(Vec<usize>);

impl Groups {
    fn root(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }

    fn join(&mut self, a: usize, b: usize) {
        let (a, b) = (self.root(a), self.root(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

/// The calls joined by the links the attacker sees: the same source address (for Tor exits,
/// which many users share, only calls at most `circuit_secs` apart: a circuit's lifetime),
/// the same connection.
fn linked_groups(observations: &[Observation], circuit_secs: Option<f64>) -> Vec<usize> {
    let mut groups = Groups((0..observations.len()).collect());
    let mut by_source: HashMap<u64, (f64, usize)> = HashMap::new();
    let mut by_connection: HashMap<u64, usize> = HashMap::new();
    let mut order: Vec<usize> = (0..observations.len()).collect();
    order.sort_by(|&a, &b| {
        observations[a].arrival.total_cmp(&observations[b].arrival).then(a.cmp(&b))
    });
    for i in order {
        let o = &observations[i];
        if let Some(&(at, j)) = by_source.get(&o.source)
            && circuit_secs.is_none_or(|secs| o.arrival - at <= secs)
        {
            groups.join(i, j);
        }
        by_source.insert(o.source, (o.arrival, i));
        if let Some(&j) = by_connection.get(&o.connection) {
            groups.join(i, j);
        }
        by_connection.insert(o.connection, i);
    }
    (0..observations.len()).map(|i| groups.root(i)).collect()
}

fn feature_vector(o: &Observation, features: &[Feature]) -> Vec<f64> {
    let ln = |x: f64| (1.0 + x.max(0.0)).ln();
    let mut v = Vec::new();
    for feature in features {
        match feature {
            Feature::Hour => {
                let hour = (o.arrival / 3_600.0).rem_euclid(24.0) / 24.0 * std::f64::consts::TAU;
                v.extend([hour.cos(), hour.sin()]);
            }
            // A quarter of an hour is one unit.
            Feature::Time => v.push(o.arrival / 900.0),
            Feature::Sizes => v.extend([ln(o.request_bytes as f64), ln(o.answer_bytes as f64)]),
            Feature::Charge => v.push(ln(o.charge as f64)),
            Feature::Timing => v.extend([ln(o.first_byte * 1_000.0), ln(o.streaming * 1_000.0)]),
            Feature::Streamed => v.push(f64::from(u8::from(o.stream))),
            Feature::Tokens => {
                v.extend([ln(o.prompt_tokens as f64), ln(o.completion_tokens as f64)]);
            }
        }
    }
    v
}

/// Each column scaled to mean 0 and deviation 1 (constant columns to 0).
fn standardize(rows: &mut [Vec<f64>]) {
    let Some(width) = rows.first().map(Vec::len) else { return };
    let n = rows.len() as f64;
    for c in 0..width {
        let mean = rows.iter().map(|r| r[c]).sum::<f64>() / n;
        let deviation = (rows.iter().map(|r| (r[c] - mean).powi(2)).sum::<f64>() / n).sqrt();
        for row in rows.iter_mut() {
            row[c] = if deviation > 1e-12 { (row[c] - mean) / deviation } else { 0.0 };
        }
    }
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum()
}

/// Weighted k-means of `points`, k-means++ start: the cluster of each point.
fn kmeans(points: &[Vec<f64>], weights: &[f64], k: usize, rng: &mut impl Rng) -> Vec<usize> {
    let n = points.len();
    if n <= k {
        return (0..n).collect();
    }
    let mut centres = vec![points[rng.gen_range(0..n)].clone()];
    let mut nearest: Vec<f64> = points.iter().map(|p| distance(p, &centres[0])).collect();
    while centres.len() < k {
        let total: f64 = nearest.iter().zip(weights).map(|(d, w)| d * w).sum();
        let mut pick = rng.gen_range(0.0..total.max(f64::MIN_POSITIVE));
        let mut chosen = n - 1;
        for (i, (d, w)) in nearest.iter().zip(weights).enumerate() {
            pick -= d * w;
            if pick <= 0.0 {
                chosen = i;
                break;
            }
        }
        centres.push(points[chosen].clone());
        for (i, p) in points.iter().enumerate() {
            nearest[i] = nearest[i].min(distance(p, &centres[centres.len() - 1]));
        }
    }
    let mut assignment = vec![0; n];
    for _ in 0..50 {
        let mut changed = false;
        for (i, p) in points.iter().enumerate() {
            let best = (0..k)
                .min_by(|&a, &b| distance(p, &centres[a]).total_cmp(&distance(p, &centres[b])))
                .unwrap_or(0);
            changed |= best != assignment[i];
            assignment[i] = best;
        }
        let width = points[0].len();
        let mut sums = vec![vec![0.0; width]; k];
        let mut mass = vec![0.0; k];
        for (i, p) in points.iter().enumerate() {
            mass[assignment[i]] += weights[i];
            for (s, x) in sums[assignment[i]].iter_mut().zip(p) {
                *s += x * weights[i];
            }
        }
        for c in 0..k {
            if mass[c] > 0.0 {
                centres[c] = sums[c].iter().map(|s| s / mass[c]).collect();
            }
        }
        if !changed {
            break;
        }
    }
    assignment
}

/// The attacker's cluster of every call.
pub(super) fn relink(
    observations: &[Observation],
    users: usize,
    features: &[Feature],
    circuit_secs: Option<f64>,
    seed: u64,
) -> Vec<usize> {
    let roots = linked_groups(observations, circuit_secs);
    let mut group_of: HashMap<usize, usize> = HashMap::new();
    for &root in &roots {
        let next = group_of.len();
        group_of.entry(root).or_insert(next);
    }
    let mut rows: Vec<Vec<f64>> =
        observations.iter().map(|o| feature_vector(o, features)).collect();
    standardize(&mut rows);
    let width = rows.first().map_or(0, Vec::len);
    let mut points = vec![vec![0.0; width]; group_of.len()];
    let mut weights = vec![0.0; group_of.len()];
    for (row, root) in rows.iter().zip(&roots) {
        let g = group_of[root];
        weights[g] += 1.0;
        for (s, x) in points[g].iter_mut().zip(row) {
            *s += x;
        }
    }
    for (point, weight) in points.iter_mut().zip(&weights) {
        point.iter_mut().for_each(|x| *x /= weight);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let clusters = kmeans(&points, &weights, users, &mut rng);
    roots.iter().map(|root| clusters[group_of[root]]).collect()
}

fn pairs(n: u64) -> f64 {
    (n * n.saturating_sub(1)) as f64 / 2.0
}

/// How well a clustering re-links calls to their users.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub(super) struct Score {
    /// Adjusted Rand index: 0 for a random clustering, 1 for the truth.
    pub ari: f64,
    /// Of the pairs of calls the attacker put together, the share that are one user's.
    pub precision: f64,
    /// Of the pairs of calls of one user, the share the attacker put together.
    pub recall: f64,
}

pub(super) fn score(truth: &[usize], guess: &[usize]) -> Score {
    let mut cells: HashMap<(usize, usize), u64> = HashMap::new();
    let mut rows: HashMap<usize, u64> = HashMap::new();
    let mut columns: HashMap<usize, u64> = HashMap::new();
    for (&t, &g) in truth.iter().zip(guess) {
        *cells.entry((t, g)).or_default() += 1;
        *rows.entry(t).or_default() += 1;
        *columns.entry(g).or_default() += 1;
    }
    let together: f64 = cells.values().map(|&n| pairs(n)).sum();
    let same_user: f64 = rows.values().map(|&n| pairs(n)).sum();
    let same_cluster: f64 = columns.values().map(|&n| pairs(n)).sum();
    let all = pairs(truth.len() as u64);
    let expected = same_user * same_cluster / all.max(1.0);
    let most = (same_user + same_cluster) / 2.0;
    let ari = if (most - expected).abs() < 1e-12 {
        0.0
    } else {
        (together - expected) / (most - expected)
    };
    Score {
        ari,
        precision: if same_cluster > 0.0 { together / same_cluster } else { 0.0 },
        recall: if same_user > 0.0 { together / same_user } else { 0.0 },
    }
}

/// A guess at random with the attacker's cluster sizes: its clusters shuffled over the calls.
pub(super) fn shuffled(guess: &[usize], seed: u64) -> Vec<usize> {
    use rand::seq::SliceRandom;
    let mut shuffled = guess.to_vec();
    shuffled.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    shuffled
}

/// The deposit-timing attack: a chain observer knows when each deposit landed and from which
/// address; the provider knows when each of its clusters first called. Each cluster, oldest
/// first call first, is matched to a deposit not yet matched that came before it: the latest
/// one, or the earliest (which keeps the order of deposits when leads are alike); the attacker
/// keeps the better. Returns the share of users whose deposit (and so address) is matched to a
/// cluster whose calls are mostly theirs.
pub(super) fn deposit_matches(
    observations: &[Observation],
    truth: &[usize],
    clusters: &[usize],
    deposits: &[f64],
) -> f64 {
    let mut first: HashMap<usize, f64> = HashMap::new();
    let mut members: HashMap<usize, HashMap<usize, u64>> = HashMap::new();
    for ((o, &user), &cluster) in observations.iter().zip(truth).zip(clusters) {
        let at = first.entry(cluster).or_insert(o.arrival);
        *at = at.min(o.arrival);
        *members.entry(cluster).or_default().entry(user).or_default() += 1;
    }
    let mut order: Vec<(f64, usize)> = first.iter().map(|(&c, &t)| (t, c)).collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut sorted: Vec<(f64, usize)> = deposits.iter().enumerate().map(|(u, &t)| (t, u)).collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let matched = |latest: bool| {
        let mut unmatched = sorted.clone();
        let mut found = 0usize;
        for &(first_call, cluster) in &order {
            let before = |&(t, _): &(f64, usize)| t <= first_call;
            let pick = if latest {
                unmatched.iter().rposition(before)
            } else {
                unmatched.iter().position(before)
            };
            let Some(i) = pick else { continue };
            let (_, user) = unmatched.remove(i);
            let majority =
                members[&cluster].iter().max_by_key(|&(u, n)| (*n, std::cmp::Reverse(*u)));
            if majority.is_some_and(|(&u, _)| u == user) {
                found += 1;
            }
        }
        found as f64 / deposits.len().max(1) as f64
    };
    matched(true).max(matched(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_truth_scores_one_and_a_shuffle_about_zero() {
        let truth: Vec<usize> = (0..600).map(|i| i % 30).collect();
        let perfect = score(&truth, &truth);
        assert!(
            (perfect.ari - 1.0).abs() < 1e-9 && perfect.precision == 1.0 && perfect.recall == 1.0
        );
        let random = score(&truth, &shuffled(&truth, 1));
        assert!(random.ari.abs() < 0.02, "{random:?}");
        assert!((random.precision - 1.0 / 30.0).abs() < 0.01, "{random:?}");
        let relabelled: Vec<usize> = truth.iter().map(|t| 99 - t).collect();
        assert!((score(&truth, &relabelled).ari - 1.0).abs() < 1e-9, "labels are names only");
    }
}
