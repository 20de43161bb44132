// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {CreditEscrow} from "../../src/CreditEscrow.sol";
import {EscrowTest} from "../utils/EscrowTest.sol";
import {TestToken} from "../utils/Tokens.sol";

/// @notice Gas of each escrow operation with real proofs, written to snapshots/CreditEscrow.json
/// (`make gas` updates it; `make test` fails when it drifts). Run isolated: each call is its own
/// transaction, so a figure is what its sender pays. Deposits only queue their note, so their cost
/// does not depend on the tree; batches are the vector batches of escrow_batches.json.
contract EscrowGasTest is EscrowTest {
    string internal constant GROUP = "CreditEscrow";

    function setUp() public override {
        super.setUp();
        // Payees are existing accounts, as a treasury is: no new-account surcharge is measured.
        vm.deal(treasury, 1);
        vm.deal(slashReceiver, 1);
        vm.deal(_exitCase(0, false).recipient, 1);
    }

    function _depositMeasured(string memory name) internal {
        uint256 identity = _identity(0);
        uint256 amount = _vectorDeposit(0);
        vm.deal(depositor, amount);
        vm.prank(depositor);
        escrow.deposit{value: amount}(identity);
        vm.snapshotGasLastCall(GROUP, name);
    }

    function test_Gas_FirstDeposit() external {
        _depositMeasured("deposit_first");
    }

    function test_Gas_DepositWithTheQueueAlmostFull() external {
        // 254 notes wait: this deposit makes 255, the most the queue takes. The cost is flat:
        // one accumulator hash and the ring slot, which was written at construction.
        _fill(0, escrow.QUEUE_CAPACITY() - 2);
        _depositMeasured("deposit_255th_waiting");
        (, uint256 size, uint256 queued) = escrow.tree();
        assertEq(queued - size, escrow.QUEUE_CAPACITY() - 1);
    }

    function _depositTokenMeasured(CreditEscrow tokenEscrow, uint256 identity, string memory name) internal {
        // The depositor approves exactly the deposit.
        TestToken token = TestToken(tokenEscrow.parameters().token);
        uint256 amount = _vectorDeposit(0);
        token.mint(depositor, amount);
        vm.prank(depositor);
        token.approve(address(tokenEscrow), amount);
        vm.prank(depositor);
        tokenEscrow.depositToken(identity, amount);
        if (bytes(name).length != 0) vm.snapshotGasLastCall(GROUP, name);
    }

    function test_Gas_FirstTokenDeposit() external {
        // The deploy script sends a token escrow one unit, so the escrow's balance slot in the
        // token exists before the first deposit.
        TestToken token = new TestToken();
        CreditEscrow tokenEscrow = new CreditEscrow(_parameters(address(token)), operator, exitSignerRoot);
        token.mint(address(tokenEscrow), 1);
        _depositTokenMeasured(tokenEscrow, _identity(0), "depositToken_first");
    }

    function test_Gas_FirstTokenDepositIntoAnUnseededEscrow() external {
        // Without the unit, the first deposit also creates the escrow's balance (a new slot in the
        // token).
        TestToken token = new TestToken();
        CreditEscrow tokenEscrow = new CreditEscrow(_parameters(address(token)), operator, exitSignerRoot);
        _depositTokenMeasured(tokenEscrow, _identity(0), "depositToken_first_unseeded");
    }

    function test_Gas_SecondTokenDeposit() external {
        // Every later deposit: the escrow's balance and the queue's slot exist already.
        TestToken token = new TestToken();
        CreditEscrow tokenEscrow = new CreditEscrow(_parameters(address(token)), operator, exitSignerRoot);
        _depositTokenMeasured(tokenEscrow, _identity(1), "");
        _depositTokenMeasured(tokenEscrow, _identity(0), "depositToken_second");
    }

    function test_Gas_DepositBatchOf8() external {
        // Eight notes in one call, as `zkcredits deposit --notes 8` sends them (divide by 8 for
        // a note's share; compare with deposit_first).
        uint256[] memory ids = new uint256[](8);
        for (uint256 i = 0; i < ids.length; i++) {
            ids[i] = _otherIdentity(i);
        }
        vm.deal(depositor, 8 * C_MAX);
        vm.prank(depositor);
        escrow.depositBatch{value: 8 * C_MAX}(ids);
        vm.snapshotGasLastCall(GROUP, "depositBatch_8_notes");
    }

    function test_Gas_EightDepositsOnePerTransaction() external {
        // The same eight notes as depositBatch_8_notes, one transaction each
        // (`zkcredits deposit --notes 8 --separate`): the sum of what the eight transactions pay.
        uint256 total;
        for (uint256 i = 0; i < 8; i++) {
            vm.deal(depositor, C_MAX);
            vm.prank(depositor);
            escrow.deposit{value: C_MAX}(_otherIdentity(i));
            total += vm.lastCallGas().gasTotalUsed;
        }
        vm.snapshotValue(GROUP, "deposit_8_notes_one_per_transaction", total);
    }

    function _insertMeasured(string memory batch, string memory name) internal {
        BatchCase memory b = _prepareBatch(batch);
        vm.prank(makeAddr("updater"));
        escrow.insertBatch(b.start, b.count, b.preRoot, b.removedIdentity, b.postRoot, b.proof);
        vm.snapshotGasLastCall(GROUP, name);
        assertEq(_root(), b.postRoot);
    }

    function test_Gas_InsertBatchOf1() external {
        _insertMeasured("first", "insertBatch_1");
    }

    function test_Gas_InsertBatchOf64() external {
        _insertMeasured("full_after_removal", "insertBatch_64");
    }

    function test_Gas_InsertBatchOf64WithARemoval() external {
        _insertMeasured("full_removing_1", "insertBatch_64_with_removal");
    }

    function test_Gas_InsertBatchRemovalOnly() external {
        _insertMeasured("remove_1", "insertBatch_removal_only");
    }

    function test_Gas_Slash() external {
        // A slash takes no siblings: its cost does not depend on the tree or the queue.
        _depositUser(0);
        escrow.slash(_identity(0), slashReceiver, _slashProof(0));
        vm.snapshotGasLastCall(GROUP, "slash");
    }

    function test_Gas_SlashOfAnExitedLeaf() external {
        uint256 identity = _depositUser(0);
        _requestExit(0, false);
        vm.warp(block.timestamp + EXIT_DELAY);
        escrow.finalizeExit(identity);
        escrow.slash(identity, slashReceiver, _slashProof(0));
        vm.snapshotGasLastCall(GROUP, "slash_condemns_exited_leaf");
    }

    function test_Gas_RequestExitAndFinalize() external {
        _depositUser(0);
        ExitCase memory e = _exitCase(0, false);
        escrow.requestExit(_identity(0), e.recipient, e.amount, e.nullifier, e.y, exitSignerRoot, e.proof);
        vm.snapshotGasLastCall(GROUP, "requestExit");
        vm.warp(block.timestamp + EXIT_DELAY);
        escrow.finalizeExit(_identity(0));
        vm.snapshotGasLastCall(GROUP, "finalizeExit");
    }

    function test_Gas_SweepExpired() external {
        _depositUser(0);
        vm.warp(block.timestamp + NOTE_TTL);
        escrow.sweepExpired(_identity(0));
        vm.snapshotGasLastCall(GROUP, "sweepExpired");
    }
}
