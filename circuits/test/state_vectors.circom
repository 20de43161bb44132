// SPDX-License-Identifier: GPL-3.0
// Test harness: owner tag, state commitment, rerandomization and settlement against
// spec/vectors/state.json.
pragma circom 2.1.5;

include "circomlib/circuits/babyjub.circom";
include "../src/state.circom";

template StateVectors() {
    signal input secret;
    signal input refunded;
    signal input index;
    signal input blinding;
    signal input eta;
    signal input refund;
    signal input scope;
    signal output ownerTag;
    signal output commitment[2];
    signal output rerandomized[2];
    signal output settled[2];
    signal output message;

    ownerTag <== OwnerTag()(secret);
    commitment <== StateCommitment()(refunded, index, ownerTag, blinding);
    rerandomized <== Rerandomize()(commitment, eta);

    signal refundG[2] <== FixedScalarMul(128, GENERATOR_G())(refund);
    signal withRefund[2];
    (withRefund[0], withRefund[1]) <== BabyAdd()(rerandomized[0], rerandomized[1], refundG[0], refundG[1]);
    var N[2] = GENERATOR_N();
    (settled[0], settled[1]) <== BabyAdd()(withRefund[0], withRefund[1], N[0], N[1]);
    message <== Poseidon(3)([settled[0], settled[1], scope]);
}

component main = StateVectors();
