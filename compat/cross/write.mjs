// Cross-SDK check, TypeScript → Go: with the official SDK and fresh ETH and
// SOL accounts, writes a post and its amend, two aggregate updates and a
// stored file (storage engine), all with sync, and prints a JSON summary of
// what was written as the last line of stdout. internal/compat's
// TestCrossSDK runs it and reads everything back with the Go client.
//
// Not a node --test file (its name matches none of node --test's patterns):
// it is run explicitly, with ALEPH_API_URL set.
import assert from 'node:assert/strict';

import { KINDS, binaryBytes, newClient, sha256hex, uniqueChannel } from '../helpers.mjs';

/** The signed envelope of a message the SDK returned. */
function envelope(msg) {
  const { item_hash, type, chain, sender, signature, item_type, item_content, time, channel } = msg;
  return { item_hash, type, chain, sender, signature, item_type, item_content, time, channel: channel ?? '' };
}

const accounts = [];
for (const kind of KINDS) {
  const { account, client } = newClient(kind);
  const channel = uniqueChannel('CROSS-TS');

  const postContent = { title: `from TypeScript (${kind.name})`, body: 'ünïcödé ✓', n: 1, nested: { list: [1, 'two', null, true] } };
  const post = await client.createPost({ postType: 'cross-note', content: postContent, channel, sync: true });
  const amendContent = { title: 'amended', n: 2, flags: [false, 0.5] };
  const amend = await client.createPost({ postType: 'amend', ref: post.item_hash, content: amendContent, channel, sync: true });

  const agg1 = await client.createAggregate({ key: 'cross', content: { name: `ts-${kind.name}`, n: 1, deep: { a: 1 } }, channel, sync: true });
  const agg2 = await client.createAggregate({ key: 'cross', content: { n: 2, deep: { b: 2 }, extra: 'x' }, channel, sync: true });
  // Successive updates merge key by key (shallow): deep is replaced.
  const merged = { name: `ts-${kind.name}`, n: 2, deep: { b: 2 }, extra: 'x' };

  const bytes = binaryBytes(700);
  const store = await client.createStore({ fileObject: new Blob([bytes]), channel, sync: true });
  assert.equal(store.content.item_hash, sha256hex(bytes), 'the SDK named a file hash other than the sha256 of the bytes');

  accounts.push({
    kind: kind.name,
    chain: kind.chain,
    address: account.address,
    channel,
    post: { message: envelope(post), post_type: 'cross-note', content: postContent },
    amend: { message: envelope(amend), content: amendContent },
    aggregate: { key: 'cross', messages: [envelope(agg1), envelope(agg2)], merged },
    store: { message: envelope(store), file_hash: store.content.item_hash, bytes_b64: bytes.toString('base64') },
  });
}

console.log(JSON.stringify({ accounts }));
