// Host forwarding sysctls (src/dataplane/host.ts) against a sysctl tree in a temp directory
// (the same file operations /proc/sys takes; the real /proc/sys of a namespace is exercised in
// test/integration/lab-dataplane): apply is idempotent, teardown restores exactly what it changed,
// the record survives a restart through the state file.
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { HostSetup, SYSCTL_IPV4_FORWARD, SYSCTL_IPV6_FORWARD, SysctlError, desiredSysctls } from '../../../src/dataplane/host';

describe('dataplane/host', () => {
  let root: string;
  const put = (key: string, v: string): void => {
    fs.mkdirSync(path.dirname(path.join(root, 'sys', key)), { recursive: true });
    fs.writeFileSync(path.join(root, 'sys', key), `${v}\n`);
  };
  const get = (key: string): string => fs.readFileSync(path.join(root, 'sys', key), 'utf8').trim();

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'nh-host-unit-'));
    put(SYSCTL_IPV4_FORWARD, '0');
    put(SYSCTL_IPV6_FORWARD, '1');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('desiredSysctls: ip_forward for IPv4, all.forwarding for IPv6', () => {
    expect(desiredSysctls({ ipv4: true, ipv6: false })).to.deep.equal({ 'net/ipv4/ip_forward': '1' });
    expect(desiredSysctls({ ipv4: true, ipv6: true })).to.deep.equal({ 'net/ipv4/ip_forward': '1', 'net/ipv6/conf/all/forwarding': '1' });
  });

  it('apply changes only what differs, is idempotent, teardown restores only what it changed', () => {
    const h = new HostSetup({ procSysRoot: path.join(root, 'sys') });
    const want = desiredSysctls({ ipv4: true, ipv6: true });
    expect(h.apply(want)).to.deep.equal([SYSCTL_IPV4_FORWARD]);
    expect(get(SYSCTL_IPV4_FORWARD)).to.equal('1');
    expect(h.apply(want)).to.deep.equal([]);
    expect(h.teardown()).to.deep.equal([SYSCTL_IPV4_FORWARD]);
    expect(get(SYSCTL_IPV4_FORWARD)).to.equal('0');
    expect(get(SYSCTL_IPV6_FORWARD), 'was 1 before us: left alone').to.equal('1');
  });

  it('the record survives a restart through the state file, and the file goes with teardown', () => {
    const statePath = path.join(root, 'state', 'host.json');
    new HostSetup({ procSysRoot: path.join(root, 'sys'), statePath }).apply(desiredSysctls({ ipv4: true, ipv6: false }));
    expect(fs.existsSync(statePath)).to.equal(true);
    const again = new HostSetup({ procSysRoot: path.join(root, 'sys'), statePath });
    expect(again.apply(desiredSysctls({ ipv4: true, ipv6: false }))).to.deep.equal([]);
    expect(again.changes()).to.deep.equal({ [SYSCTL_IPV4_FORWARD]: { before: '0', ours: '1' } });
    expect(again.teardown()).to.deep.equal([SYSCTL_IPV4_FORWARD]);
    expect(get(SYSCTL_IPV4_FORWARD)).to.equal('0');
    expect(fs.existsSync(statePath)).to.equal(false);
  });

  it('a value someone else changed after us is theirs: teardown leaves it', () => {
    const h = new HostSetup({ procSysRoot: path.join(root, 'sys') });
    h.apply({ [SYSCTL_IPV4_FORWARD]: '1' });
    put(SYSCTL_IPV4_FORWARD, '2');
    expect(h.teardown()).to.deep.equal([]);
    expect(get(SYSCTL_IPV4_FORWARD)).to.equal('2');
  });

  it('errors name the sysctl and the file; bad keys are refused', () => {
    const h = new HostSetup({ procSysRoot: path.join(root, 'sys') });
    expect(() => h.apply({ 'net/ipv4/conf/nope/forwarding': '1' })).to.throw(SysctlError, /net\.ipv4\.conf\.nope\.forwarding: cannot read: ENOENT/);
    expect(() => h.read('../../etc/passwd')).to.throw(SysctlError, /not a sysctl path/);
  });
});
