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
        uint256 exited = _depositUser(0);
        uint256 active = _depositUser(1);
        uint256 exiting = _depositUser(2);
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

        _removeLeaf(exited);
        _assertQueue(active, 2);
        _removeLeaf(active);
        _assertQueue(exiting, 1);
        _removeLeaf(exiting);
        _assertQueue(0, 0);
        assertEq(_root(), _modelRoot());
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
        _depositUser(0);
        uint256 later = _depositUser(1);
        _slashAndRemove(0);
        _assertQueue(0, 0);

        // The queue goes on behind the removed position.
        _slashUser(1);
        _assertQueue(later, 1);
        _removeLeaf(later);
        _assertQueue(0, 0);
        assertEq(_root(), _modelRoot());
    }
}
