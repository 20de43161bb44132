// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {CreditEscrow} from "../../../src/CreditEscrow.sol";
import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";
import {FeeOnTransferToken, TestToken} from "../../utils/Tokens.sol";

contract DepositBatchTest is EscrowTest {
    function _identities(uint256 count, uint256 seed) internal pure returns (uint256[] memory ids) {
        ids = new uint256[](count);
        for (uint256 i = 0; i < count; i++) {
            ids[i] = _otherIdentity(seed + i);
        }
    }

    function _depositBatch(uint256[] memory ids, uint256 value) internal returns (uint256) {
        vm.deal(depositor, value);
        vm.prank(depositor);
        return escrow.depositBatch{value: value}(ids);
    }

    function test_RevertWhen_TheEscrowHoldsAToken() external {
        CreditEscrow tokenEscrow = new CreditEscrow(_parameters(address(new TestToken())), operator, exitSignerRoot);
        vm.expectRevert(ICreditEscrow.EthNotAccepted.selector);
        tokenEscrow.depositBatch(_identities(2, 1));
    }

    function test_RevertWhen_TheBatchIsEmptyOrTooLarge() external {
        uint256 maximum = escrow.MAX_DEPOSIT_BATCH();
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.BatchSizeOutOfRange.selector, 0, maximum));
        escrow.depositBatch(new uint256[](0));
        uint256[] memory tooMany = _identities(maximum + 1, 1);
        vm.deal(depositor, (maximum + 1) * C_MAX);
        vm.prank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.BatchSizeOutOfRange.selector, maximum + 1, maximum));
        escrow.depositBatch{value: (maximum + 1) * C_MAX}(tooMany);
    }

    function test_RevertWhen_TheValueDoesNotSplitIntoEqualDeposits() external {
        uint256 value = 3 * C_MAX + 1;
        vm.deal(depositor, value);
        vm.prank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.BatchValueNotDivisible.selector, value, 3));
        escrow.depositBatch{value: value}(_identities(3, 1));
    }

    function test_RevertWhen_OneIdentityIsInvalidRepeatedOrDepositedBefore() external {
        uint256[] memory ids = _identities(3, 1);
        ids[2] = 0;
        vm.deal(depositor, 9 * C_MAX);
        vm.startPrank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.InvalidIdentity.selector, 0));
        escrow.depositBatch{value: 3 * C_MAX}(ids);
        ids[2] = ids[0];
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.IdentityAlreadyDeposited.selector, ids[0]));
        escrow.depositBatch{value: 3 * C_MAX}(ids);
        vm.stopPrank();
        // Nothing of a refused batch is recorded.
        assertEq(_queued(), 0, "nothing queued");
        assertEq(uint8(escrow.deposits(ids[1]).status), uint8(ICreditEscrow.Status.None));

        _deposit(ids[1], C_MAX);
        uint256[] memory again = _identities(2, 2);
        vm.deal(depositor, 2 * C_MAX);
        vm.prank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.IdentityAlreadyDeposited.selector, ids[1]));
        escrow.depositBatch{value: 2 * C_MAX}(again);
    }

    function test_RevertWhen_EachShareIsBelowCMax() external {
        uint256 value = 2 * (C_MAX - 1);
        vm.deal(depositor, value);
        vm.prank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.DepositBelowMinimum.selector, C_MAX - 1, C_MAX));
        escrow.depositBatch{value: value}(_identities(2, 1));
    }

    function test_WhenTheBatchIsValid() external {
        _deposit(_otherIdentity(100), C_MAX);
        uint256[] memory ids = _identities(4, 1);
        uint256 each = 2 * C_MAX;
        uint256 expiry = block.timestamp + NOTE_TTL;
        // The expected accumulators first: computing them calls the Poseidon library, which
        // would be taken for the call the expected events belong to.
        uint256[] memory accs = new uint256[](ids.length + 1);
        accs[0] = escrow.accumulatorAt(1);
        for (uint256 i = 0; i < ids.length; i++) {
            accs[i + 1] = _accumulate(accs[i], ids[i], each, expiry);
        }
        vm.deal(depositor, 4 * each);
        for (uint256 i = 0; i < ids.length; i++) {
            vm.expectEmit(address(escrow));
            emit ICreditEscrow.Deposited(ids[i], each, expiry, 1 + i);
        }
        uint256 first = _depositBatch(ids, 4 * each);

        assertEq(first, 1, "the first note follows the queue");
        for (uint256 i = 0; i < ids.length; i++) {
            ICreditEscrow.DepositRecord memory record = escrow.deposits(ids[i]);
            assertEq(record.amount, each, "an equal share");
            assertEq(record.expiry, expiry, "expiry");
            assertEq(uint8(record.status), uint8(ICreditEscrow.Status.Active), "status");
            assertEq(record.leafIndex, 1 + i, "consecutive queue positions");
            assertEq(escrow.accumulatorAt(2 + i), accs[i + 1], "the accumulator after each note");
        }
        (uint256 root, uint256 size, uint256 queued) = escrow.tree();
        assertEq(queued, 5, "queued");
        assertEq(size, 0, "nothing inserted");
        assertEq(root, 0, "root");
        assertEq(address(escrow).balance, C_MAX + 4 * each, "balance");
    }

    function test_RevertWhen_TheBatchWouldOverfillTheQueue() external {
        // 250 notes wait: a batch of 5 makes 255, one more note is refused and undoes the batch.
        vm.pauseGasMetering();
        _fill(1000, 250);
        vm.resumeGasMetering();
        uint256[] memory ids = _identities(6, 1);
        vm.deal(depositor, 6 * C_MAX);
        vm.prank(depositor);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.QueueFull.selector, 255));
        escrow.depositBatch{value: 6 * C_MAX}(ids);
        assertEq(_queued(), 250, "nothing of the batch is queued");
        uint256[] memory five = _identities(5, 1);
        assertEq(_depositBatch(five, 5 * C_MAX), 250);
        assertEq(_queued(), 255);
    }

    function test_RevertWhen_TheEscrowHoldsETH_Token() external {
        vm.expectRevert(ICreditEscrow.TokenNotAccepted.selector);
        escrow.depositTokenBatch(_identities(2, 1), C_MAX);
    }

    function test_RevertWhen_TheTokenMovesLessThanTheTotal() external {
        FeeOnTransferToken bad = new FeeOnTransferToken();
        CreditEscrow e = new CreditEscrow(_parameters(address(bad)), operator, exitSignerRoot);
        bad.mint(depositor, 10 * C_MAX);
        vm.startPrank(depositor);
        bad.approve(address(e), type(uint256).max);
        vm.expectRevert(
            abi.encodeWithSelector(ICreditEscrow.TransferAmountMismatch.selector, 4 * C_MAX, 4 * C_MAX - 40)
        );
        e.depositTokenBatch(_identities(2, 1), 2 * C_MAX);
        vm.stopPrank();
        (,, uint256 queued) = e.tree();
        assertEq(queued, 0, "nothing recorded");
    }

    function test_WhenTheTransferMovesTheTotal() external {
        TestToken token = new TestToken();
        CreditEscrow e = new CreditEscrow(_parameters(address(token)), operator, exitSignerRoot);
        token.mint(depositor, 10 * C_MAX);
        vm.startPrank(depositor);
        token.approve(address(e), 6 * C_MAX);
        assertEq(e.depositTokenBatch(_identities(3, 1), 2 * C_MAX), 0);
        vm.stopPrank();
        assertEq(token.balanceOf(address(e)), 6 * C_MAX, "the total, once");
        assertEq(token.balanceOf(depositor), 4 * C_MAX);
        (,, uint256 queued) = e.tree();
        assertEq(queued, 3);
        assertEq(uint8(e.deposits(_otherIdentity(3)).status), uint8(ICreditEscrow.Status.Active));
    }
}
