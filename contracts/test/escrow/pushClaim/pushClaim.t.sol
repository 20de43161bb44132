// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";
import {GasHungryReceiver, RejectingReceiver} from "../../utils/Tokens.sol";

contract PushClaimTest is EscrowTest {
    function setUp() public override {
        super.setUp();
        // A contract receiver that takes ETH only with more gas than PAYOUT_GAS and cannot call
        // claim: the slash defers its bounty.
        vm.etch(slashReceiver, address(new GasHungryReceiver()).code);
        _depositUser(0);
        _slashUser(0);
        assertEq(escrow.claimable(slashReceiver), SLASH_BOUNTY, "deferred");
    }

    function test_RevertWhen_TheAccountHasNothingToClaim() external {
        address stranger = makeAddr("stranger");
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.NothingToClaim.selector, stranger));
        escrow.pushClaim(stranger);
    }

    function test_RevertWhen_TheAccountRejectsThePayment() external {
        vm.etch(slashReceiver, address(new RejectingReceiver()).code);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.ClaimFailed.selector, slashReceiver, SLASH_BOUNTY));
        escrow.pushClaim(slashReceiver);
        assertEq(escrow.claimable(slashReceiver), SLASH_BOUNTY, "kept");
    }

    function test_WhenTheAccountHasADeferredPayout() external {
        vm.expectEmit(address(escrow));
        emit ICreditEscrow.Claimed(slashReceiver, slashReceiver, SLASH_BOUNTY);
        vm.prank(makeAddr("anyone"));
        escrow.pushClaim(slashReceiver);
        assertEq(slashReceiver.balance, SLASH_BOUNTY);
        assertEq(GasHungryReceiver(payable(slashReceiver)).receipts(7), SLASH_BOUNTY, "its receive ran to the end");
        assertEq(escrow.claimable(slashReceiver), 0);
        assertEq(address(escrow).balance, 0);
    }
}
