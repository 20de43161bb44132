//! Protocol constants and domain tags. Spec: `spec/01-notation-and-constants.md`.

use crate::field::ascii_tag;

/// Depth of the identity-tree path every request proof takes (LeanIMT padded to this depth).
pub const TREE_DEPTH: usize = 20;
/// Depth of the fixed signer-set tree (16 signer slots).
pub const SIGNER_TREE_DEPTH: usize = 4;
/// Bits kept of `Poseidon(k, TAG_STATE)` for the owner tag `t` (below the subgroup order).
pub const OWNER_TAG_BITS: u32 = 248;
/// Bit bound on deposits and refund totals (`D, R < 2^128`).
pub const AMOUNT_BITS: u32 = 128;
/// Bit bound on ticket indices (`n < 2^32`).
pub const INDEX_BITS: u32 = 32;
/// Bit bound on the per-request maximum charge (`C_MAX < 2^64`).
pub const CHARGE_BITS: u32 = 64;
/// Bit bound on a deposit as the escrow records it (`D < 2^96`; the circuits allow `2^128`).
pub const DEPOSIT_BITS: u32 = 96;
/// Bit bound on a note's expiry as the escrow records it (`E < 2^40`).
pub const EXPIRY_BITS: u32 = 40;
/// The most queued deposits one `batch_insert` proof appends to the identity tree.
pub const BATCH_INSERT_SIZE: usize = 64;
/// Default rounding of the public request time, in seconds.
pub const DEFAULT_TIME_BUCKET: u64 = 3600;

/// Tag of the owner tag: `t = Poseidon(k, TAG_STATE)`.
pub const TAG_STATE: u128 = ascii_tag("zkcredits.state");
/// Tag of the exit share's `x`: `x_w = Poseidon(TAG_EXIT, recipient, amount)`.
pub const TAG_EXIT: u128 = ascii_tag("zkcredits.exit");

/// Tag of a ticket's nullifier: `nullifier = Poseidon(a, TAG_TICKET)`, so a nullifier is never
/// the identity commitment `Poseidon(k')` of the slope `k' = a`.
pub const TAG_TICKET: u128 = ascii_tag("zkcredits.ticket");

/// Tag of a node's peer binding: its signer key signs `Poseidon(TAG_PEER, scope, peerHi,
/// peerLo)` (spec/06), four inputs, so the signature can never pass as a state signature.
pub const TAG_PEER: u128 = ascii_tag("zkcredits.peer");

/// Every domain tag with its name, for the spec and the vectors.
pub const TAGS: [(&str, u128); 4] = [
    ("TAG_STATE", TAG_STATE),
    ("TAG_EXIT", TAG_EXIT),
    ("TAG_TICKET", TAG_TICKET),
    ("TAG_PEER", TAG_PEER),
];
