// DHCPv6 (RFC 8415): a client's message to a multicast group (ff00::/8)
// expects the servers' unicast replies to its own address on UDP port 546;
// the expectation goes with the verdict (NFQA_EXP) and the master's timeout
// is set to how long replies to that message type may take.
import { byteAt } from "./bytes.ts";
import { type CtHelper, type HelperCall, IPPROTO_UDP, NF_DROP } from "./context.ts";
import { expectInit, NF_CT_EXPECT_PERMANENT } from "./expect.ts";

const DHCPV6_CLIENT_PORT = 546;

/** Seconds to wait for replies, by message type (0: leave the timeout alone). */
const TIMEOUTS = [0, 120, 0, 30, 4, 600, 600, 0, 1, 1, 0, 120, 0, 0];

function run(call: HelperCall): void {
  const { pkt, ct, dir } = call;
  const buf = pkt.buf;
  if (buf[0] >> 4 !== 6 || buf[24] !== 0xff) return;
  const type = byteAt(buf, pkt.protoff + 8, pkt.len);
  if (type >= TIMEOUTS.length) {
    call.notice = `Dropping DHCPv6 message with bad type ${type}`;
    call.verdict = NF_DROP;
    return;
  }
  call.attach = expectInit(
    call,
    0,
    null,
    ct.tuples[dir].src,
    IPPROTO_UDP,
    null,
    DHCPV6_CLIENT_PORT,
    NF_CT_EXPECT_PERMANENT,
  );
  if (TIMEOUTS[type] > 0) call.setTimeout = TIMEOUTS[type];
}

export const dhcpv6Helper: CtHelper = {
  name: "dhcpv6",
  proto: IPPROTO_UDP,
  privLen: 0,
  policies: [{ name: "dhcpv6", expectMax: 1, expectTimeout: 300 }],
  run,
};
