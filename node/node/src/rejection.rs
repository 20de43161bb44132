//! Why a request is refused. Each reason has a stable string shared by spec/05, the error
//! body's `code`, the `reason` label of `zkcredits_requests_rejected_total` and the tests.

use axum::http::StatusCode;
pub use zkcredits_wire::codes;

/// A refused request, in the order the checks run (spec/05 §Checks).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// `/proxy` forwards only the routes `pricing.proxy` lists.
    #[error("{method} {path} is not a route this node forwards (see /v1/info for the routes)")]
    UnknownRoute {
        /// The method asked for.
        method: String,
        /// The upstream path asked for.
        path: String,
    },
    /// The client address spent its allowance of paid requests (or is paying off junk).
    #[error("too many requests from this address; slow down and retry")]
    RateLimited,
    /// The body is larger than `limits.max_body_bytes`.
    #[error("the request body exceeds {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// No payment header: the response describes how to pay.
    #[error("this route is paid: send a proof in the `zkcredits-payment` header")]
    PaymentRequired,
    /// The payment header does not decode.
    #[error("malformed payment envelope: {0}")]
    MalformedEnvelope(String),
    /// `scope` is not this deployment's.
    #[error("the proof's scope is not this escrow's (another chain or escrow)")]
    WrongScope,
    /// The escrow's signer root is not the root of a set the node is configured with: the
    /// node's key may have been rotated out, so its settlements may be unusable.
    #[error(
        "the escrow's signer set changed and this node is not configured with the new one; it takes no payments until then"
    )]
    NotInSignerSet,
    /// `signerRoot` is neither the escrow's current one nor an earlier one still accepted.
    #[error(
        "the proof's signer root is not the escrow's current signer root (nor an earlier one this node still accepts)"
    )]
    WrongSignerRoot,
    /// `C_MAX` is not the escrow's.
    #[error("the proof's C_MAX is not the escrow's")]
    WrongCMax,
    /// The node's view of the chain is too old to take payments.
    #[error("the node has not followed the chain for {age_secs} s; retry shortly")]
    ChainStale {
        /// Seconds since the last successful chain step.
        age_secs: u64,
    },
    /// `root` is not in the root window.
    #[error(
        "the proof's tree root is not one this node accepts: prove against the newest root it has applied (a deposit counts chain.confirmations blocks after it is mined)"
    )]
    UnknownRoot,
    /// `now` is not the node's time bucket.
    #[error("the proof's time {now} is not the current time bucket (node clock {clock})")]
    TimeOutOfRange {
        /// The proof's `now`.
        now: u64,
        /// The node's clock.
        clock: u64,
    },
    /// The body did not arrive, whole, within `limits.body_read_timeout_secs`.
    #[error("the request body did not arrive complete within {secs} s")]
    BodyIncomplete {
        /// The limit.
        secs: u64,
    },
    /// `x` is not `Poseidon(providerId, payloadDigest, nonce)` of what was received.
    #[error("x does not match this provider, the request bytes and the nonce")]
    XMismatch,
    /// The share was made by the secret of a deposit this node is slashing.
    #[error("this identity double spent and is being slashed; it cannot pay any more")]
    SlashedIdentity,
    /// The ticket was spent with another request: the deposit is being slashed.
    #[error("this ticket was already spent on another request; the deposit will be slashed")]
    DoubleSpend,
    /// The ticket is the one an exit used: the deposit is being slashed.
    #[error("this ticket was used by an exit; the deposit will be slashed")]
    ExitedTicket,
    /// The same request is being served right now.
    #[error("this request is being served; fetch its settlement when it completes")]
    InProgress,
    /// The same request was served by another node of this provider (its share came over
    /// the share network): this node has no settlement for it.
    #[error(
        "this request was served by another node of this provider; fetch its settlement there (GET /v1/settlements/{{nullifier}})"
    )]
    ServedElsewhere,
    /// The proof's points do not decode.
    #[error("malformed proof: {0}")]
    MalformedProof(String),
    /// The proof does not verify.
    #[error("the request proof does not verify")]
    InvalidProof,
    /// The verification queue is full.
    #[error("the node is overloaded; retry shortly")]
    Overloaded,
    /// The node failed (storage); nothing was served.
    #[error("internal error; retry")]
    Internal,
}

