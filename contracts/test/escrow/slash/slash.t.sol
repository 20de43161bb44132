// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {CreditEscrow} from "../../../src/CreditEscrow.sol";
import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";
import {RejectingReceiver} from "../../utils/Tokens.sol";

contract SlashTest is EscrowTest {
    uint256 internal identity;

    function setUp() public override {
        super.setUp();
        _deposit(_otherIdentity(1), C_MAX);
        identity = _depositUser(0);
        _deposit(_otherIdentity(2), 2 * C_MAX);
    }

    function _expectNotSlashable(uint256 id, ICreditEscrow.Status status) internal {
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.DepositNotSlashable.selector, id, status));
    }

    function test_RevertWhen_TheIdentityHasNoDeposit() external {
        ICreditEscrow.Proof memory proof = _slashProof(1);
        uint256 unknown = _identity(1);
        _expectNotSlashable(unknown, ICreditEscrow.Status.None);
        escrow.slash(unknown, slashReceiver, proof);
    }

    function test_RevertWhen_TheDepositWasSlashed() external {
        _slashUser(0);
        ICreditEscrow.Proof memory proof = _slashProof(0);
        _expectNotSlashable(identity, ICreditEscrow.Status.Slashed);
        escrow.slash(identity, slashReceiver, proof);
    }

    function test_RevertWhen_ItsExitedLeafWasCondemned() external {
        _requestExit(0, false);
        vm.warp(block.timestamp + EXIT_DELAY);
        escrow.finalizeExit(identity);
        _slashUser(0);
        ICreditEscrow.Proof memory proof = _slashProof(0);
        _expectNotSlashable(identity, ICreditEscrow.Status.Exited);
        escrow.slash(identity, slashReceiver, proof);
    }

    function test_RevertWhen_TheDepositWasSwept() external {
        // An expired note has no request proof left to stop: condemning its leaf would only
        // make a batch remove it for nothing.
        vm.warp(block.timestamp + NOTE_TTL);
        escrow.sweepExpired(identity);
        uint256 rootBefore = _root();
        ICreditEscrow.Proof memory proof = _slashProof(0);
        _expectNotSlashable(identity, ICreditEscrow.Status.Swept);
        escrow.slash(identity, slashReceiver, proof);
        assertEq(uint8(_leafState(identity)), uint8(ICreditEscrow.LeafState.InTree), "the leaf stays");
        assertEq(escrow.pendingRemovals(), 0, "nothing to remove");
        assertEq(_root(), rootBefore);
    }

    function test_RevertWhen_TheReceiverIsTheZeroAddress() external {
        ICreditEscrow.Proof memory proof = _slashProof(0);
        vm.expectRevert(ICreditEscrow.ZeroAddress.selector);
        escrow.slash(identity, address(0), proof);
    }

    function test_RevertWhen_TheProofNamesAnotherReceiver() external {
        ICreditEscrow.Proof memory proof = _slashProof(0);
        // A front-runner who copies the proof cannot redirect the bounty.
        vm.prank(makeAddr("front-runner"));
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        escrow.slash(identity, makeAddr("front-runner"), proof);
    }

    function test_RevertWhen_TheProofIsForAnotherIdentity() external {
        uint256 other = _depositUser(1);
        ICreditEscrow.Proof memory proof = _slashProof(0);
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        escrow.slash(other, slashReceiver, proof);
    }

    function test_RevertWhen_TheEscrowIsAnotherDeployment() external {
        ICreditEscrow.Proof memory proof = _slashProof(0);
        escrow = new CreditEscrow(_parameters(address(0)), operator, exitSignerRoot);
        _depositUser(0);
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        escrow.slash(identity, slashReceiver, proof);
    }

    function test_RevertWhen_TheProofIsAltered() external {
        ICreditEscrow.Proof memory proof = _slashProof(0);
        proof.a = proof.c;
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        escrow.slash(identity, slashReceiver, proof);
    }

    function test_WhenTheDepositIsActive() external {
        uint256 deposit = _vectorDeposit(0);
        ICreditEscrow.Proof memory proof = _slashProof(0);
        uint256 rootBefore = _root();

        vm.expectEmit(address(escrow));
        emit ICreditEscrow.Slashed(identity, slashReceiver, SLASH_BOUNTY, deposit - SLASH_BOUNTY);
        // Anyone may submit the proof; the bounty goes to the receiver it names.
        vm.prank(makeAddr("submitter"));
        escrow.slash(identity, slashReceiver, proof);

        ICreditEscrow.DepositRecord memory record = escrow.deposits(identity);
        assertEq(uint8(record.status), uint8(ICreditEscrow.Status.Slashed));
        assertEq(uint8(record.leaf), uint8(ICreditEscrow.LeafState.Condemned));
        assertEq(escrow.pendingRemovals(), 1);
        assertEq(escrow.nextRemoval(), identity, "queued for removal");
        assertEq(slashReceiver.balance, SLASH_BOUNTY, "bounty");
        assertEq(treasury.balance, deposit - SLASH_BOUNTY, "treasury");
        assertEq(makeAddr("submitter").balance, 0, "submitter");
        assertEq(address(escrow).balance, 3 * C_MAX, "the other deposits stay");
        assertEq(_root(), rootBefore, "the leaf waits for a batch");
        assertEq(_deposit(_otherIdentity(3), C_MAX), 3, "deposits go on");
    }

    function test_WhenTheDepositIsExiting() external {
        ExitCase memory e = _requestExit(0, false);
        _slashUser(0);
        assertEq(uint8(_status(identity)), uint8(ICreditEscrow.Status.Slashed));
        assertEq(escrow.pendingExits(identity).recipient, address(0), "exit cancelled");
        vm.warp(block.timestamp + EXIT_DELAY);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.NoPendingExit.selector, identity));
        escrow.finalizeExit(identity);
        assertEq(e.recipient.balance, 0, "the exit never pays");
    }

    function test_WhenTheDepositIsBelowTheBounty() external {
        uint256 small = _identity(1);
        _deposit(small, SLASH_BOUNTY - 1);
        escrow.slash(small, slashReceiver, _slashProof(1));
        assertEq(slashReceiver.balance, SLASH_BOUNTY - 1);
        assertEq(treasury.balance, 0);
    }

    function test_WhenTheReceiverRejectsETH() external {
        vm.etch(slashReceiver, address(new RejectingReceiver()).code);
        _slashUser(0);
        assertEq(slashReceiver.balance, 0);
        assertEq(escrow.claimable(slashReceiver), SLASH_BOUNTY, "deferred");
        assertEq(treasury.balance, _vectorDeposit(0) - SLASH_BOUNTY, "the treasury is still paid");
    }

    function test_WhenAnotherLeafIsAlreadyCondemned() external {
        uint256 first = _depositUser(1);
        _slashUser(1);
        _slashUser(0);
        assertEq(escrow.pendingRemovals(), 2);
        assertEq(escrow.nextRemoval(), first, "the older condemnation stays first");
    }

    function test_WhenTheDepositExited() external {
        ExitCase memory e = _requestExit(0, false);
        vm.warp(block.timestamp + EXIT_DELAY);
        escrow.finalizeExit(identity);
        uint256 treasuryBefore = treasury.balance;
        uint256 rootBefore = _root();

        vm.expectEmit(address(escrow));
        emit ICreditEscrow.LeafCondemned(identity);
        _slashUser(0);

        ICreditEscrow.DepositRecord memory record = escrow.deposits(identity);
        assertEq(uint8(record.status), uint8(ICreditEscrow.Status.Exited), "status kept");
        assertEq(uint8(record.leaf), uint8(ICreditEscrow.LeafState.Condemned));
        assertEq(record.finalizableAt, block.timestamp, "when the exit was finalized");
        assertEq(escrow.pendingExits(identity).recipient, address(0), "the finalized exit was deleted");
        assertEq(e.recipient.balance, e.amount, "the exit was paid");
        assertEq(escrow.pendingRemovals(), 1);
        assertEq(escrow.nextRemoval(), identity, "queued for removal");
        assertEq(slashReceiver.balance, 0, "no bounty");
        assertEq(treasury.balance, treasuryBefore, "nothing moves");
        assertEq(_root(), rootBefore);
    }
}

