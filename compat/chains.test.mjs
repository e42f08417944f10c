// The official TypeScript SDK's account packages of the non-EVM, non-Solana
// chains: each account signs a POST, an AGGREGATE and a STORE through the
// official client, and the node must process all three.
//
// @aleph-sdk/substrate's peer dependency @polkadot/extension-dapp takes any
// @polkadot/api; the latest (17.0.1) needs @polkadot/api-augment 17.0.1,
// which the registry this suite installs from does not serve, so
// package.json pins @polkadot/api 10.13.1 (the line
// @polkadot/extension-inject 0.46 asks for).
// @aleph-sdk/avalanche is not here either, for two faults of its own: every
// AvalancheAccount extends EVMAccount, and buildMessage in
// @aleph-sdk/message 1.7.x sends the messages of any EVMAccount with chain
// "ETH", whatever the account's getChain() says, so they carry chain "ETH"
// and a CB58 signature, which neither pyaleph nor this node accepts (422);
// and its X-chain key chain is built with new AvalancheCore(), whose bech32
// prefix is empty in every avalanche 3.x, so its X-chain addresses read
// "X-1…" instead of "X-avax1…", a sender no node accepts either. Its
// signatures themselves equal the Go SDK's (internal/compat
// TestSameSignatures).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { AuthenticatedAlephHttpClient } from '@aleph-sdk/client';
import * as cosmos from '@aleph-sdk/cosmos';
import * as nuls2 from '@aleph-sdk/nuls2';
import * as substrate from '@aleph-sdk/substrate';
import * as tezos from '@aleph-sdk/tezos';

import { API_URL, TEST_TIMEOUT, messageStatus, sha256hex, uniqueChannel } from './helpers.mjs';

const ACCOUNTS = [
  { chain: 'NULS2', make: async () => (await nuls2.newAccount()).account },
  { chain: 'CSDK', make: async () => (await cosmos.newAccount()).account },
  { chain: 'DOT', make: async () => (await substrate.newAccount()).account },
  // The SDK's Micheline signature embeds new Date(time).toISOString() of the
  // envelope time in seconds (a 1970 date): chain/tezos accepts that stamp
  // besides pyaleph's (see its package doc).
  { chain: 'TEZOS', make: async () => (await tezos.newAccount()).signerAccount },
];

for (const { chain, make } of ACCOUNTS) {
  describe(`chain accounts (${chain})`, { timeout: 4 * TEST_TIMEOUT }, () => {
    it('signs a POST, an AGGREGATE and a STORE that the node processes', { timeout: 3 * TEST_TIMEOUT }, async () => {
      const account = await make();
      const client = new AuthenticatedAlephHttpClient(account, API_URL);
      const channel = uniqueChannel(`CHAINS-${chain}`);

      const post = await client.createPost({ postType: 'compat-note', content: { body: `from ${chain}` }, channel, sync: true });
      assert.equal(post.chain, chain);
      assert.equal(post.sender, account.address);
      assert.equal(post.item_hash, sha256hex(post.item_content));
      assert.equal((await messageStatus(post.item_hash)).status, 'processed', `${chain} POST`);

      const agg = await client.createAggregate({ key: 'profile', content: { chain }, channel, sync: true });
      assert.equal(agg.chain, chain);
      assert.equal((await messageStatus(agg.item_hash)).status, 'processed', `${chain} AGGREGATE`);
      const got = await client.fetchAggregate(account.address, 'profile');
      assert.deepEqual(got, { chain });

      const bytes = new TextEncoder().encode(`stored by a ${chain} account`);
      const store = await client.createStore({ fileObject: new Blob([bytes]), channel, sync: true });
      assert.equal(store.chain, chain);
      assert.equal((await messageStatus(store.item_hash)).status, 'processed', `${chain} STORE`);
    });
  });
}
