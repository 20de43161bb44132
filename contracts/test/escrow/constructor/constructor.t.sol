// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {PoseidonT3} from "poseidon-solidity/PoseidonT3.sol";
import {CreditEscrow} from "../../../src/CreditEscrow.sol";
import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";

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
        _expectInvalid(_parameters(makeAddr("not a token")), "token");
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
        assertEq(escrow.scope(), PoseidonT3.hash([block.chainid, uint256(uint160(address(escrow)))]));
        assertEq(escrow.owner(), operator);
        assertEq(escrow.signerRoot(), exitSignerRoot);
        assertTrue(escrow.isKnownSignerRoot(exitSignerRoot));
        (uint256 root, uint256 size, uint256 depth) = escrow.tree();
        assertEq(root, 0);
        assertEq(size, 0);
        assertEq(depth, 0);
        assertEq(escrow.recentRoots()[0], 0);
    }
}
