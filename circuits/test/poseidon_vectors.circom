// SPDX-License-Identifier: GPL-3.0
// Test harness: circomlib Poseidon for 1 to 5 inputs, checked against spec/vectors/poseidon.json.
pragma circom 2.1.5;

include "circomlib/circuits/poseidon.circom";

template PoseidonVectors() {
    signal input in1[1];
    signal input in2[2];
    signal input in3[3];
    signal input in4[4];
    signal input in5[5];
    signal output out[5];
    out[0] <== Poseidon(1)(in1);
    out[1] <== Poseidon(2)(in2);
    out[2] <== Poseidon(3)(in3);
    out[3] <== Poseidon(4)(in4);
    out[4] <== Poseidon(5)(in5);
}

component main = PoseidonVectors();
