// Cross-SDK check, Go → TypeScript: reads back with the official SDK what the
// Go client wrote (posts and amends, aggregates, a stored file, with ETH and
// SOL accounts), as described by the JSON file CROSS_EXPECT points at, and
// asserts exact equality. internal/compat's TestCrossSDK writes that file
// and runs `node --test cross/read.mjs`.
//
// Outside node --test's default patterns on purpose: without CROSS_EXPECT
// it has nothing to check, so TestOfficialSDK must not pick it up.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { TEST_TIMEOUT, readClient, sha256hex } from '../helpers.mjs';

if (!process.env.CROSS_EXPECT) {
  throw new Error('CROSS_EXPECT is not set: this file is run by TestCrossSDK in internal/compat');
}
const expect = JSON.parse(readFileSync(process.env.CROSS_EXPECT, 'utf8'));
assert.ok(Array.isArray(expect.accounts) && expect.accounts.length === 2, 'CROSS_EXPECT should list two accounts');

/** Asserts that a message the SDK read is exactly the envelope Go signed. */
function assertEnvelope(got, want, what) {
  for (const k of ['item_hash', 'type', 'chain', 'sender', 'signature', 'item_type', 'item_content']) {
    assert.equal(got[k], want[k], `${what}.${k}`);
  }
  assert.equal(got.channel ?? '', want.channel, `${what}.channel`);
  assert.equal(got.time, want.time, `${what}.time`);
  assert.equal(got.item_hash, sha256hex(got.item_content), `${what}.item_hash is the sha256 of item_content`);
  assert.deepEqual(got.content, JSON.parse(want.item_content), `${what}.content`);
}

for (const acc of expect.accounts) {
  describe(`Go wrote, TypeScript reads (${acc.kind})`, { timeout: 4 * TEST_TIMEOUT }, () => {
    const rc = readClient();

    it('getMessage returns the post and the amend exactly as Go signed them', { timeout: TEST_TIMEOUT }, async () => {
      const post = await rc.getMessage(acc.post.message.item_hash);
      assertEnvelope(post, acc.post.message, 'post');
      assert.equal(post.sender, acc.address);
      assert.equal(post.chain, acc.chain);
      assert.equal(post.content.type, acc.post.post_type);
      assert.deepEqual(post.content.content, acc.post.content);

      const amend = await rc.getMessage(acc.amend.message.item_hash);
      assertEnvelope(amend, acc.amend.message, 'amend');
      assert.equal(amend.content.type, 'amend');
      assert.equal(amend.content.ref, acc.post.message.item_hash);
      assert.deepEqual(amend.content.content, acc.amend.content);
    });

    it('getPost and getPosts serve the amended content', { timeout: TEST_TIMEOUT }, async () => {
      const post = await rc.getPost({ hashes: [acc.post.message.item_hash] });
      assert.deepEqual(post.content, acc.amend.content, 'getPost content is the amend');
      assert.equal(post.item_hash, acc.amend.message.item_hash);
      assert.equal(post.original_item_hash, acc.post.message.item_hash);
      assert.equal(post.hash, acc.post.message.item_hash);
      assert.equal(post.original_type, acc.post.post_type);
      assert.equal(post.original_signature, acc.post.message.signature);
      assert.equal(post.signature, acc.amend.message.signature);
      assert.equal(post.item_content, acc.amend.message.item_content);
      assert.equal(post.sender, acc.address);
      assert.equal(post.address, acc.address);
      assert.equal(post.chain, acc.chain);
      assert.equal(post.channel, acc.channel);

      const page = await rc.getPosts({ addresses: [acc.address] });
      assert.equal(page.pagination_total, 1, 'one post (amends are not listed)');
      assert.equal(page.posts.length, 1);
      assert.equal(page.posts[0].item_hash, acc.amend.message.item_hash);
      assert.deepEqual(page.posts[0].content, acc.amend.content);
    });

    it('fetchAggregate returns the merge of both updates', { timeout: TEST_TIMEOUT }, async () => {
      for (const [i, m] of acc.aggregate.messages.entries()) {
        assertEnvelope(await rc.getMessage(m.item_hash), m, `aggregate update ${i + 1}`);
      }
      assert.deepEqual(await rc.fetchAggregate(acc.address, acc.aggregate.key), acc.aggregate.merged);
      assert.deepEqual(await rc.fetchAggregates(acc.address), { [acc.aggregate.key]: acc.aggregate.merged });
    });

    it('getMessage and downloadFile return the stored file', { timeout: TEST_TIMEOUT }, async () => {
      const st = await rc.getMessage(acc.store.message.item_hash);
      assertEnvelope(st, acc.store.message, 'store');
      assert.equal(st.content.item_type, 'storage');
      assert.equal(st.content.item_hash, acc.store.file_hash);
      assert.equal(st.content.address, acc.address);

      const want = Buffer.from(acc.store.bytes_b64, 'base64');
      assert.equal(acc.store.file_hash, sha256hex(want));
      const got = Buffer.from(await rc.downloadFile(acc.store.file_hash));
      assert.equal(got.length, want.length);
      assert.ok(got.equals(want), 'downloaded bytes differ from the ones Go stored');
    });
  });
}
