// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Script, console} from "forge-std/Script.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {CreditEscrow, IGroth16Verifier} from "../contracts/src/CreditEscrow.sol";
import {ICreditEscrow} from "../contracts/src/interfaces/ICreditEscrow.sol";
import {ExitVerifier} from "../contracts/src/verifiers/ExitVerifier.sol";
import {SlashVerifier} from "../contracts/src/verifiers/SlashVerifier.sol";
import {BatchInsertVerifier} from "../contracts/src/verifiers/BatchInsertVerifier.sol";

/// @notice Deploys the exit, slash and batch_insert verifiers and a CreditEscrow, then writes
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
/// | `ZKCREDITS_TREASURY` | the deployer (anvil only) |
/// | `ZKCREDITS_OPERATOR` | the deployer (anvil only) |
/// | `ZKCREDITS_SIGNER_ROOT` | the example signer set of spec/vectors/groth16/escrow.json (anvil only) |
///
/// A token escrow gets one base unit of the token from the deployer when it holds any: otherwise
/// the first deposit would also pay for the token creating the escrow's balance (17k gas).
/// `ZKCREDITS_SEED_TOKEN=false` skips it (for a token that refuses such a transfer).
///
/// A value that does not fit its parameter's type is refused, never truncated. On any chain but
/// anvil's (31337) the script also refuses to deploy without every parameter set explicitly (the
/// defaults are ETH-sized: a token escrow would silently charge 1e14 base units), with `SLASH_BOUNTY > C_MAX` (a self-slasher's edge would exceed one request;
/// `ZKCREDITS_FORCE_BOUNTY_ABOVE_C_MAX=true` overrides), and with verifiers whose keys come from
/// the INSECURE development setup, under which anyone can forge proofs
/// (`ZKCREDITS_ALLOW_INSECURE_VERIFIERS=true` overrides, for test networks).
///
/// Forge links the Poseidon libraries before this script runs: it deploys them through the
/// deterministic CREATE2 factory at 0x4e59…956C (the one poseidon-solidity uses too) and reuses
/// them where they exist, but compiled by our pinned solc, so not at poseidon-solidity's published
/// addresses (spec/04-escrow-contract.md, "Deployment", says why this script cannot change that).
contract Deploy is Script {
    uint256 internal constant ANVIL_CHAIN_ID = 31_337;

    function run() external returns (CreditEscrow escrow) {
        ICreditEscrow.Parameters memory params = ICreditEscrow.Parameters({
            token: vm.envOr("ZKCREDITS_TOKEN", address(0)),
            // forge-lint: disable-next-line(unsafe-typecast) bounded by _envUint
            cMax: uint64(_envUint("ZKCREDITS_C_MAX", 1e14, type(uint64).max)),
            // forge-lint: disable-next-line(unsafe-typecast) bounded by _envUint
            exitDelay: uint64(_envUint("ZKCREDITS_EXIT_DELAY", 1 days, type(uint64).max)),
            // forge-lint: disable-next-line(unsafe-typecast) bounded by _envUint
            noteTtl: uint64(_envUint("ZKCREDITS_NOTE_TTL", 30 days, type(uint64).max)),
            // forge-lint: disable-next-line(unsafe-typecast) bounded by _envUint
            slashBounty: uint128(_envUint("ZKCREDITS_SLASH_BOUNTY", 1e15, type(uint128).max)),
            treasury: address(0),
            exitVerifier: address(0),
            slashVerifier: address(0),
            batchInsertVerifier: address(0)
        });
        bool anvil = block.chainid == ANVIL_CHAIN_ID;
        if (!anvil) {
            string[8] memory required = [
                "ZKCREDITS_TOKEN",
                "ZKCREDITS_C_MAX",
                "ZKCREDITS_EXIT_DELAY",
                "ZKCREDITS_NOTE_TTL",
                "ZKCREDITS_SLASH_BOUNTY",
                "ZKCREDITS_TREASURY",
                "ZKCREDITS_OPERATOR",
                "ZKCREDITS_SIGNER_ROOT"
            ];
            for (uint256 i = 0; i < required.length; i++) {
                _requireExplicit(required[i]);
            }
            if (params.slashBounty > params.cMax && !vm.envOr("ZKCREDITS_FORCE_BOUNTY_ABOVE_C_MAX", false)) {
                revert(
                    string.concat(
                        "Deploy: ZKCREDITS_SLASH_BOUNTY (",
                        vm.toString(params.slashBounty),
                        ") exceeds ZKCREDITS_C_MAX (",
                        vm.toString(params.cMax),
                        "): self-slashing would beat exiting by more than one request; set ",
                        "ZKCREDITS_FORCE_BOUNTY_ABOVE_C_MAX=true to deploy anyway"
                    )
                );
            }
            // Before anything is broadcast: the constant is in the code, so a local deployment
            // tells, and a refused run costs no gas.
            if (!vm.envOr("ZKCREDITS_ALLOW_INSECURE_VERIFIERS", false)) {
                _refuseInsecure(address(new ExitVerifier()), "exit");
                _refuseInsecure(address(new SlashVerifier()), "slash");
                _refuseInsecure(address(new BatchInsertVerifier()), "batch_insert");
            }
        }
        uint256 signerRoot =
            anvil ? vm.envOr("ZKCREDITS_SIGNER_ROOT", _exampleSignerRoot()) : vm.envUint("ZKCREDITS_SIGNER_ROOT");
        uint256 deploymentBlock = block.number;

        vm.startBroadcast();
        (, address deployer,) = vm.readCallers();
        params.treasury = vm.envOr("ZKCREDITS_TREASURY", deployer);
        address operator = vm.envOr("ZKCREDITS_OPERATOR", deployer);
        params.exitVerifier = address(new ExitVerifier());
        params.slashVerifier = address(new SlashVerifier());
        params.batchInsertVerifier = address(new BatchInsertVerifier());
        escrow = new CreditEscrow(params, operator, signerRoot);
        // Deposits never move this unit: the escrow pays out only what it recorded.
        bool seeded = params.token != address(0) && vm.envOr("ZKCREDITS_SEED_TOKEN", true)
            && IERC20(params.token).balanceOf(deployer) > 0;
        if (seeded) SafeERC20.safeTransfer(IERC20(params.token), address(escrow), 1);
        vm.stopBroadcast();
        if (params.token != address(0) && !seeded) {
            console.log(
                "Deploy: the escrow holds none of the token, so its first deposit also pays 17k gas for the escrow's balance in it; send the escrow one unit to spare it"
            );
        }

        _write(escrow, params, operator, signerRoot, deploymentBlock);
    }

    /// @dev `name`'s value, or `fallbackValue` when unset; refuses values above `max` instead of
    /// letting a cast truncate them.
    function _envUint(string memory name, uint256 fallbackValue, uint256 max) internal view returns (uint256 value) {
        value = vm.envOr(name, fallbackValue);
        if (value > max) {
            revert(
                string.concat("Deploy: ", name, " = ", vm.toString(value), " exceeds its maximum ", vm.toString(max))
            );
        }
    }

    function _requireExplicit(string memory name) internal view {
        if (!vm.envExists(name)) {
            revert(
                string.concat(
                    "Deploy: set ",
                    name,
                    " explicitly on chain ",
                    vm.toString(block.chainid),
                    " (only anvil has defaults)"
                )
            );
        }
    }

    function _refuseInsecure(address verifier, string memory circuit) internal view {
        if (IGroth16Verifier(verifier).INSECURE_DEV_SETUP()) {
            revert(
                string.concat(
                    "Deploy: the ",
                    circuit,
                    " verifier has INSECURE development keys (anyone can forge proofs); run `make verifiers` with ",
                    "ceremony keys, or set ZKCREDITS_ALLOW_INSECURE_VERIFIERS=true on a test network"
                )
            );
        }
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
        vm.serializeAddress(o, "batchInsertVerifier", params.batchInsertVerifier);
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
