// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

/// @title zkcredits credit escrow
/// @notice Holds the deposits behind anonymous API credits. A deposit queues the note
/// `(ID, D, E)` behind a Poseidon accumulator; `insertBatch` (anyone may call it) appends queued
/// notes' leaves `Poseidon(ID, D, E)` to a LeanIMT with a Groth16 proof of the new root, against
/// which request proofs are checked off chain. A deposit ends in exactly one way: slashed (someone
/// proved knowledge of its secret), exited (its owner proved what is left), or swept (its note
/// expired without an exit).
/// @dev The state machine per identity is `None → Active → {Exiting → {Exited, Slashed}, Slashed,
/// Swept}`. Beside it, a leaf is `InTree` (queued or inserted) until a slash proof condemns it
/// (the deposit's own slash, or a later one of an Exited identity) and `Removed` once a batch
/// zeroes it, in the order the leaves were condemned; exits and expiry never touch the tree
/// (spec/04-escrow-contract.md says why).
interface ICreditEscrow {
    /// @notice Where a deposit is in its life.
    enum Status {
        None,
        Active,
        Exiting,
        Exited,
        Slashed,
        Swept
    }

    /// @notice Where a deposit's leaf is: queued or in the tree, condemned by a slash proof, then
    /// zeroed by the batch that removes it.
    enum LeafState {
        InTree,
        Condemned,
        Removed
    }

    /// @notice A deposit, packed into one storage slot.
    /// @param amount The deposit `D` in token base units (`< 2^96`).
    /// @param expiry The note's expiry `E = depositTime + NOTE_TTL` (unix seconds).
    /// @param status Where the deposit is in its life.
    /// @param leaf Where the deposit's leaf is.
    /// @param finalizableAt When a pending or finalized exit could be or was finalized (0: none).
    /// @param leafIndex The note's position in the deposit queue, which is its leaf's index.
    struct DepositRecord {
        uint96 amount;
        uint40 expiry;
        Status status;
        LeafState leaf;
        uint40 finalizableAt;
        uint32 leafIndex;
    }

    /// @notice What a pending exit pays, and to whom (deleted when the exit is finalized or
    /// slashed; `ExitFinalized` keeps the amount).
    struct PendingExit {
        address recipient;
        uint96 amount;
    }

    /// @notice A Groth16 proof, `b` given as `[[x.c1, x.c0], [y.c1, y.c0]]`.
    struct Proof {
        uint256[2] a;
        uint256[2][2] b;
        uint256[2] c;
    }

    /// @notice The immutable parameters of a deployment.
    /// @param token The deposited ERC-20, or the zero address for ETH.
    /// @param cMax `C_MAX`, the most one request may cost; also the smallest deposit.
    /// @param exitDelay `EXIT_DELAY`, seconds between `requestExit` and `finalizeExit`.
    /// @param noteTtl `NOTE_TTL`, seconds from a deposit to its expiry `E`.
    /// @param slashBounty `SLASH_BOUNTY`, what a slash pays its receiver (at most the deposit).
    /// @param treasury Receives slashed deposits beyond the bounty, spent credits and expired notes.
    /// @param exitVerifier The Groth16 verifier of the `exit` circuit.
    /// @param slashVerifier The Groth16 verifier of the `slash` circuit.
    /// @param batchInsertVerifier The Groth16 verifier of the `batch_insert` circuit.
    struct Parameters {
        address token;
        uint64 cMax;
        uint64 exitDelay;
        uint64 noteTtl;
        uint128 slashBounty;
        address treasury;
        address exitVerifier;
        address slashVerifier;
        address batchInsertVerifier;
    }

    // ---------------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------------

