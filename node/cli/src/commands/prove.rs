//! `zkcredits prove` and `zkcredits verify`: one proof from a snarkjs-style input file, and its
//! check against a verifying key, both in snarkjs JSON.

use eyre::{WrapErr, bail, eyre};
use num_bigint::BigInt;
use serde_json::Value;
use std::path::{Path, PathBuf};
use zkcredits_prover::{KeyFile, Manifest, Verifier, WitnessCircuit, encoding};

/// A protocol circuit.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Circuit {
    /// A paid request.
    Request,
    /// An exit from the escrow.
    Exit,
    /// A slash of a double spender.
    Slash,
    /// Queued deposits appended to the identity tree.
    #[value(name = "batch_insert")]
    BatchInsert,
}

impl Circuit {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Exit => "exit",
            Self::Slash => "slash",
            Self::BatchInsert => "batch_insert",
        }
    }
}

/// Arguments of `zkcredits prove`.
#[derive(Debug, clap::Args)]
pub(crate) struct ProveArgs {
    /// Which circuit to prove.
    circuit: Circuit,
    /// Circuit inputs as JSON: signal name to a decimal string, a number, or a (nested) array.
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    /// Where `proof.json` and `public.json` are written.
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// Directory holding the compiled circuits (`<dir>/circuits/main`).
    #[arg(long, value_name = "DIR", default_value = "build")]
    build_dir: PathBuf,
    /// Directory holding the proving keys written by `zkcredits circuits setup`.
    #[arg(long, value_name = "DIR", default_value = "build/keys")]
    keys_dir: PathBuf,
    /// Prove with the key of a snarkjs `.zkey` from a ceremony instead of the dev key.
    #[arg(long, value_name = "FILE", conflicts_with = "keys_dir")]
    zkey: Option<PathBuf>,
    /// The artifact manifest the circuit and key must match (`zkcredits circuits setup` writes it).
    #[arg(long, value_name = "FILE", default_value = "circuits/artifacts/manifest.json")]
    manifest: PathBuf,
}

/// Arguments of `zkcredits verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// Which circuit the proof is for.
    circuit: Circuit,
    /// The proof, snarkjs JSON.
    #[arg(long, value_name = "FILE")]
    proof: PathBuf,
    /// The public signals, snarkjs JSON.
    #[arg(long, value_name = "FILE")]
    public: PathBuf,
    /// The verifying key; defaults to `circuits/artifacts/<circuit>/verification_key.json`.
    #[arg(long, value_name = "FILE")]
    vk: Option<PathBuf>,
}

fn read_json(path: &Path) -> eyre::Result<Value> {
    let text = std::fs::read_to_string(path)
        .wrap_err_with(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).wrap_err_with(|| format!("{} is not valid JSON", path.display()))
}

fn flatten(name: &str, value: &Value, out: &mut Vec<BigInt>) -> eyre::Result<()> {
    match value {
        Value::String(s) => out
            .push(s.parse().map_err(|_| eyre!("input {name:?}: {s:?} is not a decimal integer"))?),
        Value::Number(n) if n.is_u64() => out.push(BigInt::from(n.as_u64().unwrap_or_default())),
        Value::Array(items) => {
            for item in items {
                flatten(name, item, out)?;
            }
        }
        other => bail!(
            "input {name:?}: expected a decimal string, a non-negative integer or an array, got {other}"
        ),
    }
    Ok(())
}

/// Reads a snarkjs-style input file into named, flattened circom inputs.
fn read_inputs(path: &Path) -> eyre::Result<Vec<(String, Vec<BigInt>)>> {
    let Value::Object(map) = read_json(path)? else {
        bail!("{}: expected a JSON object of signal names to values", path.display());
    };
    map.iter()
        .map(|(name, value)| {
            let mut values = Vec::new();
            flatten(name, value, &mut values)?;
            Ok((name.clone(), values))
        })
        .collect()
}

impl ProveArgs {
    pub(crate) fn run(self) -> eyre::Result<()> {
        let name = self.circuit.name();
        let inputs = read_inputs(&self.input)?;
        let manifest = Manifest::read(&self.manifest)
            .wrap_err("cannot read the artifact manifest (pass --manifest FILE)")?;
        let mut circuit =
            WitnessCircuit::load_checked(&self.build_dir.join("circuits/main"), name, &manifest)?;
        let mut rng = rand::rngs::OsRng;
        let (key, key_path) = match &self.zkey {
            Some(zkey) => (KeyFile::import_zkey(zkey)?, zkey.clone()),
            None => {
                let key_path = self.keys_dir.join(format!("{name}.pk.bin"));
                let key = KeyFile::read_dev(&key_path).wrap_err(
                    "cannot read the proving key (run `make verifiers` or `zkcredits circuits setup`)",
                )?;
                (key, key_path)
            }
        };
        manifest.check_verifying_key(name, &key_path, &key.proving_key().vk)?;
        let (proof, public) = key.prove(&mut circuit, inputs, &mut rng)?;
        std::fs::create_dir_all(&self.out)?;
        for (file, value) in [
            ("proof.json", encoding::proof_to_json(&proof)),
            ("public.json", encoding::public_to_json(&public)),
        ] {
            let path = self.out.join(file);
            std::fs::write(&path, format!("{}\n", serde_json::to_string_pretty(&value)?))
                .wrap_err_with(|| format!("cannot write {}", path.display()))?;
            println!("wrote {}", path.display());
        }
        Ok(())
    }
}

impl VerifyArgs {
    pub(crate) fn run(self) -> eyre::Result<()> {
        let vk_path = self.vk.unwrap_or_else(|| {
            PathBuf::from(format!(
                "circuits/artifacts/{}/verification_key.json",
                self.circuit.name()
            ))
        });
        let vk = encoding::verifying_key_from_json(&read_json(&vk_path)?)?;
        let proof = encoding::proof_from_json(&read_json(&self.proof)?)?;
        let public = encoding::public_from_json(&read_json(&self.public)?)?;
        Verifier::new(&vk).verify(&public, &proof)?;
        println!("OK: the {} proof verifies", self.circuit.name());
        Ok(())
    }
}
