// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {DepositForwarder} from "./DepositForwarder.sol";

/// @title Deploys and sweeps the per-invoice deposit addresses.
/// @notice Every invoice has its own deposit address:
///         `create2(this, invoiceSalt, keccak256(cloneInitCode(implementation, destination)))`,
///         with `destination` (the clinic's settlement address) packed into the clone's init code
///         as its immutable argument. The gateway computes it off-chain (see
///         `src/chain/depositAddress.ts`) before anything is deployed, the patient pays it with a
///         plain ERC-20 transfer, and a relayer later calls `flush`/`flushMany`, which deploys
///         the clone where needed and forwards the whole balance to the destination. Since the
///         destination is part of the address, naming another destination with the same salt
///         names another (empty) address: no caller, the gateway included, can redirect funds.
/// @dev Permissionless: the relayer key pays gas only and has no privilege here.
///      No event is emitted per flush. A flush of a non-zero balance already leaves the token's
///      `Transfer(depositAddress, destination, amount)` log, which is what the gateway's watcher
///      matches on. An extra log would repeat it at 1,400 to 2,100 gas per invoice (LOG costs
///      375 + 375 per topic + 8 per data byte: from `Flushed(address indexed forwarder, uint256)`
///      to `Flushed(forwarder, destination, token, amount)` fully indexed), 2.5 to 4% of a first
///      flush (about 57,000 gas in batches of 50, see bench/gas.ts). A deployment without a
///      balance needs no record: the watcher can read the code at the address when it cares.
contract DepositFactory {
    /// @notice The `DepositForwarder` every deposit address is a clone of.
    address public immutable implementation;

    /// @notice `flushMany` got a different number of destinations and salts.
    error LengthMismatch(uint256 destinations, uint256 salts);

    /// @notice A zero destination would make the token burn (or, with OpenZeppelin tokens,
    ///         refuse) the payment; no deposit address is ever issued for it.
    error ZeroDestination();

    constructor() {
        implementation = address(new DepositForwarder());
    }

    /// @notice The deposit address for `destination` and the invoice's `salt`, deployed or not.
    function depositAddress(address destination, bytes32 salt) external view returns (address) {
        return Clones.predictDeterministicAddressWithImmutableArgs(implementation, abi.encodePacked(destination), salt, address(this));
    }

    /// @notice Deploys the deposit address of (`destination`, `salt`) if it has no code yet and
    ///         forwards its whole balance of `token` to `destination`. Safe to repeat: a deployed
    ///         forwarder is reused and an empty one forwards nothing.
    /// @return forwarder The deposit address that was swept.
    function flush(address token, address destination, bytes32 salt) external returns (address forwarder) {
        return _flush(token, destination, salt);
    }

    /// @notice `flush` for many deposits of the same token in one transaction, so the
    ///         transaction's 21,000 base gas and the first (cold) touch of the token, the
    ///         implementation and a shared destination are paid once per batch, not per invoice.
    /// @dev One bad item reverts the whole batch; the relayer chooses the batch size (block gas).
    function flushMany(address token, address[] calldata destinations, bytes32[] calldata salts) external {
        uint256 count = destinations.length;
        if (count != salts.length) revert LengthMismatch(count, salts.length);
        for (uint256 i; i < count; ) {
            _flush(token, destinations[i], salts[i]);
            unchecked {
                ++i;
            }
        }
    }

    /// @dev The address is computed here, not through `this.depositAddress`, to save an external
    ///      call. `code.length` is the cheapest way to know whether the clone exists: a CREATE2
    ///      onto an existing clone would fail after burning the gas forwarded to it.
    function _flush(address token, address destination, bytes32 salt) private returns (address forwarder) {
        if (destination == address(0)) revert ZeroDestination();
        bytes memory args = abi.encodePacked(destination);
        forwarder = Clones.predictDeterministicAddressWithImmutableArgs(implementation, args, salt, address(this));
        if (forwarder.code.length == 0) Clones.cloneDeterministicWithImmutableArgs(implementation, args, salt);
        DepositForwarder(forwarder).flush(token);
    }
}
