//! `zkcredits test-vectors`: the one generator of `spec/vectors/`.
//!
//! Every input is derived from a label with `SHA-256(label) mod p`, so the files are the same on
//! every machine and every run. `--check` regenerates in memory and fails on any difference.

use super::hex;
use ark_ff::{AdditiveGroup, Field, PrimeField};
use eyre::{WrapErr, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use zkcredits_primitives::{
    Fr,
    babyjubjub::{BASE8, Generators, Point, Scalar},
    constants::{
        DEPOSIT_BITS, EXPIRY_BITS, SIGNER_TREE_DEPTH, TAG_EXIT, TAG_STATE, TAGS, TREE_DEPTH,
    },
    eddsa::PrivateKey,
    field::{fr_to_be_bytes, fr_to_dec, sha256_to_fr},
    identity::{Secret, accumulate, amount_expiry, leaf},
    merkle::{FixedMerkleTree, LeanImt},
    poseidon::poseidon,
    rln::{Share, exit_x, nullifier, payload_digest, recover_secret, request_x, scope, slope},
    state::{StateOpening, commit, owner_tag, rerandomize, settle, state_message},
};

/// Arguments of `zkcredits test-vectors`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["write", "check"])))]
pub(crate) struct Args {
    /// (Re)write the vector files.
    #[arg(long)]
    write: bool,
    /// Fail if any vector file differs from what this build generates.
    #[arg(long)]
    check: bool,
    /// The vectors directory.
    #[arg(long, value_name = "DIR", default_value = "spec/vectors")]
    dir: PathBuf,
}

impl Args {
    pub(crate) fn run(self) -> eyre::Result<()> {
        let files = generate()?;
        if self.write {
            std::fs::create_dir_all(&self.dir)
                .wrap_err_with(|| format!("cannot create {}", self.dir.display()))?;
            for (name, content) in &files {
                let path = self.dir.join(name);
                std::fs::write(&path, content)
                    .wrap_err_with(|| format!("cannot write {}", path.display()))?;
                println!("wrote {}", path.display());
            }
            return Ok(());
        }
        let stale: Vec<_> = files
            .iter()
            .filter(|(name, content)| !matches_file(&self.dir.join(name), content))
            .map(|(n, _)| *n)
            .collect();
        if !stale.is_empty() {
            bail!(
                "{} vector file(s) in {} differ from this build: {}. If the protocol change is intended, run `zkcredits test-vectors --write` and update spec/ in the same commit.",
                stale.len(),
                self.dir.display(),
                stale.join(", ")
            );
        }
        println!("{} vector files in {} match", files.len(), self.dir.display());
        Ok(())
    }
}

fn matches_file(path: &Path, expected: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|actual| actual == expected)
}

/// Every vector file, name and content.
pub(crate) fn generate() -> eyre::Result<Vec<(&'static str, String)>> {
    let files = [
        ("poseidon.json", poseidon_vectors()?),
        ("babyjubjub.json", babyjubjub_vectors()),
        ("eddsa.json", eddsa_vectors()),
        ("state.json", state_vectors()?),
        ("lean_imt.json", lean_imt_vectors()?),
        ("deposit_queue.json", deposit_queue_vectors()),
        ("rln.json", rln_vectors()?),
        ("request-flow.json", request_flow_vectors()?),
        ("gossip.json", gossip_vectors()?),
    ];
    files
        .into_iter()
        .map(|(name, value)| Ok((name, format!("{}\n", serde_json::to_string_pretty(&value)?))))
        .collect()
}

/// A deterministic field element for a label.
fn fe(label: &str) -> Fr {
    sha256_to_fr(label.as_bytes())
}

fn dec(x: &Fr) -> Value {
    Value::String(fr_to_dec(x))
}

fn decs(xs: &[Fr]) -> Value {
    Value::Array(xs.iter().map(dec).collect())
}

fn point(p: &Point) -> Value {
    json!({ "x": dec(&p.x), "y": dec(&p.y) })
}

fn scalar(s: &Scalar) -> Value {
    Value::String(s.to_string())
}

fn secret(label: &str) -> eyre::Result<Secret> {
    Ok(Secret::new(fe(label))?)
}

