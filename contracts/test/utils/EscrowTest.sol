// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {PoseidonT4} from "poseidon-solidity/PoseidonT4.sol";
import {CreditEscrow} from "../../src/CreditEscrow.sol";
import {ICreditEscrow} from "../../src/interfaces/ICreditEscrow.sol";
import {ExitVerifier} from "../../src/verifiers/ExitVerifier.sol";
import {SlashVerifier} from "../../src/verifiers/SlashVerifier.sol";
import {LeanImtModel} from "./LeanImtModel.sol";
import {TestToken} from "./Tokens.sol";

/// @notice Deploys the escrow where the proofs of spec/vectors/groth16/escrow.json expect it
/// (the example deployer's first contract on chain 31337), with the real generated verifiers,
/// and keeps a model of the tree from which removal siblings and reference roots are computed.
/// The vectors also hold proofs for the deployer's second contract, a token escrow
/// (`_deployTokenEscrow`); every helper takes the proofs of the escrow under test.
abstract contract EscrowTest is Test {
    /// @notice An exit statement from the vectors.
    struct ExitCase {
        address recipient;
        uint256 amount;
        uint256 nullifier;
        uint256 y;
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
    CreditEscrow internal escrow;
    address internal exitVerifier;
    address internal slashVerifier;
    address internal treasury = makeAddr("treasury");
    address internal operator = makeAddr("operator");
    address internal depositor = makeAddr("depositor");
    /// @notice The receiver every vector slash proof names.
    address internal slashReceiver;
    /// @notice The signer root of the vector exits.
    uint256 internal exitSignerRoot;

    /// @notice Every leaf ever inserted into `escrow`, zero once removed.
    uint256[] internal modelLeaves;
    mapping(uint256 identity => uint256 index) internal modelIndex;

    function setUp() public virtual {
        vectors = vm.readFile(string.concat(vm.projectRoot(), "/spec/vectors/groth16/escrow.json"));
        slashReceiver = vm.parseJsonAddress(vectors, ".users[0].slash.receiver");
        exitSignerRoot = vm.parseJsonUint(vectors, ".signer_root");
        exitVerifier = address(new ExitVerifier());
        slashVerifier = address(new SlashVerifier());
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
            slashVerifier: slashVerifier
        });
    }

    /// @dev Deploys from the example deployer: its first contract (in `setUp`) is the ETH escrow
    /// of the vectors, its second the token escrow; later ones have no proofs.
    function _deployEscrow(address token) internal returns (CreditEscrow deployed) {
        address deployer = vm.parseJsonAddress(vectors, ".deployer");
        vm.prank(deployer);
        deployed = new CreditEscrow(_parameters(token), operator, exitSignerRoot);
    }

    /// @notice Replaces `escrow` by the vectors' token escrow holding `token`, with an empty tree
    /// model. Call once, after `setUp`.
    function _deployTokenEscrow(TestToken token) internal {
        escrow = _deployEscrow(address(token));
        assertEq(address(escrow), vm.parseJsonAddress(vectors, ".token_escrow.escrow"), "the vectors' token escrow");
        vm.label(address(escrow), "CreditEscrow (token)");
        delete modelLeaves;
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

    function _proof(string memory path) internal view returns (ICreditEscrow.Proof memory proof) {
        uint256[] memory a = vm.parseJsonUintArray(vectors, string.concat(path, ".pA"));
        uint256[] memory b0 = vm.parseJsonUintArray(vectors, string.concat(path, ".pB[0]"));
        uint256[] memory b1 = vm.parseJsonUintArray(vectors, string.concat(path, ".pB[1]"));
        uint256[] memory c = vm.parseJsonUintArray(vectors, string.concat(path, ".pC"));
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
    // Actions that keep the tree model in step
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
        _recordLeaf(identity, amount);
    }

    /// @notice Deposits vector user `i`'s deposit.
    function _depositUser(uint256 i) internal returns (uint256 identity) {
        identity = _identity(i);
        _deposit(identity, _vectorDeposit(i));
    }

    function _recordLeaf(uint256 identity, uint256 amount) internal {
        modelIndex[identity] = modelLeaves.length;
        modelLeaves.push(PoseidonT4.hash([identity, amount, block.timestamp + NOTE_TTL]));
    }

    /// @notice The leaf's siblings in the model, which removeLeaf takes.
    function _siblings(uint256 identity) internal view returns (uint256[] memory) {
        return LeanImtModel.siblings(modelLeaves, modelIndex[identity]);
    }

    /// @notice Slashes vector user `i` with its proof, paying `slashReceiver`.
    function _slashUser(uint256 i) internal {
        escrow.slash(_identity(i), slashReceiver, _slashProof(i));
    }

    /// @notice Removes `identity`'s condemned leaf with the model's siblings and zeroes it there.
    function _removeLeaf(uint256 identity) internal {
        escrow.removeLeaf(identity, _siblings(identity));
        modelLeaves[modelIndex[identity]] = 0;
    }

    /// @notice Slashes vector user `i` and removes its leaf, as the first node to see it would.
    function _slashAndRemove(uint256 i) internal {
        _slashUser(i);
        _removeLeaf(_identity(i));
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

    function _modelRoot() internal view returns (uint256) {
        return LeanImtModel.root(modelLeaves);
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