    /// @notice The identity is zero or not below the BN254 scalar field.
    error InvalidIdentity(uint256 identity);
    /// @notice The identity already has a deposit (an identity is deposited once).
    error IdentityAlreadyDeposited(uint256 identity);
    /// @notice The deposit is below `C_MAX` (it could not pay a single request).
    error DepositBelowMinimum(uint256 amount, uint256 minimum);
    /// @notice The deposit does not fit in 96 bits.
    error DepositTooLarge(uint256 amount);
    /// @notice ETH was sent to a token escrow, or `deposit` was used on a token escrow.
    error EthNotAccepted();
    /// @notice `depositToken` was used on an ETH escrow.
    error TokenNotAccepted();
    /// @notice The token moved a different amount than requested (fee-on-transfer tokens are
    /// unsupported).
    error TransferAmountMismatch(uint256 expected, uint256 received);
    /// @notice The token refused or failed the transfer.
    error TokenTransferFailed(address token);
    /// @notice The identity's deposit is not Active.
    error DepositNotActive(uint256 identity, Status status);
    /// @notice The identity has no deposit, its note was swept (it expired, so no request proof
    /// exists for it), or its leaf was already condemned (a deposit is slashed once; an Exited
    /// one's leaf is condemned once).
    error DepositNotSlashable(uint256 identity, Status status);
    /// @notice `TREE_CAPACITY` notes were deposited, the most leaves the request circuit can
    /// prove.
    error TreeFull(uint256 capacity);
    /// @notice `QUEUE_CAPACITY − 1` deposits wait for insertion: insert a batch first
    /// (`insertBatch`; any account may).
    error QueueFull(uint256 waiting);
    /// @notice Another batch landed first: the tree now holds `inserted` leaves. Prove the next
    /// batch from there.
    error StaleBatch(uint256 inserted);
    /// @notice The batch was proven against another root than the current one, `root`: a batch
    /// that only removed a leaf landed first. Prove it again from `root`.
    error StaleRoot(uint256 root);
    /// @notice A batch appends more than `BATCH_INSERT_SIZE` (64) leaves.
    error BatchTooLarge(uint256 count, uint256 maximum);
    /// @notice A batch reaches past the queue: only `queued` notes were deposited.
    error BatchBeyondQueue(uint256 end, uint256 queued);
    /// @notice The batch was proven with another removal than the one now due, `due` (0: none):
    /// a batch or a slash landed since. Prove it again with `due`.
    error StaleRemoval(uint256 due);
    /// @notice A batch that appends nothing must remove the condemned leaf due; none is due.
    error EmptyBatch();
    /// @notice The queue keeps accumulators only for positions from the tree's size to the
    /// queue's length.
    error PositionOutsideQueue(uint256 position, uint256 size, uint256 queued);
    /// @notice A batch deposit names no identity, or more than `MAX_DEPOSIT_BATCH` (16).
    error BatchSizeOutOfRange(uint256 count, uint256 maximum);
    /// @notice A batch deposit's ETH does not split into equal whole deposits.
    error BatchValueNotDivisible(uint256 value, uint256 count);
    /// @notice The identity has no pending exit.
    error NoPendingExit(uint256 identity);
    /// @notice The exit delay has not elapsed yet.
    error ExitDelayNotElapsed(uint256 identity, uint256 finalizableAt);
    /// @notice The note expired: an exit must be requested before `E`.
    error NoteExpired(uint256 identity, uint256 expiry);
    /// @notice The note has not expired yet, so it cannot be swept.
    error NoteNotExpired(uint256 identity, uint256 expiry);
    /// @notice The exit would pay more than the deposit.
    error ExitAmountExceedsDeposit(uint256 amount, uint256 deposit);
    /// @notice The signer root was never the escrow's signer root.
    error UnknownSignerRoot(uint256 signerRoot);
    /// @notice The signer root was revoked at or before this note's deposit (its expiry is not
    /// before `effectiveAt`): only notes that existed at the announcement can exit under it.
    error RevokedSignerRoot(uint256 signerRoot, uint256 effectiveAt);
    /// @notice The current signer root cannot be revoked (set a new one first).
    error CannotRevokeCurrentSignerRoot(uint256 signerRoot);
    /// @notice The signer root was revoked already; a revoked root never becomes current again.
    error SignerRootAlreadyRevoked(uint256 signerRoot, uint256 effectiveAt);
    /// @notice A signer root must be a non-zero field element.
    error InvalidSignerRoot(uint256 signerRoot);
    /// @notice A field element passed as a public signal is not below the BN254 scalar field.
    error PublicSignalOutsideField(uint256 value);
    /// @notice A payout or the treasury address is the zero address.
    error ZeroAddress();
    /// @notice The Groth16 proof does not verify for these public signals.
    error InvalidProof();
    /// @notice The caller has nothing to claim.
    error NothingToClaim(address account);
    /// @notice Paying a claim failed.
    error ClaimFailed(address to, uint256 amount);
    /// @notice A constructor parameter is out of range.
    error InvalidParameter(string name);
    /// @notice A verifier's `selfTest` returned false or failed: it would reject valid proofs on
    /// this chain (repriced precompiles, for one).
    error VerifierSelfTestFailed(address verifier);

    // ---------------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------------

    /// @notice A deposit was made and its note queued; a later `BatchInserted` appends its leaf
    /// `Poseidon(ID, D, E)` at `leafIndex`.
    /// @param identity The identity commitment `ID = Poseidon(k)`.
    /// @param amount The deposit `D`.
    /// @param expiry The note's expiry `E`.
    /// @param leafIndex The note's queue position, the index its leaf takes in the tree.
    event Deposited(uint256 indexed identity, uint256 amount, uint256 expiry, uint256 leafIndex);

    /// @notice A batch appended the leaves of the queued notes `[start, start + count)` and, when
    /// `removedIdentity` is non-zero, then zeroed that condemned identity's leaf at `removedIndex`.
    /// @param root The tree root after the batch.
    event BatchInserted(
        uint256 indexed start, uint256 count, uint256 root, uint256 indexed removedIdentity, uint256 removedIndex
    );

