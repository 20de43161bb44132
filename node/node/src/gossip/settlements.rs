//! Replays between a provider's own nodes (spec/06 §Replays at another node): a node that holds
//! a request's share only from gossip asks the provider node that published it for the
//! request's settlement, and returns it to the client once it checks out, so a client that
//! retries at another node of the provider is not stuck with `served_elsewhere`.
//!
//! The question names the ticket and the request (`nullifier`, `x`); the answer is the
//! settlement, `in_progress` or `not_taken`. Only the provider's peers (`p2p.provider_peers`)
//! are asked or answered: a settlement tells its charge, which other providers need not learn.

use super::message::{DecodeError, Reader};
use crate::settlement::Settlement;
use zkcredits_primitives::{Fr, field::fr_to_be_bytes};

/// The version of the question and the answer this node speaks.
pub const SETTLEMENT_QUESTION_VERSION: u8 = 1;

/// Bytes of a version-1 question: version, nullifier, `x`.
pub const SETTLEMENT_QUESTION_BYTES: usize = 1 + 2 * 32;

/// "What did you answer the request `x` spending ticket `nullifier`?"
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettlementQuestion {
    /// The ticket.
    pub nullifier: Fr,
    /// The request (`Poseidon(providerId, payloadDigest, nonce)`).
    pub x: Fr,
}

impl SettlementQuestion {
    /// The wire bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SETTLEMENT_QUESTION_BYTES);
        out.push(SETTLEMENT_QUESTION_VERSION);
        out.extend_from_slice(&fr_to_be_bytes(&self.nullifier));
        out.extend_from_slice(&fr_to_be_bytes(&self.x));
        out
    }

    /// Decodes the wire bytes: the version this node speaks, canonical field elements.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        check_version(bytes)?;
        if bytes.len() != SETTLEMENT_QUESTION_BYTES {
            return Err(DecodeError::Malformed(format!(
                "a settlement question has {SETTLEMENT_QUESTION_BYTES} bytes, got {}",
                bytes.len()
            )));
        }
        let mut reader = Reader::new(bytes, 1);
        Ok(Self { nullifier: reader.field("nullifier")?, x: reader.field("x")? })
    }
}

/// The answer to a [`SettlementQuestion`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettlementAnswer {
    /// The request was served and settled: here is the settlement.
    Settled(Box<Settlement>),
    /// The request is being served.
    InProgress,
    /// This node took no such request.
    NotTaken,
}

const SETTLED: u8 = 0;
const IN_PROGRESS: u8 = 1;
const NOT_TAKEN: u8 = 2;

impl SettlementAnswer {
    /// The wire bytes: version, a tag, and the settlement's JSON (spec/05) after tag 0.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Settled(settlement) => {
                let mut out = vec![SETTLEMENT_QUESTION_VERSION, SETTLED];
                out.extend_from_slice(&settlement.to_bytes());
                out
            }
            Self::InProgress => vec![SETTLEMENT_QUESTION_VERSION, IN_PROGRESS],
            Self::NotTaken => vec![SETTLEMENT_QUESTION_VERSION, NOT_TAKEN],
        }
    }

    /// Decodes the wire bytes (the settlement is checked by the asker, against its request).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        check_version(bytes)?;
        match (bytes.get(1), &bytes[bytes.len().min(2)..]) {
            (Some(&SETTLED), settlement) => Settlement::from_bytes(settlement)
                .map(|settlement| Self::Settled(Box::new(settlement)))
                .map_err(|e| DecodeError::Malformed(e.to_string())),
            (Some(&IN_PROGRESS), []) => Ok(Self::InProgress),
            (Some(&NOT_TAKEN), []) => Ok(Self::NotTaken),
            (Some(tag), _) => Err(DecodeError::Malformed(format!(
                "answer tag {tag} with {} bytes after it",
                bytes.len() - 2
            ))),
            (None, _) => Err(DecodeError::Malformed("an answer without its tag".into())),
        }
    }
}

fn check_version(bytes: &[u8]) -> Result<(), DecodeError> {
    match bytes.first() {
        None => Err(DecodeError::Malformed("empty message".into())),
        Some(&SETTLEMENT_QUESTION_VERSION) => Ok(()),
        Some(&version) => Err(DecodeError::UnsupportedVersion(version)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use zkcredits_primitives::{babyjubjub::Generators, eddsa::PrivateKey};

    fn settlement() -> Settlement {
        let anon = Generators::get().h.mul_u128(7);
        let key = PrivateKey::from_bytes([3; 32]);
        Settlement::sign(&key, Fr::from(3u64), &anon, &Fr::from(5u64), 1_000, 400)
    }

    #[test]
    fn questions_and_answers_round_trip() {
        let question = SettlementQuestion { nullifier: Fr::from(1u64), x: -Fr::from(1u64) };
        assert_eq!(SettlementQuestion::decode(&question.encode()), Ok(question));
        for answer in [
            SettlementAnswer::Settled(Box::new(settlement())),
            SettlementAnswer::InProgress,
            SettlementAnswer::NotTaken,
        ] {
            assert_eq!(SettlementAnswer::decode(&answer.encode()), Ok(answer));
        }
    }

    #[test]
    fn malformed_questions_and_answers_are_named() {
        let mut question =
            SettlementQuestion { nullifier: Fr::from(1u64), x: Fr::from(2u64) }.encode();
        question[1..33].fill(0xff);
        assert!(matches!(
            SettlementQuestion::decode(&question),
            Err(DecodeError::Malformed(m)) if m.contains("nullifier")
        ));
        assert_eq!(SettlementQuestion::decode(&[2]), Err(DecodeError::UnsupportedVersion(2)));
        assert!(SettlementQuestion::decode(&[1, 0]).is_err());
        assert!(SettlementAnswer::decode(&[1, IN_PROGRESS, 0]).is_err());
        assert!(SettlementAnswer::decode(&[1, 9]).is_err());
        assert!(SettlementAnswer::decode(&[1, SETTLED, b'{', b'}']).is_err());
        assert!(SettlementAnswer::decode(&[]).is_err());
    }

    proptest! {
        #[test]
        fn no_bytes_make_the_decoders_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = SettlementQuestion::decode(&bytes);
            let _ = SettlementAnswer::decode(&bytes);
        }

        #[test]
        fn no_mutation_of_a_settled_answer_makes_the_decoder_panic(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>(),
        ) {
            let mut bytes = SettlementAnswer::Settled(Box::new(settlement())).encode();
            for (at, value) in edits {
                let at = at % bytes.len();
                bytes[at] = value;
            }
            bytes.truncate(cut % (bytes.len() + 1));
            let _ = SettlementAnswer::decode(&bytes);
        }
    }
}
