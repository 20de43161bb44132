// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {CreditEscrow} from "../../../src/CreditEscrow.sol";
import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";

contract RequestExitTest is EscrowTest {
    uint256 internal identity;
    ExitCase internal exit;

    function setUp() public override {
        super.setUp();
        identity = _depositUser(0);
        exit = _exitCase(0, false);
    }

    function _submit(ExitCase memory e, uint256 signerRoot) internal {
        escrow.requestExit(identity, e.recipient, e.amount, e.nullifier, e.y, signerRoot, e.proof);
    }

    function test_TheExampleEscrowHasTheScopeTheProofsName() external view {
        assertEq(address(escrow), vm.parseJsonAddress(vectors, ".escrow"));
        assertEq(escrow.scope(), vm.parseJsonUint(vectors, ".scope"));
    }

    function test_RevertWhen_TheDepositIsNotActive() external {
        uint256 unknown = _identity(1);
        ExitCase memory other = _exitCase(1, false);
        vm.expectRevert(
            abi.encodeWithSelector(ICreditEscrow.DepositNotActive.selector, unknown, ICreditEscrow.Status.None)
        );
        escrow.requestExit(
            unknown, other.recipient, other.amount, other.nullifier, other.y, exitSignerRoot, other.proof
        );

        _submit(exit, exitSignerRoot);
        vm.expectRevert(
            abi.encodeWithSelector(ICreditEscrow.DepositNotActive.selector, identity, ICreditEscrow.Status.Exiting)
        );
        _submit(_exitCase(0, true), exitSignerRoot);
    }

    function test_RevertWhen_TheDepositWasSlashed() external {
        _slashUser(0);
        vm.expectRevert(
            abi.encodeWithSelector(ICreditEscrow.DepositNotActive.selector, identity, ICreditEscrow.Status.Slashed)
        );
        _submit(exit, exitSignerRoot);
    }

    function test_RevertWhen_TheNoteHasExpired() external {
        uint256 expiry = escrow.deposits(identity).expiry;
        vm.warp(expiry);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.NoteExpired.selector, identity, expiry));
        _submit(exit, exitSignerRoot);
    }

    function test_RevertWhen_TheRecipientIsTheZeroAddress() external {
        exit.recipient = address(0);
        vm.expectRevert(ICreditEscrow.ZeroAddress.selector);
        _submit(exit, exitSignerRoot);
    }

    function test_RevertWhen_TheAmountExceedsTheDeposit() external {
        uint256 deposit = _vectorDeposit(0);
        exit.amount = deposit + 1;
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.ExitAmountExceedsDeposit.selector, deposit + 1, deposit));
        _submit(exit, exitSignerRoot);
    }

    function test_RevertWhen_TheSignerRootWasNeverTheEscrows() external {
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.UnknownSignerRoot.selector, 12_345));
        _submit(exit, 12_345);
    }

    function test_RevertWhen_TheSignerRootWasRevokedAtOrBeforeTheDeposit() external {
        vm.startPrank(operator);
        escrow.setSignerRoot(777);
        escrow.revokeSignerRoot(exitSignerRoot);
        vm.stopPrank();
        uint256 effectiveAt = block.timestamp + NOTE_TTL;
        uint256 later = _depositUser(1);
        ExitCase memory e = _exitCase(1, false);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.RevokedSignerRoot.selector, exitSignerRoot, effectiveAt));
        escrow.requestExit(later, e.recipient, e.amount, e.nullifier, e.y, exitSignerRoot, e.proof);
        // `identity` was deposited in the same second as well, so the root is refused for it too.
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.RevokedSignerRoot.selector, exitSignerRoot, effectiveAt));
        _submit(exit, exitSignerRoot);
    }

    function test_RevertWhen_TheNullifierOrYIsNotBelowTheField() external {
        ExitCase memory e = exit;
        e.nullifier += FIELD;
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.PublicSignalOutsideField.selector, e.nullifier));
        _submit(e, exitSignerRoot);
        e = _exitCase(0, false);
        e.y += FIELD;
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.PublicSignalOutsideField.selector, e.y));
        _submit(e, exitSignerRoot);
    }

    function test_RevertWhen_AnyPublicSignalDiffersFromTheProvenOne() external {
        ExitCase memory e = _exitCase(0, false);
        e.amount -= 1;
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        _submit(e, exitSignerRoot);

        e = _exitCase(0, false);
        e.recipient = makeAddr("thief");
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        _submit(e, exitSignerRoot);

        e = _exitCase(0, false);
        e.nullifier += 1;
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        _submit(e, exitSignerRoot);

        e = _exitCase(0, false);
        e.y += 1;
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        _submit(e, exitSignerRoot);

        // Another known signer root is not the one the state was signed under.
        vm.prank(operator);
        escrow.setSignerRoot(777);
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        _submit(exit, 777);

        // Another user's proof does not open this deposit.
        e = _exitCase(1, false);
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        _submit(e, exitSignerRoot);
    }

    function test_RevertWhen_TheEscrowIsAnotherDeployment() external {
        CreditEscrow other = new CreditEscrow(_parameters(address(0)), operator, exitSignerRoot);
        vm.deal(depositor, _vectorDeposit(0));
        vm.prank(depositor);
        other.deposit{value: _vectorDeposit(0)}(identity);
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        other.requestExit(identity, exit.recipient, exit.amount, exit.nullifier, exit.y, exitSignerRoot, exit.proof);
    }

    function test_WhenTheProofVerifies() external {
        uint256 finalizableAt = block.timestamp + EXIT_DELAY;
        vm.expectEmit(address(escrow));
        emit ICreditEscrow.ExitRequested(
            identity, exit.recipient, exit.amount, exit.nullifier, exit.y, exitSignerRoot, finalizableAt
        );
        vm.prank(makeAddr("relayer"));
        _submit(exit, exitSignerRoot);

        ICreditEscrow.DepositRecord memory record = escrow.deposits(identity);
        assertEq(uint8(record.status), uint8(ICreditEscrow.Status.Exiting));
        assertEq(record.finalizableAt, finalizableAt, "in the deposit's slot");
        // D + R − n·C_MAX with D = 10,000, R = 1,234, n = 5.
        assertEq(exit.amount, 6234);
        ICreditEscrow.PendingExit memory pending = escrow.pendingExits(identity);
        assertEq(pending.recipient, exit.recipient);
        assertEq(pending.amount, exit.amount);
        assertEq(address(escrow).balance, _vectorDeposit(0), "nothing is paid yet");
    }

    function test_WhenTheLastSettlementNeverArrived() external {
        ExitCase memory e = _exitCase(0, true);
        assertEq(e.amount, exit.amount - C_MAX, "one more ticket charged");
        _submit(e, exitSignerRoot);
        assertEq(escrow.pendingExits(identity).amount, e.amount);
    }

    function test_WhenTheSignerRootWasRotatedSinceTheStateWasSigned() external {
        vm.prank(operator);
        escrow.setSignerRoot(777);
        assertEq(escrow.signerRoot(), 777);
        _submit(exit, exitSignerRoot);
        assertEq(uint8(_status(identity)), uint8(ICreditEscrow.Status.Exiting));
    }
}
