// The BGP message model shared by the codec (wire/), the FSM (session/) and the RIB (rib/).
// Plain data, no behaviour. RFC 4271 §4 (messages), §5 (path attributes); RFC 4760 (MP-BGP);
// RFC 6793 (4-octet AS); RFC 7606 (revised error handling); RFC 7911 (ADD-PATH).

/** RFC 4271 §4.1 message type codes (plus RFC 2918 ROUTE-REFRESH). */
export const MessageType = {
  OPEN: 1,
  UPDATE: 2,
  NOTIFICATION: 3,
  KEEPALIVE: 4,
  ROUTE_REFRESH: 5,
} as const;

/** Address family identifiers (IANA), the ones nexthop routes. */
export const AFI_IPV4 = 1;
export const AFI_IPV6 = 2;
export const SAFI_UNICAST = 1;

/**
 * An address family as text: 'ipv4-unicast', 'ipv6-unicast', or for any other pair
 * 'afi<N>-safi<M>' (kept so unknown families round-trip). See wire/family.ts.
 */
export type Family = string;

/** One NLRI entry. `prefix` is canonical text: "10.0.0.0/24", "2001:db8::/32". */
export interface Nlri {
  prefix: string;
  /** RFC 7911 path identifier, present only where ADD-PATH is negotiated for this direction. */
  pathId?: number;
}

/** RFC 4271 §5.1.2 AS_PATH segment types; RFC 5065 §3 confederation segments. */
export const AsPathSegmentType = {
  AS_SET: 1,
  AS_SEQUENCE: 2,
  AS_CONFED_SEQUENCE: 3,
  AS_CONFED_SET: 4,
} as const;

export interface AsPathSegment {
  type: 1 | 2 | 3 | 4;
  asns: number[];
}

export interface Aggregator {
  asn: number;
  address: string;
}

/**
 * RFC 4760 §3. For IPv6, `nextHops` is [global] or [global, link-local] (RFC 2545 §3). For IPv4
 * unicast it is [IPv4] or, per RFC 8950, [IPv6] / [IPv6 global, link-local]. The codec parses
 * ipv4-unicast and ipv6-unicast only; for every other family decode returns nextHops [] and nlri []
 * with the bytes in nextHopRaw / nlriRaw, and encode sends those raw bytes.
 */
export interface MpReach {
  afi: number;
  safi: number;
  nextHops: string[];
  nlri: Nlri[];
  /** Raw next-hop bytes when the family is not one we parse (kept for round-trip). */
  nextHopRaw?: Uint8Array;
  /** Raw NLRI bytes when the family is not one we parse. */
  nlriRaw?: Uint8Array;
}

/** RFC 4760 §4. Other families than ipv4/ipv6-unicast: withdrawn [] and the bytes in withdrawnRaw. */
export interface MpUnreach {
  afi: number;
  safi: number;
  withdrawn: Nlri[];
  withdrawnRaw?: Uint8Array;
}

/** An attribute we do not understand, or chose not to parse; passed on per RFC 4271 §5. */
export interface RawAttribute {
  /**
   * Optional / Transitive / Partial bits (0x80 / 0x40 / 0x20) as received. Decode clears the
   * Extended Length bit and the unused low bits; encode picks Extended Length from the length.
   */
  flags: number;
  code: number;
  value: Uint8Array;
}

/**
 * RFC 4271 §5 path attributes, decoded. Absent means the attribute was not in the message.
 * Large, extended communities keep their wire form in compact types:
 *  - communities: 32-bit values (RFC 1997), e.g. 65000:100 is 65000 * 65536 + 100;
 *  - extendedCommunities: 8-byte values as 16 lower-case hex digits (RFC 4360);
 *  - largeCommunities: [global admin, local 1, local 2] (RFC 8092).
 *
 * What decode returns depends on the codec context (and encode mirrors it, see wire/attributes.ts):
 *  - ctx.as4 (both sides 4-octet, RFC 6793): asPath and aggregator carry 4-octet ASNs; AS4_PATH /
 *    AS4_AGGREGATOR, should a peer send them, are dropped and reported in UpdateMessage.discarded
 *    (RFC 6793 §3), so as4Path / as4Aggregator are never set. Encode never sends them.
 *  - !ctx.as4 (peer is a 2-octet speaker): asPath and aggregator are exactly the 2-octet fields as
 *    received (AS_TRANS 23456 standing in for 4-octet ASNs); as4Path / as4Aggregator are the
 *    AS4_PATH / AS4_AGGREGATOR as received. The route's real path is effectiveAsPath(attrs) and
 *    its aggregator effectiveAggregator(attrs) (RFC 6793 §4.2.3). Encode accepts both this decoded
 *    form (sent back unchanged) and a path with real 4-octet ASNs and no as4Path (it then sends
 *    AS_TRANS in AS_PATH and the real path in AS4_PATH, RFC 6793 §4.2.2).
 *  - Absent and empty differ only for asPath ([] is an empty AS_PATH, valid for iBGP). Decode
 *    never returns empty communities / clusterList / extended / large community lists (RFC 7606
 *    makes a zero-length one malformed) and encode does not send empty ones. atomicAggregate is
 *    true or absent.
 *  - Recognised attributes lose their Partial bit; unknown ones keep their flags (RawAttribute).
 *  - Encode order: MP_REACH_NLRI, MP_UNREACH_NLRI (RFC 7606 §5.1), then all others by type code.
 */
