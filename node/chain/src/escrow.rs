//! The escrow's calls as typed methods, and the one submitter every transaction goes through.

use crate::{
    bindings::{
        CreditEscrow::{self, CreditEscrowInstance},
        ICreditEscrow,
    },
    error::ChainError,
    proof::{fr_to_u256, u256_to_fr, u256_to_u64},
};
use alloy::{
    contract::SolCallBuilder,
    primitives::{Address, TxHash, U256},
    providers::Provider,
    rpc::types::TransactionReceipt,
    sol_types::{SolCall, SolEvent},
};
use ark_bn254::{Bn254, Fr};
use ark_groth16::Proof;
use std::time::Duration;

/// How transactions are submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubmitOptions {
    /// Blocks to wait for after inclusion (1 = the including block).
    pub confirmations: u64,
    /// How long to wait for the receipt.
    pub timeout: Duration,
}

impl Default for SubmitOptions {
    fn default() -> Self {
        Self { confirmations: 1, timeout: Duration::from_secs(120) }
    }
}

/// A mined transaction and the event it emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted<E> {
    /// The transaction.
    pub tx_hash: TxHash,
    /// The block that included it.
    pub block_number: u64,
    /// Gas it used.
    pub gas_used: u64,
    /// The escrow event it emitted.
    pub event: E,
}

/// The fees of an EIP-1559 transaction, in wei per gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    /// `maxFeePerGas`.
    pub max_fee_per_gas: u128,
    /// `maxPriorityFeePerGas`.
    pub max_priority_fee_per_gas: u128,
}

impl Fees {
    /// The fees a replacement of a transaction sent with `self` must at least offer: nodes take
    /// a replacement only when both fees rise by 10 % or more; 25 % also outbids a rising base
    /// fee quickly.
    pub fn bumped(self) -> Self {
        let bump = |fee: u128| fee.saturating_add(fee / 4).saturating_add(1);
        Self {
            max_fee_per_gas: bump(self.max_fee_per_gas),
            max_priority_fee_per_gas: bump(self.max_priority_fee_per_gas),
        }
    }

    /// Each fee at most `max_fee_per_gas` (the tip never above the fee).
    pub fn capped(self, max_fee_per_gas: u128) -> Self {
        let max_fee_per_gas = self.max_fee_per_gas.min(max_fee_per_gas);
        Self {
            max_fee_per_gas,
            max_priority_fee_per_gas: self.max_priority_fee_per_gas.min(max_fee_per_gas),
        }
    }

    /// The larger of each fee.
    pub fn max(self, other: Self) -> Self {
        Self {
            max_fee_per_gas: self.max_fee_per_gas.max(other.max_fee_per_gas),
            max_priority_fee_per_gas: self
                .max_priority_fee_per_gas
                .max(other.max_priority_fee_per_gas),
        }
    }
}

/// A transaction handed to the RPC node, not waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Its hash.
    pub tx_hash: TxHash,
    /// Its nonce: a replacement reuses it.
    pub nonce: u64,
    /// The fees it offers.
    pub fees: Fees,
}

/// What a landed slash did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlashEffect {
    /// An Active or Exiting deposit was slashed and paid out.
    Slashed(CreditEscrow::Slashed),
    /// The leaf of an Exited or Swept deposit was condemned (nothing left to pay).
    LeafCondemned(CreditEscrow::LeafCondemned),
}

/// The public inputs of an exit besides the proof (the escrow supplies `D`, `scope`, `C_MAX`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitRequest {
    /// The exiting identity.
    pub identity: Fr,
    /// Who is paid the amount.
    pub recipient: Address,
    /// What is left: `D + R − w·C_MAX`.
    pub amount: U256,
    /// The exit ticket's nullifier.
    pub nullifier: Fr,
    /// The exit ticket's share `y`.
    pub y: Fr,
    /// The signer root of the latest state.
    pub signer_root: Fr,
}

impl ExitRequest {
    /// The request an exit proof's public signals (circuit order: deposit, identity,
    /// recipient, amount, nullifier, y, scope, signerRoot, cMax) make for `recipient`.
    pub fn from_signals(recipient: Address, signals: &[Fr]) -> Result<Self, ChainError> {
        let [_, identity, _, amount, nullifier, y, _, signer_root, _] = signals else {
            return Err(ChainError::InvalidValue(format!(
                "an exit proof has 9 public signals, not {}",
                signals.len()
            )));
        };
        Ok(Self {
            identity: *identity,
            recipient,
            amount: fr_to_u256(amount),
            nullifier: *nullifier,
            y: *y,
            signer_root: *signer_root,
        })
    }
}

