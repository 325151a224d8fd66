// `conntrackd -i|-e [ct|expect] -o json` (ctkit's addition): each line of a
// cache dump — conntrack's default text of the entry plus conntrackd's markers
// (` [expires in Ns]`, ` [active since Ns]`) — read back into the conntrack
// model and printed by the JSON printer `conntrack -o json` uses
// (src/conntrack/format/json.ts), with the dump's own members added
// (docs/JSON.md, "conntrackd -i / -e"). The text does not carry everything the
// model can hold (no id, labels or the full status word); what it does not
// show stays absent. A word the reader does not know is kept in "unparsed",
// and a line it cannot read at all becomes {"unparsed": line}.
import {
  Conntrack,
  Expect,
  IPS_ASSURED,
  IPS_HW_OFFLOAD,
  IPS_OFFLOAD,
  IPS_SEEN_REPLY,
  type Tuple,
} from "../../conntrack/model.ts";
import { formatConntrackJson, formatExpectJson } from "../../conntrack/format/json.ts";
import { MSG_UNKNOWN } from "../../conntrack/format/common.ts";
import { DCCP_STATES, SCTP_STATES, TCP_STATES } from "../../conntrack/states.ts";

/** The markers conntrackd appends to a dump line, and the words left to read. */
interface Marked {
  body: string;
  extra: string;
}

/** Takes ` [expires in Ns]` and ` [active since Ns]` off the end, as members. */
function markers(line: string): Marked {
  let body = line, extra = "";
  const active = / \[active since (-?\d+)s\]$/.exec(body);
  if (active) body = body.slice(0, active.index);
  const expires = / \[expires in (-?\d+)s\]$/.exec(body);
  if (expires) body = body.slice(0, expires.index);
  if (expires) extra += `,"expires_in":${expires[1]}`;
  if (active) extra += `,"active_since":${active[1]}`;
  return { body, extra };
}

const DIGITS = /^\d+$/;

function uint(v: string): number | null {
  return DIGITS.test(v) && v.length < 16 ? Number(v) : null;
}

/** The family of a tuple from the text of its address. */
function family(addr: string): number {
  return addr.includes(":") ? 10 : 2;
}

/** An L4 field of a tuple (`sport=`, `type=`, `srckey=`…); false if `key` is none. */
function tupleField(t: Tuple, key: string, value: string): boolean {
  const hex = key === "srckey" || key === "dstkey";
  const n = hex ? (/^0x[0-9a-f]+$/i.test(value) ? parseInt(value.slice(2), 16) : null) : uint(value);
  if (n === null) return false;
  switch (key) {
    case "sport":
    case "srckey":
      t.sport = n;
      return true;
    case "dport":
    case "dstkey":
      t.dport = n;
      return true;
    case "type":
      t.icmpType = n;
      return true;
    case "code":
      t.icmpCode = n;
      return true;
  }
  return false;
}

function stateNumber(proto: number, word: string): number | undefined {
  const table = proto === 132 ? SCTP_STATES : proto === 33 ? DCCP_STATES : TCP_STATES;
  const i = table.indexOf(word);
  return i < 0 ? undefined : i;
}

/** Appends the dump's own members before the object's closing brace. */
function withMembers(json: string, extra: string, unparsed: string[]): string {
  if (unparsed.length) extra += `,"unparsed":${JSON.stringify(unparsed)}`;
  return extra ? json.slice(0, -1) + extra + "}" : json;
}

