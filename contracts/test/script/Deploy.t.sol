// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {Deploy} from "../../../script/Deploy.s.sol";
import {CreditEscrow} from "../../src/CreditEscrow.sol";
import {ICreditEscrow} from "../../src/interfaces/ICreditEscrow.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {TestToken} from "../utils/Tokens.sol";

/// @notice The deploy script takes every parameter from the environment, falls back to the
/// anvil defaults, writes a deployment file that describes what it deployed, and refuses values
/// that do not fit and, off anvil, implicit or unsafe parameters.
contract DeployTest is Test {
    string internal file;

    function setUp() public {
        string memory dir = string.concat(vm.projectRoot(), "/build/deployments");
        vm.createDir(dir, true);
        file = string.concat(dir, "/forge-test-deploy.json");
        vm.setEnv("ZKCREDITS_DEPLOYMENT_FILE", file);
    }

    /// @dev One test: the environment is shared by every test of the process, so the defaults
    /// and the refusals of unset parameters are checked before the overrides are set.
    function test_DeployFromDefaultsThenFromTheEnvironment() external {
        _checkDefaults();
        _checkRefusalsOffAnvil();
        _checkOverrides();
        _checkValuesThatDoNotFitAreRefused();
    }

    /// @dev Expects `run` to revert with a message containing `mention`.
    function _expectRefusal(string memory mention) internal {
        try new Deploy().run() returns (CreditEscrow) {
            assertTrue(false, string.concat("deployed without refusing: ", mention));
        } catch Error(string memory reason) {
            assertTrue(vm.contains(reason, mention), reason);
        }
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

    function _checkRefusalsOffAnvil() internal {
        vm.chainId(1);
        // Every parameter must be explicit, in this order; the values are anvil's defaults.
        string[2][8] memory required = [
            ["ZKCREDITS_TOKEN", vm.toString(address(0))],
            ["ZKCREDITS_C_MAX", "100000000000000"],
            ["ZKCREDITS_EXIT_DELAY", "86400"],
            ["ZKCREDITS_NOTE_TTL", "2592000"],
            ["ZKCREDITS_SLASH_BOUNTY", "1000000000000000"],
            ["ZKCREDITS_TREASURY", vm.toString(makeAddr("treasury"))],
            ["ZKCREDITS_OPERATOR", vm.toString(makeAddr("operator"))],
            ["ZKCREDITS_SIGNER_ROOT", "12345"]
        ];
        for (uint256 i = 0; i < required.length; i++) {
            _expectRefusal(string.concat("set ", required[i][0], " explicitly on chain 1"));
            vm.setEnv(required[i][0], required[i][1]);
        }

        // The defaults pay a bounty of ten requests.
        _expectRefusal("ZKCREDITS_SLASH_BOUNTY (1000000000000000) exceeds ZKCREDITS_C_MAX (100000000000000)");
        vm.setEnv("ZKCREDITS_FORCE_BOUNTY_ABOVE_C_MAX", "true");
        _expectRefusal("the exit verifier has INSECURE development keys");
        vm.setEnv("ZKCREDITS_ALLOW_INSECURE_VERIFIERS", "true");
        CreditEscrow escrow = new Deploy().run();
        assertEq(escrow.parameters().slashBounty, 1e15);
        assertEq(vm.parseJsonUint(vm.readFile(file), ".chainId"), 1);

        vm.setEnv("ZKCREDITS_FORCE_BOUNTY_ABOVE_C_MAX", "false");
        vm.setEnv("ZKCREDITS_SLASH_BOUNTY", "100000000000000");
        assertEq(new Deploy().run().parameters().slashBounty, 1e14, "a bounty of C_MAX is allowed");
        vm.setEnv("ZKCREDITS_ALLOW_INSECURE_VERIFIERS", "false");
        vm.chainId(31_337);
    }

    function _checkOverrides() internal {
        address token = address(new TestToken());
        // The deployer seeds a token escrow with one unit when it holds any.
        TestToken(token).mint(DEFAULT_SENDER, 10);
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
        assertEq(IERC20(token).balanceOf(address(escrow)), 1, "seeded");
        assertEq(IERC20(token).balanceOf(DEFAULT_SENDER), 9);
        // Not when told not to.
        vm.setEnv("ZKCREDITS_SEED_TOKEN", "false");
        assertEq(IERC20(token).balanceOf(address(new Deploy().run())), 0, "not seeded");
        vm.setEnv("ZKCREDITS_SEED_TOKEN", "true");
        // A deployer without the token still deploys; the escrow then holds none.
        address other = address(new TestToken());
        vm.setEnv("ZKCREDITS_TOKEN", vm.toString(other));
        assertEq(IERC20(other).balanceOf(address(new Deploy().run())), 0);
        vm.setEnv("ZKCREDITS_TOKEN", vm.toString(token));
    }

    function _checkValuesThatDoNotFitAreRefused() internal {
        // 20e18 wraps to about 1.55e18 in a plain uint64 cast.
        vm.setEnv("ZKCREDITS_C_MAX", "20e18");
        _expectRefusal("ZKCREDITS_C_MAX = 20000000000000000000 exceeds its maximum 18446744073709551615");
        vm.setEnv("ZKCREDITS_C_MAX", "500");
        vm.setEnv("ZKCREDITS_EXIT_DELAY", "18446744073709551616");
        _expectRefusal("ZKCREDITS_EXIT_DELAY = 18446744073709551616 exceeds its maximum");
        vm.setEnv("ZKCREDITS_EXIT_DELAY", "3600");
        vm.setEnv("ZKCREDITS_NOTE_TTL", "18446744073709551616");
        _expectRefusal("ZKCREDITS_NOTE_TTL = 18446744073709551616 exceeds its maximum");
        vm.setEnv("ZKCREDITS_NOTE_TTL", "86400");
        vm.setEnv("ZKCREDITS_SLASH_BOUNTY", "340282366920938463463374607431768211456");
        _expectRefusal("ZKCREDITS_SLASH_BOUNTY = 340282366920938463463374607431768211456 exceeds its maximum");
        vm.setEnv("ZKCREDITS_SLASH_BOUNTY", "250");
        assertEq(new Deploy().run().parameters().cMax, 500);
    }
}
