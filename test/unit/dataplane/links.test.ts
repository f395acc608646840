// Host interface selection (src/dataplane/links.ts) and the command runner (src/dataplane/exec.ts).
import { expect } from 'chai';
import * as C from '../../../src/dataplane/netlink/constants';
import { hostInterfaces } from '../../../src/dataplane/links';
import { CommandError, commandExists, mustRun, runCommand } from '../../../src/dataplane/exec';

const link = (index: number, name: string, flags: number, mtu = 1500) => ({ family: 0, type: 1, index, flags, change: 0, name, mtu });

describe('dataplane/links + exec', () => {
  it('hostInterfaces: up, not loopback, not our tunnel devices; keeps addresses and MTU', () => {
    const got = hostInterfaces([
      { link: link(1, 'lo', C.IFF_UP | C.IFF_LOOPBACK, 65536), addresses: ['127.0.0.1/8'] },
      { link: link(2, 'eth0', C.IFF_UP, 9000), addresses: ['192.168.10.11/24'] },
      { link: link(3, 'eth1', 0), addresses: ['192.168.99.1/24'] },
      { link: link(4, 'vxlan.nexthop', C.IFF_UP, 8950), addresses: ['10.244.1.0/32'] },
    ], ['tunl0', 'vxlan.nexthop']);
    expect(got).to.deep.equal([{ name: 'eth0', addresses: ['192.168.10.11/24'], mtu: 9000 }]);
  });

  it('runCommand passes stdin, returns status and output; a missing program is status 127', async () => {
    const r = await runCommand('cat', [], 'hello');
    expect(r).to.deep.equal({ status: 0, stdout: 'hello', stderr: '' });
    expect((await runCommand('sh', ['-c', 'echo oops >&2; exit 3'])).status).to.equal(3);
    expect((await runCommand('/nonexistent/nexthop-tool', [])).status).to.equal(127);
    expect(await commandExists(runCommand, '/nonexistent/nexthop-tool')).to.equal(false);
    expect(await commandExists(runCommand, 'sh', ['-c', 'true'])).to.equal(true);
  });

  it('mustRun throws CommandError with the command and its stderr', async () => {
    let err: unknown;
    try { await mustRun(runCommand, 'sh', ['-c', 'echo bad rule >&2; exit 1']); } catch (e) { err = e; }
    expect(err).to.be.instanceOf(CommandError);
    expect((err as CommandError).message).to.equal('sh -c echo bad rule >&2; exit 1 failed with status 1: bad rule');
  });
});
