// The pure parts of the socket-option layer: struct tcp_md5sig layout (RFC 2385 keys as Linux
// takes them), RFC 5082 minimum TTL, and the IPv4-mapped address normalisation of accepted peers.
import { expect } from 'chai';
import { TransportError, gtsmMinTtl, normalizeAddress, tcpMd5sig } from '../../../src/transport/sockopt';

describe('transport/sockopt', () => {
  it('lays out struct tcp_md5sig for an IPv4 peer on an IPv4 socket', () => {
    const b = tcpMd5sig('192.0.2.7', 'secret', 2);
    expect(b.length).to.equal(216);
    expect(b.readUInt16LE(0)).to.equal(2); // AF_INET
    expect([...b.subarray(4, 8)]).to.deep.equal([192, 0, 2, 7]);
    expect(b.readUInt16LE(130)).to.equal(6); // key length
    expect(b.subarray(136, 142).toString()).to.equal('secret');
    expect(b[142]).to.equal(0);
  });

  it('maps an IPv4 peer on an IPv6 socket to ::ffff:a.b.c.d', () => {
    const b = tcpMd5sig('192.0.2.7', 'k', 10);
    expect(b.readUInt16LE(0)).to.equal(10); // AF_INET6
    expect([...b.subarray(8, 24)]).to.deep.equal([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7]);
  });

  it('puts an IPv6 peer at the sin6_addr offset; an empty key (delete) has length 0', () => {
    const b = tcpMd5sig('2001:db8::1', '', 10);
    expect(b.readUInt16LE(0)).to.equal(10);
    expect(b[8]).to.equal(0x20);
    expect(b[23]).to.equal(1);
    expect(b.readUInt16LE(130)).to.equal(0);
  });

  it('refuses keys longer than 80 octets and non-addresses, naming the peer', () => {
    expect(() => tcpMd5sig('192.0.2.7', 'x'.repeat(81), 2)).to.throw(TransportError, /192\.0\.2\.7.*at most 80/);
    expect(() => tcpMd5sig('node-1', 'x', 2)).to.throw(TransportError, /node-1: not an IP address/);
  });

  it('GTSM minimum TTL is 256 - hops (RFC 5082 §3)', () => {
    expect(gtsmMinTtl(1)).to.equal(255);
    expect(gtsmMinTtl(2)).to.equal(254);
    expect(() => gtsmMinTtl(0)).to.throw(RangeError);
    expect(() => gtsmMinTtl(256)).to.throw(RangeError);
  });

  it('normalizes IPv4-mapped and non-canonical IPv6 addresses', () => {
    expect(normalizeAddress('::ffff:10.0.0.1')).to.equal('10.0.0.1');
    expect(normalizeAddress('FD00:0::1')).to.equal('fd00::1');
    expect(normalizeAddress('10.0.0.1')).to.equal('10.0.0.1');
  });
});
