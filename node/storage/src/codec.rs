//! The binary layout of stored records: fixed-width big-endian fields, field elements as their
//! canonical 32 bytes (a non-canonical value is corruption), strings length-prefixed.

use crate::{
    error::StorageError,
    types::{PendingSlash, QueuedDeposit, ShareOrigin, SlashStatus, StoredShare},
};
use ark_bn254::Fr;
use zkcredits_primitives::{
    babyjubjub::Point,
    field::{fr_from_be_bytes_mod_order, fr_to_be_bytes},
    identity::Secret,
    rln::Share,
};

/// Appends fields to a record.
#[derive(Default)]
pub(crate) struct Writer(Vec<u8>);

impl Writer {
    pub(crate) fn fr(mut self, x: &Fr) -> Self {
        self.0.extend_from_slice(&fr_to_be_bytes(x));
        self
    }

    pub(crate) fn u64(mut self, x: u64) -> Self {
        self.0.extend_from_slice(&x.to_be_bytes());
        self
    }

    pub(crate) fn u8(mut self, x: u8) -> Self {
        self.0.push(x);
        self
    }

    pub(crate) fn u128(mut self, x: u128) -> Self {
        self.0.extend_from_slice(&x.to_be_bytes());
        self
    }

    pub(crate) fn bytes32(mut self, x: &[u8; 32]) -> Self {
        self.0.extend_from_slice(x);
        self
    }

    pub(crate) fn string(self, s: &str) -> Self {
        let mut this = self.u64(s.len() as u64);
        this.0.extend_from_slice(s.as_bytes());
        this
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// Reads fields of a record, failing with [`StorageError::Corrupt`].
pub(crate) struct Reader<'a> {
    what: &'static str,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(what: &'static str, bytes: &'a [u8]) -> Self {
        Self { what, rest: bytes }
    }

    fn corrupt(&self, reason: impl Into<String>) -> StorageError {
        StorageError::Corrupt { what: self.what, reason: reason.into() }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], StorageError> {
        if self.rest.len() < n {
            return Err(
                self.corrupt(format!("truncated: {} bytes left, {n} needed", self.rest.len()))
            );
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn fr(&mut self) -> Result<Fr, StorageError> {
        let bytes = self.take(32)?;
        let x = fr_from_be_bytes_mod_order(bytes);
        if fr_to_be_bytes(&x) != bytes {
            return Err(self.corrupt("field element not below the modulus"));
        }
        Ok(x)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, StorageError> {
        let bytes = self.take(8)?;
        Ok(u64::from_be_bytes(bytes.try_into().unwrap_or_default()))
    }

    pub(crate) fn u8(&mut self) -> Result<u8, StorageError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u128(&mut self) -> Result<u128, StorageError> {
        Ok(u128::from_be_bytes(self.take(16)?.try_into().unwrap_or_else(|_| unreachable!())))
    }

    pub(crate) fn bytes32(&mut self) -> Result<[u8; 32], StorageError> {
        Ok(self.take(32)?.try_into().unwrap_or_default())
    }

    pub(crate) fn string(&mut self) -> Result<String, StorageError> {
        let len = usize::try_from(self.u64()?).map_err(|_| self.corrupt("string length"))?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.corrupt("string is not UTF-8"))
    }

    pub(crate) fn end(self) -> Result<(), StorageError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.corrupt(format!("{} trailing bytes", self.rest.len())))
        }
    }
}

pub(crate) fn encode_share(s: &StoredShare) -> Vec<u8> {
    let w =
        Writer::default().fr(&s.share.nullifier).fr(&s.share.x).fr(&s.share.y).u64(s.received_at);
    match &s.origin {
        ShareOrigin::Request { commitment } => w.u8(0).fr(&commitment.x).fr(&commitment.y),
        ShareOrigin::Gossip { peer } => w.u8(1).string(peer),
        ShareOrigin::Exit { block } => w.u8(2).u64(*block),
    }
    .finish()
}

pub(crate) fn decode_share(bytes: &[u8]) -> Result<StoredShare, StorageError> {
    let mut r = Reader::new("share", bytes);
    let share = Share { nullifier: r.fr()?, x: r.fr()?, y: r.fr()? };
    let received_at = r.u64()?;
    let origin = match r.u8()? {
        0 => {
            let (x, y) = (r.fr()?, r.fr()?);
            let commitment = Point::new(x, y).map_err(|_| StorageError::Corrupt {
                what: "share",
                reason: "request commitment is not on Baby Jubjub".into(),
            })?;
            ShareOrigin::Request { commitment }
        }
        1 => ShareOrigin::Gossip { peer: r.string()? },
        2 => ShareOrigin::Exit { block: r.u64()? },
        tag => {
            return Err(StorageError::Corrupt {
                what: "share",
                reason: format!("origin tag {tag}"),
            });
        }
    };
    r.end()?;
    Ok(StoredShare { share, received_at, origin })
}

