// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {console} from "forge-std/console.sol";
import {CreditEscrow} from "../../../src/CreditEscrow.sol";
import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowHandler} from "./EscrowHandler.sol";

/// @notice What must hold after any sequence of valid, invalid and racing actions (see
/// {EscrowHandler}), for an ETH escrow and an ERC-20 escrow.
abstract contract EscrowInvariantTest is Test {
    EscrowHandler internal handler;
    CreditEscrow internal escrow;

    function _useToken() internal pure virtual returns (bool);

    function setUp() public {
        handler = new EscrowHandler(_useToken());
        handler.setUp();
        escrow = CreditEscrow(handler.escrowAddress());
        bytes4[] memory selectors = new bytes4[](15);
        selectors[0] = EscrowHandler.deposit.selector;
        selectors[1] = EscrowHandler.slash.selector;
        selectors[2] = EscrowHandler.requestExit.selector;
        selectors[3] = EscrowHandler.doubleExit.selector;
        selectors[4] = EscrowHandler.finalizeExit.selector;
        selectors[5] = EscrowHandler.sweep.selector;
        selectors[6] = EscrowHandler.insertBatch.selector;
        selectors[7] = EscrowHandler.raceDepositAndSlash.selector;
        selectors[8] = EscrowHandler.raceExitAndSlash.selector;
        selectors[9] = EscrowHandler.claim.selector;
        selectors[10] = EscrowHandler.pushClaim.selector;
        selectors[11] = EscrowHandler.setBehaviour.selector;
        selectors[12] = EscrowHandler.revokeExitSignerRoot.selector;
        selectors[13] = EscrowHandler.warp.selector;
        selectors[14] = EscrowHandler.slashTwo.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    /// @notice The escrow holds exactly the Active and Exiting deposits plus deferred payouts.
    function invariant_BalanceEqualsLiveDepositsPlusClaimable() external view {
        uint256 live;
        for (uint256 i = 0; i < handler.identityCount(); i++) {
            ICreditEscrow.DepositRecord memory record = escrow.deposits(handler.identities(i));
            if (record.status == ICreditEscrow.Status.Active || record.status == ICreditEscrow.Status.Exiting) {
                live += record.amount;
            }
        }
        uint256 deferred;
        for (uint256 i = 0; i < handler.payeeCount(); i++) {
            deferred += escrow.claimable(handler.payee(i));
        }
        assertEq(handler.assetBalance(address(escrow)), live + deferred);
    }

    /// @notice Every payee was paid, or can claim, exactly the sum of its shares: `min(bounty, D)`
    /// to a slash's receiver and the rest to the treasury, the exit's amount to its recipient and
    /// `D − amount` to the treasury, `D` of a sweep to the treasury.
    function invariant_EveryPayeeGetsExactlyItsShares() external view {
        for (uint256 i = 0; i < handler.payeeCount(); i++) {
            address account = handler.payee(i);
            uint256 held = handler.assetBalance(account) + escrow.claimable(account) + handler.withdrawn(account);
            assertEq(held, handler.owed(account));
        }
    }

    /// @notice Every deposit's status and leaf state are the model's: no transition the model
    /// forbids ever happened.
    function invariant_StatusAndLeafFollowTheModel() external view {
        for (uint256 i = 0; i < handler.identityCount(); i++) {
            uint256 identity = handler.identities(i);
            ICreditEscrow.DepositRecord memory record = escrow.deposits(identity);
            assertEq(uint8(record.status), uint8(handler.ghostStatus(identity)));
            assertEq(uint8(record.leaf), uint8(handler.ghostLeaf(identity)));
        }
    }

    /// @notice `pendingRemovals` counts the condemned leaves, appended or still queued.
    function invariant_PendingRemovalsCountTheCondemnedLeaves() external view {
        uint256 condemned;
        for (uint256 i = 0; i < handler.identityCount(); i++) {
            if (escrow.deposits(handler.identities(i)).leaf == ICreditEscrow.LeafState.Condemned) condemned++;
        }
        assertEq(escrow.pendingRemovals(), condemned);
        assertEq(escrow.pendingRemovals(), handler.ghostPendingRemovals());
    }

    /// @notice `nextRemoval` is the oldest condemned leaf not yet removed, 0 when none waits.
    function invariant_NextRemovalIsTheOldestCondemnedLeaf() external view {
        uint256 next = escrow.nextRemoval();
        assertEq(next, handler.ghostNextRemoval());
        if (escrow.pendingRemovals() == 0) {
            assertEq(next, 0);
        } else {
            assertEq(uint8(escrow.deposits(next).leaf), uint8(ICreditEscrow.LeafState.Condemned));
        }
    }

    /// @notice The queue is the model's: its length, at most `QUEUE_CAPACITY − 1` notes waiting,
    /// and the accumulators at both ends of the waiting notes. No batch without a proof lands: the
    /// tree stays empty (the batch tests insert with real proofs).
    function invariant_TreeAndQueueFollowTheModel() external view {
        (uint256 root, uint256 size, uint256 queued) = escrow.tree();
        assertEq(root, 0, "root");
        assertEq(size, 0, "size");
        assertEq(queued, handler.ghostQueued(), "queued");
        assertLe(queued, escrow.QUEUE_CAPACITY() - 1, "waiting notes");
        assertEq(escrow.accumulatorAt(0), 0, "accAt(0)");
        assertEq(escrow.accumulatorAt(queued), handler.ghostAccumulator(queued), "accAt(queued)");
        assertEq(escrow.pendingRemovals(), handler.ghostPendingRemovals(), "pending removals");
    }

    /// @notice Each note keeps its queue position; a leaf is removed only once appended, and a
    /// condemned leaf waits in the removal queue whether appended or not.
    function invariant_LeavesAreRemovedOnlyOnceAppended() external view {
        (, uint256 size,) = escrow.tree();
        for (uint256 i = 0; i < handler.identityCount(); i++) {
            uint256 identity = handler.identities(i);
            ICreditEscrow.DepositRecord memory record = escrow.deposits(identity);
            assertEq(record.leafIndex, handler.ghostLeafIndex(identity), "queue position");
            if (record.leaf == ICreditEscrow.LeafState.Removed) assertLt(record.leafIndex, size, "appended");
        }
    }

    /// @notice Which expected reverts the run exercised (`forge test -vv` shows them).
    function afterInvariant() external view {
        for (uint256 i = 0; i < handler.revertSelectorCount(); i++) {
            bytes4 selector = handler.revertSelector(i);
            console.log("expected revert", vm.toString(abi.encodePacked(selector)), handler.expectedReverts(selector));
        }
    }
}

contract EthEscrowInvariantTest is EscrowInvariantTest {
    function _useToken() internal pure override returns (bool) {
        return false;
    }
}

contract TokenEscrowInvariantTest is EscrowInvariantTest {
    function _useToken() internal pure override returns (bool) {
        return true;
    }
}
