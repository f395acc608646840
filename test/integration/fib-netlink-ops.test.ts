// Integration tests of the rtnetlink socket layer in namespaces (Lab): openNetlinkIn's namespace
// safety, batched requests with per-request errors mapped back by sequence number, dumps across
// many recv buffers, the multicast monitor, and the typed link/address/neighbour/FDB operations
// the tunnel code builds on (vxlan device, ipip encoding refused by this kernel). Needs root.
import { expect } from 'chai';
import * as fs from 'fs';
import { execFileSync, spawnSync } from 'child_process';
import { Lab, isRoot, nsExec } from '../helpers/lab';
import { NetlinkError, NetlinkMonitor, NetlinkRequest, NetnsError, openNetlinkIn } from '../../src/dataplane/netlink/socket';
import * as rtnl from '../../src/dataplane/netlink/rtnl';
import * as C from '../../src/dataplane/netlink/constants';
import { encodeRoute, encodeRouteInto, RouteMsg, NetlinkMessage } from '../../src/dataplane/netlink/codec';
import { formatIP, parseIP } from '../../src/lib/ip';

const ip = (s: string): Uint8Array => parseIP(s)!;
const nsIno = (): number => fs.statSync('/proc/thread-self/ns/net').ino;

function route(dst: string, gw: string, oif?: number): RouteMsg {
  return { family: C.AF_INET, dstLen: 24, srcLen: 0, tos: 0, table: 254, protocol: 78, scope: 0, type: C.RTN_UNICAST, flags: 0, dst: ip(dst), gateway: ip(gw), oif, priority: 0 };
}

