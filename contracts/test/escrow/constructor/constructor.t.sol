// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {PoseidonT3} from "poseidon-solidity/PoseidonT3.sol";
import {CreditEscrow} from "../../../src/CreditEscrow.sol";
import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";
import {FailingSelfTestVerifier, TestToken} from "../../utils/Tokens.sol";

contract ConstructorTest is EscrowTest {
    function _expectInvalid(ICreditEscrow.Parameters memory p, string memory name) internal {
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.InvalidParameter.selector, name));
        new CreditEscrow(p, operator, exitSignerRoot);
    }

    function test_RevertWhen_AParameterIsOutOfRange() external {
        ICreditEscrow.Parameters memory p = _parameters(address(0));
        p.cMax = 0;
        _expectInvalid(p, "cMax");
        p = _parameters(address(0));
        p.exitDelay = 0;
        _expectInvalid(p, "exitDelay");
        p = _parameters(address(0));
        p.noteTtl = p.exitDelay;
        _expectInvalid(p, "noteTtl");
        p = _parameters(address(0));
        p.noteTtl = uint64(escrow.MAX_NOTE_TTL() + 1);
        _expectInvalid(p, "noteTtl");
        p = _parameters(address(0));
        p.treasury = address(0);
        _expectInvalid(p, "treasury");
        p = _parameters(address(0));
        p.exitVerifier = makeAddr("not a contract");
        _expectInvalid(p, "exitVerifier");
        p = _parameters(address(0));
        p.slashVerifier = address(0);
        _expectInvalid(p, "slashVerifier");
        p = _parameters(address(0));
        p.batchInsertVerifier = makeAddr("not a contract");
        _expectInvalid(p, "batchInsertVerifier");
        // In the order of the checks: the verifiers before the token.
        p.token = makeAddr("not a token");
        _expectInvalid(p, "batchInsertVerifier");
        _expectInvalid(_parameters(makeAddr("not a token")), "token");
    }

    function _expectRefused(ICreditEscrow.Parameters memory p, address verifier) internal {
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.VerifierSelfTestFailed.selector, verifier));
        new CreditEscrow(p, operator, exitSignerRoot);
    }

    function _expectSelfTestFailure(address verifier) internal {
        ICreditEscrow.Parameters memory p = _parameters(address(0));
        p.exitVerifier = verifier;
        _expectRefused(p, verifier);
        p = _parameters(address(0));
        p.slashVerifier = verifier;
        _expectRefused(p, verifier);
        p = _parameters(address(0));
        p.batchInsertVerifier = verifier;
        _expectRefused(p, verifier);
    }

    function test_RevertWhen_AVerifiersSelfTestFails() external {
        _expectSelfTestFailure(address(new FailingSelfTestVerifier(FailingSelfTestVerifier.Mode.ReturnsFalse)));
        _expectSelfTestFailure(address(new FailingSelfTestVerifier(FailingSelfTestVerifier.Mode.Reverts)));
        _expectSelfTestFailure(address(new FailingSelfTestVerifier(FailingSelfTestVerifier.Mode.RepliesGarbage)));
        // A contract without selfTest, such as a verifier generated before it existed.
        _expectSelfTestFailure(address(new TestToken()));
    }

    function test_RevertWhen_AVerifierCannotFoldTheFixedSignals() external {
        // The escrow folds its scope and cMax into the exit key, and its scope into the slash key,
        // once: a verifier for another circuit passes its self-test but has no such fold.
        ICreditEscrow.Parameters memory p = _parameters(address(0));
        p.exitVerifier = slashVerifier;
        _expectRefused(p, slashVerifier);
        p = _parameters(address(0));
        p.slashVerifier = exitVerifier;
        _expectRefused(p, exitVerifier);
        p = _parameters(address(0));
        p.exitVerifier = batchInsertVerifier;
        _expectRefused(p, batchInsertVerifier);
        // A verifier whose fold reports failure.
        address failing = address(new FailingSelfTestVerifier(FailingSelfTestVerifier.Mode.CannotFold));
        p = _parameters(address(0));
        p.slashVerifier = failing;
        _expectRefused(p, failing);
    }

    function test_RevertWhen_AVerifiersSelfTestBurnsAllGas() external {
        // Each burn takes 63/64 of the gas left to the test: the 1/64 the escrow keeps is
        // enough to revert with its error, but not for many more cases in one test.
        _expectSelfTestFailure(address(new FailingSelfTestVerifier(FailingSelfTestVerifier.Mode.BurnsAllGas)));
    }

    function test_RevertWhen_ThePairingPrecompileFails() external {
        // A repriced ecPairing runs out of the gas the verifier gives it (the verifier caps what
        // each precompile call may burn): the call fails, which is what the mock makes it do, and
        // the verifier's example proof no longer verifies.
        vm.mockCallRevert(address(0x08), bytes(""), bytes(""));
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.VerifierSelfTestFailed.selector, exitVerifier));
        new CreditEscrow(_parameters(address(0)), operator, exitSignerRoot);
    }

    function test_RevertWhen_TheInitialSignerRootIsInvalid() external {
        ICreditEscrow.Parameters memory p = _parameters(address(0));
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.InvalidSignerRoot.selector, 0));
        new CreditEscrow(p, operator, 0);
    }

    function test_WhenTheParametersAreValid() external view {
        ICreditEscrow.Parameters memory p = escrow.parameters();
        assertEq(p.token, address(0));
        assertEq(p.cMax, C_MAX);
        assertEq(p.exitDelay, EXIT_DELAY);
        assertEq(p.noteTtl, NOTE_TTL);
        assertEq(p.slashBounty, SLASH_BOUNTY);
        assertEq(p.treasury, treasury);
        assertEq(p.exitVerifier, exitVerifier);
        assertEq(p.slashVerifier, slashVerifier);
        assertEq(p.batchInsertVerifier, batchInsertVerifier);
        assertEq(escrow.scope(), PoseidonT3.hash([block.chainid, uint256(uint160(address(escrow)))]));
        assertEq(escrow.owner(), operator);
        assertEq(escrow.signerRoot(), exitSignerRoot);
        assertTrue(escrow.isKnownSignerRoot(exitSignerRoot));
        (uint256 root, uint256 size, uint256 queued) = escrow.tree();
        assertEq(root, 0);
        assertEq(size, 0);
        assertEq(queued, 0);
        assertEq(escrow.accumulatorAt(0), 0, "acc_0");
        assertEq(escrow.recentRoots()[0], 0);
        assertEq(escrow.pendingRemovals(), 0);
        assertEq(escrow.nextRemoval(), 0);
        assertEq(escrow.TREE_CAPACITY(), 2 ** 20, "the request circuit's depth");
        assertEq(escrow.BATCH_INSERT_SIZE(), 64, "the batch_insert circuit's size");
        assertEq(escrow.QUEUE_CAPACITY(), 256);
    }
}
