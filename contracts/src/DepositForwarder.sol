// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";

/// @title The code behind every invoice's deposit address.
/// @notice `DepositFactory` deploys one minimal clone (ERC-1167 with immutable args) of this
///         contract per invoice, at a CREATE2 address that the gateway computed before the
///         patient paid. The clone's only immutable argument is the clinic's settlement address
///         (the destination), 20 bytes appended to the clone's code. Because those bytes are
///         part of the clone's init code, they are part of its address: a clone at a given
///         address can only ever pay the destination it was created for.
/// @dev No storage, no owner, no initializer: there is nothing to set up, so there is nothing
///      to front-run or misconfigure, and nothing for the gateway to hold keys to.
///      Native currency sent to a clone is not handled: the clone has no `receive`, so a plain
///      ETH transfer to a deployed clone reverts; ETH sent before deployment stays there.
contract DepositForwarder {
    using SafeERC20 for IERC20;

    /// @notice The contract was called at an address whose code does not carry exactly one
    ///         20-byte destination, e.g. the implementation itself rather than a clone of it.
    error NotADepositClone();

    /// @notice Sends this deposit address's whole balance of `token` to its destination.
    /// @dev Anyone may call it, directly on the clone or through the factory: the only possible
    ///      effect is paying the bound destination, so there is nothing to guard. A zero balance
    ///      is a no-op rather than a revert, so that a batch with one already-swept deposit in
    ///      it still goes through. The whole balance is forwarded (not an amount the caller
    ///      names) so that overpayments and top-ups cannot be left behind; the gateway matches
    ///      amounts off-chain from the ERC-20 `Transfer` events.
    ///      Called on the implementation itself, the code after the first 45 bytes is the
    ///      implementation's own bytecode rather than a 20-byte destination, so the length check
    ///      makes it revert instead of paying an address read out of unrelated bytes.
    /// @param token The ERC-20 to forward; a clone can hold and forward any number of tokens.
    function flush(address token) external {
        bytes memory args = Clones.fetchCloneArgs(address(this));
        if (args.length != 20) revert NotADepositClone();
        uint256 balance = IERC20(token).balanceOf(address(this));
        if (balance != 0) IERC20(token).safeTransfer(address(bytes20(args)), balance);
    }
}
