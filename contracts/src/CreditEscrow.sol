// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {PoseidonT3} from "poseidon-solidity/PoseidonT3.sol";
import {ICreditEscrow} from "./interfaces/ICreditEscrow.sol";

/// @notice What every generated Groth16 verifier exposes beside `verifyProof`.
interface IGroth16Verifier {
    /// @notice Verifies an embedded known-good proof: false when this chain's precompiles would
    /// reject valid proofs (repriced beyond the gas the verifier gives them, or missing).
    function selfTest() external view returns (bool);

    /// @notice True when the verifying key comes from the deterministic development setup, under
    /// which anyone can forge proofs.
    // forge-lint: disable-next-line(mixed-case-function) the generated constant's getter
    function INSECURE_DEV_SETUP() external view returns (bool);
}

/// @notice The generated `exit` verifier's entry points. The escrow folds the signals it fixes,
/// `scope` and `cMax`, into the key once at deployment and passes the other seven with each proof.
interface IExitVerifier is IGroth16Verifier {
    function verifyProof(
        uint256[2] calldata pA,
        uint256[2][2] calldata pB,
        uint256[2] calldata pC,
        uint256[9] calldata pubSignals
    ) external view returns (bool);

    function foldFixedSignals(uint256 scope, uint256 cMax) external view returns (bool ok, uint256 x, uint256 y);

    function verifyProofFolded(
        uint256[2] calldata pA,
        uint256[2][2] calldata pB,
        uint256[2] calldata pC,
        uint256 baseX,
        uint256 baseY,
        uint256[7] calldata signals
    ) external view returns (bool);
}

/// @notice The generated `slash` verifier's entry points; the escrow folds `scope` in at
/// deployment and passes the identity and the receiver with each proof.
interface ISlashVerifier is IGroth16Verifier {
    function verifyProof(
        uint256[2] calldata pA,
        uint256[2][2] calldata pB,
        uint256[2] calldata pC,
        uint256[3] calldata pubSignals
    ) external view returns (bool);

    function foldFixedSignals(uint256 scope) external view returns (bool ok, uint256 x, uint256 y);

    function verifyProofFolded(
        uint256[2] calldata pA,
        uint256[2][2] calldata pB,
        uint256[2] calldata pC,
        uint256 baseX,
        uint256 baseY,
        uint256[2] calldata signals
    ) external view returns (bool);
}

/// @notice The generated `batch_insert` verifier's entry point.
interface IBatchInsertVerifier is IGroth16Verifier {
    function verifyProof(
        uint256[2] calldata pA,
        uint256[2][2] calldata pB,
        uint256[2] calldata pC,
        uint256[8] calldata pubSignals
    ) external view returns (bool);
}

