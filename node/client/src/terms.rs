//! A provider's payment description (spec/05 §How to pay): the `payment` object of
//! `GET /v1/info` and of a 402 answer. Parsed strictly, then checked against the chain
//! ([`crate::ChainView::check_terms`]) before anything in it is used.

use crate::ClientError;
use alloy::primitives::Address;
use serde_json::Value;
use zkcredits_primitives::{Fr, babyjubjub::Point, eddsa::PublicKey, field::fr_from_dec};
use zkcredits_wire::envelope::ENVELOPE_VERSION;

/// What a provider asks a payment to carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentTerms {
    /// The chain of the escrow.
    pub chain_id: u64,
    /// The escrow.
    pub escrow: Address,
    /// `Poseidon(chainId, escrow)`.
    pub scope: Fr,
    /// `C_MAX`.
    pub c_max: u64,
    /// The signer root proofs are made against.
    pub signer_root: Fr,
    /// The signer set's keys in tree order.
    pub signers: Vec<PublicKey>,
    /// The first input of `x`.
    pub provider_id: Fr,
    /// The rounding of `now`, seconds.
    pub time_bucket: u64,
    /// The `/proxy` routes the provider prices: method and path (`/proxy/v1/embeddings`).
    pub proxy_routes: Vec<(String, String)>,
}

/// The metered chat route every provider serves.
const CHAT: (&str, &str) = ("POST", "/v1/chat/completions");

fn terms_error(reason: impl std::fmt::Display) -> ClientError {
    ClientError::Terms(format!("the payment description is malformed: {reason}"))
}

fn text<'a>(payment: &'a Value, name: &str) -> Result<&'a str, ClientError> {
    payment[name].as_str().ok_or_else(|| terms_error(format!("`{name}` is not a string")))
}

fn field(value: &Value, name: &str) -> Result<Fr, ClientError> {
    let text = value.as_str().ok_or_else(|| terms_error(format!("`{name}` is not a string")))?;
    fr_from_dec(text).map_err(|e| terms_error(format!("`{name}`: {e}")))
}

impl PaymentTerms {
    /// Parses the `payment` object.
    pub fn from_json(payment: &Value) -> Result<Self, ClientError> {
        if payment.is_null() {
            return Err(ClientError::Terms(
                "this node takes no payments (a passive slasher); point the client at a provider's node".into(),
            ));
        }
        if payment["envelopeVersion"].as_u64() != Some(u64::from(ENVELOPE_VERSION)) {
            return Err(terms_error(format!(
                "envelope version {} is not the one this client speaks ({ENVELOPE_VERSION})",
                payment["envelopeVersion"]
            )));
        }
        let signers = payment["signers"]
            .as_array()
            .ok_or_else(|| terms_error("`signers` is not a list"))?
            .iter()
            .map(|key| {
                let point = Point::new_in_subgroup(
                    field(&key["x"], "signers.x")?,
                    field(&key["y"], "signers.y")?,
                )
                .map_err(|_| {
                    terms_error("a signer key is not a point of Baby Jubjub's subgroup")
                })?;
                Ok(PublicKey(point))
            })
            .collect::<Result<Vec<_>, ClientError>>()?;
        if signers.is_empty() {
            return Err(ClientError::Terms(
                "the node is not in the escrow's signer set right now, so what it signs would be unusable; try again later or another node".into(),
            ));
        }
        Ok(Self {
            chain_id: payment["chainId"].as_u64().ok_or_else(|| terms_error("`chainId`"))?,
            escrow: text(payment, "escrow")?
                .parse()
                .map_err(|e| terms_error(format!("`escrow`: {e}")))?,
            scope: field(&payment["scope"], "scope")?,
            c_max: text(payment, "cMax")?
                .parse()
                .map_err(|e| terms_error(format!("`cMax`: {e}")))?,
            signer_root: field(&payment["signerRoot"], "signerRoot")?,
            signers,
            provider_id: field(&payment["providerId"], "providerId")?,
            time_bucket: payment["timeBucket"]
                .as_u64()
                .filter(|b| *b > 0)
                .ok_or_else(|| terms_error("`timeBucket` is not a positive integer"))?,
            proxy_routes: payment["pricing"]["proxy"]
                .as_array()
                .map(|routes| {
                    routes
                        .iter()
                        .filter_map(|r| {
                            Some((r["method"].as_str()?.to_owned(), r["path"].as_str()?.to_owned()))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// Refuses, before a ticket is spent on it, a call to a route the provider does not serve:
    /// the node would refuse it, and the ticket proven for it could then pay for nothing else.
    pub fn check_route(&self, method: &str, path_and_query: &str) -> Result<(), ClientError> {
        let path = path_and_query.split('?').next().unwrap_or_default();
        let served = (method, path) == CHAT
            || self.proxy_routes.iter().any(|(m, p)| m == method && p == path);
        if served {
            Ok(())
        } else {
            Err(ClientError::UnknownRoute { method: method.to_owned(), path: path.to_owned() })
        }
    }

    /// The current time bucket: `floor(now / timeBucket) · timeBucket`.
    pub fn now_bucket(&self, unix_now: u64) -> u64 {
        unix_now - unix_now % self.time_bucket
    }
}
