//! Poseidon over BN254 with circomlib's parameters (`Poseidon(n)` in circomlib, PoseidonT{n+1}
//! in poseidon-solidity).

use crate::{Fr, PrimitivesError};
use light_poseidon::{Poseidon, PoseidonHasher};
use std::cell::RefCell;

/// Largest arity circomlib's Poseidon supports.
pub const MAX_ARITY: usize = 12;

thread_local! {
    /// One hasher per arity and thread: building the round constants costs about as much as a
    /// hash, and a hasher holds no state between calls.
    static HASHERS: RefCell<[Option<Poseidon<Fr>>; MAX_ARITY]> = const { RefCell::new([const { None }; MAX_ARITY]) };
}

/// `Poseidon(inputs)` with circomlib's parameters for `inputs.len()` inputs.
pub fn poseidon(inputs: &[Fr]) -> Result<Fr, PrimitivesError> {
    let arity = inputs.len();
    if !(1..=MAX_ARITY).contains(&arity) {
        return Err(PrimitivesError::PoseidonArity(arity));
    }
    HASHERS.with(|hashers| {
        let mut hashers = hashers.borrow_mut();
        let slot = &mut hashers[arity - 1];
        if slot.is_none() {
            *slot = Some(
                Poseidon::<Fr>::new_circom(arity)
                    .map_err(|_| PrimitivesError::PoseidonArity(arity))?,
            );
        }
        match slot {
            Some(hasher) => hasher.hash(inputs).map_err(|_| PrimitivesError::PoseidonArity(arity)),
            None => Err(PrimitivesError::PoseidonArity(arity)),
        }
    })
}

/// Poseidon for a fixed arity known at compile time; arities 1 to 12 cannot fail.
pub fn poseidon_n<const N: usize>(inputs: [Fr; N]) -> Fr {
    const { assert!(N >= 1 && N <= MAX_ARITY, "circomlib Poseidon takes 1 to 12 inputs") };
    match poseidon(&inputs) {
        Ok(h) => h,
        Err(_) => unreachable!("arity checked at compile time"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arities_outside_circomlib_are_errors() {
        assert_eq!(poseidon(&[]), Err(PrimitivesError::PoseidonArity(0)));
        assert_eq!(poseidon(&[Fr::from(1u64); 13]), Err(PrimitivesError::PoseidonArity(13)));
        // A reused hasher gives the same result as a fresh one.
        let once = poseidon_n([Fr::from(7u64), Fr::from(8u64)]);
        assert_eq!(poseidon_n([Fr::from(7u64), Fr::from(8u64)]), once);
    }
}
