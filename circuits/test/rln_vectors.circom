// SPDX-License-Identifier: GPL-3.0
// Test harness: identity, leaf and RLN share against spec/vectors/rln.json.
pragma circom 2.1.5;

include "../src/identity.circom";
include "../src/rln.circom";

template RlnVectors() {
    signal input secret;
    signal input deposit;
    signal input expiry;
    signal input scope;
    signal input index;
    signal input x;
    signal output identity;
    signal output leaf;
    signal output y;
    signal output nullifier;
    (identity, leaf) <== IdentityLeaf()(secret, deposit, expiry);
    (y, nullifier) <== RlnShare()(secret, scope, index, x);
}

component main = RlnVectors();
