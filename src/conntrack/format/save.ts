// `-o save`: conntrack's own printer (ct_save_snprintf in conntrack.c), which
// writes each entry as the command-line options that would recreate it.
import type { Conntrack, Tuple } from "../model.ts";
import type { MsgType } from "./common.ts";
import { DCCP_STATES, SAVE_DCCP_ROLES, SAVE_SCTP_STATES, TCP_STATES } from "./tables.ts";

const IPS_EXPECTED = 1 << 0;
const IPS_SEEN_REPLY = 1 << 1;
const IPS_ASSURED = 1 << 2;
const IPS_SRC_NAT_DONE = 1 << 7;
const IPS_DST_NAT_DONE = 1 << 8;
const IPS_FIXED_TIMEOUT = 1 << 10;

/** Command prefix by message type: listings and NEW events re-add, UPDATE updates, DESTROY deletes. */
const PREFIX: readonly string[] = ["-A ", "-A ", "-U ", "", "-D "];

/**
 * One entry as `-o save` prints it, or null for an L3 family the printer does
 * not support (the caller prints `WARNING: unsupported l3proto %d, skipping.`).
 * `cmdIsDelete` is true for `-D`, whose lines always start with "-D".
 */
export function formatSave(ct: Conntrack, msgType: MsgType, cmdIsDelete: boolean): string | null {
  const l3 = ct.orig.l3 || ct.reply.l3;
  if (l3 !== 2 && l3 !== 10) return null;
  const o = ct.orig, r = ct.reply;
  let s = cmdIsDelete ? "-D " : PREFIX[msgType] ?? "";
  if (ct.timeout !== undefined) s += "-t " + ct.timeout + " ";
  if (ct.status !== undefined) s += "-u " + statusList(ct.status) + " ";
  if (ct.secmark !== undefined) s += "-c " + ct.secmark + " ";
  if (ct.zone !== undefined) s += "-w " + ct.zone + " ";
  if (o.zone !== undefined) s += "--orig-zone " + o.zone + " ";
  if (r.zone !== undefined) s += "--reply-zone " + r.zone + " ";
  // Each address prints only if its attribute is present; NAT swaps the option letter.
  if (hasSrc(o, l3)) s += "-s " + o.src + " ";
  if (hasDst(o, l3)) s += "-d " + o.dst + " ";
  if (hasSrc(r, l3)) s += (isDnat(ct, l3) ? "-g " : "-r ") + r.src + " ";
  if (hasDst(r, l3)) s += (isSnat(ct, l3) ? "-n " : "-q ") + r.dst + " ";
  // Every option ends in one blank and "-p" always comes last: trimming is dropping that blank.
  return (s + protoOptions(ct)).slice(0, -1);
}

/** "-u" value: the four mapped status bits in bit order, or UNSET. */
function statusList(status: number): string {
  let s = "";
  if (status & IPS_EXPECTED) s = "EXPECTED";
  if (status & IPS_SEEN_REPLY) s += s ? ",SEEN_REPLY" : "SEEN_REPLY";
  if (status & IPS_ASSURED) s += s ? ",ASSURED" : "ASSURED";
  if (status & IPS_FIXED_TIMEOUT) s += s ? ",FIXED_TIMEOUT" : "FIXED_TIMEOUT";
  return s || "UNSET";
}

/** Is the address attribute of the family in use present (an IPv4 attribute for AF_INET…)? */
function isFamilyAddr(a: string | undefined, l3: number): a is string {
  return a !== undefined && (a.includes(":") === (l3 === 10));
}
function hasSrc(t: Tuple, l3: number): boolean {
  return isFamilyAddr(t.src, l3);
}
function hasDst(t: Tuple, l3: number): boolean {
  return isFamilyAddr(t.dst, l3);
}

function zeroAddr(l3: number): string {
  return l3 === 10 ? "::" : "0.0.0.0";
}

/** NFCT_GOPT_IS_SNAT: SRC_NAT_DONE (when status is known) and reply dst differs from orig src. */
function isSnat(ct: Conntrack, l3: number): boolean {
  if (ct.status !== undefined && !(ct.status & IPS_SRC_NAT_DONE)) return false;
  return (ct.reply.dst ?? zeroAddr(l3)) !== (ct.orig.src ?? zeroAddr(l3));
}

