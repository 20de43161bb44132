// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";
import {RejectingReceiver} from "../../utils/Tokens.sol";

contract FinalizeExitTest is EscrowTest {
    uint256 internal identity;

    function setUp() public override {
        super.setUp();
        identity = _depositUser(0);
    }

    function test_RevertWhen_TheDepositHasNoPendingExit() external {
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.NoPendingExit.selector, identity));
        escrow.finalizeExit(identity);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.NoPendingExit.selector, 1));
        escrow.finalizeExit(1);
    }

    function test_RevertWhen_TheExitDelayHasNotElapsed() external {
        _requestExit(0, false);
        uint256 finalizableAt = block.timestamp + EXIT_DELAY;
        vm.warp(finalizableAt - 1);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.ExitDelayNotElapsed.selector, identity, finalizableAt));
        escrow.finalizeExit(identity);
    }

    function test_WhenTheExitDelayHasElapsed() external {
        ExitCase memory e = _requestExit(0, false);
        uint256 deposit = _vectorDeposit(0);
        vm.warp(block.timestamp + EXIT_DELAY);
        vm.expectEmit(address(escrow));
        emit ICreditEscrow.ExitFinalized(identity, e.recipient, e.amount, deposit - e.amount);
        escrow.finalizeExit(identity);
        assertEq(uint8(_status(identity)), uint8(ICreditEscrow.Status.Exited));
        assertEq(e.recipient.balance, e.amount, "recipient");
        assertEq(treasury.balance, deposit - e.amount, "treasury");
        assertEq(address(escrow).balance, 0);
        ICreditEscrow.DepositRecord memory record = escrow.deposits(identity);
        assertEq(uint8(record.leaf), uint8(ICreditEscrow.LeafState.InTree), "the leaf stays");
        assertEq(record.finalizableAt, block.timestamp, "the finalization time stays");
        ICreditEscrow.PendingExit memory pending = escrow.pendingExits(identity);
        assertEq(pending.recipient, address(0), "the pending exit is deleted");
        assertEq(pending.amount, 0);
    }

    function test_WhenTheNoteExpiresDuringTheDelay() external {
        vm.warp(escrow.deposits(identity).expiry - 1);
        ExitCase memory e = _requestExit(0, true);
        vm.warp(block.timestamp + EXIT_DELAY);
        vm.expectRevert(
            abi.encodeWithSelector(ICreditEscrow.DepositNotActive.selector, identity, ICreditEscrow.Status.Exiting)
        );
        escrow.sweepExpired(identity);
        escrow.finalizeExit(identity);
        assertEq(e.recipient.balance, e.amount);
    }

    function test_WhenTheRecipientRejectsETH() external {
        ExitCase memory e = _exitCase(0, false);
        vm.etch(e.recipient, address(new RejectingReceiver()).code);
        _requestExit(0, false);
        vm.warp(block.timestamp + EXIT_DELAY);
        escrow.finalizeExit(identity);
        assertEq(e.recipient.balance, 0);
        assertEq(escrow.claimable(e.recipient), e.amount);
        assertEq(address(escrow).balance, e.amount, "held for the claim");
    }

    function test_RevertWhen_ItIsReplayed() external {
        _requestExit(0, false);
        vm.warp(block.timestamp + EXIT_DELAY);
        escrow.finalizeExit(identity);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.NoPendingExit.selector, identity));
        escrow.finalizeExit(identity);
        ExitCase memory e = _exitCase(0, false);
        vm.expectRevert(
            abi.encodeWithSelector(ICreditEscrow.DepositNotActive.selector, identity, ICreditEscrow.Status.Exited)
        );
        escrow.requestExit(identity, e.recipient, e.amount, e.nullifier, e.y, exitSignerRoot, e.proof);
    }
}
