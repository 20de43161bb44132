// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {Deploy} from "../../../script/Deploy.s.sol";
import {CreditEscrow} from "../../src/CreditEscrow.sol";
import {ICreditEscrow} from "../../src/interfaces/ICreditEscrow.sol";
import {TestToken} from "../utils/Tokens.sol";

/// @notice The deploy script takes every parameter from the environment, falls back to the
/// anvil defaults, and writes a deployment file that describes what it deployed.
contract DeployTest is Test {
    string internal file;

    function setUp() public {
        string memory dir = string.concat(vm.projectRoot(), "/build/deployments");
        vm.createDir(dir, true);
        file = string.concat(dir, "/forge-test-deploy.json");
        vm.setEnv("ZKCREDITS_DEPLOYMENT_FILE", file);
    }

    /// @dev One test: the environment is shared by every test of the process, so the defaults
    /// are checked before the overrides are set.
    function test_DeployFromDefaultsThenFromTheEnvironment() external {
        _checkDefaults();
        _checkOverrides();
    }

    function _checkDefaults() internal {
        CreditEscrow escrow = new Deploy().run();
        ICreditEscrow.Parameters memory p = escrow.parameters();
        assertEq(p.token, address(0));
        assertEq(p.cMax, 1e14);
        assertEq(p.exitDelay, 1 days);
        assertEq(p.noteTtl, 30 days);
        assertEq(p.slashBounty, 1e15);
        assertTrue(p.exitVerifier.code.length > 0 && p.slashVerifier.code.length > 0);

        string memory json = vm.readFile(file);
        assertEq(vm.parseJsonAddress(json, ".escrow"), address(escrow));
        assertEq(vm.parseJsonAddress(json, ".exitVerifier"), p.exitVerifier);
        assertEq(vm.parseJsonUint(json, ".chainId"), block.chainid);
        assertEq(vm.parseJsonUint(json, ".scope"), escrow.scope());
        assertEq(vm.parseJsonUint(json, ".signerRoot"), escrow.signerRoot());
        assertEq(vm.parseJsonUint(json, ".cMax"), 1e14);
        assertEq(vm.parseJsonAddress(json, ".treasury"), p.treasury);
        assertEq(vm.parseJsonAddress(json, ".operator"), escrow.owner());
    }

    function _checkOverrides() internal {
        address token = address(new TestToken());
        vm.setEnv("ZKCREDITS_TOKEN", vm.toString(token));
        vm.setEnv("ZKCREDITS_C_MAX", "500");
        vm.setEnv("ZKCREDITS_EXIT_DELAY", "3600");
        vm.setEnv("ZKCREDITS_NOTE_TTL", "86400");
        vm.setEnv("ZKCREDITS_SLASH_BOUNTY", "250");
        vm.setEnv("ZKCREDITS_TREASURY", vm.toString(makeAddr("treasury")));
        vm.setEnv("ZKCREDITS_OPERATOR", vm.toString(makeAddr("operator")));
        vm.setEnv("ZKCREDITS_SIGNER_ROOT", "12345");
        CreditEscrow escrow = new Deploy().run();
        ICreditEscrow.Parameters memory p = escrow.parameters();
        assertEq(p.token, token);
        assertEq(p.cMax, 500);
        assertEq(p.exitDelay, 3600);
        assertEq(p.noteTtl, 86_400);
        assertEq(p.slashBounty, 250);
        assertEq(p.treasury, makeAddr("treasury"));
        assertEq(escrow.owner(), makeAddr("operator"));
        assertEq(escrow.signerRoot(), 12_345);
        assertEq(vm.parseJsonAddress(vm.readFile(file), ".token"), token);
    }
}
