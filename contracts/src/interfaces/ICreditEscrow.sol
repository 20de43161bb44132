// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

/// @title zkcredits credit escrow
/// @notice Holds the deposits behind anonymous API credits. A deposit inserts the leaf
/// `Poseidon(ID, D, E)` into a LeanIMT whose roots request proofs are checked against off chain.
/// A deposit ends in exactly one way: slashed (someone proved knowledge of its secret), exited
/// (its owner proved what is left), or swept (its note expired without an exit).
/// @dev The state machine per identity is `None → Active → {Exiting → {Exited, Slashed}, Slashed,
/// Swept}`. Beside it, a leaf is `InTree` until a slash proof condemns it (the deposit's own slash,
/// or a later one of an Exited identity) and `Removed` once `removeLeaf` zeroes it, in the order
/// the leaves were condemned; exits and expiry never touch the tree (spec/04-escrow-contract.md
/// says why).
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

    /// @notice Where a deposit's leaf is: a slash proof condemns it, `removeLeaf` then zeroes it.
    enum LeafState {
        InTree,
        Condemned,
        Removed
    }

    /// @notice A deposit, packed into one storage slot.
    /// @param amount The deposit `D` in token base units (`< 2^96`).
    /// @param expiry The note's expiry `E = depositTime + NOTE_TTL` (unix seconds).
    /// @param status Where the deposit is in its life.
    /// @param exitAmount What a pending or finalized exit pays its recipient.
    /// @param leaf Where the deposit's leaf is.
    struct DepositRecord {
        uint96 amount;
        uint40 expiry;
        Status status;
        uint96 exitAmount;
        LeafState leaf;
    }

    /// @notice A pending exit's recipient and the time from which it can be finalized.
    struct PendingExit {
        address recipient;
        uint64 finalizableAt;
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
    struct Parameters {
        address token;
        uint64 cMax;
        uint64 exitDelay;
        uint64 noteTtl;
        uint128 slashBounty;
        address treasury;
        address exitVerifier;
        address slashVerifier;
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
    /// @notice The identity's leaf is not waiting for removal.
    error LeafNotCondemned(uint256 identity);
    /// @notice Condemned leaves are removed in the order they were condemned; `next` is the one
    /// to remove now.
    error RemovalOutOfOrder(uint256 next);
    /// @notice `removeLeaf` got a different number of siblings than the leaf has in the tree.
    error WrongSiblingCount(uint256 expected, uint256 given);
    /// @notice Deposits wait until every condemned leaf is removed, so that nothing but removals
    /// changes the tree while a removal's siblings are in flight.
    error LeafRemovalPending(uint256 pending);
    /// @notice The tree holds `TREE_CAPACITY` leaves, the most the request circuit can prove.
    error TreeFull(uint256 capacity);
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

    /// @notice A deposit was made and its leaf inserted.
    /// @param identity The identity commitment `ID = Poseidon(k)`.
    /// @param amount The deposit `D`.
    /// @param expiry The note's expiry `E`.
    /// @param leafIndex The leaf's index in the tree.
    /// @param leaf `Poseidon(ID, D, E)`.
    /// @param root The tree root after the insertion.
    event Deposited(
        uint256 indexed identity, uint256 amount, uint256 expiry, uint256 leafIndex, uint256 leaf, uint256 root
    );

    /// @notice A deposit was slashed: its funds were paid out and its leaf condemned (see
    /// `removeLeaf`).
    /// @param identity The slashed identity.
    /// @param receiver Who the proof named to receive the bounty.
    /// @param bounty `min(SLASH_BOUNTY, D)`, paid to `receiver`.
    /// @param toTreasury The rest of the deposit, paid to the treasury.
    event Slashed(uint256 indexed identity, address indexed receiver, uint256 bounty, uint256 toTreasury);

    /// @notice A slash proof condemned the leaf of an Exited identity, which has no funds left but
    /// whose leaf a node that missed the exit might still serve.
    event LeafCondemned(uint256 indexed identity);

    /// @notice A condemned leaf was zeroed.
    /// @param leafIndex The index of the removed leaf.
    /// @param root The tree root after the removal.
    event LeafRemoved(uint256 indexed identity, uint256 leafIndex, uint256 root);

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

    /// @notice Deposits `msg.value` ETH for `identity` (ETH escrows only).
    /// @dev Requires a fresh identity below the field, `C_MAX ≤ msg.value < 2^96`, room in the
    /// tree, and no condemned leaf waiting for `removeLeaf`.
    /// @return leafIndex The index of the inserted leaf.
    function deposit(uint256 identity) external payable returns (uint256 leafIndex);

    /// @notice Deposits `amount` of the escrow's token for `identity` (token escrows only); the
    /// caller must have approved the escrow.
    /// @return leafIndex The index of the inserted leaf.
    function depositToken(uint256 identity, uint256 amount) external returns (uint256 leafIndex);

    /// @notice Deposits `msg.value / identities.length` ETH for each of `identities` in one
    /// transaction (ETH escrows only): one note per identity, each checked and inserted as by
    /// `deposit`, in order. A client that wants K parallel calls needs K notes.
    /// @dev Chain observers see the notes were made together; a user who minds deposits apart.
    /// @return firstLeafIndex The index of the first inserted leaf; the others follow it.
    function depositBatch(uint256[] calldata identities) external payable returns (uint256 firstLeafIndex);

    /// @notice Deposits `amountEach` of the escrow's token for each of `identities` in one
    /// transaction with one transfer of the total (token escrows only; approve the total first).
    /// @return firstLeafIndex The index of the first inserted leaf; the others follow it.
    function depositTokenBatch(uint256[] calldata identities, uint256 amountEach)
        external
        returns (uint256 firstLeafIndex);

    /// @notice Slashes an Active or Exiting deposit with a proof of knowledge of its secret bound
    /// to `receiver` and this escrow's scope: `receiver` gets `min(SLASH_BOUNTY, D)`, the treasury
    /// the rest, a pending exit is cancelled. The same proof for an Exited identity pays nothing.
    /// Either way the leaf is condemned and joins the removal queue: deposits pause until
    /// `removeLeaf` zeroes it. A Swept identity cannot be slashed: its note expired.
    /// @dev Takes no Merkle siblings, so no transaction in between can make it fail.
    function slash(uint256 identity, address receiver, Proof calldata proof) external;

    /// @notice Zeroes the oldest condemned leaf, `nextRemoval()` (permissionless, retryable without
    /// deadline). Siblings read while `identity` is the queue head stay valid until it is removed.
    /// @param siblingNodes The leaf's LeanIMT siblings in the current tree, bottom up, one per
    /// level where the leaf's node has a sibling (as `LeanImt::proof` returns them).
    function removeLeaf(uint256 identity, uint256[] calldata siblingNodes) external;

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

    /// @notice The tree's current root, size and depth.
    function tree() external view returns (uint256 root, uint256 size, uint256 depth);

    /// @notice How many condemned leaves wait for `removeLeaf`; deposits revert while any do.
    function pendingRemovals() external view returns (uint256);

    /// @notice The condemned leaf `removeLeaf` takes next, the oldest one (0 when none waits).
    function nextRemoval() external view returns (uint256 identity);

    /// @notice The last `ROOT_HISTORY_SIZE` roots, newest first (zero where fewer exist).
    function recentRoots() external view returns (uint256[] memory roots);

    /// @notice Whether `root` is among the last `ROOT_HISTORY_SIZE` roots.
    function isRecentRoot(uint256 root) external view returns (bool);
}
