//! `zkcredits circuits setup`: Groth16 keys for the protocol circuits, and everything derived
//! from them that the repository commits: verifying keys, the artifact manifest, the Solidity
//! verifiers of `exit` and `slash`, and the Groth16 vectors.

use super::hex;
use ark_bn254::{Bn254, Fr};
use ark_groth16::ProvingKey;
use eyre::{WrapErr, bail, eyre};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use zkcredits_primitives::{constants::SIGNER_TREE_DEPTH, rln::scope};
use zkcredits_prover::{
    WitnessCircuit, encoding, fixtures, inputs::SlashInputs, insecure_dev_setup, prove,
    solidity::render_verifier,
};

/// Arguments of `zkcredits circuits`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Args {
    /// Generate keys and the committed artifacts derived from them.
    ///
    /// Examples:
    ///   zkcredits circuits setup --insecure-dev-seed zkcredits-dev
    ///   zkcredits circuits setup --insecure-dev-seed zkcredits-dev --check
    #[command(verbatim_doc_comment)]
    Setup(SetupArgs),
}

/// Arguments of `zkcredits circuits setup`.
#[derive(Debug, clap::Args)]
pub(crate) struct SetupArgs {
    /// Seed of a deterministic, INSECURE development setup: anyone who knows it can forge proofs.
    #[arg(long, value_name = "SEED", required = true)]
    insecure_dev_seed: String,
    /// Directory holding the compiled circuits (`make circuits` writes `<dir>/circuits/main`).
    #[arg(long, value_name = "DIR", default_value = "build")]
    build_dir: PathBuf,
    /// Where proving keys are written (they are large and not committed).
    #[arg(long, value_name = "DIR", default_value = "build/keys")]
    keys_dir: PathBuf,
    /// The repository root, under which committed artifacts are written.
    #[arg(long, value_name = "DIR", default_value = ".")]
    root: PathBuf,
    /// Compare the committed artifacts with freshly generated ones instead of writing them.
    #[arg(long)]
    check: bool,
}

/// The protocol circuits, in the order their artifacts are written.
const CIRCUITS: [&str; 3] = ["request", "exit", "slash"];