describe('integration: rtnetlink sockets and operations (netns)', function () {
  this.timeout(30000);
  let lab: Lab;
  let ns: string;

  before(function () {
    if (!isRoot()) this.skip();
  });
  beforeEach(() => {
    lab = new Lab('nlo');
    ns = lab.netns('a');
    const b = lab.netns('b');
    lab.link(ns, ['10.88.0.1/24'], b, ['10.88.0.2/24'], ['up0', 'peer0']);
  });
  afterEach(async () => {
    await lab.destroy();
  });

  describe('openNetlinkIn', () => {
    it('opens the socket in the target namespace and leaves the main thread where it was', async () => {
      const before = nsIno();
      const sock = openNetlinkIn(ns);
      try {
        expect(nsIno()).to.equal(before);
        const links = await rtnl.listLinks(sock);
        expect(links.map((l) => l.name).sort()).to.deep.equal(['lo', 'up0']);
      } finally {
        sock.close();
      }
    });

    it('refuses bad names, missing namespaces, and the namespace the process runs in', () => {
      expect(() => openNetlinkIn('../x')).to.throw(NetnsError, /not a valid namespace name/);
      expect(() => openNetlinkIn(`${lab.tag}-nope`)).to.throw(NetnsError, /ENOENT/);
      const self = `${lab.tag}-self`;
      // A name that points at our own (root) namespace: bind-mount it like `ip netns attach` would.
      fs.writeFileSync(`/run/netns/${self}`, '');
      try {
        execFileSync('mount', ['--bind', '/proc/self/ns/net', `/run/netns/${self}`]);
        expect(() => openNetlinkIn(self)).to.throw(NetnsError, /already runs in|initial/);
      } finally {
        spawnSync('umount', [`/run/netns/${self}`]);
        fs.rmSync(`/run/netns/${self}`, { force: true });
      }
      expect(nsIno()).to.equal(fs.statSync('/proc/self/ns/net').ino);
    });
  });

  describe('batched requests', () => {
    it('maps each failed request of a batch back to its context by sequence number', async () => {
      const sock = openNetlinkIn(ns);
      try {
        const up0 = await rtnl.linkIndex(sock, 'up0');
        const reqs: NetlinkRequest<string>[] = [];
        for (let i = 0; i < 450; i++) {
          // Every 100th route has an unreachable gateway; route 7 is sent twice (EEXIST).
          const gw = i % 100 === 50 ? '10.99.9.9' : '10.88.0.2';
          reqs.push({ type: C.RTM_NEWROUTE, flags: C.NLM_F_CREATE | C.NLM_F_EXCL, payload: encodeRoute(route(`10.${90 + (i >> 8)}.${i & 255}.0`, gw, up0)), context: `route ${i}` });
        }
        reqs.push({ ...reqs[7], context: 'route 7 again' });
        const res = await sock.execute(reqs, { batchSize: 200 });
        expect(res.sent).to.equal(451);
        expect(res.failures.map((f) => [f.request.context, f.error.code])).to.deep.equal([
          ['route 50', 'ENETUNREACH'], ['route 150', 'ENETUNREACH'], ['route 250', 'ENETUNREACH'], ['route 350', 'ENETUNREACH'], ['route 7 again', 'EEXIST'],
        ]);
        expect(res.failures[0].error).to.be.instanceOf(NetlinkError);
        expect(res.failures[0].error.reason).to.match(/gateway/i); // the kernel's extended-ack text
        expect(Number(nsExec(ns, 'sh', ['-c', 'ip route show proto 78 | wc -l']).trim())).to.equal(446);
        // Again with an ack for every request: now all EEXIST but 50 and 150, in order.
        const again = await sock.execute(reqs.slice(0, 200), { batchSize: 64, ackEach: true });
        const expected = reqs.slice(0, 200).map((_, i) => (i === 50 || i === 150 ? 'ENETUNREACH' : 'EEXIST'));
        expect(again.failures.map((f) => f.error.code)).to.deep.equal(expected);
        expect(again.failures[150].request.context).to.equal('route 150');
      } finally {
        sock.close();
      }
    });

    it('executeEncoded: requests written into the send buffer, failures mapped back by index (engineer "fibperf")', async () => {
      const sock = openNetlinkIn(ns);
      try {
        const up0 = await rtnl.linkIndex(sock, 'up0');
        // 700 routes, batches of 300: every 100th via an unreachable gateway; 650 repeats 10 (EEXIST).
        const msgOf = (i: number): RouteMsg => {
          const j = i === 650 ? 10 : i;
          return route(`10.${110 + (j >> 8)}.${j & 255}.0`, j % 100 === 50 ? '10.99.9.9' : '10.88.0.2', up0);
        };
        const res = await sock.executeEncoded({
          count: 700,
          maxPayload: 64,
          type: () => C.RTM_NEWROUTE,
          flags: () => C.NLM_F_CREATE | C.NLM_F_EXCL,
          encode: (i, buf, off) => encodeRouteInto(buf, off, msgOf(i)),
          describe: (i) => `route ${i}`,
        }, { batchSize: 300 });
        expect(res.sent).to.equal(700);
        const got = res.failures.map((f) => [f.index, f.error.code, f.error.request]).sort((x, y) => Number(x[0]) - Number(y[0]));
        expect(got).to.deep.equal([
          [50, 'ENETUNREACH', 'route 50'], [150, 'ENETUNREACH', 'route 150'], [250, 'ENETUNREACH', 'route 250'],
          [350, 'ENETUNREACH', 'route 350'], [450, 'ENETUNREACH', 'route 450'], [550, 'ENETUNREACH', 'route 550'],
          [650, 'EEXIST', 'route 650'],
        ]);
        expect(Number(nsExec(ns, 'sh', ['-c', 'ip route show proto 78 | wc -l']).trim())).to.equal(693);
        // A payload larger than the declared bound is refused before anything is sent.
        await sock.executeEncoded({
          count: 1, maxPayload: 16, type: () => C.RTM_NEWROUTE, flags: () => C.NLM_F_CREATE,
          encode: (_i, buf, off) => encodeRouteInto(buf, off, msgOf(0)), describe: () => 'too big',
        }).then(() => expect.fail('accepted an oversized payload'), (e: Error) => expect(e.message).to.match(/exceeds maxPayload 16/));
      } finally {
        sock.close();
      }
    });

    it('dumps 20,000 routes across many recv buffers to NLMSG_DONE', async () => {
      const lines: string[] = [];
      for (let i = 0; i < 20000; i++) lines.push(`route add 10.${100 + (i >> 8)}.${i & 255}.0/24 via 10.88.0.2 proto 78`);
      nsExec(ns, 'ip', ['-batch', '-'], { input: lines.join('\n') + '\n' });
      const sock = openNetlinkIn(ns);
      try {
        const routes = await rtnl.listRoutes(sock, C.AF_INET);
        expect(routes.filter((r) => r.protocol === 78)).to.have.length(20000);
      } finally {
        sock.close();
      }
    });
  });

  it('monitor sees route and link changes made by others', async () => {
    const mon = openNetlinkIn(ns, { groups: [C.RTNLGRP_IPV4_ROUTE, C.RTNLGRP_LINK] });
    const seen: NetlinkMessage[] = [];
    const monitor = new NetlinkMonitor(mon, { onMessages: (m) => seen.push(...m), onOverrun: () => undefined }, 10);
    try {
      monitor.start();
      nsExec(ns, 'ip', ['route', 'add', '10.95.0.0/24', 'via', '10.88.0.2']);
      nsExec(ns, 'ip', ['link', 'set', 'up0', 'mtu', '1400']);
      await new Promise((r) => setTimeout(r, 100));
      expect(seen.some((m) => m.type === C.RTM_NEWROUTE)).to.equal(true);
      expect(seen.some((m) => m.type === C.RTM_NEWLINK)).to.equal(true);
    } finally {
      monitor.close();
    }
  });

  it('monitor with ignorePortId drops our own writes in the kernel, still sees others\'', async () => {
    const sock = openNetlinkIn(ns);
    const mon = openNetlinkIn(ns, { groups: [C.RTNLGRP_IPV4_ROUTE] });
    const seen: NetlinkMessage[] = [];
    const monitor = new NetlinkMonitor(mon, { onMessages: (m) => seen.push(...m), onOverrun: () => undefined }, 10);
    try {
      expect(monitor.ignorePortId(sock.portId)).to.equal(true);
      const up0 = await rtnl.linkIndex(sock, 'up0');
      const reqs: NetlinkRequest<number>[] = [];
      for (let i = 0; i < 1000; i++) reqs.push({ type: C.RTM_NEWROUTE, flags: C.NLM_F_CREATE | C.NLM_F_EXCL, payload: encodeRoute(route(`10.${120 + (i >> 8)}.${i & 255}.0`, '10.88.0.2', up0)), context: i });
      expect((await sock.execute(reqs)).failures).to.deep.equal([]);
      nsExec(ns, 'ip', ['route', 'add', '10.97.0.0/24', 'via', '10.88.0.2', 'proto', '78']);
      monitor.drain();
      const routes = seen.filter((m) => m.type === C.RTM_NEWROUTE);
      expect(routes).to.have.length(1);
      expect(routes[0].pid).to.not.equal(sock.portId);
    } finally {
      monitor.close();
      sock.close();
    }
  });

  describe('links, addresses, neighbours, FDB', () => {
    it('creates a vxlan device, sets it up with an address, FDB and neighbour entries, deletes it', async () => {
      const sock = openNetlinkIn(ns);
      try {
        const up0 = await rtnl.linkIndex(sock, 'up0');
        await rtnl.createLink(sock, { name: 'vxt0', kind: 'vxlan', vxlan: { vni: 4097, local: ip('10.88.0.1'), link: up0, port: 4789, learning: false }, mtu: 1450 });
        const vx = (await rtnl.getLink(sock, 'vxt0'))!;
        expect(vx.vxlan).to.deep.include({ vni: 4097, port: 4789, learning: false, link: up0 });
        expect(nsExec(ns, 'ip', ['-d', 'link', 'show', 'vxt0'])).to.match(/vxlan id 4097 local 10\.88\.0\.1 dev up0 .*dstport 4789 nolearning/);
        await rtnl.setLink(sock, vx.index, { up: true, address: rtnl.parseMac('02:aa:00:00:00:01')! });
        await rtnl.addAddress(sock, vx.index, ip('10.89.0.1'), 32);
        const mac = rtnl.parseMac('02:bb:00:00:00:02')!;
        await rtnl.replaceFdb(sock, vx.index, mac, ip('10.88.0.2'));
        await rtnl.replaceNeighbour(sock, vx.index, ip('10.89.1.0'), mac);
        expect(nsExec(ns, 'bridge', ['fdb', 'show', 'dev', 'vxt0'])).to.match(/02:bb:00:00:00:02 dst 10\.88\.0\.2 self permanent/);
        expect(nsExec(ns, 'ip', ['neigh', 'show', 'dev', 'vxt0'])).to.match(/10\.89\.1\.0 lladdr 02:bb:00:00:00:02 PERMANENT/);
        const addrs = await rtnl.listAddresses(sock, C.AF_INET);
        expect(addrs.filter((a) => a.index === vx.index).map((a) => `${formatIP(a.local!)}/${a.prefixLen}`)).to.deep.equal(['10.89.0.1/32']);
        expect(nsExec(ns, 'ip', ['link', 'show', 'vxt0'])).to.match(/UP.*\n.*link\/ether 02:aa:00:00:00:01/);
        // Same again: EEXIST names the object.
        try {
          await rtnl.addAddress(sock, vx.index, ip('10.89.0.1'), 32);
          expect.fail('duplicate address accepted');
        } catch (e) {
          expect((e as NetlinkError).code).to.equal('EEXIST');
          expect((e as Error).message).to.match(/10\.89\.0\.1\/32/);
        }
        await rtnl.deleteFdb(sock, vx.index, mac, ip('10.88.0.2'));
        await rtnl.deleteNeighbour(sock, vx.index, ip('10.89.1.0'));
        await rtnl.deleteAddress(sock, vx.index, ip('10.89.0.1'), 32);
        await rtnl.deleteLink(sock, vx.index);
        expect(await rtnl.getLink(sock, 'vxt0')).to.equal(null);
      } finally {
        sock.close();
      }
    });

    it('an ipip device is refused by this kernel with a precise error (or created where supported)', async () => {
      const sock = openNetlinkIn(ns);
      try {
        const up0 = await rtnl.linkIndex(sock, 'up0');
        try {
          await rtnl.createLink(sock, { name: 'tunl9', kind: 'ipip', iptun: { link: up0, local: ip('10.88.0.1'), ttl: 64, pmtudisc: true } });
          const t = (await rtnl.getLink(sock, 'tunl9'))!;
          expect(t.iptun).to.deep.include({ link: up0, ttl: 64 });
        } catch (e) {
          expect(e).to.be.instanceOf(NetlinkError);
          expect((e as NetlinkError).code).to.be.oneOf(['EOPNOTSUPP', 'ENODEV', 'EAFNOSUPPORT']);
          expect((e as Error).message).to.match(/create link tunl9 \(ipip\)/);
        }
      } finally {
        sock.close();
      }
    });
  });
});
