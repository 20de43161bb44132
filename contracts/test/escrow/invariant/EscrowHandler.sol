// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {CreditEscrow} from "../../../src/CreditEscrow.sol";
import {ICreditEscrow} from "../../../src/interfaces/ICreditEscrow.sol";
import {EscrowTest} from "../../utils/EscrowTest.sol";

/// @notice Drives the escrow through random deposits, slashes, exits, sweeps and time jumps,
/// with the real proofs of the vector users, and keeps ghost accounting for the invariants.
contract EscrowHandler is EscrowTest {
    uint256[] public identities;
    /// @notice Sum of the deposits whose payouts an account may receive (it was named a payee).
    mapping(address account => uint256) public entitled;
    /// @notice How many times each identity left Active.
    mapping(uint256 identity => uint256) public timesLeftActive;
    address[] internal payees;
    mapping(address => bool) internal isPayee;

    function escrowAddress() external view returns (address) {
        return address(escrow);
    }

    function identityCount() external view returns (uint256) {
        return identities.length;
    }

    function payeeCount() external view returns (uint256) {
        return payees.length;
    }

    function payee(uint256 i) external view returns (address) {
        return payees[i];
    }

    function modelRoot() external view returns (uint256) {
        return _modelRoot();
    }

    // ---------------------------------------------------------------------------------------------
    // Actions
    // ---------------------------------------------------------------------------------------------

    function deposit(uint256 seed, uint256 amount) external {
        uint256 identity = _otherIdentity(seed % 64);
        if (_status(identity) != ICreditEscrow.Status.None) return;
        _track(identity, bound(amount, C_MAX, 1e24));
    }

    function depositUser(uint256 user, uint256 amount) external {
        user %= VECTOR_USERS;
        uint256 identity = _identity(user);
        if (_status(identity) != ICreditEscrow.Status.None) return;
        // Exit proofs fix D; any amount still takes the slash proof.
        _track(identity, amount % 2 == 0 ? _vectorDeposit(user) : bound(amount, C_MAX, 1e24));
    }

    function slash(uint256 user) external {
        user %= VECTOR_USERS;
        uint256 identity = _identity(user);
        ICreditEscrow.Status status = _status(identity);
        if (status != ICreditEscrow.Status.Active && status != ICreditEscrow.Status.Exiting) return;
        _entitle(slashReceiver, identity);
        _entitle(treasury, identity);
        _observe(identity, status);
        _slashUser(user);
    }

    function requestExit(uint256 user, bool unsettled) external {
        user %= VECTOR_USERS;
        uint256 identity = _identity(user);
        ICreditEscrow.DepositRecord memory record = escrow.deposits(identity);
        if (record.status != ICreditEscrow.Status.Active || record.amount != _vectorDeposit(user)) return;
        if (block.timestamp >= record.expiry) return;
        ExitCase memory e = _requestExit(user, unsettled);
        _entitle(e.recipient, identity);
        _entitle(treasury, identity);
        timesLeftActive[identity]++;
    }

    function finalizeExit(uint256 user) external {
        uint256 identity = _identity(user % VECTOR_USERS);
        if (_status(identity) != ICreditEscrow.Status.Exiting) return;
        uint256 finalizableAt = escrow.pendingExits(identity).finalizableAt;
        if (block.timestamp < finalizableAt) vm.warp(finalizableAt);
        escrow.finalizeExit(identity);
    }

    function sweep(uint256 i) external {
        if (identities.length == 0) return;
        uint256 identity = identities[i % identities.length];
        ICreditEscrow.DepositRecord memory record = escrow.deposits(identity);
        if (record.status != ICreditEscrow.Status.Active || block.timestamp < record.expiry) return;
        _entitle(treasury, identity);
        timesLeftActive[identity]++;
        escrow.sweepExpired(identity);
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 0, NOTE_TTL / 2));
    }

    // ---------------------------------------------------------------------------------------------
    // Ghost accounting
    // ---------------------------------------------------------------------------------------------

    function _track(uint256 identity, uint256 amount) internal {
        identities.push(identity);
        _deposit(identity, amount);
    }

    function _entitle(address account, uint256 identity) internal {
        entitled[account] += escrow.deposits(identity).amount;
        if (!isPayee[account]) {
            isPayee[account] = true;
            payees.push(account);
        }
    }

    function _observe(uint256 identity, ICreditEscrow.Status status) internal {
        if (status == ICreditEscrow.Status.Active) timesLeftActive[identity]++;
    }
}
