// SPDX-License-Identifier: GPL-3.0
pragma circom 2.1.5;

include "circomlib/circuits/poseidon.circom";
include "circomlib/circuits/mux1.circom";
include "circomlib/circuits/comparators.circom";

// Root of a LeanIMT from a membership proof padded to MAX_DEPTH levels.
//
// LeanIMT lifts a node that has no right sibling without hashing, so a proof holds only the
// levels that hash: `depth` of them. Siblings and index bits past `depth` are padding and do not
// affect the result; the root is the node reached after exactly `depth` hashes.
// Spec: spec/02-cryptography.md#identity-tree
template LeanImtRoot(MAX_DEPTH) {
    signal input leaf;
    signal input depth;
    signal input indices[MAX_DEPTH];
    signal input siblings[MAX_DEPTH];
    signal output root;

    signal nodes[MAX_DEPTH + 1];
    signal selected[MAX_DEPTH + 1];
    signal isDepth[MAX_DEPTH + 1];
    signal children[MAX_DEPTH][2];
    nodes[0] <== leaf;

    var depthMatches = 0;
    var rootSum = 0;
    for (var i = 0; i <= MAX_DEPTH; i++) {
        isDepth[i] <== IsEqual()([depth, i]);
        depthMatches += isDepth[i];
        selected[i] <== isDepth[i] * nodes[i];
        rootSum += selected[i];
        if (i < MAX_DEPTH) {
            indices[i] * (indices[i] - 1) === 0;
            children[i] <== MultiMux1(2)([[nodes[i], siblings[i]], [siblings[i], nodes[i]]], indices[i]);
            nodes[i + 1] <== Poseidon(2)(children[i]);
        }
    }
    // depth must be one of 0..MAX_DEPTH.
    depthMatches === 1;
    root <== rootSum;
}

// Root of a complete binary Poseidon tree of fixed DEPTH (the signer set).
// Spec: spec/02-cryptography.md#eddsa-poseidon
template FixedMerkleRoot(DEPTH) {
    signal input leaf;
    signal input indices[DEPTH];
    signal input siblings[DEPTH];
    signal output root;

    signal nodes[DEPTH + 1];
    signal children[DEPTH][2];
    nodes[0] <== leaf;
    for (var i = 0; i < DEPTH; i++) {
        indices[i] * (indices[i] - 1) === 0;
        children[i] <== MultiMux1(2)([[nodes[i], siblings[i]], [siblings[i], nodes[i]]], indices[i]);
        nodes[i + 1] <== Poseidon(2)(children[i]);
    }
    root <== nodes[DEPTH];
}
