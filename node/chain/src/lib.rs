//! Typed access to the zkcredits escrow contract.
//!
//! ## Bird's eye view
//!
//! - [`bindings`]: alloy `sol!` bindings generated from `abi/CreditEscrow.json`, the ABI that
//!   forge exports (`make abi` rewrites it; `make test` fails when it drifts).
//! - [`Escrow`]: the escrow's calls as typed methods; every transaction goes through one
//!   submitter that estimates first (so a revert comes back as a typed [`EscrowRevert`] before
//!   anything is sent), waits for the configured confirmations and checks the receipt.
//! - [`events`]: reads and decodes the escrow's events in block order.
//! - [`follower`]: replays and follows the escrow into the node's storage behind a confirmation
//!   depth, undoing reorged blocks and recording exit shares.
//! - [`Deployment`]: the `deployments/<chainId>.json` file `script/Deploy.s.sol` writes.
//! - [`proof`]: Groth16 proofs and field elements in the contract's encoding.
//! - [`devnet`]: anvil with the escrow deployed by the deploy script, for tests and demos.
//!
//! This crate knows the contract's interface and, through `zkcredits-storage`'s traits, where
//! chain state goes; nothing of circuits or networking.

pub mod bindings;
mod deployment;
pub mod devnet;
mod error;
mod escrow;
pub mod events;
pub mod follower;
pub mod proof;

pub use deployment::Deployment;
pub use error::{ChainError, EscrowRevert};
pub use escrow::{Escrow, ExitRequest, Fees, Sent, SlashEffect, SubmitOptions, Submitted};
