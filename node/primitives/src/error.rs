//! Errors of the primitives crate.

use crate::Fr;

/// Everything that can go wrong in a primitive operation.
///
/// Messages name the offending value where it is not secret, so a caller can tell what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrimitivesError {
    /// A decimal or hex string is not a canonical element of the BN254 scalar field.
    #[error(
        "not a canonical BN254 field element: {0:?} (expected a decimal integer below the field modulus)"
    )]
    InvalidFieldElement(String),
    /// A decimal string is not a canonical Baby Jubjub scalar (below the subgroup order).
    #[error(
        "not a canonical Baby Jubjub scalar: {0:?} (expected a decimal integer below the subgroup order)"
    )]
    InvalidScalar(String),
    /// Poseidon was called with an arity circomlib does not define.
    #[error("Poseidon arity {0} is not supported (circomlib defines 1 to 12 inputs)")]
    PoseidonArity(usize),
    /// A pair of coordinates does not satisfy the Baby Jubjub curve equation.
    #[error("point ({x}, {y}) is not on Baby Jubjub")]
    NotOnCurve {
        /// x coordinate.
        x: Fr,
        /// y coordinate.
        y: Fr,
    },
    /// A point is on the curve but outside the prime-order subgroup.
    #[error("point ({x}, {y}) is not in the prime-order subgroup of Baby Jubjub")]
    NotInSubgroup {
        /// x coordinate.
        x: Fr,
        /// y coordinate.
        y: Fr,
    },
    /// An EdDSA signature did not verify.
    #[error("EdDSA-Poseidon signature does not verify for this message and public key")]
    InvalidSignature,
    /// A user secret `k` of zero: it would make the identity and every share trivial.
    #[error("the user secret must be non-zero")]
    ZeroSecret,
    /// Merkle tree errors.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// RLN recovery errors.
    #[error(transparent)]
    Rln(#[from] RlnError),
}

/// Errors of the LeanIMT and the signer-set tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// A leaf index past the end of the tree.
    #[error("leaf index {index} is out of range for a tree of {size} leaves")]
    IndexOutOfRange {
        /// Requested index.
        index: usize,
        /// Number of leaves.
        size: usize,
    },
    /// The tree is full at its maximum depth.
    #[error("the tree is full: {capacity} leaves at depth {depth}")]
    Full {
        /// Maximum depth.
        depth: usize,
        /// Capacity at that depth.
        capacity: usize,
    },
    /// A proof is longer than the depth the circuits support.
    #[error("proof depth {depth} exceeds the circuit depth {max}")]
    TooDeep {
        /// Depth of the proof.
        depth: usize,
        /// Largest supported depth.
        max: usize,
    },
    /// Leaves must be non-zero (zero marks a removed leaf).
    #[error("a tree leaf must be non-zero")]
    ZeroLeaf,
}

/// Errors when recovering a secret from two RLN shares.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RlnError {
    /// The two shares carry different nullifiers: they belong to different tickets.
    #[error("shares have different nullifiers ({0} and {1}): not the same ticket")]
    DifferentNullifiers(Fr, Fr),
    /// Both shares have the same `x`: a replay, not a double spend, so nothing can be recovered.
    #[error("shares have the same x: a replay reveals nothing")]
    SameX,
    /// The line through the two points does not hash to the nullifier: the shares are not from one
    /// honest ticket, so the recovered value would not be the user's secret.
    #[error("slope of the two shares does not hash to the nullifier {0}")]
    SlopeMismatch(Fr),
}
