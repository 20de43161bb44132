//! `zkcredits circuits setup`: Groth16 keys for the protocol circuits, and everything derived
//! from them that the repository commits: verifying keys, the artifact manifest, the Solidity
//! verifiers of `exit`, `slash` and `batch_insert`, and the Groth16 vectors. It also traces each circuit's
//! native witness graph into the build directory (its hash goes into the manifest). The keys are either an INSECURE
//! development setup from a seed or imported from the `.zkey` files of a snarkjs ceremony.

use super::{hex, prove::Circuit};
use ark_bn254::Fr;
use eyre::{WrapErr, bail, eyre};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use zkcredits_primitives::{
    constants::SIGNER_TREE_DEPTH, identity::accumulate, merkle::LeanImt, rln::scope,
};
use zkcredits_prover::{
    KeyFile, Verifier, WitnessCircuit, encoding, fixtures,
    inputs::{BatchInsertInputs, QueuedNote, SlashInputs},
    insecure_dev_setup,
    manifest::{self, sha256_hex},
    solidity::{FixedSignal, VerifierProvenance, render_verifier},
};

/// Arguments of `zkcredits circuits`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Args {
    /// Generate or import keys and write the committed artifacts derived from them.
    ///
    /// Examples:
    ///   zkcredits circuits setup --insecure-dev-seed zkcredits-dev
    ///   zkcredits circuits setup --insecure-dev-seed zkcredits-dev --check
    ///   zkcredits circuits setup --zkey request=request.zkey --zkey exit=exit.zkey \
    ///     --zkey slash=slash.zkey --zkey batch_insert=batch_insert.zkey
    #[command(verbatim_doc_comment)]
    Setup(SetupArgs),
}

