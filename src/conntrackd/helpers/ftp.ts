// FTP: PORT and EPRT from the client, 227 (PASV) and 229 (EPSV) replies from
// the server; each announced data port becomes an expectation created over
// ctnetlink before the packet goes on (a failure drops it), or, with NAT, the
// NAT variant plus a rewrite of the announced address and port.
//
// Only segments that start right after a "\n" are looked at: the private
// data remembers, per direction, up to two sequence numbers that follow a
// segment ending in "\n" (so a command split over segments is not parsed).
//
// Where this differs from conntrack-tools 1.4.7 (and follows the kernel's
// nf_conntrack_ftp it ports): the address an EPSV reply is checked against
// is the replying side's (1.4.7 takes the client's, so 229 never matched),
// and EPRT with the IPv6 form `|2|addr|port|` is parsed on IPv6 conntracks
// (1.4.7 always parses as IPv4, so it never matched).
import { pton6 } from "../../common/inet.ts";
import { ascii, dotted, isDigit, startsWith } from "./bytes.ts";
import {
  AF_INET6,
  type CtHelper,
  type HelperCall,
  IP_CT_ESTABLISHED,
  IP_CT_ESTABLISHED_REPLY,
  IPPROTO_TCP,
  NF_ACCEPT,
  sameAddr,
} from "./context.ts";
import { expectInit, expectNat } from "./expect.ts";
import { IPS_NAT_MASK } from "./nat.ts";

const enum FtpType {
  PORT,
  PASV,
  EPRT,
  EPSV,
}

/** struct ftp_info: seq_aft_nl[2][2] u32, then seq_aft_nl_num[2] int (host order). */
const PRIV_LEN = 24;
const NUM_SEQ_TO_REMEMBER = 2;

/** What a pattern's number parser found: address (in `addr`), port, and the matched length. */
class FtpCommand {
  readonly addr = new Uint8Array(16);
  port = 0;
}

interface Search {
  pattern: Uint8Array;
  skip: number;
  term: number;
  type: FtpType;
}

const SEARCH: readonly (readonly Search[])[] = [
  [
    { pattern: ascii("PORT"), skip: 0x20, term: 0x0d, type: FtpType.PORT },
    { pattern: ascii("EPRT"), skip: 0x20, term: 0x0d, type: FtpType.EPRT },
  ],
  [
    { pattern: ascii("227 "), skip: 0x28, term: 0x29, type: FtpType.PASV },
    { pattern: ascii("229 "), skip: 0x28, term: 0x29, type: FtpType.EPSV },
  ],
];

const nums = new Uint32Array(6);

/**
 * try_number(): `n` numbers separated by `sep` and ended by `term`; the count
 * of bytes before the terminator, or 0.
 */
function tryNumber(buf: Uint8Array, at: number, dlen: number, n: number, sep: number, term: number): number {
  nums.fill(0);
  let i = 0;
  for (let len = 0; len < dlen && i < n; len++) {
    const c = buf[at + len];
    if (isDigit(c)) nums[i] = nums[i] * 10 + c - 48;
    else if (c === sep) i++;
    else return c === term && i === n - 1 ? len : 0;
  }
  return 0;
}

/** get_port(): digits from `start` up to `delim`; the index after the delimiter, or 0. */
function getPort(
  buf: Uint8Array,
  at: number,
  start: number,
  dlen: number,
  delim: number,
  cmd: FtpCommand,
): number {
  let port = 0;
  for (let i = start; i < dlen; i++) {
    const c = buf[at + i];
    if (c === delim) {
      if (port === 0) break;
      cmd.port = port;
      return i + 1;
    }
    if (!isDigit(c)) break;
    port = (port * 10 + c - 48) & 0xffff;
  }
  return 0;
}

function setV4(addr: Uint8Array, a: number, b: number, c: number, d: number): void {
  const ip = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
  addr[0] = ip >>> 24;
  addr[1] = (ip >>> 16) & 0xff;
  addr[2] = (ip >>> 8) & 0xff;
  addr[3] = ip & 0xff;
}

/** "h1,h2,h3,h4,p1,p2" */
function tryRfc959(buf: Uint8Array, at: number, dlen: number, cmd: FtpCommand, term: number): number {
  const length = tryNumber(buf, at, dlen, 6, 0x2c, term);
  if (length === 0) return 0;
  setV4(cmd.addr, nums[0], nums[1], nums[2], nums[3]);
  cmd.port = ((nums[4] << 8) | nums[5]) & 0xffff;
  return length;
}

function validDelim(c: number): boolean {
  return !isDigit(c) && c >= 33 && c <= 126;
}

/** "|1|a.b.c.d|port|" (IPv4 conntracks) or "|2|v6addr|port|" (IPv6 conntracks). */
function tryEprt(buf: Uint8Array, at: number, dlen: number, cmd: FtpCommand, l3: number): number {
  if (dlen <= 3) return 0;
  const delim = buf[at];
  if (!validDelim(delim) || buf[at + 2] !== delim) return 0;
  const family = buf[at + 1];
  if (family !== (l3 === AF_INET6 ? 0x32 : 0x31)) return 0;
  let length: number;
  if (family === 0x31) {
    length = tryNumber(buf, at + 3, dlen - 3, 4, 0x2e, delim);
    if (length !== 0) setV4(cmd.addr, nums[0], nums[1], nums[2], nums[3]);
  } else {
    length = 0;
    for (let i = 3; i < dlen; i++) {
      if (buf[at + i] !== delim) continue;
      const a = pton6(String.fromCharCode(...buf.subarray(at + 3, at + i)));
      if (a) {
        cmd.addr.set(a);
        length = i - 3;
      }
      break;
    }
  }
  if (length === 0) return 0;
  return getPort(buf, at, 3 + length + 1, dlen, delim, cmd);
}

