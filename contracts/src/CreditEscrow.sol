// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {PoseidonT3} from "poseidon-solidity/PoseidonT3.sol";
import {PoseidonT4} from "poseidon-solidity/PoseidonT4.sol";
import {InternalLeanIMT, LeanIMTData} from "node_modules/@zk-kit/lean-imt.sol/InternalLeanIMT.sol";
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

/// @notice The generated `exit` verifier's entry point.
interface IExitVerifier is IGroth16Verifier {
    function verifyProof(
        uint256[2] calldata pA,
        uint256[2][2] calldata pB,
        uint256[2] calldata pC,
        uint256[9] calldata pubSignals
    ) external view returns (bool);
}

/// @notice The generated `slash` verifier's entry point.
interface ISlashVerifier is IGroth16Verifier {
    function verifyProof(
        uint256[2] calldata pA,
        uint256[2][2] calldata pB,
        uint256[2] calldata pC,
        uint256[3] calldata pubSignals
    ) external view returns (bool);
}

/// @title CreditEscrow
/// @notice The zkcredits escrow: deposits, Groth16 slashing, exits and expiry sweeps. See
/// {ICreditEscrow} for every function's rules and spec/04-escrow-contract.md for the reasons.
/// @dev The owner is the operator: it sets the signer root and nothing else. It can never move
/// deposits.
contract CreditEscrow is ICreditEscrow, Ownable2Step, ReentrancyGuardTransient {
    using InternalLeanIMT for LeanIMTData;

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
    /// @notice The most notes one batch deposit makes: 16 insertions stay well inside a block
    /// even in a full tree (about 0.5 M gas each).
    uint256 public constant MAX_DEPOSIT_BATCH = 16;

    address internal immutable TOKEN;
    uint64 internal immutable C_MAX;
    uint64 internal immutable EXIT_DELAY;
    uint64 internal immutable NOTE_TTL;
    uint128 internal immutable SLASH_BOUNTY;
    address internal immutable TREASURY;
    IExitVerifier internal immutable EXIT_VERIFIER;
    ISlashVerifier internal immutable SLASH_VERIFIER;
    uint256 internal immutable SCOPE;

    /// @dev Whether a root was ever the signer root, and when its revocation takes effect (0:
    /// never revoked), read together by `requestExit`.
    struct SignerRootState {
        bool known;
        uint64 revokedAt;
    }

    LeanIMTData internal _tree;
    uint256[ROOT_HISTORY_SIZE] internal _rootHistory;
    // One slot: every deposit reads the pending removals (tail − head) and writes the root count.
    // Each deposit and removal pushes one root and each identity is condemned at most once, so
    // neither width can overflow with at most TREE_CAPACITY deposits.
    uint128 internal _rootCount;
    uint64 internal _removalHead;
    uint64 internal _removalTail;
    uint256 public override signerRoot;
    /// @dev Condemned identities in slash order; positions `[head, tail)` wait for `removeLeaf`.
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
        if (params.token != address(0) && params.token.code.length == 0) revert InvalidParameter("token");
        if (!_passesSelfTest(params.exitVerifier)) revert VerifierSelfTestFailed(params.exitVerifier);
        if (!_passesSelfTest(params.slashVerifier)) revert VerifierSelfTestFailed(params.slashVerifier);
        TOKEN = params.token;
        C_MAX = params.cMax;
        EXIT_DELAY = params.exitDelay;
        NOTE_TTL = params.noteTtl;
        SLASH_BOUNTY = params.slashBounty;
        TREASURY = params.treasury;
        EXIT_VERIFIER = IExitVerifier(params.exitVerifier);
        SLASH_VERIFIER = ISlashVerifier(params.slashVerifier);
        SCOPE = PoseidonT3.hash([block.chainid, uint256(uint160(address(this)))]);
        _setSignerRoot(initialSignerRoot);
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
        if (_tree.size == TREE_CAPACITY) revert TreeFull(TREE_CAPACITY);
        // While a removal is pending only removals change the tree, so nobody can make its
        // siblings stale by depositing in between.
        uint256 pending = _removalTail - _removalHead;
        if (pending != 0) revert LeafRemovalPending(pending);
        // Effects
        uint256 expiry = block.timestamp + NOTE_TTL;
        _deposits[identity] = DepositRecord({
            // forge-lint: disable-next-line(unsafe-typecast) checked against uint96 above
            amount: uint96(amount),
            // forge-lint: disable-next-line(unsafe-typecast) NOTE_TTL ≤ MAX_NOTE_TTL keeps it below 2^40
            expiry: uint40(expiry),
            status: Status.Active,
            exitAmount: 0,
            leaf: LeafState.InTree
        });
        uint256 leaf = PoseidonT4.hash([identity, amount, expiry]);
        leafIndex = _tree.size;
        uint256 root = _tree._insert(leaf);
        _pushRoot(root);
        emit Deposited(identity, amount, expiry, leafIndex, leaf, root);
    }

    // ---------------------------------------------------------------------------------------------
    // Slashing
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc ICreditEscrow
    function slash(uint256 identity, address receiver, Proof calldata proof) external override nonReentrant {
        // Checks: Active and Exiting deposits hold funds; an Exited leaf stays in the tree and a
        // node that missed the exit might still serve it. A Swept note expired, so no request
        // proof exists for it: condemning it would only pause deposits for nothing.
        DepositRecord memory record = _deposits[identity];
        if (record.status == Status.None || record.status == Status.Swept || record.leaf != LeafState.InTree) {
            revert DepositNotSlashable(identity, record.status);
        }
        if (receiver == address(0)) revert ZeroAddress();
        uint256[3] memory signals = [identity, uint256(uint160(receiver)), SCOPE];
        if (!SLASH_VERIFIER.verifyProof(proof.a, proof.b, proof.c, signals)) revert InvalidProof();
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

    /// @inheritdoc ICreditEscrow
    function removeLeaf(uint256 identity, uint256[] calldata siblingNodes) external override nonReentrant {
        // Checks
        DepositRecord memory record = _deposits[identity];
        if (record.leaf != LeafState.Condemned) revert LeafNotCondemned(identity);
        // Only the oldest condemned leaf may go: removals never race, and siblings read for the
        // head stay valid until it is removed (deposits wait, later slashes only queue).
        uint64 head = _removalHead;
        uint256 next = _removalQueue[head];
        if (identity != next) revert RemovalOutOfOrder(next);
        uint256 leaf = PoseidonT4.hash([identity, record.amount, record.expiry]);
        uint256 leafIndex = _tree._indexOf(leaf);
        uint256 expected = _siblingCount(leafIndex);
        if (siblingNodes.length != expected) revert WrongSiblingCount(expected, siblingNodes.length);
        // Effects: LeanIMT reverts with WrongSiblingNodes unless these are the current siblings.
        uint256 root = _tree._remove(leaf, siblingNodes);
        _pushRoot(root);
        _deposits[identity].leaf = LeafState.Removed;
        delete _removalQueue[head];
        _removalHead = head + 1;
        emit LeafRemoved(identity, leafIndex, root);
    }

    /// @dev How many siblings LeanIMT's update consumes for the leaf at `index`: one per level
    /// where the node is a right child or has a right neighbour, so a wrong count reverts with a
    /// named error instead of an out-of-bounds panic.
    function _siblingCount(uint256 index) internal view returns (uint256 count) {
        uint256 lastIndex = _tree.size - 1;
        uint256 depth = _tree.depth;
        for (uint256 level = 0; level < depth; level++) {
            if ((index >> level) & 1 == 1 || index >> level != lastIndex >> level) count++;
        }
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
        uint256[9] memory signals = [
            uint256(record.amount),
            identity,
            uint256(uint160(recipient)),
            amount,
            nullifier,
            y,
            SCOPE,
            exitSignerRoot,
            uint256(C_MAX)
        ];
        if (!EXIT_VERIFIER.verifyProof(proof.a, proof.b, proof.c, signals)) revert InvalidProof();
        // Effects
        uint256 finalizableAt = block.timestamp + EXIT_DELAY;
        record.status = Status.Exiting;
        // forge-lint: disable-next-line(unsafe-typecast) amount ≤ record.amount < 2^96, checked above
        record.exitAmount = uint96(amount);
        _deposits[identity] = record;
        // forge-lint: disable-next-line(unsafe-typecast) below the note's 40-bit expiry plus a uint64 delay
        _pendingExits[identity] = PendingExit({recipient: recipient, finalizableAt: uint64(finalizableAt)});
        emit ExitRequested(identity, recipient, amount, nullifier, y, exitSignerRoot, finalizableAt);
    }

    /// @inheritdoc ICreditEscrow
    function finalizeExit(uint256 identity) external override nonReentrant {
        // Checks
        DepositRecord memory record = _deposits[identity];
        if (record.status != Status.Exiting) revert NoPendingExit(identity);
        PendingExit memory pending = _pendingExits[identity];
        if (block.timestamp < pending.finalizableAt) revert ExitDelayNotElapsed(identity, pending.finalizableAt);
        // Effects
        _deposits[identity].status = Status.Exited;
        delete _pendingExits[identity];
        uint256 toTreasury = record.amount - record.exitAmount;
        emit ExitFinalized(identity, pending.recipient, record.exitAmount, toTreasury);
        // Interactions
        _pay(pending.recipient, record.exitAmount);
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

    function _pushRoot(uint256 root) internal {
        uint128 count = _rootCount;
        _rootHistory[count % ROOT_HISTORY_SIZE] = root;
        _rootCount = count + 1;
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
            slashVerifier: address(SLASH_VERIFIER)
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
    function tree() external view override returns (uint256 root, uint256 size, uint256 depth) {
        return (_tree._root(), _tree.size, _tree.depth);
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
