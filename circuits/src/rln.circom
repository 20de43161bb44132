// SPDX-License-Identifier: GPL-3.0
pragma circom 2.1.5;

include "circomlib/circuits/poseidon.circom";
include "circomlib/circuits/comparators.circom";
include "constants.circom";

// The RLN share of ticket `index`: a = Poseidon(k, scope, index),
// nullifier = Poseidon(a, TAG_TICKET), y = k + a·x. x = 0 is refused: it would publish y = k.
// The tag keeps a nullifier from ever being the identity commitment Poseidon(k') of k' = a.
// Spec: spec/02-cryptography.md#rln
template RlnShare() {
    signal input secret;
    signal input scope;
    signal input index;
    signal input x;
    signal output y;
    signal output nullifier;

    signal xIsZero <== IsZero()(x);
    xIsZero === 0;

    signal slope <== Poseidon(3)([secret, scope, index]);
    nullifier <== Poseidon(2)([slope, TAG_TICKET()]);
    y <== secret + slope * x;
}
