// The cache forms of a plain flow written from flat scratch state, and a cached
// record read back into it: the same key as ctKey (ct_object.ts) and the same
// record as encodeRecord (ct_record.ts) give for the Conntrack the flow decodes
// to, with its counters and use stripped as the internal cache strips them.
import { ntop6 } from "../../common/inet.ts";
import * as R from "./ct_record.ts";
import { C_OBJ_DEAD, type Cache } from "./cache.ts";
import type { Conntrack } from "../../conntrack/model.ts";
import * as F from "./flat_ct.ts";
import { FlatCt, isPlain } from "./flat_ct.ts";

/** ctKey of the flow: 12 chars for IPv4 (ipv4Key), the text key for IPv6 (ctTextKey). */
export function flatKey(f: FlatCt): string {
  const t = f.t, icmp = f.isIcmp();
  const l4a = icmp ? t[F.TF_ICMP_TYPE] : t[F.TF_SPORT];
  const l4b = icmp ? t[F.TF_ICMP_CODE] : t[F.TF_DPORT];
  const l4c = icmp ? t[F.TF_ICMP_ID] : 0;
  const zone = f.has & (1 << F.N_ZONE) ? f.n[F.N_ZONE] : 0;
  const a = f.addr;
  if (f.l3 === 2) {
    // Every field of a plain flow is set: no "unset" bits; no tuple zones.
    return String.fromCharCode(
      2,
      0,
      t[F.TF_PROTO],
      (a[0] << 8) | a[1],
      (a[2] << 8) | a[3],
      (a[16] << 8) | a[17],
      (a[18] << 8) | a[19],
      l4a,
      l4b,
      l4c,
      zone,
      0,
    );
  }
  const l4 = icmp ? `${l4a}/${l4b}/${l4c}` : `${l4a}/${l4b}`;
  return `${f.l3} ${t[F.TF_PROTO]} ${ntop6(a, F.A_ORIG_SRC)} ${ntop6(a, F.A_ORIG_DST)} ${l4} ${zone} 0`;
}

// Built as char codes, as encodeRecord does (fromCharCode.apply on a packed array).
const out: number[] = [];
let p = 0;

function u16(v: number): void {
  out[p++] = (v >>> 8) & 0xff;
  out[p++] = v & 0xff;
}
function u32(v: number): void {
  out[p++] = v >>> 24;
  out[p++] = (v >>> 16) & 0xff;
  out[p++] = (v >>> 8) & 0xff;
  out[p++] = v & 0xff;
}
function num(tag: number, v: number): void {
  out[p++] = tag;
  out[p++] = v >>> 24;
  out[p++] = (v >>> 16) & 0xff;
  out[p++] = (v >>> 8) & 0xff;
  out[p++] = v & 0xff;
}
function address(a: Uint8Array, off: number, n: number): void {
  out[p++] = n;
  for (let i = 0; i < n; i++) out[p++] = a[off + i];
}

function tuple(f: FlatCt, tag: number, dir: number, src: number, dst: number): void {
  const t = f.t, b = dir * 6, n = f.addrLen;
  out[p++] = tag;
  out[p++] = f.l3;
  out[p++] = R.TU_SRC;
  address(f.addr, src, n);
  out[p++] = R.TU_DST;
  address(f.addr, dst, n);
  out[p++] = R.TU_PROTO;
  out[p++] = t[b + F.TF_PROTO];
  if (f.isIcmp()) {
    out[p++] = R.TU_ICMP_TYPE;
    out[p++] = t[b + F.TF_ICMP_TYPE];
    out[p++] = R.TU_ICMP_CODE;
    out[p++] = t[b + F.TF_ICMP_CODE];
    out[p++] = R.TU_ICMP_ID;
    u16(t[b + F.TF_ICMP_ID]);
  } else {
    out[p++] = R.TU_SPORT;
    u16(t[b + F.TF_SPORT]);
    out[p++] = R.TU_DPORT;
    u16(t[b + F.TF_DPORT]);
  }
  out[p++] = R.T_END;
}

// Record tags of FlatCt.n in record order (use sits between secmark and id but is never cached).
const NUM_TAGS: readonly (readonly [number, number])[] = [
  [F.N_STATUS, R.U_STATUS],
  [F.N_TIMEOUT, R.U_TIMEOUT],
  [F.N_MARK, R.U_MARK],
  [F.N_SECMARK, R.U_SECMARK],
  [F.N_ID, R.U_ID],
  [F.N_ZONE, R.U_ZONE],
  [F.N_STATE, R.U_STATE],
  [F.N_WSO, R.U_WSO],
  [F.N_WSR, R.U_WSR],
  [F.N_FLO, R.U_FLO],
  [F.N_MKO, R.U_MKO],
  [F.N_FLR, R.U_FLR],
  [F.N_MKR, R.U_MKR],
];

