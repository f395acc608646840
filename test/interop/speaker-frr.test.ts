// The speaker against FRR bgpd in network namespaces: iBGP/eBGP with 4-octet ASes (RFC 6793), IPv4
// and IPv6 routes both ways with next hops and communities, TCP MD5 (RFC 2385), route refresh
// (RFC 2918) and graceful restart both ways (RFC 4724). The suite is test/helpers/speaker-interop.ts.
import { speakerInteropSuite } from '../helpers/speaker-interop';

speakerInteropSuite('frr', 2);
