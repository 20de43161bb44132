//! The records a node stores.

use ark_bn254::Fr;
use zkcredits_primitives::{babyjubjub::Point, identity::Secret, rln::Share};

/// Where a stored share came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareOrigin {
    /// A request this node served.
    Request {
        /// The request's rerandomized state `A_anon`: what its settlement builds on, kept so a
        /// request interrupted by a crash can still be settled.
        commitment: Point,
    },
    /// A proven share received over gossip from the named peer.
    Gossip {
        /// The peer id, as libp2p prints it.
        peer: String,
    },
    /// The exit ticket's share of an `ExitRequested` event in block `block`.
    Exit {
        /// The block of the event.
        block: u64,
    },
}

/// A share with when and where the node got it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredShare {
    /// The share.
    pub share: Share,
    /// Unix seconds at which the node accepted it.
    pub received_at: u64,
    /// Its origin.
    pub origin: ShareOrigin,
}

/// What recording a share found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareOutcome {
    /// The first share of its nullifier.
    New,
    /// A share with the same nullifier and `x` was stored: the same request again.
    Replay(StoredShare),
    /// Shares with the same nullifier and other `x` were stored: a double spend. They are
    /// returned; the new share is stored too.
    Conflict(Vec<StoredShare>),
}

impl ShareOutcome {
    /// What recording `share` finds among the `stored` shares of its nullifier.
    pub(crate) fn classify(stored: Vec<StoredShare>, share: &StoredShare) -> Self {
        if let Some(same) = stored.iter().find(|s| s.share.x == share.share.x) {
            return Self::Replay(same.clone());
        }
        if stored.is_empty() { Self::New } else { Self::Conflict(stored) }
    }
}

/// A deposit waiting in the escrow's queue: its note, and its position, which is the index its
/// leaf takes when a batch inserts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedDeposit {
    /// The queue position.
    pub position: u64,
    /// The identity commitment `ID`.
    pub identity: Fr,
    /// The deposit `D`.
    pub amount: u128,
    /// The note's expiry `E` (unix seconds).
    pub expiry: u64,
}

/// A root the escrow reported, and whether the batch that produced it removed a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRoot {
    /// The root.
    pub root: Fr,
    /// Whether a leaf removal (a slash) went into it: older roots still contain that leaf.
    pub after_removal: bool,
}

/// One leaf write: an insertion at the next index or a removal (leaf zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafUpdate {
    /// The leaf index.
    pub index: u64,
    /// The new leaf value (zero removes).
    pub leaf: Fr,
}

/// The escrow changes of one block, applied together.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChainBlock {
    /// The block number.
    pub number: u64,
    /// The block hash, to detect reorgs.
    pub hash: [u8; 32],
    /// Deposits queued, in log order.
    pub queued: Vec<QueuedDeposit>,
    /// Leaf insertions and removals, in log order.
    pub leaves: Vec<LeafUpdate>,
    /// The roots the escrow reported after each batch, in log order.
    pub roots: Vec<BlockRoot>,
    /// The shares of the block's exits. They go with the block: a reorg that removes an exit
    /// removes its share, which would otherwise make its owner's honest use of that ticket look
    /// like a double spend.
    pub shares: Vec<StoredShare>,
    /// Slashes the block's exit shares reveal (an exit reusing a spent ticket), written in the
    /// block's batch so that no crash or failure after it can lose them. A reorg keeps them: the
    /// two shares that revealed the secret were both made with it. A slash of an identity that
    /// already has one is not written again.
    pub slashes: Vec<PendingSlash>,
}

/// The last block applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainCursor {
    /// Its number.
    pub number: u64,
    /// Its hash.
    pub hash: [u8; 32],
}

/// A tree root and the block it appeared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootRecord {
    /// The block.
    pub block: u64,
    /// The root.
    pub root: Fr,
    /// Whether a leaf removal (a slash) produced it: older roots still contain that leaf.
    pub after_removal: bool,
}

/// Where a slash the node owes stands. Only the escrow's state at the follower's confirmation
/// depth moves a slash to [`SlashStatus::Landed`] or [`SlashStatus::Done`]: never one receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlashStatus {
    /// Not sent yet (or sent and known not to have landed).
    Pending,
    /// Sent in this transaction, written before waiting for it; not seen landed yet. A
    /// transaction stuck too long is replaced with the same nonce and higher fees.
    Submitted {
        /// The newest transaction sent for it.
        tx_hash: [u8; 32],
        /// Its nonce: every replacement reuses it.
        nonce: u64,
        /// Its `maxFeePerGas`.
        max_fee_per_gas: u128,
        /// Its `maxPriorityFeePerGas`.
        max_priority_fee_per_gas: u128,
        /// Unix seconds at which it was sent.
        sent_at: u64,
    },
    /// The slash landed (the leaf is condemned); the leaf awaits its removal.
    Landed {
        /// The node's transaction, when the slash that landed is the node's own.
        tx_hash: Option<[u8; 32]>,
    },
    /// The slash landed and its leaf was removed.
    Done {
        /// The node's transaction, when the slash that landed is the node's own.
        tx_hash: Option<[u8; 32]>,
    },
    /// Given up: the deposit can never be slashed (for instance, it was swept).
    Failed {
        /// Why.
        reason: String,
    },
}

impl SlashStatus {
    /// Whether the node still has work to do on the slash.
    pub const fn is_open(&self) -> bool {
        matches!(self, Self::Pending | Self::Submitted { .. } | Self::Landed { .. })
    }
}

/// A slash of `identity`, with the secret recovered from two shares of one ticket. The secret
/// is the cheater's; it is stored so a crash cannot lose the slash, and never logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSlash {
    /// `Poseidon(k)`.
    pub identity: Fr,
    /// The recovered `k`.
    pub secret: Secret,
    /// The nullifier whose two shares revealed it.
    pub nullifier: Fr,
    /// Unix seconds of the detection.
    pub detected_at: u64,
    /// Where the slash stands.
    pub status: SlashStatus,
}
