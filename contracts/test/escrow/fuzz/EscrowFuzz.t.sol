// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";

/// @notice Amounts, receivers and timing around EXIT_DELAY and NOTE_TTL, with real proofs.
contract EscrowFuzzTest is EscrowTest {
    function testFuzz_DepositRecordsAnyAmountInRange(uint256 seed, uint256 amount) external {
        amount = bound(amount, C_MAX, type(uint96).max);
        uint256 identity = _otherIdentity(seed);
        _deposit(_otherIdentity(seed ^ 1), C_MAX);
        _deposit(identity, amount);
        assertEq(escrow.deposits(identity).amount, amount);
        assertEq(address(escrow).balance, amount + C_MAX);
        uint256 expiry = block.timestamp + NOTE_TTL;
        uint256 acc = _accumulate(_accumulate(0, _otherIdentity(seed ^ 1), C_MAX, expiry), identity, amount, expiry);
        assertEq(escrow.accumulatorAt(2), acc);
    }

    /// forge-config: default.fuzz.runs = 64
    function testFuzz_AccumulatorFollowsTheChain(uint96[8] memory amounts, uint32[8] memory waits) external {
        uint256 acc;
        for (uint256 i = 0; i < amounts.length; i++) {
            vm.warp(block.timestamp + waits[i]);
            uint256 amount = bound(amounts[i], C_MAX, type(uint96).max);
            uint256 identity = _otherIdentity(i);
            _deposit(identity, amount);
            acc = _accumulate(acc, identity, amount, block.timestamp + NOTE_TTL);
            assertEq(escrow.accumulatorAt(i + 1), acc);
        }
    }

    function testFuzz_SlashSplitsAnyDepositBetweenReceiverAndTreasury(uint256 amount) external {
        amount = bound(amount, C_MAX, type(uint96).max);
        uint256 identity = _identity(0);
        _deposit(identity, amount);
        _slashUser(0);
        uint256 bounty = amount < SLASH_BOUNTY ? amount : SLASH_BOUNTY;
        assertEq(slashReceiver.balance, bounty);
        assertEq(treasury.balance, amount - bounty);
        assertEq(address(escrow).balance, 0);
        assertEq(escrow.nextRemoval(), identity, "queued for removal");
    }

    function testFuzz_RevertWhen_TheSlashNamesAnotherReceiver(address receiver) external {
        vm.assume(receiver != slashReceiver && receiver != address(0));
        uint256 identity = _depositUser(0);
        ICreditEscrow.Proof memory proof = _slashProof(0);
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        escrow.slash(identity, receiver, proof);
    }

    /// @dev Any `(start, count, preRoot, removal, postRoot)` against a tree of 0 or 1 leaves with up
    /// to 80 notes queued, note 0 (user 0) slashed or not: the first check that fails reverts, in
    /// the order StaleBatch, StaleRoot, BatchTooLarge, BatchBeyondQueue, StaleRemoval,
    /// PublicSignalOutsideField, EmptyBatch, InvalidProof (the proof is `first`'s, valid for none
    /// of these statements).
    /// forge-config: default.fuzz.runs = 128
    function testFuzz_InsertBatchChecksInOrder(
        bool inserted,
        bool slashed,
        uint256 others,
        uint256 start,
        uint256 count,
        uint256 removal,
        uint256 postRoot
    ) external {
        BatchCase memory first = _batch("first");
        if (inserted) _applyBatch("first");
        else _depositNotes(1);
        _fill(0, bound(others, 0, 80));
        if (slashed) _slashUser(0);
        (, uint256 size, uint256 queued) = escrow.tree();
        // Mostly near the valid region.
        start = start % 4 == 0 ? start : size + start % 3 - (size == 0 ? 0 : 1);
        count = count % 8 == 0 ? count : count % 70;
        postRoot = postRoot % 4 == 0 ? postRoot : postRoot % FIELD;
        // Note 0's removal is due once a batch's end passes it.
        uint256 due = slashed && (start > 0 || count > 0) ? _identity(0) : 0;
        // From the current root or another one; the removal due, none, or user 0's.
        uint256 root = _root();
        uint256 preRoot = removal % 4 == 3 ? root + 1 : root;
        removal = removal % 4 == 1 ? 0 : removal % 4 == 2 ? _identity(0) : due;

        bytes memory expected;
        if (start != size) {
            expected = abi.encodeWithSelector(ICreditEscrow.StaleBatch.selector, size);
        } else if (preRoot != root) {
            expected = abi.encodeWithSelector(ICreditEscrow.StaleRoot.selector, root);
        } else if (count > 64) {
            expected = abi.encodeWithSelector(ICreditEscrow.BatchTooLarge.selector, count, 64);
        } else if (start + count > queued) {
            expected = abi.encodeWithSelector(ICreditEscrow.BatchBeyondQueue.selector, start + count, queued);
        } else if (removal != due) {
            expected = abi.encodeWithSelector(ICreditEscrow.StaleRemoval.selector, due);
        } else if (postRoot >= FIELD) {
            expected = abi.encodeWithSelector(ICreditEscrow.PublicSignalOutsideField.selector, postRoot);
        } else if (count == 0 && due == 0) {
            expected = abi.encodeWithSelector(ICreditEscrow.EmptyBatch.selector);
        } else if (!inserted && !slashed && start == 0 && count == 1 && postRoot == first.postRoot) {
            // The one statement the proof is for.
            escrow.insertBatch(start, count, preRoot, removal, postRoot, first.proof);
            assertEq(_root(), first.postRoot);
            return;
        } else {
            expected = abi.encodeWithSelector(ICreditEscrow.InvalidProof.selector);
        }
        vm.expectRevert(expected);
        escrow.insertBatch(start, count, preRoot, removal, postRoot, first.proof);
    }

    function testFuzz_FinalizeExitOnlyAfterTheDelay(uint256 wait) external {
        wait = bound(wait, 0, 3 * EXIT_DELAY);
        uint256 identity = _depositUser(0);
        ExitCase memory e = _requestExit(0, false);
        uint256 finalizableAt = block.timestamp + EXIT_DELAY;
        vm.warp(block.timestamp + wait);
        if (wait < EXIT_DELAY) {
            vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.ExitDelayNotElapsed.selector, identity, finalizableAt));
            escrow.finalizeExit(identity);
        } else {
            escrow.finalizeExit(identity);
            assertEq(e.recipient.balance, e.amount);
        }
    }

    function testFuzz_RequestExitOnlyBeforeExpiry(uint256 wait) external {
        wait = bound(wait, 0, 2 * NOTE_TTL);
        uint256 identity = _depositUser(1);
        uint256 expiry = escrow.deposits(identity).expiry;
        vm.warp(block.timestamp + wait);
        ExitCase memory e = _exitCase(1, false);
        if (block.timestamp >= expiry) {
            vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.NoteExpired.selector, identity, expiry));
        }
        escrow.requestExit(identity, e.recipient, e.amount, e.nullifier, e.y, exitSignerRoot, e.proof);
    }

    /// @dev A revoked root serves exactly the notes deposited before the announcement, for as long
    /// as they can exit at all.
    function testFuzz_RevokedRootServesOnlyNotesDepositedBeforeTheAnnouncement(
        uint256 gap,
        bool depositFirst,
        uint256 wait
    ) external {
        gap = bound(gap, 0, NOTE_TTL);
        vm.prank(operator);
        escrow.setSignerRoot(777);
        if (depositFirst) _depositUser(0);
        vm.warp(block.timestamp + gap);
        vm.prank(operator);
        escrow.revokeSignerRoot(exitSignerRoot);
        uint256 effectiveAt = block.timestamp + NOTE_TTL;
        if (!depositFirst) _depositUser(0);
        uint256 identity = _identity(0);
        uint256 expiry = escrow.deposits(identity).expiry;
        vm.warp(block.timestamp + bound(wait, 0, NOTE_TTL));

        ExitCase memory e = _exitCase(0, false);
        if (block.timestamp >= expiry) {
            vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.NoteExpired.selector, identity, expiry));
        } else if (!depositFirst || gap == 0) {
            vm.expectRevert(
                abi.encodeWithSelector(ICreditEscrow.RevokedSignerRoot.selector, exitSignerRoot, effectiveAt)
            );
        }
        escrow.requestExit(identity, e.recipient, e.amount, e.nullifier, e.y, exitSignerRoot, e.proof);
    }

    function testFuzz_SweepOnlyAfterExpiry(uint256 seed, uint256 wait) external {
        wait = bound(wait, 0, 2 * NOTE_TTL);
        uint256 identity = _otherIdentity(seed);
        _deposit(identity, 4 * C_MAX);
        uint256 expiry = escrow.deposits(identity).expiry;
        vm.warp(block.timestamp + wait);
        if (block.timestamp < expiry) {
            vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.NoteNotExpired.selector, identity, expiry));
            escrow.sweepExpired(identity);
        } else {
            escrow.sweepExpired(identity);
            assertEq(treasury.balance, 4 * C_MAX);
        }
    }
}
