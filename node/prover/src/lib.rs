//! Circuit artifacts and witnesses for the zkcredits circuits.
//!
//! ## Bird's eye view
//!
//! - [`witness`]: loads circom's wasm witness calculator once and computes witnesses by signal
//!   name, through ark-circom on wasmer.
//!
//! Groth16 proving and verification join this crate with the request, exit and slash circuits.
//! It is optimized even in the dev profile: arkworks generics are compiled where they are called.

mod error;
pub mod witness;

pub use error::ProverError;
pub use witness::{Witness, WitnessCircuit};
