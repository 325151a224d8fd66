// Oracle TNS (SQL*Net v2): the server answers a connect with a REDIRECT
// carrying `(ADDRESS=(PROTOCOL=tcp)(HOST=a.b.c.d)(PORT=n))`, either in the
// REDIRECT itself or, when its data length is 0, in the DATA packet that
// follows (remembered in one byte of private data). The address becomes an
// expectation from the client to HOST:PORT, created over ctnetlink; with NAT
// the text is rewritten and the TNS length fields follow the new size.
//
// The scans are C-string scans (strstr) as in the reference: a NUL byte ends
// the text. Differences from conntrack-tools 1.4.7, whose NAT path is broken:
// the rewrite lands on the HOST number in DATA packets too (1.4.7 writes 8
// bytes too far there) and the length fields grow by the size difference
// (1.4.7 subtracts it).
import { ascii, be16At, byteAt, cstrEnd, dotted, indexOfByte, indexOfSeq, isDigit } from "./bytes.ts";
import {
  type CtHelper,
  type HelperCall,
  IP_CT_ESTABLISHED,
  IP_CT_ESTABLISHED_REPLY,
  IPPROTO_TCP,
  type Packet,
} from "./context.ts";
import { expectInit, expectNat } from "./expect.ts";
import { IPS_NAT_MASK } from "./nat.ts";

const TNS_TYPE_REDIRECT = 5;
const TNS_TYPE_DATA = 6;
const TNS_HEADER = 8;

const HOST = ascii("HOST=");
const PORT = ascii("PORT=");
const OPEN = 0x28, CLOSE = 0x29, SPACE = 0x20, DOT = 0x2e;

const found = { addr: new Uint8Array(16), port: 0, numoff: 0, numlen: 0 };
const nums = new Uint32Array(4);

/** try_number() with spaces skipped: four dotted numbers ended by ')'. */
function tryNumber(buf: Uint8Array, at: number, end: number): number {
  nums.fill(0);
  let i = 0;
  for (let len = 0; at + len < end && i < 4; len++) {
    const c = buf[at + len];
    if (isDigit(c)) nums[i] = nums[i] * 10 + c - 48;
    else if (c === DOT) i++;
    else if (c === SPACE) continue;
    else return c === CLOSE && i === 3 ? len : 0;
  }
  return 0;
}

/** get_port() with spaces skipped: digits up to ')'; bytes consumed (with the ')'), or 0. */
function getPort(buf: Uint8Array, at: number, end: number): number {
  let port = 0;
  for (let i = 0; at + i < end; i++) {
    const c = buf[at + i];
    if (c === CLOSE) {
      if (port === 0) return 0;
      found.port = port;
      return i + 1;
    }
    if (isDigit(c)) port = (port * 10 + c - 48) & 0xffff;
    else if (c !== SPACE) return 0;
  }
  return 0;
}

/**
 * find_pattern() over the text from `text` (a C string ending at `end`):
 * fills `found` and returns true when HOST and PORT were both read.
 */
function findPattern(buf: Uint8Array, text: number, end: number): boolean {
  const open = indexOfByte(buf, text, end, OPEN);
  if (open < 0) return false;
  const host = indexOfSeq(buf, open + 1, end, HOST);
  if (host < 0) return false;
  const start = host + HOST.length;
  const length = tryNumber(buf, start, end);
  if (length === 0) return false;
  const ip = ((nums[0] << 24) | (nums[1] << 16) | (nums[2] << 8) | nums[3]) >>> 0;
  found.addr.fill(0);
  found.addr[0] = ip >>> 24;
  found.addr[1] = (ip >>> 16) & 0xff;
  found.addr[2] = (ip >>> 8) & 0xff;
  found.addr[3] = ip & 0xff;
  const open2 = indexOfByte(buf, start + length, end, OPEN);
  if (open2 < 0) return false;
  const port = indexOfSeq(buf, open2, end, PORT);
  if (port < 0) return false;
  const ret = getPort(buf, port + PORT.length, end);
  if (ret === 0) return false;
  found.numoff = start;
  found.numlen = port + PORT.length + ret - start;
  return true;
}

/** After a NAT rewrite changed the size: new lengths, checksums zeroed (not recomputed). */
function lengthFixup(tns: number, redirect: boolean) {
  return (pkt: Packet, delta: number) => {
    if (delta === 0) return;
    const v = pkt.view;
    v.setUint16(tns, (v.getUint16(tns, false) + delta) & 0xffff, false);
    v.setUint16(tns + 2, 0, false);
    v.setUint16(tns + 6, 0, false);
    if (redirect) v.setUint16(tns + 8, (v.getUint16(tns + 8, false) + delta) & 0xffff, false);
  };
}

function run(call: HelperCall): void {
  if (call.ctinfo !== IP_CT_ESTABLISHED && call.ctinfo !== IP_CT_ESTABLISHED_REPLY) return;
  // Only the server's packets carry redirects.
  if (call.dir !== 1) return;
  const { pkt, ct } = call;
  const buf = pkt.buf;
  const payload = pkt.tcpDataOff();
  const type = byteAt(buf, payload + 4, pkt.len);
  let text: number;
  if (type === TNS_TYPE_REDIRECT) {
    call.priv[0] = 0;
    if (be16At(buf, payload + TNS_HEADER, pkt.len) === 0) {
      call.priv[0] = 1;
      return;
    }
    // The reference starts its scan 8 bytes past the redirect's data length field.
    text = payload + 2 * TNS_HEADER;
  } else {
    const parse = call.priv[0] !== 0 && type === TNS_TYPE_DATA;
    call.priv[0] = 0;
    if (!parse) return;
    text = payload + TNS_HEADER;
  }
  if (text >= pkt.len || !findPattern(buf, text, cstrEnd(buf, text, pkt.len))) return;
  const client = ct.tuples[0];
  const e = expectInit(call, 0, client.src, found.addr, IPPROTO_TCP, null, found.port, 0);
  if (ct.status & IPS_NAT_MASK) {
    expectNat(e, 0, IPPROTO_TCP, found.port);
    call.mangles.push({
      at: found.numoff - payload,
      len: found.numlen,
      text: `${dotted(client.dst)})(PORT=${found.port})`,
      fixup: lengthFixup(payload, type === TNS_TYPE_REDIRECT),
    });
  }
  call.create.push(e);
}

export const tnsHelper: CtHelper = {
  name: "tns",
  proto: IPPROTO_TCP,
  privLen: 1,
  policies: [{ name: "tns", expectMax: 1, expectTimeout: 300 }],
  run,
};