/// A deployed escrow reached through `provider`.
#[derive(Debug, Clone)]
pub struct Escrow<P> {
    instance: CreditEscrowInstance<P>,
    options: SubmitOptions,
}

impl<P: Provider + Clone> Escrow<P> {
    /// The escrow at `address`; transactions are signed by the provider's wallet.
    pub fn new(address: Address, provider: P) -> Self {
        Self { instance: CreditEscrow::new(address, provider), options: SubmitOptions::default() }
    }

    /// The same escrow with other submission options.
    pub fn with_options(mut self, options: SubmitOptions) -> Self {
        self.options = options;
        self
    }

    /// The escrow's address.
    pub fn address(&self) -> Address {
        *self.instance.address()
    }

    /// The generated contract instance, for calls this type does not wrap.
    pub fn instance(&self) -> &CreditEscrowInstance<P> {
        &self.instance
    }

    /// Deposits `amount` wei for `identity` (ETH escrows).
    pub async fn deposit(
        &self,
        identity: Fr,
        amount: U256,
    ) -> Result<Submitted<CreditEscrow::Deposited>, ChainError> {
        self.submit(self.instance.deposit(fr_to_u256(&identity)).value(amount)).await
    }

    /// Deposits `amount_each` wei for each of `identities` in one transaction (ETH escrows; at
    /// most the escrow's `MAX_DEPOSIT_BATCH`, 16); the events come in the order of `identities`.
    pub async fn deposit_batch(
        &self,
        identities: &[Fr],
        amount_each: U256,
    ) -> Result<Submitted<Vec<CreditEscrow::Deposited>>, ChainError> {
        let count = identities.len();
        let total = amount_each
            .checked_mul(U256::from(count))
            .ok_or_else(|| ChainError::InvalidValue("the batch's total overflows".into()))?;
        let ids = identities.iter().map(fr_to_u256).collect();
        let call = self.instance.depositBatch(ids).value(total);
        self.submit_with(call, "Deposited (one per identity)", |receipt| {
            let events: Vec<_> = receipt
                .logs()
                .iter()
                .filter_map(|log| log.log_decode::<CreditEscrow::Deposited>().ok())
                .map(|log| log.inner.data)
                .collect();
            (events.len() == count).then_some(events)
        })
        .await
    }

    /// Deposits `amount` of the escrow's token for `identity` (token escrows; approve first).
    pub async fn deposit_token(
        &self,
        identity: Fr,
        amount: U256,
    ) -> Result<Submitted<CreditEscrow::Deposited>, ChainError> {
        self.submit(self.instance.depositToken(fr_to_u256(&identity), amount)).await
    }

    /// Slashes `identity` with a proof bound to `receiver` and this escrow's scope. No tree
    /// state is involved, so no transaction in between can make it fail: an Active or Exiting
    /// deposit is paid out ([`SlashEffect::Slashed`]), the leaf of an Exited or Swept one is
    /// condemned ([`SlashEffect::LeafCondemned`]); either way a later batch
    /// ([`Escrow::insert_batch`]) zeroes the leaf.
    pub async fn slash(
        &self,
        identity: Fr,
        receiver: Address,
        proof: &Proof<Bn254>,
    ) -> Result<Submitted<SlashEffect>, ChainError> {
        let proof = ICreditEscrow::Proof::from(proof);
        let call = self.instance.slash(fr_to_u256(&identity), receiver, proof);
        self.submit_with(call, "Slashed or LeafCondemned", |receipt| {
            receipt
                .decoded_log::<CreditEscrow::Slashed>()
                .map(|log| SlashEffect::Slashed(log.data))
                .or_else(|| {
                    receipt
                        .decoded_log::<CreditEscrow::LeafCondemned>()
                        .map(|log| SlashEffect::LeafCondemned(log.data))
                })
        })
        .await
    }

    /// Sends the slash of [`Escrow::slash`] from `from` (the provider's wallet) without waiting
    /// for it, with `nonce` and fees 25 % above `fees` when it replaces an earlier transaction
    /// (else the account's next pending nonce and the current fees), never above
    /// `max_fee_per_gas`,
    /// so the caller can record the hash before anything can go wrong. A call the escrow would
    /// refuse comes back decoded and is not sent.
    pub async fn send_slash(
        &self,
        identity: Fr,
        receiver: Address,
        proof: &Proof<Bn254>,
        from: Address,
        replacing: Option<(u64, Fees)>,
        max_fee_per_gas: u128,
    ) -> Result<Sent, ChainError> {
        let call = self.instance.slash(fr_to_u256(&identity), receiver, proof.into()).from(from);
        let gas = call.estimate_gas().await?;
        let provider = self.instance.provider();
        let current = provider.estimate_eip1559_fees().await?;
        let current = Fees {
            max_fee_per_gas: current.max_fee_per_gas,
            max_priority_fee_per_gas: current.max_priority_fee_per_gas,
        };
        let (nonce, fees) = match replacing {
            Some((nonce, earlier)) => (nonce, earlier.bumped().max(current)),
            None => (provider.get_transaction_count(from).pending().await?, current),
        };
        let fees = fees.capped(max_fee_per_gas);
        let pending = call
            .gas(gas.saturating_add(gas / 5))
            .nonce(nonce)
            .max_fee_per_gas(fees.max_fee_per_gas)
            .max_priority_fee_per_gas(fees.max_priority_fee_per_gas)
            .send()
            .await?;
        Ok(Sent { tx_hash: *pending.tx_hash(), nonce, fees })
    }

