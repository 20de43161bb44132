// SPDX-License-Identifier: GPL-3.0
// Public signals, in order: root, scope, signerRoot, cMax, now, x, anonCommitment[0],
// anonCommitment[1], nullifier, y.
pragma circom 2.1.5;

include "../src/request.circom";

component main {public [root, scope, signerRoot, cMax, now, x, anonCommitment, nullifier, y]} = Request(20, 4);
