// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";

contract NextRemovalTest is EscrowTest {
    function _assertQueue(uint256 next, uint256 pending) internal view {
        assertEq(escrow.nextRemoval(), next, "nextRemoval");
        assertEq(escrow.pendingRemovals(), pending, "pendingRemovals");
    }

    function test_WhenNoLeafWasEverCondemned() external {
        _assertQueue(0, 0);
        _depositUser(0);
        _assertQueue(0, 0);
    }

    function test_WhenLeavesAreCondemned() external {
        // An Exited, an Active and an Exiting deposit, condemned in that order.
        uint256 exited = _depositUser(0);
        _depositUser(1);
        _depositUser(2);
        _requestExit(0, false);
        vm.warp(block.timestamp + EXIT_DELAY);
        escrow.finalizeExit(exited);
        _requestExit(2, false);

        _slashUser(0);
        _assertQueue(exited, 1);
        _slashUser(1);
        _assertQueue(exited, 2);
        _slashUser(2);
        _assertQueue(exited, 3);
    }

    function test_WhenABatchRemovesTheHead() external {
        // User 1 then user 0 condemned after `next_two`: `remove_1` takes user 1, the oldest.
        _prepareBatch("remove_1");
        uint256 later = _identity(0);
        _slashUser(0);
        _assertQueue(_identity(1), 2);
        _insertBatch("remove_1");
        _assertQueue(later, 1);
    }

    function test_WhenTheHeadIsStillQueued() external {
        // A batch that ends before the head's index leaves the queue as it is.
        _prepareBatch("first");
        _depositNotes(3);
        _slashUser(1);
        _insertBatch("first");
        _assertQueue(_identity(1), 1);
        _insertBatch("next_two_removing_1");
        _assertQueue(0, 0);
    }

    function test_WhenASlashReverts() external {
        uint256 identity = _depositUser(0);
        vm.warp(block.timestamp + NOTE_TTL);
        escrow.sweepExpired(identity);
        ICreditEscrow.Proof memory proof = _slashProof(0);
        vm.expectRevert(
            abi.encodeWithSelector(ICreditEscrow.DepositNotSlashable.selector, identity, ICreditEscrow.Status.Swept)
        );
        escrow.slash(identity, slashReceiver, proof);
        _assertQueue(0, 0);
    }

    function test_WhenEveryCondemnedLeafWasRemoved() external {
        _applyBatch("remove_1");
        _assertQueue(0, 0);

        // The queue goes on behind the removed position.
        _slashUser(0);
        _assertQueue(_identity(0), 1);
    }
}
