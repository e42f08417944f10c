// Package files is the node's local content-addressed file store.
//
// A [Store] keeps files on disk under one directory and addresses them by
// content, with two engines:
//
//   - [Native] ("storage"): the address is the lowercase hex SHA-256 of the
//     bytes; the file is kept as-is, one file per hash.
//   - [IPFS] ("ipfs"): the address is the CID that `ipfs add` (kubo, default
//     options) gives: UnixFS, balanced layout, 256 KiB fixed-size chunks, at
//     most 174 links per node; CIDv0 (Qm…) with dag-pb leaves by default,
//     CIDv1 (bafy…/bafk…) with raw leaves when CIDv1 is asked for, as
//     `ipfs add --cid-version=1` does. The file is kept as the blocks of its
//     DAG, so that they can be served to other IPFS nodes (bitswap) as they
//     are, and read back through a UnixFS DAG reader that supports Seek.
//
// Adding streams: the bytes are hashed while they are written to a staging
// area inside the store directory, then moved into place atomically, so
// memory use does not grow with the file size and a failed or oversized add
// leaves nothing behind. A file is durable when Add returns.
//
// # On-disk layout
//
//	<dir>/LOCK                         held (flock) while a Store is open
//	<dir>/tmp/                         staging of adds and trash of deletes, emptied by Open
//	<dir>/storage/<sh>/<sha256 hex>    native files, raw bytes
//	<dir>/ipfs/blocks/SHARDING         flatfs sharding spec (next-to-last/2)
//	<dir>/ipfs/blocks/<sh>/<KEY>.data  every IPFS block, flatfs layout as kubo's repo
//	<dir>/ipfs/files/<sh>/<cid>/       one directory per stored IPFS file:
//	    size                           its size in bytes (decimal)
//	    <KEY>                          a hard link to each distinct block of its DAG
//
// <KEY> is the unpadded upper-case base32 of the block's multihash (as kubo's
// flatfs names blocks) and <sh> the next-to-last two characters of a name
// (as flatfs shards).
//
// The hard links make the file system count, for each block, how many stored
// files use it: deleting a file removes a block only when no other stored
// file links to it, in time proportional to the size of the deleted file and
// without any index in memory. An IPFS file directory is self-contained, so
// reads never depend on the shared blocks directory, which exists for
// serving blocks by CID ([Store.Blockstore]).
//
// Trade-off (blocks only versus raw bytes kept too): the store keeps an IPFS
// file only as its blocks, not also as one flat file. That costs about 1.6%
// more disk for CIDv0 (a dag-pb leaf is 14 bytes over 256 KiB, so it takes
// one more file-system block; raw CIDv1 leaves fit exactly) instead of twice
// the space, and adds cost one file creation per 256 KiB. Reads walk the DAG
// (one small file per 256 KiB, about 650 MB/s for CIDv0 and 1.2 GB/s for raw
// leaves against 1.8 GB/s for a flat file, reading a 1 GiB file back from
// the page cache right after adding it); seeking stays cheap, as the reader descends the tree by
// the sizes recorded in each node. Serving blocks over bitswap needs the
// blocks anyway, and the halved disk use matters more than the read speed.
//
// A directory must be used by one Store at a time; Open takes an advisory
// lock (flock on LOCK) to enforce it. The store needs a Unix file system with
// hard links; on Linux, the adds are made durable with one syncfs(2) each.
package files
