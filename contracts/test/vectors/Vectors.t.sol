// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {PoseidonT2} from "poseidon-solidity/PoseidonT2.sol";
import {PoseidonT3} from "poseidon-solidity/PoseidonT3.sol";
import {InternalLeanIMT, LeanIMTData} from "node_modules/@zk-kit/lean-imt.sol/InternalLeanIMT.sol";

/// @notice A LeanIMT in storage, driven over external calls (its removal takes calldata siblings).
contract LeanImtHarness {
    using InternalLeanIMT for LeanIMTData;

    LeanIMTData internal tree;

    function insert(uint256 leaf) external returns (uint256) {
        return tree._insert(leaf);
    }

    function remove(uint256 leaf, uint256[] calldata siblings) external returns (uint256) {
        return tree._remove(leaf, siblings);
    }

    function root() external view returns (uint256) {
        return tree._root();
    }

    function depth() external view returns (uint256) {
        return tree.depth;
    }
}

/// @notice The on-chain hash and tree libraries agree with spec/vectors/ (Poseidon with 1 and 2
/// inputs, LeanIMT roots, depths and removal by zeroing a leaf).
contract VectorsTest is Test {
    string internal poseidonJson;
    string internal leanImtJson;
    string internal depositQueueJson;

    uint256 internal constant SNARK_SCALAR_FIELD =
        21_888_242_871_839_275_222_246_405_745_257_275_088_548_364_400_416_034_343_698_204_186_575_808_495_617;

    function setUp() public {
        poseidonJson = vm.readFile(string.concat(vm.projectRoot(), "/spec/vectors/poseidon.json"));
        leanImtJson = vm.readFile(string.concat(vm.projectRoot(), "/spec/vectors/lean_imt.json"));
        depositQueueJson = vm.readFile(string.concat(vm.projectRoot(), "/spec/vectors/deposit_queue.json"));
    }

    /// The deposit queue's accumulator as the escrow will compute it on each deposit (one
    /// PoseidonT3; the addition is in the field) equals the vectors, and so the batch_insert circuit.
    function test_DepositQueueAccumulatorMatchesVectors() public view {
        uint256 checked;
        for (uint256 i = 0; vm.keyExistsJson(depositQueueJson, _at(".cases", i)); i++) {
            string memory path = _at(".cases", i);
            uint256 identity = vm.parseJsonUint(depositQueueJson, string.concat(path, ".identity"));
            uint256 deposit = vm.parseJsonUint(depositQueueJson, string.concat(path, ".deposit"));
            uint256 expiry = vm.parseJsonUint(depositQueueJson, string.concat(path, ".expiry"));
            uint256 before = vm.parseJsonUint(depositQueueJson, string.concat(path, ".acc_before"));
            uint256 term = (deposit << 40) | expiry;
            assertEq(term, vm.parseJsonUint(depositQueueJson, string.concat(path, ".amount_expiry")), path);
            uint256 acc = PoseidonT3.hash([addmod(before, term, SNARK_SCALAR_FIELD), identity]);
            assertEq(acc, vm.parseJsonUint(depositQueueJson, string.concat(path, ".acc_after")), path);
            checked++;
        }
        assertEq(checked, 6, "every deposit-queue vector was checked");
    }

    function test_PoseidonT2AndT3MatchVectors() public view {
        uint256 checked;
        for (uint256 i = 0; vm.keyExistsJson(poseidonJson, _at(".cases", i)); i++) {
            string memory path = _at(".cases", i);
            uint256[] memory inputs = vm.parseJsonUintArray(poseidonJson, string.concat(path, ".inputs"));
            uint256 expected = vm.parseJsonUint(poseidonJson, string.concat(path, ".output"));
            if (inputs.length == 1) {
                assertEq(PoseidonT2.hash([inputs[0]]), expected, path);
                checked++;
            } else if (inputs.length == 2) {
                assertEq(PoseidonT3.hash([inputs[0], inputs[1]]), expected, path);
                checked++;
            }
        }
        // Four arity-1 and four arity-2 cases plus the two-input tag case.
        assertEq(checked, 9, "every one- and two-input vector was checked");
    }

    function test_LeanImtRootsMatchVectors() public {
        uint256 cases;
        for (uint256 i = 0; vm.keyExistsJson(leanImtJson, _at(".cases", i)); i++) {
            string memory path = _at(".cases", i);
            uint256[] memory leaves = vm.parseJsonUintArray(leanImtJson, string.concat(path, ".leaves"));
            LeanImtHarness tree = new LeanImtHarness();
            for (uint256 j = 0; j < leaves.length; j++) {
                tree.insert(leaves[j]);
            }
            assertEq(tree.root(), vm.parseJsonUint(leanImtJson, string.concat(path, ".root")), path);
            assertEq(tree.depth(), vm.parseJsonUint(leanImtJson, string.concat(path, ".depth")), path);

            string memory removal = string.concat(path, ".removal");
            uint256 removed = leaves[vm.parseJsonUint(leanImtJson, string.concat(removal, ".leaf_index"))];
            uint256[] memory siblings = vm.parseJsonUintArray(leanImtJson, string.concat(removal, ".siblings"));
            tree.remove(removed, siblings);
            assertEq(tree.root(), vm.parseJsonUint(leanImtJson, string.concat(removal, ".root_after")), removal);
            cases++;
        }
        assertEq(cases, 8, "every tree size was checked");
    }

    function _at(string memory array, uint256 i) private pure returns (string memory) {
        return string.concat(array, "[", vm.toString(i), "]");
    }
}
