//! `zkcredits devnet`: a whole deployment on this machine, on loopback. It starts anvil,
//! deploys the escrow with the forge script, starts three nodes (provider A with two nodes that
//! answer each other's settlement questions, provider B with one; all three on one share
//! network) in front of a deterministic OpenAI-compatible upstream (or `--upstream URL`), writes
//! `devnet.json` describing every endpoint, and stops what it started on Ctrl-C, SIGTERM, or
//! when the process that started it goes away.

use eyre::{WrapErr, eyre};
use serde_json::json;
use std::{path::PathBuf, time::Duration};
use zkcredits_chain::devnet::Devnet;
use zkcredits_node::{
    NodeConfig, RunningNode,
    config::{CircuitsConfig, PrivacyConfig, ProxyRoute},
    keys::{public_key_to_string, write_secret_file, write_signer_key},
    test_upstream::TestUpstream,
};
use zkcredits_primitives::{
    constants::SIGNER_TREE_DEPTH, eddsa::PrivateKey, field::fr_to_dec, merkle::FixedMerkleTree,
};

/// The funded dev account handed to the user (anvil's account 9).
const USER_ACCOUNT: usize = 9;
/// Where spent credits, slashed remainders and swept notes go: a fresh address, so its balance
/// shows exactly what the escrow paid it.
const TREASURY: &str = "0x7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e";

/// Arguments of `zkcredits devnet`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where the devnet writes its keys, node data and `devnet.json` (emptied first).
    #[arg(long, default_value = "build/devnet")]
    dir: PathBuf,
    /// The first node's HTTP port; the others take the next two (0: any free ports).
    #[arg(long, default_value_t = 7787)]
    port: u16,
    /// anvil's port (0: any free port).
    #[arg(long, default_value_t = 8545)]
    rpc_port: u16,
    /// A real OpenAI-compatible upstream (llama.cpp server, vLLM, Ollama) instead of the
    /// bundled deterministic one.
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// The checkout (its `node_modules/.bin` tools, `script/Deploy.s.sol`, `build/` keys).
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Run every node with the answer mitigations of spec/10: answers held to latency classes
    /// of 200 ms plus up to 50 ms of jitter, padded to size classes of 1 KiB.
    #[arg(long)]
    privacy: bool,
}

/// One node of the devnet.
struct NodePlan {
    name: &'static str,
    provider: &'static str,
    /// Its anvil account: the wallet that slashes and receives its bounties.
    account: usize,
}

const NODES: [NodePlan; 3] = [
    NodePlan { name: "a1", provider: "1", account: 1 },
    NodePlan { name: "a2", provider: "1", account: 2 },
    NodePlan { name: "b1", provider: "2", account: 3 },
];

/// The devnet's deterministic, public, INSECURE signer key of node `i`.
fn signer_key(i: usize) -> PrivateKey {
    use sha2::{Digest, Sha256};
    PrivateKey::from_bytes(Sha256::digest(format!("zkcredits-devnet-signer-{i}")).into())
}

impl Args {
    pub(crate) fn run(self) -> eyre::Result<()> {
        super::init_logging("warn,libp2p_kad=error,zkcredits_node=info,zkcredits_chain=info");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .wrap_err("cannot start the async runtime")?;
        runtime.block_on(self.serve())
    }

