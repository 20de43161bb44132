// SPDX-License-Identifier: GPL-3.0
// Test harness: Baby Jubjub addition and scalar multiplication against spec/vectors/babyjubjub.json.
pragma circom 2.1.5;

include "circomlib/circuits/babyjub.circom";
include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/escalarmulany.circom";

template BabyJubjubVectors() {
    signal input p[2];
    signal input q[2];
    signal input scalar;
    signal output sum[2];
    signal output product[2];
    (sum[0], sum[1]) <== BabyAdd()(p[0], p[1], q[0], q[1]);
    signal scalarBits[251] <== Num2Bits(251)(scalar);
    product <== EscalarMulAny(251)(scalarBits, p);
}

component main = BabyJubjubVectors();
