// Shared helpers for the SDK compatibility tests. The node under test is
// given by ALEPH_API_URL (http://host:port) and ALEPH_WS_URL (ws://host:port);
// internal/compat starts one and sets both.
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';

import { AuthenticatedAlephHttpClient, AlephHttpClient } from '@aleph-sdk/client';
import * as eth from '@aleph-sdk/ethereum';
import * as sol from '@aleph-sdk/solana';
import { broadcast, buildMessage, ItemType, prepareAlephMessage } from '@aleph-sdk/message';

if (!process.env.ALEPH_API_URL) {
  throw new Error('ALEPH_API_URL is not set: run these tests through `go test ./internal/compat` (or `make test`)');
}

/** Base URL of the node's HTTP API, without a trailing slash. */
export const API_URL = process.env.ALEPH_API_URL.replace(/\/+$/, '');
/** Base URL of the node's WebSocket API. */
export const WS_URL = (process.env.ALEPH_WS_URL ?? API_URL.replace(/^http/, 'ws')).replace(/\/+$/, '');

/** Time budget of one test that talks to the node. */
export const TEST_TIMEOUT = 60_000;

/**
 * The account types under test. Every scenario runs once per kind, each time
 * with fresh accounts, so that counts filtered by address are exact even
 * though the test files run concurrently against one node.
 */
export const KINDS = [
  { name: 'ETH', chain: 'ETH', newAccount: () => eth.newAccount().account },
  { name: 'SOL', chain: 'SOL', newAccount: () => sol.newAccount().account },
];

/** A fresh writing client for a fresh account of the given kind. */
export function newClient(kind) {
  const account = kind.newAccount();
  return { account, client: new AuthenticatedAlephHttpClient(account, API_URL) };
}

/** A read-only client. */
export function readClient() {
  return new AlephHttpClient(API_URL);
}

/** A channel name no other test uses. */
export function uniqueChannel(prefix = 'COMPAT') {
  return `${prefix}-${randomUUID()}`;
}

/** Lower-case hex sha256 of a string or bytes. */
export function sha256hex(data) {
  return createHash('sha256').update(data).digest('hex');
}

/** An item hash that no message has. */
export function randomHash() {
  return randomBytes(32).toString('hex');
}

/** Binary test bytes: every byte value, then random bytes. */
export function binaryBytes(extra = 1000) {
  const all = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) all[i] = i;
  return Buffer.concat([all, randomBytes(extra)]);
}

/**
 * Raw HTTP request to the node, for what the SDK does not expose (it hides
 * statuses and points some calls at the public network). Returns
 * { status, headers, body } where body is parsed JSON when it parses.
 */
export async function api(path, init = {}) {
  const res = await fetch(API_URL + path, init);
  const text = await res.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body };
}

/** GET /api/v0/messages/{hash}, asserting a 200. */
export async function messageStatus(hash) {
  const r = await api(`/api/v0/messages/${hash}`);
  assert.equal(r.status, 200, `GET /api/v0/messages/${hash} → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/**
 * Polls fn until it returns a truthy value, and returns it. Fails with what
 * the last call returned (or threw) once timeoutMs is over.
 */
export async function waitFor(what, fn, { timeoutMs = 20_000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const shown = last instanceof Error ? `${last.name}: ${last.message}` : JSON.stringify(last);
      assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${shown}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Waits until GET /api/v0/messages/{hash} reports the given status. */
export async function waitForStatus(hash, status, opts) {
  return waitFor(`message ${hash} to be ${status}`, async () => {
    const r = await api(`/api/v0/messages/${hash}`);
    return r.status === 200 && r.body.status === status ? r.body : false;
  }, opts);
}

/** Asserts that a string is an ISO 8601 date. */
export function assertISODate(value, what) {
  assert.equal(typeof value, 'string', `${what} should be an ISO date string, got ${JSON.stringify(value)}`);
  assert.match(value, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/, `${what} should be ISO 8601, got ${value}`);
  assert.ok(!Number.isNaN(Date.parse(value)), `${what} does not parse: ${value}`);
}

/**
 * Checks that a message returned by a read endpoint is the one the SDK sent:
 * same envelope fields, the same item_content string, and its parsed content.
 */
export function assertSameMessage(got, sent, what = 'message') {
  for (const k of ['item_hash', 'type', 'chain', 'sender', 'signature', 'item_type']) {
    assert.equal(got[k], sent[k], `${what}.${k}`);
  }
  assert.equal(got.channel ?? null, sent.channel ?? null, `${what}.channel`);
  if (sent.item_content !== undefined) {
    assert.equal(got.item_content, sent.item_content, `${what}.item_content must be the exact string signed`);
    assert.deepEqual(got.content, JSON.parse(sent.item_content), `${what}.content`);
  }
  assert.equal(typeof got.time, 'number', `${what}.time should be a float, got ${JSON.stringify(got.time)}`);
  assert.ok(Math.abs(got.time - sent.time) < 0.001, `${what}.time ${got.time} != ${sent.time}`);
}

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

function base58(bytes) {
  let n = BigInt('0x' + (Buffer.from(bytes).toString('hex') || '0'));
  let out = '';
  while (n > 0n) {
    out = B58[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = '1' + out;
  }
  return out;
}

function varint(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
}

/**
 * The CIDv0 that IPFS (kubo's defaults) gives a file of at most one chunk
 * (256 KiB): a dag-pb node holding a UnixFS File with the bytes inline.
 * Computed here independently of the node so that the CID the node returns
 * from /api/v0/ipfs/add_file is checked, not trusted.
 */
export function cidV0(data) {
  if (data.length > 256 * 1024) throw new Error('cidV0: only single-chunk files are supported');
  const parts = [Buffer.from([0x08, 0x02])]; // Type = File
  if (data.length > 0) parts.push(Buffer.from([0x12]), varint(data.length), data); // Data
  parts.push(Buffer.from([0x18]), varint(data.length)); // filesize
  const unixfs = Buffer.concat(parts);
  const pbNode = Buffer.concat([Buffer.from([0x0a]), varint(unixfs.length), unixfs]); // PBNode.Data
  const digest = createHash('sha256').update(pbNode).digest();
  return base58(Buffer.concat([Buffer.from([0x12, 0x20]), digest]));
}

/**
 * Builds and hashes a message with the SDK's own low-level functions, for
 * cases the high-level client cannot produce or whose hash a test needs
 * before the send throws. content must carry its own time.
 */
export async function prepareMessage(account, type, content, { channel, storageEngine = ItemType.inline } = {}) {
  const built = buildMessage({ account, channel, timestamp: content.time, storageEngine, content }, type);
  return prepareAlephMessage({ message: built, apiServer: API_URL });
}

/** Signs and sends a prepared message; returns { message, status, response }. */
export function sendMessage(account, prepared, sync) {
  return broadcast({ message: prepared, account, apiServer: API_URL, sync });
}

/** The current time as the SDK writes it (seconds, millisecond precision). */
export function now() {
  return Date.now() / 1000;
}
