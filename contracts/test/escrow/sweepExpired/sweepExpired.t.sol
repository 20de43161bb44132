// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";

contract SweepExpiredTest is EscrowTest {
    uint256 internal identity;

    function setUp() public override {
        super.setUp();
        identity = _depositUser(0);
    }

    function test_RevertWhen_TheDepositIsNotActive() external {
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.DepositNotActive.selector, 1, ICreditEscrow.Status.None));
        escrow.sweepExpired(1);

        _requestExit(0, false);
        vm.warp(block.timestamp + NOTE_TTL);
        vm.expectRevert(
            abi.encodeWithSelector(ICreditEscrow.DepositNotActive.selector, identity, ICreditEscrow.Status.Exiting)
        );
        escrow.sweepExpired(identity);
    }

    function test_RevertWhen_ItIsReplayed() external {
        vm.warp(block.timestamp + NOTE_TTL);
        escrow.sweepExpired(identity);
        vm.expectRevert(
            abi.encodeWithSelector(ICreditEscrow.DepositNotActive.selector, identity, ICreditEscrow.Status.Swept)
        );
        escrow.sweepExpired(identity);
    }

    function test_RevertWhen_TheNoteHasNotExpired() external {
        uint256 expiry = escrow.deposits(identity).expiry;
        vm.warp(expiry - 1);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.NoteNotExpired.selector, identity, expiry));
        escrow.sweepExpired(identity);
    }

    function test_WhenTheNoteHasExpired() external {
        uint256 rootBefore = _root();
        vm.warp(escrow.deposits(identity).expiry);
        vm.expectEmit(address(escrow));
        emit ICreditEscrow.Swept(identity, _vectorDeposit(0));
        vm.prank(makeAddr("anyone"));
        escrow.sweepExpired(identity);
        assertEq(uint8(_status(identity)), uint8(ICreditEscrow.Status.Swept));
        assertEq(treasury.balance, _vectorDeposit(0));
        assertEq(address(escrow).balance, 0);
        assertEq(_root(), rootBefore, "expiry does not touch the tree");
    }
}
