// Keeps the RR convergence benchmark (bench/rr-convergence) honest and working: a miniature run of
// both scenarios with every reflector (BIRD 2, FRR, GoBGP, nexthop) and real BIRD clients must
// converge, measure the reflector's CPU and peak RSS, and leave no namespace behind. Also checks
// the harness's pure parts (BIRD control replies, addressing). RFC 4456 route reflection.
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import { isRoot, requireTool } from '../helpers/lab';
import { daemonAvailable } from '../helpers/daemons';
import { REFLECTOR_KINDS, clientAddress, clientPrefix, parseEstablished, parseNetworkCount } from '../../bench/rr-convergence/harness';
import { runConvergence, runJoin } from '../../bench/rr-convergence/run';

function ourNamespaces(): string[] {
  const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  return out.split('\n').map((l) => l.split(' ')[0]).filter((n) => n.startsWith(`nh${process.pid % 100000}rr`));
}

describe('interop: RR convergence benchmark harness', function () {
  this.timeout(90000);

  it('parses BIRD control replies and lays out addresses and prefixes without overlap', () => {
    expect(parseNetworkCount(['1007-12 of 13 routes for 11 networks in table master4', ' 0 of 0 routes for 0 networks in table master6', '0014 Total: 12 of 13 routes for 11 networks in 2 tables'])).to.equal(11);
    expect(() => parseNetworkCount(['8003 No such table'])).to.throw(/no route count/);
    expect(parseEstablished(['2002-Name       Proto      Table      State  Since         Info', '1002-up1        BGP        ---        up     12:00:00.000  Established', '0000 '])).to.equal(true);
    expect(parseEstablished(['1002-up1        BGP        ---        start  12:00:00.000  Active        Socket: Connection refused', '0000 '])).to.equal(false);
    expect(clientAddress(0)).to.equal('172.20.1.1');
    expect(clientAddress(249)).to.equal('172.20.1.250');
    expect(clientAddress(250)).to.equal('172.20.2.1');
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) for (let j = 0; j < 50; j++) seen.add(clientPrefix(i, j, 50));
    expect(seen.size).to.equal(10000);
    expect(() => clientPrefix(0, 65536, 1)).to.throw(/does not fit/);
  });

  for (const kind of REFLECTOR_KINDS) {
    it(`${kind}: 4 clients x 5 prefixes converge through the reflector, CPU and peak RSS measured`, async function () {
      if (!isRoot()) this.skip();
      if (kind !== 'nexthop') requireTool(this, `${kind} (daemon and CLI)`, daemonAvailable(kind));
      const r = await runConvergence(kind, 4, 5, 0, 40);
      expect(r.error, r.error).to.equal(undefined);
      expect(r.convergenceS).to.be.a('number').and.be.lessThan(40);
      expect(r.monitorS!).to.be.at.most(r.convergenceS!);
      expect(r.peakRssMiB).to.be.greaterThan(1);
      // RSS split as /proc/PID/status gives it: VmRSS = RssAnon + RssFile (+ RssShmem, ~0 here).
      for (const m of [r.rssAtZero!, r.rssDone!]) {
        expect(m.anon).to.be.greaterThan(0);
        expect(m.file).to.be.greaterThan(0);
        expect(m.anon + m.file).to.be.at.most(m.vmRss + 0.01).and.at.least(m.vmRss - 1);
      }
      expect(r.cpuS).to.be.at.least(0);
      expect(ourNamespaces()).to.deep.equal([]);
    });
  }

  it('nexthop: the join scenario measures every join (3 nodes, then 2 join)', async function () {
    if (!isRoot()) this.skip();
    const r = await runJoin('nexthop', 3, 2);
    expect(r.error, r.error).to.equal(undefined);
    expect(r.joinMs).to.have.length(2);
    for (const ms of r.joinMs) expect(ms).to.be.a('number').and.be.at.least(0).and.lessThan(30000);
    expect(r.p99Ms).to.be.a('number');
    expect(r.joinerTableMs.every((x) => typeof x === 'number')).to.equal(true);
    expect(ourNamespaces()).to.deep.equal([]);
  });
});
