// Signs the messages described in the JSON file CROSS_SIGN names with the
// official JavaScript SDKs, importing each case's key, and prints what they
// produced as one JSON line: {"signatures":[{kind, sdk, address, signature}]}.
// internal/compat's TestSameSignatures writes the cases (messages the Go
// client signed and the node processed) and compares.
import { readFileSync } from 'node:fs';

import * as avalanche from '@aleph-sdk/avalanche';
import * as cosmos from '@aleph-sdk/cosmos';
import * as nuls2 from '@aleph-sdk/nuls2';
import * as substrate from '@aleph-sdk/substrate';
import * as tezos from '@aleph-sdk/tezos';
import aleph from 'aleph-js';

/** The SDK account of a case, by kind and SDK. */
const IMPORT = {
  '@aleph-sdk/nuls2 NULS2': (c) => nuls2.importAccountFromPrivateKey(c.secret),
  '@aleph-sdk/cosmos CSDK': (c) => cosmos.importAccountFromMnemonic(c.secret),
  '@aleph-sdk/avalanche AVAX': (c) => avalanche.importAccountFromPrivateKey(c.secret, avalanche.ChainType.X_CHAIN),
  '@aleph-sdk/tezos TEZOS': (c) => tezos.importAccountFromPrivateKey(c.secret),
  '@aleph-sdk/substrate DOT': (c) => substrate.importAccountFromMnemonic(c.secret),
  'aleph-js NULS2': (c) => aleph.nuls2.import_account({ private_key: c.secret }),
  'aleph-js CSDK': (c) => aleph.cosmos.import_account({ mnemonics: c.secret }),
  'aleph-js AVAX': (c) => aleph.avalanche.import_account({ private_key: c.secret }),
  'aleph-js DOT': (c) => aleph.substrate.import_account({ mnemonics: c.secret }),
};

/** The message as the SDKs' sign functions take it. */
function signable(m) {
  return {
    ...m,
    getVerificationBuffer: () => Buffer.from(`${m.chain}\n${m.sender}\n${m.type}\n${m.item_hash}`),
  };
}

async function sign(c) {
  const make = IMPORT[`${c.sdk} ${c.kind}`];
  if (!make) throw new Error(`no import for ${c.sdk} ${c.kind}`);
  const account = await make(c);
  const msg = signable(c.message);
  let signature;
  if (c.sdk === 'aleph-js') {
    const mod = { NULS2: aleph.nuls2, CSDK: aleph.cosmos, AVAX: aleph.avalanche, DOT: aleph.substrate }[c.kind];
    // aleph-js logs while it signs AVAX messages; stdout carries the result.
    const log = console.log;
    console.log = () => {};
    try {
      signature = (await mod.sign(c.kind === 'NULS2' ? account.private_key : account, msg)).signature;
    } finally {
      console.log = log;
    }
  } else {
    signature = await account.sign(msg);
  }
  return { kind: c.kind, sdk: c.sdk, address: account.address, signature };
}

const { cases } = JSON.parse(readFileSync(process.env.CROSS_SIGN, 'utf8'));
const signatures = [];
for (const c of cases) signatures.push(await sign(c));
process.stdout.write(JSON.stringify({ signatures }) + '\n');