    async fn serve(self) -> eyre::Result<()> {
        let root = std::fs::canonicalize(&self.root)
            .wrap_err_with(|| format!("--root {}", self.root.display()))?;
        let dir = root.join(&self.dir);
        if dir.exists() {
            // Only an earlier devnet's directory (or an empty one) is emptied.
            let empty = std::fs::read_dir(&dir)?.next().is_none();
            if !empty && !dir.join("devnet.json").exists() && !dir.join("a1").exists() {
                return Err(eyre!(
                    "--dir {} holds files that are not a devnet's; choose another directory",
                    dir.display()
                ));
            }
            std::fs::remove_dir_all(&dir)
                .wrap_err_with(|| format!("cannot empty {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)?;
        for file in [
            "build/keys/slash.pk.bin",
            "build/keys/batch_insert.pk.bin",
            "build/circuits/main/request.r1cs",
        ] {
            if !root.join(file).exists() {
                return Err(eyre!(
                    "{file} is missing: run `make keys` first (it compiles the circuits and makes the dev keys)"
                ));
            }
        }

        let keys: Vec<PrivateKey> = (0..NODES.len()).map(signer_key).collect();
        let leaves: Vec<_> = keys.iter().map(|k| k.public_key().signer_leaf()).collect();
        let signer_root = FixedMerkleTree::new(SIGNER_TREE_DEPTH, &leaves)
            .map_err(|e| eyre!("signer set: {e}"))?
            .root();
        let deploy_root = root.clone();
        let rpc_port = (self.rpc_port != 0).then_some(self.rpc_port);
        let net = tokio::task::spawn_blocking(move || {
            Devnet::start_on(
                &deploy_root,
                &[
                    ("ZKCREDITS_SIGNER_ROOT", fr_to_dec(&signer_root)),
                    ("ZKCREDITS_TREASURY", TREASURY.to_owned()),
                ],
                rpc_port,
            )
        })
        .await??;

        let bundled = match &self.upstream {
            Some(_) => None,
            None => Some(TestUpstream::start().await?),
        };
        let upstream_url = self
            .upstream
            .clone()
            .or_else(|| bundled.as_ref().map(TestUpstream::url))
            .unwrap_or_default();

        // libp2p keys first, so provider A's nodes can name each other.
        let mut configs: Vec<NodeConfig> = Vec::new();
        for (i, plan) in NODES.iter().enumerate() {
            let node_dir = dir.join(plan.name);
            std::fs::create_dir_all(&node_dir)?;
            let signer_file = node_dir.join("signer.json");
            write_signer_key(&signer_file, &keys[i])?;
            let wallet_file = node_dir.join("wallet.hex");
            write_secret_file(&wallet_file, net.private_key_hex(plan.account).as_bytes())?;
            let port = if self.port == 0 { 0 } else { self.port + i as u16 };
            let mut config = NodeConfig {
                listen: ([127, 0, 0, 1], port).into(),
                data_dir: node_dir.join("data"),
                provider_id: plan.provider.into(),
                ..NodeConfig::default()
            };
            config.chain.rpc_url = net.anvil.endpoint();
            config.chain.deployment = net.deployment_file.clone();
            // anvil mines a block per transaction: nothing to wait for.
            config.chain.confirmations = 0;
            config.chain.poll_interval_ms = 250;
            config.chain.wallet_key_file = wallet_file;
            config.chain.payout_address = net.anvil.addresses()[plan.account].to_string();
            config.signer.key_file = signer_file;
            config.signer.set =
                keys.iter().map(|k| public_key_to_string(&k.public_key())).collect();
            config.circuits = CircuitsConfig::in_checkout(&root, &root.join("build"));
            config.upstream.url = upstream_url.clone();
            config.pricing.proxy = vec![
                ProxyRoute {
                    method: "GET".into(),
                    path: "/v1/models".into(),
                    price: 0,
                    metered: false,
                    free: true,
                },
                ProxyRoute {
                    method: "POST".into(),
                    path: "/v1/embeddings".into(),
                    price: 0,
                    metered: true,
                    free: false,
                },
            ];
            config.p2p.enabled = true;
            config.p2p.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
            config.p2p.key_file = node_dir.join("p2p.key");
            // A detected double spend is slashed within seconds, not the default 15 s.
            config.p2p.slash_holdoff_secs = 2;
            // The first node inserts every deposit within a second or two of it (one updater is
            // enough: any account's batch serves every node).
            if i == 0 {
                config.batcher.enabled = true;
                config.batcher.min_batch = 1;
                config.batcher.max_delay_secs = 0;
            }
            if self.privacy {
                config.privacy = PrivacyConfig {
                    min_latency_ms: 200,
                    latency_classes: true,
                    jitter_ms: 50,
                    pad_bytes: 1_024,
                };
            }
            configs.push(config);
        }
        let peer_ids: Vec<String> = configs
            .iter()
            .map(|c| zkcredits_node::p2p_keypair(c).map(|k| k.public().to_peer_id().to_base58()))
            .collect::<Result<_, _>>()?;
        for (i, plan) in NODES.iter().enumerate() {
            configs[i].p2p.provider_peers = NODES
                .iter()
                .enumerate()
                .filter(|(j, other)| *j != i && other.provider == plan.provider)
                .map(|(j, _)| peer_ids[j].clone())
                .collect();
        }

        let mut nodes: Vec<RunningNode> = Vec::new();
        let mut first_address = None;
        for (i, mut config) in configs.into_iter().enumerate() {
            if let Some(address) = &first_address {
                config.p2p.bootstrap = vec![format!("{address}")];
            }
            let node_file = dir.join(NODES[i].name).join("node.toml");
            std::fs::write(&node_file, toml::to_string(&config)?)?;
            let node = zkcredits_node::start(config)
                .await
                .wrap_err_with(|| format!("node {} does not start", NODES[i].name))?;
            if first_address.is_none() {
                first_address = Some(p2p_address(&node).await?);
            }
            nodes.push(node);
        }

        let account_file = dir.join("account.hex");
        write_secret_file(&account_file, net.private_key_hex(USER_ACCOUNT).as_bytes())?;
        let user = net.anvil.addresses()[USER_ACCOUNT];
        let description = json!({
            "rpcUrl": net.anvil.endpoint(),
            "chainId": net.deployment.chain_id,
            "escrow": net.deployment.escrow.to_string(),
            "deployment": net.deployment_file,
            "treasury": TREASURY,
            "upstream": upstream_url,
            "account": {"address": user.to_string(), "keyFile": account_file},
            "nodes": NODES.iter().zip(&nodes).zip(&peer_ids).map(|((plan, node), peer)| json!({
                "name": plan.name,
                "provider": plan.provider,
                "url": node.url(),
                "peerId": peer,
                "slasher": net.anvil.addresses()[plan.account].to_string(),
            })).collect::<Vec<_>>(),
        });
        std::fs::write(dir.join("devnet.json"), serde_json::to_vec_pretty(&description)?)?;

        println!("zkcredits devnet");
        println!("  chain     {} (chain id {})", net.anvil.endpoint(), net.deployment.chain_id);
        println!("  escrow    {} ({})", net.deployment.escrow, net.deployment_file.display());
        println!("  upstream  {upstream_url}");
        for (plan, node) in NODES.iter().zip(&nodes) {
            println!("  node {}   {} (provider {})", plan.name, node.url(), plan.provider);
        }
        println!("  account   {user}, key in {} (funded)", account_file.display());
        println!("  described in {}", dir.join("devnet.json").display());
        // Scripts wait for this line.
        println!("devnet ready; Ctrl-C stops it");

        tokio::select! {
            () = super::node::shutdown_signal() => {}
            () = parent_gone() => {}
        }
        for node in nodes {
            let _ = node.shutdown().await;
        }
        drop(bundled);
        // Dropping the devnet stops anvil and removes its deployment file.
        drop(net);
        Ok(())
    }
}

/// The first node's share-network address with its peer id.
async fn p2p_address(node: &RunningNode) -> eyre::Result<String> {
    let client = node.p2p().ok_or_else(|| eyre!("the node is not on the share network"))?;
    for _ in 0..200 {
        if let Some(address) = client.listen_addresses().await?.first() {
            return Ok(format!("{address}/p2p/{}", client.local_peer_id()));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err(eyre!("the first node never listened on the share network"))
}

/// Resolves when the process that started the devnet exits (it is re-parented).
async fn parent_gone() {
    #[cfg(unix)]
    {
        let parent = std::os::unix::process::parent_id();
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if std::os::unix::process::parent_id() != parent {
                return;
            }
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await;
}
