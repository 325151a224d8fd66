// TFTP (RFC 1350): a read or write request expects the server's transfer
// from a new port back to the client's port: from the reply direction's
// source address, any port, to its destination address and port. The
// expectation goes with the verdict; with NAT it carries the NAT part
// (reply direction, the client's original port, "nat-follow-master").
import { be16At } from "./bytes.ts";
import { type CtHelper, type HelperCall, IPPROTO_UDP } from "./context.ts";
import { expectInit, expectNat } from "./expect.ts";
import { IPS_NAT_MASK } from "./nat.ts";

const TFTP_OPCODE_READ = 1;
const TFTP_OPCODE_WRITE = 2;

function run(call: HelperCall): void {
  const { pkt, ct } = call;
  const opcode = be16At(pkt.buf, pkt.protoff + 8, pkt.len);
  if (opcode !== TFTP_OPCODE_READ && opcode !== TFTP_OPCODE_WRITE) return;
  const reply = ct.tuples[1];
  const e = expectInit(call, 0, reply.src, reply.dst, IPPROTO_UDP, null, reply.dport, 0);
  if (ct.status & IPS_NAT_MASK) expectNat(e, 1, IPPROTO_UDP, ct.orig.sport, ct.l3);
  call.attach = e;
}

export const tftpHelper: CtHelper = {
  name: "tftp",
  proto: IPPROTO_UDP,
  privLen: 0,
  policies: [{ name: "tftp", expectMax: 1, expectTimeout: 300 }],
  run,
};
