// CNI conflist and flannel subnet.env (src/dataplane/cni.ts), and atomic file writes. The real
// bridge/host-local plugins consume these configs in test/integration/lab-dataplane.
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  CniConfigError, blockGateway, cniConflist, cniPluginConfig, removeCniFiles, subnetEnv, writeCniFiles, writeFileAtomic,
} from '../../../src/dataplane/cni';

describe('dataplane/cni', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nh-cni-unit-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('conflist: bridge (gateway, no ipMasq, MTU) + host-local with the block, default route; portmap', () => {
    const c = cniConflist({ blocks: ['10.244.1.0/24'], mtu: 1450, ipamDataDir: '/tmp/x' });
    expect(c).to.deep.equal({
      cniVersion: '1.0.0',
      name: 'nexthop',
      plugins: [
        {
          type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: false, hairpinMode: true, mtu: 1450,
          ipam: { type: 'host-local', ranges: [[{ subnet: '10.244.1.0/24', gateway: '10.244.1.1' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: '/tmp/x' },
        },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      ],
    });
  });

  it('dual stack: one range set and one default route per family', () => {
    const c = cniConflist({ blocks: ['10.244.1.0/24', 'fd00:244:0:1::/64'], mtu: 1500, portmap: false, bridge: 'br-nh' });
    const bridge = (c.plugins as Array<Record<string, unknown>>)[0];
    expect(bridge.bridge).to.equal('br-nh');
    expect((bridge.ipam as Record<string, unknown>).ranges).to.deep.equal([
      [{ subnet: '10.244.1.0/24', gateway: '10.244.1.1' }], [{ subnet: 'fd00:244:0:1::/64', gateway: 'fd00:244:0:1::1' }]]);
    expect((bridge.ipam as Record<string, unknown>).routes).to.deep.equal([{ dst: '0.0.0.0/0' }, { dst: '::/0' }]);
    expect(c.plugins).to.have.length(1);
  });

  it('cniPluginConfig flattens one plugin with the list\'s name and version (what a runtime passes on stdin)', () => {
    const c = cniConflist({ blocks: ['10.244.1.0/24'], mtu: 1450 });
    expect(cniPluginConfig(c)).to.include({ cniVersion: '1.0.0', name: 'nexthop', type: 'bridge', mtu: 1450 });
  });

  it('bad input gets a precise error', () => {
    expect(() => cniConflist({ blocks: [], mtu: 1450 })).to.throw(CniConfigError, /blocks: this node has no block yet/);
    expect(() => cniConflist({ blocks: ['10.244.1.5/24'], mtu: 1450 })).to.throw(CniConfigError, /'10\.244\.1\.5\/24'/);
    expect(() => cniConflist({ blocks: ['10.244.1.0/24'], mtu: 40 })).to.throw(CniConfigError, /mtu: 40/);
    expect(() => cniConflist({ blocks: ['10.244.1.0/24', '10.244.2.0/24'], mtu: 1450 })).to.throw(CniConfigError, /two IPv4 blocks/);
    expect(() => blockGateway('10.244.1.0/31')).to.throw(CniConfigError, /too small/);
  });

  it('subnet.env as flannel writes it (FLANNEL_SUBNET is the gateway with the block length)', () => {
    expect(subnetEnv({ networks: ['10.244.0.0/16'], blocks: ['10.244.1.0/24'], mtu: 1450, ipMasq: true })).to.equal(
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n');
    expect(subnetEnv({ networks: ['10.244.0.0/16', 'fd00:244::/48'], blocks: ['10.244.1.0/24', 'fd00:244:0:1::/64'], mtu: 1500, ipMasq: false }))
      .to.contain('FLANNEL_IPV6_NETWORK=fd00:244::/48\nFLANNEL_IPV6_SUBNET=fd00:244:0:1::1/64\n');
    expect(() => subnetEnv({ networks: ['10.244.0.0/16'], blocks: [], mtu: 1450, ipMasq: true })).to.throw(CniConfigError);
  });

  it('writeFileAtomic replaces by rename, leaves no temporary file, and skips identical content', () => {
    const f = path.join(dir, 'sub', '10-nexthop.conflist');
    expect(writeFileAtomic(f, 'one\n')).to.equal(true);
    const inode = fs.statSync(f).ino;
    expect(writeFileAtomic(f, 'one\n')).to.equal(false);
    expect(fs.statSync(f).ino).to.equal(inode);
    expect(writeFileAtomic(f, 'two\n')).to.equal(true);
    expect(fs.readFileSync(f, 'utf8')).to.equal('two\n');
    expect(fs.statSync(f).ino, 'a new inode: renamed over, not rewritten in place').to.not.equal(inode);
    expect(fs.readdirSync(path.dirname(f))).to.deep.equal(['10-nexthop.conflist']);
  });

  it('writeCniFiles writes both files to the given paths; removeCniFiles removes exactly them', () => {
    const files = { conflistPath: path.join(dir, 'net.d', '10-nexthop.conflist'), subnetEnvPath: path.join(dir, 'run', 'subnet.env') };
    fs.writeFileSync(path.join(dir, 'other'), 'x');
    const changed = writeCniFiles(files, { blocks: ['10.244.1.0/24'], mtu: 1450 }, { networks: ['10.244.0.0/16'], blocks: ['10.244.1.0/24'], mtu: 1450, ipMasq: true });
    expect(changed).to.deep.equal([files.conflistPath, files.subnetEnvPath]);
    expect(JSON.parse(fs.readFileSync(files.conflistPath, 'utf8')).plugins[0].ipam.ranges[0][0].subnet).to.equal('10.244.1.0/24');
    expect(writeCniFiles(files, { blocks: ['10.244.1.0/24'], mtu: 1450 }, { networks: ['10.244.0.0/16'], blocks: ['10.244.1.0/24'], mtu: 1450, ipMasq: true })).to.deep.equal([]);
    removeCniFiles(files);
    expect(fs.existsSync(files.conflistPath) || fs.existsSync(files.subnetEnvPath)).to.equal(false);
    expect(fs.existsSync(path.join(dir, 'other'))).to.equal(true);
  });
});
