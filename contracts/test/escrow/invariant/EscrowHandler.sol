// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";
import {BlockingToken, GasHungryReceiver, RejectingReceiver} from "../../utils/Tokens.sol";

/// @notice Drives an ETH or an ERC-20 escrow through random deposits, slashes, exits, sweeps,
/// batch insertions, claims and time jumps with the real proofs of the vector users. It does not
/// avoid invalid or racing actions (a slash next to a deposit, an exit or a batch, a deposit
/// between a batch's proof and its submission, a slash of a swept note, a second exit, an early
/// sweep or finalization, stale, oversized, overreaching, out-of-field or empty batches, claims of
/// payees that reject payment): it predicts each outcome from its own model and expects exactly
/// that revert, so a transition the model forbids fails the run. Ghost accounting backs the
/// invariants.
///
/// Batch proofs for random states cannot be made in a test, so every batch carries a slash proof
/// in place of one: a batch the model accepts reaches the real verifier and reverts
/// `InvalidProof`, and the tree stays empty while the queue and the removals follow the model.
/// The real batch proofs are in insertBatch.t.sol.
contract EscrowHandler is EscrowTest {
    /// @notice How a payee takes a payment: as an EOA, not at all (a reverting contract, or a
    /// token that blocks it), or only with more gas than `PAYOUT_GAS` (ETH only).
    enum Behaviour {
        Accepts,
        Rejects,
        NeedsGas
    }

    /// @notice Non-vector identities deposits draw from (a second deposit of one must revert).
    uint256 internal constant OTHER_IDENTITIES = 48;
    uint256 internal constant ROTATED_SIGNER_ROOT = 777;

    bool public immutable USE_TOKEN;
    BlockingToken internal token;

    uint256[] public identities;
    mapping(uint256 identity => ICreditEscrow.Status) public ghostStatus;
    mapping(uint256 identity => ICreditEscrow.LeafState) public ghostLeaf;
    /// @notice Every leaf ever condemned, in slash order: all wait for removal (no batch lands
    /// without a proof).
    uint256[] internal condemned;
    /// @notice When the revocation of the vector exits' signer root takes effect (0: none yet).
    uint256 public revokedAt;

    /// @notice The queue accumulator after each queue position (`ghostAcc[0] = 0`).
    uint256[] internal ghostAcc;
    mapping(uint256 identity => uint256) public ghostLeafIndex;

    address[] internal payees;
    mapping(address payee => Behaviour) public behaviour;
    /// @notice What the payee was made owed by finalized slashes, exits and sweeps.
    mapping(address payee => uint256) public owed;
    /// @notice What the payee claimed to another address.
    mapping(address payee => uint256) public withdrawn;

    /// @notice How many times each error was expected, and seen.
    mapping(bytes4 selector => uint256) public expectedReverts;
    bytes4[] internal revertSelectors;

    constructor(bool useToken) {
        USE_TOKEN = useToken;
    }

    function setUp() public override {
        super.setUp();
        ghostAcc.push(0);
        if (USE_TOKEN) {
            token = new BlockingToken();
            _deployTokenEscrow(token);
        }
        payees.push(treasury);
        payees.push(slashReceiver);
        for (uint256 user = 0; user < VECTOR_USERS; user++) {
            for (uint256 j = 0; j < 2; j++) {
                address recipient = _exitCase(user, j == 1).recipient;
                if (!_isPayee(recipient)) payees.push(recipient);
            }
        }
        // Start with payouts deferred, so that claims have something to pay; `setBehaviour`
        // changes it.
        _setBehaviour(slashReceiver, Behaviour.NeedsGas);
        _setBehaviour(payees[2], Behaviour.Rejects);
    }

    // ---------------------------------------------------------------------------------------------
    // Views for the invariants
    // ---------------------------------------------------------------------------------------------

    function escrowAddress() external view returns (address) {
        return address(escrow);
    }

    function identityCount() external view returns (uint256) {
        return identities.length;
    }

    function payeeCount() external view returns (uint256) {
        return payees.length;
    }

    function payee(uint256 i) external view returns (address) {
        return payees[i];
    }

    function ghostPendingRemovals() public view returns (uint256) {
        return condemned.length;
    }

    /// @notice The oldest condemned leaf not yet removed (0 when none).
    function ghostNextRemoval() public view returns (uint256) {
        return ghostPendingRemovals() == 0 ? 0 : condemned[0];
    }

    function ghostQueued() public view returns (uint256) {
        return ghostAcc.length - 1;
    }

    function ghostAccumulator(uint256 position) external view returns (uint256) {
        return ghostAcc[position];
    }

    /// @notice What `account` holds of the escrow's asset.
    function assetBalance(address account) external view returns (uint256) {
        return _balanceOf(account);
    }

    function revertSelectorCount() external view returns (uint256) {
        return revertSelectors.length;
    }

    function revertSelector(uint256 i) external view returns (bytes4) {
        return revertSelectors[i];
    }

    // ---------------------------------------------------------------------------------------------
    // Actions
    // ---------------------------------------------------------------------------------------------

    /// @dev Draws a vector user half the time (only they can be slashed and exit), else another
    /// identity or, rarely, the invalid identity 0.
    function deposit(uint256 seed, uint256 amount) external {
        _tryDeposit(seed, amount);
    }

    function slash(uint256 user, bool wrongReceiver) external {
        _trySlash(user % VECTOR_USERS, wrongReceiver);
    }

    function requestExit(uint256 user, bool unsettled) external {
        _tryRequestExit(user % VECTOR_USERS, unsettled);
    }

    function doubleExit(uint256 user, bool unsettled) external {
        _tryRequestExit(user % VECTOR_USERS, unsettled);
        _tryRequestExit(user % VECTOR_USERS, !unsettled);
    }

    /// @dev Mostly a vector user with a pending exit, when there is one.
    function finalizeExit(uint256 i, bool waitForDelay) external {
        _tryFinalize(i % 4 != 0 ? _exitingUser(i) : _pick(i), waitForDelay);
    }

    function sweep(uint256 i, bool waitForExpiry) external {
        _trySweep(_pick(i), waitForExpiry);
    }

    /// @dev A batch without a valid proof (random states have none; the batch tests insert with
    /// real proofs): from the tree's size over up to every waiting note, naming the removal the
    /// model has due, or (by `variant`) a stale start, more than 64 notes, past the queue, a root
    /// outside the field, another removal, another pre-root. Nothing lands: the first failing
    /// check reverts.
    function insertBatch(uint256 count, uint256 variant, uint256 postRoot) external {
        uint256 start = 0;
        uint256 queued = ghostQueued();
        count %= queued - start + 1;
        postRoot = bound(postRoot, 1, FIELD - 1);
        variant %= 10;
        if (variant == 4) start = start == 0 || postRoot % 2 == 0 ? start + 1 : start - 1;
        if (variant == 5) count += 65;
        if (variant == 6) count = queued - start + 1;
        if (variant == 7) postRoot = FIELD + postRoot % 1000;
        uint256 removal = _dueRemoval(start + count);
        if (variant == 8) removal = removal == 0 ? postRoot : 0;
        // The tree stays empty: its root is 0.
        uint256 preRoot = variant == 9 ? postRoot : 0;
        _tryBatch(start, count, preRoot, removal, postRoot);
    }

    /// @dev A node that recovered two secrets slashes both, so that removals queue up; with
    /// `depositFirst` both users try to deposit their vector amounts first.
    function slashTwo(uint256 user, bool depositFirst) external {
        user %= VECTOR_USERS;
        uint256 other = (user + 1) % VECTOR_USERS;
        if (depositFirst) {
            _tryDeposit(2 * user, 1);
            _tryDeposit(2 * other, 1);
        }
        _trySlash(user, false);
        _trySlash(other, false);
    }

    function raceDepositAndSlash(uint256 seed, uint256 amount, uint256 user, bool slashFirst) external {
        if (slashFirst) _trySlash(user % VECTOR_USERS, false);
        _tryDeposit(seed, amount);
        if (!slashFirst) _trySlash(user % VECTOR_USERS, false);
    }

    function raceExitAndSlash(uint256 user, bool unsettled, bool slashFirst) external {
        user %= VECTOR_USERS;
        if (slashFirst) _trySlash(user, false);
        _tryRequestExit(user, unsettled);
        if (!slashFirst) _trySlash(user, false);
    }

    function claim(uint256 p) external {
        address account = payees[p % payees.length];
        uint256 amount = escrow.claimable(account);
        address wallet = makeAddr(string.concat("wallet of ", vm.toString(account)));
        uint256 walletBefore = _balanceOf(wallet);
        vm.prank(account);
        if (amount == 0) _expectRevert(abi.encodeWithSelector(ICreditEscrow.NothingToClaim.selector, account));
        escrow.claim(wallet);
        if (amount == 0) return;
        withdrawn[account] += amount;
        assertEq(_balanceOf(wallet) - walletBefore, amount, "claimed");
        assertEq(escrow.claimable(account), 0);
    }

    function pushClaim(uint256 p) external {
        address account = payees[p % payees.length];
        uint256 amount = escrow.claimable(account);
        uint256 balanceBefore = _balanceOf(account);
        if (amount == 0) {
            _expectRevert(abi.encodeWithSelector(ICreditEscrow.NothingToClaim.selector, account));
        } else if (behaviour[account] == Behaviour.Rejects) {
            _expectRevert(abi.encodeWithSelector(ICreditEscrow.ClaimFailed.selector, account, amount));
        }
        escrow.pushClaim(account);
        if (amount == 0 || behaviour[account] == Behaviour.Rejects) return;
        assertEq(_balanceOf(account) - balanceBefore, amount, "pushed with all the gas it needs");
        assertEq(escrow.claimable(account), 0);
    }

    function setBehaviour(uint256 p, uint256 b) external {
        _setBehaviour(payees[p % payees.length], Behaviour(b % 3));
    }

    /// @dev Occasional: vector users deposited from then on cannot exit.
    function revokeExitSignerRoot(uint256 seed) external {
        if (seed % 4 != 0) return;
        vm.startPrank(operator);
        escrow.setSignerRoot(ROTATED_SIGNER_ROOT);
        if (revokedAt != 0) {
            _expectRevert(
                abi.encodeWithSelector(ICreditEscrow.SignerRootAlreadyRevoked.selector, exitSignerRoot, revokedAt)
            );
        } else {
            revokedAt = block.timestamp + NOTE_TTL;
        }
        escrow.revokeSignerRoot(exitSignerRoot);
        vm.stopPrank();
    }

    /// @dev Up to two exit delays: notes live long enough for exits to happen; `sweep` jumps to
    /// an expiry when it wants one.
    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 0, 2 * EXIT_DELAY));
    }

    // ---------------------------------------------------------------------------------------------
    // Predicted attempts
    // ---------------------------------------------------------------------------------------------

    function _tryDeposit(uint256 seed, uint256 amount) internal {
        uint256 identity;
        uint256 other = (seed >> 1) % (OTHER_IDENTITIES + 1);
        if (seed % 2 == 0) {
            uint256 user = (seed >> 1) % VECTOR_USERS;
            identity = _identity(user);
            // Exit proofs fix D; any amount still takes the slash proof.
            amount = amount % 4 != 0 ? _vectorDeposit(user) : bound(amount, C_MAX, 1e24);
        } else if (other < OTHER_IDENTITIES) {
            identity = _otherIdentity(other);
            amount = bound(amount, C_MAX, 1e24);
        } else {
            amount = C_MAX;
        }

        bytes memory expected;
        if (identity == 0) {
            expected = abi.encodeWithSelector(ICreditEscrow.InvalidIdentity.selector, 0);
        } else if (ghostStatus[identity] != ICreditEscrow.Status.None) {
            expected = abi.encodeWithSelector(ICreditEscrow.IdentityAlreadyDeposited.selector, identity);
        } else if (ghostQueued() >= escrow.QUEUE_CAPACITY() - 1) {
            expected = abi.encodeWithSelector(ICreditEscrow.QueueFull.selector, ghostQueued());
        }
        if (expected.length == 0) {
            uint256 position = ghostQueued();
            assertEq(_deposit(identity, amount), position, "the next queue position");
            identities.push(identity);
            ghostStatus[identity] = ICreditEscrow.Status.Active;
            ghostLeafIndex[identity] = position;
            uint256 expiry = block.timestamp + NOTE_TTL;
            ghostAcc.push(_accumulate(ghostAcc[position], identity, amount, expiry));
            assertEq(escrow.accumulatorAt(position + 1), ghostAcc[position + 1], "deposit accumulator");
            return;
        }
        if (USE_TOKEN) {
            token.mint(depositor, amount);
            vm.prank(depositor);
            token.approve(address(escrow), amount);
        } else {
            vm.deal(depositor, amount);
        }
        vm.prank(depositor);
        _expectRevert(expected);
        if (USE_TOKEN) escrow.depositToken(identity, amount);
        else escrow.deposit{value: amount}(identity);
    }

    function _trySlash(uint256 user, bool wrongReceiver) internal {
        uint256 identity = _identity(user);
        ICreditEscrow.Status status = ghostStatus[identity];
        ICreditEscrow.Proof memory proof = _slashProof(user);
        address receiver = wrongReceiver ? makeAddr("not the proof's receiver") : slashReceiver;
        if (
            status == ICreditEscrow.Status.None || status == ICreditEscrow.Status.Swept
                || ghostLeaf[identity] != ICreditEscrow.LeafState.InTree
        ) {
            _expectRevert(abi.encodeWithSelector(ICreditEscrow.DepositNotSlashable.selector, identity, status));
            escrow.slash(identity, receiver, proof);
            return;
        }
        if (wrongReceiver) {
            _expectRevert(abi.encodeWithSelector(ICreditEscrow.InvalidProof.selector));
            escrow.slash(identity, receiver, proof);
            return;
        }
        uint256[] memory before = _holdings();
        uint256 amount = escrow.deposits(identity).amount;
        escrow.slash(identity, receiver, proof);
        ghostLeaf[identity] = ICreditEscrow.LeafState.Condemned;
        condemned.push(identity);
        if (status == ICreditEscrow.Status.Active || status == ICreditEscrow.Status.Exiting) {
            ghostStatus[identity] = ICreditEscrow.Status.Slashed;
            uint256 bounty = amount < SLASH_BOUNTY ? amount : SLASH_BOUNTY;
            _assertPaid(before, receiver, bounty, treasury, amount - bounty);
        } else {
            _assertPaid(before, treasury, 0, treasury, 0);
        }
    }

    function _tryRequestExit(uint256 user, bool unsettled) internal {
        uint256 identity = _identity(user);
        ICreditEscrow.DepositRecord memory record = escrow.deposits(identity);
        ExitCase memory e = _exitCase(user, unsettled);
        bytes memory expected;
        if (ghostStatus[identity] != ICreditEscrow.Status.Active) {
            expected = abi.encodeWithSelector(ICreditEscrow.DepositNotActive.selector, identity, ghostStatus[identity]);
        } else if (block.timestamp >= record.expiry) {
            expected = abi.encodeWithSelector(ICreditEscrow.NoteExpired.selector, identity, record.expiry);
        } else if (e.amount > record.amount) {
            expected = abi.encodeWithSelector(ICreditEscrow.ExitAmountExceedsDeposit.selector, e.amount, record.amount);
        } else if (revokedAt != 0 && record.expiry >= revokedAt) {
            expected = abi.encodeWithSelector(ICreditEscrow.RevokedSignerRoot.selector, exitSignerRoot, revokedAt);
        } else if (record.amount != _vectorDeposit(user)) {
            expected = abi.encodeWithSelector(ICreditEscrow.InvalidProof.selector);
        }
        if (expected.length != 0) _expectRevert(expected);
        escrow.requestExit(identity, e.recipient, e.amount, e.nullifier, e.y, exitSignerRoot, e.proof);
        if (expected.length == 0) ghostStatus[identity] = ICreditEscrow.Status.Exiting;
    }

    function _tryFinalize(uint256 identity, bool waitForDelay) internal {
        if (ghostStatus[identity] != ICreditEscrow.Status.Exiting) {
            _expectRevert(abi.encodeWithSelector(ICreditEscrow.NoPendingExit.selector, identity));
            escrow.finalizeExit(identity);
            return;
        }
        ICreditEscrow.PendingExit memory pending = escrow.pendingExits(identity);
        ICreditEscrow.DepositRecord memory record = escrow.deposits(identity);
        if (block.timestamp < record.finalizableAt) {
            if (!waitForDelay) {
                _expectRevert(
                    abi.encodeWithSelector(ICreditEscrow.ExitDelayNotElapsed.selector, identity, record.finalizableAt)
                );
                escrow.finalizeExit(identity);
                return;
            }
            vm.warp(record.finalizableAt);
        }
        uint256[] memory before = _holdings();
        escrow.finalizeExit(identity);
        ghostStatus[identity] = ICreditEscrow.Status.Exited;
        _assertPaid(before, pending.recipient, pending.amount, treasury, record.amount - pending.amount);
    }

    function _trySweep(uint256 identity, bool waitForExpiry) internal {
        ICreditEscrow.Status status = ghostStatus[identity];
        if (status != ICreditEscrow.Status.Active) {
            _expectRevert(abi.encodeWithSelector(ICreditEscrow.DepositNotActive.selector, identity, status));
            escrow.sweepExpired(identity);
            return;
        }
        ICreditEscrow.DepositRecord memory record = escrow.deposits(identity);
        if (block.timestamp < record.expiry) {
            if (!waitForExpiry) {
                _expectRevert(abi.encodeWithSelector(ICreditEscrow.NoteNotExpired.selector, identity, record.expiry));
                escrow.sweepExpired(identity);
                return;
            }
            vm.warp(record.expiry);
        }
        uint256[] memory before = _holdings();
        escrow.sweepExpired(identity);
        ghostStatus[identity] = ICreditEscrow.Status.Swept;
        _assertPaid(before, treasury, record.amount, treasury, 0);
    }

    /// @dev The removal a batch ending at `end` must make: the oldest condemned leaf, once
    /// appended by `end`.
    function _dueRemoval(uint256 end) internal view returns (uint256 identity) {
        identity = ghostNextRemoval();
        if (identity != 0 && ghostLeafIndex[identity] >= end) identity = 0;
    }

    /// @dev Submits a batch with a real proof of another statement, expecting the first check
    /// that fails: at the latest the real verifier's.
    function _tryBatch(uint256 start, uint256 count, uint256 preRoot, uint256 removal, uint256 postRoot) internal {
        ICreditEscrow.Proof memory proof = _slashProof(0);
        bytes memory expected = abi.encodeWithSelector(ICreditEscrow.InvalidProof.selector);
        uint256 queued = ghostQueued();
        if (start != 0) {
            expected = abi.encodeWithSelector(ICreditEscrow.StaleBatch.selector, 0);
        } else if (preRoot != 0) {
            expected = abi.encodeWithSelector(ICreditEscrow.StaleRoot.selector, 0);
        } else if (count > escrow.BATCH_INSERT_SIZE()) {
            expected = abi.encodeWithSelector(ICreditEscrow.BatchTooLarge.selector, count, escrow.BATCH_INSERT_SIZE());
        } else if (start + count > queued) {
            expected = abi.encodeWithSelector(ICreditEscrow.BatchBeyondQueue.selector, start + count, queued);
        } else if (removal != _dueRemoval(start + count)) {
            expected = abi.encodeWithSelector(ICreditEscrow.StaleRemoval.selector, _dueRemoval(start + count));
        } else if (postRoot >= FIELD) {
            expected = abi.encodeWithSelector(ICreditEscrow.PublicSignalOutsideField.selector, postRoot);
        } else if (count == 0 && removal == 0) {
            expected = abi.encodeWithSelector(ICreditEscrow.EmptyBatch.selector);
        }
        _expectRevert(expected);
        vm.prank(makeAddr("updater"));
        escrow.insertBatch(start, count, preRoot, removal, postRoot, proof);
    }

    // ---------------------------------------------------------------------------------------------
    // Ghost accounting
    // ---------------------------------------------------------------------------------------------

    function _setBehaviour(address account, Behaviour next) internal {
        behaviour[account] = next;
        if (USE_TOKEN) {
            token.setBlocked(account, next == Behaviour.Rejects);
        } else if (next == Behaviour.Accepts) {
            vm.etch(account, "");
        } else if (next == Behaviour.Rejects) {
            vm.etch(account, address(new RejectingReceiver()).code);
        } else {
            vm.etch(account, address(new GasHungryReceiver()).code);
        }
    }

    function _exitingUser(uint256 i) internal view returns (uint256 identity) {
        for (uint256 k = 0; k < VECTOR_USERS; k++) {
            identity = _identity((i % VECTOR_USERS + k) % VECTOR_USERS);
            if (ghostStatus[identity] == ICreditEscrow.Status.Exiting) return identity;
        }
    }

    /// @dev A vector user first (they can slash and exit), else any deposited identity.
    function _pick(uint256 i) internal view returns (uint256) {
        i %= VECTOR_USERS + identities.length;
        return i < VECTOR_USERS ? _identity(i) : identities[i - VECTOR_USERS];
    }

    function _expectRevert(bytes memory err) internal {
        // forge-lint: disable-next-line(unsafe-typecast) an error's selector is its first 4 bytes
        bytes4 selector = bytes4(err);
        if (expectedReverts[selector]++ == 0) revertSelectors.push(selector);
        vm.expectRevert(err);
    }

    function _isPayee(address account) internal view returns (bool) {
        for (uint256 i = 0; i < payees.length; i++) {
            if (payees[i] == account) return true;
        }
        return false;
    }

    /// @dev What each payee has been paid or can claim.
    function _holdings() internal view returns (uint256[] memory held) {
        held = new uint256[](payees.length);
        for (uint256 i = 0; i < payees.length; i++) {
            held[i] = _balanceOf(payees[i]) + escrow.claimable(payees[i]);
        }
    }

    /// @dev The action paid exactly `a` to `to` and `b` to `other` (pushed or deferred), and
    /// nothing to anyone else.
    function _assertPaid(uint256[] memory before, address to, uint256 a, address other, uint256 b) internal {
        owed[to] += a;
        owed[other] += b;
        uint256[] memory held = _holdings();
        for (uint256 i = 0; i < payees.length; i++) {
            uint256 expected = before[i] + (payees[i] == to ? a : 0) + (payees[i] == other ? b : 0);
            assertEq(held[i], expected, "exact payout split");
        }
    }
}
