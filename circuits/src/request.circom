// SPDX-License-Identifier: GPL-3.0
pragma circom 2.1.5;

include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/comparators.circom";
include "identity.circom";
include "merkle.circom";
include "rln.circom";
include "signed_state.circom";
include "state.circom";

// One paid request with ticket n of a signed state.
//
// Shows: leaf = Poseidon(Poseidon(k), D, E) is in the tree under root, now < E, the state opens
// to (R, n, t(k), ρ) and is genesis or signed by the signer set, A_anon = A + η·H,
// (n + 1)·C_MAX ≤ D + R with every amount range-checked, and the RLN share of ticket n for x.
// Every public signal is an input, so the public order is the input order of the main file.
// Spec: spec/02-cryptography.md (the circuit chapter follows with the circuits issue).
template Request(TREE_DEPTH, SIGNER_DEPTH) {
    // Public.
    signal input root;
    signal input scope;
    signal input signerRoot;
    signal input cMax;
    signal input now;
    signal input x;
    signal input anonCommitment[2];
    signal input nullifier;
    signal input y;

    // Private: the deposit note and its tree path.
    signal input secret;
    signal input deposit;
    signal input expiry;
    signal input treeDepth;
    signal input treeIndices[TREE_DEPTH];
    signal input treeSiblings[TREE_DEPTH];
    // Private: the state, its signature and the rerandomization.
    signal input refunded;
    signal input index;
    signal input blinding;
    signal input isGenesis;
    signal input signerKey[2];
    signal input signatureR8[2];
    signal input signatureS;
    signal input signerIndices[SIGNER_DEPTH];
    signal input signerSiblings[SIGNER_DEPTH];
    signal input eta;

    // Amounts and times fit their declared widths, so no comparison below can wrap.
    _ <== Num2Bits(128)(deposit);
    _ <== Num2Bits(64)(expiry);
    _ <== Num2Bits(64)(now);
    _ <== Num2Bits(64)(cMax);
    // refunded (128 bits), index (32 bits), blinding and eta (251 bits) are range-checked by
    // the scalar multiplications that consume them.

    signal identity;
    signal leaf;
    (identity, leaf) <== IdentityLeaf()(secret, deposit, expiry);
    signal treeRoot <== LeanImtRoot(TREE_DEPTH)(leaf, treeDepth, treeIndices, treeSiblings);
    treeRoot === root;

    signal unexpired <== LessThan(64)([now, expiry]);
    unexpired === 1;

    signal commitment[2] <== SignedState(SIGNER_DEPTH)(
        secret, refunded, index, blinding, isGenesis,
        signerKey, signatureR8, signatureS, signerIndices, signerSiblings, signerRoot, scope
    );
    signal rerandomized[2] <== Rerandomize()(commitment, eta);
    rerandomized === anonCommitment;

    // (n + 1)·C_MAX < 2^97 and D + R < 2^129: a 130-bit comparison cannot wrap.
    signal needed <== (index + 1) * cMax;
    signal solvent <== LessEqThan(130)([needed, deposit + refunded]);
    solvent === 1;

    signal shareY;
    signal shareNullifier;
    (shareY, shareNullifier) <== RlnShare()(secret, scope, index, x);
    shareY === y;
    shareNullifier === nullifier;
}
