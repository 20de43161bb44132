//! Poseidon over BN254 with circomlib's parameters (`Poseidon(n)` in circomlib, PoseidonT{n+1}
//! in poseidon-solidity).

use crate::{Fr, PrimitivesError};
use light_poseidon::{Poseidon, PoseidonHasher};

/// Largest arity circomlib's Poseidon supports.
pub const MAX_ARITY: usize = 12;

/// `Poseidon(inputs)` with circomlib's parameters for `inputs.len()` inputs.
pub fn poseidon(inputs: &[Fr]) -> Result<Fr, PrimitivesError> {
    let arity = inputs.len();
    let mut hasher =
        Poseidon::<Fr>::new_circom(arity).map_err(|_| PrimitivesError::PoseidonArity(arity))?;
    hasher.hash(inputs).map_err(|_| PrimitivesError::PoseidonArity(arity))
}

/// Poseidon for a fixed arity known at compile time; arities 1 to 12 cannot fail.
pub fn poseidon_n<const N: usize>(inputs: [Fr; N]) -> Fr {
    const { assert!(N >= 1 && N <= MAX_ARITY, "circomlib Poseidon takes 1 to 12 inputs") };
    match poseidon(&inputs) {
        Ok(h) => h,
        Err(_) => unreachable!("arity checked at compile time"),
    }
}