impl Rejection {
    /// Every reason string, in check order.
    pub const REASONS: [&'static str; 23] = [
        codes::UNKNOWN_ROUTE,
        codes::RATE_LIMITED,
        codes::BODY_TOO_LARGE,
        codes::PAYMENT_REQUIRED,
        codes::MALFORMED_ENVELOPE,
        codes::WRONG_SCOPE,
        codes::NOT_IN_SIGNER_SET,
        codes::WRONG_SIGNER_ROOT,
        codes::WRONG_C_MAX,
        codes::CHAIN_STALE,
        codes::UNKNOWN_ROOT,
        codes::TIME_OUT_OF_RANGE,
        codes::BODY_INCOMPLETE,
        codes::X_MISMATCH,
        codes::SLASHED_IDENTITY,
        codes::DOUBLE_SPEND,
        codes::EXITED_TICKET,
        codes::IN_PROGRESS,
        codes::SERVED_ELSEWHERE,
        codes::MALFORMED_PROOF,
        codes::INVALID_PROOF,
        codes::OVERLOADED,
        codes::INTERNAL,
    ];

    /// The stable reason string.
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::UnknownRoute { .. } => codes::UNKNOWN_ROUTE,
            Self::RateLimited => codes::RATE_LIMITED,
            Self::BodyTooLarge { .. } => codes::BODY_TOO_LARGE,
            Self::PaymentRequired => codes::PAYMENT_REQUIRED,
            Self::MalformedEnvelope(_) => codes::MALFORMED_ENVELOPE,
            Self::WrongScope => codes::WRONG_SCOPE,
            Self::WrongSignerRoot => codes::WRONG_SIGNER_ROOT,
            Self::WrongCMax => codes::WRONG_C_MAX,
            Self::NotInSignerSet => codes::NOT_IN_SIGNER_SET,
            Self::ChainStale { .. } => codes::CHAIN_STALE,
            Self::UnknownRoot => codes::UNKNOWN_ROOT,
            Self::TimeOutOfRange { .. } => codes::TIME_OUT_OF_RANGE,
            Self::BodyIncomplete { .. } => codes::BODY_INCOMPLETE,
            Self::XMismatch => codes::X_MISMATCH,
            Self::SlashedIdentity => codes::SLASHED_IDENTITY,
            Self::DoubleSpend => codes::DOUBLE_SPEND,
            Self::ExitedTicket => codes::EXITED_TICKET,
            Self::InProgress => codes::IN_PROGRESS,
            Self::ServedElsewhere => codes::SERVED_ELSEWHERE,
            Self::MalformedProof(_) => codes::MALFORMED_PROOF,
            Self::InvalidProof => codes::INVALID_PROOF,
            Self::Overloaded => codes::OVERLOADED,
            Self::Internal => codes::INTERNAL,
        }
    }

    /// The HTTP status.
    pub const fn status(&self) -> StatusCode {
        match self {
            Self::UnknownRoute { .. } => StatusCode::NOT_FOUND,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyIncomplete { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::PaymentRequired => StatusCode::PAYMENT_REQUIRED,
            Self::MalformedEnvelope(_)
            | Self::WrongScope
            | Self::WrongSignerRoot
            | Self::WrongCMax
            | Self::TimeOutOfRange { .. }
            | Self::XMismatch
            | Self::MalformedProof(_)
            | Self::InvalidProof => StatusCode::BAD_REQUEST,
            Self::UnknownRoot | Self::InProgress | Self::ServedElsewhere => StatusCode::CONFLICT,
            Self::SlashedIdentity | Self::DoubleSpend | Self::ExitedTicket => StatusCode::FORBIDDEN,
            Self::NotInSignerSet | Self::ChainStale { .. } | Self::Overloaded => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}
