//! Errors of starting and running a node. Request rejections are not errors: they are
//! [`crate::Rejection`]s, answered to the client.

use std::path::PathBuf;

/// Why a node could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration file could not be read.
    #[error("cannot read the config file {path}: {source}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configuration is not valid TOML or names unknown keys.
    #[error("invalid config file {path}: {reason}")]
    ConfigParse {
        /// The file.
        path: PathBuf,
        /// What the parser reported.
        reason: String,
    },
    /// A configuration value is out of range or inconsistent.
    #[error("invalid config value `{key}`: {reason}")]
    ConfigValue {
        /// The key, dotted (`limits.root_window`).
        key: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A key file could not be read or is malformed.
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The deployment on chain disagrees with the configuration.
    #[error("deployment mismatch: {0}")]
    Deployment(String),
    /// A circuit artifact could not be loaded.
    #[error(transparent)]
    Prover(#[from] zkcredits_prover::ProverError),
    /// The chain could not be reached or answered unexpectedly.
    #[error(transparent)]
    Chain(#[from] zkcredits_chain::ChainError),
    /// The data directory could not be opened.
    #[error(transparent)]
    Storage(#[from] zkcredits_storage::StorageError),
    /// The listen address could not be bound, or serving failed.
    #[error("HTTP server: {0}")]
    Server(std::io::Error),
    /// Shutdown gave up waiting for requests and stream relays.
    #[error(
        "shutdown waited {secs} s (limits.shutdown_grace_secs) and left {open} request or stream tasks unfinished; their tickets are settled on recovery"
    )]
    ShutdownTimedOut {
        /// The grace period.
        secs: u64,
        /// Tasks still running.
        open: usize,
    },
}