fn deterministic_scalar(label: &str) -> Scalar {
    Scalar::from_be_bytes_mod_order(&fr_to_be_bytes(&fe(label)))
}

fn poseidon_vectors() -> eyre::Result<Value> {
    let p_minus_1 = -Fr::from(1u64);
    let mut cases = Vec::new();
    for arity in 1..=5usize {
        let sets = [
            ("sequential", (1..=arity as u64).map(Fr::from).collect::<Vec<_>>()),
            ("zeros", vec![Fr::from(0u64); arity]),
            ("max", vec![p_minus_1; arity]),
            ("pseudorandom", (0..arity).map(|i| fe(&format!("poseidon/{arity}/{i}"))).collect()),
        ];
        for (kind, inputs) in sets {
            cases.push(json!({ "name": format!("arity{arity}_{kind}"), "inputs": decs(&inputs), "output": dec(&poseidon(&inputs)?) }));
        }
    }
    let k = fe("poseidon/tag/secret");
    let tagged = [
        ("tag_state_owner", vec![k, Fr::from(TAG_STATE)]),
        (
            "tag_exit_message",
            vec![Fr::from(TAG_EXIT), fe("poseidon/tag/recipient"), Fr::from(1_000_000u64)],
        ),
    ];
    for (name, inputs) in tagged {
        cases.push(
            json!({ "name": name, "inputs": decs(&inputs), "output": dec(&poseidon(&inputs)?) }),
        );
    }
    let tags: Vec<_> = TAGS
        .iter()
        .map(|(name, value)| json!({ "name": name, "value": value.to_string(), "hex": format!("{value:#x}") }))
        .collect();
    Ok(json!({
        "description": "circomlib Poseidon over BN254 for 1 to 5 inputs and every domain tag; field elements are decimal strings",
        "tags": tags,
        "cases": cases,
    }))
}

fn babyjubjub_vectors() -> Value {
    let g = Generators::get();
    let generators: Vec<_> = Generators::DOMAINS
        .iter()
        .zip(["G", "N", "T", "H"])
        .map(|(domain, name)| {
            let h = Point::hash_to_curve(domain);
            json!({ "name": name, "domain": domain, "counter": h.counter, "point": point(&h.point) })
        })
        .collect();
    let pts = [BASE8, g.g, g.h, BASE8.mul_u128(3)];
    let mut add = Vec::new();
    for (i, p) in pts.iter().enumerate() {
        for q in &pts[i..] {
            add.push(json!({ "p": point(p), "q": point(q), "sum": point(&p.add(q)) }));
        }
    }
    let scalars = [
        "0".to_owned(),
        "1".to_owned(),
        "8".to_owned(),
        deterministic_scalar("bjj/mul/0").to_string(),
        // subOrder − 1
        (-Scalar::from(1u64)).to_string(),
    ];
    let mul: Vec<_> = [BASE8, g.t]
        .iter()
        .flat_map(|p| {
            scalars.iter().map(move |s| {
                let e: num_bigint::BigUint = s.parse().unwrap_or_default();
                json!({ "point": point(p), "scalar": s, "product": point(&p.mul_biguint(&e)) })
            })
        })
        .collect();
    json!({
        "description": "Baby Jubjub (a = 168700, d = 168696) as in circomlib: Base8, the state generators hashed to the curve, additions and scalar multiplications",
        "base8": point(&BASE8),
        "sub_order": <Scalar as PrimeField>::MODULUS.to_string(),
        "generators": generators,
        "add": add,
        "mul": mul,
    })
}

fn eddsa_vectors() -> Value {
    let cases: Vec<_> = (0..4u8)
        .map(|i| {
            let mut bytes = [0u8; 32];
            bytes.copy_from_slice(&fr_to_be_bytes(&fe(&format!("eddsa/key/{i}"))));
            let key = PrivateKey::from_bytes(bytes);
            let msg = if i == 0 { Fr::from(0u64) } else { fe(&format!("eddsa/msg/{i}")) };
            let sig = key.sign(&msg);
            let pk = key.public_key();
            json!({
                "private_key": hex(key.as_bytes()),
                "public_key": point(&pk.0),
                "signer_leaf": dec(&pk.signer_leaf()),
                "message": dec(&msg),
                "signature": { "r8": point(&sig.r8), "s": scalar(&sig.s) },
            })
        })
        .collect();
    json!({
        "description": "EdDSA-Poseidon as circomlibjs signPoseidon: private keys are 32 bytes (hex), keys and nonces from BLAKE-512",
        "cases": cases,
    })
}

