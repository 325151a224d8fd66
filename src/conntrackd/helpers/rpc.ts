// SunRPC portmapper (RFC 1057, XDR per RFC 1014), over UDP and TCP: a
// PMAPPROC_GETPORT call from the client is remembered (xid, program, version,
// protocol in the private data); the matching successful reply's port becomes
// a permanent expectation from the client to the server on that port, created
// over ctnetlink (a failure drops the reply). TCP payloads start with the
// 4-byte record mark; only established TCP connections are parsed.
import { be32At } from "./bytes.ts";
import {
  type CtHelper,
  type HelperCall,
  IP_CT_ESTABLISHED,
  IP_CT_ESTABLISHED_REPLY,
  IPPROTO_TCP,
  IPPROTO_UDP,
} from "./context.ts";
import { expectInit, expectNat, NF_CT_EXPECT_PERMANENT } from "./expect.ts";
import { IPS_NAT_MASK } from "./nat.ts";

const SUPPORTED_RPC_VERSION = 2;
const PMAPPROG = 100000;
const PMAPVERS = 2;
const PMAPPROC_GETPORT = 3;
const MAX_AUTH_BYTES = 400;
const CALL = 0;
const REPLY = 1;
const MSG_ACCEPTED = 0;
const SUCCESS = 0;

/** struct rpc_info: xid, pm_prog, pm_vers, pm_prot (host order u32). */
const PRIV_LEN = 16;
const XID = 0, PROG = 4, VERS = 8, PROT = 12;

const roundup = (n: number) => Math.floor((n + 3) / 4) * 4;

/** rpc_parse_call(): true when the call is a GETPORT query we can follow. */
function parseCall(call: HelperCall, p: number, offset: number, datalen: number): boolean {
  const { buf } = call.pkt;
  const priv = call.privView;
  const w = (i: number) => be32At(buf, i, datalen);
  offset += 4 * 4 + 2 * 2 * 4;
  if (datalen < offset) return false;
  if (w(p) !== SUPPORTED_RPC_VERSION) return false;
  if (w(p + 4) !== PMAPPROG) return false;
  if (w(p + 8) !== PMAPVERS) return false;
  if (w(p + 12) !== PMAPPROC_GETPORT) return false;
  // Credentials, then verifier: flavour, length, opaque body rounded to 4 bytes.
  let len = w(p + 20);
  p += 24;
  if (len > MAX_AUTH_BYTES) return false;
  offset += roundup(len);
  if (datalen < offset) return false;
  p += roundup(len);
  len = w(p + 4);
  p += 8;
  if (len > MAX_AUTH_BYTES) return false;
  offset += roundup(len);
  if (datalen < offset) return false;
  p += roundup(len);
  if (datalen !== offset + 4 * 4) return false;
  priv.setUint32(PROG, w(p), true);
  priv.setUint32(VERS, w(p + 4), true);
  const prot = w(p + 8);
  priv.setUint32(PROT, prot, true);
  if (prot !== IPPROTO_TCP && prot !== IPPROTO_UDP) return false;
  return w(p + 12) === 0;
}

/** rpc_reply(): the port of a successful GETPORT reply, or 0. */
function parseReply(call: HelperCall, p: number, offset: number, datalen: number): number {
  const { buf } = call.pkt;
  const w = (i: number) => be32At(buf, i, datalen);
  offset += 4;
  if (datalen < offset) return 0;
  if (w(p) !== MSG_ACCEPTED) return 0;
  offset += 8;
  if (datalen < offset) return 0;
  const len = w(p + 8);
  p += 12;
  if (len > MAX_AUTH_BYTES) return 0;
  offset += roundup(len);
  if (datalen !== offset + 2 * 4) return 0;
  p += roundup(len);
  if (w(p) !== SUCCESS) return 0;
  // The port is an XDR unsigned int the reference keeps in a uint16_t.
  return w(p + 4) & 0xffff;
}

function run(call: HelperCall): void {
  const { pkt, ct, dir } = call;
  const proto = ct.orig.proto;
  if (proto === IPPROTO_TCP && call.ctinfo !== IP_CT_ESTABLISHED && call.ctinfo !== IP_CT_ESTABLISHED_REPLY) {
    return;
  }
  let offset = proto === IPPROTO_TCP ? pkt.tcpDataOff() : pkt.udpDataOff();
  if (offset % 4) return;
  // The TCP record mark (last-fragment bit and length) precedes the message.
  if (proto === IPPROTO_TCP) offset += 4;
  const datalen = pkt.len;
  const p = offset;
  if (datalen < offset + 8) return;
  const xid = be32At(pkt.buf, p, datalen);
  const msgDir = be32At(pkt.buf, p + 4, datalen);
  offset += 8;
  const priv = call.privView;
  if ((msgDir === CALL && dir === 0) || (msgDir === REPLY && dir === 1)) {
    if (msgDir === CALL) {
      if (parseCall(call, p + 8, offset, datalen)) {
        priv.setUint32(XID, xid, true);
        return;
      }
    } else if (xid === priv.getUint32(XID, true)) {
      const port = parseReply(call, p + 8, offset, datalen);
      if (port !== 0) {
        const other = ct.tuples[1 - dir];
        const pmProt = priv.getUint32(PROT, true);
        const e = expectInit(call, 0, other.src, other.dst, pmProt, null, port, NF_CT_EXPECT_PERMANENT);
        // With NAT the expectation maps the same port (the reply needs no rewrite).
        if (ct.status & IPS_NAT_MASK) expectNat(e, 1 - dir, pmProt, port);
        call.create.push(e);
      }
    }
  }
  priv.setUint32(XID, 0, true);
}

export const rpcTcpHelper: CtHelper = {
  name: "rpc",
  proto: IPPROTO_TCP,
  privLen: PRIV_LEN,
  policies: [{ name: "rpc", expectMax: 1, expectTimeout: 300 }],
  run,
};

export const rpcUdpHelper: CtHelper = { ...rpcTcpHelper, proto: IPPROTO_UDP };