    /// The receipt of `tx_hash`: `None` while it is not mined.
    pub async fn receipt(&self, tx_hash: TxHash) -> Result<Option<TransactionReceipt>, ChainError> {
        Ok(self.instance.provider().get_transaction_receipt(tx_hash).await?)
    }

    /// How many transactions `account` has had mined.
    pub async fn mined_nonce(&self, account: Address) -> Result<u64, ChainError> {
        Ok(self.instance.provider().get_transaction_count(account).await?)
    }

    /// Appends the next `count` queued deposits from `start` (the tree's size the batch was
    /// proven from, with root `pre_root`) and zeroes `removed_identity` (zero: none), the
    /// removal due, with a `batch_insert` proof of `post_root`. A batch made stale by another one
    /// or by a slash reverts before the pairing: `StaleBatch` (the size moved), `StaleRoot` (a
    /// removal-only batch landed) or `StaleRemoval` (a slash made a removal due). The
    /// transaction offers the current fees, each at most `max_fee_per_gas` (wei).
    #[allow(clippy::too_many_arguments)] // the call's five signals, its proof and the fee ceiling
    pub async fn insert_batch(
        &self,
        start: u64,
        count: u64,
        pre_root: Fr,
        removed_identity: Fr,
        post_root: Fr,
        proof: &Proof<Bn254>,
        max_fee_per_gas: u128,
    ) -> Result<Submitted<CreditEscrow::BatchInserted>, ChainError> {
        let current = self.instance.provider().estimate_eip1559_fees().await?;
        let fees = Fees {
            max_fee_per_gas: current.max_fee_per_gas,
            max_priority_fee_per_gas: current.max_priority_fee_per_gas,
        }
        .capped(max_fee_per_gas);
        let call = self
            .instance
            .insertBatch(
                U256::from(start),
                U256::from(count),
                fr_to_u256(&pre_root),
                fr_to_u256(&removed_identity),
                fr_to_u256(&post_root),
                ICreditEscrow::Proof::from(proof),
            )
            .max_fee_per_gas(fees.max_fee_per_gas)
            .max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        self.submit(call).await
    }

    /// The deposit queue's accumulator after its first `position` deposits (the escrow keeps
    /// it from the tree's size to the queue's length).
    pub async fn accumulator_at(&self, position: u64) -> Result<Fr, ChainError> {
        u256_to_fr(self.instance.accumulatorAt(U256::from(position)).call().await?)
    }

    /// The condemned identity whose leaf a batch must remove next (zero when none): the escrow
    /// removes leaves in the order they were condemned, each in the first batch whose end
    /// passes its index.
    pub async fn next_removal(&self) -> Result<Fr, ChainError> {
        u256_to_fr(self.instance.nextRemoval().call().await?)
    }

    /// How many condemned leaves await removal.
    pub async fn pending_removals(&self) -> Result<u64, ChainError> {
        u256_to_u64(self.instance.pendingRemovals().call().await?, "pending removals")
    }

    /// Requests an exit.
    pub async fn request_exit(
        &self,
        exit: &ExitRequest,
        proof: &Proof<Bn254>,
    ) -> Result<Submitted<CreditEscrow::ExitRequested>, ChainError> {
        self.submit(self.instance.requestExit(
            fr_to_u256(&exit.identity),
            exit.recipient,
            exit.amount,
            fr_to_u256(&exit.nullifier),
            fr_to_u256(&exit.y),
            fr_to_u256(&exit.signer_root),
            ICreditEscrow::Proof::from(proof),
        ))
        .await
    }

    /// Finalizes `identity`'s exit after the delay.
    pub async fn finalize_exit(
        &self,
        identity: Fr,
    ) -> Result<Submitted<CreditEscrow::ExitFinalized>, ChainError> {
        self.submit(self.instance.finalizeExit(fr_to_u256(&identity))).await
    }

