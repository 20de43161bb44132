// SPDX-License-Identifier: GPL-3.0
// Public signals, in order: deposit, identity, recipient, amount, nullifier, y, scope,
// signerRoot, cMax.
pragma circom 2.1.5;

include "../src/exit.circom";

component main {public [deposit, identity, recipient, amount, nullifier, y, scope, signerRoot, cMax]} = Exit(4);
