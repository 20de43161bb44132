//! Circuit artifacts and witnesses for the zkcredits circuits.
//!
//! ## Bird's eye view
//!
//! - [`witness`]: loads circom's wasm witness calculator once and computes witnesses by signal
//!   name on wasmer (its field inversions patched to run natively), checked against the R1CS.
//! - [`graph`]: the witness computation as a graph of field operations traced from the wasm,
//!   evaluated natively (the wasm computes what the graph misses).
//! - [`inputs`]: typed circuit inputs and the public signals they must produce.
//! - [`manifest`]: the artifact manifest's hashes, checked when circuits and keys load.
//! - [`encoding`]: compressed arkworks bytes and snarkjs-compatible JSON.
//! - [`solidity`]: Solidity verifier contracts rendered from verifying keys.
//! - [`fixtures`]: deterministic example statements for tests, benchmarks and vectors.
//! - [`ptau`]: an INSECURE prepared powers-of-tau file from a seed, for the ceremony tests.
//! - [`groth16`]: insecure deterministic dev keys, proving, single and batch verification.
//! - `qap`: the quotient polynomial of both R1CS-to-QAP reductions (arkworks', circom's).
//! - [`msm`]: the multi-scalar multiplication the prover spends its time in.
//! - `ifma`: field arithmetic eight elements at a time (AVX-512 IFMA) for the MSM, the NTT and
//!   batch verification (eight proofs' weighted `A` and Miller loops at once), used where the
//!   CPU has it (detected at run time) unless `ZKCREDITS_PORTABLE_ARITHMETIC` is set; elsewhere
//!   arkworks' arithmetic computes the same results.
//! - `inversion`: Bernstein–Yang modular inversion for the witness calculator's divisions.
//! - `limbs`: 256-bit integers as limbs of 52 or 62 bits, for `ifma` and `inversion`.
//!
//! This crate is optimized even in the dev profile: arkworks generics are compiled where they
//! are called.

pub mod encoding;
mod error;
pub mod fixtures;
pub mod graph;
pub mod groth16;
#[cfg(all(target_arch = "x86_64", not(zkcredits_portable_only)))]
mod ifma;
pub mod inputs;
mod inversion;
mod limbs;
pub mod manifest;
pub mod msm;
mod native_inverse;
pub mod ptau;
mod qap;
pub mod solidity;
pub mod witness;

pub use error::ProverError;
pub use groth16::{
    KeyFile, ProofCache, Verifier, import_zkey, insecure_dev_setup, load_checked_prover, prove,
    prove_with_zkey_key,
};
pub use manifest::Manifest;
pub use witness::{Witness, WitnessCircuit};
