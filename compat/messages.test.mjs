// Message reads through the official SDK: getMessages filters and
// pagination, and the status shapes of getMessage / GET /messages/{hash}.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  InvalidMessageError,
  MessageNotFoundError,
  MessageStatus,
  MessageType,
  pushFileToStorageEngine,
} from '@aleph-sdk/message';

import {
  API_URL,
  KINDS,
  TEST_TIMEOUT,
  api,
  assertISODate,
  assertSameMessage,
  binaryBytes,
  messageStatus,
  newClient,
  now,
  prepareMessage,
  randomHash,
  readClient,
  sendMessage,
  sha256hex,
  uniqueChannel,
  waitForStatus,
} from './helpers.mjs';

const hashesOf = (r) => r.messages.map((m) => m.item_hash);
const sorted = (xs) => [...xs].sort();

for (const kind of KINDS) {
  describe(`messages (${kind.name})`, { timeout: 5 * TEST_TIMEOUT }, () => {
    it('getMessages filters by addresses, channels, msgTypes, hashes, contentTypes, contentKeys, refs and chains', { timeout: TEST_TIMEOUT }, async () => {
      const { account: a, client: ca } = newClient(kind);
      const { account: b, client: cb } = newClient(kind);
      const ch1 = uniqueChannel('MSG-1');
      const ch2 = uniqueChannel('MSG-2');
      const t1 = `compat-t1-${randomHash().slice(0, 8)}`;
      const t2 = `compat-t2-${randomHash().slice(0, 8)}`;
      const key = `compat-key-${randomHash().slice(0, 8)}`;
      const ref = `compat-ref-${randomHash()}`;

      const p1 = await ca.createPost({ postType: t1, content: { i: 1 }, channel: ch1, sync: true });
      const p2 = await ca.createPost({ postType: t2, content: { i: 2 }, channel: ch2, ref, sync: true });
      const g1 = await ca.createAggregate({ key, content: { i: 3 }, channel: ch1, sync: true });
      const p3 = await cb.createPost({ postType: t1, content: { i: 4 }, channel: ch1, sync: true });
      const sent = new Map([p1, p2, g1, p3].map((m) => [m.item_hash, m]));

      const r = readClient();
      const mine = await r.getMessages({ addresses: [a.address] });
      assert.deepEqual(hashesOf(mine), [g1.item_hash, p2.item_hash, p1.item_hash], 'newest first');
      assert.equal(mine.pagination_total, 3);
      assert.equal(mine.pagination_page, 1);
      assert.equal(mine.pagination_per_page, 20, 'the SDK asks for 20 per page');
      assert.equal(mine.pagination_item, 'messages');
      for (const m of mine.messages) {
        assertSameMessage(m, sent.get(m.item_hash), `messages.json item ${m.item_hash}`);
        assert.equal(m.confirmed, false);
        assert.deepEqual(m.confirmations ?? [], []);
        assert.equal(typeof m.size, 'number');
        assert.ok(m.size > 0, `size ${m.size}`);
      }

      const cases = [
        [{ addresses: [a.address, b.address] }, [p3, g1, p2, p1]],
        [{ channels: [ch1] }, [p3, g1, p1]],
        [{ channels: [ch1, ch2] }, [p3, g1, p2, p1]],
        [{ channels: [ch1], messageTypes: [MessageType.aggregate] }, [g1]],
        [{ addresses: [a.address], messageTypes: [MessageType.post] }, [p2, p1]],
        [{ addresses: [a.address, b.address], messageTypes: [MessageType.post, MessageType.aggregate] }, [p3, g1, p2, p1]],
        [{ hashes: [p1.item_hash, p3.item_hash] }, [p3, p1]],
        [{ hashes: [p2.item_hash], addresses: [b.address] }, []],
        [{ contentTypes: [t1] }, [p3, p1]],
        [{ contentKeys: [key] }, [g1]],
        [{ refs: [ref] }, [p2]],
        [{ addresses: [a.address, b.address], chains: [kind.chain] }, [p3, g1, p2, p1]],
        [{ addresses: [a.address, b.address], chains: [kind.chain === 'ETH' ? 'SOL' : 'ETH'] }, []],
      ];
      for (const [filter, want] of cases) {
        const got = await r.getMessages(filter);
        assert.deepEqual(hashesOf(got), want.map((m) => m.item_hash), `getMessages(${JSON.stringify(filter)})`);
        assert.equal(got.pagination_total, want.length, `pagination_total of ${JSON.stringify(filter)}`);
      }
    });

    it('getMessages pages are disjoint, ordered and counted exactly', { timeout: TEST_TIMEOUT }, async () => {
      const { account, client } = newClient(kind);
      const channel = uniqueChannel('MSG-PAGES');
      const posted = [];
      for (let i = 0; i < 5; i++) {
        posted.push(await client.createPost({ postType: 'compat-page', content: { i }, channel, sync: true }));
      }
      const newestFirst = posted.map((m) => m.item_hash).reverse();

      const r = readClient();
      const pages = [];
      for (const page of [1, 2, 3, 4]) {
        const got = await r.getMessages({ addresses: [account.address], pagination: 2, page });
        assert.equal(got.pagination_total, 5, `total on page ${page}`);
        assert.equal(got.pagination_per_page, 2);
        assert.equal(got.pagination_page, page);
        pages.push(hashesOf(got));
      }
      assert.deepEqual(pages, [newestFirst.slice(0, 2), newestFirst.slice(2, 4), newestFirst.slice(4), []]);
      assert.deepEqual(sorted(pages.flat()), sorted(newestFirst), 'pages cover every message once');

      const times = (await r.getMessages({ addresses: [account.address] })).messages.map((m) => m.time);
      assert.deepEqual(times, [...times].sort((x, y) => y - x), 'time descending');
    });

    it('getMessage and GET /messages/{hash}: processed, not found, /status', { timeout: TEST_TIMEOUT }, async () => {
      const { account, client } = newClient(kind);
      const channel = uniqueChannel('MSG-STATUS');
      const msg = await client.createPost({ postType: 'compat-status', content: { s: 'processed' }, channel, sync: true });

      const st = await messageStatus(msg.item_hash);
      assert.deepEqual(sorted(Object.keys(st)), ['item_hash', 'message', 'reception_time', 'status']);
      assert.equal(st.status, MessageStatus.processed);
      assert.equal(st.item_hash, msg.item_hash);
      assertISODate(st.reception_time, 'reception_time');
      assertSameMessage(st.message, msg);
      assert.equal(st.message.sender, account.address);

      // The SDK sends hashes[]=<hash>; unknown parameters must be ignored.
      const withJunk = await api(`/api/v0/messages/${msg.item_hash}?hashes%5B%5D=${msg.item_hash}&unknown=1`);
      assert.equal(withJunk.status, 200);
      assert.equal(withJunk.body.item_hash, msg.item_hash);

      const short = await api(`/api/v0/messages/${msg.item_hash}/status`);
      assert.equal(short.status, 200);
      assert.deepEqual(sorted(Object.keys(short.body)), ['item_hash', 'reception_time', 'status']);
      assert.equal(short.body.status, 'processed');
      assert.equal(short.body.item_hash, msg.item_hash);
      assert.equal(short.body.reception_time, st.reception_time);

      const unknown = randomHash();
      await assert.rejects(readClient().getMessage(unknown), MessageNotFoundError);
      assert.equal((await api(`/api/v0/messages/${unknown}`)).status, 404);
      assert.equal((await api(`/api/v0/messages/${unknown}/status`)).status, 404);
    });

    it('a sync broadcast answers processed; an invalid one is refused with 422', { timeout: TEST_TIMEOUT }, async () => {
      const { account } = newClient(kind);
      const content = { type: 'compat-broadcast', address: account.address, content: { b: 1 }, time: now() };
      const prepared = await prepareMessage(account, MessageType.post, content);
      const res = await sendMessage(account, prepared, true);
      assert.equal(res.status, MessageStatus.processed);
      assert.deepEqual(res.response, {
        publication_status: { status: 'success', failed: [] },
        message_status: 'processed',
      });

      // item_content edited after hashing: the node must check sha256(item_content) == item_hash.
      const bad = await prepareMessage(account, MessageType.post, { ...content, content: { b: 2 }, time: now() });
      bad.item_content = bad.item_content.replace('"b":2', '"b":3');
      await assert.rejects(sendMessage(account, bad, true), InvalidMessageError);
    });

    it('a message the sender may not write is rejected with its error code, and getMessage still returns it', { timeout: TEST_TIMEOUT }, async () => {
      const { account } = newClient(kind);
      const victim = kind.newAccount();
      // content.address is someone else's, with no delegation: permission denied (code 2).
      const content = { type: 'compat-rejected', address: victim.address, content: { x: 1 }, time: now() };
      const prepared = await prepareMessage(account, MessageType.post, content);
      await assert.rejects(sendMessage(account, prepared, true), InvalidMessageError);

      const st = await messageStatus(prepared.item_hash);
      assert.equal(st.status, 'rejected');
      assert.equal(st.item_hash, prepared.item_hash);
      assert.equal(st.error_code, 2, `error_code: ${JSON.stringify(st)}`);
      assert.ok('details' in st, 'a rejected status carries details');
      assert.equal(st.message.item_hash, prepared.item_hash);
      assert.equal(st.message.sender, account.address);
      assertISODate(st.reception_time, 'reception_time');

      const got = await readClient().getMessage(prepared.item_hash);
      assert.equal(got.item_hash, prepared.item_hash);
      assert.deepEqual((await readClient().getMessages({ hashes: [prepared.item_hash] })).messages, [], 'rejected messages are not listed');
    });

    it('a STORE whose file is missing is pending until the file is uploaded', { timeout: TEST_TIMEOUT }, async () => {
      const { account, client } = newClient(kind);
      const bytes = binaryBytes(700);
      const fileHash = sha256hex(bytes);
      const content = { address: account.address, item_type: 'storage', item_hash: fileHash, time: now() };
      const prepared = await prepareMessage(account, MessageType.store, content);
      const res = await sendMessage(account, prepared, false);
      assert.equal(res.status, MessageStatus.pending);
      assert.deepEqual(res.response, {
        publication_status: { status: 'success', failed: [] },
        message_status: 'pending',
      });

      const st = await messageStatus(prepared.item_hash);
      assert.equal(st.status, 'pending', `a STORE without its file: ${JSON.stringify(st)}`);
      assert.equal(st.item_hash, prepared.item_hash);
      assertISODate(st.reception_time, 'reception_time');
      assert.ok(Array.isArray(st.messages) && st.messages.length >= 1, `pending shape has messages[]: ${JSON.stringify(st)}`);
      assert.equal(st.messages[0].item_hash, prepared.item_hash);
      assert.equal(st.messages[0].sender, account.address);
      assertISODate(st.messages[0].time, 'pending messages[0].time');
      const got = await readClient().getMessage(prepared.item_hash);
      assert.equal(got.item_hash, prepared.item_hash, 'getMessage returns messages[0] of a pending message');
      const short = await api(`/api/v0/messages/${prepared.item_hash}/status`);
      assert.equal(short.body.status, 'pending');

      // An unauthenticated upload of the file (the SDK's own upload helper) unblocks it.
      const uploaded = await pushFileToStorageEngine({ apiServer: API_URL, storageEngine: 'storage', file: bytes });
      assert.equal(uploaded, fileHash);
      const done = await waitForStatus(prepared.item_hash, 'processed', { timeoutMs: 30_000 });
      assert.equal(done.message.content.item_hash, fileHash);
      assert.ok(Buffer.from(await client.downloadFile(fileHash)).equals(bytes));
    });
  });
}
