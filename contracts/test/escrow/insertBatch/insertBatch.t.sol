// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {CreditEscrow, IBatchInsertVerifier} from "../../../src/CreditEscrow.sol";
import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";

/// @notice `insertBatch` with the real proofs of spec/vectors/groth16/escrow_batches.json.
contract InsertBatchTest is EscrowTest {
    address internal updater = makeAddr("updater");

    function _signals(BatchCase memory b) internal pure returns (uint256[8] memory signals) {
        assertEq(b.publicSignals.length, 8, "eight public signals");
        for (uint256 i = 0; i < 8; i++) {
            signals[i] = b.publicSignals[i];
        }
    }

    /// @dev Expects the escrow to hand the verifier exactly the vector's public signals, which it
    /// computes from its own state.
    function _expectVerifierCall(BatchCase memory b) internal {
        vm.expectCall(
            batchInsertVerifier,
            abi.encodeCall(IBatchInsertVerifier.verifyProof, (b.proof.a, b.proof.b, b.proof.c, _signals(b)))
        );
    }

    function _submit(BatchCase memory b) internal {
        vm.prank(updater);
        escrow.insertBatch(b.start, b.count, b.preRoot, b.removedIdentity, b.postRoot, b.proof);
    }

    /// @dev The state the batch was proven against is the escrow's, signal by signal.
    function _assertProvenState(BatchCase memory b) internal view {
        uint256[8] memory s = _signals(b);
        (uint256 root, uint256 size,) = escrow.tree();
        assertEq(s[0], root, "preRoot: the current root");
        assertEq(b.preRoot, root, "pre_root");
        assertEq(s[1], b.postRoot, "postRoot");
        assertEq(s[2], size, "start: the tree's size");
        assertEq(s[3], b.count, "count");
        assertEq(s[4], escrow.accumulatorAt(b.start), "accStart");
        assertEq(s[4], b.accStart, "acc_start");
        assertEq(s[5], escrow.accumulatorAt(b.start + b.count), "accEnd");
        assertEq(s[5], b.accEnd, "acc_end");
        assertEq(s[6], b.removedIdentity, "removedIdentity");
        if (b.removedIdentity == 0) {
            assertEq(s[7], 0, "no removal");
        } else {
            ICreditEscrow.DepositRecord memory record = escrow.deposits(b.removedIdentity);
            assertEq(s[7], (uint256(record.amount) << 40) | record.expiry, "removedAmountExpiry");
            assertEq(escrow.nextRemoval(), b.removedIdentity, "the removal queue's head");
            assertLt(record.leafIndex, b.start + b.count, "appended by the batch's end");
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Reverts, in the order they are checked
    // ---------------------------------------------------------------------------------------------

    function test_RevertWhen_TheStartIsNotTheTreeSize() external {
        BatchCase memory first = _prepareBatch("first");
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.StaleBatch.selector, 0));
        escrow.insertBatch(1, 0, first.preRoot, 0, first.postRoot, first.proof);

        // Replayed: another updater landed it first. The revert comes before the pairing.
        _submit(first);
        uint256 gasBefore = gasleft();
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.StaleBatch.selector, 1));
        escrow.insertBatch(first.start, first.count, first.preRoot, first.removedIdentity, first.postRoot, first.proof);
        assertLt(gasBefore - gasleft(), 50_000, "no pairing was paid for");
    }

    function test_RevertWhen_TheCountExceedsBatchInsertSize() external {
        BatchCase memory first = _prepareBatch("first");
        uint256 maximum = escrow.BATCH_INSERT_SIZE();
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.BatchTooLarge.selector, maximum + 1, maximum));
        escrow.insertBatch(0, maximum + 1, first.preRoot, 0, first.postRoot, first.proof);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.BatchTooLarge.selector, type(uint256).max, maximum));
        escrow.insertBatch(0, type(uint256).max, first.preRoot, 0, first.postRoot, first.proof);
    }

    function test_RevertWhen_TheBatchReachesPastTheQueue() external {
        BatchCase memory next = _batch("next_two");
        _applyBatch("first");
        _depositNotes(2);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.BatchBeyondQueue.selector, 3, 2));
        escrow.insertBatch(next.start, next.count, next.preRoot, next.removedIdentity, next.postRoot, next.proof);
        // Once note 2 is deposited the same proof lands.
        _depositNotes(3);
        _submit(next);
        assertEq(_size(), 3);
    }

    function test_RevertWhen_TheRemovalIsNotTheOneDue() external {
        // Nothing is due: a batch claiming a removal is stale, whoever it names.
        BatchCase memory first = _prepareBatch("first");
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.StaleRemoval.selector, 0));
        escrow.insertBatch(0, 1, first.preRoot, _identity(0), first.postRoot, first.proof);
        // User 0's removal is due once its note is appended: a batch without it is stale.
        _slashUser(0);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.StaleRemoval.selector, _identity(0)));
        escrow.insertBatch(0, 1, first.preRoot, 0, first.postRoot, first.proof);
        // Checked before the post-root and the emptiness.
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.StaleRemoval.selector, _identity(0)));
        escrow.insertBatch(0, 1, first.preRoot, _identity(1), FIELD, first.proof);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.StaleRemoval.selector, 0));
        escrow.insertBatch(0, 0, first.preRoot, _identity(0), first.postRoot, first.proof);
    }

    function test_RevertWhen_ThePreRootIsNotTheCurrentRoot() external {
        BatchCase memory first = _prepareBatch("first");
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.StaleRoot.selector, 0));
        escrow.insertBatch(0, 1, first.postRoot, 0, first.postRoot, first.proof);
        // Checked after the start, before everything else.
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.StaleBatch.selector, 0));
        escrow.insertBatch(1, 1, first.postRoot, 0, first.postRoot, first.proof);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.StaleRoot.selector, 0));
        escrow.insertBatch(0, 65, 1, _identity(0), FIELD, first.proof);
    }

    function test_RevertWhen_ARivalRemovalOnlyBatchLandedFirst() external {
        // Users 1 and 0 condemned, both notes in the tree: two updaters prove `remove_1` from the
        // same state. The second learns it lost before the pairing: the size did not move, but
        // the root did.
        _prepareBatch("remove_1");
        _slashUser(0);
        BatchCase memory removal = _batch("remove_1");
        _submit(removal);
        // Within 50k gas: the pairing alone would cost more.
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.StaleRoot.selector, removal.postRoot));
        escrow.insertBatch{gas: 50_000}(
            removal.start, removal.count, removal.preRoot, removal.removedIdentity, removal.postRoot, removal.proof
        );
    }

    function test_RevertWhen_ASlashAndItsRemovalLandedSinceTheProof() external {
        // An updater proves 64 notes after `next_two` with no removal due; user 1 is slashed and
        // another updater's removal-only batch zeroes it. No removal is due again and the size
        // did not move, but the root did.
        BatchCase memory full = _prepareBatch("full_removing_1");
        uint256 provenFrom = _root();
        _insertBatch("remove_1");
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.StaleRoot.selector, _batch("remove_1").postRoot));
        escrow.insertBatch{gas: 50_000}(full.start, full.count, provenFrom, 0, full.postRoot, full.proof);
    }

    function test_RevertWhen_ThePostRootIsNotBelowTheField() external {
        BatchCase memory first = _prepareBatch("first");
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.PublicSignalOutsideField.selector, FIELD));
        escrow.insertBatch(0, 1, first.preRoot, 0, FIELD, first.proof);
        // The root plus p would verify as the root if the verifier reduced it.
        uint256 aliased = first.postRoot + FIELD;
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.PublicSignalOutsideField.selector, aliased));
        escrow.insertBatch(0, 1, first.preRoot, 0, aliased, first.proof);
    }

    function test_RevertWhen_NothingIsAppendedOrRemoved() external {
        BatchCase memory first = _prepareBatch("first");
        vm.expectRevert(ICreditEscrow.EmptyBatch.selector);
        escrow.insertBatch(0, 0, first.preRoot, 0, first.postRoot, first.proof);

        // A condemned note still queued at or past the batch's end is not due yet.
        _depositNotes(3);
        _slashUser(1);
        _submit(first);
        vm.expectRevert(ICreditEscrow.EmptyBatch.selector);
        escrow.insertBatch(1, 0, first.postRoot, 0, first.postRoot, first.proof);
    }

    function test_RevertWhen_ThePostRootIsNotTheProvenOne() external {
        BatchCase memory first = _prepareBatch("first");
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        escrow.insertBatch(0, 1, first.preRoot, 0, first.postRoot + 1, first.proof);
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        escrow.insertBatch(0, 1, first.preRoot, 0, 0, first.proof);
    }

    function test_RevertWhen_TheProofIsAltered() external {
        BatchCase memory first = _prepareBatch("first");
        ICreditEscrow.Proof memory proof = first.proof;
        proof.a = proof.c;
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        escrow.insertBatch(0, 1, first.preRoot, 0, first.postRoot, proof);
        // Another batch's proof for the same shape.
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        escrow.insertBatch(0, 1, first.preRoot, 0, first.postRoot, _batch("next_two").proof);
    }

    function test_RevertWhen_ARemovalBecameDueAfterTheProof() external {
        // `next_two` was proven with no removal; user 1 was slashed since, so the batch that
        // appends its note must remove it. Named as proven, the batch is stale before the pairing;
        // naming the removal due does not make the old proof cover it.
        BatchCase memory next = _prepareBatch("next_two");
        _slashUser(1);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.StaleRemoval.selector, _identity(1)));
        escrow.insertBatch(next.start, next.count, next.preRoot, next.removedIdentity, next.postRoot, next.proof);
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        escrow.insertBatch(next.start, next.count, next.preRoot, _identity(1), next.postRoot, next.proof);
        // Reproven with the removal, it lands.
        _submit(_batch("next_two_removing_1"));
        assertEq(uint8(_leafState(_identity(1))), uint8(ICreditEscrow.LeafState.Removed));
    }

    function test_RevertWhen_TheProvenRemovalIsNotDue() external {
        // Proven with user 1's removal, submitted where nobody was slashed: stale as named, and
        // named without the removal the proof does not verify.
        BatchCase memory removing = _batch("next_two_removing_1");
        _prepareBatch("next_two");
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.StaleRemoval.selector, 0));
        escrow.insertBatch(
            removing.start,
            removing.count,
            removing.preRoot,
            removing.removedIdentity,
            removing.postRoot,
            removing.proof
        );
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        escrow.insertBatch(removing.start, removing.count, removing.preRoot, 0, removing.postRoot, removing.proof);
    }

    function test_RevertWhen_AnotherRemovalIsStillDue() external {
        // Users 1 and 0 slashed after `next_two`: `remove_1` takes user 1, the head; user 0's
        // removal is then due in every batch, so `full_after_removal` (proven without it) fails.
        _prepareBatch("remove_1");
        _slashUser(0);
        assertEq(escrow.pendingRemovals(), 2);
        _insertBatch("remove_1");
        assertEq(escrow.nextRemoval(), _identity(0));
        BatchCase memory full = _batch("full_after_removal");
        _depositNotes(full.start + full.count);
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.StaleRemoval.selector, _identity(0)));
        escrow.insertBatch(full.start, full.count, full.preRoot, full.removedIdentity, full.postRoot, full.proof);
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        escrow.insertBatch(full.start, full.count, full.preRoot, _identity(0), full.postRoot, full.proof);
    }

    function test_RevertWhen_AQueuedNoteDiffersFromTheProvenOne() external {
        // The accumulator binds each note's identity, amount and expiry.
        BatchCase memory first = _batch("first");
        _deposit(_noteIdentity(0), _noteDeposit(0) + 1);
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        escrow.insertBatch(0, 1, first.preRoot, 0, first.postRoot, first.proof);

        // The same note deposited a second later: another expiry.
        escrow = new CreditEscrow(_parameters(address(0)), operator, exitSignerRoot);
        vm.warp(block.timestamp + 1);
        _deposit(_noteIdentity(0), _noteDeposit(0));
        vm.expectRevert(ICreditEscrow.InvalidProof.selector);
        escrow.insertBatch(0, 1, first.preRoot, 0, first.postRoot, first.proof);
    }

    // ---------------------------------------------------------------------------------------------
    // Batches that land
    // ---------------------------------------------------------------------------------------------

    function test_WhenTheFirstBatchAppendsOneNote() external {
        BatchCase memory b = _prepareBatch("first");
        assertEq(b.start, 0);
        assertEq(b.count, 1);
        _assertProvenState(b);
        assertEq(b.preRoot, 0, "the empty tree's root");

        _expectVerifierCall(b);
        vm.expectEmit(address(escrow));
        emit ICreditEscrow.BatchInserted(0, 1, b.postRoot, 0, 0);
        _submit(b);

        (uint256 root, uint256 size, uint256 queued) = escrow.tree();
        assertEq(root, b.postRoot, "root");
        assertEq(size, 1, "size");
        assertEq(queued, 1, "queued");
        assertEq(escrow.recentRoots()[0], b.postRoot, "newest root first");
        assertEq(escrow.recentRoots()[1], 0, "one root only");
        assertTrue(escrow.isRecentRoot(b.postRoot));
        assertFalse(escrow.isRecentRoot(0));
        assertEq(escrow.accumulatorAt(1), b.accEnd, "the tree's size keeps its accumulator");
        vm.expectRevert(abi.encodeWithSelector(ICreditEscrow.PositionOutsideQueue.selector, 0, 1, 1));
        escrow.accumulatorAt(0);
        assertEq(uint8(_leafState(_noteIdentity(0))), uint8(ICreditEscrow.LeafState.InTree));
    }

    function test_WhenTheBatchFollowsAnother() external {
        BatchCase memory first = _batch("first");
        BatchCase memory b = _prepareBatch("next_two");
        _assertProvenState(b);
        assertEq(b.preRoot, first.postRoot);

        _expectVerifierCall(b);
        vm.expectEmit(address(escrow));
        emit ICreditEscrow.BatchInserted(1, 2, b.postRoot, 0, 0);
        _submit(b);

        (uint256 root, uint256 size, uint256 queued) = escrow.tree();
        assertEq(root, b.postRoot);
        assertEq(size, 3);
        assertEq(queued, 3);
        uint256[] memory recent = escrow.recentRoots();
        assertEq(recent[0], b.postRoot);
        assertEq(recent[1], first.postRoot);
        assertTrue(escrow.isRecentRoot(first.postRoot), "the previous root stays recent");
        assertEq(escrow.accumulatorAt(3), b.accEnd);
    }

    function test_WhenTheBatchAppendsASlashedNote() external {
        // User 1 was slashed while its note was queued: the batch appends it and zeroes it.
        BatchCase memory b = _prepareBatch("next_two_removing_1");
        uint256 removed = _identity(1);
        assertEq(b.removedIdentity, removed);
        assertEq(escrow.deposits(removed).leafIndex, 1);
        _assertProvenState(b);

        _expectVerifierCall(b);
        vm.expectEmit(address(escrow));
        emit ICreditEscrow.BatchInserted(1, 2, b.postRoot, removed, 1);
        _submit(b);

        ICreditEscrow.DepositRecord memory record = escrow.deposits(removed);
        assertEq(uint8(record.leaf), uint8(ICreditEscrow.LeafState.Removed));
        assertEq(uint8(record.status), uint8(ICreditEscrow.Status.Slashed), "the status stays");
        assertEq(escrow.pendingRemovals(), 0);
        assertEq(escrow.nextRemoval(), 0);
        assertEq(_root(), b.postRoot);
        assertEq(_size(), 3);
        assertTrue(b.postRoot != _batch("next_two").postRoot, "the leaf is zeroed");
    }

    function test_WhenOnlyARemovalIsDue() external {
        BatchCase memory next = _batch("next_two");
        BatchCase memory b = _prepareBatch("remove_1");
        assertEq(b.count, 0);
        _assertProvenState(b);

        _expectVerifierCall(b);
        vm.expectEmit(address(escrow));
        emit ICreditEscrow.BatchInserted(3, 0, b.postRoot, _identity(1), 1);
        _submit(b);

        (uint256 root, uint256 size, uint256 queued) = escrow.tree();
        assertEq(root, b.postRoot);
        assertEq(size, 3, "nothing appended");
        assertEq(queued, 3);
        assertEq(uint8(_leafState(_identity(1))), uint8(ICreditEscrow.LeafState.Removed));
        assertEq(escrow.pendingRemovals(), 0);
        assertEq(escrow.recentRoots()[1], next.postRoot);
        assertEq(b.postRoot, _batch("next_two_removing_1").postRoot, "the same tree either way");
    }

    function test_WhenAFullBatchFollowsTheRemoval() external {
        BatchCase memory b = _prepareBatch("full_after_removal");
        assertEq(b.count, escrow.BATCH_INSERT_SIZE());
        _assertProvenState(b);
        _expectVerifierCall(b);
        vm.expectEmit(address(escrow));
        emit ICreditEscrow.BatchInserted(3, 64, b.postRoot, 0, 0);
        _submit(b);
        (uint256 root, uint256 size, uint256 queued) = escrow.tree();
        assertEq(root, b.postRoot);
        assertEq(size, 67);
        assertEq(queued, 67);
        assertEq(escrow.accumulatorAt(67), b.accEnd);
    }

    function test_WhenAFullBatchAlsoRemoves() external {
        BatchCase memory b = _prepareBatch("full_removing_1");
        _assertProvenState(b);
        _expectVerifierCall(b);
        vm.expectEmit(address(escrow));
        emit ICreditEscrow.BatchInserted(3, 64, b.postRoot, _identity(1), 1);
        _submit(b);
        assertEq(_size(), 67);
        assertEq(_root(), b.postRoot);
        assertEq(uint8(_leafState(_identity(1))), uint8(ICreditEscrow.LeafState.Removed));
        assertEq(escrow.pendingRemovals(), 0);
        // Removing then appending, or appending then removing: the same tree.
        assertEq(b.postRoot, _batch("full_after_removal").postRoot);
    }

    function test_WhenTheRemovalHeadIsNotYetAppended() external {
        // User 1 is slashed while queued at index 1; `first` ends at 1, so the removal is not
        // due and `first`'s proof (no removal) holds. The next batch takes it.
        BatchCase memory first = _prepareBatch("first");
        _depositNotes(3);
        _slashUser(1);
        _assertProvenState(first);
        _submit(first);
        assertEq(escrow.pendingRemovals(), 1, "still pending");
        assertEq(escrow.nextRemoval(), _identity(1));
        assertEq(uint8(_leafState(_identity(1))), uint8(ICreditEscrow.LeafState.Condemned));
        _submit(_batch("next_two_removing_1"));
        assertEq(escrow.pendingRemovals(), 0);
    }

    function test_WhenTwoRemovalsArePending() external {
        // One removal per batch, oldest first.
        _prepareBatch("remove_1");
        _slashUser(0);
        BatchCase memory b = _batch("remove_1");
        _assertProvenState(b);
        _submit(b);
        assertEq(escrow.pendingRemovals(), 1);
        assertEq(escrow.nextRemoval(), _identity(0), "the next in line");
        assertEq(uint8(_leafState(_identity(0))), uint8(ICreditEscrow.LeafState.Condemned));
    }

    function test_WhenDepositsLandedAfterTheProof() external {
        // The ring keeps accumulatorAt(start + count) however many notes joined since.
        BatchCase memory b = _prepareBatch("next_two");
        _depositNotes(67);
        _fill(0, 100);
        _assertProvenState(b);
        _submit(b);
        (, uint256 size, uint256 queued) = escrow.tree();
        assertEq(size, 3);
        assertEq(queued, 167);
    }

    function test_RecentRootsKeepTheLastRootHistorySizeRoots() external {
        // 33 batches of one note each, with their real proofs: the first root leaves the history.
        uint256 size = escrow.ROOT_HISTORY_SIZE();
        _depositNotes(size + 1);
        uint256[] memory roots = new uint256[](size + 1);
        for (uint256 k = 0; k <= size; k++) {
            // single_k follows the six named batches in the vectors.
            string memory path = string.concat(".batches[", vm.toString(6 + k), "]");
            assertEq(
                vm.parseJsonString(batchVectors, string.concat(path, ".name")), string.concat("single_", vm.toString(k))
            );
            roots[k] = vm.parseJsonUint(batchVectors, string.concat(path, ".post_root"));
            escrow.insertBatch(k, 1, _root(), 0, roots[k], _proofIn(batchVectors, string.concat(path, ".calldata")));
        }
        assertFalse(escrow.isRecentRoot(roots[0]), "the oldest root left the history");
        uint256[] memory recent = escrow.recentRoots();
        assertEq(recent.length, size);
        assertEq(recent[0], _root());
        for (uint256 i = 0; i < size; i++) {
            assertEq(recent[i], roots[size - i], "newest first");
            assertTrue(escrow.isRecentRoot(recent[i]));
        }
    }
}
