// SPDX-License-Identifier: GPL-3.0
// Test harness: circomlib's EdDSAPoseidonVerifier accepts the signatures of spec/vectors/eddsa.json
// (witness generation fails on a bad signature) and Poseidon(A.x, A.y) gives the signer leaf.
pragma circom 2.1.5;

include "circomlib/circuits/eddsaposeidon.circom";
include "circomlib/circuits/poseidon.circom";

template EdDsaVectors() {
    signal input publicKey[2];
    signal input r8[2];
    signal input s;
    signal input message;
    signal output signerLeaf;
    EdDSAPoseidonVerifier()(1, publicKey[0], publicKey[1], s, r8[0], r8[1], message);
    signerLeaf <== Poseidon(2)(publicKey);
}

component main = EdDsaVectors();
