//! Errors of the share network.

/// Why a network operation failed.
#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    /// The swarm could not be built (transport, behaviour or configuration).
    #[error("cannot start the p2p network: {0}")]
    Start(String),
    /// The listen address could not be bound or parsed.
    #[error(
        "cannot listen on {address}: {reason} (use a multiaddr such as /ip4/127.0.0.1/tcp/7788)"
    )]
    Listen {
        /// The address.
        address: String,
        /// Why.
        reason: String,
    },
    /// A peer address could not be dialled.
    #[error("cannot dial {address}: {reason}")]
    Dial {
        /// The address.
        address: String,
        /// Why.
        reason: String,
    },
    /// A message is larger than the network accepts.
    #[error("the message has {size} bytes, the network carries at most {max}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Publishing failed (no peer subscribed yet, or the message was refused).
    #[error("cannot publish: {0}")]
    Publish(String),
    /// A question for a peer that is not one of this provider's nodes.
    #[error("peer {peer} is not one of this provider's nodes (add it to p2p.provider_peers)")]
    NotProviderPeer {
        /// The peer.
        peer: String,
    },
    /// A question went unanswered.
    #[error("peer {peer} did not answer: {reason}")]
    Unanswered {
        /// The peer.
        peer: String,
        /// Why (no connection, timeout, refused).
        reason: String,
    },
    /// Too many questions are waiting for answers.
    #[error("{0} questions are waiting for answers already")]
    Busy(usize),
    /// The network task is gone (shut down or failed).
    #[error("the p2p network task has stopped")]
    Stopped,
}
