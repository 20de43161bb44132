//! A local devnet: anvil with the escrow deployed by `script/Deploy.s.sol`, for tests, the
//! demo and local development. The tools come from the checkout's `node_modules/.bin`
//! (`make setup` installs them).

use crate::{ChainError, Deployment, Escrow};
use alloy::{
    network::EthereumWallet,
    node_bindings::{Anvil, AnvilInstance},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// A running anvil with a deployed escrow; anvil stops when this is dropped.
#[derive(Debug)]
pub struct Devnet {
    /// The anvil process.
    pub anvil: AnvilInstance,
    /// What the deploy script wrote.
    pub deployment: Deployment,
    /// Where it wrote it.
    pub deployment_file: PathBuf,
    /// A provider with dev account 0's wallet.
    pub provider: DynProvider,
    /// The escrow through that provider.
    pub escrow: Escrow<DynProvider>,
}

fn devnet_error(reason: String) -> ChainError {
    ChainError::Deployment { path: "devnet".into(), reason }
}

impl Devnet {
    /// Starts anvil from `workspace`'s tools and deploys with dev account 0; `env` sets deploy
    /// parameters (`ZKCREDITS_SIGNER_ROOT`, `ZKCREDITS_C_MAX`, … as in `deployments/README.md`).
    pub fn start(workspace: &Path, env: &[(&str, String)]) -> Result<Self, ChainError> {
        Self::start_on(workspace, env, None)
    }

    /// [`Devnet::start`] with anvil on `port` (`None`: a free one).
    pub fn start_on(
        workspace: &Path,
        env: &[(&str, String)],
        port: Option<u16>,
    ) -> Result<Self, ChainError> {
        let bin = workspace.join("node_modules/.bin");
        let mut anvil = Anvil::new().path(bin.join("anvil"));
        if let Some(port) = port {
            anvil = anvil.port(port);
        }
        let anvil = anvil
            .try_spawn()
            .map_err(|e| devnet_error(format!("anvil does not start ({e}): run `make setup`")))?;
        let dir = workspace.join("build/deployments");
        std::fs::create_dir_all(&dir).map_err(|e| devnet_error(e.to_string()))?;
        let deployment_file = dir.join(format!("devnet-{}.json", anvil.port()));
        let key = format!("0x{}", alloy::hex::encode(anvil.keys()[0].to_bytes()));
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let output = Command::new("forge")
            .current_dir(workspace)
            .env("PATH", path)
            .env("ZKCREDITS_DEPLOYMENT_FILE", &deployment_file)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            // `--slow`: one transaction at a time, each confirmed before the next. Sent as a batch,
            // a busy machine let anvil queue a later nonce while dropping an earlier one, and the
            // script waited forever.
            .args(["script", "script/Deploy.s.sol", "--broadcast", "--slow", "--rpc-url"])
            .arg(anvil.endpoint())
            .args(["--private-key", &key])
            .output()
            .map_err(|e| devnet_error(format!("forge does not run ({e}): run `make setup`")))?;
        if !output.status.success() {
            return Err(devnet_error(format!(
                "deploy failed:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        let deployment = Deployment::load(&deployment_file)?;
        let provider = Self::wallet_provider(&anvil, 0);
        let escrow = Escrow::new(deployment.escrow, provider.clone());
        Ok(Self { anvil, deployment, deployment_file, provider, escrow })
    }

    fn wallet_provider(anvil: &AnvilInstance, account: usize) -> DynProvider {
        let signer: PrivateKeySigner = anvil.keys()[account].clone().into();
        ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer))
            .connect_http(anvil.endpoint_url())
            .erased()
    }

    /// The escrow through a new provider with dev account `account`'s wallet; its nonce cache
    /// starts from the chain (needed after `evm_revert` rewound the account's nonce).
    pub fn escrow_as(&self, account: usize) -> Escrow<DynProvider> {
        Escrow::new(self.deployment.escrow, Self::wallet_provider(&self.anvil, account))
    }

    /// Dev account `account`'s private key, hex.
    pub fn private_key_hex(&self, account: usize) -> String {
        format!("0x{}", alloy::hex::encode(self.anvil.keys()[account].to_bytes()))
    }

    /// Turns mining on every transaction on or off (off: transactions wait in the pool until
    /// [`Devnet::mine`], as on a congested chain).
    pub async fn set_automine(&self, on: bool) -> Result<(), ChainError> {
        self.provider.raw_request::<_, ()>("evm_setAutomine".into(), (on,)).await?;
        Ok(())
    }

    /// Mines one block.
    pub async fn mine(&self) -> Result<(), ChainError> {
        self.provider.raw_request::<_, String>("evm_mine".into(), ()).await?;
        Ok(())
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.deployment_file);
    }
}
