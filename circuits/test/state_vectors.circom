// SPDX-License-Identifier: GPL-3.0
// Test harness: owner tag, state commitment, rerandomization and settlement against
// spec/vectors/state.json.
pragma circom 2.1.5;

include "circomlib/circuits/babyjub.circom";
include "../src/state.circom";

template StateVectors(TAG_STATE) {
    signal input secret;
    signal input refunded;
    signal input index;
    signal input blinding;
    signal input eta;
    signal input refund;
    signal input generators[4][2];
    signal output ownerTag;
    signal output commitment[2];
    signal output rerandomized[2];
    signal output settled[2];
    signal output message;

    ownerTag <== OwnerTag(TAG_STATE)(secret);
    commitment <== StateCommitment()(refunded, index, ownerTag, blinding, generators);

    signal etaH[2] <== ScalarMul(251)(eta, generators[3]);
    (rerandomized[0], rerandomized[1]) <== BabyAdd()(commitment[0], commitment[1], etaH[0], etaH[1]);

    signal refundG[2] <== ScalarMul(128)(refund, generators[0]);
    signal withRefund[2];
    (withRefund[0], withRefund[1]) <== BabyAdd()(rerandomized[0], rerandomized[1], refundG[0], refundG[1]);
    (settled[0], settled[1]) <== BabyAdd()(withRefund[0], withRefund[1], generators[1][0], generators[1][1]);
    message <== Poseidon(2)(settled);
}

// TAG_STATE = ASCII "zkcredits.state" as a big-endian integer.
component main = StateVectors(635638313560795420947436358328218725);
