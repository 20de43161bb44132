//! The share message (spec/06 §Message): one accepted request's share, its public signals and
//! proof, and the publishing node's binding of its peer id to a key of the signer set. Never
//! the payload, the nonce or the provider id.

use crate::envelope::PROOF_BYTES;
use ark_ff::{BigInteger, PrimeField};
use sha2::{Digest, Sha256};
use zkcredits_primitives::{
    Fr,
    babyjubjub::{Point, Scalar},
    constants::TAG_PEER,
    eddsa::{PrivateKey, PublicKey, Signature},
    field::fr_to_be_bytes,
    poseidon::poseidon_n,
};
use zkcredits_prover::inputs::RequestStatement;

/// The message version this node speaks.
pub const SHARE_MESSAGE_VERSION: u8 = 1;

/// Bytes of a version-1 share message: version, eight field elements and two `u64` of the
/// statement, the compressed proof, the signer index, the binding signature.
pub const SHARE_MESSAGE_BYTES: usize = 1 + 8 * 32 + 2 * 8 + PROOF_BYTES + 1 + 3 * 32;

/// Why a message does not decode. The text names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A version this node does not speak (newer nodes may): ignored, not penalized.
    #[error("share message version {0} is not supported, this node speaks {SHARE_MESSAGE_VERSION}")]
    UnsupportedVersion(u8),
    /// Anything else: the wrong length, a non-canonical field element, a point off the curve.
    #[error("{0}")]
    Malformed(String),
}

/// A node's proof that a peer id is its own: its signer key's signature over
/// `Poseidon(TAG_PEER, scope, peerHi, peerLo)`, with `peerHi ‖ peerLo = SHA-256(peer id bytes)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerBinding {
    /// The signing key's index in the escrow's current signer set (tree order).
    pub signer_index: u8,
    /// The signature.
    pub signature: Signature,
}

impl PeerBinding {
    /// The message a binding signs.
    pub fn message(scope: &Fr, peer_id: &[u8]) -> Fr {
        let digest = Sha256::digest(peer_id);
        let half =
            |bytes: &[u8]| Fr::from(u128::from_be_bytes(bytes.try_into().expect("16 bytes")));
        poseidon_n([Fr::from(TAG_PEER), *scope, half(&digest[..16]), half(&digest[16..])])
    }

    /// Binds `peer_id` to `key`, the key at `signer_index` of the signer set.
    pub fn sign(key: &PrivateKey, signer_index: u8, scope: &Fr, peer_id: &[u8]) -> Self {
        Self { signer_index, signature: key.sign(&Self::message(scope, peer_id)) }
    }

    /// Whether this binds `peer_id` to `key`.
    pub fn verify(&self, key: &PublicKey, scope: &Fr, peer_id: &[u8]) -> bool {
        key.verify(&Self::message(scope, peer_id), &self.signature).is_ok()
    }
}

/// A share message.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareMessage {
    /// The request's public signals.
    pub statement: RequestStatement,
    /// Its compressed proof, decoded only when checked.
    pub proof: [u8; PROOF_BYTES],
    /// The publisher's peer binding.
    pub binding: PeerBinding,
}

impl ShareMessage {
    /// The wire bytes (spec/06 §Message).
    pub fn encode(&self) -> Vec<u8> {
        let s = &self.statement;
        let mut out = Vec::with_capacity(SHARE_MESSAGE_BYTES);
        out.push(SHARE_MESSAGE_VERSION);
        for field in [s.root, s.scope, s.signer_root] {
            out.extend_from_slice(&fr_to_be_bytes(&field));
        }
        out.extend_from_slice(&s.c_max.to_be_bytes());
        out.extend_from_slice(&s.now.to_be_bytes());
        for field in [s.x, s.anon.x, s.anon.y, s.nullifier, s.y] {
            out.extend_from_slice(&fr_to_be_bytes(&field));
        }
        out.extend_from_slice(&self.proof);
        out.push(self.binding.signer_index);
        let signature = &self.binding.signature;
        out.extend_from_slice(&fr_to_be_bytes(&signature.r8.x));
        out.extend_from_slice(&fr_to_be_bytes(&signature.r8.y));
        out.extend_from_slice(&signature.s.into_bigint().to_bytes_be());
        out
    }

