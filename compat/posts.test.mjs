// POST messages through the official SDK: createPost, amends, getPost(s).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import { ItemType, MessageNotFoundError } from '@aleph-sdk/message';

import {
  KINDS,
  TEST_TIMEOUT,
  assertISODate,
  assertSameMessage,
  messageStatus,
  newClient,
  randomHash,
  readClient,
  sha256hex,
  uniqueChannel,
} from './helpers.mjs';

for (const kind of KINDS) {
  describe(`posts (${kind.name})`, { timeout: 4 * TEST_TIMEOUT }, () => {
    let account, client, channel;
    before(() => {
      ({ account, client } = newClient(kind));
      channel = uniqueChannel('POSTS');
    });

    it('createPost with sync is processed and served by getMessage', { timeout: TEST_TIMEOUT }, async () => {
      const content = { title: 'hello', body: 'first version ✓', n: 1, nested: { list: [1, 'two', null, true] } };
      const msg = await client.createPost({ postType: 'compat-note', content, channel, sync: true });

      assert.equal(msg.type, 'POST');
      assert.equal(msg.chain, kind.chain);
      assert.equal(msg.sender, account.address);
      assert.equal(msg.item_type, 'inline');
      assert.equal(msg.item_hash, sha256hex(msg.item_content));

      const st = await messageStatus(msg.item_hash);
      assert.equal(st.status, 'processed', `status after a sync createPost: ${JSON.stringify(st)}`);
      assert.equal(st.item_hash, msg.item_hash);
      assertISODate(st.reception_time, 'reception_time');
      assertSameMessage(st.message, msg, 'GET /messages/{hash} .message');
      assert.deepEqual(st.message.content.content, content);

      const got = await readClient().getMessage(msg.item_hash);
      assertSameMessage(got, msg, 'getMessage()');
    });

    it('amends replace the content that getPost and getPosts show', { timeout: TEST_TIMEOUT }, async () => {
      const { account: owner, client: c } = newClient(kind);
      const orig = await c.createPost({ postType: 'compat-note', content: { v: 1, keep: 'original' }, channel, sync: true });
      const amend = await c.createPost({ postType: 'amend', ref: orig.item_hash, content: { v: 2, extra: 'x' }, channel, sync: true });
      assert.equal(amend.content.type, 'amend');
      assert.equal(amend.content.ref, orig.item_hash);
      assert.equal((await messageStatus(amend.item_hash)).status, 'processed');

      let post = await c.getPost({ hashes: [orig.item_hash] });
      assert.deepEqual(post.content, { v: 2, extra: 'x' }, 'getPost content is the amend');
      assert.equal(post.item_hash, amend.item_hash, 'item_hash is the latest amend');
      assert.equal(post.original_item_hash, orig.item_hash);
      assert.equal(post.hash, orig.item_hash, 'hash is the original');
      assert.equal(post.original_type, 'compat-note');
      assert.equal(post.original_signature, orig.signature);
      assert.equal(post.signature, amend.signature);
      assert.equal(post.item_content, amend.item_content);
      assert.equal(post.chain, kind.chain);
      assert.equal(post.sender, owner.address);
      assert.equal(post.address, owner.address);
      assert.equal(post.channel, channel);
      assert.equal(typeof post.time, 'number');
      assert.ok(Math.abs(post.time - amend.time) < 0.001, `time ${post.time} is the amend's ${amend.time}`);

      const page = await c.getPosts({ addresses: [owner.address] });
      assert.equal(page.posts.length, 1, 'amends are not listed as posts');
      assert.equal(page.pagination_total, 1);
      assert.equal(page.pagination_page, 1);
      assert.equal(page.pagination_per_page, 50, 'the SDK asks for 50 per page');
      assert.equal(page.pagination_item, 'posts');
      assert.equal(page.posts[0].item_hash, amend.item_hash);
      assert.deepEqual(page.posts[0].content, { v: 2, extra: 'x' });

      // A second amend wins over the first.
      const amend2 = await c.createPost({ postType: 'amend', ref: orig.item_hash, content: { v: 3 }, channel, sync: true });
      post = await c.getPost({ hashes: [orig.item_hash] });
      assert.deepEqual(post.content, { v: 3 });
      assert.equal(post.item_hash, amend2.item_hash);
      assert.equal(post.original_item_hash, orig.item_hash);

      // The original itself is unchanged as a message.
      const st = await messageStatus(orig.item_hash);
      assert.deepEqual(st.message.content.content, { v: 1, keep: 'original' });
    });

    it('getPosts filters by types, channels, refs and hashes, and pages', { timeout: TEST_TIMEOUT }, async () => {
      const { account: owner, client: c } = newClient(kind);
      const ch1 = uniqueChannel('POSTS-A');
      const ch2 = uniqueChannel('POSTS-B');
      const typeA = `compat-a-${randomHash().slice(0, 8)}`;
      const typeB = `compat-b-${randomHash().slice(0, 8)}`;
      const ref = `compat-ref-${randomHash()}`;
      const a = await c.createPost({ postType: typeA, content: { name: 'a' }, channel: ch1, ref, sync: true });
      const b = await c.createPost({ postType: typeB, content: { name: 'b' }, channel: ch2, sync: true });
      const d = await c.createPost({ postType: typeA, content: { name: 'd' }, channel: ch2, sync: true });
      const hashes = (r) => r.posts.map((p) => p.item_hash);

      const all = await c.getPosts({ addresses: [owner.address] });
      assert.deepEqual(hashes(all), [d.item_hash, b.item_hash, a.item_hash], 'newest first');
      assert.equal(all.pagination_total, 3);
      assert.deepEqual(all.posts.map((p) => p.content.name), ['d', 'b', 'a']);
      assert.equal(all.posts[2].ref, ref);
      assert.equal(all.posts[2].type, typeA);

      assert.deepEqual(hashes(await c.getPosts({ types: [typeA] })), [d.item_hash, a.item_hash]);
      assert.deepEqual(hashes(await c.getPosts({ types: typeB })), [b.item_hash]);
      assert.deepEqual(hashes(await c.getPosts({ channels: [ch2] })), [d.item_hash, b.item_hash]);
      assert.deepEqual(hashes(await c.getPosts({ channels: [ch1, ch2], addresses: [owner.address] })), [d.item_hash, b.item_hash, a.item_hash]);
      assert.deepEqual(hashes(await c.getPosts({ refs: [ref] })), [a.item_hash]);
      assert.deepEqual(hashes(await c.getPosts({ hashes: [a.item_hash, b.item_hash] })), [b.item_hash, a.item_hash]);
      const none = await c.getPosts({ types: [typeB], channels: [ch1] });
      assert.deepEqual(none.posts, []);
      assert.equal(none.pagination_total, 0);

      const p1 = await c.getPosts({ addresses: [owner.address], pagination: 2, page: 1 });
      const p2 = await c.getPosts({ addresses: [owner.address], pagination: 2, page: 2 });
      assert.deepEqual(hashes(p1), [d.item_hash, b.item_hash]);
      assert.deepEqual(hashes(p2), [a.item_hash]);
      for (const [p, n] of [[p1, 1], [p2, 2]]) {
        assert.equal(p.pagination_total, 3);
        assert.equal(p.pagination_per_page, 2);
        assert.equal(p.pagination_page, n);
      }
    });

    for (const engine of [ItemType.storage, ItemType.ipfs]) {
      it(`a post stored through ${engine}/add_json is processed and read back`, { timeout: TEST_TIMEOUT }, async () => {
        const { account: owner, client: c } = newClient(kind);
        // Over 50,000 bytes the SDK moves any content off-message; the ipfs
        // engine is asked for explicitly.
        const content = { blob: 'ä'.repeat(30_000), n: 7 };
        const msg = await c.createPost({ postType: 'compat-big', content, channel, storageEngine: engine, sync: true });
        assert.equal(msg.item_type, engine);
        assert.equal(msg.item_content, undefined);
        if (engine === ItemType.storage) assert.match(msg.item_hash, /^[0-9a-f]{64}$/);
        else assert.match(msg.item_hash, /^Qm[1-9A-HJ-NP-Za-km-z]{44}$/);

        const st = await messageStatus(msg.item_hash);
        assert.equal(st.status, 'processed', `status of a ${engine} post: ${JSON.stringify(st).slice(0, 500)}`);
        assert.equal(st.message.item_type, engine);
        assert.equal(st.message.item_hash, msg.item_hash);
        assert.deepEqual(st.message.content.content, content);
        assert.equal(st.message.content.address, owner.address);

        const post = await c.getPost({ hashes: [msg.item_hash] });
        assert.deepEqual(post.content, content);
        assert.equal(post.item_type, engine);
      });
    }

    it('getPost throws MessageNotFoundError when no post matches', { timeout: TEST_TIMEOUT }, async () => {
      await assert.rejects(readClient().getPost({ hashes: [randomHash()] }), MessageNotFoundError);
    });
  });
}
