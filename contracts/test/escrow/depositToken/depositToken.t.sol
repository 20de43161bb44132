// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {CreditEscrow} from "../../../src/CreditEscrow.sol";
import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";
import {FalseReturningToken, FeeOnTransferToken, BlockingToken, TestToken} from "../../utils/Tokens.sol";

contract DepositTokenTest is EscrowTest {
    TestToken internal token;

    function setUp() public override {
        super.setUp();
        token = new TestToken();
        escrow = new CreditEscrow(_parameters(address(token)), operator, exitSignerRoot);
    }

    function _escrowFor(TestToken t) internal returns (CreditEscrow e) {
        e = new CreditEscrow(_parameters(address(t)), operator, exitSignerRoot);
        t.mint(depositor, 10 * C_MAX);
        vm.prank(depositor);
        t.approve(address(e), type(uint256).max);
    }

    function test_RevertWhen_TheEscrowHoldsETH() external {
        CreditEscrow ethEscrow = new CreditEscrow(_parameters(address(0)), operator, exitSignerRoot);
        vm.expectRevert(ICreditEscrow.TokenNotAccepted.selector);
        ethEscrow.depositToken(1, C_MAX);
    }

    function test_RevertWhen_TheIdentityAmountOrPriorDepositIsInvalid() external {
        escrow = _escrowFor(token);
        vm.startPrank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.InvalidIdentity.selector, 0));
        escrow.depositToken(0, C_MAX);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.DepositBelowMinimum.selector, 1, C_MAX));
        escrow.depositToken(1, 1);
        uint256 tooLarge = uint256(type(uint96).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.DepositTooLarge.selector, tooLarge));
        escrow.depositToken(1, tooLarge);
        escrow.depositToken(1, C_MAX);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.IdentityAlreadyDeposited.selector, 1));
        escrow.depositToken(1, C_MAX);
    }

    function test_RevertWhen_TheTokenRevertsTheTransfer() external {
        BlockingToken bad = new BlockingToken();
        CreditEscrow e = _escrowFor(bad);
        bad.setBlocked(depositor, true);
        vm.prank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.TokenTransferFailed.selector, address(bad)));
        e.depositToken(1, C_MAX);
        assertEq(uint8(e.deposits(1).status), uint8(ICreditEscrow.Status.None), "nothing recorded");
        (,, uint256 queued) = e.tree();
        assertEq(queued, 0, "nothing queued");
    }

    function test_RevertWhen_TheTokenReturnsFalse() external {
        FalseReturningToken bad = new FalseReturningToken();
        CreditEscrow e = _escrowFor(bad);
        vm.prank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.TokenTransferFailed.selector, address(bad)));
        e.depositToken(1, C_MAX);
    }

    function test_RevertWhen_TheTokenTakesAFeeOnTransfer() external {
        FeeOnTransferToken bad = new FeeOnTransferToken();
        CreditEscrow e = _escrowFor(bad);
        vm.prank(depositor);
        vm.expectRevert(
            abi.encodeWithSelector(ICreditEscrow.TransferAmountMismatch.selector, 2 * C_MAX, 2 * C_MAX - 20)
        );
        e.depositToken(1, 2 * C_MAX);
    }

    function test_WhenTheTransferMovesTheAmount() external {
        escrow = _escrowFor(token);
        uint256 amount = 3 * C_MAX;
        uint256 expiry = block.timestamp + NOTE_TTL;
        uint256 acc = _accumulate(0, 7, amount, expiry);
        vm.expectEmit(address(escrow));
        emit ICreditEscrow.Deposited(7, amount, expiry, 0);
        vm.prank(depositor);
        assertEq(escrow.depositToken(7, amount), 0);
        assertEq(token.balanceOf(address(escrow)), amount);
        assertEq(token.balanceOf(depositor), 10 * C_MAX - amount);
        assertEq(uint8(escrow.deposits(7).status), uint8(ICreditEscrow.Status.Active));
        assertEq(escrow.accumulatorAt(1), acc, "the same accumulator as an ETH deposit");
    }

    function test_WhenRemovalsArePending() external {
        _deployTokenEscrow(token);
        uint256 identity = _depositUser(0);
        _slashUser(0);
        assertEq(_deposit(1, C_MAX), 1, "slashes do not pause deposits");
        assertEq(escrow.nextRemoval(), identity);
    }

    function test_WhenTheTokenEscrowInsertsTheVectorBatches() external {
        // Batch proofs do not depend on the escrow: the token escrow takes the same ones.
        _deployTokenEscrow(token);
        BatchCase memory b = _applyBatch("next_two_removing_1");
        (uint256 root, uint256 size,) = escrow.tree();
        assertEq(root, b.postRoot);
        assertEq(size, 3);
        assertEq(uint8(_leafState(_identity(1))), uint8(ICreditEscrow.LeafState.Removed));
        assertEq(token.balanceOf(slashReceiver), SLASH_BOUNTY, "the slash paid in tokens");
    }

    function test_SlashOfATokenDepositPaysInTokens() external {
        _deployTokenEscrow(token);
        _depositUser(0);
        _slashUser(0);
        assertEq(token.balanceOf(slashReceiver), SLASH_BOUNTY);
        assertEq(token.balanceOf(treasury), _vectorDeposit(0) - SLASH_BOUNTY);
        assertEq(token.balanceOf(address(escrow)), 0);
    }

    function test_ExitOfATokenDepositPaysInTokens() external {
        _deployTokenEscrow(token);
        uint256 identity = _depositUser(0);
        ExitCase memory e = _requestExit(0, false);
        vm.warp(block.timestamp + EXIT_DELAY);
        escrow.finalizeExit(identity);
        assertEq(token.balanceOf(e.recipient), e.amount);
        assertEq(token.balanceOf(treasury), _vectorDeposit(0) - e.amount);
        assertEq(token.balanceOf(address(escrow)), 0);
    }
}
