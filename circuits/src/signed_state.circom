// SPDX-License-Identifier: GPL-3.0
pragma circom 2.1.5;

include "circomlib/circuits/eddsaposeidon.circom";
include "circomlib/circuits/poseidon.circom";
include "merkle.circom";
include "state.circom";

// A state the user may spend from: either genesis (R = 0, n = 0, no signature) or a commitment
// A = R·G + n·N + t(k)·T + ρ·H whose message Poseidon(A.x, A.y, scope) is signed by a key in
// the signer set. The scope in the message binds the state to one deployment: a key in the
// signer sets of two escrows signs states that only one of them accepts. The signature and the signer stay private; only signerRoot is public.
// For genesis the signature inputs are unused: pass the identity point (0, 1) and S = 0.
// Spec: spec/02-cryptography.md#state-commitments
template SignedState(SIGNER_DEPTH) {
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
    signal input signerRoot;
    signal input scope;
    signal output commitment[2];

    isGenesis * (isGenesis - 1) === 0;
    isGenesis * refunded === 0;
    isGenesis * index === 0;

    signal ownerTag <== OwnerTag()(secret);
    commitment <== StateCommitment()(refunded, index, ownerTag, blinding);

    signal isSigned <== 1 - isGenesis;
    signal message <== Poseidon(3)([commitment[0], commitment[1], scope]);
    EdDSAPoseidonVerifier()(isSigned, signerKey[0], signerKey[1], signatureS, signatureR8[0], signatureR8[1], message);

    signal signerLeaf <== Poseidon(2)(signerKey);
    signal computedRoot <== FixedMerkleRoot(SIGNER_DEPTH)(signerLeaf, signerIndices, signerSiblings);
    isSigned * (computedRoot - signerRoot) === 0;
}
