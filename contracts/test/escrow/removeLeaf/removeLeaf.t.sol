// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {WrongSiblingNodes} from "node_modules/@zk-kit/lean-imt.sol/InternalLeanIMT.sol";
import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";
import {TestToken} from "../../utils/Tokens.sol";

contract RemoveLeafTest is EscrowTest {
    uint256 internal identity;

    function setUp() public override {
        super.setUp();
        _deposit(_otherIdentity(1), C_MAX);
        identity = _depositUser(0);
        _deposit(_otherIdentity(2), 2 * C_MAX);
    }

    function test_RevertWhen_TheLeafIsNotCondemned() external {
        uint256 unknown = _identity(1);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.LeafNotCondemned.selector, unknown));
        escrow.removeLeaf(unknown, new uint256[](0));

        uint256[] memory siblings = _siblings(identity);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.LeafNotCondemned.selector, identity));
        escrow.removeLeaf(identity, siblings);

        _slashAndRemove(0);
        siblings = _siblings(identity);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.LeafNotCondemned.selector, identity));
        escrow.removeLeaf(identity, siblings);
    }

    function test_RevertWhen_TheLeafIsNotTheQueueHead() external {
        uint256 second = _depositUser(1);
        _slashUser(0);
        _slashUser(1);
        // Even with its current siblings, the later condemnation waits for the earlier one.
        uint256[] memory siblings = _siblings(second);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.RemovalOutOfOrder.selector, identity));
        escrow.removeLeaf(second, siblings);
        _removeLeaf(identity);
        _removeLeaf(second);
        assertEq(_root(), _modelRoot());
    }

    function test_RevertWhen_TheSiblingCountIsWrong() external {
        _slashUser(0);
        // Leaf 1 of 3: its left neighbour, then leaf 2 lifted to level 1.
        uint256[] memory siblings = _siblings(identity);
        assertEq(siblings.length, 2);
        uint256[] memory short = new uint256[](1);
        short[0] = siblings[0];
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.WrongSiblingCount.selector, 2, 1));
        escrow.removeLeaf(identity, short);
        uint256[] memory long = new uint256[](3);
        (long[0], long[1]) = (siblings[0], siblings[1]);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.WrongSiblingCount.selector, 2, 3));
        escrow.removeLeaf(identity, long);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.WrongSiblingCount.selector, 2, 0));
        escrow.removeLeaf(identity, new uint256[](0));
    }

    function test_RevertWhen_ASiblingIsAltered() external {
        _slashUser(0);
        uint256[] memory siblings = _siblings(identity);
        siblings[1] += 1;
        vm.expectRevert(WrongSiblingNodes.selector);
        escrow.removeLeaf(identity, siblings);
    }

    function test_RevertWhen_TheSiblingsPredateThePreviousHeadsRemoval() external {
        uint256 second = _depositUser(1);
        _slashUser(0);
        _slashUser(1);
        // Read while `identity` was the head: its removal changes the tree they describe.
        uint256[] memory stale = _siblings(second);
        _removeLeaf(identity);
        assertEq(escrow.nextRemoval(), second);
        vm.expectRevert(WrongSiblingNodes.selector);
        escrow.removeLeaf(second, stale);
        _removeLeaf(second);
        assertEq(_root(), _modelRoot());
    }

    function test_WhenTheSiblingsAreTheLeafs() external {
        _slashUser(0);
        uint256[] memory siblings = _siblings(identity);
        uint256 rootBefore = _root();
        modelLeaves[modelIndex[identity]] = 0;
        uint256 expectedRoot = _modelRoot();

        vm.expectEmit(address(escrow));
        emit ICreditEscrow.LeafRemoved(identity, 1, expectedRoot);
        vm.prank(makeAddr("anyone"));
        escrow.removeLeaf(identity, siblings);

        assertEq(uint8(_leafState(identity)), uint8(ICreditEscrow.LeafState.Removed));
        assertEq(uint8(_status(identity)), uint8(ICreditEscrow.Status.Slashed));
        assertEq(escrow.pendingRemovals(), 0);
        assertEq(escrow.nextRemoval(), 0, "the queue is empty");
        assertEq(_root(), expectedRoot, "the leaf is zeroed");
        assertEq(escrow.recentRoots()[0], expectedRoot);
        assertTrue(escrow.isRecentRoot(rootBefore), "older roots stay in the history; nodes drop them");
        _deposit(_otherIdentity(3), C_MAX);
        assertEq(_root(), _modelRoot(), "deposits resume");
    }

    function test_WhenOtherRemovalsAreStillPending() external {
        uint256 exited = _depositUser(1);
        _requestExit(1, false);
        vm.warp(block.timestamp + EXIT_DELAY);
        escrow.finalizeExit(exited);
        _slashUser(0);
        _slashUser(1);
        assertEq(escrow.pendingRemovals(), 2);
        assertEq(escrow.nextRemoval(), identity);
        _removeLeaf(identity);
        assertEq(escrow.pendingRemovals(), 1);
        assertEq(escrow.nextRemoval(), exited, "the next condemnation moves up");
        vm.deal(depositor, C_MAX);
        vm.prank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.LeafRemovalPending.selector, 1));
        escrow.deposit{value: C_MAX}(_otherIdentity(3));
        _removeLeaf(exited);
        assertEq(escrow.pendingRemovals(), 0);
        assertEq(escrow.nextRemoval(), 0);
        _deposit(_otherIdentity(3), C_MAX);
        assertEq(_root(), _modelRoot());
    }

    function test_WhenASlashLandsAfterTheHeadsSiblingsWereRead() external {
        uint256 second = _depositUser(1);
        _slashUser(0);
        uint256[] memory siblings = _siblings(identity);
        // Only the head changes the tree: a later slash queues, a deposit waits.
        _slashUser(1);
        vm.deal(depositor, C_MAX);
        vm.prank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.LeafRemovalPending.selector, 2));
        escrow.deposit{value: C_MAX}(_otherIdentity(3));
        escrow.removeLeaf(identity, siblings);
        modelLeaves[modelIndex[identity]] = 0;
        assertEq(_root(), _modelRoot());
        assertEq(escrow.nextRemoval(), second);
    }

    function test_WhenTheLeafIsTheTreesOnlyLeaf() external {
        _deployTokenEscrow(new TestToken());
        uint256 only = _depositUser(0);
        _slashUser(0);
        vm.expectEmit(address(escrow));
        emit ICreditEscrow.LeafRemoved(only, 0, 0);
        escrow.removeLeaf(only, new uint256[](0));
        modelLeaves[0] = 0;
        (uint256 root, uint256 size, uint256 depth) = escrow.tree();
        assertEq(root, 0);
        assertEq(size, 1, "a removed leaf keeps its index");
        assertEq(depth, 0);
        _deposit(_otherIdentity(3), C_MAX);
        assertEq(_root(), _modelRoot(), "the next leaf hashes with the zeroed one");
    }

    /// forge-config: default.fuzz.runs = 64
    function testFuzz_WhenTheLeafIsAtAnyIndex(uint256 before, uint256 later) external {
        before = bound(before, 0, 40);
        later = bound(later, 0, 40);
        for (uint256 i = 0; i < before; i++) {
            _deposit(_otherIdentity(100 + i), C_MAX);
        }
        uint256 second = _depositUser(1);
        for (uint256 i = 0; i < later; i++) {
            _deposit(_otherIdentity(200 + i), C_MAX);
        }
        _slashUser(1);
        _slashUser(0);
        _removeLeaf(second);
        _removeLeaf(identity);
        assertEq(_root(), _modelRoot());
    }
}
