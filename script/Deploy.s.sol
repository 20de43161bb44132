// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Script} from "forge-std/Script.sol";
import {CreditEscrow} from "../contracts/src/CreditEscrow.sol";
import {ICreditEscrow} from "../contracts/src/interfaces/ICreditEscrow.sol";
import {ExitVerifier} from "../contracts/src/verifiers/ExitVerifier.sol";
import {SlashVerifier} from "../contracts/src/verifiers/SlashVerifier.sol";

/// @notice Deploys the exit and slash verifiers and a CreditEscrow, then writes
/// `deployments/<chainId>.json` (or `ZKCREDITS_DEPLOYMENT_FILE`) with the addresses, the block
/// and every parameter. Every parameter comes from an environment variable; the defaults suit a
/// local anvil:
///
/// | variable | default |
/// | --- | --- |
/// | `ZKCREDITS_TOKEN` | zero address: ETH deposits |
/// | `ZKCREDITS_C_MAX` | 1e14 (0.0001 ETH per request) |
/// | `ZKCREDITS_EXIT_DELAY` | 86,400 s (one day) |
/// | `ZKCREDITS_NOTE_TTL` | 2,592,000 s (30 days) |
/// | `ZKCREDITS_SLASH_BOUNTY` | 1e15 |
/// | `ZKCREDITS_TREASURY` | the deployer |
/// | `ZKCREDITS_OPERATOR` | the deployer |
/// | `ZKCREDITS_SIGNER_ROOT` | the example signer set of spec/vectors/groth16/escrow.json |
///
/// The verifiers carry the INSECURE development keys unless `make verifiers` was run with keys
/// from a real ceremony.
contract Deploy is Script {
    function run() external returns (CreditEscrow escrow) {
        ICreditEscrow.Parameters memory params = ICreditEscrow.Parameters({
            token: vm.envOr("ZKCREDITS_TOKEN", address(0)),
            cMax: uint64(vm.envOr("ZKCREDITS_C_MAX", uint256(1e14))),
            exitDelay: uint64(vm.envOr("ZKCREDITS_EXIT_DELAY", uint256(1 days))),
            noteTtl: uint64(vm.envOr("ZKCREDITS_NOTE_TTL", uint256(30 days))),
            slashBounty: uint128(vm.envOr("ZKCREDITS_SLASH_BOUNTY", uint256(1e15))),
            treasury: address(0),
            exitVerifier: address(0),
            slashVerifier: address(0)
        });
        uint256 signerRoot = vm.envOr("ZKCREDITS_SIGNER_ROOT", _exampleSignerRoot());
        uint256 deploymentBlock = block.number;

        vm.startBroadcast();
        (, address deployer,) = vm.readCallers();
        params.treasury = vm.envOr("ZKCREDITS_TREASURY", deployer);
        address operator = vm.envOr("ZKCREDITS_OPERATOR", deployer);
        params.exitVerifier = address(new ExitVerifier());
        params.slashVerifier = address(new SlashVerifier());
        escrow = new CreditEscrow(params, operator, signerRoot);
        vm.stopBroadcast();

        _write(escrow, params, operator, signerRoot, deploymentBlock);
    }

    function _exampleSignerRoot() internal view returns (uint256) {
        string memory vectors = vm.readFile(string.concat(vm.projectRoot(), "/spec/vectors/groth16/escrow.json"));
        return vm.parseJsonUint(vectors, ".signer_root");
    }

    function _write(
        CreditEscrow escrow,
        ICreditEscrow.Parameters memory params,
        address operator,
        uint256 signerRoot,
        uint256 deploymentBlock
    ) internal {
        string memory o = "deployment";
        vm.serializeUint(o, "chainId", block.chainid);
        vm.serializeAddress(o, "escrow", address(escrow));
        vm.serializeAddress(o, "exitVerifier", params.exitVerifier);
        vm.serializeAddress(o, "slashVerifier", params.slashVerifier);
        vm.serializeUint(o, "deploymentBlock", deploymentBlock);
        vm.serializeString(o, "scope", vm.toString(escrow.scope()));
        vm.serializeAddress(o, "token", params.token);
        vm.serializeString(o, "cMax", vm.toString(params.cMax));
        vm.serializeUint(o, "exitDelay", params.exitDelay);
        vm.serializeUint(o, "noteTtl", params.noteTtl);
        vm.serializeString(o, "slashBounty", vm.toString(params.slashBounty));
        vm.serializeAddress(o, "treasury", params.treasury);
        vm.serializeAddress(o, "operator", operator);
        string memory json = vm.serializeString(o, "signerRoot", vm.toString(signerRoot));
        string memory path = vm.envOr(
            "ZKCREDITS_DEPLOYMENT_FILE",
            string.concat(vm.projectRoot(), "/deployments/", vm.toString(block.chainid), ".json")
        );
        vm.writeJson(json, path);
    }
}
