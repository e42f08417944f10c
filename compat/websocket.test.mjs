// The message WebSocket through the official SDK. AlephHttpClient.watchMessages
// always connects to the public network, so, as the SDK's own clients would,
// these tests use BaseMessageClient(API_URL, WS_URL).getMessagesSocket.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { BaseMessageClient, MessageType } from '@aleph-sdk/message';

import { API_URL, KINDS, TEST_TIMEOUT, WS_URL, assertSameMessage, newClient, uniqueChannel, waitFor } from './helpers.mjs';

/** Opens an SDK socket with the given filters and waits until it is open. */
async function openSocket(filters) {
  const socket = new BaseMessageClient(API_URL, WS_URL).getMessagesSocket(filters);
  const ws = socket.getSocket();
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the socket ${JSON.stringify(filters)} did not open within 10 s`)), 10_000);
    const fail = (why) => {
      clearTimeout(timer);
      reject(new Error(`WebSocket ${ws.url}: ${why}`));
    };
    ws.once('unexpected-response', (req, res) => {
      req.destroy();
      fail(`HTTP ${res.statusCode} on the upgrade request`);
    });
    ws.once('error', (err) => fail(err.message));
    ws.once('open', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  // The SDK sets its open flag from its own listener, registered before ours.
  assert.equal(socket.getIsOpen(), true);
  return socket;
}

/** Waits until the socket has received a frame for each hash. */
async function waitForFrames(socket, hashes) {
  await waitFor(`frames for ${hashes.join(', ')}`, () => {
    const seen = new Set(socket.getData().map((m) => m.item_hash));
    return hashes.every((h) => seen.has(h));
  }, { timeoutMs: 15_000, intervalMs: 20 });
}

/** Closes the socket and waits for the close. */
async function close(socket) {
  socket.closeSocket();
  await waitFor('the socket to close', () => !socket.getIsOpen(), { timeoutMs: 5_000, intervalMs: 20 });
}

/** Lets frames that should not come have a chance to arrive. */
const settle = () => new Promise((r) => setTimeout(r, 300));

for (const kind of KINDS) {
  describe(`websocket (${kind.name})`, { timeout: 4 * TEST_TIMEOUT }, () => {
    it('a socket filtered by address receives a new post, and only matching messages', { timeout: TEST_TIMEOUT }, async () => {
      const { account, client } = newClient(kind);
      const { client: other } = newClient(kind);
      const channel = uniqueChannel('WS');
      const socket = await openSocket({ addresses: [account.address] });
      try {
        assert.deepEqual(socket.getData(), [], 'a fresh address has no history');
        const foreign = await other.createPost({ postType: 'compat-ws', content: { who: 'other' }, channel, sync: true });
        const mine = await client.createPost({ postType: 'compat-ws', content: { who: 'me', n: 1 }, channel, sync: true });
        await waitForFrames(socket, [mine.item_hash]);
        await settle();

        const frames = socket.getData();
        assert.deepEqual(frames.map((m) => m.item_hash), [mine.item_hash], 'exactly the matching message');
        assert.ok(!frames.some((m) => m.item_hash === foreign.item_hash));
        assertSameMessage(frames[0], mine, 'WebSocket frame');
        assert.deepEqual(frames[0].content.content, { who: 'me', n: 1 });
      } finally {
        await close(socket);
      }
    });

    it('history replays past matching messages, oldest first', { timeout: TEST_TIMEOUT }, async () => {
      const { account, client } = newClient(kind);
      const channel = uniqueChannel('WS-HISTORY');
      const posted = [];
      for (let i = 0; i < 3; i++) {
        posted.push(await client.createPost({ postType: 'compat-ws', content: { i }, channel, sync: true }));
      }
      const hashes = posted.map((m) => m.item_hash);

      // Without history, the node replays up to 10 past messages.
      const all = await openSocket({ addresses: [account.address] });
      try {
        await waitForFrames(all, hashes);
        await settle();
        assert.deepEqual(all.getData().map((m) => m.item_hash), hashes);
      } finally {
        await close(all);
      }

      const two = await openSocket({ channels: [channel], history: 2 });
      try {
        await waitForFrames(two, hashes.slice(1));
        await settle();
        assert.deepEqual(two.getData().map((m) => m.item_hash), hashes.slice(1));

        // Then live messages follow the history.
        const live = await client.createPost({ postType: 'compat-ws', content: { i: 3 }, channel, sync: true });
        await waitForFrames(two, [live.item_hash]);
        assert.deepEqual(two.getData().map((m) => m.item_hash), [...hashes.slice(1), live.item_hash]);
      } finally {
        await close(two);
      }
    });

    it('msgType and channel filters apply to live messages', { timeout: TEST_TIMEOUT }, async () => {
      const { account, client } = newClient(kind);
      const channel = uniqueChannel('WS-TYPE');
      const otherChannel = uniqueChannel('WS-TYPE-OTHER');
      const aggs = await openSocket({ addresses: [account.address], messageType: MessageType.aggregate });
      const chans = await openSocket({ channels: [channel] });
      try {
        const post = await client.createPost({ postType: 'compat-ws', content: { p: 1 }, channel, sync: true });
        const elsewhere = await client.createAggregate({ key: 'ws', content: { a: 0 }, channel: otherChannel, sync: true });
        const agg = await client.createAggregate({ key: 'ws', content: { a: 1 }, channel, sync: true });
        await waitForFrames(aggs, [elsewhere.item_hash, agg.item_hash]);
        await waitForFrames(chans, [post.item_hash, agg.item_hash]);
        await settle();
        assert.deepEqual(aggs.getData().map((m) => m.item_hash), [elsewhere.item_hash, agg.item_hash]);
        assert.ok(aggs.getData().every((m) => m.type === 'AGGREGATE'));
        assert.deepEqual(chans.getData().map((m) => m.item_hash), [post.item_hash, agg.item_hash]);
        assert.ok(chans.getData().every((m) => m.channel === channel));
      } finally {
        await close(aggs);
        await close(chans);
      }
    });
  });
}