/// Arguments of `zkcredits circuits setup`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("keys").required(true).args(["insecure_dev_seed", "zkey"]))]
pub(crate) struct SetupArgs {
    /// Seed of a deterministic, INSECURE development setup: anyone who knows it can forge proofs.
    #[arg(long, value_name = "SEED")]
    insecure_dev_seed: Option<String>,
    /// A circuit's key from a snarkjs ceremony, as `CIRCUIT=FILE.zkey`; give one per circuit
    /// (request, exit, slash, batch_insert). No `.pk.bin` is written: prove with `zkcredits prove --zkey`.
    #[arg(long, value_name = "CIRCUIT=FILE", value_parser = parse_zkey)]
    zkey: Vec<(Circuit, PathBuf)>,
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
const CIRCUITS: [&str; 4] = ["request", "exit", "slash", "batch_insert"];

impl Args {
    pub(crate) fn run(self) -> eyre::Result<()> {
        match self {
            Self::Setup(args) => args.run(),
        }
    }
}

fn parse_zkey(arg: &str) -> Result<(Circuit, PathBuf), String> {
    let (circuit, file) = arg
        .split_once('=')
        .ok_or_else(|| format!("expected CIRCUIT=FILE (e.g. request=request.zkey), got {arg:?}"))?;
    let circuit = <Circuit as clap::ValueEnum>::from_str(circuit, false).map_err(|_| {
        format!("unknown circuit {circuit:?}: expected request, exit, slash or batch_insert")
    })?;
    Ok((circuit, PathBuf::from(file)))
}

/// Where the keys come from, and how the artifacts name them.
enum KeySource {
    /// A deterministic development setup.
    Dev { seed: String },
    /// A ceremony's `.zkey` per circuit, with the file's sha256.
    Ceremony { zkeys: Vec<(&'static str, PathBuf, String)> },
}

impl KeySource {
    fn from_args(args: &SetupArgs) -> eyre::Result<Self> {
        if let Some(seed) = &args.insecure_dev_seed {
            return Ok(Self::Dev { seed: seed.clone() });
        }
        let mut files = Vec::new();
        for name in CIRCUITS {
            let mut given = args.zkey.iter().filter(|(circuit, _)| circuit.name() == name);
            let (Some((_, file)), None) = (given.next(), given.next()) else {
                bail!(
                    "give exactly one --zkey {name}=FILE (one key per circuit: request, exit, slash, batch_insert)"
                );
            };
            files.push((name, file.clone()));
        }
        let mut zkeys = Vec::new();
        for (name, file) in files {
            let bytes = std::fs::read(&file)
                .wrap_err_with(|| format!("cannot read the {name} key {}", file.display()))?;
            zkeys.push((name, file, sha256_hex(&bytes)));
        }
        Ok(Self::Ceremony { zkeys })
    }

    fn banner(&self) -> String {
        match self {
            Self::Dev { seed } => format!(
                "circuits: INSECURE dev setup from seed {seed:?}: never use these keys on a real network"
            ),
            Self::Ceremony { .. } => {
                "circuits: keys imported from the ceremony's .zkey files".to_owned()
            }
        }
    }

    /// Seeds the randomness of the example proofs, so that `--check` reproduces them.
    fn proof_seed(&self) -> [u8; 32] {
        let mut digest = Sha256::new();
        match self {
            Self::Dev { seed } => digest.update(seed.as_bytes()),
            Self::Ceremony { zkeys } => zkeys.iter().for_each(|(_, _, hash)| digest.update(hash)),
        }
        digest.finalize().into()
    }

    fn zkey(&self, name: &str) -> Option<&(&'static str, PathBuf, String)> {
        match self {
            Self::Dev { .. } => None,
            Self::Ceremony { zkeys } => zkeys.iter().find(|(n, _, _)| *n == name),
        }
    }

    fn key(&self, name: &str, circuit: &WitnessCircuit) -> eyre::Result<KeyFile> {
        match (self, self.zkey(name)) {
            (Self::Dev { seed }, _) => {
                Ok(KeyFile::Dev(insecure_dev_setup(circuit, seed.as_bytes())?))
            }
            (Self::Ceremony { .. }, Some((_, file, _))) => KeyFile::import_zkey(file)
                .wrap_err_with(|| format!("cannot import the {name} key {}", file.display())),
            (Self::Ceremony { .. }, None) => bail!("no --zkey for circuit {name}"),
        }
    }

    /// How the keys of `names` are named in a vector file: the field and its value.
    fn vector_field(&self, names: &[&str]) -> (&'static str, Value) {
        match self {
            Self::Dev { seed } => ("insecure_dev_seed", json!(seed)),
            Self::Ceremony { .. } => {
                let hashes: serde_json::Map<String, Value> = names
                    .iter()
                    .filter_map(|&name| Some((name.to_owned(), json!(self.zkey(name)?.2))))
                    .collect();
                match (names, hashes.values().next()) {
                    ([_], Some(hash)) => ("zkey_sha256", hash.clone()),
                    _ => ("zkey_sha256", Value::Object(hashes)),
                }
            }
        }
    }

    /// "the INSECURE dev key" or "the ceremony key", for descriptions.
    fn phrase(&self) -> &'static str {
        match self {
            Self::Dev { .. } => "the INSECURE dev key",
            Self::Ceremony { .. } => "the ceremony key",
        }
    }

    /// The manifest's `setup` entry and the verifier header's key line.
    fn describe(&self, name: &str) -> String {
        match (self, self.zkey(name)) {
            (Self::Dev { seed }, _) => format!("INSECURE deterministic dev setup, seed {seed:?}"),
            (Self::Ceremony { .. }, Some((_, file, hash))) => format!(
                "snarkjs ceremony key {} (sha256 {hash})",
                file.file_name().map_or_else(
                    || file.display().to_string(),
                    |f| f.to_string_lossy().into_owned()
                )
            ),
            (Self::Ceremony { .. }, None) => "snarkjs ceremony key".to_owned(),
        }
    }
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
        let source = KeySource::from_args(&self)?;
        let mut files: Vec<(PathBuf, String)> = Vec::new();
        let mut manifest = serde_json::Map::new();
        eprintln!("{}", source.banner());
        let progress = ProgressBar::new(CIRCUITS.len() as u64 * 2).with_style(
            ProgressStyle::with_template("{spinner} [{elapsed}] {bar:20} {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        progress.enable_steady_tick(std::time::Duration::from_millis(200));
        let mut rng = ChaCha20Rng::from_seed(source.proof_seed());
        let mut exit_and_slash = Vec::new();
        let compiler = String::from_utf8(read(&circuits_dir.join("compiler.txt"))?)
            .wrap_err("compiler.txt is not UTF-8")?
            .trim()
            .to_owned();
        for name in CIRCUITS {
            progress.set_message(format!("{name}: tracing the witness graph"));
            let mut circuit = WitnessCircuit::load_reference(&circuits_dir, name)?;
            let (inputs, expected_public) = fixtures::example(name)
                .ok_or_else(|| eyre!("no example statement for circuit {name}"))?;
            let graph = circuit.trace(inputs.clone())?.to_bytes();
            circuit.use_graph(
                zkcredits_prover::graph::WitnessGraph::from_bytes(&graph)
                    .map_err(|e| eyre!("the {name} witness graph does not read back: {e}"))?,
            )?;
            if !self.check {
                let path = circuits_dir.join(format!("{name}.graph"));
                std::fs::write(&path, &graph)
                    .wrap_err_with(|| format!("cannot write {}", path.display()))?;
            }
            progress.set_message(format!("{name}: generating keys"));
            let key = source.key(name, &circuit)?;
            let vk = &key.proving_key().vk;
            progress.inc(1);
            progress.set_message(format!("{name}: proving the example"));
            let vk_json = encoding::verifying_key_to_json(vk);
            let vk_text = pretty(&vk_json)?;
            let vk_hash = manifest::verifying_key_sha256(vk);

            let example_input = Value::Object(inputs_json(&inputs));
            let (proof, public) = key.prove(&mut circuit, inputs, &mut rng)?;
            if public != expected_public {
                bail!(
                    "circuit {name} computed public signals that differ from zkcredits-primitives"
                );
            }
            Verifier::new(vk)
                .verify(&public, &proof)
                .wrap_err_with(|| format!("the {name} example does not verify under its key"))?;
            let mut tampered = public.clone();
            tampered[0] += Fr::from(1u64);
            let (key_field, key_value) = source.vector_field(&[name]);
            let mut vector = json!({
                "description": format!("A valid Groth16 proof of the {name} circuit under {}, and a tampered public signal that must be rejected", source.phrase()),
                "circuit": name,
            });
            vector[key_field] = key_value;
            for (field, value) in [
                ("verification_key_sha256", json!(vk_hash)),
                ("public_signals", encoding::public_to_json(&public)),
                ("proof", encoding::proof_to_json(&proof)),
                ("proof_compressed_hex", json!(hex(&encoding::proof_to_bytes(&proof)))),
                ("calldata", encoding::solidity_calldata(&proof, &public)),
                (
                    "invalid",
                    json!([{ "description": "first public signal plus one", "public_signals": encoding::public_to_json(&tampered) }]),
                ),
            ] {
                vector[field] = value;
            }
            files.push((
                self.root.join(format!("spec/vectors/groth16/{name}.json")),
                pretty(&vector)?,
            ));
            files.push((
                self.root.join(format!("circuits/artifacts/{name}/verification_key.json")),
                vk_text,
            ));
            manifest.insert(
                name.to_owned(),
                json!({
                    "compiler": compiler,
                    "constraints": circuit.num_constraints(),
                    "public_signals": circuit.public_count(),
                    "r1cs_sha256": sha256_hex(&read(&circuits_dir.join(format!("{name}.r1cs")))?),
                    "wasm_sha256": sha256_hex(&read(&circuits_dir.join(format!("{name}_js/{name}.wasm")))?),
                    "verification_key_sha256": vk_hash,
                    "graph_sha256": sha256_hex(&graph),
                    "setup": source.describe(name),
                }),
            );
            if name != "request" {
                let contract = format!("{}Verifier", pascal_case(name));
                let key_line = match &source {
                    KeySource::Dev { seed } => format!(
                        "INSECURE development key from seed {seed:?}: never deploy it to a real network"
                    ),
                    KeySource::Ceremony { .. } => source.describe(name),
                };
                let header = [
                    format!("circuit: circuits/main/{name}.circom"),
                    format!(
                        "verifying key sha256: {vk_hash} (circuits/artifacts/{name}/verification_key.json)"
                    ),
                    key_line,
                ];
                files.push((
                    self.root.join(format!("contracts/src/verifiers/{contract}.sol")),
                    render_verifier(
                        &contract,
                        name,
                        vk,
                        &VerifierProvenance {
                            header: &header,
                            insecure_dev_setup: matches!(source, KeySource::Dev { .. }),
                            example: (&proof, &public),
                        },
                        fixed_signals(name),
                    ),
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
                // A ceremony's key stays in its .zkey (`zkcredits prove --zkey`).
                if let KeyFile::Dev(key) = &key {
                    let path = self.keys_dir.join(format!("{name}.pk.bin"));
                    // Uncompressed: `zkcredits prove` reads it back without decompressing every point.
                    let mut bytes = Vec::new();
                    ark_serialize::CanonicalSerialize::serialize_uncompressed(key, &mut bytes)
                        .map_err(|e| eyre!("cannot serialize the {name} proving key: {e}"))?;
                    std::fs::write(&path, bytes)
                        .wrap_err_with(|| format!("cannot write {}", path.display()))?;
                }
            }
            progress.inc(1);
            if name == "batch_insert" {
                progress.set_message("escrow batch vectors");
                files.push((
                    self.root.join("spec/vectors/groth16/escrow_batches.json"),
                    pretty(&escrow_batch_vectors(&key, &mut circuit, &source, &mut rng)?)?,
                ));
            }
            if matches!(name, "exit" | "slash") {
                exit_and_slash.push((key, circuit));
            }
            // Made as soon as both keys exist: the circuits after them leave these proofs' randomness alone.
            if exit_and_slash.len() == 2 {
                progress.set_message("escrow vectors");
                let [(exit_key, mut exit_circuit), (slash_key, mut slash_circuit)]: [_; 2] =
                    std::mem::take(&mut exit_and_slash)
                        .try_into()
                        .map_err(|_| eyre!("exit and slash keys are missing"))?;
                files.push((
                    self.root.join("spec/vectors/groth16/escrow.json"),
                    pretty(&escrow_vectors(
                        (&exit_key, &mut exit_circuit),
                        (&slash_key, &mut slash_circuit),
                        &source,
                        &mut rng,
                    )?)?,
                ));
            }
        }
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
/// escrow and to the example token escrow (the deployer's second contract): what the Foundry
/// tests of `CreditEscrow` submit.
fn escrow_vectors(
    (exit_key, exit_circuit): (&KeyFile, &mut WitnessCircuit),
    (slash_key, slash_circuit): (&KeyFile, &mut WitnessCircuit),
    source: &KeySource,
    rng: &mut ChaCha20Rng,
) -> eyre::Result<Value> {
    let mut prove_users = |escrow: &[u8; 20]| -> eyre::Result<Vec<Value>> {
        let scope = scope(fixtures::EXAMPLE_CHAIN_ID, escrow);
        let mut users = Vec::new();
        for i in 0..3 {
            let (secret, deposit) = fixtures::escrow_user(i);
            let slash = SlashInputs { secret, receiver: Fr::from(SLASH_RECEIVER), scope };
            let (proof, public) = slash_key.prove(slash_circuit, slash.circom_inputs(), rng)?;
            let mut exits = Vec::new();
            for unsettled in [false, true] {
                let exit = fixtures::exit_of(secret, deposit, unsettled, scope);
                let inputs = exit
                    .circom_inputs(SIGNER_TREE_DEPTH)
                    .ok_or_else(|| eyre!("escrow user {i} cannot afford its exit"))?;
                let (proof, public) = exit_key.prove(exit_circuit, inputs, rng)?;
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
        Ok(users)
    };
    let users = prove_users(&fixtures::EXAMPLE_ESCROW)?;
    let token_users = prove_users(&fixtures::EXAMPLE_TOKEN_ESCROW)?;
    let mut vectors = json!({
        "description": format!("Exit and slash proofs of three deposits in the escrow that `deployer` creates first (at `escrow`) on `chain_id`, and in the one it creates second (`token_escrow`, the same users), under {}s: what the Foundry tests of CreditEscrow submit. exits[0] settles every ticket (p = 0), exits[1] charges the last one (p = 1).", source.phrase()),
    });
    let (key_field, key_value) = source.vector_field(&["exit", "slash"]);
    vectors[key_field] = key_value;
    for (field, value) in [
        ("chain_id", json!(fixtures::EXAMPLE_CHAIN_ID)),
        ("escrow", json!(hex(&fixtures::EXAMPLE_ESCROW))),
        ("deployer", json!(hex(&fixtures::EXAMPLE_DEPLOYER))),
        ("scope", json!(scope(fixtures::EXAMPLE_CHAIN_ID, &fixtures::EXAMPLE_ESCROW).to_string())),
        ("c_max", json!("1000")),
        ("signer_root", json!(fixtures::exit_signer_root().to_string())),
        ("users", json!(users)),
        (
            "token_escrow",
            json!({
                "escrow": hex(&fixtures::EXAMPLE_TOKEN_ESCROW),
                "scope": scope(fixtures::EXAMPLE_CHAIN_ID, &fixtures::EXAMPLE_TOKEN_ESCROW).to_string(),
                "users": token_users,
            }),
        ),
    ] {
        vectors[field] = value;
    }
    Ok(vectors)
}

/// When the escrow batch vectors' notes are deposited (forge's first block timestamp), and their
/// deployment's `NOTE_TTL` and `C_MAX` (those of the escrow vectors' Foundry tests).
const BATCH_VECTORS_DEPOSITED_AT: u64 = 1;
const BATCH_VECTORS_NOTE_TTL: u64 = 30 * 24 * 3600;
const BATCH_VECTORS_C_MAX: u128 = 1_000;
/// The escrow's `ROOT_HISTORY_SIZE` plus one.
const BATCH_VECTORS_SINGLES: usize = 33;

/// `batch_insert` proofs for the escrow vectors' queue: the three escrow users' deposits, then
/// 64 more of `C_MAX`, all made at [`BATCH_VECTORS_DEPOSITED_AT`]; each batch is proven from the
/// tree its `after` batch left ("" for the empty tree). User 1 is the note slashed.
fn escrow_batch_vectors(
    key: &KeyFile,
    circuit: &mut WitnessCircuit,
    source: &KeySource,
    rng: &mut ChaCha20Rng,
) -> eyre::Result<Value> {
    let expiry = BATCH_VECTORS_DEPOSITED_AT + BATCH_VECTORS_NOTE_TTL;
    let notes: Vec<QueuedNote> = (0..3)
        .map(|i| {
            let (secret, deposit) = fixtures::escrow_user(i);
            QueuedNote { identity: secret.commitment(), deposit, expiry }
        })
        .chain((0..64).map(|i| QueuedNote {
            identity: fixtures::queued_note(i).identity,
            deposit: BATCH_VECTORS_C_MAX,
            expiry,
        }))
        .collect();
    let accumulators: Vec<Fr> = std::iter::once(Fr::from(0u64))
        .chain(notes.iter().scan(Fr::from(0u64), |acc, n| {
            *acc = accumulate(*acc, n.identity, n.deposit, n.expiry);
            Some(*acc)
        }))
        .collect();
    // (name, after, start, count, removed note); then one note a batch, enough batches to cycle
    // the escrow's 32 recent roots.
    let mut plan: Vec<(String, String, usize, usize, Option<usize>)> = [
        ("first", "", 0, 1, None),
        ("next_two", "first", 1, 2, None),
        ("next_two_removing_1", "first", 1, 2, Some(1)),
        ("remove_1", "next_two", 3, 0, Some(1)),
        ("full_after_removal", "remove_1", 3, 64, None),
        ("full_removing_1", "next_two", 3, 64, Some(1)),
    ]
    .map(|(name, after, start, count, removed)| {
        (name.to_owned(), after.to_owned(), start, count, removed)
    })
    .into();
    plan.extend((0..BATCH_VECTORS_SINGLES).map(|k| {
        let after = if k == 0 { String::new() } else { format!("single_{}", k - 1) };
        (format!("single_{k}"), after, k, 1, None)
    }));
    let mut trees: std::collections::HashMap<String, LeanImt> =
        [(String::new(), LeanImt::new())].into_iter().collect();
    let mut batches = Vec::new();
    for (name, after, start, count, removed) in plan {
        let tree = trees.get(&after).ok_or_else(|| eyre!("batch {after:?} is not planned"))?;
        let batch = BatchInsertInputs {
            tree: tree.clone(),
            acc_start: accumulators[start],
            notes: notes[start..start + count].to_vec(),
            removal: removed.map(|i| (i, notes[i])),
        };
        let expected = batch.public_signals()?;
        let (proof, public) = key.prove(circuit, batch.circom_inputs()?, rng)?;
        if public != expected {
            bail!("the batch_insert circuit computed other public signals for batch {name}");
        }
        batches.push(json!({
            "name": &name,
            "after": &after,
            "start": start,
            "count": count,
            "removed_identity": removed.map_or_else(|| Fr::from(0u64), |i| notes[i].identity).to_string(),
            "pre_root": public[0].to_string(),
            "post_root": public[1].to_string(),
            "acc_start": public[4].to_string(),
            "acc_end": public[5].to_string(),
            "public_signals": encoding::public_to_json(&public),
            "calldata": encoding::solidity_calldata(&proof, &public),
        }));
        trees.insert(name, batch.outcome()?.0);
    }
    let mut vectors = json!({
        "description": format!("batch_insert proofs under {} for the escrow's deposit queue: notes[0..3] are escrow.json's users, notes[3..] more deposits of c_max; every note is deposited at deposited_at (expiry deposited_at + note_ttl) in order. Each batch applies to the tree its `after` batch left (\"\": empty) with every note up to its end queued; removed_identity (0: none) is the condemned note it zeroes. What the Foundry tests of insertBatch submit.", source.phrase()),
    });
    let (key_field, key_value) = source.vector_field(&["batch_insert"]);
    vectors[key_field] = key_value;
    for (field, value) in [
        ("deposited_at", json!(BATCH_VECTORS_DEPOSITED_AT)),
        ("note_ttl", json!(BATCH_VECTORS_NOTE_TTL)),
        ("c_max", json!(BATCH_VECTORS_C_MAX.to_string())),
        (
            "notes",
            json!(
                notes
                    .iter()
                    .map(|n| json!({
                        "identity": n.identity.to_string(),
                        "deposit": n.deposit.to_string(),
                        "expiry": n.expiry.to_string(),
                    }))
                    .collect::<Vec<_>>()
            ),
        ),
        ("batches", json!(batches)),
    ] {
        vectors[field] = value;
    }
    Ok(vectors)
}

/// `batch_insert` → `BatchInsert`.
/// The public signals an escrow fixes at deployment (see `verifyProofFolded` in spec/04).
fn fixed_signals(circuit: &str) -> &'static [FixedSignal<'static>] {
    match circuit {
        "exit" => {
            &[FixedSignal { index: 6, name: "scope" }, FixedSignal { index: 8, name: "cMax" }]
        }
        "slash" => &[FixedSignal { index: 2, name: "scope" }],
        _ => &[],
    }
}

fn pascal_case(s: &str) -> String {
    s.split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
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
