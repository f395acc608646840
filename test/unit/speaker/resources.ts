// Per-test resources of the speaker unit tests: the speakers, peer sockets and listening servers a
// test made are stopped, destroyed and closed after each test (a mocha afterEach hook, registered
// in the describe block that calls speakerTestResources()).
import type * as net from 'net';
import type { Speaker } from '../../../src/speaker';

export interface SpeakerTestResources {
  live: Speaker[];
  sockets: net.Socket[];
  servers: net.Server[];
}

export function speakerTestResources(): SpeakerTestResources {
  const r: SpeakerTestResources = { live: [], sockets: [], servers: [] };
  afterEach(async () => {
    for (const s of r.live.splice(0)) await s.stop({ message: 'test over' });
    for (const k of r.sockets.splice(0)) k.destroy();
    for (const v of r.servers.splice(0)) v.close();
  });
  return r;
}
