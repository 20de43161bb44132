//! The zkcredits client: what a user runs to pay for API calls without being linkable.
//!
//! ## Bird's eye view
//!
//! - [`wallet`]: the notes (secret, deposit, latest signed state, the ticket in flight, the
//!   exit) in one JSON file, written atomically with owner-only permissions; the ticket in
//!   flight is journaled before its request leaves.
//! - [`ChainView`]: the client's own replay of the escrow's events (the node's chain follower
//!   into a local RocksDB), so tree paths never come from a provider; it also checks a
//!   provider's payment terms against the escrow.
//! - [`PaymentTerms`]: a provider's payment description (`GET /v1/info`, the 402 answer).
//! - [`Client`]: deposits, paid requests (prove, journal, send, check and store the
//!   settlement), recovery of a lost settlement, exits and their finalization.
//! - [`PrivacyOptions`]: the client's metadata mitigations (spec/10): a random delay before
//!   each call, no connection reused, a SOCKS5 proxy with a circuit for each note.
//!
//! The client never serves HTTP itself: the CLI and the proxy build on it. spec/09 describes
//! the wallet format, the recovery rules and every check.

mod chain;
mod client;
mod error;
mod privacy;
mod terms;
pub mod wallet;

pub use chain::{ChainView, EscrowParameters};
pub use client::{
    ApiRequest, Artifacts, CallTimings, Client, MAX_DEPOSIT_BATCH, PaidResponse, Relay, StreamHead,
    chain_dir,
};
pub use error::ClientError;
pub use privacy::PrivacyOptions;
pub use terms::PaymentTerms;
