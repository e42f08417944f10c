// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title AlephSync
/// @notice Anchoring contract of the Aleph network. It stores nothing: every
/// call only emits an event that chain readers pick up with eth_getLogs.
/// The event and function signatures match the contract deployed on
/// Ethereum mainnet, so readers decode both with the same ABI.
contract AlephSync {
    /// @notice A synchronisation pointer, usually
    /// {"protocol":"aleph-offchain","version":1,"content":"<CID>"}.
    event SyncEvent(uint256 timestamp, address addr, string message);

    /// @notice A single message posted straight from a smart contract or a
    /// wallet (protocol "smart-contract" on the reader's side).
    event MessageEvent(uint256 timestamp, address addr, string msgtype, string msgcontent);

    /// @notice Emits a SyncEvent carrying message.
    function doEmit(string calldata message) external {
        emit SyncEvent(block.timestamp, msg.sender, message);
    }

    /// @notice Emits a MessageEvent carrying msgtype and msgcontent.
    function doMessage(string calldata msgtype, string calldata msgcontent) external {
        emit MessageEvent(block.timestamp, msg.sender, msgtype, msgcontent);
    }
}