/// @notice Slashes around batch insertion, on the vector notes from queue position 0.
contract SlashAndBatchTest is EscrowTest {
    function test_RevertWhen_TheSlashedLeafWasRemoved() external {
        // User 1 is slashed while queued; the batch that appends its note removes it.
        _applyBatch("next_two_removing_1");
        uint256 removed = _identity(1);
        assertEq(uint8(_leafState(removed)), uint8(ICreditEscrow.LeafState.Removed));
        ICreditEscrow.Proof memory proof = _slashProof(1);
        vm.expectRevert(
            abi.encodeWithSelector(ICreditEscrow.DepositNotSlashable.selector, removed, ICreditEscrow.Status.Slashed)
        );
        escrow.slash(removed, slashReceiver, proof);
    }

    function test_WhenADepositOrABatchLandsFirstInTheSameBlock() external {
        // The slash takes no siblings and reads neither the tree nor the queue.
        _prepareBatch("first");
        _depositNotes(3);
        _insertBatch("first");
        _slashUser(1);
        assertEq(uint8(_status(_identity(1))), uint8(ICreditEscrow.Status.Slashed));
        _insertBatch("next_two_removing_1");
        assertEq(uint8(_leafState(_identity(1))), uint8(ICreditEscrow.LeafState.Removed));
    }

    function test_WhenTheNoteIsStillQueued() external {
        // Its leaf is condemned before it is appended; the batch that appends it removes it.
        _applyBatch("first");
        _depositNotes(3);
        uint256 queued = _identity(1);
        escrow.slash(queued, slashReceiver, _slashProof(1));
        assertEq(uint8(_leafState(queued)), uint8(ICreditEscrow.LeafState.Condemned));
        assertEq(escrow.nextRemoval(), queued);
        assertEq(_size(), 1, "the note is not in the tree yet");
    }
}