impl Args {
    pub(crate) fn run(self) -> eyre::Result<()> {
        match self {
            Self::Setup(args) => args.run(),
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn read(path: &Path) -> eyre::Result<Vec<u8>> {
    std::fs::read(path)
        .wrap_err_with(|| format!("cannot read {} (run `make circuits` first)", path.display()))
}

fn pretty(value: &Value) -> eyre::Result<String> {
    Ok(format!("{}\n", serde_json::to_string_pretty(value)?))
}

impl SetupArgs {
    fn run(self) -> eyre::Result<()> {
        let circuits_dir = self.build_dir.join("circuits/main");
        let mut files: Vec<(PathBuf, String)> = Vec::new();
        let mut manifest = serde_json::Map::new();
        eprintln!(
            "circuits: INSECURE dev setup from seed {:?}: never use these keys on a real network",
            self.insecure_dev_seed
        );
        let progress = ProgressBar::new(CIRCUITS.len() as u64 * 2).with_style(
            ProgressStyle::with_template("{spinner} [{elapsed}] {bar:20} {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        progress.enable_steady_tick(std::time::Duration::from_millis(200));
        let mut rng =
            ChaCha20Rng::from_seed(Sha256::digest(self.insecure_dev_seed.as_bytes()).into());
        let mut exit_and_slash = Vec::new();
        let compiler = String::from_utf8(read(&circuits_dir.join("compiler.txt"))?)
            .wrap_err("compiler.txt is not UTF-8")?
            .trim()
            .to_owned();
        for name in CIRCUITS {
            progress.set_message(format!("{name}: generating keys"));
            let mut circuit = WitnessCircuit::load(&circuits_dir, name)?;
            let key = insecure_dev_setup(&circuit, self.insecure_dev_seed.as_bytes())?;
            progress.inc(1);
            progress.set_message(format!("{name}: proving the example"));
            let vk_json = encoding::verifying_key_to_json(&key.vk);
            let vk_text = pretty(&vk_json)?;
            let vk_hash = sha256_hex(vk_text.as_bytes());

            let (inputs, expected_public) = fixtures::example(name)
                .ok_or_else(|| eyre!("no example statement for circuit {name}"))?;
            let example_input = Value::Object(inputs_json(&inputs));
            let (proof, public) = prove(&key, &mut circuit, inputs, &mut rng)?;
            if public != expected_public {
                bail!(
                    "circuit {name} computed public signals that differ from zkcredits-primitives"
                );
            }
            let mut tampered = public.clone();
            tampered[0] += Fr::from(1u64);
            files.push((
                self.root.join(format!("spec/vectors/groth16/{name}.json")),
                pretty(&json!({
                    "description": format!("A valid Groth16 proof of the {name} circuit under the INSECURE dev key, and a tampered public signal that must be rejected"),
                    "circuit": name,
                    "insecure_dev_seed": self.insecure_dev_seed,
                    "verification_key_sha256": vk_hash,
                    "public_signals": encoding::public_to_json(&public),
                    "proof": encoding::proof_to_json(&proof),
                    "proof_compressed_hex": hex(&encoding::proof_to_bytes(&proof)),
                    "calldata": encoding::solidity_calldata(&proof, &public),
                    "invalid": [{ "description": "first public signal plus one", "public_signals": encoding::public_to_json(&tampered) }],
                }))?,
            ));
            files.push((
                self.root.join(format!("circuits/artifacts/{name}/verification_key.json")),
                vk_text,
            ));
            manifest.insert(
                name.to_owned(),
                json!({
                    "compiler": compiler,
                    "constraints": circuit.r1cs().constraints.len(),
                    "public_signals": circuit.public_count(),
                    "r1cs_sha256": sha256_hex(&read(&circuits_dir.join(format!("{name}.r1cs")))?),
                    "wasm_sha256": sha256_hex(&read(&circuits_dir.join(format!("{name}_js/{name}.wasm")))?),
                    "verification_key_sha256": vk_hash,
                    "setup": format!("INSECURE deterministic dev setup, seed {:?}", self.insecure_dev_seed),
                }),
            );
            if name != "request" {
                let contract = format!("{}Verifier", capitalize(name));
                let header = [
                    format!("circuit: circuits/main/{name}.circom"),
                    format!(
                        "verifying key sha256: {vk_hash} (circuits/artifacts/{name}/verification_key.json)"
                    ),
                    format!(
                        "INSECURE development key from seed {:?}: never deploy it to a real network",
                        self.insecure_dev_seed
                    ),
                ];
                files.push((
                    self.root.join(format!("contracts/src/verifiers/{contract}.sol")),
                    render_verifier(&contract, name, &key.vk, &header),
                ));
            }
            if !self.check {
                std::fs::create_dir_all(&self.keys_dir)?;
                // The example's inputs in snarkjs form, for `script/bench-snarkjs.sh`.
                std::fs::write(
                    self.keys_dir.join(format!("{name}.example-input.json")),
                    pretty(&example_input)?,
                )
                .wrap_err("cannot write the example input")?;
                let path = self.keys_dir.join(format!("{name}.pk.bin"));
                // Uncompressed: `zkcredits prove` reads it back without decompressing every point.
                let mut bytes = Vec::new();
                ark_serialize::CanonicalSerialize::serialize_uncompressed(&key, &mut bytes)
                    .map_err(|e| eyre!("cannot serialize the {name} proving key: {e}"))?;
                std::fs::write(&path, bytes)
                    .wrap_err_with(|| format!("cannot write {}", path.display()))?;
            }
            progress.inc(1);
            if name != "request" {
                exit_and_slash.push((key, circuit));
            }
        }
        progress.set_message("escrow vectors");
        let [(exit_key, mut exit_circuit), (slash_key, mut slash_circuit)]: [_; 2] =
            exit_and_slash.try_into().map_err(|_| eyre!("exit and slash keys are missing"))?;
        files.push((
            self.root.join("spec/vectors/groth16/escrow.json"),
            pretty(&escrow_vectors(
                (&exit_key, &mut exit_circuit),
                (&slash_key, &mut slash_circuit),
                &self.insecure_dev_seed,
                &mut rng,
            )?)?,
        ));
        progress.finish_and_clear();
        files.push((
            self.root.join("circuits/artifacts/manifest.json"),
            pretty(&Value::Object(manifest))?,
        ));

        if self.check {
            let stale: Vec<String> = files
                .iter()
                .filter(|(path, content)| {
                    std::fs::read_to_string(path).ok().as_deref() != Some(content)
                })
                .map(|(path, _)| path.display().to_string())
                .collect();
            if !stale.is_empty() {
                bail!(
                    "{} circuit artifact(s) differ from this build: {}. Run `make verifiers` and commit the result.",
                    stale.len(),
                    stale.join(", ")
                );
            }
            println!("{} circuit artifacts match", files.len());
            return Ok(());
        }
        for (path, content) in &files {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, content)
                .wrap_err_with(|| format!("cannot write {}", path.display()))?;
            println!("wrote {}", path.display());
        }
        Ok(())
    }
}

/// Who the escrow vectors' slash proofs pay.
const SLASH_RECEIVER: u64 = 0xabcd;

/// Exit and slash proofs for the escrow users of `fixtures::escrow_user`, bound to the example
/// escrow: what the Foundry tests of `CreditEscrow` submit.
fn escrow_vectors(
    (exit_key, exit_circuit): (&ProvingKey<Bn254>, &mut WitnessCircuit),
    (slash_key, slash_circuit): (&ProvingKey<Bn254>, &mut WitnessCircuit),
    seed: &str,
    rng: &mut ChaCha20Rng,
) -> eyre::Result<Value> {
    let mut users = Vec::new();
    for i in 0..3 {
        let (secret, deposit) = fixtures::escrow_user(i);
        let slash = SlashInputs { secret, receiver: Fr::from(SLASH_RECEIVER) };
        let (proof, public) = prove(slash_key, slash_circuit, slash.circom_inputs(), rng)?;
        let mut exits = Vec::new();
        for unsettled in [false, true] {
            let exit = fixtures::exit_of(secret, deposit, unsettled);
            let inputs = exit
                .circom_inputs(SIGNER_TREE_DEPTH)
                .ok_or_else(|| eyre!("escrow user {i} cannot afford its exit"))?;
            let (proof, public) = prove(exit_key, exit_circuit, inputs, rng)?;
            exits.push(json!({
                "unsettled": unsettled,
                "recipient": hex(&exit.recipient),
                "amount": public[3].to_string(),
                "nullifier": public[4].to_string(),
                "y": public[5].to_string(),
                "calldata": encoding::solidity_calldata(&proof, &public),
            }));
        }
        users.push(json!({
            "identity": secret.commitment().to_string(),
            "deposit": deposit.to_string(),
            "slash": {
                "receiver": format!("0x{SLASH_RECEIVER:040x}"),
                "calldata": encoding::solidity_calldata(&proof, &public),
            },
            "exits": exits,
        }));
    }
    Ok(json!({
        "description": "Exit and slash proofs of three deposits in the escrow that `deployer` creates first (at `escrow`) on `chain_id`, under the INSECURE dev keys: what the Foundry tests of CreditEscrow submit. exits[0] settles every ticket (p = 0), exits[1] charges the last one (p = 1).",
        "insecure_dev_seed": seed,
        "chain_id": fixtures::EXAMPLE_CHAIN_ID,
        "escrow": hex(&fixtures::EXAMPLE_ESCROW),
        "deployer": hex(&fixtures::EXAMPLE_DEPLOYER),
        "scope": scope(fixtures::EXAMPLE_CHAIN_ID, &fixtures::EXAMPLE_ESCROW).to_string(),
        "c_max": "1000",
        "signer_root": fixtures::exit_signer_root().to_string(),
        "users": users,
    }))
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// Circom inputs as a snarkjs input object (arrays stay flat; circom accepts them).
fn inputs_json(inputs: &[(String, Vec<num_bigint::BigInt>)]) -> serde_json::Map<String, Value> {
    inputs
        .iter()
        .map(|(name, values)| {
            let strings: Vec<Value> = values.iter().map(|v| Value::String(v.to_string())).collect();
            let value = if strings.len() == 1 { strings[0].clone() } else { Value::Array(strings) };
            (name.clone(), value)
        })
        .collect()
}
