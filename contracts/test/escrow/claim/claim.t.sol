// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {CreditEscrow} from "../../../src/CreditEscrow.sol";
import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";
import {BlockingToken, RejectingReceiver, ReenteringReceiver} from "../../utils/Tokens.sol";

contract ClaimTest is EscrowTest {
    address internal receiver;

    function setUp() public override {
        super.setUp();
        _depositUser(0);
        receiver = slashReceiver;
        vm.etch(receiver, address(new RejectingReceiver()).code);
        _slashUser(0);
    }

    function test_RevertWhen_TheDestinationIsTheZeroAddress() external {
        vm.prank(receiver);
        vm.expectRevert(ICreditEscrow.ZeroAddress.selector);
        escrow.claim(address(0));
    }

    function test_RevertWhen_TheCallerHasNothingToClaim() external {
        address stranger = makeAddr("stranger");
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.NothingToClaim.selector, stranger));
        escrow.claim(stranger);
    }

    function test_RevertWhen_TheDestinationRejectsThePayment() external {
        vm.prank(receiver);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.ClaimFailed.selector, receiver, SLASH_BOUNTY));
        escrow.claim(receiver);
        assertEq(escrow.claimable(receiver), SLASH_BOUNTY, "kept");
    }

    function test_WhenTheCallerHasADeferredPayout() external {
        address wallet = makeAddr("wallet");
        vm.expectEmit(address(escrow));
        emit ICreditEscrow.Claimed(receiver, wallet, SLASH_BOUNTY);
        vm.prank(receiver);
        escrow.claim(wallet);
        assertEq(wallet.balance, SLASH_BOUNTY);
        assertEq(escrow.claimable(receiver), 0);
        assertEq(address(escrow).balance, 0);
    }

    function test_AReenteringReceiverCannotReenter() external {
        ReenteringReceiver reentering = new ReenteringReceiver(address(escrow));
        reentering.setReentry(abi.encodeCall(ICreditEscrow.claim, (address(reentering))));
        vm.etch(treasury, address(reentering).code);
        // The etched copy has no storage: give it the reentry it should attempt.
        vm.store(treasury, bytes32(uint256(0)), vm.load(address(reentering), bytes32(uint256(0))));
        uint256 identity = _depositUser(1);
        vm.warp(block.timestamp + NOTE_TTL);
        escrow.sweepExpired(identity);
        assertFalse(ReenteringReceiver(payable(treasury)).reentered(), "the guard stopped the reentry");
        assertEq(treasury.balance, _vectorDeposit(1) + _vectorDeposit(0) - SLASH_BOUNTY, "paid once");
    }

    function test_ATokenThatBlocksTheTreasuryDefersItsShare() external {
        BlockingToken token = new BlockingToken();
        CreditEscrow tokenEscrow = new CreditEscrow(_parameters(address(token)), operator, exitSignerRoot);
        uint256 amount = 5 * C_MAX;
        token.mint(depositor, amount);
        vm.startPrank(depositor);
        token.approve(address(tokenEscrow), amount);
        tokenEscrow.depositToken(7, amount);
        vm.stopPrank();
        token.setBlocked(treasury, true);
        vm.warp(block.timestamp + NOTE_TTL);
        tokenEscrow.sweepExpired(7);
        assertEq(uint8(tokenEscrow.deposits(7).status), uint8(ICreditEscrow.Status.Swept), "not blocked");
        assertEq(tokenEscrow.claimable(treasury), amount, "deferred");
        vm.prank(treasury);
        tokenEscrow.claim(makeAddr("new treasury wallet"));
        assertEq(token.balanceOf(makeAddr("new treasury wallet")), amount);
    }
}
