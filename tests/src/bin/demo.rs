//! `make demo`: the whole system on a devnet, narrated. It starts `zkcredits devnet`, runs the
//! scenario of [`zkcredits_e2e::run_demo`], prints the balances before and after, writes the
//! evidence bundle to `build/demo/evidence.json`, stops the devnet, and exits non-zero if any
//! step failed.

use std::process::ExitCode;
use zkcredits_e2e::{Devnet, run_demo, workspace};

fn demo() -> eyre::Result<std::path::PathBuf> {
    let dir = workspace().join("build/demo");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(dir.join("wallets"))?;
    println!("Starting the devnet: anvil, the escrow, three nodes of two providers, an upstream");
    println!("(their log: {}).", dir.join("devnet.log").display());
    let devnet = Devnet::start(&dir.join("devnet"))?;
    for node in &devnet.info.nodes {
        println!("   node {} (provider {}) at {}", node.name, node.provider, node.url);
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let evidence = runtime.block_on(run_demo(&devnet.info, &dir.join("wallets"), &mut |line| {
        println!("{line}");
    }))?;
    let file = dir.join("evidence.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&evidence)?)?;
    Ok(file)
}

fn main() -> ExitCode {
    match demo() {
        Ok(file) => {
            println!("\nEvidence (transactions, proofs, settlements, shares): {}", file.display());
            println!("demo: every step succeeded");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("demo failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
