// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {PoseidonT4} from "poseidon-solidity/PoseidonT4.sol";
import {CreditEscrow} from "../../../src/CreditEscrow.sol";
import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";
import {TestToken} from "../../utils/Tokens.sol";

contract DepositTest is EscrowTest {
    function test_RevertWhen_TheEscrowHoldsAToken() external {
        CreditEscrow tokenEscrow = new CreditEscrow(_parameters(address(new TestToken())), operator, exitSignerRoot);
        vm.deal(depositor, C_MAX);
        vm.prank(depositor);
        vm.expectRevert(ICreditEscrow.EthNotAccepted.selector);
        tokenEscrow.deposit{value: C_MAX}(1);
    }

    function test_RevertWhen_TheIdentityIsZeroOrNotBelowTheField() external {
        vm.deal(depositor, 3 * C_MAX);
        vm.startPrank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.InvalidIdentity.selector, 0));
        escrow.deposit{value: C_MAX}(0);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.InvalidIdentity.selector, FIELD));
        escrow.deposit{value: C_MAX}(FIELD);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.InvalidIdentity.selector, type(uint256).max));
        escrow.deposit{value: C_MAX}(type(uint256).max);
    }

    function test_RevertWhen_TheIdentityAlreadyHasADeposit() external {
        uint256 identity = _depositUser(0);
        vm.deal(depositor, C_MAX);
        vm.prank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.IdentityAlreadyDeposited.selector, identity));
        escrow.deposit{value: C_MAX}(identity);
    }

    function test_RevertWhen_TheIdentityWasSlashedBefore() external {
        uint256 identity = _depositUser(0);
        _slashUser(0);
        vm.deal(depositor, C_MAX);
        vm.prank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.IdentityAlreadyDeposited.selector, identity));
        escrow.deposit{value: C_MAX}(identity);
    }

    function test_RevertWhen_TheAmountIsBelowCMax() external {
        vm.deal(depositor, C_MAX);
        vm.prank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.DepositBelowMinimum.selector, C_MAX - 1, C_MAX));
        escrow.deposit{value: C_MAX - 1}(1);
    }

    function test_RevertWhen_TheAmountDoesNotFitIn96Bits() external {
        uint256 amount = uint256(type(uint96).max) + 1;
        vm.deal(depositor, amount);
        vm.prank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.DepositTooLarge.selector, amount));
        escrow.deposit{value: amount}(1);
    }

    /// @dev LeanIMT's `size` is the first word of `_tree`, the escrow's first own variable after
    /// Ownable's owner and Ownable2Step's pending owner; `depth` follows. The test checks both
    /// slots against `tree()` before writing them.
    uint256 internal constant TREE_SIZE_SLOT = 2;

    function test_RevertWhen_TheTreeIsFull() external {
        _deposit(_otherIdentity(1), C_MAX);
        bytes32 sizeSlot = bytes32(TREE_SIZE_SLOT);
        bytes32 depthSlot = bytes32(TREE_SIZE_SLOT + 1);
        _deposit(_otherIdentity(2), C_MAX);
        (, uint256 size, uint256 depth) = escrow.tree();
        assertEq(uint256(vm.load(address(escrow), sizeSlot)), size, "the size slot");
        assertEq(uint256(vm.load(address(escrow), depthSlot)), depth, "the depth slot");

        // Filling 2^20 leaves for real would take hours: skip to one leaf short of capacity.
        uint256 capacity = escrow.TREE_CAPACITY();
        vm.store(address(escrow), sizeSlot, bytes32(capacity - 1));
        vm.store(address(escrow), depthSlot, bytes32(uint256(20)));
        vm.deal(depositor, 2 * C_MAX);
        vm.startPrank(depositor);
        assertEq(escrow.deposit{value: C_MAX}(_otherIdentity(3)), capacity - 1, "the last leaf fits");
        (, size, depth) = escrow.tree();
        assertEq(size, capacity);
        assertEq(depth, 20, "the request circuit's depth");
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.TreeFull.selector, capacity));
        escrow.deposit{value: C_MAX}(_otherIdentity(4));
    }

    function test_RevertWhen_ALeafRemovalIsPending() external {
        uint256 slashed = _depositUser(0);
        _slashUser(0);
        vm.deal(depositor, C_MAX);
        vm.prank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.LeafRemovalPending.selector, 1));
        escrow.deposit{value: C_MAX}(_otherIdentity(1));
        _removeLeaf(slashed);
        _deposit(_otherIdentity(1), C_MAX);
        assertEq(_root(), _modelRoot());
    }

    function test_WhenTheDepositIsValid() external {
        _deposit(_otherIdentity(1), 2 * C_MAX);
        uint256 identity = _identity(0);
        uint256 amount = _vectorDeposit(0);
        uint256 expiry = block.timestamp + NOTE_TTL;
        uint256 leaf = PoseidonT4.hash([identity, amount, expiry]);
        modelIndex[identity] = modelLeaves.length;
        modelLeaves.push(leaf);

        uint256 expectedRoot = _modelRoot();
        vm.deal(depositor, amount);
        vm.expectEmit(address(escrow));
        emit ICreditEscrow.Deposited(identity, amount, expiry, 1, leaf, expectedRoot);
        vm.prank(depositor);
        uint256 leafIndex = escrow.deposit{value: amount}(identity);

        assertEq(leafIndex, 1, "leaf index");
        ICreditEscrow.DepositRecord memory record = escrow.deposits(identity);
        assertEq(record.amount, amount, "amount");
        assertEq(record.expiry, expiry, "expiry");
        assertEq(uint8(record.status), uint8(ICreditEscrow.Status.Active), "status");
        assertEq(address(escrow).balance, amount + 2 * C_MAX, "balance");
        (uint256 root, uint256 size, uint256 depth) = escrow.tree();
        assertEq(root, _modelRoot(), "root");
        assertEq(size, 2, "size");
        assertEq(depth, 1, "depth");
        uint256[] memory recent = escrow.recentRoots();
        assertEq(recent[0], root, "newest root first");
        assertEq(recent[1], modelLeaves[0], "a one-leaf tree's root is its leaf");
        assertTrue(escrow.isRecentRoot(root));
        assertTrue(escrow.isRecentRoot(modelLeaves[0]));
        assertFalse(escrow.isRecentRoot(0));
    }

    function test_RecentRootsKeepTheLastRootHistorySizeRoots() external {
        uint256 size = escrow.ROOT_HISTORY_SIZE();
        uint256 firstRoot;
        for (uint256 i = 0; i <= size; i++) {
            _deposit(_otherIdentity(i), C_MAX);
            if (i == 0) firstRoot = _root();
        }
        assertFalse(escrow.isRecentRoot(firstRoot), "the oldest root left the history");
        uint256[] memory recent = escrow.recentRoots();
        assertEq(recent.length, size);
        assertEq(recent[0], _root());
        for (uint256 i = 0; i < size; i++) {
            assertTrue(escrow.isRecentRoot(recent[i]));
        }
    }
}
