//! User identities: the secret `k`, the commitment `ID = Poseidon(k)` and the tree leaf.

use crate::{Fr, PrimitivesError, constants::EXPIRY_BITS, poseidon::poseidon_n};
use ark_ff::AdditiveGroup;

/// The user secret `k`: a non-zero field element. Its `Debug` never prints the value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Secret(Fr);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// Wraps a secret, refusing zero.
    pub fn new(k: Fr) -> Result<Self, PrimitivesError> {
        if k == Fr::ZERO { Err(PrimitivesError::ZeroSecret) } else { Ok(Self(k)) }
    }

    /// The secret value; handle with care.
    pub const fn expose(&self) -> &Fr {
        &self.0
    }

    /// The identity commitment `ID = Poseidon(k)`.
    pub fn commitment(&self) -> Fr {
        poseidon_n([self.0])
    }
}

/// The identity-tree leaf `Poseidon(ID, D, E)` for deposit `D` (base units) and expiry `E`
/// (unix seconds), exactly as the escrow computes it on deposit.
pub fn leaf(id: Fr, deposit: u128, expiry: u64) -> Fr {
    poseidon_n([id, Fr::from(deposit), Fr::from(expiry)])
}

/// `D·2^40 + E`: a deposit and its expiry in one field element, as the escrow's deposit queue
/// hashes them (`D < 2^96` and `E < 2^40`, so the packing is unique).
pub fn amount_expiry(deposit: u128, expiry: u64) -> Fr {
    Fr::from(deposit) * Fr::from(1u64 << EXPIRY_BITS) + Fr::from(expiry)
}

/// The deposit queue's accumulator after one more deposit: `Poseidon(acc + D·2^40 + E, ID)`,
/// from 0 before the first deposit (one PoseidonT3 on chain). Spec:
/// `spec/03-circuits.md#batch_insert`.
pub fn accumulate(acc: Fr, id: Fr, deposit: u128, expiry: u64) -> Fr {
    poseidon_n([acc + amount_expiry(deposit, expiry), id])
}