fn state_vectors() -> eyre::Result<Value> {
    let mut cases = Vec::new();
    let key = PrivateKey::from_bytes([0x5a; 32]);
    for (i, (refunded, index, refund)) in [
        (0u128, 0u32, 0u128),
        (0, 0, 700),
        (12_345, 17, 1),
        ((1u128 << 127) + 5, u32::MAX - 1, 999),
    ]
    .into_iter()
    .enumerate()
    {
        let k = secret(&format!("state/{i}/k"))?;
        let opening = StateOpening {
            refunded,
            index,
            blinding: deterministic_scalar(&format!("state/{i}/rho")),
        };
        let eta = deterministic_scalar(&format!("state/{i}/eta"));
        let a = commit(&k, &opening);
        let anon = rerandomize(&a, &eta);
        let next = settle(&anon, refund);
        let next_opening = opening
            .settled(&eta, refund)
            .ok_or_else(|| eyre::eyre!("vector {i} leaves the opening's range"))?;
        eyre::ensure!(commit(&k, &next_opening) == next, "settlement of vector {i} does not open");
        let scope = scope(31_337, &[0x5a; 20]);
        let m = state_message(&next, &scope);
        let sig = key.sign(&m);
        cases.push(json!({
            "secret": dec(k.expose()),
            "scope": dec(&scope),
            "owner_tag": owner_tag(&k).to_string(),
            "opening": opening_json(&opening),
            "commitment": point(&a),
            "eta": scalar(&eta),
            "rerandomized": point(&anon),
            "refund": refund.to_string(),
            "settled": point(&next),
            "settled_opening": opening_json(&next_opening),
            "settled_message": dec(&m),
            "settled_signature": { "r8": point(&sig.r8), "s": scalar(&sig.s) },
        }));
    }
    Ok(json!({
        "description": "State commitments A = R*G + n*N + t*T + rho*H, rerandomization A + eta*H, settlement A_anon + r*G + N and its signed message Poseidon(A.x, A.y, scope)",
        "signer_public_key": point(&key.public_key().0),
        "cases": cases,
    }))
}

fn opening_json(o: &StateOpening) -> Value {
    json!({ "refunded": o.refunded.to_string(), "index": o.index, "blinding": scalar(&o.blinding) })
}

fn lean_imt_vectors() -> eyre::Result<Value> {
    let mut cases = Vec::new();
    for size in [1usize, 2, 3, 4, 5, 7, 8, 13] {
        let leaves: Vec<Fr> = (0..size).map(|i| fe(&format!("lean_imt/{size}/{i}"))).collect();
        let mut tree = LeanImt::from_leaves(&leaves)?;
        let mut proofs = Vec::new();
        for index in [0, size / 2, size - 1].into_iter().collect::<std::collections::BTreeSet<_>>()
        {
            let proof = tree.proof(index)?;
            let path = proof.circuit_path(TREE_DEPTH)?;
            proofs.push(json!({
                "leaf_index": index,
                "leaf": dec(&proof.leaf),
                "path_index": proof.index,
                "siblings": decs(&proof.siblings),
                "circuit": {
                    "depth": path.depth,
                    "indices": path.indices.iter().map(|b| u8::from(*b)).collect::<Vec<_>>(),
                    "siblings": decs(&path.siblings),
                },
            }));
        }
        let root = tree.root();
        let depth = tree.depth();
        let removed = size / 2;
        let removal_siblings = tree.proof(removed)?.siblings;
        tree.remove(removed)?;
        cases.push(json!({
            "leaves": decs(&leaves),
            "root": dec(&root),
            "depth": depth,
            "proofs": proofs,
            "removal": { "leaf_index": removed, "siblings": decs(&removal_siblings), "root_after": dec(&tree.root()) },
        }));
    }
    let signer_keys: Vec<Fr> =
        (0..3u8).map(|i| PrivateKey::from_bytes([i + 1; 32]).public_key().signer_leaf()).collect();
    let signer_tree = FixedMerkleTree::new(SIGNER_TREE_DEPTH, &signer_keys)?;
    let (siblings, indices) = signer_tree.path(2)?;
    Ok(json!({
        "description": "LeanIMT (zk-kit) with PoseidonT3: roots, proofs (LeanIMT form and padded to the circuit depth 20), and removal by zeroing; plus the depth-4 signer-set tree",
        "tree_depth": TREE_DEPTH,
        "cases": cases,
        "signer_tree": {
            "depth": SIGNER_TREE_DEPTH,
            "leaves": decs(&signer_keys),
            "root": dec(&signer_tree.root()),
            "path": { "leaf_index": 2, "siblings": decs(&siblings), "indices": indices.iter().map(|b| u8::from(*b)).collect::<Vec<_>>() },
        },
    }))
}