/** NFCT_GOPT_IS_DNAT: DST_NAT_DONE (when status is known) and reply src differs from orig dst. */
function isDnat(ct: Conntrack, l3: number): boolean {
  if (ct.status !== undefined && !(ct.status & IPS_DST_NAT_DONE)) return false;
  return (ct.reply.src ?? zeroAddr(l3)) !== (ct.orig.dst ?? zeroAddr(l3));
}

/** "-p NAME <options>" for the protocols conntrack has a module for, else "-p NUMBER". */
function protoOptions(ct: Conntrack): string {
  const o = ct.orig, r = ct.reply;
  const proto = o.proto ?? 0;
  switch (proto) {
    case 6:
      return "-p tcp " + ports(o, r, "--sport ", "--dport ", "--reply-port-src ", "--reply-port-dst ") +
        (ct.state !== undefined ? "--state " + tableName(TCP_STATES, ct.state) + " " : "");
    case 17:
      return "-p udp " + ports(o, r, "--sport ", "--dport ", "--reply-port-src ", "--reply-port-dst ");
    case 136:
      return "-p udplite " + ports(o, r, "--sport ", "--dport ", "--reply-port-src ", "--reply-port-dst ");
    case 132: {
      let s = "-p sctp " + ports(o, r, "--sport ", "--dport ", "--reply-port-src ", "--reply-port-dst ");
      if (ct.state !== undefined) s += "--state " + tableName(SAVE_SCTP_STATES, ct.state) + " ";
      // conntrack byte-swaps the host-order vtags again (CT_ATTR_TYPE_BE32 on a host value).
      if (ct.sctpVtagOrig !== undefined) s += "--orig-vtag " + bswap32(ct.sctpVtagOrig) + " ";
      if (ct.sctpVtagReply !== undefined) s += "--reply-vtag " + bswap32(ct.sctpVtagReply) + " ";
      return s;
    }
    case 33: {
      let s = "-p dccp " + ports(o, r, "--sport ", "--dport ", "--reply-port-src ", "--reply-port-dst ");
      if (ct.state !== undefined) s += "--state " + tableName(DCCP_STATES, ct.state) + " ";
      if (ct.dccpRole !== undefined) s += "--role " + tableName(SAVE_DCCP_ROLES, ct.dccpRole) + " ";
      return s;
    }
    case 47:
      return "-p gre " + ports(o, r, "--srckey ", "--dstkey ", "--reply-key-src ", "--reply-key-dst ");
    case 1:
      return "-p icmp " + icmp(ct, "--icmp-type ", "--icmp-code ", "--icmp-id ");
    case 58:
      return "-p icmpv6 " + icmp(ct, "--icmpv6-type ", "--icmpv6-code ", "--icmpv6-id ");
  }
  return "-p " + proto + " ";
}

function ports(o: Tuple, r: Tuple, sport: string, dport: string, rsport: string, rdport: string): string {
  let s = "";
  if (o.sport !== undefined) s += sport + o.sport + " ";
  if (o.dport !== undefined) s += dport + o.dport + " ";
  if (r.sport !== undefined) s += rsport + r.sport + " ";
  if (r.dport !== undefined) s += rdport + r.dport + " ";
  return s;
}

/**
 * The ICMP attributes are one set bit each for the whole entry (either
 * direction sets it) while the value is read from the original tuple.
 */
function icmp(ct: Conntrack, type: string, code: string, id: string): string {
  const o = ct.orig, r = ct.reply;
  let s = "";
  if (o.icmpType !== undefined || r.icmpType !== undefined) s += type + (o.icmpType ?? 0) + " ";
  if (o.icmpCode !== undefined || r.icmpCode !== undefined) s += code + (o.icmpCode ?? 0) + " ";
  if (o.icmpId !== undefined || r.icmpId !== undefined) s += id + (o.icmpId ?? 0) + " ";
  return s;
}

/** A name from one of conntrack's fixed tables; a NULL slot prints as glibc's "(null)". */
function tableName(table: readonly string[], i: number): string {
  return table[i] ?? "(null)";
}

function bswap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}
