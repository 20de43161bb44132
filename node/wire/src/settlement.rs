//! The settlement a node returns with every served request (spec/05): the charge, the refund
//! `C_MAX − charge`, the next state `A' = A_anon + refund·G + 1·N` and its EdDSA-Poseidon
//! signature by a key of the signer set.

use serde::{Deserialize, Serialize};
use zkcredits_primitives::{
    Fr,
    babyjubjub::{Point, Scalar},
    eddsa::{PrivateKey, PublicKey, Signature},
    field::{fr_from_dec, fr_to_dec, from_dec, to_dec},
    state::{settle, state_message},
};

/// The header carrying a non-streamed response's settlement (base64url of its JSON).
pub const SETTLEMENT_HEADER: &str = "zkcredits-settlement";

/// The SSE event name of a streamed response's settlement, sent after the upstream's last chunk.
pub const SETTLEMENT_EVENT: &str = "zkcredits.settlement";

/// A signed settlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// The ticket.
    pub nullifier: Fr,
    /// What the request cost, at most `C_MAX`.
    pub charge: u64,
    /// `C_MAX − charge`.
    pub refund: u64,
    /// The next state `A'`.
    pub next: Point,
    /// The signature on `Poseidon(A'.x, A'.y)`.
    pub signature: Signature,
    /// The key that signed (its place in the signer set goes into the next proof).
    pub signer: PublicKey,
}

/// Why a settlement does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettlementError {
    /// Not the node's JSON encoding.
    #[error("malformed settlement: {0}")]
    Malformed(String),
    /// Charge and refund do not add up to `C_MAX`.
    #[error("charge {charge} plus refund {refund} is not C_MAX {c_max}")]
    Amounts {
        /// The charge.
        charge: u64,
        /// The refund.
        refund: u64,
        /// `C_MAX`.
        c_max: u64,
    },
    /// The next state is not `A_anon + refund·G + N`.
    #[error("the next state is not the request's state advanced by the refund")]
    WrongState,
    /// The signature does not verify.
    #[error("the signature does not verify under the named signer")]
    BadSignature,
    /// Another ticket's settlement.
    #[error("the settlement is for another nullifier")]
    WrongNullifier,
}

impl Settlement {
    /// Settles the request whose rerandomized state is `anon` with `charge` (at most `c_max`),
    /// signing the next state for the deployment `scope`.
    pub fn sign(
        key: &PrivateKey,
        nullifier: Fr,
        anon: &Point,
        scope: &Fr,
        c_max: u64,
        charge: u64,
    ) -> Self {
        let charge = charge.min(c_max);
        let refund = c_max - charge;
        let next = settle(anon, u128::from(refund));
        Self {
            nullifier,
            charge,
            refund,
            next,
            signature: key.sign(&state_message(&next, scope)),
            signer: key.public_key(),
        }
    }

    /// The client-side check: the settlement of `nullifier` for state `anon` under `c_max` adds
    /// up, advances the state by its refund and one ticket, and is signed by `signer` for the
    /// deployment `scope`. (That `signer` is in the escrow's signer set is the client's next
    /// check.)
    pub fn verify(
        &self,
        nullifier: &Fr,
        anon: &Point,
        scope: &Fr,
        c_max: u64,
    ) -> Result<(), SettlementError> {
        if self.nullifier != *nullifier {
            return Err(SettlementError::WrongNullifier);
        }
        if self.charge.checked_add(self.refund) != Some(c_max) {
            return Err(SettlementError::Amounts {
                charge: self.charge,
                refund: self.refund,
                c_max,
            });
        }
        if settle(anon, u128::from(self.refund)) != self.next {
            return Err(SettlementError::WrongState);
        }
        self.signer
            .verify(&state_message(&self.next, scope), &self.signature)
            .map_err(|_| SettlementError::BadSignature)
    }

    /// The JSON encoding (spec/05).
    pub fn to_json(&self) -> serde_json::Value {
        let raw = SettlementJson {
            v: 1,
            nullifier: fr_to_dec(&self.nullifier),
            charge: self.charge.to_string(),
            refund: self.refund.to_string(),
            next: PointJson::from(&self.next),
            signature: SignatureJson {
                r8: PointJson::from(&self.signature.r8),
                s: to_dec(&self.signature.s),
            },
            signer: PointJson::from(&self.signer.0),
        };
        serde_json::to_value(raw).unwrap_or_else(|_| unreachable!("plain strings"))
    }