/// The escrow's deposit queue: each deposit's term `D·2^40 + E`, the accumulator before and after
/// it, and its leaf; the last case starts from `p − 1` so the addition wraps.
fn deposit_queue_vectors() -> Value {
    let deposits: [(u128, u64); 6] = [
        (100_000_000_000_000, 1_767_225_600),
        (1, 0),
        ((1 << DEPOSIT_BITS) - 1, (1 << EXPIRY_BITS) - 1),
        (20_000_000_000_000_000, 1_800_000_000),
        (12_345, 1),
        (7, (1 << EXPIRY_BITS) - 2),
    ];
    let mut acc = Fr::ZERO;
    let mut cases = Vec::new();
    for (i, &(deposit, expiry)) in deposits.iter().enumerate() {
        let before = if i + 1 == deposits.len() { -Fr::ONE } else { acc };
        let identity = fe(&format!("deposit_queue/{i}"));
        acc = accumulate(before, identity, deposit, expiry);
        cases.push(json!({
            "identity": dec(&identity),
            "deposit": deposit.to_string(),
            "expiry": expiry,
            "amount_expiry": dec(&amount_expiry(deposit, expiry)),
            "acc_before": dec(&before),
            "acc_after": dec(&acc),
            "leaf": dec(&leaf(identity, deposit, expiry)),
        }));
    }
    json!({
        "description": "The escrow's deposit queue accumulator acc' = Poseidon(acc + D·2^40 + E, ID) (addition in the field; a chain from 0, except the last case, which starts from p − 1), with each deposit's leaf Poseidon(ID, D, E); D < 2^96, E < 2^40",
        "cases": cases,
    })
}

fn rln_vectors() -> eyre::Result<Value> {
    let mut cases = Vec::new();
    for i in 0..3u32 {
        let k = secret(&format!("rln/{i}/k"))?;
        let chain_id = [31337u64, 1, 11_155_111][i as usize];
        let escrow = [0x10u8 + i as u8; 20];
        let scope = scope(chain_id, &escrow);
        let index = [0u32, 1, u32::MAX - 1][i as usize];
        let deposit = 10u128.pow(18) + u128::from(i);
        let expiry = 1_900_000_000u64 + u64::from(i);
        let provider_id = fe(&format!("rln/{i}/provider"));
        let nonce = fe(&format!("rln/{i}/nonce"));
        let payloads = [
            format!(
                "{{\"model\":\"m\",\"messages\":[{{\"role\":\"user\",\"content\":\"hello {i}\"}}]}}"
            ),
            format!("second request {i}"),
        ];
        let xs: Vec<Fr> = payloads
            .iter()
            .map(|p| request_x(&provider_id, &payload_digest(p.as_bytes()), &nonce))
            .collect();
        let shares = [Share::new(&k, &scope, index, xs[0]), Share::new(&k, &scope, index, xs[1])];
        let recipient = [0xabu8; 20];
        let amount = 123_456_789u128 + u128::from(i);
        let a = slope(&k, &scope, index);
        cases.push(json!({
            "secret": dec(k.expose()),
            "identity": dec(&k.commitment()),
            "deposit": deposit.to_string(),
            "expiry": expiry,
            "leaf": dec(&leaf(k.commitment(), deposit, expiry)),
            "chain_id": chain_id,
            "escrow": hex(&escrow),
            "scope": dec(&scope),
            "index": index,
            "slope": dec(&a),
            "nullifier": dec(&nullifier(&a)),
            "provider_id": dec(&provider_id),
            "nonce": dec(&nonce),
            "requests": payloads.iter().zip(&shares).map(|(p, s)| json!({
                "payload_hex": hex(p.as_bytes()),
                "payload_digest": dec(&payload_digest(p.as_bytes())),
                "x": dec(&s.x),
                "y": dec(&s.y),
            })).collect::<Vec<_>>(),
            "recovered_secret": dec(&recover_secret(&shares[0], &shares[1])?),
            "exit": { "recipient": hex(&recipient), "amount": amount.to_string(), "x": dec(&exit_x(&recipient, amount)) },
        }));
    }
    Ok(json!({
        "description": "Identity, leaf, scope, RLN slope/nullifier/shares for two requests on one ticket, the recovered secret, and the exit message point",
        "cases": cases,
    }))
}

