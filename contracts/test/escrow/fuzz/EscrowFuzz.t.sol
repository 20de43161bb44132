// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";

/// @notice Amounts, receivers and timing around EXIT_DELAY and NOTE_TTL, with real proofs.
contract EscrowFuzzTest is EscrowTest {
    function testFuzz_DepositRecordsAnyAmountInRange(uint256 seed, uint256 amount) external {
        amount = bound(amount, C_MAX, type(uint96).max);
        uint256 identity = _otherIdentity(seed);
        _deposit(_otherIdentity(seed ^ 1), C_MAX);
        _deposit(identity, amount);
        assertEq(escrow.deposits(identity).amount, amount);
        assertEq(address(escrow).balance, amount + C_MAX);
        assertEq(_root(), _modelRoot());
    }

    function testFuzz_SlashSplitsAnyDepositBetweenReceiverAndTreasury(uint256 amount) external {
        amount = bound(amount, C_MAX, type(uint96).max);
        uint256 identity = _identity(0);
        _deposit(identity, amount);
        _slashAndRemove(0);
        uint256 bounty = amount < SLASH_BOUNTY ? amount : SLASH_BOUNTY;
        assertEq(slashReceiver.balance, bounty);
        assertEq(treasury.balance, amount - bounty);
        assertEq(address(escrow).balance, 0);
        assertEq(_root(), 0, "the only leaf is zeroed");
    }

    function testFuzz_RevertWhen_TheSlashNamesAnotherReceiver(address receiver) external {
        vm.assume(receiver != slashReceiver && receiver != address(0));
        uint256 identity = _depositUser(0);
        ICreditEscrow.Proof memory proof = _slashProof(0);
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        escrow.slash(identity, receiver, proof);
    }

    /// forge-config: default.fuzz.runs = 64
    function testFuzz_RevertWhen_TheRemovalHasAnyOtherNumberOfSiblings(uint256 leaves, uint256 given) external {
        leaves = bound(leaves, 0, 20);
        uint256 identity = _depositUser(0);
        for (uint256 i = 0; i < leaves; i++) {
            _deposit(_otherIdentity(i), C_MAX);
        }
        _slashUser(0);
        uint256 expected = _siblings(identity).length;
        given = bound(given, 0, 8);
        vm.assume(given != expected);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.WrongSiblingCount.selector, expected, given));
        escrow.removeLeaf(identity, new uint256[](given));
    }

    function testFuzz_FinalizeExitOnlyAfterTheDelay(uint256 wait) external {
        wait = bound(wait, 0, 3 * EXIT_DELAY);
        uint256 identity = _depositUser(0);
        ExitCase memory e = _requestExit(0, false);
        uint256 finalizableAt = block.timestamp + EXIT_DELAY;
        vm.warp(block.timestamp + wait);
        if (wait < EXIT_DELAY) {
            vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.ExitDelayNotElapsed.selector, identity, finalizableAt));
            escrow.finalizeExit(identity);
        } else {
            escrow.finalizeExit(identity);
            assertEq(e.recipient.balance, e.amount);
        }
    }

    function testFuzz_RequestExitOnlyBeforeExpiry(uint256 wait) external {
        wait = bound(wait, 0, 2 * NOTE_TTL);
        uint256 identity = _depositUser(1);
        uint256 expiry = escrow.deposits(identity).expiry;
        vm.warp(block.timestamp + wait);
        ExitCase memory e = _exitCase(1, false);
        if (block.timestamp >= expiry) {
            vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.NoteExpired.selector, identity, expiry));
        }
        escrow.requestExit(identity, e.recipient, e.amount, e.nullifier, e.y, exitSignerRoot, e.proof);
    }

    /// @dev A revoked root serves exactly the notes deposited before the announcement, for as long
    /// as they can exit at all.
    function testFuzz_RevokedRootServesOnlyNotesDepositedBeforeTheAnnouncement(
        uint256 gap,
        bool depositFirst,
        uint256 wait
    ) external {
        gap = bound(gap, 0, NOTE_TTL);
        vm.prank(operator);
        escrow.setSignerRoot(777);
        if (depositFirst) _depositUser(0);
        vm.warp(block.timestamp + gap);
        vm.prank(operator);
        escrow.revokeSignerRoot(exitSignerRoot);
        uint256 effectiveAt = block.timestamp + NOTE_TTL;
        if (!depositFirst) _depositUser(0);
        uint256 identity = _identity(0);
        uint256 expiry = escrow.deposits(identity).expiry;
        vm.warp(block.timestamp + bound(wait, 0, NOTE_TTL));

        ExitCase memory e = _exitCase(0, false);
        if (block.timestamp >= expiry) {
            vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.NoteExpired.selector, identity, expiry));
        } else if (!depositFirst || gap == 0) {
            vm.expectRevert(
                abi.encodeWithSelector(ICreditEscrow.RevokedSignerRoot.selector, exitSignerRoot, effectiveAt)
            );
        }
        escrow.requestExit(identity, e.recipient, e.amount, e.nullifier, e.y, exitSignerRoot, e.proof);
    }

    function testFuzz_SweepOnlyAfterExpiry(uint256 seed, uint256 wait) external {
        wait = bound(wait, 0, 2 * NOTE_TTL);
        uint256 identity = _otherIdentity(seed);
        _deposit(identity, 4 * C_MAX);
        uint256 expiry = escrow.deposits(identity).expiry;
        vm.warp(block.timestamp + wait);
        if (block.timestamp < expiry) {
            vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.NoteNotExpired.selector, identity, expiry));
            escrow.sweepExpired(identity);
        } else {
            escrow.sweepExpired(identity);
            assertEq(treasury.balance, 4 * C_MAX);
        }
    }
}
