// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {EscrowTest} from "../utils/EscrowTest.sol";

/// @notice Gas of each escrow operation with real proofs, written to snapshots/CreditEscrow.json
/// (`make gas` updates it; `make test` fails when it drifts). Tree-dependent operations are
/// measured on a tree of 1 and of 1,024 leaves.
contract EscrowGasTest is EscrowTest {
    string internal constant GROUP = "CreditEscrow";

    function setUp() public override {
        super.setUp();
        // Payees are existing accounts, as a treasury is: no new-account surcharge is measured.
        vm.deal(treasury, 1);
        vm.deal(slashReceiver, 1);
        vm.deal(_exitCase(0, false).recipient, 1);
    }

    function _fill(uint256 from, uint256 leaves) internal {
        for (uint256 i = from; i < from + leaves; i++) {
            _deposit(_otherIdentity(i), C_MAX);
        }
    }

    function _depositMeasured(string memory name) internal {
        uint256 identity = _identity(0);
        uint256 amount = _vectorDeposit(0);
        vm.deal(depositor, amount);
        vm.prank(depositor);
        escrow.deposit{value: amount}(identity);
        vm.snapshotGasLastCall(GROUP, name);
        _recordLeaf(identity, amount);
    }

    function test_Gas_FirstDeposit() external {
        _depositMeasured("deposit_first");
    }

    function test_Gas_DepositInto1024() external {
        // Leaf 1,024 is the worst case up to that size: it opens a new level.
        _fill(0, 1023);
        _depositMeasured("deposit_1024th_leaf");
    }

    function test_Gas_DepositBatchOf8() external {
        // Eight notes in one call, as `zkcredits deposit --notes 8` sends them (divide by 8 for
        // a note's share; compare with deposit_first and the next leaves' deposits).
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

    function test_Gas_DepositInto1000() external {
        // Index 999 = 0b1111100111: a typical mix of hashed and stored levels.
        _fill(0, 999);
        _depositMeasured("deposit_1000th_leaf");
    }

    function test_Gas_Slash() external {
        // A slash takes no siblings: its cost does not depend on the tree.
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

    function test_Gas_RemoveLeafInTreeOf1() external {
        _depositUser(0);
        _removeMeasured("removeLeaf_tree_of_1");
    }

    function test_Gas_RemoveLeafInTreeOf1024() external {
        // Index 512 of 1,024: ten siblings, two hashes per level.
        _fill(0, 512);
        _depositUser(0);
        _fill(512, 511);
        _removeMeasured("removeLeaf_tree_of_1024");
    }

    function _removeMeasured(string memory name) internal {
        uint256 identity = _identity(0);
        escrow.slash(identity, slashReceiver, _slashProof(0));
        escrow.removeLeaf(identity, _siblings(identity));
        vm.snapshotGasLastCall(GROUP, name);
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
