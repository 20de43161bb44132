//! zkcredits end to end: the whole system on a devnet, driven as its users drive it.
//!
//! ## Bird's eye view
//!
//! - [`Devnet`]: `zkcredits devnet` started as a child process (anvil, the escrow, three nodes
//!   of two providers, the upstream), read back from its `devnet.json`, stopped on drop.
//! - [`run_demo`]: the narrated scenario `make demo` runs and the tests assert: deposits, paid
//!   requests with refunds (plain and streamed), a ticket spent at two providers' nodes and
//!   slashed on chain with the bounty paid, another user's exit and its payout. It returns the
//!   evidence bundle (transactions, proofs, settlements, shares, balances).
//! - [`zkcredits_bin`]: the `zkcredits` binary of this build.

use alloy::{
    primitives::{Address, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
};
use eyre::{WrapErr, bail, eyre};
use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};
use zkcredits_chain::{bindings::CreditEscrow::CreditEscrowEvents, events::read_events};
use zkcredits_client::{
    ApiRequest, Artifacts, Client, ClientError, PaidResponse,
    wallet::{ChainSettings, Wallet},
};
use zkcredits_primitives::field::fr_to_dec;

/// The checkout.
pub fn workspace() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::canonicalize(&root).unwrap_or(root)
}

/// The `zkcredits` binary: `$ZKCREDITS_BIN`, else the one built beside this executable
/// (`cargo build -p zkcredits-cli` puts it there; `cargo test --workspace` builds it).
pub fn zkcredits_bin() -> eyre::Result<PathBuf> {
    if let Some(path) = std::env::var_os("ZKCREDITS_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let candidates = exe.ancestors().skip(1).take(2).map(|dir| dir.join("zkcredits"));
    for candidate in candidates {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("no zkcredits binary beside {}: run `cargo build -p zkcredits-cli`", exe.display())
}

/// A node of the devnet.
#[derive(Debug, Clone)]
pub struct DevnetNode {
    /// `a1`, `a2` or `b1`.
    pub name: String,
    /// Its provider id.
    pub provider: String,
    /// Its HTTP API.
    pub url: String,
    /// The account it slashes from (bounties go there).
    pub slasher: Address,
}

/// What `devnet.json` describes.
#[derive(Debug, Clone)]
pub struct DevnetInfo {
    /// The anvil endpoint.
    pub rpc_url: String,
    /// The deployment file.
    pub deployment: PathBuf,
    /// The escrow.
    pub escrow: Address,
    /// The treasury.
    pub treasury: Address,
    /// The funded account handed to users.
    pub account: Address,
    /// Its key file.
    pub account_key_file: PathBuf,
    /// The nodes: a1 and a2 of provider 1, b1 of provider 2.
    pub nodes: Vec<DevnetNode>,
}

fn text(value: &Value, name: &str) -> eyre::Result<String> {
    value[name].as_str().map(str::to_owned).ok_or_else(|| eyre!("devnet.json: no `{name}`"))
}

impl DevnetInfo {
    /// Reads `devnet.json`.
    pub fn read(path: &Path) -> eyre::Result<Self> {
        let json: Value = serde_json::from_slice(&std::fs::read(path)?)?;
        let nodes = json["nodes"]
            .as_array()
            .ok_or_else(|| eyre!("devnet.json: no nodes"))?
            .iter()
            .map(|n| {
                Ok(DevnetNode {
                    name: text(n, "name")?,
                    provider: text(n, "provider")?,
                    url: text(n, "url")?,
                    slasher: text(n, "slasher")?.parse()?,
                })
            })
            .collect::<eyre::Result<_>>()?;
        Ok(Self {
            rpc_url: text(&json, "rpcUrl")?,
            deployment: text(&json, "deployment")?.into(),
            escrow: text(&json, "escrow")?.parse()?,
            treasury: text(&json, "treasury")?.parse()?,
            account: text(&json["account"], "address")?.parse()?,
            account_key_file: text(&json["account"], "keyFile")?.into(),
            nodes,
        })
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> eyre::Result<&DevnetNode> {
        self.nodes.iter().find(|n| n.name == name).ok_or_else(|| eyre!("no node {name}"))
    }

    /// A read-only connection to anvil.
    pub fn provider(&self) -> eyre::Result<DynProvider> {
        Ok(ProviderBuilder::new().connect_http(self.rpc_url.parse()?).erased())
    }
}

/// `zkcredits devnet` running as a child process; stopped when dropped.
#[derive(Debug)]
pub struct Devnet {
    child: Child,
    /// What it runs.
    pub info: DevnetInfo,
    /// Its directory.
    pub dir: PathBuf,
}

impl Devnet {
    /// Starts a devnet writing into `dir` on free ports (its log beside it, `dir.log`), and
    /// waits until it is ready.
    pub fn start(dir: &Path) -> eyre::Result<Self> {
        Self::start_with(dir, &[])
    }

    /// [`Devnet::start`] with more `zkcredits devnet` arguments.
    pub fn start_with(dir: &Path, args: &[&str]) -> eyre::Result<Self> {
        let log = std::fs::File::create(dir.with_extension("log"))?;
        let mut child = Command::new(zkcredits_bin()?)
            .current_dir(workspace())
            .args(["devnet", "--port", "0", "--rpc-port", "0", "--dir"])
            .arg(dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .wrap_err("cannot start `zkcredits devnet`")?;
        let stdout = child.stdout.take().ok_or_else(|| eyre!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.starts_with("devnet ready") => break,
                Some(Ok(_)) => {}
                _ => {
                    let _ = child.kill();
                    let status = child.wait()?;
                    bail!(
                        "`zkcredits devnet` stopped before it was ready ({status}); its log: {}",
                        dir.with_extension("log").display()
                    );
                }
            }
        }
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let info = DevnetInfo::read(&dir.join("devnet.json"))?;
        Ok(Self { child, info, dir: dir.to_owned() })
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The deposit status the escrow reports for a slashed identity.
const STATUS_SLASHED: u8 = 4;

/// A user of the demo: a wallet and its client.
struct User {
    name: &'static str,
    client: Client,
    wallet: PathBuf,
}

fn open_user(name: &'static str, devnet: &DevnetInfo, work: &Path) -> eyre::Result<User> {
    let wallet = work.join(format!("{name}.json"));
    let deployment = zkcredits_chain::Deployment::load(&devnet.deployment)?;
    Wallet::create(&wallet, ChainSettings::of_deployment(devnet.rpc_url.clone(), &deployment, 0))?;
    let client = Client::open(&wallet, Artifacts::in_checkout(&workspace()))?;
    Ok(User { name, client, wallet })
}

fn chat(content: &str, stream: bool) -> ApiRequest {
    let body = json!({
        "model": "zkcredits-echo",
        "stream": stream,
        "stream_options": if stream { json!({"include_usage": true}) } else { Value::Null },
        "messages": [{"role": "user", "content": content}],
    });
    ApiRequest::post_json("/v1/chat/completions", body.to_string().into_bytes())
}

fn paid_evidence(who: &str, node: &str, paid: &PaidResponse) -> Value {
    let s = &paid.payment.statement;
    json!({
        "user": who,
        "node": node,
        "status": paid.status,
        "payment": {
            "header": paid.payment.encode(),
            "publicSignals": s.public_signals().iter().map(fr_to_dec).collect::<Vec<_>>(),
        },
        "settlement": paid.settlement.to_json(),
    })
}

fn share_evidence(paid_header: &str, node: &str, outcome: &str) -> eyre::Result<Value> {
    let envelope =
        zkcredits_wire::envelope::PaymentEnvelope::decode(paid_header.as_bytes(), usize::MAX)?;
    let s = envelope.statement;
    Ok(json!({
        "node": node,
        "outcome": outcome,
        "nullifier": fr_to_dec(&s.nullifier),
        "x": fr_to_dec(&s.x),
        "y": fr_to_dec(&s.y),
    }))
}

/// The balances the demo tracks, in wei.
async fn balances(
    provider: &DynProvider,
    devnet: &DevnetInfo,
) -> eyre::Result<Vec<(String, Address, U256)>> {
    let mut accounts = vec![
        ("user (deposits, exits)".to_owned(), devnet.account),
        ("treasury".to_owned(), devnet.treasury),
        ("escrow".to_owned(), devnet.escrow),
    ];
    for node in &devnet.nodes {
        accounts.push((format!("slasher of node {}", node.name), node.slasher));
    }
    let mut out = Vec::new();
    for (name, address) in accounts {
        out.push((name, address, provider.get_balance(address).await?));
    }
    Ok(out)
}

fn eth(wei: U256) -> String {
    let text = alloy::primitives::utils::format_ether(wei);
    format!("{text:>24}")
}

/// Runs the demo scenario on `devnet`, keeping wallets in `work`, narrating through `say`.
/// Every step's failure is an error; the evidence bundle comes back on success.
pub async fn run_demo(
    devnet: &DevnetInfo,
    work: &Path,
    say: &mut dyn FnMut(&str),
) -> eyre::Result<Value> {
    let provider = devnet.provider()?;
    let payer = || -> eyre::Result<_> {
        let key = std::fs::read_to_string(&devnet.account_key_file)?;
        key.trim()
            .parse::<alloy::signers::local::PrivateKeySigner>()
            .map_err(|e| eyre!("{}: {e}", devnet.account_key_file.display()))
    };
    let (a1, b1) = (devnet.node("a1")?, devnet.node("b1")?);
    let before = balances(&provider, devnet).await?;
    let mut evidence = json!({"transactions": [], "requests": [], "shares": []});
    let mut record = |section: &str, value: Value| {
        if let Some(list) = evidence[section].as_array_mut() {
            list.push(value);
        }
    };

    say("1. Alice and Bob each make a wallet and deposit one note into the escrow.");
    let alice = open_user("alice", devnet, work)?;
    let bob = open_user("bob", devnet, work)?;
    let c_max = u128::from(alice.client.chain().parameters().await?.c_max);
    for user in [&alice, &bob] {
        user.client.deposit(payer()?, 10 * c_max, 1).await?;
        let note = &user.client.notes().await[0];
        let deposit = note.deposit.as_ref().ok_or_else(|| eyre!("no deposit"))?;
        say(&format!(
            "   {} deposited {} wei (10 × C_MAX) as leaf {}: tx {}",
            user.name, deposit.amount, deposit.leaf_index, deposit.tx
        ));
        record(
            "transactions",
            json!({"what": format!("deposit by {}", user.name), "tx": deposit.tx}),
        );
    }

    // Deposits wait in the escrow's queue until a batch proof appends them; node a1 batches.
    let escrow = alice.client.chain().escrow();
    let mut inserted = false;
    for _ in 0..600 {
        if escrow.tree().await?.1 >= 2 {
            inserted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !inserted {
        bail!("no batch inserted the deposits within 60 s");
    }
    let head = provider.get_block_number().await?;
    for log in read_events(&provider, devnet.escrow, 0, head).await? {
        if let CreditEscrowEvents::BatchInserted(event) = log.event {
            say(&format!(
                "   node a1 proved {} queued deposit(s) into the identity tree (batch_insert): tx {}",
                event.count, log.tx_hash
            ));
            record(
                "transactions",
                json!({"what": "deposit batch", "tx": log.tx_hash.to_string(), "count": event.count.to_string()}),
            );
        }
    }

    say("2. Alice pays for two chat completions at node a1 (provider 1), one streamed.");
    for (content, stream) in [("What is a nullifier?", false), ("Stream me a haiku", true)] {
        let paid = alice.client.pay(&a1.url, &chat(content, stream), None).await?;
        say(&format!(
            "   {} answer, HTTP {}: charged {} wei, refunded {} wei of C_MAX {}",
            if stream { "streamed" } else { "plain" },
            paid.status,
            paid.settlement.charge,
            paid.settlement.refund,
            c_max
        ));
        record("requests", paid_evidence("alice", "a1", &paid));
    }
    let bob_paid = bob.client.pay(&b1.url, &chat("Hi from Bob", false), None).await?;
    say(&format!(
        "   Bob pays once at node b1 (provider 2): charged {}, refunded {}",
        bob_paid.settlement.charge, bob_paid.settlement.refund
    ));
    record("requests", paid_evidence("bob", "b1", &bob_paid));

    say("3. Alice cheats: she restores a backup of her wallet and spends her next ticket twice,");
    say("   once at a1 (provider 1) and once at b1 (provider 2).");
    let backup = work.join("alice-backup.json");
    std::fs::copy(&alice.wallet, &backup)?;
    let honest = alice.client.pay(&a1.url, &chat("A fair question", false), None).await?;
    record("requests", paid_evidence("alice", "a1", &honest));
    record("shares", share_evidence(&honest.payment.encode(), "a1", "served")?);
    say(&format!("   a1 served ticket {}.", alice.client.notes().await[0].opening.index - 1));
    let forked = Client::open(&backup, Artifacts::in_checkout(&workspace()))?;
    let identity = alice.client.notes().await[0].identity();
    match forked.pay(&b1.url, &chat("The same ticket, another question", false), None).await {
        Err(ClientError::Refused { code, payment, .. }) if code == "double_spend" => {
            say(
                "   b1 refused it: it already held a1's share of that ticket (gossip), and the two",
            );
            say("   shares reveal Alice's secret.");
            record("shares", share_evidence(&payment.encode(), "b1", "double_spend")?);
        }
        Ok(paid) => {
            say("   b1 served it before a1's share arrived; the shares met right after.");
            record("requests", paid_evidence("alice (backup)", "b1", &paid));
            record("shares", share_evidence(&paid.payment.encode(), "b1", "served")?);
        }
        Err(e) => return Err(e).wrap_err("the double spend at b1"),
    }
    drop(forked);

    say("4. A node proves Alice's secret in the slash circuit and slashes her deposit.");
    let mut slashed = false;
    for _ in 0..600 {
        if escrow.deposit_record(identity).await?.status == STATUS_SLASHED {
            slashed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !slashed {
        bail!("Alice's deposit was not slashed within 60 s");
    }
    let head = provider.get_block_number().await?;
    for log in read_events(&provider, devnet.escrow, 0, head).await? {
        if let CreditEscrowEvents::Slashed(event) = log.event {
            say(&format!(
                "   slashed in {}: bounty {} wei to {}, {} wei to the treasury",
                log.tx_hash, event.bounty, event.receiver, event.toTreasury
            ));
            record(
                "transactions",
                json!({"what": "slash of alice", "tx": log.tx_hash.to_string(), "bounty": event.bounty.to_string(), "receiver": event.receiver.to_string()}),
            );
        }
    }

    say("5. Bob exits: he proves his latest state and takes back what he did not spend.");
    let exit = bob.client.exit(0, payer()?, devnet.account).await?;
    let exit_tx = exit.tx.clone().unwrap_or_default();
    say(&format!("   exit of {} wei requested in {exit_tx}", exit.amount));
    record(
        "transactions",
        json!({"what": "exit request by bob", "tx": exit_tx, "amount": exit.amount.to_string()}),
    );
    let delay = alice.client.chain().parameters().await?.exit_delay;
    say(&format!("   (the devnet's clock jumps the {delay} s exit delay)"));
    provider.raw_request::<_, Value>("evm_increaseTime".into(), (delay + 1,)).await?;
    provider.raw_request::<_, Value>("evm_mine".into(), ()).await?;
    let finalized = bob.client.finalize(0, payer()?).await?;
    say(&format!("   finalized in {finalized}"));
    record("transactions", json!({"what": "exit finalized for bob", "tx": finalized}));

    let after = balances(&provider, devnet).await?;
    say("");
    say(&format!("{:<24} {:>24} {:>24} {:>24}", "balance (ETH)", "before", "after", "change"));
    let mut table = Vec::new();
    for ((name, address, was), (_, _, now)) in before.iter().zip(&after) {
        let change = if now >= was {
            format!("+{}", alloy::primitives::utils::format_ether(*now - *was))
        } else {
            format!("-{}", alloy::primitives::utils::format_ether(*was - *now))
        };
        say(&format!("{name:<24} {} {} {change:>24}", eth(*was), eth(*now)));
        table.push(json!({"account": name, "address": address.to_string(), "before": was.to_string(), "after": now.to_string()}));
    }
    evidence["balances"] = Value::Array(table);
    Ok(evidence)
}
