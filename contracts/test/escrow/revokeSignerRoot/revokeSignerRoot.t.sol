// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";

contract RevokeSignerRootTest is EscrowTest {
    uint256 internal constant NEW_ROOT = 777;

    function setUp() public override {
        super.setUp();
        // The vector exits are signed under the initial root, which a rotation makes revocable.
        vm.prank(operator);
        escrow.setSignerRoot(NEW_ROOT);
    }

    function _revoke(uint256 root) internal {
        vm.prank(operator);
        escrow.revokeSignerRoot(root);
    }

    function test_RevertWhen_TheCallerIsNotTheOperator() external {
        address stranger = makeAddr("stranger");
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        escrow.revokeSignerRoot(exitSignerRoot);
    }

    function test_RevertWhen_TheRootIsTheCurrentSignerRoot() external {
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.CannotRevokeCurrentSignerRoot.selector, NEW_ROOT));
        escrow.revokeSignerRoot(NEW_ROOT);
    }

    function test_RevertWhen_TheRootWasNeverTheSignerRoot() external {
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.UnknownSignerRoot.selector, 5));
        escrow.revokeSignerRoot(5);
    }

    function test_RevertWhen_TheRootWasRevokedAlready() external {
        _revoke(exitSignerRoot);
        uint256 effectiveAt = block.timestamp + NOTE_TTL;
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(ICreditEscrow.SignerRootAlreadyRevoked.selector, exitSignerRoot, effectiveAt)
        );
        escrow.revokeSignerRoot(exitSignerRoot);
        vm.warp(effectiveAt);
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(ICreditEscrow.SignerRootAlreadyRevoked.selector, exitSignerRoot, effectiveAt)
        );
        escrow.revokeSignerRoot(exitSignerRoot);
    }

    function test_WhenTheOperatorRevokesAnEarlierRoot() external {
        uint256 effectiveAt = block.timestamp + NOTE_TTL;
        vm.expectEmit(address(escrow));
        emit ICreditEscrow.SignerRootRevoked(exitSignerRoot, effectiveAt);
        _revoke(exitSignerRoot);
        assertEq(escrow.signerRootRevokedAt(exitSignerRoot), effectiveAt);
        assertEq(escrow.signerRootRevokedAt(NEW_ROOT), 0);
        assertTrue(escrow.isKnownSignerRoot(exitSignerRoot), "still known");
        assertEq(escrow.signerRoot(), NEW_ROOT);
    }

    function test_WhenTheNoteWasDepositedBeforeTheAnnouncement() external {
        uint256 identity = _depositUser(0);
        uint256 expiry = escrow.deposits(identity).expiry;
        vm.warp(block.timestamp + 1);
        _revoke(exitSignerRoot);
        assertLt(expiry, escrow.signerRootRevokedAt(exitSignerRoot), "it expires before the revocation");

        // A holder who was away until the last second still exits with its state under the root.
        vm.warp(expiry - 1);
        ExitCase memory e = _requestExit(0, false);
        vm.warp(block.timestamp + EXIT_DELAY);
        escrow.finalizeExit(identity);
        assertEq(uint8(_status(identity)), uint8(ICreditEscrow.Status.Exited));
        assertEq(e.recipient.balance, e.amount);
    }

    function test_RevertWhen_TheNoteWasDepositedAtOrAfterTheAnnouncement() external {
        _revoke(exitSignerRoot);
        uint256 effectiveAt = block.timestamp + NOTE_TTL;

        // In the announcement's second: E = effectiveAt.
        uint256 sameSecond = _depositUser(0);
        ExitCase memory e = _exitCase(0, false);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.RevokedSignerRoot.selector, exitSignerRoot, effectiveAt));
        escrow.requestExit(sameSecond, e.recipient, e.amount, e.nullifier, e.y, exitSignerRoot, e.proof);

        // One second later, long before effectiveAt.
        vm.warp(block.timestamp + 1);
        uint256 later = _depositUser(1);
        e = _exitCase(1, false);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.RevokedSignerRoot.selector, exitSignerRoot, effectiveAt));
        escrow.requestExit(later, e.recipient, e.amount, e.nullifier, e.y, exitSignerRoot, e.proof);
        assertEq(uint8(_status(later)), uint8(ICreditEscrow.Status.Active), "it exits under the current root");
    }
}
