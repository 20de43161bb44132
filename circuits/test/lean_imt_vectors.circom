// SPDX-License-Identifier: GPL-3.0
// Test harness: LeanIMT roots from padded depth-20 proofs in spec/vectors/lean_imt.json.
pragma circom 2.1.5;

include "../src/merkle.circom";

component main = LeanImtRoot(20);
