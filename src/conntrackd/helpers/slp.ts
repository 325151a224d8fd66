// SLP (RFC 2608): like mDNS, a multicast request expects unicast answers from
// any host, from the port the request went to (427), back to the requester.
import { type CtHelper, IPPROTO_UDP } from "./context.ts";
import { expectAnswers } from "./mdns.ts";

export const slpHelper: CtHelper = {
  name: "slp",
  proto: IPPROTO_UDP,
  privLen: 0,
  // The reference's timeout: its default CONFIG_MC_MAX + 1 seconds.
  policies: [{ name: "slp", expectMax: 8, expectTimeout: 16 }],
  run: expectAnswers,
};
