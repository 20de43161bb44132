//! Per-client allowances: a token bucket per client address for paid requests, debited more for
//! each request that passed the payment checks and then failed (a proof that does not verify
//! or decode, a body that does not arrive or does not match), and counts of what each address
//! holds (open connections, paid requests in flight). An IPv6
//! client is counted by its /64, the block one subscriber usually holds. Both maps are bounded.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Instant,
};

/// Addresses tracked at most; beyond, buckets that refilled are forgotten first, then half of
/// the rest (a flood of fresh addresses forgets penalties rather than growing memory).
const MAX_TRACKED: usize = 65_536;

/// The address a client is counted under.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// When the address last sent a proof that failed.
    penalized_at: Option<Instant>,
}

/// How long an address that sent a proof that failed stays suspect.
const SUSPECT_FOR: std::time::Duration = std::time::Duration::from_secs(600);

/// Token buckets per client address.
#[derive(Debug)]
pub struct RequestLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RequestLimiter {
    /// `rate` requests per second sustained, `burst` at once; a rate of 0 allows everything.
    pub fn new(rate: u64, burst: u64) -> Self {
        Self { rate: rate as f64, burst: burst.max(1) as f64, buckets: Mutex::default() }
    }

    /// Takes `cost` from `ip`'s allowance; `false` (and nothing taken) when it has less.
    pub fn try_take(&self, ip: IpAddr, cost: u64) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        self.update(ip, |bucket| {
            let cost = cost as f64;
            let enough = bucket.tokens >= cost;
            if enough {
                bucket.tokens -= cost;
            }
            enough
        })
    }

    /// Takes `cost` from `ip`'s allowance, into debt if need be: its next requests wait.
    pub fn penalize(&self, ip: IpAddr, cost: u64) {
        if self.rate == 0.0 {
            return;
        }
        self.update(ip, |bucket| {
            bucket.tokens = (bucket.tokens - cost as f64).max(-self.burst);
            bucket.penalized_at = Some(Instant::now());
        });
    }

    /// Whether `ip` sent a proof that failed within the last ten minutes: its proofs are then
    /// verified alone, never in a batch with others' (no suspects without a rate: behind a
    /// proxy every client has the proxy's address).
    pub fn is_suspect(&self, ip: IpAddr) -> bool {
        if self.rate == 0.0 {
            return false;
        }
        let buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        buckets
            .get(&client_key(ip))
            .and_then(|b| b.penalized_at)
            .is_some_and(|at| at.elapsed() < SUSPECT_FOR)
    }

    /// Refills `ip`'s bucket to now, then applies `change`.
    fn update<T>(&self, ip: IpAddr, change: impl FnOnce(&mut Bucket) -> T) -> T {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED {
            self.forget(&mut buckets, now);
        }
        let bucket = buckets.entry(client_key(ip)).or_insert(Bucket {
            tokens: self.burst,
            at: now,
            penalized_at: None,
        });
        let refilled = bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * self.rate;
        bucket.tokens = refilled.min(self.burst);
        bucket.at = now;
        change(bucket)
    }

    fn forget(&self, buckets: &mut HashMap<IpAddr, Bucket>, now: Instant) {
        buckets.retain(|_, b| {
            b.tokens + now.duration_since(b.at).as_secs_f64() * self.rate < self.burst
        });
        if buckets.len() >= MAX_TRACKED / 2 {
            let mut keep = false;
            buckets.retain(|_, _| {
                keep = !keep;
                keep
            });
        }
    }
}

/// Things held per client address (open connections, paid requests in flight), each released
/// when its [`AddressSlot`] drops.
#[derive(Debug, Default)]
pub struct AddressCounter {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One thing a client address holds.
#[derive(Debug)]
pub struct AddressSlot {
    counter: Arc<AddressCounter>,
    key: IpAddr,
}

impl AddressCounter {
    /// A slot for `ip`, unless it holds `max` already (0: no cap). The map holds only addresses
    /// holding slots, so it is bounded by what the slots are for.
    pub fn open(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let key = client_key(ip);
        let max = if max == 0 { usize::MAX } else { max };
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(AddressSlot { counter: Arc::clone(self), key })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.counter.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_its_rate_and_junk_puts_it_in_debt() {
        let limiter = RequestLimiter::new(1, 3);
        let alice: IpAddr = "10.0.0.1".parse().expect("address");
        let bob: IpAddr = "10.0.0.2".parse().expect("address");
        assert!((0..3).all(|_| limiter.try_take(alice, 1)));
        assert!(!limiter.try_take(alice, 1), "the burst is spent");
        assert!(limiter.try_take(bob, 1), "others keep theirs");
        assert!(!limiter.is_suspect(bob));
        limiter.penalize(bob, 10);
        assert!(!limiter.try_take(bob, 1), "a penalized client waits");
        assert!(limiter.is_suspect(bob) && !limiter.is_suspect(alice));
        assert!(RequestLimiter::new(0, 0).try_take(alice, 1_000), "rate 0: no limit");
    }

    #[test]
    fn an_ipv6_subscriber_counts_once_and_slots_are_released() {
        let counter = Arc::new(AddressCounter::default());
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("address");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("address");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("address");
        let first = counter.open(a, 2).expect("first");
        let second = counter.open(b, 2).expect("same /64, second");
        assert!(counter.open(a, 2).is_none(), "the /64 is at its cap");
        assert!(counter.open(other, 2).is_some(), "another /64 is not");
        drop((first, second));
        assert!(counter.open(a, 2).is_some(), "released");
        assert!(counter.open.lock().expect("lock").len() <= 1, "closed addresses are forgotten");
    }
}
