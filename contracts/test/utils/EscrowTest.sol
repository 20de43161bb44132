// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {PoseidonT3} from "poseidon-solidity/PoseidonT3.sol";
import {CreditEscrow} from "../../src/CreditEscrow.sol";
import {ICreditEscrow} from "../../src/interfaces/ICreditEscrow.sol";
import {BatchInsertVerifier} from "../../src/verifiers/BatchInsertVerifier.sol";
import {ExitVerifier} from "../../src/verifiers/ExitVerifier.sol";
import {SlashVerifier} from "../../src/verifiers/SlashVerifier.sol";
import {TestToken} from "./Tokens.sol";

/// @notice Deploys the escrow where the proofs of spec/vectors/groth16/escrow.json expect it
/// (the example deployer's first contract on chain 31337), with the real generated verifiers.
/// The vectors also hold proofs for the deployer's second contract, a token escrow
/// (`_deployTokenEscrow`); every helper takes the proofs of the escrow under test.
///
/// Batch insertions use the real proofs of spec/vectors/groth16/escrow_batches.json, which do not
/// depend on the escrow's address: `_prepareBatch(name)` brings `escrow` into the state a batch
/// was proven against (its notes deposited in order at the vectors' deposit time, the batches
/// before it inserted, the slash it removes made), `_insertBatch(name)` submits it.
abstract contract EscrowTest is Test {
    /// @notice An exit statement from the vectors.
    struct ExitCase {
        address recipient;
        uint256 amount;
        uint256 nullifier;
        uint256 y;
        ICreditEscrow.Proof proof;
    }

    /// @notice A batch of escrow_batches.json.
    struct BatchCase {
        string name;
        /// @notice The batch applies to the state this batch leaves ("": the empty tree).
        string afterBatch;
        uint256 start;
        uint256 count;
        uint256 removedIdentity;
        uint256 preRoot;
        uint256 postRoot;
        uint256 accStart;
        uint256 accEnd;
        uint256[] publicSignals;
        ICreditEscrow.Proof proof;
    }

    uint64 internal constant C_MAX = 1000;
    uint64 internal constant EXIT_DELAY = 1 days;
    uint64 internal constant NOTE_TTL = 30 days;
    uint128 internal constant SLASH_BOUNTY = 3000;
    /// @notice How many users the vectors hold proofs for.
    uint256 internal constant VECTOR_USERS = 3;
    uint256 internal constant FIELD =
        21_888_242_871_839_275_222_246_405_745_257_275_088_548_364_400_416_034_343_698_204_186_575_808_495_617;

    string internal vectors;
    /// @notice escrow_batches.json, empty while the file does not exist.
    string internal batchVectors;
    CreditEscrow internal escrow;
    address internal exitVerifier;
    address internal slashVerifier;
    address internal batchInsertVerifier;
    address internal treasury = makeAddr("treasury");
    address internal operator = makeAddr("operator");
    address internal depositor = makeAddr("depositor");
    /// @notice The receiver every vector slash proof names.
    address internal slashReceiver;
    /// @notice The signer root of the vector exits.
    uint256 internal exitSignerRoot;

    /// @notice How many of escrow_batches.json's notes `escrow` holds: notes `[0, notesDeposited)`
    /// at queue positions `[0, notesDeposited)`.
    uint256 internal notesDeposited;

    function setUp() public virtual {
        vectors = vm.readFile(string.concat(vm.projectRoot(), "/spec/vectors/groth16/escrow.json"));
        string memory batchFile = string.concat(vm.projectRoot(), "/spec/vectors/groth16/escrow_batches.json");
        if (vm.isFile(batchFile)) batchVectors = vm.readFile(batchFile);
        slashReceiver = vm.parseJsonAddress(vectors, ".users[0].slash.receiver");
        exitSignerRoot = vm.parseJsonUint(vectors, ".signer_root");
        exitVerifier = address(new ExitVerifier());
        slashVerifier = address(new SlashVerifier());
        batchInsertVerifier = address(new BatchInsertVerifier());
        escrow = _deployEscrow(address(0));
        vm.label(address(escrow), "CreditEscrow");
    }

    function _parameters(address token) internal view returns (ICreditEscrow.Parameters memory) {
        return ICreditEscrow.Parameters({
            token: token,
            cMax: C_MAX,
            exitDelay: EXIT_DELAY,
            noteTtl: NOTE_TTL,
            slashBounty: SLASH_BOUNTY,
            treasury: treasury,
            exitVerifier: exitVerifier,
            slashVerifier: slashVerifier,
            batchInsertVerifier: batchInsertVerifier
        });
    }

    /// @dev Deploys from the example deployer: its first contract (in `setUp`) is the ETH escrow
    /// of the vectors, its second the token escrow; later ones have no proofs.
    function _deployEscrow(address token) internal returns (CreditEscrow deployed) {
        address deployer = vm.parseJsonAddress(vectors, ".deployer");
        vm.prank(deployer);
        deployed = new CreditEscrow(_parameters(token), operator, exitSignerRoot);
    }

    /// @notice Replaces `escrow` by the vectors' token escrow holding `token`. Call once, after
    /// `setUp` and before any deposit.
    function _deployTokenEscrow(TestToken token) internal {
        escrow = _deployEscrow(address(token));
        assertEq(address(escrow), vm.parseJsonAddress(vectors, ".token_escrow.escrow"), "the vectors' token escrow");
        vm.label(address(escrow), "CreditEscrow (token)");
        notesDeposited = 0;
    }

    // ---------------------------------------------------------------------------------------------
    // Vector users
    // ---------------------------------------------------------------------------------------------

    function _user(uint256 i) internal pure returns (string memory) {
        return string.concat(".users[", vm.toString(i), "]");
    }

    /// @notice Where the proofs for `escrow` are: the ETH escrow's at the top level, the token
    /// escrow's under `.token_escrow` (identities and deposits are shared).
    function _proofsOf(uint256 i) internal view returns (string memory) {
        if (address(escrow) == vm.parseJsonAddress(vectors, ".escrow")) return _user(i);
        if (address(escrow) == vm.parseJsonAddress(vectors, ".token_escrow.escrow")) {
            return string.concat(".token_escrow", _user(i));
        }
        revert("EscrowTest: the vectors hold no proofs for this escrow");
    }

    function _identity(uint256 i) internal view returns (uint256) {
        return vm.parseJsonUint(vectors, string.concat(_user(i), ".identity"));
    }

    function _vectorDeposit(uint256 i) internal view returns (uint256) {
        return vm.parseJsonUint(vectors, string.concat(_user(i), ".deposit"));
    }

    function _proof(string memory path) internal view returns (ICreditEscrow.Proof memory) {
        return _proofIn(vectors, path);
    }

    /// @notice The proof of a `calldata` object (`pA`, `pB`, `pC`) of `json`.
    function _proofIn(string memory json, string memory path) internal pure returns (ICreditEscrow.Proof memory proof) {
        uint256[] memory a = vm.parseJsonUintArray(json, string.concat(path, ".pA"));
        uint256[] memory b0 = vm.parseJsonUintArray(json, string.concat(path, ".pB[0]"));
        uint256[] memory b1 = vm.parseJsonUintArray(json, string.concat(path, ".pB[1]"));
        uint256[] memory c = vm.parseJsonUintArray(json, string.concat(path, ".pC"));
        proof.a = [a[0], a[1]];
        proof.b = [[b0[0], b0[1]], [b1[0], b1[1]]];
        proof.c = [c[0], c[1]];
    }

    /// @notice User `i`'s slash proof for `escrow`, naming `slashReceiver`.
    function _slashProof(uint256 i) internal view returns (ICreditEscrow.Proof memory) {
        string memory path = string.concat(_proofsOf(i), ".slash");
        assertEq(vm.parseJsonAddress(vectors, string.concat(path, ".receiver")), slashReceiver, path);
        return _proof(string.concat(path, ".calldata"));
    }

    function _exitCase(uint256 i, bool unsettled) internal view returns (ExitCase memory e) {
        string memory path = string.concat(_proofsOf(i), ".exits[", unsettled ? "1" : "0", "]");
        e.recipient = vm.parseJsonAddress(vectors, string.concat(path, ".recipient"));
        e.amount = vm.parseJsonUint(vectors, string.concat(path, ".amount"));
        e.nullifier = vm.parseJsonUint(vectors, string.concat(path, ".nullifier"));
        e.y = vm.parseJsonUint(vectors, string.concat(path, ".y"));
        e.proof = _proof(string.concat(path, ".calldata"));
    }

    // ---------------------------------------------------------------------------------------------
    // Actions
    // ---------------------------------------------------------------------------------------------

    /// @notice Deposits `amount` for `identity` from `depositor`, in ETH or in the escrow's token
    /// (a `TestToken`, minted for the occasion).
    function _deposit(uint256 identity, uint256 amount) internal returns (uint256 leafIndex) {
        address token = escrow.parameters().token;
        if (token == address(0)) {
            vm.deal(depositor, amount);
            vm.prank(depositor);
            leafIndex = escrow.deposit{value: amount}(identity);
        } else {
            TestToken(token).mint(depositor, amount);
            vm.startPrank(depositor);
            TestToken(token).approve(address(escrow), amount);
            leafIndex = escrow.depositToken(identity, amount);
            vm.stopPrank();
        }
    }

    /// @notice Deposits vector user `i`'s deposit.
    function _depositUser(uint256 i) internal returns (uint256 identity) {
        identity = _identity(i);
        _deposit(identity, _vectorDeposit(i));
    }

    /// @notice Deposits `count` notes of `C_MAX` for identities `_otherIdentity(from + i)`.
    function _fill(uint256 from, uint256 count) internal {
        for (uint256 i = from; i < from + count; i++) {
            _deposit(_otherIdentity(i), C_MAX);
        }
    }

    /// @notice Slashes vector user `i` with its proof, paying `slashReceiver`.
    function _slashUser(uint256 i) internal {
        escrow.slash(_identity(i), slashReceiver, _slashProof(i));
    }

    /// @notice The vector user whose identity is `identity`.
    function _userOf(uint256 identity) internal view returns (uint256) {
        for (uint256 i = 0; i < VECTOR_USERS; i++) {
            if (_identity(i) == identity) return i;
        }
        revert("EscrowTest: not a vector user");
    }

    /// @notice `Poseidon(acc + D·2^40 + E, ID)`, the queue accumulator after a note.
    function _accumulate(uint256 acc, uint256 identity, uint256 amount, uint256 expiry)
        internal
        pure
        returns (uint256)
    {
        return PoseidonT3.hash([addmod(acc, (amount << 40) | expiry, FIELD), identity]);
    }

    // ---------------------------------------------------------------------------------------------
    // Vector batches (escrow_batches.json)
    // ---------------------------------------------------------------------------------------------

    function _requireBatchVectors() internal view {
        require(bytes(batchVectors).length != 0, "EscrowTest: spec/vectors/groth16/escrow_batches.json is missing");
    }

    function _note(uint256 i) internal view returns (string memory) {
        _requireBatchVectors();
        return string.concat(".notes[", vm.toString(i), "]");
    }

    function _noteIdentity(uint256 i) internal view returns (uint256) {
        return vm.parseJsonUint(batchVectors, string.concat(_note(i), ".identity"));
    }

    function _noteDeposit(uint256 i) internal view returns (uint256) {
        return vm.parseJsonUint(batchVectors, string.concat(_note(i), ".deposit"));
    }

    function _noteExpiry(uint256 i) internal view returns (uint256) {
        return vm.parseJsonUint(batchVectors, string.concat(_note(i), ".expiry"));
    }

    /// @notice Deposits the vector notes `[notesDeposited, end)` in order. Their expiries fix the
    /// time: the vectors' `deposited_at` (forge's start, before any warp).
    function _depositNotes(uint256 end) internal {
        for (uint256 i = notesDeposited; i < end; i++) {
            (,, uint256 queued) = escrow.tree();
            assertEq(queued, i, "vector notes take queue positions from 0, in order");
            assertEq(block.timestamp + NOTE_TTL, _noteExpiry(i), "vector notes are deposited at deposited_at");
            _deposit(_noteIdentity(i), _noteDeposit(i));
        }
        if (end > notesDeposited) notesDeposited = end;
    }

    /// @notice The JSON path of the batch named `name`.
    function _batchPath(string memory name) internal view returns (string memory path) {
        _requireBatchVectors();
        for (uint256 i = 0;; i++) {
            path = string.concat(".batches[", vm.toString(i), "]");
            require(vm.keyExistsJson(batchVectors, path), string.concat("EscrowTest: no batch named ", name));
            if (
                keccak256(bytes(vm.parseJsonString(batchVectors, string.concat(path, ".name"))))
                    == keccak256(bytes(name))
            ) {
                return path;
            }
        }
    }

    function _batch(string memory name) internal view returns (BatchCase memory b) {
        string memory path = _batchPath(name);
        b.name = name;
        b.afterBatch = vm.parseJsonString(batchVectors, string.concat(path, ".after"));
        b.start = vm.parseJsonUint(batchVectors, string.concat(path, ".start"));
        b.count = vm.parseJsonUint(batchVectors, string.concat(path, ".count"));
        b.removedIdentity = vm.parseJsonUint(batchVectors, string.concat(path, ".removed_identity"));
        b.preRoot = vm.parseJsonUint(batchVectors, string.concat(path, ".pre_root"));
        b.postRoot = vm.parseJsonUint(batchVectors, string.concat(path, ".post_root"));
        b.accStart = vm.parseJsonUint(batchVectors, string.concat(path, ".acc_start"));
        b.accEnd = vm.parseJsonUint(batchVectors, string.concat(path, ".acc_end"));
        b.publicSignals = vm.parseJsonUintArray(batchVectors, string.concat(path, ".public_signals"));
        b.proof = _proofIn(batchVectors, string.concat(path, ".calldata"));
    }

    /// @notice Brings `escrow` into the state batch `name` was proven against: the batch it follows
    /// inserted (recursively), the notes up to its end deposited, and the vector user whose leaf it
    /// removes slashed (unless already condemned). Returns the batch, ready for `_insertBatch`.
    function _prepareBatch(string memory name) internal returns (BatchCase memory b) {
        b = _batch(name);
        if (bytes(b.afterBatch).length != 0) {
            _prepareBatch(b.afterBatch);
            _insertBatch(b.afterBatch);
        }
        (, uint256 size,) = escrow.tree();
        assertEq(size, b.start, "the batch starts at the tree's size");
        _depositNotes(b.start + b.count);
        if (b.removedIdentity != 0 && _leafState(b.removedIdentity) == ICreditEscrow.LeafState.InTree) {
            _slashUser(_userOf(b.removedIdentity));
        }
    }

    /// @notice Submits batch `name` with its proof, from whoever is pranked (any account may).
    function _insertBatch(string memory name) internal {
        BatchCase memory b = _batch(name);
        escrow.insertBatch(b.start, b.count, b.preRoot, b.removedIdentity, b.postRoot, b.proof);
    }

    /// @notice Prepares and inserts batch `name`.
    function _applyBatch(string memory name) internal returns (BatchCase memory b) {
        b = _prepareBatch(name);
        escrow.insertBatch(b.start, b.count, b.preRoot, b.removedIdentity, b.postRoot, b.proof);
    }

    function _requestExit(uint256 i, bool unsettled) internal returns (ExitCase memory e) {
        e = _exitCase(i, unsettled);
        escrow.requestExit(_identity(i), e.recipient, e.amount, e.nullifier, e.y, exitSignerRoot, e.proof);
    }

    function _status(uint256 identity) internal view returns (ICreditEscrow.Status) {
        return escrow.deposits(identity).status;
    }

    function _leafState(uint256 identity) internal view returns (ICreditEscrow.LeafState) {
        return escrow.deposits(identity).leaf;
    }

    function _root() internal view returns (uint256 root) {
        (root,,) = escrow.tree();
    }

    function _size() internal view returns (uint256 size) {
        (, size,) = escrow.tree();
    }

    function _queued() internal view returns (uint256 queued) {
        (,, queued) = escrow.tree();
    }

    /// @notice What `account` holds of the escrow's asset.
    function _balanceOf(address account) internal view returns (uint256) {
        address token = escrow.parameters().token;
        return token == address(0) ? account.balance : TestToken(token).balanceOf(account);
    }

    /// @notice Identities unlike any vector user's, below the field.
    function _otherIdentity(uint256 seed) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode("zkcredits.test.identity", seed))) % (FIELD - 1) + 1;
    }
}
