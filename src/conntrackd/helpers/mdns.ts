// mDNS (RFC 6762): a query from this host to the group expects answers from
// anyone, sent from the port the query went to (5353), back to the querier's
// address and port. The expectation goes with the verdict (NFQA_EXP).
import { type CtHelper, type HelperCall, IPPROTO_UDP } from "./context.ts";
import { expectInit, NF_CT_EXPECT_PERMANENT } from "./expect.ts";

/** The expectation mdns and slp share: any host, from the other side's source port, to us. */
export function expectAnswers(call: HelperCall): void {
  const { ct, dir } = call;
  const self = ct.tuples[dir], other = ct.tuples[1 - dir];
  call.attach = expectInit(
    call,
    0,
    null,
    self.src,
    IPPROTO_UDP,
    other.sport,
    self.sport,
    NF_CT_EXPECT_PERMANENT,
  );
}

export const mdnsHelper: CtHelper = {
  name: "mdns",
  proto: IPPROTO_UDP,
  privLen: 0,
  policies: [{ name: "mdns", expectMax: 8, expectTimeout: 30 }],
  run: expectAnswers,
};
