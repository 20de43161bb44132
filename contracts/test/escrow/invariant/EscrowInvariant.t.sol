// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {CreditEscrow} from "../../../src/CreditEscrow.sol";
import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowHandler} from "./EscrowHandler.sol";

/// @notice What must hold after any sequence of deposits, slashes, exits, sweeps and time jumps.
contract EscrowInvariantTest is Test {
    EscrowHandler internal handler;
    CreditEscrow internal escrow;

    function setUp() public {
        handler = new EscrowHandler();
        handler.setUp();
        escrow = CreditEscrow(handler.escrowAddress());
        bytes4[] memory selectors = new bytes4[](7);
        selectors[0] = EscrowHandler.deposit.selector;
        selectors[1] = EscrowHandler.depositUser.selector;
        selectors[2] = EscrowHandler.slash.selector;
        selectors[3] = EscrowHandler.requestExit.selector;
        selectors[4] = EscrowHandler.finalizeExit.selector;
        selectors[5] = EscrowHandler.sweep.selector;
        selectors[6] = EscrowHandler.warp.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    /// @notice The escrow holds exactly the Active and Exiting deposits plus deferred payouts.
    function invariant_BalanceEqualsLiveDeposits() external view {
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
        assertEq(address(escrow).balance, live + deferred);
    }

    /// @notice No account receives more than the deposits it was a payee of.
    function invariant_NoAccountReceivesMoreThanItsDeposits() external view {
        for (uint256 i = 0; i < handler.payeeCount(); i++) {
            address account = handler.payee(i);
            assertLe(account.balance, handler.entitled(account));
        }
    }

    /// @notice A deposit leaves Active at most once.
    function invariant_ADepositLeavesActiveAtMostOnce() external view {
        for (uint256 i = 0; i < handler.identityCount(); i++) {
            assertLe(handler.timesLeftActive(handler.identities(i)), 1);
        }
    }

    /// @notice The incremental root equals the root recomputed from the live leaves.
    function invariant_TreeRootEqualsTheModel() external view {
        (uint256 root,,) = escrow.tree();
        assertEq(root, handler.modelRoot());
    }
}