/// The node's wire encodings (spec/05): request digests and `x`, a payment envelope, a signed
/// settlement, charge classes.
fn request_flow_vectors() -> eyre::Result<Value> {
    use ark_ec::PrimeGroup;
    use zkcredits_node::{
        config::PricingConfig,
        envelope::{PaymentEnvelope, RequestStatement, request_digest},
        pricing::{Pricing, Usage},
        settlement::Settlement,
    };

    let provider_id = fe("request-flow/provider");
    let nonce = fe("request-flow/nonce");
    let requests = [
        (
            "POST",
            "/v1/chat/completions",
            r#"{"model":"m","messages":[{"role":"user","content":"hello"}]}"#,
        ),
        (
            "POST",
            "/v1/chat/completions",
            r#"{"model":"m","messages":[{"role":"user","content":"hello"}],"stream":true}"#,
        ),
        ("GET", "/proxy/v1/models?limit=2", ""),
    ];
    let digests: Vec<Value> = requests
        .iter()
        .map(|(method, path, body)| {
            let digest = request_digest(method, path, body.as_bytes());
            json!({
                "method": method,
                "path_and_query": path,
                "body_hex": hex(body.as_bytes()),
                "payload_digest": dec(&digest),
                "x": dec(&request_x(&provider_id, &digest, &nonce)),
            })
        })
        .collect();

    // An encoding vector: the proof points are fixed multiples of the generators, not a proof.
    let proof = ark_groth16::Proof::<ark_bn254::Bn254> {
        a: (ark_bn254::G1Projective::generator() * ark_bn254::Fr::from(2u64)).into(),
        b: (ark_bn254::G2Projective::generator() * ark_bn254::Fr::from(3u64)).into(),
        c: (ark_bn254::G1Projective::generator() * ark_bn254::Fr::from(5u64)).into(),
    };
    let anon = Generators::get().h.mul_scalar(&deterministic_scalar("request-flow/anon"));
    let c_max = 100_000_000_000_000u64;
    let envelope = PaymentEnvelope {
        proof,
        nonce,
        statement: RequestStatement {
            root: fe("request-flow/root"),
            scope: scope(31337, &[0x42; 20]),
            signer_root: fe("request-flow/signer-root"),
            c_max,
            now: 1_900_000_800,
            x: request_x(
                &provider_id,
                &request_digest("POST", "/v1/chat/completions", b"{}"),
                &nonce,
            ),
            anon,
            nullifier: fe("request-flow/nullifier"),
            y: fe("request-flow/y"),
        },
    };
    let header = envelope.encode();
    let envelope_json: Value = serde_json::from_slice(&base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &header,
    )?)?;

    let key = PrivateKey::from_bytes(fr_to_be_bytes(&fe("request-flow/signer")));
    let settlement = Settlement::sign(
        &key,
        envelope.statement.nullifier,
        &anon,
        &envelope.statement.scope,
        c_max,
        c_max >> 7,
    );
    let settlement_json = settlement.to_json();
    let settlement_header = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        settlement_json.to_string(),
    );

    let pricing = Pricing::new(&PricingConfig::default(), 1_024);
    let charges: Vec<Value> = [None, Some((0, 0)), Some((10, 5)), Some((300, 100))]
        .into_iter()
        .map(|usage: Option<(u64, u64)>| {
            let charge = pricing.charge(usage.map(|(prompt_tokens, completion_tokens)| Usage {
                prompt_tokens,
                completion_tokens,
            }));
            json!({
                "usage": usage.map(|(p, c)| json!({"prompt_tokens": p, "completion_tokens": c})),
                "charge": charge.to_string(),
            })
        })
        .collect();

    Ok(json!({
        "description": "spec/05 encodings: payloadDigest and x of requests; a payment envelope (header value and its JSON; the proof points are fixed generator multiples, not a valid proof); a settlement signed by a fixed key (the refund, the next state A' = A_anon + refund·G + N, the signature on Poseidon(A'.x, A'.y, scope) with the envelope's scope); charges under the default classes for C_MAX = 1024 at 1 per prompt and 3 per completion token; spec/10 mitigations: the fixed class, answer size classes, stream framing, latency classes",
        "provider_id": dec(&provider_id),
        "nonce": dec(&nonce),
        "requests": digests,
        "envelope": { "header": header, "json": envelope_json },
        "settlement": {
            "signer_private_key": hex(key.as_bytes()),
            "anon": point(&anon),
            "scope": dec(&envelope.statement.scope),
            "c_max": c_max.to_string(),
            "json": settlement_json,
            "header": settlement_header,
        },
        "pricing": { "c_max": "1024", "buckets": pricing.buckets().iter().map(u64::to_string).collect::<Vec<_>>(), "charges": charges },
        "privacy": privacy_vectors(),
    }))
}

