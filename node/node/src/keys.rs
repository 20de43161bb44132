//! The settlement signer's key file: JSON with the 32-byte EdDSA-Poseidon private key and its
//! public key, written atomically with owner-only permissions.

use crate::NodeError;
use alloy::signers::local::PrivateKeySigner;
use serde::{Deserialize, Serialize};
use std::{io::Write, path::Path};
use zkcredits_primitives::{
    babyjubjub::Point,
    eddsa::{PrivateKey, PublicKey},
    field::{fr_from_dec, fr_to_dec},
};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeyFileJson {
    private_key: String,
    public_key: PublicKeyJson,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicKeyJson {
    x: String,
    y: String,
}

/// Reads a file holding a private key, warning when other users may read it too.
pub fn read_secret_file(path: &Path) -> std::io::Result<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                "{} holds a private key and other users may read it (mode {:o}): chmod 600 it",
                path.display(),
                mode & 0o777
            );
        }
    }
    std::fs::read_to_string(path)
}

/// Reads the hex private key of an Ethereum account (the account that sends transactions).
pub fn read_account_key(path: &Path) -> Result<PrivateKeySigner, NodeError> {
    let text = read_secret_file(path).map_err(|e| key_error(path, e.to_string()))?;
    text.trim()
        .parse()
        .map_err(|_| key_error(path, "expected the hex private key of an Ethereum account"))
}

fn key_error(path: &Path, reason: impl Into<String>) -> NodeError {
    NodeError::KeyFile { path: path.to_owned(), reason: reason.into() }
}

/// `"x,y"` of a public key, as `signer.set` lists them.
pub fn public_key_to_string(key: &PublicKey) -> String {
    format!("{},{}", fr_to_dec(&key.0.x), fr_to_dec(&key.0.y))
}

/// Parses `"x,y"`.
pub fn public_key_from_str(s: &str) -> Result<PublicKey, String> {
    let (x, y) = s.split_once(',').ok_or_else(|| format!("`{s}` is not `x,y`"))?;
    let x = fr_from_dec(x.trim()).map_err(|e| e.to_string())?;
    let y = fr_from_dec(y.trim()).map_err(|e| e.to_string())?;
    Point::new_in_subgroup(x, y)
        .map(PublicKey)
        .map_err(|_| format!("`{s}` is not a Baby Jubjub subgroup point"))
}

/// Writes a new key file; refuses to overwrite one.
pub fn write_signer_key(path: &Path, key: &PrivateKey) -> Result<(), NodeError> {
    if path.exists() {
        return Err(key_error(path, "exists already; move it away to make a new key"));
    }
    let public = key.public_key();
    let json = KeyFileJson {
        private_key: format!("0x{}", alloy::hex::encode(key.as_bytes())),
        public_key: PublicKeyJson { x: fr_to_dec(&public.0.x), y: fr_to_dec(&public.0.y) },
    };
    let text = serde_json::to_string_pretty(&json).map_err(|e| key_error(path, e.to_string()))?;
    write_secret_file(path, format!("{text}\n").as_bytes())
        .map_err(|e| key_error(path, e.to_string()))
}

/// Writes a new file readable by its owner only, atomically (a temporary file, synced, then
/// renamed); refuses to overwrite one.
pub fn write_secret_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if path.exists() {
        return Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "exists already"));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&temporary, path))
}

/// Reads a key file and checks that its public key matches its private key.
pub fn read_signer_key(path: &Path) -> Result<PrivateKey, NodeError> {
    let text = read_secret_file(path).map_err(|e| {
        key_error(path, format!("{e} (create one with `zkcredits keys signer new --out FILE`)"))
    })?;
    let json: KeyFileJson =
        serde_json::from_str(&text).map_err(|e| key_error(path, format!("not a key file: {e}")))?;
    let bytes = json
        .private_key
        .strip_prefix("0x")
        .and_then(|hex| alloy::hex::decode(hex).ok())
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| key_error(path, "`privateKey` must be 0x-prefixed hex of 32 bytes"))?;
    let key = PrivateKey::from_bytes(bytes);
    let public = key.public_key();
    if fr_to_dec(&public.0.x) != json.public_key.x || fr_to_dec(&public.0.y) != json.public_key.y {
        return Err(key_error(path, "`publicKey` does not belong to `privateKey`"));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_reads_and_refuses() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keys/signer.json");
        let key = PrivateKey::from_bytes([7; 32]);
        write_signer_key(&path, &key).expect("writes");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("exists").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(read_signer_key(&path).expect("reads").as_bytes(), key.as_bytes());
        assert!(write_signer_key(&path, &key).is_err(), "never overwrites");

        let text = std::fs::read_to_string(&path).expect("readable");
        let other = PrivateKey::from_bytes([8; 32]);
        let swapped = text
            .replace(&alloy::hex::encode(key.as_bytes()), &alloy::hex::encode(other.as_bytes()));
        std::fs::write(&path, swapped).expect("writable");
        let err = read_signer_key(&path).expect_err("mismatch").to_string();
        assert!(err.contains("does not belong"), "{err}");
        assert!(!err.contains(&alloy::hex::encode(other.as_bytes())), "no secret in errors");

        let public = public_key_to_string(&key.public_key());
        assert_eq!(public_key_from_str(&public).expect("parses"), key.public_key());
        assert!(public_key_from_str("1,2").is_err());
    }
}
