// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title Test sanctions oracle for the dev chain and the test suite.
/// @notice The interface Chainalysis publishes for its on-chain sanctions oracle:
///         `isSanctioned(address) returns (bool)`, kept by its owner with
///         `addToSanctionsList` and `removeFromSanctionsList`. It lists nobody until told to.
contract TestSanctionsOracle is Ownable {
    mapping(address => bool) private _sanctioned;

    event SanctionedAddressesAdded(address[] addrs);
    event SanctionedAddressesRemoved(address[] addrs);

    constructor(address owner_) Ownable(owner_) {}

    function name() external pure returns (string memory) {
        return "Test Sanctions Oracle";
    }

    function addToSanctionsList(address[] calldata newSanctions) external onlyOwner {
        for (uint256 i = 0; i < newSanctions.length; i++) {
            _sanctioned[newSanctions[i]] = true;
        }
        emit SanctionedAddressesAdded(newSanctions);
    }

    function removeFromSanctionsList(address[] calldata removeSanctions) external onlyOwner {
        for (uint256 i = 0; i < removeSanctions.length; i++) {
            _sanctioned[removeSanctions[i]] = false;
        }
        emit SanctionedAddressesRemoved(removeSanctions);
    }

    function isSanctioned(address addr) external view returns (bool) {
        return _sanctioned[addr];
    }
}
