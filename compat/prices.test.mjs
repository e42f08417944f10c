// Prices, costs and balances. The SDK's price calls (getCost and
// getEstimatedCost of the STORE, PROGRAM and INSTANCE clients) run against
// the node and must give the reference's default price table exactly. The
// SDK has no call for an address's balance or credits (its
// getALEPHBalance reads the chain, not the node), so those are read with
// fetch in the reference's shape, after the account the node trusts
// (ALEPH_COMPAT_TRUSTED_KEY) funded an address through SDK posts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { AuthenticatedAlephHttpClient } from '@aleph-sdk/client';
import * as eth from '@aleph-sdk/ethereum';

import { API_URL, KINDS, TEST_TIMEOUT, binaryBytes, messageStatus, newClient, uniqueChannel } from './helpers.mjs';

const ETH = KINDS.find((k) => k.name === 'ETH');

// The reference's defaults (network.md §4.4): a credit-paid STORE is billed
// for at least 25 MiB at 0.17967489030626108 credits per MiB-hour, per
// second and floored to 18 decimals; a held one costs 0.333333333 ALEPH per
// MiB beyond the free 25 MiB; an on-demand program 200 ALEPH per compute
// unit (twice that with internet); an instance 14,250 credits per compute
// unit-hour.
const STORE_CREDIT_PER_SECOND = '0.001247742293793479';

async function getJSON(path) {
  const res = await fetch(`${API_URL}${path}`);
  const body = await res.text();
  assert.equal(res.status, 200, `GET ${path}: ${res.status} ${body}`);
  return JSON.parse(body);
}

describe('prices through the SDK', { timeout: 6 * TEST_TIMEOUT }, () => {
  const channel = uniqueChannel('PRICES');

  it('storeClient.getCost of a credit-paid STORE gives its per-second credit cost', { timeout: TEST_TIMEOUT }, async () => {
    const { account, client } = newClient(ETH);
    const msg = await client.createStore({
      fileObject: new Blob([binaryBytes(5000)]), channel, sync: true, payment: { chain: 'ETH', type: 'credit' },
    });
    assert.equal((await messageStatus(msg.item_hash)).status, 'processed');
    const cost = await client.storeClient.getCost(msg.item_hash);
    assert.equal(cost.payment_type, 'credit');
    assert.equal(cost.cost, STORE_CREDIT_PER_SECOND);
    assert.equal(cost.charged_address, account.address);
    assert.equal(cost.detail.length, 1);
    assert.equal(cost.detail[0].type, 'STORAGE');
    assert.equal(cost.detail[0].cost_credit, STORE_CREDIT_PER_SECOND);
  });

  it('storeClient.getCost of a small held STORE is free', { timeout: TEST_TIMEOUT }, async () => {
    const { client } = newClient(ETH);
    const msg = await client.createStore({ fileObject: new Blob([binaryBytes(4000)]), channel, sync: true });
    const cost = await client.storeClient.getCost(msg.item_hash);
    assert.equal(cost.payment_type, 'hold');
    assert.equal(cost.cost, '0.000000000000000000');
    assert.equal(Number(cost.required_tokens), 0);
  });

  it('storeClient.getEstimatedCost prices 300 MiB held at 0.333333333 ALEPH per MiB', { timeout: TEST_TIMEOUT }, async () => {
    const { account, client } = newClient(ETH);
    const cost = await client.storeClient.getEstimatedCost({
      account, channel, fileObject: new Blob([binaryBytes(100)]), estimated_size_mib: 300, payment: { chain: 'ETH', type: 'hold' },
    });
    assert.equal(cost.payment_type, 'hold');
    assert.equal(cost.cost, '99.999999900000000000');
    assert.equal(cost.required_tokens, 99.9999999);
    assert.equal(cost.detail[0].type, 'STORAGE');
  });

  // The SDK's programs ask for internet access, which doubles the price.
  it('programClient.getEstimatedCost prices an on-demand program with internet at 2 × 200 ALEPH', { timeout: TEST_TIMEOUT }, async () => {
    const { account, client } = newClient(ETH);
    const cost = await client.programClient.getEstimatedCost({
      account, channel, entrypoint: 'main:app', estimated_size_mib: 1, memory: 128, vcpus: 1,
    });
    assert.equal(cost.payment_type, 'hold');
    assert.equal(cost.cost, '400.000000000000000000');
    assert.equal(cost.required_tokens, 400);
    assert.equal(cost.detail[0].type, 'EXECUTION');
    assert.equal(cost.detail[0].cost_hold, '400.000000000000000000');
  });

  it('instanceClient.getEstimatedCost prices a 1-CU instance at 14,250 credits an hour', { timeout: TEST_TIMEOUT }, async () => {
    const { account, client } = newClient(ETH);
    const cost = await client.instanceClient.getEstimatedCost({
      account, channel, resources: { vcpus: 1, memory: 2048 }, rootfs: { size_mib: 20480 },
    });
    assert.equal(cost.payment_type, 'credit');
    // 14250 / 3600 per second, floored to 18 decimals.
    assert.equal(cost.cost, '3.958333333333333333');
    assert.equal(cost.detail[0].type, 'EXECUTION');
    assert.equal(cost.detail[0].cost_credit, '3.958333333333333333');
  });
});

