// SPDX-License-Identifier: GPL-3.0
pragma circom 2.1.5;

include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/poseidon.circom";
include "constants.circom";
include "rln.circom";
include "signed_state.circom";

// Leaving with what is left: knowledge of k for the public ID, a valid state (genesis or signed
// by the set), the exit ticket w = n + p with p ∈ {0, 1} (p = 1 charges an unsettled last
// request at C_MAX), amount = D + R − w·C_MAX ≥ 0, and the RLN share of ticket w for
// x_w = Poseidon(TAG_EXIT, recipient, amount). Reusing ticket w anywhere reveals k.
// Spec: DESIGN §8; the circuit chapter follows with the circuits issue.
template Exit(SIGNER_DEPTH) {
    // Public.
    signal input deposit;
    signal input identity;
    signal input recipient;
    signal input amount;
    signal input nullifier;
    signal input y;
    signal input scope;
    signal input signerRoot;
    signal input cMax;

    // Private.
    signal input secret;
    signal input refunded;
    signal input index;
    signal input blinding;
    signal input isGenesis;
    signal input signerKey[2];
    signal input signatureR8[2];
    signal input signatureS;
    signal input signerIndices[SIGNER_DEPTH];
    signal input signerSiblings[SIGNER_DEPTH];
    signal input unsettled;

    _ <== Num2Bits(128)(deposit);
    _ <== Num2Bits(64)(cMax);
    _ <== Num2Bits(160)(recipient);

    signal computedIdentity <== Poseidon(1)([secret]);
    computedIdentity === identity;

    // refunded (128 bits) and index (32 bits) are range-checked inside the commitment.
    _ <== SignedState(SIGNER_DEPTH)(
        secret, refunded, index, blinding, isGenesis,
        signerKey, signatureR8, signatureS, signerIndices, signerSiblings, signerRoot, scope
    );

    unsettled * (unsettled - 1) === 0;
    signal ticket <== index + unsettled;

    // D + R < 2^129 and w·C_MAX < 2^97: a negative difference wraps to about 2^254 and fails the
    // 129-bit check, so amount is the true non-negative integer.
    signal charged <== ticket * cMax;
    amount === deposit + refunded - charged;
    _ <== Num2Bits(129)(amount);

    signal exitX <== Poseidon(3)([TAG_EXIT(), recipient, amount]);
    signal shareY;
    signal shareNullifier;
    (shareY, shareNullifier) <== RlnShare()(secret, scope, ticket, exitX);
    shareY === y;
    shareNullifier === nullifier;
}
