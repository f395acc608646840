// Builders shared by the RIB and policy unit tests: peers, UPDATEs, a RIB wired like the speaker wires it.
import type { PathAttributes, UpdateMessage, Nlri } from '../../../src/wire/types';
import { AttributeStore } from '../../../src/rib/attributes';
import { ribPeer, StandaloneRoute, type Route, type RibPeer, type RibPeerInit } from '../../../src/rib/route';
import { familyOfPrefix } from '../../../src/rib/family';

export function peer(id: string, init: Partial<RibPeerInit> = {}): RibPeer {
  return ribPeer({ id, kind: 'ibgp', asn: 65000, routerId: id, ...init });
}

export function v4Update(prefixes: string[], attrs: PathAttributes, withdrawn: string[] = []): UpdateMessage {
  const nlri: Nlri[] = prefixes.map((prefix) => ({ prefix }));
  return { type: 'update', withdrawn: withdrawn.map((prefix) => ({ prefix })), attributes: { ...attrs }, nlri };
}

export function v6Update(prefixes: string[], attrs: PathAttributes, nextHops: string[]): UpdateMessage {
  return {
    type: 'update',
    withdrawn: [],
    attributes: { ...attrs, mpReach: { afi: 2, safi: 1, nextHops, nlri: prefixes.map((prefix) => ({ prefix })) } },
    nlri: [],
  };
}

export function v6Withdraw(prefixes: string[]): UpdateMessage {
  return { type: 'update', withdrawn: [], attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn: prefixes.map((prefix) => ({ prefix })) } }, nlri: [] };
}

export const seq = (...asns: number[]) => [{ type: 2 as const, asns }];

const store = new AttributeStore();
/** A free-standing path for decision-process tests. */
export function path(p: RibPeer, attrs: PathAttributes, prefix = '10.0.0.0/24', pathId = 0): Route {
  const rec = store.intern({ origin: 0, asPath: [], nextHop: '192.0.2.1', ...attrs });
  return new StandaloneRoute(p, familyOfPrefix(prefix), prefix, pathId, rec, 0);
}
