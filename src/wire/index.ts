// The BGP-4 wire codec's public API. Pure: no sockets, no timers, no module state. Every function
// takes the negotiated CodecContext explicitly. RFC 4271, 4760, 2545, 2918, 7313, 6793, 4724,
// 8538, 7911, 8654, 1997, 4360, 8092, 4456, 7606, 8203, 9003, 9072 (see each file's header).
export * from './types';
export {
  WireError, ErrorCode, HeaderSubcode, OpenSubcode, UpdateSubcode, HoldTimerSubcode, FsmSubcode,
  CeaseSubcode, RouteRefreshSubcode, MAX_SHUTDOWN_COMMUNICATION_OCTETS, errorCodeName, errorSubcodeName,
  errorInfo, notificationFromError, type WireErrorInit,
} from './errors';
export { familyOf, afiSafiOf, codecContext, IPV4_UNICAST, IPV6_UNICAST } from './family';
export { decodeMessage, encodeMessage, maxMessageLength, INTERNAL_ERROR_FIELD } from './message';
export { Framer } from './framer';
export { HEADER_LENGTH, MAX_MESSAGE_LENGTH, MAX_EXTENDED_MESSAGE_LENGTH } from './header';
export { endOfRib, endOfRibFamily } from './eor';
export { effectiveAsPath, effectiveAggregator, asPathLength, attributesForReadvertisement } from './path';
export { AttrType, AttrFlag, AS_TRANS, attributeName, pathAttributesLength } from './attributes';
export { CapabilityCode } from './capabilities';
export { RouteRefreshSubtype } from './route-refresh';
export { shutdownNotification, shutdownCommunicationData } from './notification';
export { parseIpv4Prefix, parseIpv6Prefix } from './nlri';
