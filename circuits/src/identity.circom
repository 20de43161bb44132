// SPDX-License-Identifier: GPL-3.0
pragma circom 2.1.5;

include "circomlib/circuits/poseidon.circom";

// ID = Poseidon(k) and the tree leaf Poseidon(ID, D, E).
// Spec: spec/02-cryptography.md#identities
template IdentityLeaf() {
    signal input secret;
    signal input deposit;
    signal input expiry;
    signal output identity;
    signal output leaf;

    identity <== Poseidon(1)([secret]);
    leaf <== Poseidon(3)([identity, deposit, expiry]);
}