/** Every numeric field a plain flow's record may hold, in encodeRecord's order (the use count too). */
const ALL_NUM_TAGS: readonly (readonly [number, number])[] = [
  ...NUM_TAGS.slice(0, NUM_TAGS.findIndex((e) => e[0] === F.N_ID)),
  [F.N_USE, R.U_USE],
  ...NUM_TAGS.slice(NUM_TAGS.findIndex((e) => e[0] === F.N_ID)),
];

/** Stats mode's numeric fields of a NEW event: no timeout, and the use count. */
const STATS_NUM_TAGS = ALL_NUM_TAGS.filter((e) => e[0] !== F.N_TIMEOUT);

/** Numeric fields without the timeout (Stats mode's dumps). */
const UNTIMED_NUM_TAGS = NUM_TAGS.filter((e) => e[0] !== F.N_TIMEOUT);

/** encodeRecord of the flow (counters and use are not part of it; nor the timeout when `untimed`). */
export function flatRecord(f: FlatCt, untimed = false): string {
  p = 0;
  tuple(f, R.T_ORIG, 0, F.A_ORIG_SRC, F.A_ORIG_DST);
  tuple(f, R.T_REPLY, 1, F.A_REPLY_SRC, F.A_REPLY_DST);
  return finish(f, untimed ? UNTIMED_NUM_TAGS : NUM_TAGS);
}

/**
 * Stats mode's record of a NEW event (the conntrack without its timeout, use and counters kept);
 * null when the event had counters, which the flat form does not hold.
 */
export function flatStatsRecord(f: FlatCt): string | null {
  if (f.has & F.H_COUNTERS) return null;
  p = 0;
  tuple(f, R.T_ORIG, 0, F.A_ORIG_SRC, F.A_ORIG_DST);
  tuple(f, R.T_REPLY, 1, F.A_REPLY_SRC, F.A_REPLY_DST);
  return finish(f, STATS_NUM_TAGS);
}

/**
 * encodeRecord of a flow received from a peer (sync/wire/ct_flat_parse.ts): the original
 * tuple only, the reply tuple empty (family 0) as decodeCtPayload leaves it.
 */
export function flatPeerRecord(f: FlatCt): string {
  p = 0;
  tuple(f, R.T_ORIG, 0, F.A_ORIG_SRC, F.A_ORIG_DST);
  out[p++] = R.T_REPLY;
  out[p++] = 0;
  out[p++] = R.T_END;
  return finish(f);
}

/** The fields after the tuples, then the string. */
function finish(f: FlatCt, tags = NUM_TAGS): string {
  const has = f.has, n = f.n;
  for (let i = 0; i < tags.length; i++) {
    const e = tags[i];
    if (has & (1 << e[0])) num(e[1], n[e[0]]);
  }
  if (has & F.H_TS_START) {
    out[p++] = R.B_TS_START;
    for (let i = 0; i < 8; i++) out[p++] = f.ts[i];
  }
  if (has & F.H_TS_STOP) {
    out[p++] = R.B_TS_STOP;
    for (let i = 8; i < 16; i++) out[p++] = f.ts[i];
  }
  if (has & F.H_SYNPROXY) {
    out[p++] = R.P_SYNPROXY;
    u32(n[F.N_SP_ISN]);
    u32(n[F.N_SP_ITS]);
    u32(n[F.N_SP_TSOFF]);
  }
  out.length = p;
  return String.fromCharCode.apply(null, out);
}

// Record tag -> FlatCt.n index, for the numeric fields a plain flow may carry (-1: not plain).
const NUM_INDEX = new Int8Array(64).fill(-1);
for (const [i, tag] of ALL_NUM_TAGS) NUM_INDEX[tag] = i;

let rec = "";
let q = 0;

function g16(): number {
  const v = R.recordU16(rec, q);
  q += 2;
  return v;
}

function g32(): number {
  const v = R.recordU32(rec, q);
  q += 4;
  return v;
}

/** A tuple of the record into `f`; false when it holds anything a plain flow lacks. */
function readTuple(f: FlatCt, dir: number, src: number, dst: number): boolean {
  const l3 = rec.charCodeAt(q++);
  if (dir === 0) f.l3 = l3;
  else if (l3 !== f.l3) return false;
  const n = l3 === 2 ? 4 : 16, b = dir * 6, t = f.t;
  let has = 0;
  for (;;) {
    const field = rec.charCodeAt(q++);
    switch (field) {
      case R.T_END:
        f.hasT[dir] = has;
        return true;
      case R.TU_SRC:
      case R.TU_DST: {
        if (rec.charCodeAt(q++) !== n) return false;
        const at = field === R.TU_SRC ? src : dst;
        for (let i = 0; i < n; i++) f.addr[at + i] = rec.charCodeAt(q + i);
        q += n;
        has |= field === R.TU_SRC ? F.HT_SRC : F.HT_DST;
        break;
      }
      case R.TU_PROTO:
        t[b + F.TF_PROTO] = rec.charCodeAt(q++), has |= 1 << F.TF_PROTO;
        break;
      case R.TU_SPORT:
        t[b + F.TF_SPORT] = g16(), has |= 1 << F.TF_SPORT;
        break;
      case R.TU_DPORT:
        t[b + F.TF_DPORT] = g16(), has |= 1 << F.TF_DPORT;
        break;
      case R.TU_ICMP_TYPE:
        t[b + F.TF_ICMP_TYPE] = rec.charCodeAt(q++), has |= 1 << F.TF_ICMP_TYPE;
        break;
      case R.TU_ICMP_CODE:
        t[b + F.TF_ICMP_CODE] = rec.charCodeAt(q++), has |= 1 << F.TF_ICMP_CODE;
        break;
      case R.TU_ICMP_ID:
        t[b + F.TF_ICMP_ID] = g16(), has |= 1 << F.TF_ICMP_ID;
        break;
      default:
        return false;
    }
  }
}

