//! The payment envelope a client sends with a request (spec/05): the request proof and its
//! public signals, plus the nonce the node needs to recompute `x`.
//!
//! It travels in the `zkcredits-payment` header as base64url (no padding) of a JSON object,
//! so the body reaches the upstream byte for byte as the client hashed it.

use ark_bn254::Bn254;
use ark_groth16::Proof;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use zkcredits_primitives::{
    Fr,
    babyjubjub::Point,
    field::{fr_from_dec, fr_to_dec},
    rln::payload_digest,
};
use zkcredits_prover::encoding::{proof_from_bytes, proof_to_bytes};
pub use zkcredits_prover::inputs::RequestStatement;

/// The header carrying the envelope.
pub const PAYMENT_HEADER: &str = "zkcredits-payment";

/// The envelope version this node speaks.
pub const ENVELOPE_VERSION: u32 = 1;

/// A decoded envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentEnvelope {
    /// The request proof.
    pub proof: Proof<Bn254>,
    /// Its public signals.
    pub statement: RequestStatement,
    /// The client's nonce in `x = Poseidon(providerId, payloadDigest, nonce)`.
    pub nonce: Fr,
}

/// Bytes of a compressed Groth16 proof on BN254: A and C in G1 (32 each), B in G2 (64).
pub const PROOF_BYTES: usize = 128;

/// An envelope as the node receives it: every field decoded and canonical, the proof's length
/// right, but its points not decoded yet. Decoding them (square roots, a G2 subgroup check)
/// is the dearest part of reading an envelope, so the node leaves it until the cheap checks
/// passed (spec/05).
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedEnvelope {
    /// The compressed proof.
    pub proof: [u8; PROOF_BYTES],
    /// Its public signals.
    pub statement: RequestStatement,
    /// The client's nonce.
    pub nonce: Fr,
}

/// Why an envelope was refused. The message says which field and what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EnvelopeError(pub String);

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PointJson {
    x: String,
    y: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EnvelopeJson {
    v: u32,
    proof: String,
    root: String,
    scope: String,
    signer_root: String,
    c_max: String,
    now: String,
    nonce: String,
    x: String,
    anon: PointJson,
    nullifier: String,
    y: String,
}

fn field(name: &str, value: &str) -> Result<Fr, EnvelopeError> {
    fr_from_dec(value).map_err(|_| {
        EnvelopeError(format!("`{name}` must be a canonical decimal field element, got `{value}`"))
    })
}

fn integer(name: &str, value: &str) -> Result<u64, EnvelopeError> {
    let canonical = value == "0" || (!value.starts_with('0') && !value.is_empty());
    value
        .parse::<u64>()
        .ok()
        .filter(|_| canonical && value.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| EnvelopeError(format!("`{name}` must be a decimal u64, got `{value}`")))
}

impl ReceivedEnvelope {
    /// Decodes the header value, all but the proof's points.
    pub fn decode(header: &[u8], max_len: usize) -> Result<Self, EnvelopeError> {
        if header.len() > max_len {
            return Err(EnvelopeError(format!(
                "the payment header has {} bytes, at most {max_len} are accepted",
                header.len()
            )));
        }
        let json = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|e| {
            EnvelopeError(format!(
                "the payment header must be base64url without padding (RFC 4648 §5) of the envelope JSON (spec/05): {e}"
            ))
        })?;
        let raw: EnvelopeJson = serde_json::from_slice(&json)
            .map_err(|e| {
            EnvelopeError(format!(
                "the payment envelope must be the JSON object of spec/05 (v, proof, root, scope, signerRoot, cMax, now, nonce, x, anon, nullifier, y; decimal strings): {e}"
            ))
        })?;
        if raw.v != ENVELOPE_VERSION {
            return Err(EnvelopeError(format!(
                "envelope version {} is not supported, this node speaks {ENVELOPE_VERSION}",
                raw.v
            )));
        }
        let proof_hex = raw
            .proof
            .strip_prefix("0x")
            .ok_or_else(|| EnvelopeError("`proof` must be 0x-prefixed hex".into()))?;
        let proof_bytes = alloy::hex::decode(proof_hex)
            .map_err(|e| EnvelopeError(format!("`proof` is not hex: {e}")))?;
        let proof = <[u8; PROOF_BYTES]>::try_from(proof_bytes.as_slice()).map_err(|_| {
            EnvelopeError(format!(
                "`proof` has {} bytes, a compressed Groth16 proof has {PROOF_BYTES}",
                proof_bytes.len()
            ))
        })?;
        let anon = Point::new(field("anon.x", &raw.anon.x)?, field("anon.y", &raw.anon.y)?)
            .map_err(|_| EnvelopeError("`anon` is not a point of Baby Jubjub".into()))?;
        Ok(Self {
            proof,
            nonce: field("nonce", &raw.nonce)?,
            statement: RequestStatement {
                root: field("root", &raw.root)?,
                scope: field("scope", &raw.scope)?,
                signer_root: field("signerRoot", &raw.signer_root)?,
                c_max: integer("cMax", &raw.c_max)?,
                now: integer("now", &raw.now)?,
                x: field("x", &raw.x)?,
                anon,
                nullifier: field("nullifier", &raw.nullifier)?,
                y: field("y", &raw.y)?,
            },
        })
    }

    /// Decodes the proof's points.
    pub fn decode_proof(&self) -> Result<Proof<Bn254>, EnvelopeError> {
        proof_from_bytes(&self.proof)
            .map_err(|e| EnvelopeError(format!("`proof` is not a compressed Groth16 proof: {e}")))
    }
}