/** One `-i`/`-e` conntrack line as JSON; {"unparsed": line} when it does not read as one. */
export function conntrackLineToJson(line: string): { json: string; unparsed: number } {
  const { body, extra } = markers(line);
  const words = body.split(/ +/);
  const proto = uint(words[1] ?? "");
  if (!/^[a-z0-9-]+$/.test(words[0] ?? "") || proto === null || proto > 255) {
    return { json: JSON.stringify({ unparsed: line }), unparsed: 1 };
  }
  const ct = new Conntrack();
  ct.orig.proto = ct.reply.proto = proto;
  const unparsed: string[] = [];
  let i = 2;
  if (uint(words[i] ?? "") !== null) ct.timeout = Number(words[i++]);
  if (/^[A-Z][A-Z0-9_]*$/.test(words[i] ?? "")) {
    const state = stateNumber(proto, words[i]);
    if (state !== undefined) {
      ct.state = state;
      i++;
    }
  }
  let status = IPS_SEEN_REPLY;
  let deltaTime = "";
  const counted = new Set<string>();
  let t = ct.orig;
  let tuples = 0;
  for (; i < words.length; i++) {
    const w = words[i];
    if (w === "") continue;
    if (w === "[UNREPLIED]") status &= ~IPS_SEEN_REPLY;
    else if (w === "[ASSURED]") status |= IPS_ASSURED;
    else if (w === "[OFFLOAD]") status |= IPS_OFFLOAD;
    else if (w === "[HW_OFFLOAD]") status |= IPS_HW_OFFLOAD | IPS_OFFLOAD;
    else {
      const eq = w.indexOf("=");
      const key = eq > 0 ? w.slice(0, eq) : "";
      const value = w.slice(eq + 1);
      if (!key || !known(ct, key, value)) unparsed.push(w);
    }
  }
  ct.status = status;
  let json = formatConntrackJson(ct, MSG_UNKNOWN, null);
  // External cache entries carry no reply tuple (the wire has none): no "reply" then.
  if (tuples < 2) json = json.replace(',"reply":{}', "");
  return { json: withMembers(json, deltaTime + extra, unparsed), unparsed: unparsed.length };

  function known(ct: Conntrack, key: string, value: string): boolean {
    const n = uint(value);
    switch (key) {
      case "src":
        // The second `src=` starts the reply tuple.
        if (tuples > 0) t = ct.reply;
        tuples++;
        t.l3 = family(value);
        t.src = value;
        return true;
      case "dst":
        t.dst = value;
        return true;
      case "id":
        // In an ICMP tuple `id=` is the ICMP id; after the tuples, the conntrack id.
        if (n === null) return false;
        if (t.icmpCode !== undefined && t.icmpId === undefined) t.icmpId = n;
        else ct.id = n;
        return true;
      case "zone-orig":
        if (n === null) return false;
        ct.orig.zone = n;
        return true;
      case "zone-reply":
        if (n === null) return false;
        ct.reply.zone = n;
        return true;
      case "packets":
      case "bytes": {
        if (!DIGITS.test(value)) return false;
        // A second packets=/bytes= without a reply tuple in between (external entries) is the reply's.
        if (t === ct.orig && counted.has(key)) t = ct.reply;
        counted.add(key);
        const c = t === ct.orig
          ? (ct.countersOrig ??= { packets: 0n, bytes: 0n })
          : (ct.countersReply ??= { packets: 0n, bytes: 0n });
        c[key] = BigInt(value);
        return true;
      }
      case "mark":
      case "secmark":
      case "zone":
      case "use":
        if (n === null) return false;
        ct[key] = n;
        return true;
      case "secctx":
      case "helper":
        ct[key] = value;
        return true;
      case "delta-time":
        // Seconds the flow has lived (from the kernel's timestamps, which the text does not show).
        if (n === null) return false;
        deltaTime = `,"delta_time":${n}`;
        return true;
    }
    return tupleField(t, key, value);
  }
}

/** One `-i expect`/`-e expect` line as JSON; {"unparsed": line} when it does not read as one. */
export function expectLineToJson(line: string): { json: string; unparsed: number } {
  const { body, extra } = markers(line);
  const words = body.split(" ");
  const exp = new Expect();
  const unparsed: string[] = [];
  let i = 0;
  if (uint(words[0] ?? "") !== null) exp.timeout = Number(words[i++]);
  const proto = /^proto=(\d+)$/.exec(words[i] ?? "");
  if (!proto) return { json: JSON.stringify({ unparsed: line }), unparsed: 1 };
  i++;
  exp.tuple.proto = exp.mask.proto = exp.master.proto = Number(proto[1]);
  let t = exp.tuple;
  for (; i < words.length; i++) {
    const w = words[i];
    if (w === "") continue;
    const eq = w.indexOf("=");
    if (eq < 0) {
      // The flags word: PERMANENT,INACTIVE,USERSPACE.
      const flags = w.split(",").map((f) => ["PERMANENT", "INACTIVE", "USERSPACE"].indexOf(f));
      if (flags.every((f) => f >= 0)) exp.flags = flags.reduce((a, f) => a | (1 << f), exp.flags ?? 0);
      else unparsed.push(w);
      continue;
    }
    const key = w.slice(0, eq), value = w.slice(eq + 1);
    const n = uint(value);
    let ok = true;
    if (key === "src" || key === "mask-src" || key === "master-src") {
      t = key === "src" ? exp.tuple : key === "mask-src" ? exp.mask : exp.master;
      t.l3 = family(value);
      t.src = value;
    } else if (key === "dst" || key === "mask-dst" || key === "master-dst") t.dst = value;
    else if (key === "id" && n !== null && t.icmpId === undefined && t.icmpCode !== undefined) t.icmpId = n;
    else if (key === "zone" && n !== null) exp.zone = n;
    else if (key === "class" && n !== null) exp.class = n;
    else if (key === "helper") exp.helper = value;
    else ok = tupleField(t, key, value);
    if (!ok) unparsed.push(w);
  }
  // The printer writes "flags" for a set value only; the text shows none when it was 0.
  exp.flags ??= 0;
  return {
    json: withMembers(formatExpectJson(exp, MSG_UNKNOWN), extra, unparsed),
    unparsed: unparsed.length,
  };
}
