//! Errors of the prover crate.

use std::path::PathBuf;

/// Everything that can go wrong loading a circuit or computing a witness.
#[derive(Debug, thiserror::Error)]
pub enum ProverError {
    /// A circuit artifact could not be read.
    #[error(
        "cannot read circuit artifact {path}: {source} (build the circuits with `make circuits`)"
    )]
    Artifact {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The witness calculator wasm could not be compiled or instantiated.
    #[error("cannot load witness calculator {path}: {reason}")]
    Wasm {
        /// The wasm file.
        path: PathBuf,
        /// What wasmer or ark-circom reported.
        reason: String,
    },
    /// An artifact that exists but cannot be parsed.
    #[error(
        "malformed circuit artifact {path}: {reason} (rebuild the circuits with `make circuits`)"
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What the parser reported.
        reason: String,
    },
    /// An artifact or key that is not the one the manifest records.
    #[error(
        "{artifact} does not match {manifest} (its sha256 is {actual}, the manifest records \
         {expected}): rebuild with `make circuits` and `make keys`, point at the artifacts of \
         this build, or run `make verifiers` if the circuits changed on purpose"
    )]
    ManifestMismatch {
        /// The artifact or key file.
        artifact: PathBuf,
        /// The manifest.
        manifest: PathBuf,
        /// The recorded hash.
        expected: String,
        /// The file's hash.
        actual: String,
    },
    /// A `.sym` line is not `label,witness,component,name`.
    #[error("malformed symbol file {path} at line {line}")]
    Symbols {
        /// The symbol file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
    },
    /// The inputs do not satisfy the circuit (an assertion or `===` failed) or are missing.
    #[error("witness generation failed: the inputs do not satisfy the circuit ({0})")]
    Unsatisfied(String),
    /// A batch the escrow would not accept, so no `batch_insert` proof exists for it.
    #[error("the batch cannot be proven: {0}")]
    Batch(String),
    /// A signal name that the circuit does not have.
    #[error("the circuit has no signal named {0:?}")]
    UnknownSignal(String),
    /// Groth16 key generation failed.
    #[error("Groth16 setup failed: {0}")]
    Setup(String),
    /// A proving key made for another circuit (or another build of it).
    #[error(
        "the proving key does not belong to this circuit: the key has {key_wires} wires and \
         {key_public} public signals, the circuit {circuit_wires} and {circuit_public} \
         (rebuild the key for this circuit build)"
    )]
    KeyMismatch {
        /// Wires the key was made for.
        key_wires: usize,
        /// Public signals the key was made for.
        key_public: usize,
        /// Wires of the circuit.
        circuit_wires: usize,
        /// Public signals of the circuit.
        circuit_public: usize,
    },
    /// Groth16 proving failed.
    #[error("Groth16 proving failed: {0}")]
    Prove(String),
    /// A proof came with the wrong number of public signals for the key.
    #[error("wrong number of public signals: the verifying key expects {expected}, got {got}")]
    PublicInputCount {
        /// What the key expects.
        expected: usize,
        /// What was supplied.
        got: usize,
    },
    /// The proof does not verify for these public signals.
    #[error("the proof does not verify for these public signals")]
    InvalidProof,
    /// A proof, key or public-signal encoding is malformed.
    #[error("malformed encoding: {0}")]
    Encoding(String),
}