impl PaymentEnvelope {
    /// Decodes the header value, the proof's points included.
    pub fn decode(header: &[u8], max_len: usize) -> Result<Self, EnvelopeError> {
        let received = ReceivedEnvelope::decode(header, max_len)?;
        Ok(Self {
            proof: received.decode_proof()?,
            statement: received.statement,
            nonce: received.nonce,
        })
    }

    /// Encodes the header value (what a client sends).
    pub fn encode(&self) -> String {
        let s = &self.statement;
        let raw = EnvelopeJson {
            v: ENVELOPE_VERSION,
            proof: format!("0x{}", alloy::hex::encode(proof_to_bytes(&self.proof))),
            root: fr_to_dec(&s.root),
            scope: fr_to_dec(&s.scope),
            signer_root: fr_to_dec(&s.signer_root),
            c_max: s.c_max.to_string(),
            now: s.now.to_string(),
            nonce: fr_to_dec(&self.nonce),
            x: fr_to_dec(&s.x),
            anon: PointJson { x: fr_to_dec(&s.anon.x), y: fr_to_dec(&s.anon.y) },
            nullifier: fr_to_dec(&s.nullifier),
            y: fr_to_dec(&s.y),
        };
        let json = serde_json::to_vec(&raw).unwrap_or_else(|_| unreachable!("plain strings"));
        URL_SAFE_NO_PAD.encode(json)
    }
}

/// `payloadDigest` of a request: SHA-256 of `METHOD SP path-and-query LF body`, reduced into
/// `Fr`. The method and path are bound so a ticket paid for one route cannot be replayed on
/// another.
pub fn request_digest(method: &str, path_and_query: &str, body: &[u8]) -> Fr {
    let mut bytes = Vec::with_capacity(method.len() + path_and_query.len() + 2 + body.len());
    bytes.extend_from_slice(method.as_bytes());
    bytes.push(b' ');
    bytes.extend_from_slice(path_and_query.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(body);
    payload_digest(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn example() -> PaymentEnvelope {
        let (inputs, public) =
            zkcredits_prover::fixtures::example("request").expect("request example");
        drop(inputs);
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../../spec/vectors/groth16/request.json"))
                .expect("vector JSON");
        let proof =
            zkcredits_prover::encoding::proof_from_json(&vectors["proof"]).expect("vector proof");
        PaymentEnvelope {
            proof,
            nonce: Fr::from(5u64),
            statement: RequestStatement {
                root: public[0],
                scope: public[1],
                signer_root: public[2],
                c_max: 1_000,
                now: 1_900_000_000,
                x: public[5],
                anon: Point::new(public[6], public[7]).expect("on curve"),
                nullifier: public[8],
                y: public[9],
            },
        }
    }

    #[test]
    fn round_trips() {
        let envelope = example();
        assert_eq!(envelope.statement.public_signals().len(), 10);
        let decoded = PaymentEnvelope::decode(envelope.encode().as_bytes(), 4096).expect("decodes");
        assert_eq!(decoded, envelope);
    }

    #[test]
    fn refuses_with_a_reason() {
        let cases: [(&[u8], &str); 4] = [
            (b"!!!", "base64url"),
            (b"e30", "JSON object of spec/05"),
            (b"", "JSON object of spec/05"),
            (&[b'A'; 5000], "at most 4096"),
        ];
        for (header, reason) in cases {
            let err = PaymentEnvelope::decode(header, 4096).expect_err("refused");
            assert!(err.0.contains(reason), "{header:?}: {err}");
        }
        let mut json: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(example().encode()).expect("b64"))
                .expect("json");
        for (key, value, reason) in [
            ("v", serde_json::json!(2), "version 2"),
            ("now", serde_json::json!("01"), "`now`"),
            ("cMax", serde_json::json!("-1"), "`cMax`"),
            ("x", serde_json::json!("0x1"), "`x`"),
            ("proof", serde_json::json!("0x00"), "compressed Groth16"),
            (
                "proof",
                serde_json::json!(format!("0x{}", "ff".repeat(PROOF_BYTES))),
                "compressed Groth16",
            ),
            ("proof", serde_json::json!("00"), "0x-prefixed"),
            ("anon", serde_json::json!({"x": "1", "y": "1"}), "Baby Jubjub"),
            ("extra", serde_json::json!(1), "unknown field"),
        ] {
            let mut bad = json.clone();
            bad[key] = value;
            let header = URL_SAFE_NO_PAD.encode(bad.to_string());
            let err = PaymentEnvelope::decode(header.as_bytes(), 4096).expect_err(key);
            assert!(err.0.contains(reason), "{key}: {err}");
        }
        json.as_object_mut().expect("object").remove("y");
        let header = URL_SAFE_NO_PAD.encode(json.to_string());
        assert!(PaymentEnvelope::decode(header.as_bytes(), 4096).is_err());
    }

    #[test]
    fn digest_binds_method_path_and_body() {
        let base = request_digest("POST", "/v1/chat/completions", b"{}");
        assert_ne!(base, request_digest("GET", "/v1/chat/completions", b"{}"));
        assert_ne!(base, request_digest("POST", "/v1/completions", b"{}"));
        assert_ne!(base, request_digest("POST", "/v1/chat/completions", b"{ }"));
    }

    proptest! {
        #[test]
        fn arbitrary_headers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = PaymentEnvelope::decode(&bytes, 4096);
        }

        #[test]
        fn arbitrary_json_never_panics(text in "\\PC{0,400}") {
            let _ = PaymentEnvelope::decode(URL_SAFE_NO_PAD.encode(text).as_bytes(), 4096);
        }

        #[test]
        fn mutated_envelopes_never_panic(position in 0usize..2000, byte in any::<u8>()) {
            let mut header = example().encode().into_bytes();
            let at = position % header.len();
            header[at] = byte;
            let _ = PaymentEnvelope::decode(&header, 4096);
        }
    }
}
