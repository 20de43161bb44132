// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice A plain ERC-20 anyone can mint, standing for a stablecoin deposit token.
contract TestToken is ERC20 {
    constructor() ERC20("Test USD", "TUSD") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}

/// @notice Burns 1% of every transfer: the escrow must refuse it.
contract FeeOnTransferToken is TestToken {
    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && to != address(0)) {
            uint256 fee = value / 100;
            super._update(from, address(0), fee);
            value -= fee;
        }
        super._update(from, to, value);
    }
}

/// @notice Reverts every transfer from or to a blocked account, like a stablecoin's blocklist.
contract BlockingToken is TestToken {
    error Blocked(address account);

    mapping(address => bool) public blocked;

    function setBlocked(address account, bool isBlocked) external {
        blocked[account] = isBlocked;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (blocked[from]) revert Blocked(from);
        if (blocked[to]) revert Blocked(to);
        super._update(from, to, value);
    }
}

/// @notice Returns false instead of moving anything.
contract FalseReturningToken is TestToken {
    function transferFrom(address, address, uint256) public pure override returns (bool) {
        return false;
    }
}

/// @notice A receiver that refuses ETH: push payouts to it must be deferred to `claim`.
contract RejectingReceiver {
    receive() external payable {
        revert("no ETH, thanks");
    }
}

/// @notice A receiver that tries to re-enter the escrow when paid.
contract ReenteringReceiver {
    address public immutable ESCROW;
    bytes public reentry;
    bool public reentered;

    constructor(address escrow) {
        ESCROW = escrow;
    }

    function setReentry(bytes calldata data) external {
        reentry = data;
    }

    receive() external payable {
        (bool ok,) = ESCROW.call(reentry);
        reentered = ok;
    }
}

/// @notice A receiver that accepts ETH but needs more than the escrow's `PAYOUT_GAS` to do so,
/// and has no way to call `claim`: only `pushClaim` can pay it.
contract GasHungryReceiver {
    uint256[8] public receipts;

    receive() external payable {
        for (uint256 i = 0; i < receipts.length; i++) {
            receipts[i] += msg.value;
        }
    }
}

/// @notice Stands for verifiers whose `selfTest` fails: it returns false, reverts, burns all gas
/// or replies with something other than a bool, as `mode` says; or whose self-test passes but
/// whose fold of the fixed signals fails.
contract FailingSelfTestVerifier {
    enum Mode {
        ReturnsFalse,
        Reverts,
        BurnsAllGas,
        RepliesGarbage,
        /// Passes its self-test, but its fold of the fixed signals fails.
        CannotFold
    }

    Mode public immutable MODE;

    constructor(Mode mode) {
        MODE = mode;
    }

    function selfTest() external view returns (bool) {
        if (MODE == Mode.Reverts) revert("precompile missing");
        if (MODE == Mode.BurnsAllGas) {
            assembly ("memory-safe") {
                invalid()
            }
        }
        if (MODE == Mode.RepliesGarbage) {
            assembly ("memory-safe") {
                mstore(0, 2)
                return(0, 32)
            }
        }
        return MODE == Mode.CannotFold;
    }

    function foldFixedSignals(uint256) external pure returns (bool ok, uint256 x, uint256 y) {
        return (false, 1, 2);
    }
}
