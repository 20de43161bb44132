// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

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

    /// @dev The packed counters `_queued` (bits 0–31), `_inserted` (32–63), `_rootCount`
    /// (64–127), `_removalHead` (128–191) and `_removalTail` (192–255): the escrow's own slot after
    /// Ownable's owner, Ownable2Step's pending owner, the 32 recent roots and the 256 accumulators
    /// (`forge inspect CreditEscrow storage-layout`). The tests check it against `tree()` before
    /// writing it.
    bytes32 internal constant COUNTERS_SLOT = bytes32(uint256(290));

    function test_RevertWhen_TheTreeIsFull() external {
        _fill(0, 3);
        assertEq(
            uint256(vm.load(address(escrow), COUNTERS_SLOT)),
            3 | (1 << 128) | (1 << 192),
            "three queued, none inserted, removal positions from 1"
        );

        // Queuing 2^20 notes for real would take hours: skip to one note short of capacity, with
        // 200 notes waiting (the queue is not full).
        uint256 capacity = escrow.TREE_CAPACITY();
        vm.store(address(escrow), COUNTERS_SLOT, bytes32((capacity - 1) | ((capacity - 201) << 32)));
        (, uint256 size, uint256 queued) = escrow.tree();
        assertEq(queued, capacity - 1, "queued");
        assertEq(size, capacity - 201, "inserted");
        assertEq(_deposit(_otherIdentity(3), C_MAX), capacity - 1, "the last leaf index fits");
        assertEq(_queued(), capacity);
        vm.deal(depositor, C_MAX);
        vm.prank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.TreeFull.selector, capacity));
        escrow.deposit{value: C_MAX}(_otherIdentity(4));
    }

    function test_RevertWhen_TheTreeIsFullAndTheQueueToo() external {
        // TreeFull is checked first.
        uint256 capacity = escrow.TREE_CAPACITY();
        vm.store(address(escrow), COUNTERS_SLOT, bytes32(capacity | ((capacity - 255) << 32)));
        vm.deal(depositor, C_MAX);
        vm.prank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.TreeFull.selector, capacity));
        escrow.deposit{value: C_MAX}(_otherIdentity(4));
    }

    function test_RevertWhen_QueueCapacityMinusOneNotesWait() external {
        uint256 limit = escrow.QUEUE_CAPACITY() - 1;
        vm.pauseGasMetering();
        _fill(0, limit);
        vm.resumeGasMetering();
        (, uint256 size, uint256 queued) = escrow.tree();
        assertEq(queued - size, 255, "255 notes wait");
        vm.deal(depositor, C_MAX);
        vm.prank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.QueueFull.selector, limit));
        escrow.deposit{value: C_MAX}(_otherIdentity(limit));
        // The ring keeps every position from the tree's size to the queue's end: acc_0 was not
        // overwritten by acc_256, which the refused deposit would have written.
        assertEq(escrow.accumulatorAt(0), 0, "acc_0 is still kept");
    }

    function test_WhenABatchMakesRoom() external {
        uint256 limit = escrow.QUEUE_CAPACITY() - 1;
        vm.pauseGasMetering();
        _depositNotes(1);
        _fill(0, limit - 1);
        vm.resumeGasMetering();
        vm.deal(depositor, C_MAX);
        vm.prank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.QueueFull.selector, limit));
        escrow.deposit{value: C_MAX}(_otherIdentity(limit));

        // The `first` batch appends note 0: its proof still holds though 254 notes joined the
        // queue after it was made, and one more note fits.
        _insertBatch("first");
        assertEq(_size(), 1);
        assertEq(_deposit(_otherIdentity(limit), C_MAX), limit, "the next queue position");
        assertEq(_queued() - _size(), limit);
    }

    function test_WhenRemovalsArePending() external {
        // Slashes no longer pause deposits: the batch that passes the note's index removes it.
        uint256 slashed = _depositUser(0);
        _slashUser(0);
        assertEq(escrow.pendingRemovals(), 1);
        assertEq(_deposit(_otherIdentity(1), C_MAX), 1);
        assertEq(escrow.nextRemoval(), slashed, "the removal still waits");
    }

    function test_WhenTheDepositIsValid() external {
        uint256 before = _otherIdentity(1);
        _deposit(before, 2 * C_MAX);
        uint256 identity = _identity(0);
        uint256 amount = _vectorDeposit(0);
        uint256 expiry = block.timestamp + NOTE_TTL;
        uint256 acc1 = _accumulate(0, before, 2 * C_MAX, expiry);
        uint256 acc2 = _accumulate(acc1, identity, amount, expiry);

        vm.deal(depositor, amount);
        vm.expectEmit(address(escrow));
        emit ICreditEscrow.Deposited(identity, amount, expiry, 1);
        vm.prank(depositor);
        uint256 leafIndex = escrow.deposit{value: amount}(identity);

        assertEq(leafIndex, 1, "leaf index");
        ICreditEscrow.DepositRecord memory record = escrow.deposits(identity);
        assertEq(record.amount, amount, "amount");
        assertEq(record.expiry, expiry, "expiry");
        assertEq(uint8(record.status), uint8(ICreditEscrow.Status.Active), "status");
        assertEq(uint8(record.leaf), uint8(ICreditEscrow.LeafState.InTree), "leaf");
        assertEq(record.finalizableAt, 0, "no exit");
        assertEq(record.leafIndex, 1, "queue position");
        assertEq(address(escrow).balance, amount + 2 * C_MAX, "balance");
        (uint256 root, uint256 size, uint256 queued) = escrow.tree();
        assertEq(root, 0, "no leaf is inserted by a deposit");
        assertEq(size, 0, "size");
        assertEq(queued, 2, "queued");
        assertEq(escrow.accumulatorAt(0), 0, "acc_0");
        assertEq(escrow.accumulatorAt(1), acc1, "acc_1");
        assertEq(escrow.accumulatorAt(2), acc2, "acc_2");
        assertEq(escrow.recentRoots()[0], 0, "no root is pushed");
    }

    function test_WhenTheDepositsAreTheVectorNotes() external {
        // The accumulators the batch proofs were made against.
        BatchCase memory full = _batch("full_removing_1");
        _depositNotes(full.start + full.count);
        assertEq(escrow.accumulatorAt(full.start + full.count), full.accEnd);
        assertEq(escrow.accumulatorAt(0), _batch("first").accStart);
        assertEq(escrow.accumulatorAt(1), _batch("first").accEnd);
        assertEq(escrow.accumulatorAt(3), full.accStart);
    }
}
