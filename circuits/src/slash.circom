// SPDX-License-Identifier: GPL-3.0
pragma circom 2.1.5;

include "circomlib/circuits/poseidon.circom";

// Knowledge of the secret k behind identity ID = Poseidon(k), bound to the slash receiver and
// to one deployment's scope. The receiver binding means a front-runner copying the transaction
// still pays the original slasher; the scope binding means a slash seen at one escrow cannot
// be replayed at another that uses the same verifier.
// Spec: spec/02-cryptography.md#identities
template Slash() {
    signal input secret;
    signal input identity;
    signal input receiver;
    signal input scope;

    signal computed <== Poseidon(1)([secret]);
    computed === identity;

    // Groth16 binds every public input, but an input in no constraint could be dropped by an
    // optimizer; squaring them keeps them in the constraint system.
    signal receiverSquared <== receiver * receiver;
    signal scopeSquared <== scope * scope;
}
