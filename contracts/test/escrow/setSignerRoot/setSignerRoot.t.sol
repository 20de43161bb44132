// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";

contract SetSignerRootTest is EscrowTest {
    function test_RevertWhen_TheCallerIsNotTheOperator() external {
        address stranger = makeAddr("stranger");
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        escrow.setSignerRoot(5);
    }

    function test_RevertWhen_TheRootIsZeroOrNotBelowTheField() external {
        vm.startPrank(operator);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.InvalidSignerRoot.selector, 0));
        escrow.setSignerRoot(0);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.InvalidSignerRoot.selector, FIELD));
        escrow.setSignerRoot(FIELD);
    }

    function test_RevertWhen_TheRootWasRevoked() external {
        vm.startPrank(operator);
        escrow.setSignerRoot(5);
        escrow.revokeSignerRoot(exitSignerRoot);
        uint256 effectiveAt = block.timestamp + NOTE_TTL;
        vm.expectRevert(
            abi.encodeWithSelector(ICreditEscrow.SignerRootAlreadyRevoked.selector, exitSignerRoot, effectiveAt)
        );
        escrow.setSignerRoot(exitSignerRoot);
    }

    function test_WhenTheOperatorSetsAValidRoot() external {
        vm.expectEmit(address(escrow));
        emit ICreditEscrow.SignerRootSet(exitSignerRoot, 5);
        vm.prank(operator);
        escrow.setSignerRoot(5);
        vm.prank(operator);
        escrow.setSignerRoot(6);
        assertEq(escrow.signerRoot(), 6);
        assertTrue(escrow.isKnownSignerRoot(exitSignerRoot));
        assertTrue(escrow.isKnownSignerRoot(5));
        assertTrue(escrow.isKnownSignerRoot(6));
        assertFalse(escrow.isKnownSignerRoot(7));
    }

    function test_OperatorHandoverTakesTwoSteps() external {
        address next = makeAddr("next operator");
        vm.prank(operator);
        escrow.transferOwnership(next);
        assertEq(escrow.owner(), operator, "not yet");
        vm.prank(next);
        escrow.acceptOwnership();
        vm.prank(next);
        escrow.setSignerRoot(9);
        assertEq(escrow.signerRoot(), 9);
    }
}
