// SSDP / UPnP (UDP 1900, and the HTTP eventing connections over TCP):
// - a new UDP flow that is an M-SEARCH to the SSDP group (239.255.255.250,
//   ff02::c, ff05::c) expects the devices' unicast answers to the searcher;
// - an answer's "LOCATION: http://addr[:port]" expects the control point's
//   TCP connection to the device's description URL (default port 80);
// - on TCP, a "SUBSCRIBE" with "CALLBACK: <http://addr:port" naming the
//   subscriber itself expects the device's NOTIFY connections back to it, and
//   a "NOTIFY" renews the expectation of the connection it arrives on.
// All expectations carry the helper name "ssdp" and go with the verdict;
// with source NAT (destination NAT for NOTIFY) they are created over
// ctnetlink with the NAT part, and the SUBSCRIBE callback text is rewritten.
//
// Difference from conntrack-tools 1.4.7: an IPv6 URL's port after "]:" is
// read (1.4.7 looks for the ':' at the ']' and always takes port 80).
import { pton4, pton6 } from "../../common/inet.ts";
import { ascii, byteAt, dotted, indexOfByte, startsWith, startsWithNoCase } from "./bytes.ts";
import {
  AF_INET,
  AF_INET6,
  type CtHelper,
  type HelperCall,
  IP_CT_ESTABLISHED,
  IP_CT_NEW,
  IPPROTO_TCP,
  IPPROTO_UDP,
  sameAddr,
} from "./context.ts";
import { expectInit, expectNat, type HelperExpect, NF_CT_EXPECT_PERMANENT } from "./expect.ts";
import { IPS_DST_NAT, IPS_SRC_NAT } from "./nat.ts";

const SSDP_MCAST = new Uint8Array(16);
SSDP_MCAST.set([239, 255, 255, 250]);
const UPNP_MCAST_LL = pton6("ff02::c")!;
const UPNP_MCAST_SL = pton6("ff05::c")!;
const M_SEARCH = ascii("M-SEARCH");
const NOTIFY = ascii("NOTIFY ");
const SUBSCRIBE = ascii("SUBSCRIBE ");
const LOCATION = ascii("LOCATION: ");
const CALLBACK = ascii("CALLBACK: <");
const HTTP = ascii("http://");
const HTTP6 = ascii("http://[");
const VALUE_MAX = 256;

/**
 * find_hdr(): the value of the CRLF-separated header `name` (case-insensitive)
 * in buf[at..end): its offset and length (up to the '\r', at most 256 bytes),
 * or null. Like the reference, the value may run past the payload's end only
 * into zeros, which never hold the '\r' it needs.
 */
function findHeader(
  buf: Uint8Array,
  at: number,
  end: number,
  name: Uint8Array,
): { at: number; len: number } | null {
  let len = end - at;
  for (;;) {
    if (len < name.length + 2) return null;
    if (startsWithNoCase(buf, at, end, name)) break;
    let i = 0;
    for (;; i++) {
      if (i >= len - 1) return null;
      if (buf[at + i] === 0x0d && buf[at + i + 1] === 0x0a) break;
    }
    len -= i + 2;
    at += i + 2;
  }
  at += name.length;
  for (let i = 0; i < VALUE_MAX; i++) {
    if (byteAt(buf, at + i, end) === 0x0d) {
      // The value is a C string: an embedded NUL ends it.
      const nul = indexOfByte(buf, at, at + i, 0);
      return { at, len: nul < 0 ? i : nul - at };
    }
  }
  return null;
}

const url = { addr: new Uint8Array(16), port: 0, off: 0, len: 0 };

function text(buf: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...buf.subarray(from, to));
}

/** strtol(s, &end, 10): value (low 16 bits, as stored in a port) and the end index. */
function strtol16(buf: Uint8Array, at: number, end: number): { value: number; next: number } {
  let i = at;
  while (i < end && (buf[i] === 32 || (buf[i] >= 9 && buf[i] <= 13))) i++;
  let neg = false;
  if (i < end && (buf[i] === 43 || buf[i] === 45)) neg = buf[i++] === 45;
  const digits = i;
  let v = 0;
  while (i < end && buf[i] >= 48 && buf[i] <= 57) v = (v * 10 + buf[i++] - 48) % 65536;
  if (i === digits) return { value: 0, next: at };
  if (i - digits > 18) return { value: neg ? 0 : 0xffff, next: i };
  return { value: neg ? (65536 - v) % 65536 : v, next: i };
}

/** parse_url(): address and port of "http://a.b.c.d[:port]" or "http://[v6][:port]" in buf[at..end). */
function parseUrl(buf: Uint8Array, at: number, end: number, l3: number): boolean {
  url.addr.fill(0);
  let host: number, hostEnd: number, after: number;
  if (startsWithNoCase(buf, at, end, HTTP6)) {
    if (l3 !== AF_INET6) return false;
    host = at + HTTP6.length;
    hostEnd = indexOfByte(buf, host, end, 0x5d);
    if (hostEnd < 0 || hostEnd - host > 63) return false;
    const a = pton6(text(buf, host, hostEnd));
    if (!a) return false;
    url.addr.set(a);
    after = hostEnd + 1;
  } else if (startsWithNoCase(buf, at, end, HTTP)) {
    if (l3 !== AF_INET) return false;
    host = at + HTTP.length;
    hostEnd = host;
    while (hostEnd < end && (buf[hostEnd] === 0x2e || (buf[hostEnd] >= 48 && buf[hostEnd] <= 57))) hostEnd++;
    if (hostEnd - host > 63) return false;
    const a = pton4(text(buf, host, hostEnd));
    if (!a) return false;
    url.addr.set(a);
    after = hostEnd;
  } else {
    return false;
  }
  url.off = host - at;
  if (after >= end || buf[after] !== 0x3a) {
    url.port = 80;
    url.len = hostEnd - host;
  } else {
    const { value, next } = strtol16(buf, after + 1, end);
    url.port = value;
    url.len = hostEnd - host + (next === after + 1 ? 1 : next - after);
  }
  return true;
}

