// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {PoseidonT3} from "poseidon-solidity/PoseidonT3.sol";

/// @notice A LeanIMT recomputed from all its leaves in memory (removed leaves are zero): the
/// reference the escrow's incremental tree is checked against, and where slash siblings come from.
library LeanImtModel {
    /// @notice The root of the tree over `leaves` (zero when empty).
    function root(uint256[] memory leaves) internal pure returns (uint256) {
        if (leaves.length == 0) return 0;
        uint256[] memory nodes = leaves;
        while (nodes.length > 1) {
            nodes = _parents(nodes);
        }
        return nodes[0];
    }

    /// @notice The siblings LeanIMT's update takes for leaf `index`: one per level where the
    /// node has a sibling (a lone left node is lifted without one).
    function siblings(uint256[] memory leaves, uint256 index) internal pure returns (uint256[] memory path) {
        uint256[] memory buffer = new uint256[](256);
        uint256 count;
        uint256[] memory nodes = leaves;
        while (nodes.length > 1) {
            if (index & 1 == 1) {
                buffer[count++] = nodes[index - 1];
            } else if (index + 1 < nodes.length) {
                buffer[count++] = nodes[index + 1];
            }
            nodes = _parents(nodes);
            index >>= 1;
        }
        path = new uint256[](count);
        for (uint256 i = 0; i < count; i++) {
            path[i] = buffer[i];
        }
    }

    function _parents(uint256[] memory nodes) private pure returns (uint256[] memory parents) {
        parents = new uint256[]((nodes.length + 1) / 2);
        for (uint256 i = 0; i < parents.length; i++) {
            parents[i] = 2 * i + 1 < nodes.length ? PoseidonT3.hash([nodes[2 * i], nodes[2 * i + 1]]) : nodes[2 * i];
        }
    }
}
