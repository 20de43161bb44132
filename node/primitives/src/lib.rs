//! Pure cryptographic primitives of zkcredits. No I/O, no async, no panics on bad input.
//!
//! ## Bird's eye view
//!
//! - [`field`]: the BN254 scalar field `Fr`, decimal encoding, hashing bytes into the field.
//! - [`poseidon`]: circomlib-compatible Poseidon (1 to 12 inputs).
//! - [`babyjubjub`]: Baby Jubjub in circomlib's form, and the state generators `G, N, T, H`.
//! - [`eddsa`]: EdDSA-Poseidon, identical to circomlibjs and circomlib's verifier.
//! - [`identity`]: the secret `k`, `ID = Poseidon(k)`, the leaf `Poseidon(ID, D, E)`.
//! - [`state`]: `A = R·G + n·N + t·T + ρ·H`, rerandomization, settlement, solvency.
//! - [`merkle`]: the LeanIMT of the escrow, the root window, the signer-set tree.
//! - [`rln`]: shares, nullifiers, message points and secret recovery.
//!
//! Every function here is specified in `spec/02-cryptography.md` and pinned by the vectors in
//! `spec/vectors/`, which Rust, circomlibjs, Solidity and the circuits all check.

pub mod babyjubjub;
pub mod constants;
pub mod eddsa;
mod error;
pub mod field;
pub mod identity;
pub mod merkle;
pub mod poseidon;
pub mod rln;
pub mod state;

pub use error::{PrimitivesError, RlnError, TreeError};
pub use field::Fr;
