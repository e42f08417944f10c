// FORGET messages through the official SDK.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ForgottenMessageError, InvalidMessageError, MessageNotFoundError } from '@aleph-sdk/message';

import { KINDS, TEST_TIMEOUT, assertISODate, messageStatus, newClient, readClient, uniqueChannel } from './helpers.mjs';

/** Asserts that getMessage(hash) throws ForgottenMessageError naming the forget. */
async function assertForgotten(hash, forgetHash) {
  await assert.rejects(readClient().getMessage(hash), (err) => {
    assert.ok(err instanceof ForgottenMessageError, `expected ForgottenMessageError, got ${err?.name}: ${err?.message}`);
    assert.ok(err.message.includes(hash), `error names the message: ${err.message}`);
    assert.ok(err.message.includes(forgetHash), `error names the FORGET: ${err.message}`);
    return true;
  });
}

for (const kind of KINDS) {
  describe(`forget (${kind.name})`, { timeout: 5 * TEST_TIMEOUT }, () => {
    const channel = uniqueChannel('FORGET');

    it('a forgotten post makes getMessage throw ForgottenMessageError and leaves the lists', { timeout: TEST_TIMEOUT }, async () => {
      const { account, client } = newClient(kind);
      const post = await client.createPost({ postType: 'compat-forget', content: { secret: 42 }, channel, sync: true });
      assert.equal((await messageStatus(post.item_hash)).status, 'processed');

      const f = await client.forget({ hashes: [post.item_hash], reason: 'compat test', channel, sync: true });
      assert.equal(f.type, 'FORGET');
      assert.deepEqual(f.content.hashes, [post.item_hash]);
      assert.equal(f.content.reason, 'compat test');
      const fst = await messageStatus(f.item_hash);
      assert.equal(fst.status, 'processed', `FORGET status: ${JSON.stringify(fst)}`);

      await assertForgotten(post.item_hash, f.item_hash);

      const st = await messageStatus(post.item_hash);
      assert.equal(st.status, 'forgotten');
      assert.equal(st.item_hash, post.item_hash);
      assertISODate(st.reception_time, 'reception_time');
      assert.deepEqual(st.forgotten_by, [f.item_hash]);
      assert.equal(st.message.item_hash, post.item_hash);
      assert.equal(st.message.sender, account.address);
      assert.equal(st.message.type, 'POST');
      assert.equal(st.message.item_content ?? null, null, 'a forgotten message keeps no item_content');
      assert.equal(st.message.content ?? null, null, 'a forgotten message keeps no content');

      const reader = readClient();
      const listed = await reader.getMessages({ hashes: [post.item_hash] });
      assert.deepEqual(listed.messages, [], 'forgotten messages are not listed');
      assert.equal(listed.pagination_total, 0);
      const mine = await reader.getMessages({ addresses: [account.address] });
      assert.deepEqual(mine.messages.map((m) => m.item_hash), [f.item_hash], 'only the FORGET is left');

      assert.deepEqual((await reader.getPosts({ hashes: [post.item_hash] })).posts, []);
      await assert.rejects(reader.getPost({ hashes: [post.item_hash] }), MessageNotFoundError);
    });

    it('forgetting an original post forgets its amends too', { timeout: TEST_TIMEOUT }, async () => {
      const { client } = newClient(kind);
      const orig = await client.createPost({ postType: 'compat-forget', content: { v: 1 }, channel, sync: true });
      const amend = await client.createPost({ postType: 'amend', ref: orig.item_hash, content: { v: 2 }, channel, sync: true });
      assert.equal((await messageStatus(amend.item_hash)).status, 'processed');

      const f = await client.forget({ hashes: [orig.item_hash], sync: true });
      assert.equal((await messageStatus(f.item_hash)).status, 'processed');
      await assertForgotten(orig.item_hash, f.item_hash);
      await assertForgotten(amend.item_hash, f.item_hash);
      assert.deepEqual((await messageStatus(amend.item_hash)).forgotten_by, [f.item_hash]);
    });

    it('forgetting aggregate updates recomputes the aggregate', { timeout: TEST_TIMEOUT }, async () => {
      const { account, client } = newClient(kind);
      const a1 = await client.createAggregate({ key: 'k', content: { a: 1, b: 1 }, channel, sync: true });
      const a2 = await client.createAggregate({ key: 'k', content: { b: 2, c: 3 }, channel, sync: true });
      assert.deepEqual(await client.fetchAggregate(account.address, 'k'), { a: 1, b: 2, c: 3 });

      const f2 = await client.forget({ hashes: [a2.item_hash], sync: true });
      assert.equal((await messageStatus(f2.item_hash)).status, 'processed');
      await assertForgotten(a2.item_hash, f2.item_hash);
      assert.deepEqual(await client.fetchAggregate(account.address, 'k'), { a: 1, b: 1 });

      const f1 = await client.forget({ hashes: [a1.item_hash], sync: true });
      assert.equal((await messageStatus(f1.item_hash)).status, 'processed');
      await assert.rejects(client.fetchAggregate(account.address, 'k'), MessageNotFoundError);
    });

    it("a stranger's FORGET is rejected and the target stays", { timeout: TEST_TIMEOUT }, async () => {
      const { client: owner } = newClient(kind);
      const { client: stranger } = newClient(kind);
      const post = await owner.createPost({ postType: 'compat-forget', content: { mine: true }, channel, sync: true });

      await assert.rejects(stranger.forget({ hashes: [post.item_hash], sync: true }), InvalidMessageError);
      const st = await messageStatus(post.item_hash);
      assert.equal(st.status, 'processed', `the target must survive: ${JSON.stringify(st)}`);
      assert.deepEqual((await readClient().getMessage(post.item_hash)).content.content, { mine: true });
    });
  });
}
