// SPDX-License-Identifier: GPL-3.0
pragma circom 2.1.5;

include "circomlib/circuits/poseidon.circom";

// Knowledge of the secret k behind identity ID = Poseidon(k), bound to the slash receiver.
// The receiver enters a constraint so that a proof cannot be replayed for another receiver: a
// front-runner copying the transaction would still pay the original slasher.
// Spec: spec/02-cryptography.md#identities
template Slash() {
    signal input secret;
    signal input identity;
    signal input receiver;

    signal computed <== Poseidon(1)([secret]);
    computed === identity;

    // Groth16 binds every public input, but an input in no constraint could be dropped by an
    // optimizer; squaring it keeps it in the constraint system.
    signal receiverSquared <== receiver * receiver;
}