    /// Bytes as stored and served: the compact JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_json().to_string().into_bytes()
    }

    /// Parses the JSON encoding.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, SettlementError> {
        let raw: SettlementJson = serde_json::from_value(value.clone())
            .map_err(|e| SettlementError::Malformed(e.to_string()))?;
        if raw.v != 1 {
            return Err(SettlementError::Malformed(format!("version {}", raw.v)));
        }
        let amount = |name: &str, s: &str| {
            s.parse::<u64>().map_err(|_| SettlementError::Malformed(format!("`{name}`: `{s}`")))
        };
        Ok(Self {
            nullifier: fr(&raw.nullifier)?,
            charge: amount("charge", &raw.charge)?,
            refund: amount("refund", &raw.refund)?,
            next: raw.next.point()?,
            signature: Signature {
                r8: raw.signature.r8.point()?,
                s: from_dec::<Scalar>(&raw.signature.s)
                    .map_err(|e| SettlementError::Malformed(e.to_string()))?,
            },
            signer: PublicKey(raw.signer.point()?),
        })
    }

    /// Parses stored or served bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SettlementError> {
        let value =
            serde_json::from_slice(bytes).map_err(|e| SettlementError::Malformed(e.to_string()))?;
        Self::from_json(&value)
    }
}

fn fr(s: &str) -> Result<Fr, SettlementError> {
    fr_from_dec(s).map_err(|e| SettlementError::Malformed(e.to_string()))
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PointJson {
    x: String,
    y: String,
}

impl From<&Point> for PointJson {
    fn from(p: &Point) -> Self {
        Self { x: fr_to_dec(&p.x), y: fr_to_dec(&p.y) }
    }
}

impl PointJson {
    fn point(&self) -> Result<Point, SettlementError> {
        Point::new(fr(&self.x)?, fr(&self.y)?)
            .map_err(|_| SettlementError::Malformed("a point is not on Baby Jubjub".into()))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureJson {
    r8: PointJson,
    s: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettlementJson {
    v: u32,
    nullifier: String,
    charge: String,
    refund: String,
    next: PointJson,
    signature: SignatureJson,
    signer: PointJson,
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkcredits_primitives::babyjubjub::Generators;

    #[test]
    fn signs_verifies_and_round_trips() {
        let key = PrivateKey::from_bytes([9; 32]);
        let anon = Generators::get().h.mul_u128(12_345);
        let nullifier = Fr::from(77u64);
        let scope = Fr::from(31_337u64);
        let settlement = Settlement::sign(&key, nullifier, &anon, &scope, 1_000, 250);
        assert_eq!((settlement.charge, settlement.refund), (250, 750));
        settlement.verify(&nullifier, &anon, &scope, 1_000).expect("valid");
        let decoded = Settlement::from_bytes(&settlement.to_bytes()).expect("decodes");
        assert_eq!(decoded, settlement);

        let capped = Settlement::sign(&key, nullifier, &anon, &scope, 1_000, 5_000);
        assert_eq!((capped.charge, capped.refund), (1_000, 0));

        assert_eq!(
            settlement.verify(&Fr::from(78u64), &anon, &scope, 1_000),
            Err(SettlementError::WrongNullifier)
        );
        assert!(matches!(
            settlement.verify(&nullifier, &anon, &scope, 999),
            Err(SettlementError::Amounts { .. })
        ));
        let other = Generators::get().h.mul_u128(1);
        assert_eq!(
            settlement.verify(&nullifier, &other, &scope, 1_000),
            Err(SettlementError::WrongState)
        );
        // Signed for one deployment, worthless at another that trusts the same key.
        assert_eq!(
            settlement.verify(&nullifier, &anon, &Fr::from(1u64), 1_000),
            Err(SettlementError::BadSignature)
        );
        let mut forged = settlement;
        forged.signer = PrivateKey::from_bytes([8; 32]).public_key();
        assert_eq!(
            forged.verify(&nullifier, &anon, &scope, 1_000),
            Err(SettlementError::BadSignature)
        );
        assert!(Settlement::from_bytes(b"{}").is_err());
    }
}