/// spec/10: what the fixed class charges and sends upstream, the size classes answers are
/// padded to, a stream framed and padded, and the latency classes.
fn privacy_vectors() -> Value {
    use bytes::Bytes;
    use zkcredits_node::{
        config::{PricingConfig, PrivacyConfig},
        pricing::{Pricing, Usage},
        privacy::{Mitigations, padded_len},
    };
    let fixed_config =
        PricingConfig { fixed_charge: 300, fixed_max_tokens: 64, ..PricingConfig::default() };
    let fixed = Pricing::new(&fixed_config, 1_024);
    let charges: Vec<Value> = [None, Some((10, 5)), Some((900, 900))]
        .into_iter()
        .map(|usage: Option<(u64, u64)>| {
            let usage = usage.map(|(prompt_tokens, completion_tokens)| Usage {
                prompt_tokens,
                completion_tokens,
            });
            json!({
                "usage": usage.map(|u| json!({"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens})),
                "charge": fixed.charge(usage).to_string(),
            })
        })
        .collect();
    let bodies: Vec<Value> = [
        r#"{"messages":[]}"#,
        r#"{"max_tokens":10}"#,
        r#"{"max_tokens":9000,"max_completion_tokens":5}"#,
        r#"{"max_completion_tokens":9000}"#,
        r#"{"n":4,"best_of":8,"max_tokens":32}"#,
        r#"[1]"#,
    ]
    .into_iter()
    .map(|body| {
        let sent = fixed.chat_body(Bytes::from(body));
        // `null`: refused (`malformed_body`), not forwarded.
        json!({"body": body, "upstream": sent.map(|sent| String::from_utf8_lossy(&sent).into_owned())})
    })
    .collect();
    let sizes: Vec<Value> = [0usize, 1, 256, 257, 700, 5_000]
        .iter()
        .map(|&len| json!([len, padded_len(len, 256)]))
        .collect();
    let stream = format!(
        "{}event: zkcredits.settlement\ndata: {{}}\n\n",
        "data: {\"choices\":[]}\n\n".repeat(5)
    );
    let mut framer =
        Mitigations::new(&PrivacyConfig { pad_bytes: 64, ..PrivacyConfig::default() }).framer();
    let mut frames = framer.push(Bytes::from(stream.clone()));
    frames.extend(framer.finish());
    let classes = Mitigations::new(&PrivacyConfig {
        min_latency_ms: 250,
        latency_classes: true,
        ..PrivacyConfig::default()
    });
    let arrived = std::time::Instant::now();
    let held: Vec<Value> = [0u64, 250, 251, 900, 3_000]
        .iter()
        .map(|&ready| {
            let released = classes.release_at(
                arrived,
                arrived + std::time::Duration::from_millis(ready),
                &mut rand::thread_rng(),
            );
            json!([ready, (released - arrived).as_millis() as u64])
        })
        .collect();
    json!({
        "fixed_class": {"c_max": "1024", "fixed_charge": "300", "fixed_max_tokens": "64", "charges": charges, "bodies": bodies},
        "answer_size_classes": {"pad_bytes": 256, "sizes": sizes},
        "stream_framing": {"pad_bytes": 64, "stream": stream, "frames": frames.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect::<Vec<_>>()},
        "latency_classes": {"min_latency_ms": 250, "ready_and_held_ms": held},
    })
}

/// A share message for the gossip vectors: `share` of a ticket under `root`, bound to
/// `author` with the key at `index` of `key`.
struct GossipMessage<'a> {
    root: Fr,
    scope: Fr,
    signer_root: Fr,
    c_max: u64,
    now: u64,
    share: Share,
    key: &'a PrivateKey,
    index: u8,
    author: &'a [u8],
}

impl GossipMessage<'_> {
    fn encode(&self) -> Vec<u8> {
        use zkcredits_node::gossip::{PeerBinding, ShareMessage};
        let anon = BASE8.mul_scalar(&deterministic_scalar("gossip/anon"));
        ShareMessage {
            statement: zkcredits_prover::inputs::RequestStatement {
                root: self.root,
                scope: self.scope,
                signer_root: self.signer_root,
                c_max: self.c_max,
                now: self.now,
                x: self.share.x,
                anon,
                nullifier: self.share.nullifier,
                y: self.share.y,
            },
            // Not a proof: every case that checks one expects it to fail.
            proof: [0x01; zkcredits_node::envelope::PROOF_BYTES],
            binding: PeerBinding::sign(self.key, self.index, &self.scope, self.author),
        }
        .encode()
    }
}

/// spec/06: one node's view (its escrow, signer set and applied roots) and a sequence of share
/// messages with the judgement each gets, in order (a node's state carries over).
fn gossip_vectors() -> eyre::Result<Value> {
    let scope = fe("gossip/scope");
    let c_max = 1_000u64;
    let keys = [PrivateKey::from_bytes([0x61; 32]), PrivateKey::from_bytes([0x62; 32])];
    let outsider = PrivateKey::from_bytes([0x63; 32]);
    let leaves: Vec<_> = keys.iter().map(|k| k.public_key().signer_leaf()).collect();
    let signer_root = FixedMerkleTree::new(SIGNER_TREE_DEPTH, &leaves)?.root();
    let roots = [fe("gossip/root/0"), fe("gossip/root/1")];
    let authors: Vec<Vec<u8>> = (0..4u8)
        .map(|i| {
            zkcredits_p2p::Keypair::ed25519_from_bytes([0x71 + i; 32])
                .map(|k| k.public().to_peer_id().to_bytes())
        })
        .collect::<Result<_, _>>()?;
    let now = 1_767_225_600u64;
    let cheater = secret("gossip/cheater")?;
    let honest = secret("gossip/honest")?;
    let ticket = |k: &Secret, index: u32, label: &str| Share::new(k, &scope, index, fe(label));
    let base = |share: Share, author: usize, index: u8| GossipMessage {
        root: roots[1],
        scope,
        signer_root,
        c_max,
        now,
        share,
        key: &keys[usize::from(index)],
        index,
        author: &authors[author],
    };
    let first = ticket(&cheater, 0, "gossip/x/first");
    let second = ticket(&cheater, 0, "gossip/x/second");
    let fresh = ticket(&honest, 0, "gossip/x/fresh");
    let forged = Share { y: fresh.y + Fr::from(1u64), ..ticket(&honest, 0, "gossip/x/forged") };
    let later = ticket(&honest, 1, "gossip/x/later");
    let other = ticket(&honest, 2, "gossip/x/other");

    let mut steps: Vec<(&str, Vec<u8>, usize, &str)> = vec![
        ("a share of a new ticket", base(first, 0, 0).encode(), 0, "new_share"),
        ("the same share again", base(first, 0, 0).encode(), 0, "known_share"),
        ("the ticket's share for another x", base(second, 0, 0).encode(), 0, "double_spend"),
    ];
    let mut truncated = base(fresh, 0, 0).encode();
    truncated.pop();
    steps.push(("one byte short", truncated, 0, "malformed"));
    let mut newer = base(fresh, 0, 0).encode();
    newer[0] = 2;
    steps.push(("a newer version", newer, 0, "unsupported_version"));
    steps.push((
        "another escrow",
        GossipMessage { scope: fe("gossip/other-scope"), ..base(fresh, 0, 0) }.encode(),
        0,
        "wrong_scope",
    ));
    steps.push((
        "another C_MAX",
        GossipMessage { c_max: c_max + 1, ..base(fresh, 0, 0) }.encode(),
        0,
        "wrong_c_max",
    ));
    steps.push((
        "bound by a key outside the set",
        GossipMessage { key: &outsider, ..base(fresh, 2, 0) }.encode(),
        2,
        "unbound_publisher",
    ));
    steps.push((
        "a binding made for another peer id",
        base(fresh, 0, 0).encode(),
        3,
        "unbound_publisher",
    ));
    steps.push((
        "an unknown signer root",
        GossipMessage { signer_root: fe("gossip/other-signer-root"), ..base(fresh, 0, 0) }.encode(),
        0,
        "unknown_signer_root",
    ));
    steps.push((
        "from the future",
        GossipMessage { now: u64::MAX - 3_600, ..base(fresh, 0, 0) }.encode(),
        0,
        "time_out_of_range",
    ));
    steps.push((
        "under a root not applied",
        GossipMessage { root: fe("gossip/root/unknown"), ..base(fresh, 0, 0) }.encode(),
        0,
        "root_not_applied",
    ));
    steps.push(("a share bound to the second key", base(fresh, 1, 1).encode(), 1, "new_share"));
    steps.push((
        "a share of that ticket that reveals nothing: its proof is checked",
        base(forged, 1, 1).encode(),
        1,
        "invalid_proof",
    ));
    steps.push((
        "anything bound to the convicted key",
        base(later, 1, 1).encode(),
        1,
        "faulty_publisher",
    ));
    steps.push((
        "the convicted key under another peer id",
        base(other, 2, 1).encode(),
        2,
        "faulty_publisher",
    ));
    let question = {
        use zkcredits_node::{
            gossip::{SettlementAnswer, SettlementQuestion},
            settlement::Settlement,
        };
        let anon = BASE8.mul_scalar(&deterministic_scalar("gossip/anon"));
        let settlement = Settlement::sign(&keys[0], first.nullifier, &anon, &scope, c_max, 400);
        let answer = |name: &str, answer: SettlementAnswer| json!({ "answer": name, "bytes": hex(&answer.encode()) });
        json!({
            "nullifier": dec(&first.nullifier),
            "x": dec(&first.x),
            "anon": point(&anon),
            "bytes": hex(&SettlementQuestion { nullifier: first.nullifier, x: first.x }.encode()),
            "settlement": settlement.to_json(),
            "answers": [
                answer("settled", SettlementAnswer::Settled(Box::new(settlement))),
                answer("in_progress", SettlementAnswer::InProgress),
                answer("not_taken", SettlementAnswer::NotTaken),
            ],
        })
    };
    let verdict = |reason: &str| match reason {
        "malformed" | "wrong_scope" | "wrong_c_max" => "reject",
        "new_share" | "double_spend" => "accept",
        _ => "ignore",
    };
    Ok(json!({
        "description": "spec/06: a node's view and share messages judged in order (state carries over); proofs are checked only where a case says so, and none verifies",
        "node": {
            "scope": dec(&scope),
            "c_max": c_max.to_string(),
            "signer_keys": keys.iter().map(|k| point(&k.public_key().0)).collect::<Vec<_>>(),
            "signer_root": dec(&signer_root),
            "applied_roots": decs(&roots),
            "verify_fraction": 0,
        },
        "authors": authors.iter().map(|a| hex(a)).collect::<Vec<_>>(),
        "slashed_identity": dec(&cheater.commitment()),
        "settlement_question": question,
        "steps": steps.iter().map(|(name, message, author, reason)| json!({
            "name": name,
            "author": author,
            "message": hex(message),
            "reason": reason,
            "verdict": verdict(reason),
        })).collect::<Vec<_>>(),
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn generation_is_deterministic() {
        let first = super::generate().expect("generates");
        let second = super::generate().expect("generates");
        assert_eq!(first, second);
    }
}
