// Firewall rule computation and rendering (src/dataplane/firewall.ts): which networks are
// accepted, masqueraded (RFC 3022) or exempt, the nft script, the nft JSON read-back and diff,
// and the iptables-restore fallback. The kernel side runs in test/integration/lab-firewall.
import { expect } from 'chai';
import {
  FirewallError, coverNetworks, diffNftState, expectedNftState, firewallRules, parseNftTable, renderIptablesRestore,
  renderNftScript, renderNftTeardown,
} from '../../../src/dataplane/firewall';
import { parseCidr } from '../../../src/lib/ip';

const input = {
  pools: [
    { cidr: '10.244.0.0/16', natOutgoing: true },
    { cidr: '10.96.0.0/16' },
    { cidr: '10.50.0.0/16', natOutgoing: true, disabled: true },
    { cidr: 'fd00:244::/48', natOutgoing: true },
  ],
  otherBlocks: ['10.244.2.0/24', '172.20.3.0/24', 'fd00:244:0:2::/64'],
};

describe('dataplane/firewall', () => {
  it('forward: enabled pools; masquerade: enabled natOutgoing pools; exempt: every pool and other blocks', () => {
    const r = firewallRules(input);
    expect(r.forward).to.deep.equal({ 4: ['10.244.0.0/16', '10.96.0.0/16'], 6: ['fd00:244::/48'] });
    expect(r.masqueradeFrom).to.deep.equal({ 4: ['10.244.0.0/16'], 6: ['fd00:244::/48'] });
    // 10.244.2.0/24 lies in a pool already; 172.20.3.0/24 (a pinned podCIDR outside pools) does not.
    expect(r.noMasqueradeTo).to.deep.equal({
      4: ['10.244.0.0/16', '10.50.0.0/16', '10.96.0.0/16', '172.20.3.0/24', '224.0.0.0/4', '255.255.255.255/32'],
      6: ['fd00:244::/48', 'ff00::/8'],
    });
  });

  it('coverNetworks drops contained networks whatever the order', () => {
    const cidrs = ['10.1.2.0/24', '10.0.0.0/8', '10.1.0.0/16', '192.168.0.0/16', '192.168.1.0/24'].map((t) => parseCidr(t)!);
    expect(coverNetworks(cidrs)).to.deep.equal(['10.0.0.0/8', '192.168.0.0/16']);
    expect(coverNetworks([...cidrs].reverse())).to.deep.equal(['10.0.0.0/8', '192.168.0.0/16']);
  });

  it('a bad network is an input error naming the field', () => {
    expect(() => firewallRules({ pools: [{ cidr: '10.244.0.1/16' }], otherBlocks: [] })).to.throw(FirewallError, /pools\[\]\.cidr: '10\.244\.0\.1\/16'/);
    expect(() => firewallRules({ pools: [], otherBlocks: ['x'] })).to.throw(FirewallError, /otherBlocks/);
  });

  it('the nft script replaces only table inet nexthop, in one transaction', () => {
    const script = renderNftScript(firewallRules(input));
    const lines = script.split('\n');
    expect(lines.slice(0, 3)).to.deep.equal(['table inet nexthop', 'delete table inet nexthop', 'table inet nexthop {']);
    expect(script).to.not.match(/flush ruleset|table ip filter|table ip nat/);
    expect(script).to.contain('type filter hook forward priority filter; policy accept;');
    expect(script).to.contain('type nat hook postrouting priority srcnat; policy accept;');
    expect(script).to.contain('elements = { 10.244.0.0/16, 10.50.0.0/16, 10.96.0.0/16, 172.20.3.0/24, 224.0.0.0/4, 255.255.255.255/32 }');
    expect(script).to.contain('ip saddr @masq-from-v4 ip daddr != @no-masq-to-v4 counter masquerade');
    expect(script).to.contain('ip6 saddr @masq-from-v6 ip6 daddr != @no-masq-to-v6 counter masquerade');
    expect(renderNftTeardown()).to.equal('table inet nexthop\ndelete table inet nexthop\n');
  });

  it('no natOutgoing pool: no masquerade rule; empty sets carry no elements line', () => {
    const script = renderNftScript(firewallRules({ pools: [{ cidr: '10.244.0.0/16' }], otherBlocks: [] }));
    expect(script).to.not.contain('masquerade');
    expect(script).to.match(/set masq-from-v4 \{\n {4}type ipv4_addr\n {4}flags interval\n {2}\}/);
  });

  it('parses nft -j output and diffs it against what the rules should produce', () => {
    const rules = firewallRules({ pools: [{ cidr: '10.244.0.0/16', natOutgoing: true }], otherBlocks: ['172.20.3.0/24'] });
    // Shape of `nft -j list table inet nexthop` (nftables 1.0.6), trimmed to what we read.
    const json = JSON.stringify({ nftables: [
      { metainfo: { version: '1.0.6' } },
      { table: { family: 'inet', name: 'nexthop' } },
      { set: { name: 'pools-v4', elem: [{ prefix: { addr: '10.244.0.0', len: 16 } }] } },
      { set: { name: 'masq-from-v4', elem: [{ prefix: { addr: '10.244.0.0', len: 16 } }] } },
      { set: { name: 'no-masq-to-v4', elem: [{ prefix: { addr: '172.20.3.0', len: 24 } }, { prefix: { addr: '10.244.0.0', len: 16 } }, { prefix: { addr: '224.0.0.0', len: 4 } }, '255.255.255.255'] } },
      { set: { name: 'pools-v6' } }, { set: { name: 'masq-from-v6' } }, { set: { name: 'no-masq-to-v6', elem: [{ prefix: { addr: 'ff00::', len: 8 } }] } },
      { chain: { name: 'forward', hook: 'forward' } },
      { chain: { name: 'postrouting', hook: 'postrouting' } },
      { rule: { chain: 'forward' } }, { rule: { chain: 'forward' } }, { rule: { chain: 'postrouting' } },
    ] });
    const have = parseNftTable(json);
    expect(diffNftState(expectedNftState(rules), have)).to.deep.equal([]);
    have.sets['no-masq-to-v4'] = ['10.244.0.0/16'];
    delete have.chains.postrouting;
    expect(diffNftState(expectedNftState(rules), have)).to.deep.equal([
      'set no-masq-to-v4 holds [10.244.0.0/16], want [10.244.0.0/16, 172.20.3.0/24, 224.0.0.0/4, 255.255.255.255/32]',
      'chain postrouting missing',
    ]);
    expect(() => parseNftTable('not json')).to.throw(FirewallError, /not JSON/);
  });

  it('iptables fallback: our chains only, RETURN for exempt destinations before MASQUERADE', () => {
    const text = renderIptablesRestore(firewallRules(input), 4);
    expect(text.split('\n')).to.deep.equal([
      '*filter',
      ':NEXTHOP-FORWARD - [0:0]',
      '-A NEXTHOP-FORWARD -s 10.244.0.0/16 -m comment --comment "from pod pools" -j ACCEPT',
      '-A NEXTHOP-FORWARD -d 10.244.0.0/16 -m comment --comment "to pod pools" -j ACCEPT',
      '-A NEXTHOP-FORWARD -s 10.96.0.0/16 -m comment --comment "from pod pools" -j ACCEPT',
      '-A NEXTHOP-FORWARD -d 10.96.0.0/16 -m comment --comment "to pod pools" -j ACCEPT',
      'COMMIT',
      '*nat',
      ':NEXTHOP-POSTROUTING - [0:0]',
      '-A NEXTHOP-POSTROUTING -d 10.244.0.0/16 -m comment --comment "not masqueraded" -j RETURN',
      '-A NEXTHOP-POSTROUTING -d 10.50.0.0/16 -m comment --comment "not masqueraded" -j RETURN',
      '-A NEXTHOP-POSTROUTING -d 10.96.0.0/16 -m comment --comment "not masqueraded" -j RETURN',
      '-A NEXTHOP-POSTROUTING -d 172.20.3.0/24 -m comment --comment "not masqueraded" -j RETURN',
      '-A NEXTHOP-POSTROUTING -d 224.0.0.0/4 -m comment --comment "not masqueraded" -j RETURN',
      '-A NEXTHOP-POSTROUTING -d 255.255.255.255/32 -m comment --comment "not masqueraded" -j RETURN',
      '-A NEXTHOP-POSTROUTING -s 10.244.0.0/16 -m comment --comment "natOutgoing" -j MASQUERADE',
      'COMMIT',
      '',
    ]);
  });
});
