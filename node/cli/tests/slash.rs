//! `zkcredits slash` against a real anvil and the deployed escrow: two shares of one ticket
//! slash its deposit on chain; shares that reveal nothing are refused before any transaction.
//! Then `zkcredits insert-batch` inserts the queued deposit and removes the slashed leaf.

#[path = "../../node/tests/common/mod.rs"]
mod common;

use alloy::primitives::U256;
use std::{path::Path, process::Command};
use zkcredits_primitives::{
    Fr,
    field::fr_to_dec,
    identity::Secret,
    rln::{Share, scope},
};

fn share_file(dir: &Path, name: &str, share: &Share) -> String {
    let path = dir.join(name);
    let json = serde_json::json!({
        "nullifier": fr_to_dec(&share.nullifier),
        "x": fr_to_dec(&share.x),
        "y": fr_to_dec(&share.y),
    });
    std::fs::write(&path, json.to_string()).expect("share file");
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shares_of_one_ticket_slash_its_deposit() {
    let net = common::devnet();
    let k = Secret::new(Fr::from(9_001u64)).expect("non-zero");
    net.escrow.deposit(k.commitment(), U256::from(10u128.pow(15))).await.expect("deposit");
    let scope = scope(net.deployment.chain_id, &net.deployment.escrow.0.0);
    let dir = tempfile::tempdir().expect("temp dir");
    let first = share_file(dir.path(), "a.json", &Share::new(&k, &scope, 0, Fr::from(11u64)));
    let second = share_file(dir.path(), "b.json", &Share::new(&k, &scope, 0, Fr::from(12u64)));
    let other_ticket =
        share_file(dir.path(), "c.json", &Share::new(&k, &scope, 1, Fr::from(13u64)));
    let wallet = dir.path().join("wallet.hex");
    std::fs::write(&wallet, net.private_key_hex(common::SLASHER_ACCOUNT)).expect("wallet");
    let build = std::env::var_os("ZKCREDITS_BUILD_DIR")
        .map_or_else(|| common::workspace().join("build"), std::path::PathBuf::from);
    let slash = |a: &str, b: &str| {
        Command::new(env!("CARGO_BIN_EXE_zkcredits"))
            .args(["slash", "--share", a, "--share", b, "--rpc-url", &net.anvil.endpoint()])
            .arg("--deployment")
            .arg(&net.deployment_file)
            .arg("--wallet-key-file")
            .arg(&wallet)
            .arg("--build-dir")
            .arg(build.join("circuits/main"))
            .arg("--slash-proving-key")
            .arg(build.join("keys/slash.pk.bin"))
            .arg("--manifest")
            .arg(common::workspace().join("circuits/artifacts/manifest.json"))
            .output()
            .expect("the binary runs")
    };

    // Two tickets' shares: nothing to recover, nothing sent.
    let refused = slash(&first, &other_ticket);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("do not reveal a secret"), "{stderr}");
    assert_eq!(net.escrow.deposit_record(k.commitment()).await.expect("record").leaf, 0);

    let done = slash(&first, &second);
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(done.status.success(), "{stdout}{}", String::from_utf8_lossy(&done.stderr));
    assert!(stdout.starts_with("slashed: 0x"), "{stdout}");
    assert_ne!(net.escrow.deposit_record(k.commitment()).await.expect("record").leaf, 0);

    // Again: it finds the deposit slashed and sends nothing.
    let again = slash(&first, &second);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("already slashed"));

    // Shares of a deposit this escrow does not hold: refused before anything is proven.
    let stranger = Secret::new(Fr::from(9_002u64)).expect("non-zero");
    let a = share_file(dir.path(), "d.json", &Share::new(&stranger, &scope, 0, Fr::from(1u64)));
    let b = share_file(dir.path(), "e.json", &Share::new(&stranger, &scope, 0, Fr::from(2u64)));
    let none = slash(&a, &b);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("holds no deposit"));

    // Anyone inserts the queued deposit with `zkcredits insert-batch`; the batch that appends the
    // slashed note zeroes it at once.
    let insert = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_zkcredits"))
            .args(["insert-batch", "--rpc-url", &net.anvil.endpoint()])
            .arg("--deployment")
            .arg(&net.deployment_file)
            .arg("--wallet-key-file")
            .arg(&wallet)
            .arg("--build-dir")
            .arg(build.join("circuits/main"))
            .arg("--batch-insert-proving-key")
            .arg(build.join("keys/batch_insert.pk.bin"))
            .arg("--manifest")
            .arg(common::workspace().join("circuits/artifacts/manifest.json"))
            .args(extra)
            .output()
            .expect("the binary runs")
    };
    let zero = insert(&["--max-batches", "0"]);
    assert!(!zero.status.success());
    assert!(String::from_utf8_lossy(&zero.stderr).contains("--max-batches must be at least 1"));
    let inserted = insert(&[]);
    let stdout = String::from_utf8_lossy(&inserted.stdout);
    assert!(inserted.status.success(), "{stdout}{}", String::from_utf8_lossy(&inserted.stderr));
    assert_eq!(stdout.trim(), "inserted deposits 0..1 and removed a slashed leaf");
    assert_eq!(net.escrow.tree().await.expect("tree"), (Fr::from(0u64), 1, 1), "one zeroed leaf");
    assert_eq!(net.escrow.deposit_record(k.commitment()).await.expect("record").leaf, 2);
    let idle = insert(&[]);
    assert!(idle.status.success());
    assert!(String::from_utf8_lossy(&idle.stdout).contains("nothing to insert"));
}
