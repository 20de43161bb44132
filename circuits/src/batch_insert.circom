// SPDX-License-Identifier: GPL-3.0
pragma circom 2.1.5;

include "circomlib/circuits/poseidon.circom";
include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/comparators.circom";
include "./merkle.circom";

// A queued deposit: `D < 2^96` and `E < 2^40` as the escrow stores them, the deposit queue's
// accumulator after it, `Poseidon(acc + D·2^40 + E, ID)`, and its tree leaf `Poseidon(ID, D, E)`.
// Spec: spec/03-circuits.md#batch_insert
template QueuedNote() {
    signal input acc;
    signal input identity;
    signal input deposit;
    signal input expiry;
    signal output accumulated;
    signal output leaf;

    _ <== Num2Bits(96)(deposit);
    _ <== Num2Bits(40)(expiry);
    accumulated <== Poseidon(2)([acc + deposit * 2 ** 40 + expiry, identity]);
    leaf <== Poseidon(3)([identity, deposit, expiry]);
}

// The root of a LeanIMT of `size` leaves from its frontier: `frontier[l]` is the complete left
// subtree at level `l` wherever bit `l` of `size` is set (its other entries are ignored). The
// subtrees are joined from the lowest, each hashed as the left child of what lies right of it.
template LeanImtFrontierRoot(LEVELS) {
    signal input sizeBits[LEVELS];
    signal input frontier[LEVELS];
    signal output root;

    signal node[LEVELS + 1];
    signal started[LEVELS + 1];
    signal joined[LEVELS];
    signal withLeft[LEVELS];
    // Level 0 has nothing to its right yet.
    node[1] <== sizeBits[0] * frontier[0];
    started[1] <== sizeBits[0];
    for (var l = 1; l < LEVELS; l++) {
        joined[l] <== Poseidon(2)([frontier[l], node[l]]);
        withLeft[l] <== started[l] * (joined[l] - frontier[l]) + frontier[l];
        node[l + 1] <== sizeBits[l] * (withLeft[l] - node[l]) + node[l];
        started[l + 1] <== started[l] + sizeBits[l] - started[l] * sizeBits[l];
    }
    root <== node[LEVELS];
}

// The root after appending `leaves` (a prefix of `exists`) to a LeanIMT of `size` leaves
// given its frontier. Level by level a window holds the new nodes, preceded by the frontier
// node where it is their left sibling; neighbours pair up and a lone last node is lifted
// unchanged (LeanIMT's rule). With no leaf the window rebuilds the old root; with no node at
// all the root is 0, an empty tree's.
template LeanImtAppend(LEVELS, BATCH) {
    signal input sizeBits[LEVELS];
    signal input frontier[LEVELS];
    signal input leaves[BATCH];
    signal input exists[BATCH];
    signal output root;

    // Window sizes: the incoming nodes plus the frontier slot; the parents are half of them.
    var incoming[LEVELS + 1];
    incoming[0] = BATCH;
    for (var l = 0; l < LEVELS; l++) {
        incoming[l + 1] = (incoming[l] + 2) \ 2;
    }

    signal node[LEVELS + 1][BATCH];
    signal present[LEVELS + 1][BATCH];
    signal window[LEVELS][BATCH + 1];
    signal inWindow[LEVELS][BATCH + 1];
    signal paired[LEVELS][BATCH];
    for (var j = 0; j < BATCH; j++) {
        node[0][j] <== leaves[j];
        present[0][j] <== exists[j];
    }
    for (var l = 0; l < LEVELS; l++) {
        var width = incoming[l] + 1;
        for (var j = 0; j < width; j++) {
            if (j == 0) {
                window[l][0] <== sizeBits[l] * (frontier[l] - node[l][0]) + node[l][0];
                inWindow[l][0] <== sizeBits[l] * (1 - present[l][0]) + present[l][0];
            } else if (j == width - 1) {
                window[l][j] <== sizeBits[l] * node[l][j - 1];
                inWindow[l][j] <== sizeBits[l] * present[l][j - 1];
            } else {
                window[l][j] <== sizeBits[l] * (node[l][j - 1] - node[l][j]) + node[l][j];
                inWindow[l][j] <== sizeBits[l] * (present[l][j - 1] - present[l][j]) + present[l][j];
            }
        }
        for (var j = 0; j < incoming[l + 1]; j++) {
            if (2 * j + 1 < width) {
                paired[l][j] <== Poseidon(2)([window[l][2 * j], window[l][2 * j + 1]]);
                node[l + 1][j] <== inWindow[l][2 * j + 1] * (paired[l][j] - window[l][2 * j]) + window[l][2 * j];
            } else {
                node[l + 1][j] <== window[l][2 * j];
            }
            present[l + 1][j] <== inWindow[l][2 * j];
        }
    }
    root <== present[LEVELS][0] * node[LEVELS][0];
}

