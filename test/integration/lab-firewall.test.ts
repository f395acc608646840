// Firewall rules in a real namespace (src/dataplane/firewall.ts), both backends: nftables (our
// `table inet nexthop`, replaced atomically, read back and verified) and the iptables fallback
// (NEXTHOP-FORWARD / NEXTHOP-POSTROUTING with one jump each). Apply is idempotent and repairs
// drift; teardown removes exactly ours and leaves other tables, chains and rules alone.
import { expect } from 'chai';
import { Lab, isRoot, nsExec } from '../helpers/lab';
import { netnsRunner } from '../../src/dataplane/exec';
import { Firewall, FirewallError } from '../../src/dataplane/firewall';

const input = {
  pools: [{ cidr: '10.246.0.0/16', natOutgoing: true }, { cidr: 'fd00:246::/48', natOutgoing: true }],
  otherBlocks: ['10.246.2.0/24', '172.21.0.0/24'],
};

describe('lab: firewall rules, nft and iptables (integration)', function () {
  this.timeout(60000);
  const lab = new Lab('fw');
  let ns = '';

  before(function () {
    if (!isRoot()) return this.skip();
    ns = lab.netns('fw');
  });
  after(() => lab.destroy());

  describe('nftables', () => {
    it('apply creates table inet nexthop with forward accept and masquerade, verified by read-back', async () => {
      nsExec(ns, 'nft', ['add', 'table', 'ip', 'someone-else']);
      nsExec(ns, 'nft', ['add', 'chain', 'ip', 'someone-else', 'c', '{ type filter hook forward priority 10; }']);
      nsExec(ns, 'nft', ['add', 'rule', 'ip', 'someone-else', 'c', 'counter']);
      const fw = new Firewall({ run: netnsRunner(ns), backend: 'nft' });
      await fw.apply(input);
      const table = nsExec(ns, 'nft', ['list', 'table', 'inet', 'nexthop']);
      expect(table).to.contain('ip saddr @pools-v4 counter packets 0 bytes 0 accept');
      expect(table).to.contain('ip6 saddr @masq-from-v6 ip6 daddr != @no-masq-to-v6 counter packets 0 bytes 0 masquerade');
      expect(table).to.match(/set no-masq-to-v4 \{[^}]*elements = \{ 10\.246\.0\.0\/16, 172\.21\.0\.0\/24,/);
    });

    it('apply again is a no-op in effect (same rules), and repairs a rule someone deleted', async () => {
      const fw = new Firewall({ run: netnsRunner(ns), backend: 'nft' });
      const before = nsExec(ns, 'nft', ['list', 'table', 'inet', 'nexthop']);
      await fw.apply(input);
      expect(nsExec(ns, 'nft', ['list', 'table', 'inet', 'nexthop'])).to.equal(before);
      nsExec(ns, 'nft', ['flush', 'chain', 'inet', 'nexthop', 'postrouting']);
      expect((await fw.readNft()).chains.postrouting.rules).to.equal(0);
      await fw.apply(input);
      expect((await fw.readNft()).chains.postrouting.rules).to.equal(2);
    });

    it('teardown removes table inet nexthop only; teardown twice is fine', async () => {
      const fw = new Firewall({ run: netnsRunner(ns), backend: 'nft' });
      await fw.teardown();
      await fw.teardown();
      const tables = nsExec(ns, 'nft', ['list', 'tables']);
      expect(tables).to.not.contain('nexthop');
      expect(tables).to.contain('table ip someone-else');
      expect(nsExec(ns, 'nft', ['list', 'chain', 'ip', 'someone-else', 'c'])).to.contain('counter');
    });

    it('a backend that is not installed is a precise error', async () => {
      const fw = new Firewall({ run: (cmd, args, inp) => netnsRunner(ns)(cmd === 'nft' || cmd.startsWith('iptables') || cmd.startsWith('ip6tables') ? `${cmd}-absent` : cmd, args, inp) });
      let err: unknown;
      try { await fw.apply(input); } catch (e) { err = e; }
      expect(err).to.be.instanceOf(FirewallError);
      expect((err as FirewallError).code).to.equal('FIREWALL_NO_BACKEND');
    });
  });

  describe('iptables fallback', () => {
    it('apply loads our chains and one jump each; other rules stay', async () => {
      nsExec(ns, 'iptables', ['-A', 'FORWARD', '-s', '192.0.2.0/24', '-j', 'DROP']);
      const fw = new Firewall({ run: netnsRunner(ns), backend: 'iptables' });
      await fw.apply(input);
      const fwd = nsExec(ns, 'iptables', ['-S', 'FORWARD']);
      expect(fwd.split('\n')[1]).to.equal('-A FORWARD -m comment --comment nexthop -j NEXTHOP-FORWARD');
      expect(fwd).to.contain('-A FORWARD -s 192.0.2.0/24 -j DROP');
      expect(nsExec(ns, 'iptables', ['-S', 'NEXTHOP-FORWARD'])).to.contain('-A NEXTHOP-FORWARD -s 10.246.0.0/16 -m comment --comment "from pod pools" -j ACCEPT');
      const nat = nsExec(ns, 'iptables', ['-t', 'nat', '-S', 'NEXTHOP-POSTROUTING']);
      expect(nat).to.contain('-A NEXTHOP-POSTROUTING -s 10.246.0.0/16 -m comment --comment natOutgoing -j MASQUERADE');
      expect(nsExec(ns, 'iptables', ['-t', 'nat', '-S', 'POSTROUTING'])).to.contain('-j NEXTHOP-POSTROUTING');
      expect(nsExec(ns, 'ip6tables', ['-t', 'nat', '-S', 'NEXTHOP-POSTROUTING'])).to.contain('-s fd00:246::/48');
    });

    it('apply twice keeps one jump and the same rules', async () => {
      const fw = new Firewall({ run: netnsRunner(ns), backend: 'iptables' });
      const before = nsExec(ns, 'iptables-save', []).replace(/^#.*$/gm, '').replace(/\[\d+:\d+\]/g, '');
      await fw.apply(input);
      const after = nsExec(ns, 'iptables-save', []).replace(/^#.*$/gm, '').replace(/\[\d+:\d+\]/g, '');
      expect(after).to.equal(before);
      expect(nsExec(ns, 'iptables', ['-S', 'FORWARD']).match(/NEXTHOP-FORWARD/g)).to.have.length(1);
    });

    it('teardown removes our jumps and chains only', async () => {
      const fw = new Firewall({ run: netnsRunner(ns), backend: 'iptables' });
      await fw.teardown();
      await fw.teardown();
      for (const tool of ['iptables', 'ip6tables']) {
        const save = nsExec(ns, `${tool}-save`, []);
        expect(save).to.not.contain('NEXTHOP');
      }
      expect(nsExec(ns, 'iptables', ['-S', 'FORWARD'])).to.contain('-A FORWARD -s 192.0.2.0/24 -j DROP');
    });
  });
});