/// The undo record of one block: its hash, the leaves it wrote with their previous values
/// (`None`: the index was new), how many roots and queued deposits it added.
pub(crate) struct BlockUndo {
    pub(crate) hash: [u8; 32],
    pub(crate) queued: u64,
    pub(crate) previous_leaves: Vec<(u64, Option<Fr>)>,
    pub(crate) roots: u64,
    /// The `(nullifier, x)` of the shares the block added (not those it found stored already).
    pub(crate) added_shares: Vec<(Fr, Fr)>,
}

pub(crate) fn encode_undo(u: &BlockUndo) -> Vec<u8> {
    let mut w = Writer::default()
        .bytes32(&u.hash)
        .u64(u.queued)
        .u64(u.roots)
        .u64(u.previous_leaves.len() as u64);
    for (index, previous) in &u.previous_leaves {
        w = w.u64(*index);
        w = match previous {
            None => w.u8(0),
            Some(leaf) => w.u8(1).fr(leaf),
        };
    }
    w = w.u64(u.added_shares.len() as u64);
    for (nullifier, x) in &u.added_shares {
        w = w.fr(nullifier).fr(x);
    }
    w.finish()
}

pub(crate) fn decode_undo(bytes: &[u8]) -> Result<BlockUndo, StorageError> {
    let mut r = Reader::new("block", bytes);
    let hash = r.bytes32()?;
    let queued = r.u64()?;
    let roots = r.u64()?;
    let count = r.u64()?;
    let mut previous_leaves = Vec::new();
    for _ in 0..count {
        let index = r.u64()?;
        let previous = match r.u8()? {
            0 => None,
            _ => Some(r.fr()?),
        };
        previous_leaves.push((index, previous));
    }
    let count = r.u64()?;
    let mut added_shares = Vec::new();
    for _ in 0..count {
        added_shares.push((r.fr()?, r.fr()?));
    }
    r.end()?;
    Ok(BlockUndo { hash, queued, previous_leaves, roots, added_shares })
}

pub(crate) fn encode_queued_deposit(d: &QueuedDeposit) -> Vec<u8> {
    Writer::default().u64(d.position).fr(&d.identity).u128(d.amount).u64(d.expiry).finish()
}

pub(crate) fn decode_queued_deposit(bytes: &[u8]) -> Result<QueuedDeposit, StorageError> {
    let mut r = Reader::new("queued deposit", bytes);
    let deposit = QueuedDeposit {
        position: r.u64()?,
        identity: r.fr()?,
        amount: r.u128()?,
        expiry: r.u64()?,
    };
    r.end()?;
    Ok(deposit)
}

pub(crate) fn encode_slash(s: &PendingSlash) -> Vec<u8> {
    let w =
        Writer::default().fr(&s.identity).fr(s.secret.expose()).fr(&s.nullifier).u64(s.detected_at);
    match &s.status {
        SlashStatus::Pending => w.u8(0),
        SlashStatus::Landed { tx_hash: Some(tx_hash) } => w.u8(1).bytes32(tx_hash),
        SlashStatus::Done { tx_hash: Some(tx_hash) } => w.u8(2).bytes32(tx_hash),
        SlashStatus::Failed { reason } => w.u8(3).string(reason),
        SlashStatus::Submitted {
            tx_hash,
            nonce,
            max_fee_per_gas,
            max_priority_fee_per_gas,
            sent_at,
        } => w
            .u8(4)
            .bytes32(tx_hash)
            .u64(*nonce)
            .u128(*max_fee_per_gas)
            .u128(*max_priority_fee_per_gas)
            .u64(*sent_at),
        SlashStatus::Landed { tx_hash: None } => w.u8(5),
        SlashStatus::Done { tx_hash: None } => w.u8(6),
    }
    .finish()
}

pub(crate) fn decode_slash(bytes: &[u8]) -> Result<PendingSlash, StorageError> {
    let mut r = Reader::new("slash", bytes);
    let identity = r.fr()?;
    let secret = Secret::new(r.fr()?)
        .map_err(|_| StorageError::Corrupt { what: "slash", reason: "zero secret".into() })?;
    let nullifier = r.fr()?;
    let detected_at = r.u64()?;
    let status = match r.u8()? {
        0 => SlashStatus::Pending,
        1 => SlashStatus::Landed { tx_hash: Some(r.bytes32()?) },
        2 => SlashStatus::Done { tx_hash: Some(r.bytes32()?) },
        3 => SlashStatus::Failed { reason: r.string()? },
        4 => SlashStatus::Submitted {
            tx_hash: r.bytes32()?,
            nonce: r.u64()?,
            max_fee_per_gas: r.u128()?,
            max_priority_fee_per_gas: r.u128()?,
            sent_at: r.u64()?,
        },
        5 => SlashStatus::Landed { tx_hash: None },
        6 => SlashStatus::Done { tx_hash: None },
        tag => {
            return Err(StorageError::Corrupt {
                what: "slash",
                reason: format!("status tag {tag}"),
            });
        }
    };
    r.end()?;
    Ok(PendingSlash { identity, secret, nullifier, detected_at, status })
}
