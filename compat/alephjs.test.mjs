// The old official JavaScript SDK, aleph-js 0.5.3, which dApps still use:
// its NULS2, CSDK (cosmosjs), DOT (sr25519 @polkadot/keyring) and AVAX
// (X-chain keys of the avalanche package) accounts sign a POST and an
// AGGREGATE, which it publishes through the legacy
// /api/v0/ipfs/pubsub/pub route; the node must process both, and aleph-js's
// own readers must see them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import aleph from 'aleph-js';

import { API_URL, TEST_TIMEOUT, api, sha256hex, uniqueChannel, waitFor } from './helpers.mjs';

const ACCOUNTS = [
  { chain: 'NULS2', make: () => aleph.nuls2.new_account() },
  { chain: 'CSDK', make: () => aleph.cosmos.new_account() },
  { chain: 'DOT', make: () => aleph.substrate.new_account() },
  { chain: 'AVAX', make: () => aleph.avalanche.new_account() },
];

/**
 * Waits until the node has decided on a message aleph-js published (it
 * answers the publication before processing) and returns the
 * GET /api/v0/messages/{hash} body.
 */
function decided(hash) {
  return waitFor(`message ${hash} to leave pending`, async () => {
    const r = await api(`/api/v0/messages/${hash}`);
    return r.status === 200 && r.body.status !== 'pending' ? r.body : false;
  });
}

/** Asserts that aleph-js's message was processed unchanged. */
async function assertProcessed(chain, sent, what) {
  assert.equal(sent.chain, chain, `${what}.chain`);
  assert.equal(typeof sent.signature, 'string', `${what}: aleph-js did not sign`);
  assert.equal(sent.item_hash, sha256hex(sent.item_content), `${what}.item_hash`);
  const got = await decided(sent.item_hash);
  assert.equal(got.status, 'processed', `${chain} ${what}: ${JSON.stringify(got)}`);
  for (const k of ['chain', 'sender', 'signature', 'item_content', 'channel']) {
    assert.equal(got.message[k], sent[k], `${what}.${k} as stored`);
  }
}

// aleph-js logs buffers and messages while it signs AVAX messages: keep the
// test output readable.
async function quietly(fn) {
  const log = console.log;
  console.log = () => {};
  try {
    return await fn();
  } finally {
    console.log = log;
  }
}

for (const { chain, make } of ACCOUNTS) {
  describe(`aleph-js 0.5.3 accounts (${chain})`, { timeout: 3 * TEST_TIMEOUT }, () => {
    it('signs a POST and an AGGREGATE that the node processes', { timeout: 2 * TEST_TIMEOUT }, async () => {
      const account = await make();
      assert.equal(account.type, chain);
      const channel = uniqueChannel(`ALEPHJS-${chain}`);
      const opts = { api_server: API_URL, channel, account };

      const post = await quietly(() => aleph.posts.submit(account.address, 'compat-note', { body: `from aleph-js ${chain}` }, opts));
      await assertProcessed(chain, post, 'POST');
      const posts = await aleph.posts.get_posts('compat-note', { api_server: API_URL, addresses: [account.address] });
      assert.equal(posts.posts.length, 1, `posts of ${account.address}: ${JSON.stringify(posts)}`);
      assert.equal(posts.posts[0].item_hash, post.item_hash);
      assert.deepEqual(posts.posts[0].content, { body: `from aleph-js ${chain}` });

      const agg = await quietly(() => aleph.aggregates.submit(account.address, 'profile', { chain, n: 1 }, opts));
      await assertProcessed(chain, agg, 'AGGREGATE');
      assert.deepEqual(await aleph.aggregates.fetch_one(account.address, 'profile', { api_server: API_URL }), { chain, n: 1 });
    });
  });
}
