//! The bounded proof-verification pool: worker threads take the proofs waiting in a bounded
//! queue, up to `batch` at a time, and check them with one batched pairing check (random
//! linear combination). A failed batch is split in halves, each checked as a batch, and the
//! proofs of a half that fails are checked one by one: one bad proof costs its sender, never
//! its neighbours, and about `n/2` single checks instead of `n`, while a batch full of junk
//! costs only two half-batch checks more than checking every proof alone. Proofs from a
//! [`Lane::Suspect`] source (one that recently sent a proof that failed) wait in a lane of
//! their own, checked one by one once the batched lane is empty: junk costs its own
//! verification and never poisons a batch of paying clients' proofs. A full pool refuses at
//! once instead of queueing forever. A worker that panics is started again (its batch is
//! answered as failed, never as verified), and the pool reports how many workers run.

use crate::Metrics;
use ark_bn254::{Bn254, Fr};
use ark_groth16::Proof;
use std::{
    collections::VecDeque,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        Arc, Condvar, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};
use tokio::sync::oneshot;
use zkcredits_prover::Verifier;

struct Job {
    public: Vec<Fr>,
    proof: Proof<Bn254>,
    reply: oneshot::Sender<bool>,
}

/// Why a proof got no verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The verification queue is full.
    #[error("the verification queue is full")]
    Overloaded,
    /// The worker checking it failed (it is started again).
    #[error("the verification worker failed")]
    WorkerFailed,
}

/// Which lane a proof waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Batched with other proofs.
    Batched,
    /// Checked alone, after the batched lane: its source sent a proof that failed recently.
    Suspect,
}

/// The proofs waiting, by lane.
#[derive(Default)]
struct Lanes {
    batched: VecDeque<Job>,
    suspect: VecDeque<Job>,
    closed: bool,
}

/// The lanes, their bound, and the signal that work arrived.
struct Queue {
    lanes: Mutex<Lanes>,
    arrived: Condvar,
    capacity: usize,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Lanes> {
        // Verification runs outside the lock, so a panic there leaves the lanes sound.
        self.lanes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next work: up to `batch` batched proofs, else one suspect proof; `None` once closed.
    fn take(&self, batch: usize) -> Option<Vec<Job>> {
        let mut lanes = self.lock();
        loop {
            if !lanes.batched.is_empty() {
                let n = batch.min(lanes.batched.len());
                return Some(lanes.batched.drain(..n).collect());
            }
            if let Some(job) = lanes.suspect.pop_front() {
                return Some(vec![job]);
            }
            if lanes.closed {
                return None;
            }
            lanes = self.arrived.wait(lanes).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Closes the queue when the last pool handle goes: the workers then return.
struct Closer(Arc<Queue>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.arrived.notify_all();
    }
}

/// Handle to the pool; the workers stop when the last handle is dropped.
#[derive(Clone)]
pub struct VerificationPool {
    queue: Arc<Queue>,
    _closer: Arc<Closer>,
    live: Arc<AtomicUsize>,
}

impl std::fmt::Debug for VerificationPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationPool").field("live", &self.live).finish_non_exhaustive()
    }
}

impl VerificationPool {
    /// Starts `workers` threads (at least one) verifying against `verifier`, with `queue`
    /// waiting proofs at most (both lanes) and batches of at most `batch`.
    pub fn start(
        verifier: Verifier,
        workers: usize,
        queue: usize,
        batch: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        let queue = Arc::new(Queue {
            lanes: Mutex::default(),
            arrived: Condvar::new(),
            capacity: queue.max(1),
        });
        let verifier = Arc::new(verifier);
        let live = Arc::new(AtomicUsize::new(0));
        for i in 0..workers.max(1) {
            let (queue, verifier, metrics, running) = (
                Arc::clone(&queue),
                Arc::clone(&verifier),
                Arc::clone(&metrics),
                Arc::clone(&live),
            );
            live.fetch_add(1, Ordering::Relaxed);
            let spawned = std::thread::Builder::new().name(format!("zkcredits-verify-{i}")).spawn(
                move || {
                    supervised(
                        || work(&queue, &verifier, batch.max(1), &metrics),
                        || {
                            tracing::error!("verification thread {i} panicked; starting it again");
                            metrics.verify_worker_restarted();
                        },
                    );
                    running.fetch_sub(1, Ordering::Relaxed);
                },
            );
            if let Err(e) = spawned {
                live.fetch_sub(1, Ordering::Relaxed);
                tracing::error!("cannot start verification thread {i}: {e}");
            }
        }
        Self { _closer: Arc::new(Closer(Arc::clone(&queue))), queue, live }
    }

    /// Verifies one proof in `lane`; `Ok(false)` when it does not verify.
    pub async fn verify(
        &self,
        public: Vec<Fr>,
        proof: Proof<Bn254>,
        lane: Lane,
    ) -> Result<bool, PoolError> {
        let (reply, answer) = oneshot::channel();
        {
            let mut lanes = self.queue.lock();
            if lanes.batched.len() + lanes.suspect.len() >= self.queue.capacity {
                return Err(PoolError::Overloaded);
            }
            let job = Job { public, proof, reply };
            match lane {
                Lane::Batched => lanes.batched.push_back(job),
                Lane::Suspect => lanes.suspect.push_back(job),
            }
        }
        self.queue.arrived.notify_one();
        // A worker that failed without answering is no verdict: never a pass, nor a refusal
        // blamed on the sender.
        answer.await.map_err(|_| PoolError::WorkerFailed)
    }

