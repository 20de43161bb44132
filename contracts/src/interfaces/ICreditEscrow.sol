// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

/// @title zkcredits credit escrow
/// @notice Holds the deposits behind anonymous API credits. A deposit inserts the leaf
/// `Poseidon(ID, D, E)` into a LeanIMT whose roots request proofs are checked against off chain.
/// A deposit ends in exactly one way: slashed (someone proved knowledge of its secret), exited
/// (its owner proved what is left), or swept (its note expired without an exit).
/// @dev The state machine per identity is `None → Active → {Exiting → {Exited, Slashed}, Slashed,
/// Swept}`. Only a slash removes a leaf from the tree; exits and expiry never touch it
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

    /// @notice A deposit, packed into one storage slot.
    /// @param amount The deposit `D` in token base units (`< 2^96`).
    /// @param expiry The note's expiry `E = depositTime + NOTE_TTL` (unix seconds).
    /// @param status Where the deposit is in its life.
    /// @param exitAmount What a pending or finalized exit pays its recipient.
    struct DepositRecord {
        uint96 amount;
        uint40 expiry;
        Status status;
        uint96 exitAmount;
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
    /// @notice The identity's deposit is neither Active nor Exiting.
    error DepositNotSlashable(uint256 identity, Status status);
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

    /// @notice A deposit was slashed: its leaf was removed and its funds paid out.
    /// @param identity The slashed identity.
    /// @param receiver Who the proof named to receive the bounty.
    /// @param leafIndex The index of the removed leaf (now zero).
    /// @param bounty `min(SLASH_BOUNTY, D)`, paid to `receiver`.
    /// @param toTreasury The rest of the deposit, paid to the treasury.
    /// @param root The tree root after the removal.
    event Slashed(
        uint256 indexed identity,
        address indexed receiver,
        uint256 leafIndex,
        uint256 bounty,
        uint256 toTreasury,
        uint256 root
    );

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

    /// @notice The signer root changed; every root ever set stays valid for exits.
    event SignerRootSet(uint256 indexed previousRoot, uint256 indexed newRoot);

    /// @notice A push payout failed; `account` can `claim` it.
    event PayoutDeferred(address indexed account, uint256 amount);

    /// @notice A deferred payout was claimed.
    event Claimed(address indexed account, address indexed to, uint256 amount);

    // ---------------------------------------------------------------------------------------------
    // State-changing functions
    // ---------------------------------------------------------------------------------------------

    /// @notice Deposits `msg.value` ETH for `identity` (ETH escrows only).
    /// @dev Requires a fresh identity below the field, `C_MAX ≤ msg.value < 2^96`.
    /// @return leafIndex The index of the inserted leaf.
    function deposit(uint256 identity) external payable returns (uint256 leafIndex);

    /// @notice Deposits `amount` of the escrow's token for `identity` (token escrows only); the
    /// caller must have approved the escrow.
    /// @return leafIndex The index of the inserted leaf.
    function depositToken(uint256 identity, uint256 amount) external returns (uint256 leafIndex);

    /// @notice Slashes an Active or Exiting deposit with a proof of knowledge of its secret bound
    /// to `receiver`, who gets `min(SLASH_BOUNTY, D)`; the treasury gets the rest. Cancels a
    /// pending exit and removes the identity's leaf.
    /// @param siblingNodes The leaf's LeanIMT siblings in the current tree (non-empty levels only).
    function slash(uint256 identity, address receiver, Proof calldata proof, uint256[] calldata siblingNodes) external;

    /// @notice Starts the exit of an Active deposit before its note expires: the proof shows
    /// that `amount` is what is left after the last ticket `w` and carries the RLN share of `w`.
    /// @param signerRoot A signer root the escrow has had, under which the latest state is signed.
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

    /// @notice Sets the signer root (operator only). Every root ever set stays valid for exits.
    function setSignerRoot(uint256 newRoot) external;

    /// @notice Pays the caller's deferred payouts to `to`.
    function claim(address to) external;

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @notice `Poseidon(chainId, address(this))`, the domain separator of every proof.
    function scope() external view returns (uint256);

    /// @notice The deployment parameters.
    function parameters() external view returns (Parameters memory);

    /// @notice The current signer root.
    function signerRoot() external view returns (uint256);

    /// @notice Whether `root` has ever been the signer root.
    function isKnownSignerRoot(uint256 root) external view returns (bool);

    /// @notice The deposit of `identity`.
    function deposits(uint256 identity) external view returns (DepositRecord memory);

    /// @notice The pending exit of `identity` (zero when none).
    function pendingExits(uint256 identity) external view returns (PendingExit memory);

    /// @notice Deferred payouts `account` can claim.
    function claimable(address account) external view returns (uint256);

    /// @notice The tree's current root, size and depth.
    function tree() external view returns (uint256 root, uint256 size, uint256 depth);

    /// @notice The last `ROOT_HISTORY_SIZE` roots, newest first (zero where fewer exist).
    function recentRoots() external view returns (uint256[] memory roots);

    /// @notice Whether `root` is among the last `ROOT_HISTORY_SIZE` roots.
    function isRecentRoot(uint256 root) external view returns (bool);
}
