// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {IGroth16Verifier, ISlashVerifier} from "../../src/CreditEscrow.sol";
import {ExitVerifier} from "../../src/verifiers/ExitVerifier.sol";
import {SlashVerifier} from "../../src/verifiers/SlashVerifier.sol";
import {BatchInsertVerifier} from "../../src/verifiers/BatchInsertVerifier.sol";

/// @notice The generated verifiers accept the real proofs in spec/vectors/groth16/ (made in Rust
/// from the real circuits) and reject every tampered public signal or proof.
contract VerifiersTest is Test {
    struct Calldata {
        uint256[2] pA;
        uint256[2][2] pB;
        uint256[2] pC;
        uint256[] pubSignals;
    }

    ExitVerifier internal exitVerifier;
    SlashVerifier internal slashVerifier;
    BatchInsertVerifier internal batchVerifier;

    function setUp() public {
        exitVerifier = new ExitVerifier();
        slashVerifier = new SlashVerifier();
        batchVerifier = new BatchInsertVerifier();
    }

    function _load(string memory name) internal view returns (string memory json, Calldata memory c) {
        json = vm.readFile(string.concat(vm.projectRoot(), "/spec/vectors/groth16/", name, ".json"));
        uint256[] memory a = vm.parseJsonUintArray(json, ".calldata.pA");
        uint256[] memory b0 = vm.parseJsonUintArray(json, ".calldata.pB[0]");
        uint256[] memory b1 = vm.parseJsonUintArray(json, ".calldata.pB[1]");
        uint256[] memory cc = vm.parseJsonUintArray(json, ".calldata.pC");
        c.pA = [a[0], a[1]];
        c.pB = [[b0[0], b0[1]], [b1[0], b1[1]]];
        c.pC = [cc[0], cc[1]];
        c.pubSignals = vm.parseJsonUintArray(json, ".calldata.pubSignals");
    }

    function _exit(Calldata memory c) internal view returns (bool) {
        uint256[9] memory pub;
        for (uint256 i = 0; i < 9; i++) {
            pub[i] = c.pubSignals[i];
        }
        return exitVerifier.verifyProof(c.pA, c.pB, c.pC, pub);
    }

    function _slash(Calldata memory c) internal view returns (bool) {
        uint256[3] memory pub = [c.pubSignals[0], c.pubSignals[1], c.pubSignals[2]];
        return ISlashVerifier(address(slashVerifier)).verifyProof(c.pA, c.pB, c.pC, pub);
    }

    function _batch(Calldata memory c) internal view returns (bool) {
        uint256[8] memory pub;
        for (uint256 i = 0; i < 8; i++) {
            pub[i] = c.pubSignals[i];
        }
        return batchVerifier.verifyProof(c.pA, c.pB, c.pC, pub);
    }

    function test_SelfTestsPassOnThisChain() public view {
        assertTrue(IGroth16Verifier(address(exitVerifier)).selfTest());
        assertTrue(IGroth16Verifier(address(slashVerifier)).selfTest());
        assertTrue(IGroth16Verifier(address(batchVerifier)).selfTest());
    }

    function test_DevelopmentKeysAreFlaggedInsecure() public view {
        // The committed verifiers come from the deterministic dev setup (`make verifiers`).
        assertTrue(IGroth16Verifier(address(exitVerifier)).INSECURE_DEV_SETUP());
        assertTrue(IGroth16Verifier(address(slashVerifier)).INSECURE_DEV_SETUP());
        assertTrue(IGroth16Verifier(address(batchVerifier)).INSECURE_DEV_SETUP());
    }

    function test_BatchInsertVerifierAcceptsTheVectorProof() public view {
        (, Calldata memory c) = _load("batch_insert");
        assertEq(c.pubSignals.length, 8);
        assertTrue(_batch(c));
    }

    function test_WhenAnyPublicSignalChanges_BatchInsertVerifierRejects() public view {
        (, Calldata memory c) = _load("batch_insert");
        for (uint256 i = 0; i < 8; i++) {
            c.pubSignals[i] += 1;
            assertFalse(_batch(c));
            c.pubSignals[i] -= 1;
        }
    }

    function test_WhenThePairingPrecompileFails_SelfTestFails() public {
        // A repriced ecPairing runs out of the gas the verifier gives it: the call fails, which
        // is what the mock makes it do.
        vm.mockCallRevert(address(0x08), bytes(""), bytes(""));
        assertFalse(IGroth16Verifier(address(exitVerifier)).selfTest());
        assertFalse(IGroth16Verifier(address(slashVerifier)).selfTest());
    }

    function test_ExitVerifierAcceptsTheVectorProof() public view {
        (, Calldata memory c) = _load("exit");
        assertEq(c.pubSignals.length, 9);
        assertTrue(_exit(c));
    }

    function test_SlashVerifierAcceptsTheVectorProof() public view {
        (, Calldata memory c) = _load("slash");
        assertEq(c.pubSignals.length, 3);
        assertTrue(_slash(c));
    }

    function test_WhenAnyPublicSignalChanges_ExitVerifierRejects() public view {
        (, Calldata memory c) = _load("exit");
        for (uint256 i = 0; i < 9; i++) {
            c.pubSignals[i] += 1;
            assertFalse(_exit(c));
            c.pubSignals[i] -= 1;
        }
    }

    function test_WhenTheReceiverChanges_SlashVerifierRejects() public view {
        (string memory json, Calldata memory c) = _load("slash");
        c.pubSignals = vm.parseJsonUintArray(json, ".invalid[0].public_signals");
        assertFalse(_slash(c));
        (, c) = _load("slash");
        c.pubSignals[1] = uint256(uint160(address(this)));
        assertFalse(_slash(c));
    }

    function test_WhenTheScopeChanges_SlashVerifierRejects() public view {
        (, Calldata memory c) = _load("slash");
        c.pubSignals[2] += 1;
        assertFalse(_slash(c));
    }

    function test_WhenAPublicSignalIsOutsideTheField_VerifierRejects() public view {
        (, Calldata memory c) = _load("slash");
        c.pubSignals[
                1
            ] += 21_888_242_871_839_275_222_246_405_745_257_275_088_548_364_400_416_034_343_698_204_186_575_808_495_617;
        assertFalse(_slash(c));
    }

    function test_WhenTheProofIsAltered_VerifierRejects() public view {
        (, Calldata memory c) = _load("slash");
        c.pC = c.pA;
        assertFalse(_slash(c));
        (, c) = _load("slash");
        c.pA[1] = 21_888_242_871_839_275_222_246_405_745_257_275_088_696_311_157_297_823_662_689_037_894_645_226_208_583;
        assertFalse(_slash(c));
    }

    /// @dev The exit vector's proof through `verifyProofFolded`, its scope (6) and cMax (8) folded.
    function _exitFolded(Calldata memory c) internal view returns (bool) {
        (bool ok, uint256 x, uint256 y) = exitVerifier.foldFixedSignals(c.pubSignals[6], c.pubSignals[8]);
        assertTrue(ok);
        uint256[7] memory rest = [
            c.pubSignals[0],
            c.pubSignals[1],
            c.pubSignals[2],
            c.pubSignals[3],
            c.pubSignals[4],
            c.pubSignals[5],
            c.pubSignals[7]
        ];
        return exitVerifier.verifyProofFolded(c.pA, c.pB, c.pC, x, y, rest);
    }

    function test_ExitVerifierAcceptsTheVectorProofWithFixedSignalsFolded() public view {
        (, Calldata memory c) = _load("exit");
        assertTrue(_exitFolded(c));
    }

    function test_WhenAnyPublicSignalChanges_FoldedExitVerifierRejects() public view {
        (, Calldata memory c) = _load("exit");
        for (uint256 i = 0; i < 9; i++) {
            c.pubSignals[i] += 1;
            assertFalse(_exitFolded(c));
            c.pubSignals[i] -= 1;
        }
    }

    function test_SlashVerifierAcceptsTheVectorProofWithItsScopeFolded() public view {
        (, Calldata memory c) = _load("slash");
        (bool ok, uint256 x, uint256 y) = slashVerifier.foldFixedSignals(c.pubSignals[2]);
        assertTrue(ok);
        uint256[2] memory rest = [c.pubSignals[0], c.pubSignals[1]];
        assertTrue(slashVerifier.verifyProofFolded(c.pA, c.pB, c.pC, x, y, rest));
        // A base folded from another scope is another statement.
        (, x, y) = slashVerifier.foldFixedSignals(c.pubSignals[2] + 1);
        assertFalse(slashVerifier.verifyProofFolded(c.pA, c.pB, c.pC, x, y, rest));
        // A base off the curve makes the pairing precompile fail.
        assertFalse(slashVerifier.verifyProofFolded(c.pA, c.pB, c.pC, 1, 3, rest));
    }

    function test_WhenAFixedSignalIsOutsideTheField_FoldingFails() public view {
        uint256 r =
            21_888_242_871_839_275_222_246_405_745_257_275_088_548_364_400_416_034_343_698_204_186_575_808_495_617;
        (bool ok,,) = slashVerifier.foldFixedSignals(r);
        assertFalse(ok);
        (ok,,) = exitVerifier.foldFixedSignals(1, r);
        assertFalse(ok);
    }

    function test_WhenAPrecompileReturnsNothing_VerifierRejects() public {
        // On a chain where 0x07 is an empty account, the call succeeds and returns no bytes: the
        // verifier must not read its own inputs back as the product.
        (, Calldata memory c) = _load("slash");
        vm.mockCall(address(0x07), bytes(""), bytes(""));
        assertFalse(_slash(c));
        vm.clearMockedCalls();
        vm.mockCall(address(0x08), bytes(""), bytes(""));
        assertFalse(_slash(c));
    }

    function testFuzz_RandomProofsAreRejected(uint256[2] calldata pA, uint256[2] calldata pC) public view {
        (, Calldata memory c) = _load("slash");
        c.pA = pA;
        c.pC = pC;
        uint256 before = gasleft();
        assertFalse(_slash(c));
        // Invalid points make a precompile fail; the verifier caps what such a failure can burn.
        assertLt(before - gasleft(), 400_000);
    }
}