    /// Decodes the wire bytes: every field element canonical, `A_anon` and `R8` on the curve.
    /// The proof's points are left for whoever checks it.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let Some(&version) = bytes.first() else {
            return Err(DecodeError::Malformed("empty message".into()));
        };
        if version != SHARE_MESSAGE_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        if bytes.len() != SHARE_MESSAGE_BYTES {
            return Err(DecodeError::Malformed(format!(
                "a version-1 share message has {SHARE_MESSAGE_BYTES} bytes, got {}",
                bytes.len()
            )));
        }
        let mut reader = Reader::new(bytes, 1);
        let root = reader.field("root")?;
        let scope = reader.field("scope")?;
        let signer_root = reader.field("signerRoot")?;
        let c_max = reader.integer();
        let now = reader.integer();
        let x = reader.field("x")?;
        let anon = reader.point("anon")?;
        let nullifier = reader.field("nullifier")?;
        let y = reader.field("y")?;
        let proof = reader.take::<PROOF_BYTES>();
        let signer_index = reader.take::<1>()[0];
        let r8 = reader.point("signature.r8")?;
        let s_bytes = reader.take::<32>();
        let s = Scalar::from_be_bytes_mod_order(&s_bytes);
        if s.into_bigint().to_bytes_be() != s_bytes {
            return Err(DecodeError::Malformed(
                "`signature.s` is not a canonical subgroup scalar".into(),
            ));
        }
        Ok(Self {
            statement: RequestStatement {
                root,
                scope,
                signer_root,
                c_max,
                now,
                x,
                anon,
                nullifier,
                y,
            },
            proof,
            binding: PeerBinding { signer_index, signature: Signature { r8, s } },
        })
    }
}

/// Reads a message front to back; the length was checked first.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// Reads `bytes` from `at` on.
    pub(super) const fn new(bytes: &'a [u8], at: usize) -> Self {
        Self { bytes, at }
    }

    fn take<const N: usize>(&mut self) -> [u8; N] {
        let out = self.bytes[self.at..self.at + N].try_into().expect("length checked");
        self.at += N;
        out
    }

    pub(super) fn field(&mut self, name: &str) -> Result<Fr, DecodeError> {
        let bytes = self.take::<32>();
        let value = Fr::from_be_bytes_mod_order(&bytes);
        if fr_to_be_bytes(&value) != bytes {
            return Err(DecodeError::Malformed(format!(
                "`{name}` is not a canonical field element (at most p − 1)"
            )));
        }
        Ok(value)
    }

    fn integer(&mut self) -> u64 {
        u64::from_be_bytes(self.take::<8>())
    }

    fn point(&mut self, name: &str) -> Result<Point, DecodeError> {
        let (x, y) = (self.field(name)?, self.field(name)?);
        Point::new(x, y)
            .map_err(|_| DecodeError::Malformed(format!("`{name}` is not a point of Baby Jubjub")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn sample() -> ShareMessage {
        let key = PrivateKey::from_bytes([7; 32]);
        let anon = key.public_key().0;
        ShareMessage {
            statement: RequestStatement {
                root: Fr::from(1u64),
                scope: Fr::from(2u64),
                signer_root: Fr::from(3u64),
                c_max: 1_000,
                now: 3_600,
                x: Fr::from(5u64),
                anon,
                nullifier: Fr::from(6u64),
                y: Fr::from(7u64),
            },
            proof: [9; PROOF_BYTES],
            binding: PeerBinding::sign(&key, 0, &Fr::from(2u64), b"peer"),
        }
    }

    #[test]
    fn a_message_survives_its_encoding() {
        let message = sample();
        let bytes = message.encode();
        assert_eq!(bytes.len(), SHARE_MESSAGE_BYTES);
        assert_eq!(ShareMessage::decode(&bytes), Ok(message));
    }

    #[test]
    fn a_binding_holds_for_its_peer_and_scope_only() {
        let key = PrivateKey::from_bytes([7; 32]);
        let binding = PeerBinding::sign(&key, 0, &Fr::from(2u64), b"peer");
        assert!(binding.verify(&key.public_key(), &Fr::from(2u64), b"peer"));
        assert!(!binding.verify(&key.public_key(), &Fr::from(2u64), b"other peer"));
        assert!(!binding.verify(&key.public_key(), &Fr::from(3u64), b"peer"));
        let other = PrivateKey::from_bytes([8; 32]).public_key();
        assert!(!binding.verify(&other, &Fr::from(2u64), b"peer"));
    }

    #[test]
    fn bad_bytes_say_what_is_wrong() {
        let bytes = sample().encode();
        assert_eq!(ShareMessage::decode(&[2]), Err(DecodeError::UnsupportedVersion(2)));
        assert!(matches!(ShareMessage::decode(&bytes[..100]), Err(DecodeError::Malformed(_))));
        let mut p = bytes.clone();
        p[1..33].copy_from_slice(&[0xff; 32]);
        assert_eq!(
            ShareMessage::decode(&p),
            Err(DecodeError::Malformed(
                "`root` is not a canonical field element (at most p − 1)".into()
            ))
        );
        let mut off_curve = bytes;
        off_curve[1 + 3 * 32 + 16 + 32 + 31] ^= 1;
        assert_eq!(
            ShareMessage::decode(&off_curve),
            Err(DecodeError::Malformed("`anon` is not a point of Baby Jubjub".into()))
        );
    }

    proptest! {
        #[test]
        fn no_bytes_make_the_decoder_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = ShareMessage::decode(&bytes);
        }

        #[test]
        fn no_flipped_byte_makes_the_decoder_panic(at in 0..SHARE_MESSAGE_BYTES, bit in 0u8..8) {
            let mut bytes = sample().encode();
            bytes[at] ^= 1 << bit;
            if let Ok(decoded) = ShareMessage::decode(&bytes) {
                prop_assert_eq!(decoded.encode(), bytes);
            }
        }
    }
}
