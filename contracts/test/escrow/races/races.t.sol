// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";

/// @notice The attacks that Merkle siblings in `slash` allowed: a cheater whose exit is pending
/// deposits ahead of every slash, so that the slash's siblings are stale when it executes.
contract RacesTest is EscrowTest {
    uint256 internal constant BLOCK_TIME = 12;

    uint256 internal cheater;
    uint256 internal nextSeed;

    function setUp() public override {
        super.setUp();
        _deposit(_otherIdentity(0), C_MAX);
        cheater = _depositUser(0);
        nextSeed = 1;
    }

    function _nextBlock() internal {
        vm.roll(block.number + 1);
        vm.warp(block.timestamp + BLOCK_TIME);
    }

    /// @dev The cheater's deposit of the block: it lands unless a removal is pending.
    function _cheaterDeposits() internal {
        uint256 pending = escrow.pendingRemovals();
        if (pending == 0) {
            _deposit(_otherIdentity(nextSeed++), C_MAX);
            return;
        }
        vm.deal(depositor, C_MAX);
        vm.prank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.LeafRemovalPending.selector, pending));
        escrow.deposit{value: C_MAX}(_otherIdentity(nextSeed));
    }

    function test_WhenADepositLandsInTheSameBlockAsASlash() external {
        _cheaterDeposits();
        _slashUser(0);
        _cheaterDeposits();
        assertEq(uint8(_status(cheater)), uint8(ICreditEscrow.Status.Slashed));

        _nextBlock();
        _cheaterDeposits();
        _removeLeaf(cheater);
        _cheaterDeposits();
        assertEq(uint8(_leafState(cheater)), uint8(ICreditEscrow.LeafState.Removed));
        assertEq(_root(), _modelRoot());
    }

    function test_WhenACheaterDepositsInEveryBlockForTheExitDelay() external {
        // The exit shows a state older than a request the cheater already made with the same
        // ticket: nodes hold both shares, recover k and slash within the delay.
        ExitCase memory stale = _requestExit(0, false);
        uint256 finalizableAt = escrow.pendingExits(cheater).finalizableAt;
        // 7,200 deposits take more than a test's gas limit.
        vm.pauseGasMetering();
        for (uint256 blocks = 1; block.timestamp < finalizableAt; blocks++) {
            _nextBlock();
            _cheaterDeposits();
            if (blocks == 1) _slashUser(0);
            if (blocks == 2) _removeLeaf(cheater);
        }
        vm.resumeGasMetering();
        assertEq(nextSeed - 1, EXIT_DELAY / BLOCK_TIME - 1, "a deposit landed in every block but the removal's");

        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.NoPendingExit.selector, cheater));
        escrow.finalizeExit(cheater);
        assertEq(stale.recipient.balance, 0, "the exit never pays");
        assertEq(slashReceiver.balance, SLASH_BOUNTY);
        assertEq(treasury.balance, _vectorDeposit(0) - SLASH_BOUNTY);
        assertEq(uint8(_leafState(cheater)), uint8(ICreditEscrow.LeafState.Removed));
        assertEq(_root(), _modelRoot());
    }
}
