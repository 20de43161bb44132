//! The private balance state `A = R·G + n·N + t·T + ρ·H` and its two transitions:
//! rerandomization by the client and the settlement update by the server.
//!
//! Spec: `spec/02-cryptography.md#state-commitments`.

use crate::{
    Fr,
    babyjubjub::{FixedBase, Generators, Point, Scalar},
    constants::{OWNER_TAG_BITS, TAG_STATE},
    identity::Secret,
    poseidon::poseidon_n,
};
use ark_ff::PrimeField;
use num_bigint::BigUint;

/// What opens a state commitment, kept by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateOpening {
    /// Total refunded so far, `R < 2^128`.
    pub refunded: u128,
    /// The next ticket index `n < 2^32`.
    pub index: u32,
    /// The blinding `ρ`.
    pub blinding: Scalar,
}

impl StateOpening {
    /// The genesis opening: `R = 0`, `n = 0`, with a chosen blinding.
    pub const fn genesis(blinding: Scalar) -> Self {
        Self { refunded: 0, index: 0, blinding }
    }

    /// The opening after a request rerandomized by `η` and settled with refund `r`:
    /// `(R + r, n + 1, ρ + η)`. `None` if `R` or `n` would leave its range.
    pub fn settled(&self, eta: &Scalar, refund: u128) -> Option<Self> {
        Some(Self {
            refunded: self.refunded.checked_add(refund)?,
            index: self.index.checked_add(1)?,
            blinding: self.blinding + eta,
        })
    }
}

/// The owner tag `t = Poseidon(k, TAG_STATE) mod 2^248`; it binds a state to its owner.
pub fn owner_tag(k: &Secret) -> BigUint {
    let full: BigUint = poseidon_n([*k.expose(), Fr::from(TAG_STATE)]).into_bigint().into();
    full & ((BigUint::from(1u8) << OWNER_TAG_BITS) - 1u8)
}

/// `A = R·G + n·N + t·T + ρ·H`.
pub fn commit(k: &Secret, opening: &StateOpening) -> Point {
    let g = Generators::get();
    g.g.mul_u128(opening.refunded)
        .add(&g.n.mul_u128(u128::from(opening.index)))
        .add(&g.t.mul_biguint(&owner_tag(k)))
        .add(&g.h.mul_scalar(&opening.blinding))
}

/// The client's rerandomization `A_anon = A + η·H`.
pub fn rerandomize(a: &Point, eta: &Scalar) -> Point {
    a.add(&Generators::get().h.mul_scalar(eta))
}

/// The server's settlement update `A' = A_anon + r·G + 1·N`.
pub fn settle(a_anon: &Point, refund: u128) -> Point {
    static REFUNDS: std::sync::OnceLock<FixedBase> = std::sync::OnceLock::new();
    let g = Generators::get();
    let refunds = REFUNDS.get_or_init(|| FixedBase::new(&g.g, 128));
    a_anon.add(&refunds.mul(&BigUint::from(refund))).add(&g.n)
}

/// The message a signer signs for a state of the deployment `scope`: `m = Poseidon(A.x, A.y,
/// scope)`. The scope binds the signature to one escrow, so a key in the signer sets of two
/// escrows signs states that only one of them accepts.
pub fn state_message(a: &Point, scope: &Fr) -> Fr {
    poseidon_n([a.x, a.y, *scope])
}

/// The solvency rule `(n + 1)·C_MAX ≤ D + R`, computed without wrapping.
pub fn is_solvent(index: u32, c_max: u64, deposit: u128, refunded: u128) -> bool {
    let needed = (u128::from(index) + 1) * u128::from(c_max);
    match deposit.checked_add(refunded) {
        Some(available) => needed <= available,
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settlement_commits_to_the_settled_opening() {
        let k = Secret::new(Fr::from(42u64)).expect("non-zero");
        let opening = StateOpening::genesis(Scalar::from(99u64));
        let a = commit(&k, &opening);
        let eta = Scalar::from(5u64);
        let next = settle(&rerandomize(&a, &eta), 300);
        let settled = opening.settled(&eta, 300).expect("in range");
        assert_eq!(next, commit(&k, &settled));
        assert_eq!(settled.index, 1);
        assert_eq!(settled.refunded, 300);
    }

    #[test]
    fn solvency_boundary() {
        assert!(is_solvent(0, 100, 100, 0));
        assert!(!is_solvent(1, 100, 100, 99));
        assert!(is_solvent(1, 100, 100, 100));
        assert!(is_solvent(u32::MAX, u64::MAX, u128::MAX, u128::MAX));
    }
}