function named(e: HelperExpect): HelperExpect {
  e.sendHelperName = true;
  e.helper = "ssdp";
  return e;
}

/**
 * nf_nat_ssdp(): the expectation is created over ctnetlink with the NAT part
 * (reverse direction, or the same one for a NOTIFY renewal) and, for a
 * SUBSCRIBE, the callback "addr:port" is rewritten.
 */
function natSsdp(call: HelperCall, e: HelperExpect, renewal: boolean, at: number, len: number): void {
  const { ct, dir } = call;
  expectNat(e, renewal ? dir : 1 - dir, ct.orig.proto, e.tuple.dport);
  call.create.push(e);
  if (at === 0) return;
  const newip = ct.tuples[1 - dir].dst;
  call.mangles.push({ at, len, text: `${dotted(newip)}:${e.tuple.dport}` });
}

function isSearchGroup(l3: number, dst: Uint8Array): boolean {
  if (l3 === AF_INET) return sameAddr(dst, SSDP_MCAST);
  return l3 === AF_INET6 && (sameAddr(dst, UPNP_MCAST_LL) || sameAddr(dst, UPNP_MCAST_SL));
}

function handleNew(call: HelperCall): void {
  const { pkt, ct } = call;
  if (!isSearchGroup(ct.l3, ct.orig.dst)) return;
  const data = pkt.udpDataOff();
  if (data >= pkt.len) return;
  for (let i = 0; i < M_SEARCH.length; i++) if (byteAt(pkt.buf, data + i, pkt.len) !== M_SEARCH[i]) return;
  const e = named(
    expectInit(call, 0, null, ct.orig.src, IPPROTO_UDP, null, ct.orig.sport, NF_CT_EXPECT_PERMANENT),
  );
  if (ct.status & IPS_SRC_NAT) natSsdp(call, e, false, 0, 0);
  else call.attach = e;
}

function handleReply(call: HelperCall): void {
  const { pkt, ct } = call;
  const data = pkt.udpDataOff();
  if (pkt.len < data) return;
  const h = findHeader(pkt.buf, data, pkt.len, LOCATION);
  if (!h || !parseUrl(pkt.buf, h.at, h.at + h.len, ct.l3)) return;
  const e = named(expectInit(call, 0, null, url.addr, IPPROTO_TCP, null, url.port, NF_CT_EXPECT_PERMANENT));
  if (ct.status & IPS_SRC_NAT) natSsdp(call, e, false, 0, 0);
  else call.attach = e;
}

/** A NOTIFY on an expected connection renews that expectation. */
function renew(call: HelperCall): void {
  const { ct, dir } = call;
  const t = ct.tuples[dir];
  const e = named(expectInit(call, 0, t.src, t.dst, IPPROTO_TCP, null, t.dport, 0));
  if (ct.status & IPS_DST_NAT) natSsdp(call, e, true, 0, 0);
  else call.attach = e;
}

function handleHttpRequest(call: HelperCall): void {
  const { pkt, ct, dir } = call;
  const buf = pkt.buf;
  const data = pkt.tcpDataOff();
  const end = pkt.len;
  if (startsWith(buf, data, end, NOTIFY)) return renew(call);
  if (!startsWith(buf, data, end, SUBSCRIBE)) return;
  const h = findHeader(buf, data, end, CALLBACK);
  if (!h || !parseUrl(buf, h.at, h.at + h.len, ct.l3)) return;
  // Only a callback to the subscriber itself.
  if (!sameAddr(ct.tuples[dir].src, url.addr)) return;
  const other = ct.tuples[1 - dir];
  const e = named(expectInit(call, 0, other.src, other.dst, IPPROTO_TCP, null, url.port, 0));
  if (ct.status & IPS_SRC_NAT) natSsdp(call, e, false, h.at - data + url.off, url.len);
  else call.attach = e;
}

function run(call: HelperCall): void {
  if (call.ctinfo === IP_CT_NEW) return handleNew(call);
  if (call.ct.orig.proto === IPPROTO_UDP) return handleReply(call);
  if (call.ctinfo === IP_CT_ESTABLISHED) handleHttpRequest(call);
}

export const ssdpUdpHelper: CtHelper = {
  name: "ssdp",
  proto: IPPROTO_UDP,
  privLen: 0,
  policies: [{ name: "ssdp", expectMax: 8, expectTimeout: 300 }],
  run,
};

export const ssdpTcpHelper: CtHelper = { ...ssdpUdpHelper, proto: IPPROTO_TCP };
