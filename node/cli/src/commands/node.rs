//! `zkcredits node`: run a provider node until Ctrl-C or SIGTERM.

use eyre::WrapErr;
use std::{net::SocketAddr, path::PathBuf};
use zkcredits_node::NodeConfig;

/// Flags override the config file.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// TOML config (node.example.toml lists every key). Without it, the defaults.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Overrides `listen`.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Overrides `data_dir`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Overrides `chain.rpc_url`.
    #[arg(long)]
    rpc_url: Option<String>,
    /// Overrides `upstream.url`.
    #[arg(long)]
    upstream: Option<String>,
}

impl Args {
    fn config(self) -> eyre::Result<NodeConfig> {
        let mut config = match &self.config {
            Some(path) => NodeConfig::load(path)?,
            None => NodeConfig::default(),
        };
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(dir) = self.data_dir {
            config.data_dir = dir;
        }
        if let Some(url) = self.rpc_url {
            config.chain.rpc_url = url;
        }
        if let Some(url) = self.upstream {
            config.upstream.url = url;
        }
        config.validate()?;
        Ok(config)
    }

    pub(crate) fn run(self) -> eyre::Result<()> {
        serve(self.config()?, "node")
    }
}

/// Arguments of `zkcredits slasher`.
#[derive(Debug, clap::Args)]
pub(crate) struct SlasherArgs {
    /// Join the share network as a passive peer and slash what it reveals, until Ctrl-C.
    #[arg(long, required = true)]
    watch: bool,
    /// TOML config, as for `zkcredits node` (`signer.set` must list the escrow's signer keys;
    /// `signer.key_file` and `upstream` are not used).
    #[command(flatten)]
    node: Args,
}

impl SlasherArgs {
    pub(crate) fn run(self) -> eyre::Result<()> {
        let mut config = self.node.config()?;
        config.p2p.enabled = true;
        config.p2p.passive = true;
        config.validate()?;
        serve(config, "slasher")
    }
}

/// Runs a node (or a passive slasher) from `config` until Ctrl-C or SIGTERM.
fn serve(config: NodeConfig, what: &str) -> eyre::Result<()> {
    super::init_logging("info");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .wrap_err("cannot start the async runtime")?;
    runtime.block_on(async {
        let node = zkcredits_node::start(config).await?;
        // Scripts wait for this line to know the node is up.
        println!("zkcredits {what} listening on {}", node.url());
        shutdown_signal().await;
        tracing::info!("shutting down: finishing open requests");
        node.shutdown().await?;
        Ok(())
    })
}

pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async {
            match terminate.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = interrupt => {}
            () = terminated => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
