// requireTool (test/helpers/lab.ts): a test whose daemon, etcd or CNI plugin is missing skips
// only when not root; as root (CI installs everything in scripts/setup) it fails, naming what
// is missing, so a broken install cannot hide behind silent skips. No RFC.
import { expect } from 'chai';
import { requireTool } from '../../helpers/lab';

class Skipped extends Error {}

/** The part of Mocha.Context requireTool uses, recording a skip as an exception like mocha does. */
function fakeContext(): Mocha.Context {
  return { skip(): never { throw new Skipped('skipped'); } } as unknown as Mocha.Context;
}

function asUid<T>(uid: number, f: () => T): T {
  const real = process.getuid;
  process.getuid = () => uid;
  try {
    return f();
  } finally {
    process.getuid = real;
  }
}

describe('test helpers: requireTool', () => {
  it('does nothing when the tool is there, as root or not', () => {
    for (const uid of [0, 1000]) expect(() => asUid(uid, () => requireTool(fakeContext(), 'bird', true))).to.not.throw();
  });

  it('skips when the tool is missing and we are not root', () => {
    expect(() => asUid(1000, () => requireTool(fakeContext(), 'bird (package bird2)', false))).to.throw(Skipped);
  });

  it('fails, naming the tool, when the tool is missing and we are root', () => {
    let err: unknown;
    try { asUid(0, () => requireTool(fakeContext(), 'gobgp (daemon and CLI)', false)); } catch (e) { err = e; }
    expect(err).to.be.instanceOf(Error).and.not.instanceOf(Skipped);
    expect((err as Error).message).to.match(/^gobgp \(daemon and CLI\) is not installed, but this test runs as root/);
  });
});
