// AGGREGATE messages through the official SDK: createAggregate and
// fetchAggregate(s), including the shallow merge of successive updates.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MessageNotFoundError } from '@aleph-sdk/message';

import { KINDS, TEST_TIMEOUT, api, assertSameMessage, messageStatus, newClient, readClient, uniqueChannel } from './helpers.mjs';

for (const kind of KINDS) {
  describe(`aggregates (${kind.name})`, { timeout: 4 * TEST_TIMEOUT }, () => {
    const channel = uniqueChannel('AGGREGATES');

    it('two updates of one key are shallow-merged in time order', { timeout: TEST_TIMEOUT }, async () => {
      const { account, client } = newClient(kind);
      const m1 = await client.createAggregate({
        key: 'profile',
        content: { name: 'alice', tags: ['a'], nested: { x: 1, y: 1 } },
        channel,
        sync: true,
      });
      assert.equal(m1.type, 'AGGREGATE');
      assert.deepEqual(m1.content.key, 'profile');
      const st = await messageStatus(m1.item_hash);
      assert.equal(st.status, 'processed');
      assertSameMessage(st.message, m1);

      assert.deepEqual(await client.fetchAggregate(account.address, 'profile'), {
        name: 'alice',
        tags: ['a'],
        nested: { x: 1, y: 1 },
      });

      const m2 = await client.createAggregate({
        key: 'profile',
        content: { tags: ['b'], nested: { y: 2 }, age: 30 },
        channel,
        sync: true,
      });
      assert.equal((await messageStatus(m2.item_hash)).status, 'processed');
      // Top-level keys of the later update win; nested objects are replaced, not merged.
      assert.deepEqual(await client.fetchAggregate(account.address, 'profile'), {
        name: 'alice',
        tags: ['b'],
        nested: { y: 2 },
        age: 30,
      });
    });

    it('fetchAggregates returns every key, or only the keys asked for', { timeout: TEST_TIMEOUT }, async () => {
      const { account, client } = newClient(kind);
      await client.createAggregate({ key: 'profile', content: { name: 'bob' }, channel, sync: true });
      await client.createAggregate({ key: 'settings', content: { theme: 'dark', size: 12 }, channel, sync: true });
      await client.createAggregate({ key: 'third', content: { ok: true }, channel, sync: true });
      await client.createAggregate({ key: 'settings', content: { size: 14 }, channel, sync: true });

      const reader = readClient();
      assert.deepEqual(await reader.fetchAggregates(account.address), {
        profile: { name: 'bob' },
        settings: { theme: 'dark', size: 14 },
        third: { ok: true },
      });
      assert.deepEqual(await reader.fetchAggregates(account.address, ['settings', 'third']), {
        settings: { theme: 'dark', size: 14 },
        third: { ok: true },
      });
      assert.deepEqual(await reader.fetchAggregate(account.address, 'settings'), { theme: 'dark', size: 14 });

      const raw = await api(`/api/v0/aggregates/${account.address}.json?keys=profile`);
      assert.equal(raw.status, 200);
      assert.equal(raw.body.address, account.address);
      assert.deepEqual(raw.body.data, { profile: { name: 'bob' } });
    });

    it('fetchAggregate throws MessageNotFoundError for an unknown address or key', { timeout: TEST_TIMEOUT }, async () => {
      const { account, client } = newClient(kind);
      const stranger = kind.newAccount();
      await assert.rejects(client.fetchAggregate(stranger.address, 'profile'), MessageNotFoundError);
      await assert.rejects(client.fetchAggregates(stranger.address), MessageNotFoundError);

      await client.createAggregate({ key: 'present', content: { a: 1 }, channel, sync: true });
      await assert.rejects(client.fetchAggregate(account.address, 'absent'), MessageNotFoundError);
    });
  });
}
