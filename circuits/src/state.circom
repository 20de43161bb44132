// SPDX-License-Identifier: GPL-3.0
pragma circom 2.1.5;

include "circomlib/circuits/babyjub.circom";
include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/escalarmulany.circom";
include "circomlib/circuits/poseidon.circom";

// e·P for a scalar given as a field element that must fit in `BITS` bits.
template ScalarMul(BITS) {
    signal input scalar;
    signal input point[2];
    signal output out[2];

    signal bits[BITS] <== Num2Bits(BITS)(scalar);
    out <== EscalarMulAny(BITS)(bits, point);
}

// The owner tag t = Poseidon(k, TAG_STATE) mod 2^248, taken from the canonical bits of the hash.
template OwnerTag(TAG_STATE) {
    signal input secret;
    signal output tag;

    signal full <== Poseidon(2)([secret, TAG_STATE]);
    signal bits[254] <== Num2Bits_strict()(full);
    var acc = 0;
    for (var i = 0; i < 248; i++) {
        acc += bits[i] * (1 << i);
    }
    tag <== acc;
}

// A = R·G + n·N + t·T + ρ·H with R < 2^128, n < 2^32, t < 2^248, ρ < 2^251.
// The generators are inputs here; the production circuits fix them as constants.
// Spec: spec/02-cryptography.md#state-commitments
template StateCommitment() {
    signal input refunded;
    signal input index;
    signal input ownerTag;
    signal input blinding;
    signal input generators[4][2];
    signal output commitment[2];

    signal rG[2] <== ScalarMul(128)(refunded, generators[0]);
    signal nN[2] <== ScalarMul(32)(index, generators[1]);
    signal tT[2] <== ScalarMul(248)(ownerTag, generators[2]);
    signal rhoH[2] <== ScalarMul(251)(blinding, generators[3]);

    signal terms[4][2] <== [rG, nN, tT, rhoH];
    signal partial[4][2];
    partial[0] <== terms[0];
    for (var i = 1; i < 4; i++) {
        (partial[i][0], partial[i][1]) <== BabyAdd()(partial[i - 1][0], partial[i - 1][1], terms[i][0], terms[i][1]);
    }
    commitment <== partial[3];
}