export interface PathAttributes {
  origin?: 0 | 1 | 2; // IGP, EGP, INCOMPLETE
  asPath?: AsPathSegment[];
  nextHop?: string;
  med?: number;
  localPref?: number;
  atomicAggregate?: boolean;
  aggregator?: Aggregator;
  communities?: number[];
  originatorId?: string;
  clusterList?: string[];
  mpReach?: MpReach;
  mpUnreach?: MpUnreach;
  extendedCommunities?: string[];
  as4Path?: AsPathSegment[];
  as4Aggregator?: Aggregator;
  largeCommunities?: [number, number, number][];
  /** Unknown attributes, in order; optional transitive ones are re-sent with the Partial bit. */
  unknown?: RawAttribute[];
}

export interface OpenMessage {
  type: 'open';
  version: number;
  /** The 2-octet "My Autonomous System" field (AS_TRANS 23456 when the real AS needs 4 octets). */
  myAs: number;
  /** 0 or >= 3 (RFC 4271 §4.2; decode rejects 1 and 2 with Unacceptable Hold Time). */
  holdTime: number;
  /** BGP Identifier in dotted-quad form. */
  bgpId: string;
  /**
   * Every capability of every Capabilities optional parameter, in order (RFC 5492 §4 allows one
   * parameter or many; encode uses as few as fit, RFC 9072's extended length beyond 255 octets).
   */
  capabilities: Capability[];
}

export type Capability =
  | { code: 1; kind: 'multiprotocol'; afi: number; safi: number }
  | { code: 2; kind: 'route-refresh' }
  | { code: 70; kind: 'enhanced-route-refresh' }
  | { code: 65; kind: 'as4'; asn: number }
  | {
      code: 64;
      kind: 'graceful-restart';
      /** R bit: the sender has restarted (RFC 4724 §3). */
      restarting: boolean;
      /** N bit: RFC 8538 notification support. */
      notification: boolean;
      restartTime: number;
      families: { afi: number; safi: number; forwardingPreserved: boolean }[];
    }
  | {
      code: 69;
      kind: 'add-path';
      families: { afi: number; safi: number; mode: 'receive' | 'send' | 'both' }[];
    }
  | { code: 6; kind: 'extended-message' }
  | { code: 73; kind: 'fqdn'; hostname: string; domain: string }
  | { code: number; kind: 'unknown'; value: Uint8Array };

export interface UpdateMessage {
  type: 'update';
  /** IPv4 unicast withdrawn routes field. */
  withdrawn: Nlri[];
  attributes: PathAttributes;
  /** IPv4 unicast NLRI field. */
  nlri: Nlri[];
  /**
   * RFC 7606 §2: when set, an attribute error made every NLRI of this UPDATE (the NLRI field and
   * MP_REACH_NLRI) count as withdrawn. The error says which attribute and why.
   */
  treatAsWithdraw?: WireErrorInfo;
  /** RFC 7606 attribute-discard cases: attributes dropped while decoding, each with its reason. */
  discarded?: WireErrorInfo[];
}

/**
 * Decode always returns `data` as received, plus shutdownCommunication when the data holds a valid
 * one. Encode sends `data`; only when it is empty does it build it from shutdownCommunication.
 */
export interface NotificationMessage {
  type: 'notification';
  code: number;
  subcode: number;
  data: Uint8Array;
  /** RFC 8203 / RFC 9003 shutdown communication (Cease subcodes 2 and 4), when present and valid. */
  shutdownCommunication?: string;
}

export interface KeepaliveMessage {
  type: 'keepalive';
}

export interface RouteRefreshMessage {
  type: 'route-refresh';
  afi: number;
  safi: number;
  /**
   * RFC 7313 §3: 0 normal request, 1 BoRR, 2 EoRR. Other values are returned as they are; RFC 7313
   * §5 says the receiver ignores such a message.
   */
  subtype: number;
}

export type BgpMessage =
  | OpenMessage
  | UpdateMessage
  | NotificationMessage
  | KeepaliveMessage
  | RouteRefreshMessage;

/** What an error obliges the receiver to do (RFC 4271 §6, RFC 7606 §2). */
export type ErrorAction = 'session-reset' | 'treat-as-withdraw' | 'attribute-discard';

export interface WireErrorInfo {
  code: number;
  subcode: number;
  /** The NOTIFICATION data field (e.g. the offending attribute, RFC 4271 §6.3). */
  data: Uint8Array;
  action: ErrorAction;
  /** Which part of the message was at fault, e.g. "attribute NEXT_HOP", "OPEN hold time". */
  field: string;
  message: string;
}

/**
 * The negotiated session context for one direction of one session. Both encode and decode take
 * it explicitly: the codec keeps no state of its own.
 */
export interface CodecContext {
  /** RFC 6793: both sides advertised the 4-octet AS capability. */
  as4: boolean;
  /** RFC 7911: families whose NLRI carry path identifiers in this direction. */
  addPath: ReadonlySet<Family>;
  /** RFC 8654: messages may be up to 65535 octets. */
  extendedMessage: boolean;
  /**
   * Decode the UPDATE's own IPv4 NLRI (withdrawn routes and NLRI field; not MP_REACH/MP_UNREACH)
   * as Ipv4Nlri records: numbers, the text made when read. The speaker's receive path sets it.
   */
  numericIpv4?: boolean;
}