/**
 * Reads a cached record into `f`; false when it is not a plain flow (a master, helper, use,
 * counters, NAT ranges, text addresses...): the caller then decodes it as a Conntrack.
 */
export function readFlatRecord(f: FlatCt, record: string): boolean {
  rec = record;
  q = 0;
  f.reset(0);
  let ok = true;
  while (ok && q < rec.length) {
    const tag = rec.charCodeAt(q++);
    if (tag === R.T_ORIG) ok = q === 1 && readTuple(f, 0, F.A_ORIG_SRC, F.A_ORIG_DST);
    else if (tag === R.T_REPLY) ok = f.l3 !== 0 && readTuple(f, 1, F.A_REPLY_SRC, F.A_REPLY_DST);
    else if (tag === R.B_TS_START || tag === R.B_TS_STOP) {
      const at = tag === R.B_TS_START ? 0 : 8;
      for (let i = 0; i < 8; i++) f.ts[at + i] = rec.charCodeAt(q + i);
      q += 8;
      f.has |= tag === R.B_TS_START ? F.H_TS_START : F.H_TS_STOP;
    } else if (tag === R.P_SYNPROXY) {
      f.n[F.N_SP_ISN] = g32(), f.n[F.N_SP_ITS] = g32(), f.n[F.N_SP_TSOFF] = g32();
      f.has |= F.H_SYNPROXY;
    } else {
      const i = tag < 64 ? NUM_INDEX[tag] : -1;
      if (i < 0) ok = false;
      else {
        f.n[i] = g32();
        f.has |= 1 << i;
      }
    }
  }
  rec = "";
  return ok && q === record.length && isPlain(f);
}

const merged = new FlatCt();

/**
 * The record Cache.update() makes of a cached plain flow's record and a dump entry parsed into
 * `f` (mergeConntrack: each field the entry carries replaces the cached one, the tuples stay),
 * the entry stripped as populate strips it: no use, no counters, and no timeout unless
 * `keepTimeout`. Null when the cached record is not a plain flow's.
 */
export function flatMergedRecord(cached: string, f: FlatCt, keepTimeout: boolean): string | null {
  const g = merged;
  if (!readFlatRecord(g, cached)) return null;
  let bits = f.has & ~((1 << F.N_USE) | F.H_COUNTERS);
  if (!keepTimeout) bits &= ~(1 << F.N_TIMEOUT);
  for (let i = 0; i <= F.N_USE; i++) if (bits & (1 << i)) g.n[i] = f.n[i];
  if (bits & F.H_TS_START) { for (let i = 0; i < 8; i++) g.ts[i] = f.ts[i]; }
  if (bits & F.H_TS_STOP) { for (let i = 8; i < 16; i++) g.ts[i] = f.ts[i]; }
  if (bits & F.H_SYNPROXY) {
    g.n[F.N_SP_ISN] = f.n[F.N_SP_ISN],
      g.n[F.N_SP_ITS] = f.n[F.N_SP_ITS],
      g.n[F.N_SP_TSOFF] = f.n[F.N_SP_TSOFF];
  }
  g.has |= bits;
  p = 0;
  tuple(g, R.T_ORIG, 0, F.A_ORIG_SRC, F.A_ORIG_DST);
  tuple(g, R.T_REPLY, 1, F.A_REPLY_SRC, F.A_REPLY_DST);
  return finish(g, ALL_NUM_TAGS);
}

/**
 * populate() (the entry stripped as the mode strips it, then Cache.updateForce) of a plain
 * flow parsed into `f`: cached anew, or merged into its cached record. False when it needs the
 * Conntrack path (a dead entry to replace, a cached record that is not a plain flow's).
 */
export function populateFlat(cache: Cache<Conntrack>, f: FlatCt, keepTimeout: boolean): boolean {
  const key = flatKey(f);
  const obj = cache.findKey(key);
  if (!obj) {
    cache.replaceStored(key, flatRecord(f, !keepTimeout));
    return true;
  }
  if (obj.status === C_OBJ_DEAD) return false;
  const merged = flatMergedRecord(obj.stored as string, f, keepTimeout);
  if (merged === null) return false;
  cache.updateStored(obj, merged);
  return true;
}