/** "|||port|" */
function tryEpsv(buf: Uint8Array, at: number, dlen: number, cmd: FtpCommand): number {
  if (dlen <= 3) return 0;
  const delim = buf[at];
  if (!validDelim(delim) || buf[at + 1] !== delim || buf[at + 2] !== delim) return 0;
  return getPort(buf, at, 3, dlen, delim, cmd);
}

/** Where ftp_find_pattern() matched: offset (from the payload) and length of the numbers. */
const match = { off: 0, len: 0 };

function findPattern(
  buf: Uint8Array,
  data: number,
  dlen: number,
  s: Search,
  cmd: FtpCommand,
  l3: number,
): boolean {
  if (dlen === 0 || dlen <= s.pattern.length) return false;
  if (!startsWith(buf, data, data + dlen, s.pattern)) return false;
  let i = s.pattern.length;
  while (buf[data + i] !== s.skip) {
    if (i === dlen - 1) return false;
    i++;
  }
  i++;
  let numlen: number;
  switch (s.type) {
    case FtpType.PORT:
    case FtpType.PASV:
      numlen = tryRfc959(buf, data + i, dlen - i, cmd, s.term);
      break;
    case FtpType.EPRT:
      numlen = tryEprt(buf, data + i, dlen - i, cmd, l3);
      break;
    case FtpType.EPSV:
      numlen = tryEpsv(buf, data + i, dlen - i, cmd);
      break;
  }
  if (!numlen) return false;
  match.off = i;
  match.len = numlen;
  return true;
}

function before(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

function seqAt(call: HelperCall, dir: number, i: number): number {
  return call.privView.getUint32((dir * NUM_SEQ_TO_REMEMBER + i) * 4, true);
}

function seqCount(call: HelperCall, dir: number): number {
  // A count the kernel handed back is trusted no further than the array.
  return Math.min(Math.max(call.privView.getInt32(16 + dir * 4, true), 0), NUM_SEQ_TO_REMEMBER);
}

/** find_nl_seq(): is `seq` just after a "\n" we saw in this direction? */
function findNlSeq(call: HelperCall, seq: number, dir: number): boolean {
  const n = seqCount(call, dir);
  for (let i = 0; i < n; i++) if (seqAt(call, dir, i) === seq) return true;
  return false;
}

/** update_nl_seq(): remember `seq`, replacing the older of two if it is newer. */
function updateNlSeq(call: HelperCall, seq: number, dir: number): void {
  const n = seqCount(call, dir);
  for (let i = 0; i < n; i++) if (seqAt(call, dir, i) === seq) return;
  const v = call.privView;
  if (n < NUM_SEQ_TO_REMEMBER) {
    v.setUint32((dir * NUM_SEQ_TO_REMEMBER + n) * 4, seq, true);
    v.setInt32(16 + dir * 4, n + 1, true);
    return;
  }
  const oldest = before(seqAt(call, dir, 0), seqAt(call, dir, 1)) ? 0 : 1;
  if (before(seqAt(call, dir, oldest), seq)) v.setUint32((dir * NUM_SEQ_TO_REMEMBER + oldest) * 4, seq, true);
}

/** The NAT rewrite of the matched numbers (nf_nat_ftp_fmt_cmd). */
function natText(type: FtpType, ip: Uint8Array, port: number): string {
  switch (type) {
    case FtpType.PORT:
    case FtpType.PASV:
      return `${ip[0]},${ip[1]},${ip[2]},${ip[3]},${port >> 8},${port & 0xff}`;
    case FtpType.EPRT:
      return `|1|${dotted(ip)}|${port}|`;
    case FtpType.EPSV:
      return `|||${port}|`;
  }
}

const cmd = new FtpCommand();

function run(call: HelperCall): void {
  if (call.ctinfo !== IP_CT_ESTABLISHED && call.ctinfo !== IP_CT_ESTABLISHED_REPLY) return;
  const { pkt, ct, dir } = call;
  const buf = pkt.buf;
  const dataoff = pkt.tcpDataOff();
  const datalen = pkt.len - dataoff;
  // The reference looks at the packet's last byte, whatever the payload length.
  const endsInNl = buf[pkt.len - 1] === 0x0a;
  const seq = pkt.tcpSeq();
  if (findNlSeq(call, seq, dir)) {
    cmd.addr.set(ct.tuples[dir].src);
    cmd.port = 0;
    let found: Search | null = null;
    for (const s of SEARCH[dir]) {
      if (findPattern(buf, dataoff, datalen, s, cmd, ct.l3)) {
        found = s;
        break;
      }
    }
    if (found) {
      const other = ct.tuples[1 - dir];
      // A different address than the sender's: not recorded (the kernel's non-"loose" mode).
      if (!sameAddr(cmd.addr, ct.tuples[dir].src)) return;
      const e = expectInit(call, 0, other.src, other.dst, IPPROTO_TCP, null, cmd.port, 0);
      if (ct.status & IPS_NAT_MASK) {
        expectNat(e, 1 - dir, IPPROTO_TCP, cmd.port);
        call.mangles.push({ at: match.off, len: match.len, text: natText(found.type, other.dst, cmd.port) });
      }
      call.create.push(e);
    }
  }
  if (endsInNl) updateNlSeq(call, (seq + datalen) >>> 0, dir);
  call.verdict = NF_ACCEPT;
}

export const ftpHelper: CtHelper = {
  name: "ftp",
  proto: IPPROTO_TCP,
  privLen: PRIV_LEN,
  policies: [{ name: "ftp", expectMax: 1, expectTimeout: 300 }],
  run,
};
