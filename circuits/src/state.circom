// SPDX-License-Identifier: GPL-3.0
pragma circom 2.1.5;

include "circomlib/circuits/babyjub.circom";
include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/escalarmulfix.circom";
include "circomlib/circuits/poseidon.circom";
include "constants.circom";

// e·BASE for a fixed subgroup point and a scalar that must fit in `BITS` bits.
template FixedScalarMul(BITS, BASE) {
    signal input scalar;
    signal output out[2];

    signal bits[BITS] <== Num2Bits(BITS)(scalar);
    out <== EscalarMulFix(BITS, BASE)(bits);
}

// The owner tag t = Poseidon(k, TAG_STATE) mod 2^248, taken from the canonical bits of the hash.
template OwnerTag() {
    signal input secret;
    signal output tag;

    signal full <== Poseidon(2)([secret, TAG_STATE()]);
    signal bits[254] <== Num2Bits_strict()(full);
    var acc = 0;
    for (var i = 0; i < 248; i++) {
        acc += bits[i] * (1 << i);
    }
    tag <== acc;
}

// A = R·G + n·N + t·T + ρ·H with R < 2^128, n < 2^32, t < 2^248, ρ < 2^251, on the fixed
// generators of constants.circom.
// Spec: spec/02-cryptography.md#state-commitments
template StateCommitment() {
    signal input refunded;
    signal input index;
    signal input ownerTag;
    signal input blinding;
    signal output commitment[2];

    signal terms[4][2];
    terms[0] <== FixedScalarMul(128, GENERATOR_G())(refunded);
    terms[1] <== FixedScalarMul(32, GENERATOR_N())(index);
    // t < 2^248 already; circomlib's EscalarMulFix cannot take 247 to 249 bits, so use 250.
    terms[2] <== FixedScalarMul(250, GENERATOR_T())(ownerTag);
    terms[3] <== FixedScalarMul(251, GENERATOR_H())(blinding);

    signal partial[4][2];
    partial[0] <== terms[0];
    for (var i = 1; i < 4; i++) {
        (partial[i][0], partial[i][1]) <== BabyAdd()(partial[i - 1][0], partial[i - 1][1], terms[i][0], terms[i][1]);
    }
    commitment <== partial[3];
}

// A_anon = A + η·H: the client's rerandomization.
template Rerandomize() {
    signal input commitment[2];
    signal input eta;
    signal output out[2];

    signal etaH[2] <== FixedScalarMul(251, GENERATOR_H())(eta);
    (out[0], out[1]) <== BabyAdd()(commitment[0], commitment[1], etaH[0], etaH[1]);
}