/// @title CreditEscrow
/// @notice The zkcredits escrow: queued deposits, proven batch insertion, Groth16 slashing, exits
/// and expiry sweeps. See
/// {ICreditEscrow} for every function's rules and spec/04-escrow-contract.md for the reasons.
/// @dev The owner is the operator: it sets the signer root and nothing else. It can never move
/// deposits.
contract CreditEscrow is ICreditEscrow, Ownable2Step, ReentrancyGuardTransient {
    /// @notice The BN254 scalar field: identities, roots and public signals live below it.
    uint256 public constant SNARK_SCALAR_FIELD =
        21_888_242_871_839_275_222_246_405_745_257_275_088_548_364_400_416_034_343_698_204_186_575_808_495_617;
    /// @notice How many recent tree roots the escrow keeps.
    uint256 public constant ROOT_HISTORY_SIZE = 32;
    /// @notice Gas a push payout may use; a receiver that needs more is paid by `claim` instead.
    uint256 public constant PAYOUT_GAS = 50_000;
    /// @notice The longest `NOTE_TTL` a deployment may choose (100 years), so every expiry fits
    /// in 40 bits.
    uint256 public constant MAX_NOTE_TTL = 100 * 365 days;
    /// @notice The most leaves the tree takes: request proofs show paths of at most 20 levels
    /// (a deeper path would push the request circuit past 2^14 constraints).
    uint256 public constant TREE_CAPACITY = 2 ** 20;
    /// @notice The most notes one batch deposit makes.
    uint256 public constant MAX_DEPOSIT_BATCH = 16;
    /// @notice The most leaves one `insertBatch` appends: the `batch_insert` circuit's size.
    uint256 public constant BATCH_INSERT_SIZE = 64;
    /// @notice The accumulator ring's size: at most `QUEUE_CAPACITY − 1` notes wait for insertion,
    /// so the accumulator at every position a batch may start or end at is still kept.
    uint256 public constant QUEUE_CAPACITY = 256;
    /// @dev Set on every stored accumulator (which is below the field, so below 2^254): a ring slot
    /// is never zero, and overwriting it costs a warm write's price, not a new slot's.
    uint256 internal constant ACCUMULATOR_MARK = 1 << 255;
    uint256 internal constant EXPIRY_BITS = 40;

    address internal immutable TOKEN;
    uint64 internal immutable C_MAX;
    uint64 internal immutable EXIT_DELAY;
    uint64 internal immutable NOTE_TTL;
    uint128 internal immutable SLASH_BOUNTY;
    address internal immutable TREASURY;
    IExitVerifier internal immutable EXIT_VERIFIER;
    ISlashVerifier internal immutable SLASH_VERIFIER;
    IBatchInsertVerifier internal immutable BATCH_INSERT_VERIFIER;
    uint256 internal immutable SCOPE;
    /// @dev The exit key's first point with `SCOPE` and `C_MAX` folded in, and the slash key's
    /// with `SCOPE`: each proof then pays two and one fewer `ecMul`s and `ecAdd`s.
    uint256 internal immutable EXIT_BASE_X;
    uint256 internal immutable EXIT_BASE_Y;
    uint256 internal immutable SLASH_BASE_X;
    uint256 internal immutable SLASH_BASE_Y;

    /// @dev Whether a root was ever the signer root, and when its revocation takes effect (0:
    /// never revoked), read together by `requestExit`.
    struct SignerRootState {
        bool known;
        uint64 revokedAt;
    }

    uint256[ROOT_HISTORY_SIZE] internal _rootHistory;
    /// @dev `_accumulators[p % QUEUE_CAPACITY]` is the queue's accumulator after `p` notes, with
    /// `ACCUMULATOR_MARK` set, for `_inserted ≤ p ≤ _queued`.
    uint256[QUEUE_CAPACITY] internal _accumulators;
    // One slot, read by every deposit and batch. Each batch pushes one root and appends or
    // removes at least one leaf, and each identity is condemned at most once: with at most
    // TREE_CAPACITY deposits no width can overflow.
    uint32 internal _queued;
    uint32 internal _inserted;
    uint64 internal _rootCount;
    uint64 internal _removalHead;
    uint64 internal _removalTail;
    uint256 public override signerRoot;
    /// @dev Condemned identities in slash order; positions `[head, tail)` wait for a batch.
    mapping(uint256 position => uint256 identity) internal _removalQueue;
    mapping(uint256 root => SignerRootState) internal _signerRoots;
    mapping(uint256 identity => DepositRecord) internal _deposits;
    mapping(uint256 identity => PendingExit) internal _pendingExits;
    mapping(address account => uint256) internal _claimable;

    /// @param params The immutable deployment parameters.
    /// @param operator The owner, who sets signer roots.
    /// @param initialSignerRoot The first signer root.
    constructor(Parameters memory params, address operator, uint256 initialSignerRoot) Ownable(operator) {
        if (params.cMax == 0) revert InvalidParameter("cMax");
        if (params.exitDelay == 0) revert InvalidParameter("exitDelay");
        if (params.noteTtl <= params.exitDelay || params.noteTtl > MAX_NOTE_TTL) revert InvalidParameter("noteTtl");
        if (params.treasury == address(0)) revert InvalidParameter("treasury");
        if (params.exitVerifier.code.length == 0) revert InvalidParameter("exitVerifier");
        if (params.slashVerifier.code.length == 0) revert InvalidParameter("slashVerifier");
        if (params.batchInsertVerifier.code.length == 0) revert InvalidParameter("batchInsertVerifier");
        if (params.token != address(0) && params.token.code.length == 0) revert InvalidParameter("token");
        if (!_passesSelfTest(params.exitVerifier)) revert VerifierSelfTestFailed(params.exitVerifier);
        if (!_passesSelfTest(params.slashVerifier)) revert VerifierSelfTestFailed(params.slashVerifier);
        if (!_passesSelfTest(params.batchInsertVerifier)) {
            revert VerifierSelfTestFailed(params.batchInsertVerifier);
        }
        TOKEN = params.token;
        C_MAX = params.cMax;
        EXIT_DELAY = params.exitDelay;
        NOTE_TTL = params.noteTtl;
        SLASH_BOUNTY = params.slashBounty;
        TREASURY = params.treasury;
        EXIT_VERIFIER = IExitVerifier(params.exitVerifier);
        SLASH_VERIFIER = ISlashVerifier(params.slashVerifier);
        BATCH_INSERT_VERIFIER = IBatchInsertVerifier(params.batchInsertVerifier);
        uint256 deploymentScope = PoseidonT3.hash([block.chainid, uint256(uint160(address(this)))]);
        SCOPE = deploymentScope;
        (EXIT_BASE_X, EXIT_BASE_Y) = _foldedBase(
            params.exitVerifier, abi.encodeCall(IExitVerifier.foldFixedSignals, (deploymentScope, params.cMax))
        );
        (SLASH_BASE_X, SLASH_BASE_Y) =
            _foldedBase(params.slashVerifier, abi.encodeCall(ISlashVerifier.foldFixedSignals, (deploymentScope)));
        _setSignerRoot(initialSignerRoot);
        // Every ring slot starts marked (slot 0 holds acc_0 = 0): deposits then only overwrite.
        for (uint256 i = 0; i < QUEUE_CAPACITY; i++) {
            _accumulators[i] = ACCUMULATOR_MARK;
        }
        // Removal positions start at 1, so the counters' slot is never zero and the first deposit
        // does not pay for creating it.
        _removalHead = 1;
        _removalTail = 1;
    }

    // ---------------------------------------------------------------------------------------------
    // Deposits
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc ICreditEscrow
    function deposit(uint256 identity) external payable override nonReentrant returns (uint256 leafIndex) {
        if (TOKEN != address(0)) revert EthNotAccepted();
        leafIndex = _recordDeposit(identity, msg.value);
    }

    /// @inheritdoc ICreditEscrow
    function depositToken(uint256 identity, uint256 amount) external override nonReentrant returns (uint256 leafIndex) {
        if (TOKEN == address(0)) revert TokenNotAccepted();
        // Checks and effects first; the transfer below reverts the whole deposit if it fails.
        leafIndex = _recordDeposit(identity, amount);
        // Interactions
        uint256 before = _tokenBalance();
        bytes memory pull = abi.encodeCall(IERC20Minimal.transferFrom, (msg.sender, address(this), amount));
        if (!_callToken(pull, gasleft())) revert TokenTransferFailed(TOKEN);
        uint256 received = _tokenBalance() - before;
        if (received != amount) revert TransferAmountMismatch(amount, received);
    }

    /// @inheritdoc ICreditEscrow
    function depositBatch(uint256[] calldata identities)
        external
        payable
        override
        nonReentrant
        returns (uint256 firstLeafIndex)
    {
        if (TOKEN != address(0)) revert EthNotAccepted();
        uint256 count = _checkBatchSize(identities.length);
        if (msg.value % count != 0) revert BatchValueNotDivisible(msg.value, count);
        firstLeafIndex = _recordDeposits(identities, msg.value / count);
    }

    /// @inheritdoc ICreditEscrow
    function depositTokenBatch(uint256[] calldata identities, uint256 amountEach)
        external
        override
        nonReentrant
        returns (uint256 firstLeafIndex)
    {
        if (TOKEN == address(0)) revert TokenNotAccepted();
        uint256 count = _checkBatchSize(identities.length);
        // Checks and effects first (each amount is checked below 2^96, so the total cannot
        // overflow); the transfer below reverts the whole batch if it fails.
        firstLeafIndex = _recordDeposits(identities, amountEach);
        // Interactions
        uint256 total = amountEach * count;
        uint256 before = _tokenBalance();
        bytes memory pull = abi.encodeCall(IERC20Minimal.transferFrom, (msg.sender, address(this), total));
        if (!_callToken(pull, gasleft())) revert TokenTransferFailed(TOKEN);
        uint256 received = _tokenBalance() - before;
        if (received != total) revert TransferAmountMismatch(total, received);
    }

    function _checkBatchSize(uint256 count) internal pure returns (uint256) {
        if (count == 0 || count > MAX_DEPOSIT_BATCH) revert BatchSizeOutOfRange(count, MAX_DEPOSIT_BATCH);
        return count;
    }

    function _recordDeposits(uint256[] calldata identities, uint256 amountEach)
        internal
        returns (uint256 firstLeafIndex)
    {
        firstLeafIndex = _recordDeposit(identities[0], amountEach);
        for (uint256 i = 1; i < identities.length; i++) {
            _recordDeposit(identities[i], amountEach);
        }
    }

    function _recordDeposit(uint256 identity, uint256 amount) internal returns (uint256 leafIndex) {
        // Checks
        if (identity == 0 || identity >= SNARK_SCALAR_FIELD) revert InvalidIdentity(identity);
        if (_deposits[identity].status != Status.None) revert IdentityAlreadyDeposited(identity);
        if (amount < C_MAX) revert DepositBelowMinimum(amount, C_MAX);
        if (amount > type(uint96).max) revert DepositTooLarge(amount);
        uint32 queued = _queued;
        if (queued == TREE_CAPACITY) revert TreeFull(TREE_CAPACITY);
        uint256 waiting = queued - _inserted;
        if (waiting >= QUEUE_CAPACITY - 1) revert QueueFull(waiting);
        // Effects
        uint256 expiry = block.timestamp + NOTE_TTL;
        _deposits[identity] = DepositRecord({
            // forge-lint: disable-next-line(unsafe-typecast) checked against uint96 above
            amount: uint96(amount),
            // forge-lint: disable-next-line(unsafe-typecast) NOTE_TTL ≤ MAX_NOTE_TTL keeps it below 2^40
            expiry: uint40(expiry),
            status: Status.Active,
            leaf: LeafState.InTree,
            finalizableAt: 0,
            leafIndex: queued
        });
        // acc + D·2^40 + E in the field: D < 2^96 and E < 2^40 make the term injective (spec/03).
        uint256 previous = _accumulators[queued % QUEUE_CAPACITY] ^ ACCUMULATOR_MARK;
        uint256 term = (amount << EXPIRY_BITS) | expiry;
        uint256 accumulator = PoseidonT3.hash([addmod(previous, term, SNARK_SCALAR_FIELD), identity]);
        _accumulators[(queued + 1) % QUEUE_CAPACITY] = accumulator | ACCUMULATOR_MARK;
        _queued = queued + 1;
        leafIndex = queued;
        emit Deposited(identity, amount, expiry, leafIndex);
    }

    // ---------------------------------------------------------------------------------------------
    // Batch insertion
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc ICreditEscrow
    function insertBatch(
        uint256 start,
        uint256 count,
        uint256 preRoot,
        uint256 removedIdentity,
        uint256 postRoot,
        Proof calldata proof
    ) external override nonReentrant {
        // Checks: a batch that another one or a slash made stale reverts here, before the
        // pairing. A batch that appended moved the size and the root, a removal-only one the
        // root, and a slash may have made a removal due.
        // (Scoped: the locals of one check do not outlive it, which keeps the stack shallow.)
        {
            uint256 inserted = _inserted;
            if (start != inserted) revert StaleBatch(inserted);
            uint256 root = _currentRoot();
            if (preRoot != root) revert StaleRoot(root);
        }
        if (count > BATCH_INSERT_SIZE) revert BatchTooLarge(count, BATCH_INSERT_SIZE);
        uint256 end = start + count;
        {
            uint256 queued = _queued;
            if (end > queued) revert BatchBeyondQueue(end, queued);
        }
        (uint256 dueIdentity, uint256 removedAmountExpiry, uint256 removedIndex) = _dueRemoval(end);
        if (removedIdentity != dueIdentity) revert StaleRemoval(dueIdentity);
        if (postRoot >= SNARK_SCALAR_FIELD) revert PublicSignalOutsideField(postRoot);
        if (count == 0 && removedIdentity == 0) revert EmptyBatch();
        uint256[8] memory signals;
        // The current root, checked above.
        signals[0] = preRoot;
        signals[1] = postRoot;
        signals[2] = start;
        signals[3] = count;
        signals[4] = _accumulators[start % QUEUE_CAPACITY] ^ ACCUMULATOR_MARK;
        signals[5] = _accumulators[end % QUEUE_CAPACITY] ^ ACCUMULATOR_MARK;
        signals[6] = removedIdentity;
        signals[7] = removedAmountExpiry;
        if (!BATCH_INSERT_VERIFIER.verifyProof(proof.a, proof.b, proof.c, signals)) revert InvalidProof();
        // Effects
        // forge-lint: disable-next-line(unsafe-typecast) end ≤ queued, a uint32
        _inserted = uint32(end);
        if (removedIdentity != 0) {
            _deposits[removedIdentity].leaf = LeafState.Removed;
            uint64 head = _removalHead;
            delete _removalQueue[head];
            _removalHead = head + 1;
        }
        _pushRoot(postRoot);
        emit BatchInserted(start, count, postRoot, removedIdentity, removedIndex);
    }

    /// @dev The oldest condemned leaf once a batch ending at `end` has appended it, with its
    /// `D·2^40 + E` and index; zeros when none is due. Every batch from then on must zero it, so
    /// no slashed note outlives one batch.
    function _dueRemoval(uint256 end)
        internal
        view
        returns (uint256 identity, uint256 amountExpiry, uint256 leafIndex)
    {
        uint64 head = _removalHead;
        if (head == _removalTail) return (0, 0, 0);
        uint256 condemned = _removalQueue[head];
        DepositRecord memory record = _deposits[condemned];
        if (record.leafIndex >= end) return (0, 0, 0);
        return (condemned, (uint256(record.amount) << EXPIRY_BITS) | record.expiry, record.leafIndex);
    }

    // ---------------------------------------------------------------------------------------------
    // Slashing
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc ICreditEscrow
    function slash(uint256 identity, address receiver, Proof calldata proof) external override nonReentrant {
        // Checks: Active and Exiting deposits hold funds; an Exited leaf stays in the tree and a
        // node that missed the exit might still serve it. A Swept note expired, so no request
        // proof exists for it: condemning it would only make a batch remove it for nothing.
        DepositRecord memory record = _deposits[identity];
        if (record.status == Status.None || record.status == Status.Swept || record.leaf != LeafState.InTree) {
            revert DepositNotSlashable(identity, record.status);
        }
        if (receiver == address(0)) revert ZeroAddress();
        uint256[2] memory signals = [identity, uint256(uint160(receiver))];
        if (!SLASH_VERIFIER.verifyProofFolded(proof.a, proof.b, proof.c, SLASH_BASE_X, SLASH_BASE_Y, signals)) {
            revert InvalidProof();
        }
        // Effects
        record.leaf = LeafState.Condemned;
        _removalQueue[_removalTail++] = identity;
        if (record.status == Status.Exited) {
            _deposits[identity] = record;
            emit LeafCondemned(identity);
            return;
        }
        record.status = Status.Slashed;
        _deposits[identity] = record;
        delete _pendingExits[identity];
        uint256 bounty = record.amount < SLASH_BOUNTY ? record.amount : SLASH_BOUNTY;
        uint256 toTreasury = record.amount - bounty;
        emit Slashed(identity, receiver, bounty, toTreasury);
        // Interactions
        _pay(receiver, bounty);
        _pay(TREASURY, toTreasury);
    }

    // ---------------------------------------------------------------------------------------------
    // Exits and expiry
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc ICreditEscrow
    function requestExit(
        uint256 identity,
        address recipient,
        uint256 amount,
        uint256 nullifier,
        uint256 y,
        uint256 exitSignerRoot,
        Proof calldata proof
    ) external override nonReentrant {
        // Checks
        DepositRecord memory record = _deposits[identity];
        if (record.status != Status.Active) revert DepositNotActive(identity, record.status);
        if (block.timestamp >= record.expiry) revert NoteExpired(identity, record.expiry);
        if (recipient == address(0)) revert ZeroAddress();
        if (amount > record.amount) revert ExitAmountExceedsDeposit(amount, record.amount);
        SignerRootState memory rootState = _signerRoots[exitSignerRoot];
        if (!rootState.known) revert UnknownSignerRoot(exitSignerRoot);
        // A revoked root stays valid only for notes deposited before the announcement: they
        // expire before `revokedAt`, so the expiry check above already ends their exits in time.
        if (rootState.revokedAt != 0 && record.expiry >= rootState.revokedAt) {
            revert RevokedSignerRoot(exitSignerRoot, rootState.revokedAt);
        }
        if (nullifier >= SNARK_SCALAR_FIELD) revert PublicSignalOutsideField(nullifier);
        if (y >= SNARK_SCALAR_FIELD) revert PublicSignalOutsideField(y);
        // The exit circuit's signals without `scope` and `cMax`, which the base holds.
        uint256[7] memory signals =
            [uint256(record.amount), identity, uint256(uint160(recipient)), amount, nullifier, y, exitSignerRoot];
        if (!EXIT_VERIFIER.verifyProofFolded(proof.a, proof.b, proof.c, EXIT_BASE_X, EXIT_BASE_Y, signals)) {
            revert InvalidProof();
        }
        // Effects
        uint256 finalizableAt = block.timestamp + EXIT_DELAY;
        record.status = Status.Exiting;
        // forge-lint: disable-next-line(unsafe-typecast) before the 40-bit expiry plus a delay below NOTE_TTL
        record.finalizableAt = uint40(finalizableAt);
        _deposits[identity] = record;
        // forge-lint: disable-next-line(unsafe-typecast) amount ≤ record.amount < 2^96, checked above
        _pendingExits[identity] = PendingExit({recipient: recipient, amount: uint96(amount)});
        emit ExitRequested(identity, recipient, amount, nullifier, y, exitSignerRoot, finalizableAt);
    }

    /// @inheritdoc ICreditEscrow
    function finalizeExit(uint256 identity) external override nonReentrant {
        // Checks
        DepositRecord memory record = _deposits[identity];
        if (record.status != Status.Exiting) revert NoPendingExit(identity);
        if (block.timestamp < record.finalizableAt) revert ExitDelayNotElapsed(identity, record.finalizableAt);
        PendingExit memory pending = _pendingExits[identity];
        // Effects
        _deposits[identity].status = Status.Exited;
        delete _pendingExits[identity];
        uint256 toTreasury = record.amount - pending.amount;
        emit ExitFinalized(identity, pending.recipient, pending.amount, toTreasury);
        // Interactions
        _pay(pending.recipient, pending.amount);
        _pay(TREASURY, toTreasury);
    }

    /// @inheritdoc ICreditEscrow
    function sweepExpired(uint256 identity) external override nonReentrant {
        // Checks
        DepositRecord memory record = _deposits[identity];
        if (record.status != Status.Active) revert DepositNotActive(identity, record.status);
        if (block.timestamp < record.expiry) revert NoteNotExpired(identity, record.expiry);
        // Effects
        _deposits[identity].status = Status.Swept;
        emit Swept(identity, record.amount);
        // Interactions
        _pay(TREASURY, record.amount);
    }

    // ---------------------------------------------------------------------------------------------
    // Operator and payouts
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc ICreditEscrow
    function setSignerRoot(uint256 newRoot) external override onlyOwner {
        _setSignerRoot(newRoot);
    }

    /// @inheritdoc ICreditEscrow
    function revokeSignerRoot(uint256 root) external override onlyOwner {
        if (root == signerRoot) revert CannotRevokeCurrentSignerRoot(root);
        SignerRootState memory state = _signerRoots[root];
        if (!state.known) revert UnknownSignerRoot(root);
        if (state.revokedAt != 0) revert SignerRootAlreadyRevoked(root, state.revokedAt);
        // One NOTE_TTL: every note deposited before now expires first, so no holder of a state
        // under the root is stranded; notes deposited from now on cannot use it at all.
        uint256 effectiveAt = block.timestamp + NOTE_TTL;
        // forge-lint: disable-next-line(unsafe-typecast) a timestamp plus at most MAX_NOTE_TTL
        _signerRoots[root].revokedAt = uint64(effectiveAt);
        emit SignerRootRevoked(root, effectiveAt);
    }

    /// @inheritdoc ICreditEscrow
    function claim(address to) external override nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        _claim(msg.sender, to);
    }

    /// @inheritdoc ICreditEscrow
    function pushClaim(address account) external override nonReentrant {
        _claim(account, account);
    }

    function _claim(address account, address to) internal {
        // Checks
        uint256 amount = _claimable[account];
        if (amount == 0) revert NothingToClaim(account);
        // Effects
        _claimable[account] = 0;
        emit Claimed(account, to, amount);
        // Interactions: unlike a push payout, a failed claim reverts and the claim stays.
        if (!_transferOut(to, amount, gasleft())) revert ClaimFailed(to, amount);
    }

    function _setSignerRoot(uint256 newRoot) internal {
        if (newRoot == 0 || newRoot >= SNARK_SCALAR_FIELD) revert InvalidSignerRoot(newRoot);
        uint64 revokedAt = _signerRoots[newRoot].revokedAt;
        if (revokedAt != 0) revert SignerRootAlreadyRevoked(newRoot, revokedAt);
        emit SignerRootSet(signerRoot, newRoot);
        signerRoot = newRoot;
        _signerRoots[newRoot].known = true;
    }

    /// @dev Calls `selfTest` without trusting the reply's encoding: anything but a 32-byte `true`
    /// fails, as does a revert.
    function _passesSelfTest(address verifier) internal view returns (bool) {
        (bool success, bytes memory reply) = verifier.staticcall(abi.encodeCall(IGroth16Verifier.selfTest, ()));
        return success && reply.length == 32 && abi.decode(reply, (uint256)) == 1;
    }

    /// @dev The verifier's key with the deployment's fixed signals folded in, by `call`; a verifier
    /// that cannot fold them is refused like one that fails its self-test.
    function _foldedBase(address verifier, bytes memory call) internal view returns (uint256 x, uint256 y) {
        (bool success, bytes memory reply) = verifier.staticcall(call);
        if (!success || reply.length != 96) revert VerifierSelfTestFailed(verifier);
        bool ok;
        (ok, x, y) = abi.decode(reply, (bool, uint256, uint256));
        if (!ok) revert VerifierSelfTestFailed(verifier);
    }

    function _pushRoot(uint256 root) internal {
        uint64 count = _rootCount;
        _rootHistory[count % ROOT_HISTORY_SIZE] = root;
        _rootCount = count + 1;
    }

    /// @dev The newest root; 0, an empty LeanIMT's root, before the first batch.
    function _currentRoot() internal view returns (uint256) {
        uint256 count = _rootCount;
        return count == 0 ? 0 : _rootHistory[(count - 1) % ROOT_HISTORY_SIZE];
    }

    /// @dev Pays `amount` now if the receiver takes it within `PAYOUT_GAS`; otherwise records it
    /// for `claim`, so a reverting receiver can never block a slash, an exit or a sweep.
    function _pay(address to, uint256 amount) internal {
        if (amount == 0) return;
        if (!_transferOut(to, amount, PAYOUT_GAS)) {
            _claimable[to] += amount;
            emit PayoutDeferred(to, amount);
        }
    }

    function _transferOut(address to, uint256 amount, uint256 gasLimit) internal returns (bool success) {
        if (TOKEN == address(0)) {
            // No return data is copied: a receiver cannot make the escrow pay for a huge reply.
            assembly ("memory-safe") {
                success := call(gasLimit, to, amount, 0, 0, 0, 0)
            }
            return success;
        }
        return _callToken(abi.encodeCall(IERC20Minimal.transfer, (to, amount)), gasLimit);
    }

    /// @dev Calls the token; true when the call succeeded and returned `true` or nothing (tokens
    /// that return nothing on success exist).
    function _callToken(bytes memory data, uint256 gasLimit) internal returns (bool) {
        address token = TOKEN;
        bool success;
        uint256 returned;
        uint256 returnSize;
        assembly ("memory-safe") {
            success := call(gasLimit, token, 0, add(data, 0x20), mload(data), 0, 0x20)
            returnSize := returndatasize()
            returned := mload(0)
        }
        return success && (returnSize == 0 ? token.code.length > 0 : returned == 1);
    }

    function _tokenBalance() internal view returns (uint256) {
        return IERC20Minimal(TOKEN).balanceOf(address(this));
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc ICreditEscrow
    function scope() external view override returns (uint256) {
        return SCOPE;
    }

    /// @inheritdoc ICreditEscrow
    function parameters() external view override returns (Parameters memory) {
        return Parameters({
            token: TOKEN,
            cMax: C_MAX,
            exitDelay: EXIT_DELAY,
            noteTtl: NOTE_TTL,
            slashBounty: SLASH_BOUNTY,
            treasury: TREASURY,
            exitVerifier: address(EXIT_VERIFIER),
            slashVerifier: address(SLASH_VERIFIER),
            batchInsertVerifier: address(BATCH_INSERT_VERIFIER)
        });
    }

    /// @inheritdoc ICreditEscrow
    function isKnownSignerRoot(uint256 root) external view override returns (bool) {
        return _signerRoots[root].known;
    }

    /// @inheritdoc ICreditEscrow
    function signerRootRevokedAt(uint256 root) external view override returns (uint256) {
        return _signerRoots[root].revokedAt;
    }

    /// @inheritdoc ICreditEscrow
    function deposits(uint256 identity) external view override returns (DepositRecord memory) {
        return _deposits[identity];
    }

    /// @inheritdoc ICreditEscrow
    function pendingExits(uint256 identity) external view override returns (PendingExit memory) {
        return _pendingExits[identity];
    }

    /// @inheritdoc ICreditEscrow
    function claimable(address account) external view override returns (uint256) {
        return _claimable[account];
    }

    /// @inheritdoc ICreditEscrow
    function tree() external view override returns (uint256 root, uint256 size, uint256 queued) {
        return (_currentRoot(), _inserted, _queued);
    }

    /// @inheritdoc ICreditEscrow
    function accumulatorAt(uint256 position) external view override returns (uint256) {
        uint256 size = _inserted;
        uint256 queued = _queued;
        if (position < size || position > queued) revert PositionOutsideQueue(position, size, queued);
        return _accumulators[position % QUEUE_CAPACITY] ^ ACCUMULATOR_MARK;
    }

    /// @inheritdoc ICreditEscrow
    function pendingRemovals() external view override returns (uint256) {
        return _removalTail - _removalHead;
    }

    /// @inheritdoc ICreditEscrow
    function nextRemoval() external view override returns (uint256 identity) {
        // Removed entries are deleted and identity 0 is never deposited: 0 means an empty queue.
        return _removalQueue[_removalHead];
    }

    /// @inheritdoc ICreditEscrow
    function recentRoots() external view override returns (uint256[] memory roots) {
        uint256 count = _rootCount;
        roots = new uint256[](ROOT_HISTORY_SIZE);
        for (uint256 i = 0; i < ROOT_HISTORY_SIZE && i < count; i++) {
            roots[i] = _rootHistory[(count - 1 - i) % ROOT_HISTORY_SIZE];
        }
    }

    /// @inheritdoc ICreditEscrow
    function isRecentRoot(uint256 root) external view override returns (bool) {
        if (root == 0) return false;
        for (uint256 i = 0; i < ROOT_HISTORY_SIZE; i++) {
            if (_rootHistory[i] == root) return true;
        }
        return false;
    }
}

    /// @notice The ERC-20 calls the escrow makes.
    interface IERC20Minimal {
        function transfer(address to, uint256 amount) external returns (bool);
        function transferFrom(address from, address to, uint256 amount) external returns (bool);
        function balanceOf(address account) external view returns (uint256);
    }