// Appends the next `count ≤ BATCH` queued deposits to the identity tree, then zeroes the leaf
// of `removedIdentity` (when it is not 0) wherever it sits in the grown tree.
//
// The escrow supplies every public signal from its own state: the tree's root and size, the
// queue accumulator after `start` and after `start + count` deposits, and the removal queue's
// head with its `D·2^40 + E`. The private inputs are the queued notes and the tree's frontier,
// which the old root pins down.
//
// The accumulator is `acc' = Poseidon(acc + D·2^40 + E, ID)`: one PoseidonT3 per deposit on
// chain instead of a T4. It binds each term because `acc` is fixed by the terms before it and
// the term is below 2^136; spec/03 states the security it leaves.
// Spec: spec/03-circuits.md#batch_insert
template BatchInsert(TREE_DEPTH, BATCH) {
    var LEVELS = TREE_DEPTH + 1;

    signal input preRoot;
    signal input postRoot;
    signal input start;
    signal input count;
    signal input accStart;
    signal input accEnd;
    signal input removedIdentity;
    signal input removedAmountExpiry;

    signal input identities[BATCH];
    signal input deposits[BATCH];
    signal input expiries[BATCH];
    signal input frontier[LEVELS];
    signal input removedDepth;
    signal input removedIndices[TREE_DEPTH];
    signal input removedSiblings[TREE_DEPTH];

    // At most 2^TREE_DEPTH leaves, and at most BATCH of them now: a full tree still takes
    // removals (count = 0).
    signal sizeBits[LEVELS] <== Num2Bits(LEVELS)(start);
    _ <== Num2Bits(LEVELS)(2 ** TREE_DEPTH - start - count);
    _ <== Num2Bits(8)(count);
    _ <== Num2Bits(8)(BATCH - count);

    // The queued notes, chained into the accumulator up to `count`.
    signal active[BATCH];
    signal leaves[BATCH];
    signal chained[BATCH];
    signal acc[BATCH + 1];
    acc[0] <== accStart;
    for (var i = 0; i < BATCH; i++) {
        active[i] <== LessThan(8)([i, count]);
        (chained[i], leaves[i]) <== QueuedNote()(acc[i], identities[i], deposits[i], expiries[i]);
        acc[i + 1] <== active[i] * (chained[i] - acc[i]) + acc[i];
    }
    accEnd === acc[BATCH];

    signal foldedRoot <== LeanImtFrontierRoot(LEVELS)(sizeBits, frontier);
    preRoot === foldedRoot;
    signal grownRoot <== LeanImtAppend(LEVELS, BATCH)(sizeBits, frontier, leaves, active);

    // The removal: the leaf is in the grown tree, and the path with a zero leaf gives postRoot.
    signal keeping <== IsZero()(removedIdentity);
    signal removing <== 1 - keeping;
    // Its D and E, unpacked from the escrow's D·2^40 + E (136 bits: the packing is unique).
    signal removedBits[136] <== Num2Bits(136)(removedAmountExpiry);
    var removedExpiry = 0;
    var removedDeposit = 0;
    for (var i = 0; i < 40; i++) {
        removedExpiry += removedBits[i] * 2 ** i;
    }
    for (var i = 40; i < 136; i++) {
        removedDeposit += removedBits[i] * 2 ** (i - 40);
    }
    signal removedLeaf <== Poseidon(3)([removedIdentity, removedDeposit, removedExpiry]);
    signal foundRoot <== LeanImtRoot(TREE_DEPTH)(removedLeaf, removedDepth, removedIndices, removedSiblings);
    signal zeroedRoot <== LeanImtRoot(TREE_DEPTH)(0, removedDepth, removedIndices, removedSiblings);
    removing * (foundRoot - grownRoot) === 0;
    postRoot === removing * (zeroedRoot - grownRoot) + grownRoot;
}
