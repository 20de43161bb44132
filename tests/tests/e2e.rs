//! The system end to end, as `make demo` and the README run it: the `zkcredits` binary's devnet,
//! wallet commands and proxy, the openai SDKs, the demo scenario's outcome on chain.

use serde_json::Value;
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
};
use zkcredits_e2e::{Devnet, DevnetInfo, run_demo, workspace, zkcredits_bin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_scenario_slashes_the_cheat_and_pays_the_exit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let devnet = Devnet::start(&dir.path().join("devnet")).expect("devnet starts");
    let wallets = dir.path().join("wallets");
    std::fs::create_dir_all(&wallets).expect("wallets dir");
    let mut narration = Vec::new();
    let evidence = run_demo(&devnet.info, &wallets, &mut |line| narration.push(line.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", narration.join("\n")));

    // Two shares of one ticket, for two different requests: what reveals the secret.
    let shares = evidence["shares"].as_array().expect("shares");
    assert_eq!(shares.len(), 2, "{evidence:#}");
    assert_eq!(shares[0]["nullifier"], shares[1]["nullifier"]);
    assert_ne!(shares[0]["x"], shares[1]["x"]);
    assert_ne!(shares[0]["node"], shares[1]["node"], "spent at two providers' nodes");

    let transactions = evidence["transactions"].as_array().expect("transactions");
    let slash = transactions.iter().find(|t| t["what"] == "slash of alice").expect("slashed");
    let slashers: Vec<String> = devnet.info.nodes.iter().map(|n| n.slasher.to_string()).collect();
    assert!(slashers.contains(&slash["receiver"].as_str().expect("receiver").to_owned()));
    assert_ne!(slash["bounty"], "0");
    assert!(transactions.iter().any(|t| t["what"] == "exit finalized for bob"));

    // Every paid request carries a proof and a settlement that adds up to C_MAX.
    for request in evidence["requests"].as_array().expect("requests") {
        let settlement = &request["settlement"];
        let charge: u128 = settlement["charge"].as_str().expect("charge").parse().expect("number");
        let refund: u128 = settlement["refund"].as_str().expect("refund").parse().expect("number");
        assert!(charge + refund > 0 && refund > 0, "{request}");
        assert_eq!(request["payment"]["publicSignals"].as_array().map(Vec::len), Some(10));
    }

    // The escrow paid the treasury (Alice's slashed remainder, Bob's spent credits).
    let balance = |name: &str| -> (u128, u128) {
        let row = evidence["balances"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["account"] == name))
            .unwrap_or_else(|| panic!("no balance row {name}"));
        let parse = |v: &Value| v.as_str().expect("decimal").parse::<u128>().expect("number");
        (parse(&row["before"]), parse(&row["after"]))
    };
    let (treasury_before, treasury_after) = balance("treasury");
    assert!(treasury_after > treasury_before);
}

/// Runs `zkcredits args…` from the checkout with `wallet` and returns its output, failing the
/// test when it fails.
fn zkcredits(wallet: &Path, args: &[&str]) -> Output {
    let output = Command::new(zkcredits_bin().expect("binary"))
        .current_dir(workspace())
        .env("ZKCREDITS_WALLET", wallet)
        .args(args)
        .output()
        .expect("zkcredits runs");
    assert!(
        output.status.success(),
        "zkcredits {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `zkcredits wallet new` for the devnet's escrow.
fn wallet_new(wallet: &Path, info: &DevnetInfo) {
    let deployment = info.deployment.to_str().expect("utf-8");
    let rpc_url = info.rpc_url.as_str();
    zkcredits(
        wallet,
        &[
            "wallet",
            "new",
            "--rpc-url",
            rpc_url,
            "--deployment",
            deployment,
            "--confirmations",
            "0",
        ],
    );
}

/// The proxy as a child process; stopped when dropped.
struct Proxy {
    child: Child,
    url: String,
}

impl Proxy {
    fn start(wallet: &Path, provider: &str) -> Self {
        Self::start_with(wallet, provider, &[])
    }

    /// [`Proxy::start`] with more `zkcredits proxy` arguments.
    fn start_with(wallet: &Path, provider: &str, args: &[&str]) -> Self {
        let mut child = Command::new(zkcredits_bin().expect("binary"))
            .current_dir(workspace())
            .env("ZKCREDITS_WALLET", wallet)
            .args(["proxy", "--listen", "127.0.0.1:0", "--provider", provider])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("proxy starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = lines.next().expect("a line").expect("text");
        let url = line
            .strip_prefix("zkcredits proxy listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, url }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Python with the pinned `openai` package (`make setup` makes it).
fn python() -> PathBuf {
    std::env::var_os("ZKCREDITS_PYTHON").map_or_else(
        || {
            let home = std::env::var_os("HOME").expect("HOME");
            PathBuf::from(home).join(".cache/zkcredits/python/bin/python")
        },
        PathBuf::from,
    )
}

fn run_checked(command: &mut Command) -> String {
    let output = command.output().expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn the_readme_user_commands_and_the_openai_packages_through_the_proxy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let devnet = Devnet::start(&dir.path().join("devnet")).expect("devnet starts");
    let info = &devnet.info;
    let wallet = dir.path().join("wallet.json");
    let key = info.account_key_file.to_str().expect("utf-8");
    let provider = &info.node("a1").expect("a1").url;

    wallet_new(&wallet, info);
    let deposited = zkcredits(
        &wallet,
        &["deposit", "--amount", "10000000000000000", "--notes", "2", "--account-key-file", key],
    );
    assert_eq!(String::from_utf8_lossy(&deposited.stdout).matches("deposited").count(), 2);
    let answer = zkcredits(
        &wallet,
        &[
            "request",
            "--provider",
            provider,
            "--data",
            r#"{"model":"zkcredits-echo","messages":[{"role":"user","content":"hi"}]}"#,
        ],
    );
    let body: Value = serde_json::from_slice(&answer.stdout).expect("the upstream's JSON");
    assert_eq!(body["choices"][0]["message"]["content"], "Hello");
    assert!(String::from_utf8_lossy(&answer.stderr).contains("next ticket 1"));

    {
        let proxy = Proxy::start(&wallet, provider);
        let python = run_checked(
            Command::new(python())
                .arg(workspace().join("tests/sdk/openai_check.py"))
                .arg(&proxy.url),
        );
        assert!(python.contains("plain, streamed, models, embeddings ok"), "{python}");
        let node = run_checked(
            Command::new("node")
                .arg(workspace().join("tests/sdk/openai_check.mjs"))
                .arg(&proxy.url),
        );
        assert!(node.contains("plain, streamed, models, embeddings ok"), "{node}");
    }

    // Eight calls through the proxy and one by the CLI: the notes' tickets add up, and status
    // shows no request left pending.
    let status = zkcredits(&wallet, &["status"]);
    let table = String::from_utf8_lossy(&status.stdout).into_owned();
    let tickets: u32 = table
        .lines()
        .skip(1)
        .map(|line| {
            line.split_whitespace().nth(4).expect("ticket column").parse::<u32>().expect("number")
        })
        .sum();
    assert_eq!(tickets, 9, "{table}");
    assert!(!table.contains(" yes "), "{table}");

    zkcredits(
        &wallet,
        &[
            "exit",
            "--note",
            "1",
            "--recipient",
            &info.account.to_string(),
            "--account-key-file",
            key,
        ],
    );
    let shown = zkcredits(&wallet, &["status"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("exiting"));

    // The operator (anvil's well-known account 0 deployed the devnet) sets the nodes' signer
    // set again, and the deployment file records the root.
    let operator = dir.path().join("operator.hex");
    std::fs::write(&operator, "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
        .expect("key file");
    let mut args: Vec<String> = ["keys", "signer", "set-root"].map(String::from).to_vec();
    for node in ["a1", "a2", "b1"] {
        let key: Value = serde_json::from_slice(
            &std::fs::read(devnet.dir.join(node).join("signer.json")).expect("signer key"),
        )
        .expect("JSON");
        let public = &key["publicKey"];
        args.push("--key".into());
        args.push(format!(
            "{},{}",
            public["x"].as_str().expect("x"),
            public["y"].as_str().expect("y")
        ));
    }
    let deployment = info.deployment.to_str().expect("utf-8");
    args.extend(["--rpc-url", &info.rpc_url, "--deployment", deployment].map(String::from));
    args.extend(["--account-key-file".into(), operator.to_str().expect("utf-8").into()]);
    let set = zkcredits(&wallet, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let recorded: Value =
        serde_json::from_slice(&std::fs::read(&info.deployment).expect("deployment"))
            .expect("JSON");
    let root = recorded["signerRoot"].as_str().expect("signerRoot");
    assert!(String::from_utf8_lossy(&set.stdout).contains(root));
}

#[test]
fn the_openai_packages_read_held_and_padded_answers_through_a_padding_delaying_client() {
    let dir = tempfile::tempdir().expect("temp dir");
    let devnet =
        Devnet::start_with(&dir.path().join("devnet"), &["--privacy"]).expect("devnet starts");
    let info = &devnet.info;
    let wallet = dir.path().join("wallet.json");
    let key = info.account_key_file.to_str().expect("utf-8");
    let provider = &info.node("b1").expect("b1").url;
    wallet_new(&wallet, info);
    zkcredits(&wallet, &["deposit", "--amount", "10000000000000000", "--account-key-file", key]);

    // The node pads the answer to a 1 KiB size class; the body still parses.
    let privacy = ["--pad-bytes", "512", "--max-delay-ms", "50"];
    let mut request = vec!["request", "--provider", provider];
    request.extend(privacy);
    request.extend([
        "--data",
        r#"{"model":"zkcredits-echo","messages":[{"role":"user","content":"hi"}]}"#,
    ]);
    let answer = zkcredits(&wallet, &request);
    let printed = answer.stdout.len() - 1;
    assert!(printed.is_multiple_of(1_024) && (printed / 1_024).is_power_of_two(), "{printed}");
    let body: Value = serde_json::from_slice(&answer.stdout).expect("padded JSON still parses");
    assert_eq!(body["choices"][0]["message"]["content"], "Hello");

    // Held, padded, framed answers and padded requests, plain and streamed, through the SDKs.
    let proxy = Proxy::start_with(&wallet, provider, &privacy);
    let python = run_checked(
        Command::new(python()).arg(workspace().join("tests/sdk/openai_check.py")).arg(&proxy.url),
    );
    assert!(python.contains("plain, streamed, models, embeddings ok"), "{python}");
    let node = run_checked(
        Command::new("node").arg(workspace().join("tests/sdk/openai_check.mjs")).arg(&proxy.url),
    );
    assert!(node.contains("plain, streamed, models, embeddings ok"), "{node}");
}