    /// How many verification threads run.
    pub fn live_workers(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }
}

/// Runs `work` until it returns, starting it again (after `restarted`) whenever it panics.
fn supervised(mut work: impl FnMut(), mut restarted: impl FnMut()) {
    while catch_unwind(AssertUnwindSafe(&mut work)).is_err() {
        restarted();
    }
}

fn work(queue: &Queue, verifier: &Verifier, batch: usize, metrics: &Metrics) {
    let mut rng = rand::thread_rng();
    while let Some(jobs) = queue.take(batch) {
        let started = Instant::now();
        let count = jobs.len();
        let (items, replies): (Vec<_>, Vec<_>) =
            jobs.into_iter().map(|j| ((j.public, j.proof), j.reply)).unzip();
        let mut verdicts = Vec::with_capacity(count);
        check(verifier, &items, &mut rng, SPLITS, &mut verdicts);
        for (ok, reply) in verdicts.into_iter().zip(replies) {
            // The requester may have gone away; nothing to do then.
            let _ = reply.send(ok);
        }
        metrics.verified(count, started.elapsed().as_secs_f64());
    }
}

/// How many times a failed batch is halved before its proofs are checked one by one. Deeper
/// bisection is cheaper when bad proofs are rare and dearer when a sender fills batches with
/// junk: one split keeps the junk case within two half-batch checks of single checks.
const SPLITS: u32 = 1;

/// Appends the verdict of each of `items`, in order: the whole batch at once; when it fails,
/// each half the same way while `splits` remain, else each proof alone. Two proofs or fewer
/// are checked one by one.
fn check(
    verifier: &Verifier,
    items: &[(Vec<Fr>, Proof<Bn254>)],
    rng: &mut impl rand::RngCore,
    splits: u32,
    verdicts: &mut Vec<bool>,
) {
    if items.len() > 2 && verifier.verify_batch(items, rng).is_ok() {
        verdicts.extend(std::iter::repeat_n(true, items.len()));
    } else if items.len() > 2 && splits > 0 {
        let (left, right) = items.split_at(items.len() / 2);
        check(verifier, left, rng, splits - 1, verdicts);
        check(verifier, right, rng, splits - 1, verdicts);
    } else {
        verdicts.extend(items.iter().map(|(public, proof)| verifier.verify(public, proof).is_ok()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkcredits_prover::encoding::{proof_from_json, public_from_json, verifying_key_from_json};

    fn vector() -> (Verifier, Vec<Fr>, Proof<Bn254>) {
        let vector: serde_json::Value =
            serde_json::from_str(include_str!("../../../spec/vectors/groth16/request.json"))
                .expect("vector JSON");
        let vk: serde_json::Value = serde_json::from_str(include_str!(
            "../../../circuits/artifacts/request/verification_key.json"
        ))
        .expect("vk JSON");
        (
            Verifier::new(&verifying_key_from_json(&vk).expect("vk")),
            public_from_json(&vector["public_signals"]).expect("public"),
            proof_from_json(&vector["proof"]).expect("proof"),
        )
    }

    #[test]
    fn a_worker_that_panics_is_started_again_until_it_returns() {
        let (mut runs, mut restarts) = (0, 0);
        supervised(
            || {
                runs += 1;
                assert!(runs > 2, "a bug in a batch");
            },
            || restarts += 1,
        );
        assert_eq!((runs, restarts), (3, 2));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_isolate_a_bad_proof_and_a_full_queue_refuses() {
        let (verifier, public, proof) = vector();
        let mut wrong = public.clone();
        wrong[9] += Fr::from(1u64);
        let pool = VerificationPool::start(verifier.clone(), 1, 64, 8, Arc::default());
        assert_eq!(pool.live_workers(), 1);
        let answers = futures::future::join_all((0..16).map(|i| {
            let public = if i == 5 { wrong.clone() } else { public.clone() };
            pool.verify(public, proof.clone(), Lane::Batched)
        }))
        .await;
        for (i, answer) in answers.into_iter().enumerate() {
            assert_eq!(answer, Ok(i != 5), "proof {i}");
        }

        // Suspect proofs wait apart and are checked alone: a bad one fails only itself.
        let answers = futures::future::join_all((0..12).map(|i| {
            let (public, lane) = match i % 3 {
                0 => (wrong.clone(), Lane::Suspect),
                1 => (public.clone(), Lane::Suspect),
                _ => (public.clone(), Lane::Batched),
            };
            pool.verify(public, proof.clone(), lane)
        }))
        .await;
        for (i, answer) in answers.into_iter().enumerate() {
            assert_eq!(answer, Ok(i % 3 != 0), "proof {i}");
        }

        // Bisection finds every bad proof, wherever it sits in a batch.
        let mut rng = rand::thread_rng();
        for bad in [vec![], vec![0], vec![6], vec![0, 1, 2], vec![2, 3, 9, 10], (0..11).collect()] {
            let items: Vec<_> = (0..11)
                .map(|i| {
                    let signals = if bad.contains(&i) { wrong.clone() } else { public.clone() };
                    (signals, proof.clone())
                })
                .collect();
            let mut verdicts = Vec::new();
            check(&verifier, &items, &mut rng, SPLITS, &mut verdicts);
            let expected: Vec<bool> = (0..11).map(|i| !bad.contains(&i)).collect();
            assert_eq!(verdicts, expected, "bad proofs at {bad:?}");
        }

        // One slot, one worker, far more proofs at once than it can take: the rest are refused
        // immediately rather than queued.
        let small = VerificationPool::start(verifier, 1, 1, 1, Arc::default());
        let answers = futures::future::join_all(
            (0..64).map(|_| small.verify(public.clone(), proof.clone(), Lane::Batched)),
        )
        .await;
        assert!(answers.contains(&Err(PoolError::Overloaded)), "a full queue refuses");
        assert!(answers.contains(&Ok(true)), "what was queued is verified");
    }
}
