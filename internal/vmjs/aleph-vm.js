// aleph-vm.js: call Aleph programs from a web page without a gateway.
//
// A dependency-free ES module, served by goaleph core nodes and gateways
// at /aleph-vm.js. It asks a core node which compute nodes run a program
// (their "executions" announcements) and sends the request to one of
// them, chosen at random, failing over to the next when one cannot be
// reached or answers 502, 503 or 504. A node that failed is tried last
// for a while.
//
//   import { Resolver } from "https://core.example.org/aleph-vm.js";
//   const aleph = new Resolver();             // asks the core node it came from
//   const res = await aleph.fetch(itemHash, "/api/items?page=1");
//
// The program must allow the page's origin (Access-Control-Allow-Origin)
// for the page to read its answers.

const defaultCoreURLs = /*cores*/[];

// A running announcement whose heartbeat is older than this is stale
// (three of the compute nodes' 10-minute heartbeats).
export const staleAfterSeconds = 30 * 60;

const idempotent = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);
const failoverStatus = new Set([502, 503, 504]);

function defaultCores() {
  if (defaultCoreURLs.length > 0) return defaultCoreURLs;
  return [new URL(import.meta.url).origin];
}

// executions lists the compute nodes of the core node at core that
// announce running the program hash with a fresh heartbeat:
// [{node, url, backend, since, seen}].
export async function executions(hash, { core = defaultCores()[0], fetch: f = globalThis.fetch.bind(globalThis), now = Date.now() } = {}) {
  const out = [];
  let cursor = "";
  for (let i = 0; i < 200; i++) {
    const q = new URLSearchParams({ keys: "executions", pagination: "500", cursor });
    const res = await f(`${core.replace(/\/+$/, "")}/api/v0/aggregates.json?${q}`);
    if (!res.ok) throw new Error(`${core}: ${res.status}`);
    const page = await res.json();
    for (const a of page.aggregates || []) {
      const e = a.content && a.content[hash];
      if (!e || e.status !== "running" || typeof e.url !== "string" || !e.url.endsWith("/vm/" + hash)) continue;
      if (now / 1000 - Math.max(e.seen || 0, e.since || 0) > staleAfterSeconds) continue;
      let u;
      try {
        u = new URL(e.url);
      } catch {
        continue;
      }
      if (u.protocol !== "http:" && u.protocol !== "https:") continue;
      out.push({ node: a.address, url: e.url, backend: e.backend, since: e.since, seen: e.seen });
    }
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return out;
}

export class Resolver {
  // cores: core node URLs, asked in turn (default: where this module
  // came from); ttl: how long a program's nodes are kept (ms); ejectFor:
  // how long a failed node is tried last (ms).
  constructor({ cores = defaultCores(), ttl = 10000, ejectFor = 30000, fetch: f } = {}) {
    this.cores = cores;
    this.ttl = ttl;
    this.ejectFor = ejectFor;
    this.fetchImpl = f || globalThis.fetch.bind(globalThis);
    this.cache = new Map(); // hash → {at, nodes}
    this.ejected = new Map(); // node URL → until (ms)
  }

  // nodes returns the compute nodes running hash.
  async nodes(hash) {
    const now = Date.now();
    const hit = this.cache.get(hash);
    if (hit && now - hit.at < this.ttl) return hit.nodes;
    const errors = [];
    for (const core of this.cores) {
      try {
        const nodes = await executions(hash, { core, fetch: this.fetchImpl, now });
        this.cache.set(hash, { at: now, nodes });
        return nodes;
      } catch (err) {
        errors.push(`${core}: ${err}`);
      }
    }
    if (hit) return hit.nodes; // every core node is down: the last answer
    throw new Error(`no core node answered: ${errors.join("; ")}`);
  }

  order(nodes) {
    const shuffled = nodes.slice();
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
    }
    const now = Date.now();
    const ok = [];
    const bad = [];
    for (const n of shuffled) {
      const until = this.ejected.get(n.url);
      if (until !== undefined && now < until) bad.push(n);
      else {
        this.ejected.delete(n.url);
        ok.push(n);
      }
    }
    return ok.concat(bad);
  }

  // fetch sends a request to the program hash at path (under the
  // program's root, with its query), with fetch's init. Idempotent
  // requests (GET, HEAD, OPTIONS, PUT, DELETE) fail over on a network
  // error or a 502, 503 or 504; a body must then be replayable (a string,
  // Blob, FormData…, not a stream).
  async fetch(hash, path = "/", init = {}) {
    const nodes = await this.nodes(hash);
    if (nodes.length === 0) throw new Error(`no compute node announces running ${hash}`);
    if (!path.startsWith("/")) path = "/" + path;
    const retry = idempotent.has((init.method || "GET").toUpperCase());
    const order = this.order(nodes);
    let lastError;
    for (let i = 0; i < order.length; i++) {
      const n = order[i];
      let res;
      try {
        res = await this.fetchImpl(n.url + path, init);
      } catch (err) {
        if (init.signal && init.signal.aborted) throw err;
        this.ejected.set(n.url, Date.now() + this.ejectFor);
        lastError = err;
        if (retry) continue;
        throw err;
      }
      if (failoverStatus.has(res.status)) {
        this.ejected.set(n.url, Date.now() + this.ejectFor);
        if (retry && i < order.length - 1) {
          lastError = new Error(`${n.url}: ${res.status}`);
          continue;
        }
      }
      return res;
    }
    throw new Error(`no compute node running ${hash} answered: ${lastError}`);
  }
}
