// SPDX-License-Identifier: GPL-3.0
// Public signals, in order: identity, receiver, scope.
pragma circom 2.1.5;

include "../src/slash.circom";

component main {public [identity, receiver, scope]} = Slash();
