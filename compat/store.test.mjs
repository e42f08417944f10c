// STORE messages through the official SDK: createStore with the storage and
// ipfs engines, and downloadFile.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ItemType } from '@aleph-sdk/message';

import {
  API_URL,
  KINDS,
  TEST_TIMEOUT,
  api,
  assertSameMessage,
  binaryBytes,
  cidV0,
  messageStatus,
  newClient,
  randomHash,
  readClient,
  sha256hex,
  uniqueChannel,
} from './helpers.mjs';

for (const kind of KINDS) {
  describe(`store (${kind.name})`, { timeout: 4 * TEST_TIMEOUT }, () => {
    const channel = uniqueChannel('STORE');

    it('createStore with a Blob (storage engine), then downloadFile returns the same bytes', { timeout: TEST_TIMEOUT }, async () => {
      const { account, client } = newClient(kind);
      const bytes = binaryBytes(5000);
      const msg = await client.createStore({ fileObject: new Blob([bytes]), channel, sync: true });

      assert.equal(msg.type, 'STORE');
      assert.equal(msg.item_type, 'inline');
      assert.equal(msg.content.item_type, 'storage');
      assert.equal(msg.content.item_hash, sha256hex(bytes));
      assert.equal(msg.content.address, account.address);

      const st = await messageStatus(msg.item_hash);
      assert.equal(st.status, 'processed', `STORE status after a sync add_file: ${JSON.stringify(st)}`);
      assertSameMessage(st.message, msg);

      const got = Buffer.from(await readClient().downloadFile(msg.content.item_hash));
      assert.equal(got.length, bytes.length);
      assert.ok(got.equals(bytes), 'downloaded bytes differ from the uploaded ones');

      const head = await fetch(`${API_URL}/api/v0/storage/raw/${msg.content.item_hash}`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), String(bytes.length));
    });

    it('createStore with the ipfs engine stores a CIDv0 that downloadFile serves', { timeout: TEST_TIMEOUT }, async () => {
      const { client } = newClient(kind);
      const bytes = binaryBytes(3000);
      const msg = await client.createStore({ fileObject: new Blob([bytes]), storageEngine: ItemType.ipfs, channel, sync: true });

      assert.equal(msg.content.item_type, 'ipfs');
      assert.equal(msg.content.item_hash, cidV0(bytes), 'the CID the node returned is not the IPFS CIDv0 of the file');
      const st = await messageStatus(msg.item_hash);
      assert.equal(st.status, 'processed', `ipfs STORE status: ${JSON.stringify(st)}`);

      const got = Buffer.from(await readClient().downloadFile(msg.content.item_hash));
      assert.ok(got.equals(bytes), 'downloaded bytes differ from the uploaded ones');
    });

    it('downloadFile of an unknown hash fails with 404', { timeout: TEST_TIMEOUT }, async () => {
      await assert.rejects(readClient().downloadFile(randomHash()), (err) => {
        assert.equal(err.response?.status, 404, `expected a 404, got ${err.response?.status ?? err}`);
        return true;
      });
      const raw = await api(`/api/v0/storage/raw/${randomHash()}?find`);
      assert.equal(raw.status, 404);
    });
  });
}
