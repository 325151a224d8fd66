// Amanda backup (UDP 10080): the server's reply names on its first line,
// after "CONNECT ", the TCP ports the client is to connect to ("DATA n",
// "MESG n", "INDEX n"); each becomes an expectation from the client to the
// server (the last one goes with the verdict, NFQA_EXP). Replies can be
// slow, so the master's timeout is raised to 300 s on every reply. With NAT
// each expectation is created over ctnetlink and its number rewritten.
//
// Differences from conntrack-tools 1.4.7, both as the kernel's
// nf_conntrack_amanda: the expected port is the announced one (1.4.7
// overwrites it with the master's source port, so its expectations never
// match), and the payload is found from the transport header (1.4.7 assumes
// an IPv4 header, so it reads the wrong bytes on IPv6).
import { ascii, cstrEnd, indexOfByte, indexOfSeq, strtoulU16 } from "./bytes.ts";
import { type CtHelper, type HelperCall, IPPROTO_TCP, IPPROTO_UDP } from "./context.ts";
import { expectInit, expectNat } from "./expect.ts";
import { IPS_NAT_MASK } from "./nat.ts";

const MASTER_TIMEOUT = 300;
const CONNECT = ascii("CONNECT ");
const CONNS = [ascii("DATA "), ascii("MESG "), ascii("INDEX ")];

function run(call: HelperCall): void {
  if (call.dir === 0) return;
  call.setTimeout = MASTER_TIMEOUT;
  const { pkt, ct } = call;
  const buf = pkt.buf;
  const payload = pkt.udpDataOff();
  if (payload >= pkt.len) return;
  // The reference copies the payload into a C string: a NUL ends it.
  let end = cstrEnd(buf, payload, pkt.len);
  const connect = indexOfSeq(buf, payload, end, CONNECT);
  if (connect < 0) return;
  let data = connect + CONNECT.length;
  const nl = indexOfByte(buf, data, end, 0x0a);
  if (nl >= 0) end = nl;
  for (const conn of CONNS) {
    const m = indexOfSeq(buf, data, end, conn);
    if (m < 0) continue;
    const num = m + conn.length;
    const { value: port, next } = strtoulU16(buf, num, end);
    data = next;
    const len = next - num;
    if (port === 0 || len > 5) break;
    const e = expectInit(call, 0, ct.orig.src, ct.orig.dst, IPPROTO_TCP, null, port, 0);
    if (ct.status & IPS_NAT_MASK) {
      expectNat(e, 0, IPPROTO_TCP, port);
      call.create.push(e);
      call.mangles.push({ at: num - payload, len, text: String(port) });
    } else {
      call.attach = e;
    }
  }
}

export const amandaHelper: CtHelper = {
  name: "amanda",
  proto: IPPROTO_UDP,
  privLen: 0,
  policies: [{ name: "amanda", expectMax: 3, expectTimeout: 180 }],
  run,
};
