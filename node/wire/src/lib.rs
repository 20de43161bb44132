//! What a zkcredits client and a provider node say to each other (spec/05).
//!
//! ## Bird's eye view
//!
//! - [`envelope`]: the payment envelope a client sends in the `zkcredits-payment` header: the
//!   request proof, its public signals and the nonce that binds it to the request's bytes.
//! - [`settlement`]: the signed next state a node returns for every ticket it took, and the
//!   check a client runs before it trusts one.
//! - [`codes`]: the stable reason strings of every refusal, shared by spec/05, the error body's
//!   `code`, the node's metrics labels and the client's reactions.
//!
//! Pure encoding and checking: no I/O. The node and the client both build on it, so neither
//! depends on the other.

pub mod envelope;
pub mod settlement;

/// The `error.code` of every answer that is not the upstream's (spec/05 §Checks, §Replays).
pub mod codes {
    /// 404: `/proxy` forwards only the routes `pricing.proxy` lists.
    pub const UNKNOWN_ROUTE: &str = "unknown_route";
    /// 429: the client address spent its allowance.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// 413: the body is larger than the node takes.
    pub const BODY_TOO_LARGE: &str = "body_too_large";
    /// 402: no payment header; the body describes how to pay.
    pub const PAYMENT_REQUIRED: &str = "payment_required";
    /// 400: the payment header does not decode.
    pub const MALFORMED_ENVELOPE: &str = "malformed_envelope";
    /// 400: the proof's scope is not this escrow's.
    pub const WRONG_SCOPE: &str = "wrong_scope";
    /// 503: the node's key is not in the escrow's signer set.
    pub const NOT_IN_SIGNER_SET: &str = "not_in_signer_set";
    /// 400: the proof's signer root is not one the node accepts.
    pub const WRONG_SIGNER_ROOT: &str = "wrong_signer_root";
    /// 400: the proof's `C_MAX` is not the escrow's.
    pub const WRONG_C_MAX: &str = "wrong_c_max";
    /// 503: the node's view of the chain is too old.
    pub const CHAIN_STALE: &str = "chain_stale";
    /// 409: the proof's root is not in the node's root window: prove again on a newer root.
    pub const UNKNOWN_ROOT: &str = "unknown_root";
    /// 400: the proof's `now` is not the node's time bucket.
    pub const TIME_OUT_OF_RANGE: &str = "time_out_of_range";
    /// 408: the body did not arrive in time.
    pub const BODY_INCOMPLETE: &str = "body_incomplete";
    /// 400: `x` does not bind what was received.
    pub const X_MISMATCH: &str = "x_mismatch";
    /// 403: the share was made by the secret of a deposit being slashed.
    pub const SLASHED_IDENTITY: &str = "slashed_identity";
    /// 403: the ticket was spent with another request.
    pub const DOUBLE_SPEND: &str = "double_spend";
    /// 403: the ticket is the one an exit used.
    pub const EXITED_TICKET: &str = "exited_ticket";
    /// 409: the same request is being served right now.
    pub const IN_PROGRESS: &str = "in_progress";
    /// 409: another node of the provider served the same request; no settlement here.
    pub const SERVED_ELSEWHERE: &str = "served_elsewhere";
    /// 400: the proof's points do not decode.
    pub const MALFORMED_PROOF: &str = "malformed_proof";
    /// 400: the proof does not verify.
    pub const INVALID_PROOF: &str = "invalid_proof";
    /// 503: the node is at capacity.
    pub const OVERLOADED: &str = "overloaded";
    /// 500: the node failed; nothing was served.
    pub const INTERNAL: &str = "internal";
    /// 409: the request was served before; its settlement is attached.
    pub const REPLAYED_REQUEST: &str = "replayed_request";
    /// 502: the upstream failed; the ticket is settled, the settlement attached.
    pub const UPSTREAM_FAILED: &str = "upstream_failed";
    /// 400: in fixed-class mode, a chat body that is not a JSON object; the ticket is settled
    /// with a full refund, the settlement attached.
    pub const MALFORMED_BODY: &str = "malformed_body";
    /// 400: the nullifier in the path is not a canonical decimal field element.
    pub const MALFORMED_NULLIFIER: &str = "malformed_nullifier";
    /// 404: this node took no ticket with this nullifier.
    pub const UNKNOWN_NULLIFIER: &str = "unknown_nullifier";
    /// 404: no such route.
    pub const NOT_FOUND: &str = "not_found";
    /// 405: the route exists with another method.
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
}
