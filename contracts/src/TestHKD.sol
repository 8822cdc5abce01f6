// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title Test HKD stablecoin for the dev chain and the test suite.
/// @notice An OpenZeppelin ERC-20 whose owner (the test "issuer") can mint and freeze. The
///         number of decimals is a constructor argument so that the gateway is tested with 6-
///         and 18-decimal tokens. Like a regulated issuer's token, a frozen address can neither
///         send nor receive, and freezing is announced by an event and readable by a view.
///         It stands in for a licensed issuer's token; it has no value and no peg.
contract TestHKD is ERC20, Ownable {
    uint8 private immutable _tokenDecimals;
    mapping(address => bool) private _frozen;

    event Frozen(address indexed account);
    event Unfrozen(address indexed account);

    error AccountFrozen(address account);

    constructor(string memory name_, string memory symbol_, uint8 decimals_, address owner_)
        ERC20(name_, symbol_)
        Ownable(owner_)
    {
        _tokenDecimals = decimals_;
    }

    function decimals() public view override returns (uint8) {
        return _tokenDecimals;
    }

    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    function freeze(address account) external onlyOwner {
        _frozen[account] = true;
        emit Frozen(account);
    }

    function unfreeze(address account) external onlyOwner {
        _frozen[account] = false;
        emit Unfrozen(account);
    }

    function isFrozen(address account) external view returns (bool) {
        return _frozen[account];
    }

    function _update(address from, address to, uint256 value) internal override {
        if (_frozen[from]) revert AccountFrozen(from);
        if (_frozen[to]) revert AccountFrozen(to);
        super._update(from, to, value);
    }
}
