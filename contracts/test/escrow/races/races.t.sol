// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";

/// @notice Transactions that land between an updater's proof and its `insertBatch`, and the
/// attack that Merkle siblings in `slash` allowed (a cheater depositing ahead of every slash).
contract RacesTest is EscrowTest {
    address internal updaterA = makeAddr("updater A");
    address internal updaterB = makeAddr("updater B");

    function _submit(address updater, BatchCase memory b) internal {
        vm.prank(updater);
        escrow.insertBatch(b.start, b.count, b.preRoot, b.removedIdentity, b.postRoot, b.proof);
    }

    function test_WhenADepositLandsBetweenTheProofAndTheBatch() external {
        // The updater proved `first` over the queue [note 0]; notes 1 and 2 land before it.
        BatchCase memory first = _prepareBatch("first");
        _depositNotes(3);
        _submit(updaterA, first);
        assertEq(_size(), 1);
        _submit(updaterA, _batch("next_two"));
        assertEq(_size(), 3);
    }

    function test_WhenTwoUpdatersProveFromTheSameStart() external {
        BatchCase memory first = _prepareBatch("first");
        _submit(updaterA, first);
        vm.prank(updaterB);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.StaleBatch.selector, 1));
        escrow.insertBatch(first.start, first.count, first.preRoot, first.removedIdentity, first.postRoot, first.proof);
        // The loser reproves from the new size; its batch of the other notes lands.
        _depositNotes(3);
        _submit(updaterB, _batch("next_two"));
        assertEq(_size(), 3);
    }

    function test_WhenTwoUpdatersProveDifferentBatchesFromTheSameStart() external {
        // After `next_two` and user 1's slash, A proves the removal alone (`remove_1`), B the
        // removal with 64 notes (`full_removing_1`). B lands first: A's start is stale.
        BatchCase memory full = _prepareBatch("full_removing_1");
        BatchCase memory removal = _batch("remove_1");
        assertEq(removal.start, full.start, "the same start");
        _submit(updaterB, full);
        vm.prank(updaterA);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.StaleBatch.selector, 67));
        escrow.insertBatch(
            removal.start, removal.count, removal.preRoot, removal.removedIdentity, removal.postRoot, removal.proof
        );
    }

    function test_WhenARemovalOnlyBatchLandsFirst() external {
        // The other order: `remove_1` appends nothing, so B's start is still the tree's size, but
        // the root moved: B learns it before the pairing.
        BatchCase memory full = _prepareBatch("full_removing_1");
        BatchCase memory removal = _batch("remove_1");
        _submit(updaterA, removal);
        vm.prank(updaterB);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.StaleRoot.selector, removal.postRoot));
        escrow.insertBatch{gas: 50_000}(
            full.start, full.count, full.preRoot, full.removedIdentity, full.postRoot, full.proof
        );
        _submit(updaterB, _batch("full_after_removal"));
        assertEq(_size(), 67);
        assertEq(_root(), full.postRoot, "the same tree");
    }

    function test_WhenASlashLandsBetweenTheProofAndTheBatch() external {
        // The slash makes a removal due in the batch: the batch proven without it is stale before
        // the pairing, and the updater reproves with it. Nothing the slash does is undone.
        BatchCase memory next = _prepareBatch("next_two");
        _slashUser(1);
        vm.prank(updaterA);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.StaleRemoval.selector, _identity(1)));
        escrow.insertBatch{gas: 50_000}(
            next.start, next.count, next.preRoot, next.removedIdentity, next.postRoot, next.proof
        );
        _submit(updaterA, _batch("next_two_removing_1"));
        assertEq(uint8(_status(_identity(1))), uint8(ICreditEscrow.Status.Slashed));
        assertEq(uint8(_leafState(_identity(1))), uint8(ICreditEscrow.LeafState.Removed));
    }

    function test_WhenACheaterFillsTheQueueWhileItsStaleExitIsPending() external {
        // User 1 (in the tree after `next_two`) requests an exit with a state older than a
        // request it already made with the same ticket: nodes hold both shares, recover k and
        // slash within the delay. The cheater deposits as much as the queue takes, around the
        // slash and the updater's batch.
        BatchCase memory full = _batch("full_removing_1");
        _applyBatch("next_two");
        uint256 cheater = _identity(1);
        ExitCase memory stale = _requestExit(1, false);
        _depositNotes(full.start + full.count);
        _slashUser(1);
        // The updater proved `full_removing_1` here; the cheater fills the queue before it lands.
        uint256 waiting = _queued() - _size();
        vm.pauseGasMetering();
        _fill(0, escrow.QUEUE_CAPACITY() - 1 - waiting);
        vm.resumeGasMetering();
        vm.deal(depositor, C_MAX);
        vm.prank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.QueueFull.selector, 255));
        escrow.deposit{value: C_MAX}(_otherIdentity(1000));

        _submit(updaterA, full);
        assertEq(uint8(_leafState(cheater)), uint8(ICreditEscrow.LeafState.Removed), "removed in the batch");
        assertEq(_deposit(_otherIdentity(1000), C_MAX), 258, "the batch made room");

        vm.warp(block.timestamp + EXIT_DELAY);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.NoPendingExit.selector, cheater));
        escrow.finalizeExit(cheater);
        assertEq(stale.recipient.balance, 0, "the exit never pays");
        assertEq(slashReceiver.balance, SLASH_BOUNTY);
        assertEq(treasury.balance, _vectorDeposit(1) - SLASH_BOUNTY);
    }
}
