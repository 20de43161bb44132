// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {WrongSiblingNodes} from "node_modules/@zk-kit/lean-imt.sol/InternalLeanIMT.sol";
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

    function test_RevertWhen_TheDepositIsNeitherActiveNorExiting() external {
        ICreditEscrow.Proof memory proof = _slashProof(1);
        uint256 unknown = _identity(1);
        vm.expectRevert(
            abi.encodeWithSelector(ICreditEscrow.DepositNotSlashable.selector, unknown, ICreditEscrow.Status.None)
        );
        escrow.slash(unknown, slashReceiver, proof, new uint256[](0));
    }

    function test_RevertWhen_ItIsReplayed() external {
        _slashUser(0);
        ICreditEscrow.Proof memory proof = _slashProof(0);
        uint256[] memory siblings = _siblings(identity);
        vm.expectRevert(
            abi.encodeWithSelector(ICreditEscrow.DepositNotSlashable.selector, identity, ICreditEscrow.Status.Slashed)
        );
        escrow.slash(identity, slashReceiver, proof, siblings);
    }

    function test_RevertWhen_TheDepositExited() external {
        _requestExit(0, false);
        vm.warp(block.timestamp + EXIT_DELAY);
        escrow.finalizeExit(identity);
        ICreditEscrow.Proof memory proof = _slashProof(0);
        uint256[] memory siblings = _siblings(identity);
        vm.expectRevert(
            abi.encodeWithSelector(ICreditEscrow.DepositNotSlashable.selector, identity, ICreditEscrow.Status.Exited)
        );
        escrow.slash(identity, slashReceiver, proof, siblings);
    }

    function test_RevertWhen_TheDepositWasSwept() external {
        vm.warp(block.timestamp + NOTE_TTL);
        escrow.sweepExpired(identity);
        ICreditEscrow.Proof memory proof = _slashProof(0);
        uint256[] memory siblings = _siblings(identity);
        vm.expectRevert(
            abi.encodeWithSelector(ICreditEscrow.DepositNotSlashable.selector, identity, ICreditEscrow.Status.Swept)
        );
        escrow.slash(identity, slashReceiver, proof, siblings);
    }

    function test_RevertWhen_TheReceiverIsTheZeroAddress() external {
        ICreditEscrow.Proof memory proof = _slashProof(0);
        uint256[] memory siblings = _siblings(identity);
        vm.expectRevert(ICreditEscrow.ZeroAddress.selector);
        escrow.slash(identity, address(0), proof, siblings);
    }

    function test_RevertWhen_TheProofNamesAnotherReceiver() external {
        ICreditEscrow.Proof memory proof = _slashProof(0);
        uint256[] memory siblings = _siblings(identity);
        // A front-runner who copies the proof cannot redirect the bounty.
        vm.prank(makeAddr("front-runner"));
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        escrow.slash(identity, makeAddr("front-runner"), proof, siblings);
    }

    function test_RevertWhen_TheProofIsForAnotherIdentity() external {
        uint256 other = _depositUser(1);
        ICreditEscrow.Proof memory proof = _slashProof(0);
        uint256[] memory siblings = _siblings(other);
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        escrow.slash(other, slashReceiver, proof, siblings);
    }

    function test_RevertWhen_TheProofIsAltered() external {
        ICreditEscrow.Proof memory proof = _slashProof(0);
        proof.a = proof.c;
        uint256[] memory siblings = _siblings(identity);
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        escrow.slash(identity, slashReceiver, proof, siblings);
    }

    function test_RevertWhen_TheSiblingsDoNotMatchTheTree() external {
        ICreditEscrow.Proof memory proof = _slashProof(0);
        uint256[] memory siblings = _siblings(identity);
        siblings[0] += 1;
        vm.expectRevert(WrongSiblingNodes.selector);
        escrow.slash(identity, slashReceiver, proof, siblings);
    }

    function test_WhenTheProofVerifies() external {
        uint256 deposit = _vectorDeposit(0);
        ICreditEscrow.Proof memory proof = _slashProof(0);
        uint256[] memory siblings = _siblings(identity);
        modelLeaves[modelIndex[identity]] = 0;
        uint256 expectedRoot = _modelRoot();
        uint256 rootBefore = _root();

        vm.expectEmit(address(escrow));
        emit ICreditEscrow.Slashed(identity, slashReceiver, 1, SLASH_BOUNTY, deposit - SLASH_BOUNTY, expectedRoot);
        // Anyone may submit the proof; the bounty goes to the receiver it names.
        vm.prank(makeAddr("submitter"));
        escrow.slash(identity, slashReceiver, proof, siblings);

        assertEq(uint8(_status(identity)), uint8(ICreditEscrow.Status.Slashed));
        assertEq(slashReceiver.balance, SLASH_BOUNTY, "bounty");
        assertEq(treasury.balance, deposit - SLASH_BOUNTY, "treasury");
        assertEq(makeAddr("submitter").balance, 0, "submitter");
        assertEq(address(escrow).balance, 3 * C_MAX, "the other deposits stay");
        assertEq(_root(), expectedRoot, "the leaf is zeroed");
        assertTrue(escrow.isRecentRoot(rootBefore), "older roots stay in the history; nodes drop them");
        assertEq(escrow.recentRoots()[0], expectedRoot);
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
        escrow.slash(small, slashReceiver, _slashProof(1), _siblings(small));
        assertEq(slashReceiver.balance, SLASH_BOUNTY - 1);
        assertEq(treasury.balance, 0);
    }

    function test_WhenTheReceiverRejectsETH() external {
        RejectingReceiver rejecting = new RejectingReceiver();
        vm.etch(slashReceiver, address(rejecting).code);
        _slashUser(0);
        assertEq(slashReceiver.balance, 0);
        assertEq(escrow.claimable(slashReceiver), SLASH_BOUNTY, "deferred");
        assertEq(treasury.balance, _vectorDeposit(0) - SLASH_BOUNTY, "the treasury is still paid");
    }

    function test_SlashingSeveralLeavesKeepsTheTreeInStepWithTheModel() external {
        uint256 second = _depositUser(1);
        uint256 third = _depositUser(2);
        _slashUser(2);
        _slashUser(0);
        _slashUser(1);
        assertEq(_root(), _modelRoot());
        assertEq(uint8(_status(second)), uint8(ICreditEscrow.Status.Slashed));
        assertEq(uint8(_status(third)), uint8(ICreditEscrow.Status.Slashed));
    }
}
