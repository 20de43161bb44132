// SPDX-License-Identifier: GPL-3.0
// Test harness: the deposit queue's accumulator and leaves in spec/vectors/deposit_queue.json.
pragma circom 2.1.5;

include "../src/batch_insert.circom";

component main = QueuedNote();