describe('balances and credits of a funded address', { timeout: 4 * TEST_TIMEOUT }, () => {
  it('balance, credit_balance and its lots, credit_balances and costs after SDK posts of the trusted account', { timeout: 2 * TEST_TIMEOUT }, async () => {
    const key = process.env.ALEPH_COMPAT_TRUSTED_KEY;
    assert.ok(key, 'ALEPH_COMPAT_TRUSTED_KEY is not set: run through go test ./internal/compat');
    const trusted = new AuthenticatedAlephHttpClient(eth.importAccountFromPrivateKey(key), API_URL);
    const { account, client } = newClient(ETH);
    const addr = account.address;

    const update = await trusted.createPost({
      postType: 'balances-update', channel: uniqueChannel('BALANCES'), sync: true,
      content: { chain: 'ETH', main_height: 1, balances: { [addr]: 1234.5 } },
    });
    assert.equal((await messageStatus(update.item_hash)).status, 'processed');
    const expiry = Date.UTC(2030, 0, 1); // milliseconds, as the credit posts write it
    const dist = await trusted.createPost({
      postType: 'aleph_credit_distribution', channel: 'ALEPH_CREDIT', sync: true,
      content: {
        distribution: {
          token: 'ALEPH', chain: 'ETH', credits: [
            { address: addr, amount: 2000000, price: '0.000001', tx_hash: '0x01', provider: 'compat' },
            { address: addr, amount: 500, price: '0.000001', tx_hash: '0x02', provider: 'compat', expiration: expiry },
          ],
        },
      },
    });
    assert.equal((await messageStatus(dist.item_hash)).status, 'processed');

    // The funded address pays a STORE in credits; the trusted account
    // bills 1000 credits for it.
    const store = await client.createStore({
      fileObject: new Blob([binaryBytes(6000)]), channel: uniqueChannel('PRICES'), sync: true, payment: { chain: 'ETH', type: 'credit' },
    });
    const expense = await trusted.createPost({
      postType: 'aleph_credit_expense', channel: 'ALEPH_CREDIT', sync: true,
      content: { expense: { credits: [{ address: addr, amount: 1000, ref: store.item_hash }] } },
    });
    assert.equal((await messageStatus(expense.item_hash)).status, 'processed');

    const b = await getJSON(`/api/v0/addresses/${addr}/balance?include_credit_details=true`);
    assert.equal(b.address, addr);
    assert.equal(b.balance, 1234.5);
    assert.deepEqual(b.details, { ETH: 1234.5 });
    assert.equal(b.locked_amount, 0);
    // FIFO: the expense took its 1000 from the first lot.
    assert.equal(b.credit_balance, 1999500);
    assert.deepEqual(b.credit_balance_details, [
      { expiration_date: null, amount: 1999000 },
      { expiration_date: '2030-01-01T00:00:00Z', amount: 500 },
    ]);
    const plain = await getJSON(`/api/v0/addresses/${addr}/balance`);
    assert.equal(plain.credit_balance, 1999500);
    assert.equal(plain.credit_balance_details, null);

    const list = await getJSON('/api/v0/credit_balances?min_balance=1999500&pagination=0');
    assert.ok(list.credit_balances.some((c) => c.address === addr && c.credits === 1999500),
      `${addr} missing from ${JSON.stringify(list)}`);
    assert.equal(list.pagination_item, 'credit_balances');

    const costs = await getJSON(`/api/v0/costs?address=${addr}&include_details=1`);
    assert.equal(costs.summary.resource_count, 1);
    assert.equal(costs.summary.total_consumed_credits, 1000);
    assert.equal(costs.summary.total_cost_credit, STORE_CREDIT_PER_SECOND);
    assert.equal(costs.resources[0].item_hash, store.item_hash);
    assert.equal(costs.resources[0].consumed_credits, 1000);
    const price = await client.storeClient.getCost(store.item_hash);
    assert.equal(price.cost, costs.resources[0].cost_credit);
  });
});
