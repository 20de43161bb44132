// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";

contract AccumulatorAtTest is EscrowTest {
    function _expectOutside(uint256 position, uint256 size, uint256 queued) internal {
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.PositionOutsideQueue.selector, position, size, queued));
        escrow.accumulatorAt(position);
    }

    function test_RevertWhen_ThePositionIsPastTheQueue() external {
        _expectOutside(1, 0, 0);
        _depositNotes(2);
        _expectOutside(3, 0, 2);
        _expectOutside(type(uint256).max, 0, 2);
    }

    function test_RevertWhen_ThePositionIsBelowTheTreesSize() external {
        _applyBatch("next_two");
        _expectOutside(0, 3, 3);
        _expectOutside(2, 3, 3);
    }

    function test_WhenThePositionIsInTheQueue() external {
        assertEq(escrow.accumulatorAt(0), 0, "acc_0 = 0");
        BatchCase memory first = _applyBatch("first");
        // 255 notes wait behind the tree's one leaf: the ring holds positions 1 to 256, and
        // position 256 overwrote position 0's slot.
        uint256 expiry = block.timestamp + NOTE_TTL;
        vm.pauseGasMetering();
        _fill(0, 255);
        vm.resumeGasMetering();
        (, uint256 size, uint256 queued) = escrow.tree();
        assertEq(size, 1);
        assertEq(queued, 256);
        assertEq(escrow.accumulatorAt(1), first.accEnd, "the tree's size");
        uint256 acc = first.accEnd;
        for (uint256 i = 0; i < 255; i++) {
            acc = _accumulate(acc, _otherIdentity(i), C_MAX, expiry);
            assertEq(escrow.accumulatorAt(2 + i), acc, "Poseidon(acc + D * 2^40 + E, ID)");
        }
        _expectOutside(0, 1, 256);
    }
}
