//! The artifact manifest, `circuits/artifacts/manifest.json`: what each circuit's r1cs, wasm and
//! verifying key hash to (written by `zkcredits circuits setup`). Loading a circuit or a key
//! against it refuses artifacts of another build before they produce proofs nobody accepts.

use crate::{ProverError, encoding};
use ark_bn254::Bn254;
use ark_groth16::VerifyingKey;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The recorded hashes of one circuit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// sha256 of `<circuit>.r1cs`.
    pub r1cs_sha256: String,
    /// sha256 of `<circuit>_js/<circuit>.wasm`.
    pub wasm_sha256: String,
    /// sha256 of the verifying key as `circuits setup` writes it (pretty snarkjs JSON).
    pub verification_key_sha256: String,
    /// sha256 of `<circuit>.graph`, the native witness graph (absent in older manifests).
    pub graph_sha256: Option<String>,
}

/// A parsed manifest and where it came from.
#[derive(Debug, Clone)]
pub struct Manifest {
    path: PathBuf,
    json: Value,
}

/// Lowercase hex sha256, as the manifest writes hashes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The sha256 the manifest records for a verifying key: of its pretty snarkjs JSON and a newline.
pub fn verifying_key_sha256(vk: &VerifyingKey<Bn254>) -> String {
    let json = serde_json::to_string_pretty(&encoding::verifying_key_to_json(vk))
        .unwrap_or_else(|_| unreachable!("a JSON value always serializes"));
    sha256_hex(format!("{json}\n").as_bytes())
}

impl Manifest {
    /// Reads a manifest file.
    pub fn read(path: &Path) -> Result<Self, ProverError> {
        let bytes = std::fs::read(path)
            .map_err(|source| ProverError::Artifact { path: path.to_owned(), source })?;
        let json = serde_json::from_slice(&bytes)
            .map_err(|e| ProverError::Malformed { path: path.to_owned(), reason: e.to_string() })?;
        Ok(Self { path: path.to_owned(), json })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The hashes recorded for `circuit`.
    pub fn entry(&self, circuit: &str) -> Result<ManifestEntry, ProverError> {
        let field = |name: &str| {
            self.json[circuit][name].as_str().map(str::to_owned).ok_or_else(|| {
                ProverError::Malformed {
                    path: self.path.clone(),
                    reason: format!("no {circuit}.{name} (regenerate it with `make verifiers`)"),
                }
            })
        };
        Ok(ManifestEntry {
            r1cs_sha256: field("r1cs_sha256")?,
            wasm_sha256: field("wasm_sha256")?,
            verification_key_sha256: field("verification_key_sha256")?,
            graph_sha256: self.json[circuit]["graph_sha256"].as_str().map(str::to_owned),
        })
    }

    /// Refuses an artifact whose sha256 is not `expected`.
    pub(crate) fn check(
        &self,
        artifact: &Path,
        expected: &str,
        actual: &str,
    ) -> Result<(), ProverError> {
        if expected == actual {
            Ok(())
        } else {
            Err(ProverError::ManifestMismatch {
                artifact: artifact.to_owned(),
                manifest: self.path.clone(),
                expected: expected.to_owned(),
                actual: actual.to_owned(),
            })
        }
    }

    /// Refuses a verifying key (or the one inside a proving key) that is not `circuit`'s.
    pub fn check_verifying_key(
        &self,
        circuit: &str,
        key_file: &Path,
        vk: &VerifyingKey<Bn254>,
    ) -> Result<(), ProverError> {
        let expected = self.entry(circuit)?.verification_key_sha256;
        self.check(key_file, &expected, &verifying_key_sha256(vk))
    }
}
