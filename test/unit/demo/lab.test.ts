// The demo lab's own safety rules (src/demo/lab.ts): processes only inside the lab's
// namespaces, namespace names that lead back to their run, zombies not counted as alive.
import { expect } from 'chai';
import * as fs from 'fs';
import { DemoLab, LabCommandError, NS_PREFIX, WORKDIR_MARKER, ownerPidOf, pidAlive } from '../../../src/demo/lab';

describe('demo/lab', () => {
  it('refuses to start a process outside its own namespaces (never in the root namespace)', () => {
    const lab = new DemoLab();
    try {
      expect(lab.prefix).to.equal(`${NS_PREFIX}${process.pid}-`);
      expect(fs.existsSync(`${lab.workDir}/${WORKDIR_MARKER}`)).to.equal(true);
      expect(() => lab.spawn('agent', 'some-other-ns', 'true', [])).to.throw(LabCommandError, /outside this lab's namespaces/);
      expect(lab.processes).to.have.length(0);
    } finally {
      lab.destroySync();
    }
    expect(fs.existsSync(lab.workDir)).to.equal(false);
  });

  it('reads the owning run from a namespace name', () => {
    expect(ownerPidOf('nhdemo-4242-r1n1-pod')).to.equal(4242);
    expect(ownerPidOf('nhdemo-router')).to.equal(null);
    expect(ownerPidOf('nh123t0-fib')).to.equal(null);
  });

  it('knows a live pid from a gone one', () => {
    expect(pidAlive(process.pid)).to.equal(true);
    expect(pidAlive(2 ** 22 + 12345)).to.equal(false);
  });
});
