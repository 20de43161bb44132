// SPDX-License-Identifier: GPL-3.0
// Public signals, in order: preRoot, postRoot, start, count, accStart, accEnd, removedIdentity,
// removedAmountExpiry.
pragma circom 2.1.5;

include "../src/batch_insert.circom";

component main {public [preRoot, postRoot, start, count, accStart, accEnd, removedIdentity, removedAmountExpiry]} = BatchInsert(20, 64);
