// The speaker's pure configuration mapping: peer roles to iBGP/eBGP and RFC 4456 client flags,
// the DESIGN.md cluster import rule, export profiles (RFC 4271 §5.1.3 next hops), the RFC 4724
// capability (R and F bits only while restarting), and which changes need a session reset.
import { expect } from 'chai';
import {
  changeableInPlace, classifyPeerChange, exportProfile, importRule, ribPeerInit, sessionConfig, validatePeerConfig, validateSpeakerConfig,
} from '../../../src/speaker/config';
import { SpeakerConfigError, type PeerConfig, type SpeakerConfig } from '../../../src/speaker/types';

const S: SpeakerConfig = { localAs: 64512, routerId: '10.0.0.1', pools: ['10.244.0.0/16'], nextHopIPv4: '10.0.0.1', clusterId: '10.0.0.1' };
const P: PeerConfig = { name: 'node/b/v4', address: '10.0.0.2', peerAs: 64512, type: 'mesh' };

describe('speaker/config', () => {
  it('maps roles: mesh same AS is iBGP with the node next-hop rule; rr-client is an RFC 4456 client; other AS is eBGP', () => {
    expect(ribPeerInit(S, P)).to.deep.include({ kind: 'ibgp', rrClient: false, nodeAddresses: ['10.0.0.2'] });
    expect(importRule(P)).to.deep.equal({ kind: 'cluster', nodeAddresses: ['10.0.0.2'] });
    expect(ribPeerInit(S, { ...P, type: 'rr-client' }).rrClient).to.equal(true);
    expect(importRule({ ...P, type: 'rr-server' })).to.deep.equal({ kind: 'cluster' });
    expect(ribPeerInit(S, { ...P, peerAs: 65001, type: 'external' }).kind).to.equal('ebgp');
    expect(importRule({ ...P, type: 'external' })).to.deep.equal({ kind: 'accept-all' });
    // An eBGP "client" is not a reflection client (RFC 4456 applies inside one AS).
    expect(ribPeerInit(S, { ...P, peerAs: 65001, type: 'rr-client' }).rrClient).to.equal(false);
  });

  it('export profile: configured node addresses first, else the session local address of the family', () => {
    expect(exportProfile(S, P, '10.9.9.9')).to.deep.include({ nextHopIPv4: '10.0.0.1', nextHopIPv6: undefined, clusterId: '10.0.0.1', peerKind: 'ibgp' });
    const noNh: SpeakerConfig = { ...S, nextHopIPv4: undefined };
    expect(exportProfile(noNh, P, '10.9.9.9').nextHopIPv4).to.equal('10.9.9.9');
    expect(exportProfile(noNh, { ...P, address: 'fd00::2' }, 'fd00::1').nextHopIPv6).to.equal('fd00::1');
    expect(exportProfile(S, { ...P, peerAs: 65001, type: 'external', keepOriginalNextHop: true }, null)).to.deep.include({ peerKind: 'ebgp', keepOriginalNextHop: true });
  });

  it('advertises graceful restart by default; R bit only while restarting, F bits as configured (RFC 4724 §3)', () => {
    const normal = sessionConfig(S, { ...P, families: ['ipv4-unicast', 'ipv6-unicast'] }, false);
    expect(normal.gracefulRestart).to.deep.equal({ restartTime: 120, restarting: false, notification: true, forwardingPreserved: [] });
    const R: SpeakerConfig = { ...S, gracefulRestart: { restarting: true } };
    const restarting = sessionConfig(R, { ...P, families: ['ipv4-unicast', 'ipv6-unicast'] }, true);
    expect(restarting.gracefulRestart!.restarting).to.equal(true);
    expect(restarting.gracefulRestart!.forwardingPreserved).to.deep.equal(['ipv4-unicast', 'ipv6-unicast']);
    // Selection deferral over: no R bit for later sessions, the F bits stay.
    const after = sessionConfig(R, { ...P, families: ['ipv4-unicast', 'ipv6-unicast'] }, false);
    expect(after.gracefulRestart!.restarting).to.equal(false);
    expect(after.gracefulRestart!.forwardingPreserved).to.deep.equal(['ipv4-unicast', 'ipv6-unicast']);
    expect(sessionConfig({ ...S, gracefulRestart: { enabled: false } }, P, false).gracefulRestart).to.equal(undefined);
    expect(sessionConfig(S, { ...P, address: 'fd00::2' }, false).families).to.deep.equal(['ipv6-unicast']);
  });

  it('applies import-only changes in place; anything else resets', () => {
    expect(changeableInPlace(P, { ...P, maxPrefix: { limit: 5, action: 'warn' } })).to.equal(true);
    expect(changeableInPlace(P, { ...P, importRule: { kind: 'accept-all' } })).to.equal(true);
    expect(changeableInPlace(P, { ...P, password: 'x' })).to.equal(false);
    expect(changeableInPlace(P, { ...P, holdTime: 30 })).to.equal(false);
  });

  it('classifies changes: local policy in place, OPEN/TCP settings a graceful reset, AS/address/GR a hard reset', () => {
    const c = (next: Partial<PeerConfig>) => classifyPeerChange(P, { ...P, ...next });
    expect(c({})).to.equal('none');
    expect(c({ port: undefined })).to.equal('none'); // absent and undefined are the same
    expect(c({ address: '10.0.0.02'.replace('.02', '.2') })).to.equal('none');
    // RFC 4456 §6: client status is local export policy.
    for (const next of [{ type: 'rr-client' as const }, { keepOriginalNextHop: true }, { nextHopSelf: true }, { exportPrefixes: ['10.244.0.0/16'] },
      { importRule: { kind: 'prefix-list' as const, prefixes: ['10.244.0.0/16'] } }, { maxPrefix: { limit: 5, action: 'warn' as const } },
      { importLocalPref: 200 }, { maxRestartTime: 10 }, { nodeAddresses: ['10.0.0.9'] }]) {
      expect(c(next), JSON.stringify(next)).to.equal('in-place');
    }
    // Nested values count (a prefix list that differs only inside).
    const pl = { ...P, importRule: { kind: 'prefix-list' as const, prefixes: ['10.244.0.0/16'] } };
    expect(classifyPeerChange(pl, { ...pl, importRule: { kind: 'prefix-list', prefixes: ['10.245.0.0/16'] } })).to.equal('in-place');
    for (const next of [{ password: 'x' }, { holdTime: 30 }, { ttlSecurity: 1 }, { port: 1179 }, { families: ['ipv4-unicast' as const, 'ipv6-unicast' as const] },
      { sourceAddress: '10.0.0.1' }, { enhancedRouteRefresh: true }]) {
      expect(c(next), JSON.stringify(next)).to.equal('graceful-reset');
    }
    for (const next of [{ peerAs: 65001 }, { localAs: 65002 }, { address: '10.0.0.3' }, { gracefulRestart: false }]) {
      expect(c(next), JSON.stringify(next)).to.equal('hard-reset');
    }
    expect(c({ type: 'rr-client', peerAs: 65001 })).to.equal('hard-reset');
    expect(c({ type: 'rr-client', password: 'x' })).to.equal('graceful-reset');
  });

  it('names the bad field', () => {
    const bad = (f: () => void, re: RegExp) => expect(f).to.throw(SpeakerConfigError, re);
    bad(() => validateSpeakerConfig({ ...S, localAs: 0 }), /localAs/);
    bad(() => validateSpeakerConfig({ ...S, nextHopIPv6: '10.0.0.1' }), /nextHopIPv6/);
    bad(() => validateSpeakerConfig({ ...S, gracefulRestart: { restartTime: 5000 } }), /restartTime.*4095/);
    bad(() => validateSpeakerConfig({ ...S, clusterId: 'rr1' }), /clusterId/);
    bad(() => validatePeerConfig({ ...P, type: 'ibgp' as never }), /peer node\/b\/v4: type/);
    bad(() => validatePeerConfig({ ...P, families: ['l2vpn-evpn'] }), /families/);
    bad(() => validatePeerConfig({ ...P, maxPrefix: { limit: -1, action: 'warn' } }), /maxPrefix.limit/);
    bad(() => validatePeerConfig({ ...P, password: 'k'.repeat(81) }), /password/);
    bad(() => validatePeerConfig({ ...P, ttlSecurity: 0 }), /ttlSecurity/);
  });
});