    /// Sweeps `identity`'s expired note to the treasury.
    pub async fn sweep_expired(
        &self,
        identity: Fr,
    ) -> Result<Submitted<CreditEscrow::Swept>, ChainError> {
        self.submit(self.instance.sweepExpired(fr_to_u256(&identity))).await
    }

    /// Sets the signer root (the provider's wallet must be the operator).
    pub async fn set_signer_root(
        &self,
        root: Fr,
    ) -> Result<Submitted<CreditEscrow::SignerRootSet>, ChainError> {
        self.submit(self.instance.setSignerRoot(fr_to_u256(&root))).await
    }

    /// The deployment scope `Poseidon(chainId, escrow)`.
    pub async fn scope(&self) -> Result<Fr, ChainError> {
        u256_to_fr(self.instance.scope().call().await?)
    }

    /// The current signer root.
    pub async fn signer_root(&self) -> Result<Fr, ChainError> {
        u256_to_fr(self.instance.signerRoot().call().await?)
    }

    /// Whether `root` has ever been the signer root.
    pub async fn is_known_signer_root(&self, root: Fr) -> Result<bool, ChainError> {
        Ok(self.instance.isKnownSignerRoot(fr_to_u256(&root)).call().await?)
    }

    /// When the revocation of `root` takes effect (unix seconds), or 0 when none is scheduled.
    pub async fn signer_root_revoked_at(&self, root: Fr) -> Result<u64, ChainError> {
        u256_to_u64(
            self.instance.signerRootRevokedAt(fr_to_u256(&root)).call().await?,
            "revocation time",
        )
    }

    /// The deployment parameters.
    pub async fn parameters(&self) -> Result<ICreditEscrow::Parameters, ChainError> {
        Ok(self.instance.parameters().call().await?)
    }

    /// The deposit of `identity`.
    pub async fn deposit_record(
        &self,
        identity: Fr,
    ) -> Result<ICreditEscrow::DepositRecord, ChainError> {
        Ok(self.instance.deposits(fr_to_u256(&identity)).call().await?)
    }

    /// The deposit of `identity` as of block `block`.
    pub async fn deposit_record_at(
        &self,
        identity: Fr,
        block: u64,
    ) -> Result<ICreditEscrow::DepositRecord, ChainError> {
        Ok(self.instance.deposits(fr_to_u256(&identity)).block(block.into()).call().await?)
    }

    /// The tree's root (zero while empty) and size, and the deposit queue's length: deposits
    /// `size..queued` wait for a batch.
    pub async fn tree(&self) -> Result<(Fr, u64, u64), ChainError> {
        let tree = self.instance.tree().call().await?;
        Ok((
            u256_to_fr(tree.root)?,
            u256_to_u64(tree.size, "tree size")?,
            u256_to_u64(tree.queued, "queue length")?,
        ))
    }

    /// [`Escrow::submit_with`] for a call that emits the event `E`.
    async fn submit<C, E>(&self, call: SolCallBuilder<&P, C>) -> Result<Submitted<E>, ChainError>
    where
        C: SolCall + Send + Sync,
        E: SolEvent,
    {
        self.submit_with(call, E::SIGNATURE, |receipt| {
            receipt.decoded_log::<E>().map(|log| log.data)
        })
        .await
    }

    /// Estimates the call (a revert comes back decoded, nothing is sent), sends it, waits for
    /// the receipt and the confirmations, and returns what `event` finds in the receipt
    /// (`expected` names it when it finds nothing).
    async fn submit_with<C, E>(
        &self,
        call: SolCallBuilder<&P, C>,
        expected: &'static str,
        event: impl FnOnce(&TransactionReceipt) -> Option<E>,
    ) -> Result<Submitted<E>, ChainError>
    where
        C: SolCall + Send + Sync,
    {
        // Estimating before the wallet's fillers run keeps a refused call from taking a nonce
        // (a cached nonce spent on a transaction never sent would stall every later one).
        let gas = call.estimate_gas().await?;
        let pending = call.gas(gas.saturating_add(gas / 5)).send().await?;
        let receipt: TransactionReceipt = pending
            .with_required_confirmations(self.options.confirmations)
            .with_timeout(Some(self.options.timeout))
            .get_receipt()
            .await?;
        let tx_hash = receipt.transaction_hash;
        if !receipt.status() {
            return Err(ChainError::FailedOnChain(tx_hash));
        }
        let event = event(&receipt).ok_or(ChainError::MissingEvent(tx_hash, expected))?;
        Ok(Submitted {
            tx_hash,
            block_number: receipt.block_number.unwrap_or_default(),
            gas_used: receipt.gas_used,
            event,
        })
    }
}
