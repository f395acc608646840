// The rtm_protocol number that marks the routes nexthop writes. The FIB reconciler manages only
// routes carrying it and never changes or deletes a route with any other number (DESIGN.md,
// "Rules that hold everywhere"). 78 = 0x4e (ASCII 'N'): absent from the kernel's RTPROT_* list
// (include/uapi/linux/rtnetlink.h), iproute2's /etc/iproute2/rt_protos, FRR's rt_protos.d
// (186-197) and BIRD (12). rt_protos.d/nexthop.conf next to this file names it for `ip route`.
// No RFC: a Linux rtnetlink convention (rtm_protocol, rtnetlink(7)).

export const NEXTHOP_RTPROT = 78;
export const NEXTHOP_RTPROT_NAME = 'nexthop';