    /// @notice A deposit was slashed: its funds were paid out and its leaf condemned (a later
    /// batch zeroes it).
    /// @param identity The slashed identity.
    /// @param receiver Who the proof named to receive the bounty.
    /// @param bounty `min(SLASH_BOUNTY, D)`, paid to `receiver`.
    /// @param toTreasury The rest of the deposit, paid to the treasury.
    event Slashed(uint256 indexed identity, address indexed receiver, uint256 bounty, uint256 toTreasury);

    /// @notice A slash proof condemned the leaf of an Exited identity, which has no funds left but
    /// whose leaf a node that missed the exit might still serve.
    event LeafCondemned(uint256 indexed identity);

    /// @notice An exit was requested. Nodes ingest `(nullifier, x, y)` with
    /// `x = Poseidon(TAG_EXIT, recipient, amount)` as the share of the exit ticket.
    event ExitRequested(
        uint256 indexed identity,
        address indexed recipient,
        uint256 amount,
        uint256 nullifier,
        uint256 y,
        uint256 signerRoot,
        uint256 finalizableAt
    );

    /// @notice An exit was finalized: `amount` went to the recipient, `toTreasury` to the treasury.
    event ExitFinalized(uint256 indexed identity, address indexed recipient, uint256 amount, uint256 toTreasury);

    /// @notice An expired note's deposit went to the treasury.
    event Swept(uint256 indexed identity, uint256 amount);

    /// @notice The signer root changed; every root ever set stays valid for exits until revoked.
    event SignerRootSet(uint256 indexed previousRoot, uint256 indexed newRoot);

    /// @notice A signer root was revoked: only notes deposited before now (whose expiry is before
    /// `effectiveAt = now + NOTE_TTL`) can still exit under it, until they expire.
    event SignerRootRevoked(uint256 indexed root, uint256 effectiveAt);

    /// @notice A push payout failed; `account` can `claim` it, anyone can `pushClaim` it.
    event PayoutDeferred(address indexed account, uint256 amount);

    /// @notice A deferred payout was claimed.
    event Claimed(address indexed account, address indexed to, uint256 amount);

    // ---------------------------------------------------------------------------------------------
    // State-changing functions
    // ---------------------------------------------------------------------------------------------

    /// @notice Deposits `msg.value` ETH for `identity` (ETH escrows only) and queues its note; the
    /// note can pay once a batch has inserted its leaf.
    /// @dev Requires a fresh identity below the field, `C_MAX ≤ msg.value < 2^96`, room in the
    /// tree, and fewer than `QUEUE_CAPACITY − 1` notes waiting for insertion.
    /// @return leafIndex The note's queue position, the index its leaf takes.
    function deposit(uint256 identity) external payable returns (uint256 leafIndex);

    /// @notice Deposits `amount` of the escrow's token for `identity` (token escrows only); the
    /// caller must have approved the escrow.
    /// @return leafIndex The note's queue position, the index its leaf takes.
    function depositToken(uint256 identity, uint256 amount) external returns (uint256 leafIndex);

    /// @notice Deposits `msg.value / identities.length` ETH for each of `identities` in one
    /// transaction (ETH escrows only): one note per identity, each checked and inserted as by
    /// `deposit`, in order. A client that wants K parallel calls needs K notes.
    /// @dev Chain observers see the notes were made together; a user who minds deposits apart.
    /// @return firstLeafIndex The first note's queue position; the others follow it.
    function depositBatch(uint256[] calldata identities) external payable returns (uint256 firstLeafIndex);

    /// @notice Deposits `amountEach` of the escrow's token for each of `identities` in one
    /// transaction with one transfer of the total (token escrows only; approve the total first).
    /// @return firstLeafIndex The first note's queue position; the others follow it.
    function depositTokenBatch(uint256[] calldata identities, uint256 amountEach)
        external
        returns (uint256 firstLeafIndex);

    /// @notice Slashes an Active or Exiting deposit with a proof of knowledge of its secret bound
    /// to `receiver` and this escrow's scope: `receiver` gets `min(SLASH_BOUNTY, D)`, the treasury
    /// the rest, a pending exit is cancelled. The same proof for an Exited identity pays nothing.
    /// Either way the leaf is condemned and joins the removal queue: once it is the queue's
    /// head, the first batch whose end passes its index zeroes it. A Swept identity cannot be slashed: its note expired.
    /// @dev Takes no Merkle siblings, so no transaction in between can make it fail.
    function slash(uint256 identity, address receiver, Proof calldata proof) external;

    /// @notice Appends the leaves of the next `count` queued notes to the tree (permissionless) and
    /// zeroes the oldest condemned leaf, `nextRemoval()`, once its index is below
    /// `start + count`; the new root joins the recent roots.
    /// @dev The proof's public signals come from storage: the current root, `postRoot`, `start`,
    /// `count`, the queue's accumulator at `start` and at `start + count`, and the removal (or
    /// zeros). A batch proven from another state reverts before the pairing: `StaleBatch` for
    /// another `start`, `StaleRoot` for another root (a removal-only batch landed), and
    /// `StaleRemoval` for another removal than the one due (a slash landed).
    /// @param start The tree's size the batch was proven from (`tree().size`).
    /// @param count How many queued notes it appends, at most `BATCH_INSERT_SIZE`; may be zero
    /// when a removal is due.
    /// @param preRoot The root the batch was proven from (`tree().root`).
    /// @param removedIdentity The condemned identity the batch zeroes: the one due, or 0 when none
    /// is.
    /// @param postRoot The tree root after the batch.
    function insertBatch(
        uint256 start,
        uint256 count,
        uint256 preRoot,
        uint256 removedIdentity,
        uint256 postRoot,
        Proof calldata proof
    ) external;

    /// @notice Starts the exit of an Active deposit before its note expires: the proof shows
    /// that `amount` is what is left after the last ticket `w` and carries the RLN share of `w`.
    /// @param signerRoot A signer root the escrow has had, under which the latest state is signed,
    /// and whose revocation (if any) was announced after the note's deposit.
    function requestExit(
        uint256 identity,
        address recipient,
        uint256 amount,
        uint256 nullifier,
        uint256 y,
        uint256 signerRoot,
        Proof calldata proof
    ) external;

    /// @notice Pays a pending exit once `EXIT_DELAY` has passed: `amount` to the recipient,
    /// `D − amount` to the treasury.
    function finalizeExit(uint256 identity) external;

    /// @notice Moves an Active deposit whose note expired to the treasury.
    function sweepExpired(uint256 identity) external;

    /// @notice Sets the signer root (operator only). Every root ever set stays valid for exits
    /// until revoked; a revoked root cannot be set again.
    function setSignerRoot(uint256 newRoot) external;

    /// @notice Revokes an earlier signer root (operator only, for a leaked signer key): notes
    /// deposited from now on can never exit under it; older notes still can until they expire,
    /// which is before the revocation's `effectiveAt = now + NOTE_TTL`.
    function revokeSignerRoot(uint256 root) external;

    /// @notice Pays the caller's deferred payouts to `to`.
    function claim(address to) external;

    /// @notice Pays `account`'s deferred payouts to `account`, forwarding all gas (for payees that
    /// need more than `PAYOUT_GAS` and cannot call `claim`).
    function pushClaim(address account) external;

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @notice `Poseidon(chainId, address(this))`, the domain separator of every proof.
    function scope() external view returns (uint256);

    /// @notice The deployment parameters.
    function parameters() external view returns (Parameters memory);

    /// @notice The current signer root.
    function signerRoot() external view returns (uint256);

    /// @notice Whether `root` has ever been the signer root (revoked roots included).
    function isKnownSignerRoot(uint256 root) external view returns (bool);

    /// @notice When `root`'s revocation takes or took effect, `NOTE_TTL` after its announcement
    /// (0: never revoked).
    function signerRootRevokedAt(uint256 root) external view returns (uint256);

    /// @notice The deposit of `identity`.
    function deposits(uint256 identity) external view returns (DepositRecord memory);

    /// @notice The pending exit of `identity` (zero when none).
    function pendingExits(uint256 identity) external view returns (PendingExit memory);

    /// @notice Deferred payouts `account` can claim.
    function claimable(address account) external view returns (uint256);

    /// @notice The tree's current root (0 while empty) and how many leaves it holds; the deposit
    /// queue's length (notes ever deposited). Notes `[size, queued)` wait for `insertBatch`.
    function tree() external view returns (uint256 root, uint256 size, uint256 queued);

    /// @notice The deposit queue's accumulator after its first `position` notes, for
    /// `size ≤ position ≤ queued` (earlier ones are overwritten): `acc_0 = 0`,
    /// `acc_{i+1} = Poseidon(acc_i + D·2^40 + E, ID)`.
    function accumulatorAt(uint256 position) external view returns (uint256);

    /// @notice How many condemned leaves wait for a batch to zero them.
    function pendingRemovals() external view returns (uint256);

    /// @notice The condemned leaf the next batch zeroes once its index is below the batch's end,
    /// the oldest one (0 when none waits).
    function nextRemoval() external view returns (uint256 identity);

    /// @notice The last `ROOT_HISTORY_SIZE` roots, newest first (zero where fewer exist).
    function recentRoots() external view returns (uint256[] memory roots);

    /// @notice Whether `root` is among the last `ROOT_HISTORY_SIZE` roots.
    function isRecentRoot(uint256 root) external view returns (bool);
}
