// `conntrackd -s [section] -o json` (ctkit's addition): the `-s` text a daemon
// sends — ctkit's or conntrackd 1.4.7's, byte for byte the same — turned into
// JSON Lines, one object per block of the text (docs/JSON.md, "conntrackd -s").
//
// A block is a paragraph of the text (blank-line separated), known by its first
// line; its counter lines are read generically ("label: N", "label: N/N",
// "N label N label", "\tgroup:" opening a nested object) and named from a
// table, so a counter line this table does not know (a later daemon's) still
// comes out under the snake_case of its label, and a line that is not a counter
// line at all is kept verbatim in the block's "unparsed" member. Numbers are
// copied digit for digit (64-bit counters stay exact).

/** snake_case of a label: lower case, every run of other characters one `_`. */
export function snake(label: string): string {
  return label.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "") || "value";
}

/** A JSON value as text: a number copied as written, or a string. */
type Raw = { num: string } | { str: string } | { obj: Fields };
type Fields = Array<[string, Raw]>;

const num = (s: string): Raw => ({ num: s });
const str = (s: string): Raw => ({ str: s });

/**
 * Names by block: `label` for a plain counter, `parent>label` for a line
 * indented under another counter, `label#1` for the second figure of a line
 * (`… failed:`, `a/b`). A label not found here gets snake(label).
 */
const NAMES: Record<string, Record<string, string>> = {
  cache: {
    "current active connections": "active",
    "connections created": "created",
    "connections created#1": "create_failed",
    "connections updated": "updated",
    "connections updated#1": "update_failed",
    "connections destroyed": "destroyed",
    "connections destroyed#1": "destroy_failed",
    "active objects": "objects",
    "active/total entries": "active",
    "active/total entries#1": "total",
    "creation OK/failed": "created",
    "creation OK/failed#1": "create_failed",
    "creation OK/failed>no memory available": "create_failed_no_memory",
    "creation OK/failed>no space left in cache": "create_failed_no_space",
    "update OK/failed": "updated",
    "update OK/failed#1": "update_failed",
    "update OK/failed>entry not found": "update_failed_not_found",
    "deletion created/failed": "destroyed",
    "deletion created/failed#1": "destroy_failed",
    "deletion created/failed>entry not found": "destroy_failed_not_found",
  },
  external_inject: {
    "connections created": "created",
    "connections created#1": "create_failed",
    "connections updated": "updated",
    "connections updated#1": "update_failed",
    "connections destroyed": "destroyed",
    "connections destroyed#1": "destroy_failed",
  },
  internal_bypass: {
    "connections new": "new",
    "connections updated": "updated",
    "connections destroyed": "destroyed",
  },
  traffic: { "Bytes": "bytes", "Pckts": "packets" },
  channel: {
    "Bytes sent": "bytes_sent",
    "Bytes recv": "bytes_received",
    "Pckts sent": "packets_sent",
    "Pckts recv": "packets_received",
    "Error send": "send_errors",
    "Error recv": "receive_errors",
  },
  message_tracking: { "Malformed msgs": "malformed", "Lost msgs": "lost" },
  network: {
    "Malformed messages": "malformed",
    "Wrong protocol version": "wrong_version",
    "Malformed header": "malformed_header",
    "Malformed payload": "malformed_payload",
    "Bad message type": "bad_type",
    "Truncated message": "truncated",
    "Bad message size": "bad_size",
  },
  sequence_tracking: { "Packets lost": "lost", "Packets before": "before" },
  netlink: {
    "events received": "events_received",
    "events filtered": "events_filtered",
    "events unknown type": "events_unknown_type",
    "catch event failed": "catch_event_failed",
    "dump unknown type": "dump_unknown_type",
    "netlink overrun": "overruns",
    "flush kernel table": "kernel_table_flushes",
    "resync with kernel table": "kernel_table_resyncs",
    "current buffer size (in bytes)": "buffer_size_bytes",
  },
  runtime: {
    "child process failed>child process segfault": "child_process_segfault",
    "child process failed>child process termsig": "child_process_termsig",
  },
  queue: {
    "current elements": "current",
    "maximum elements": "maximum",
    "not enough space errors": "no_space_errors",
  },
  queue_nodes: { "allocated queue nodes": "allocated" },
};

interface Block {
  block: string;
  /** Members from the first line (names, devices, roles), before the counters. */
  head: Fields;
  body: Fields;
  unparsed: string[];
}

/** What a block's first line says: its kind and members, and whether the line also holds counters. */
interface Header {
  block: string;
  head: Fields;
  /** The rest of the line to read as a counter line (e.g. `active objects:\t\t 5`). */
  rest?: string;
}

const CHANNEL_KIND: Record<string, string> = { UDP: "udp", TCP: "tcp", multicast: "multicast" };

function header(line: string): Header | null {
  let m: RegExpExecArray | null;
  if ((m = /^cache (\S+):$/.exec(line))) return { block: "cache", head: [["cache", str(m[1])]] };
  if ((m = /^cache:(\S+)\t(.*)$/.exec(line))) {
    return { block: "cache", head: [["cache", str(m[1])]], rest: m[2] };
  }
  if (line === "external inject:") return { block: "external_inject", head: [] };
  if (line === "internal bypass:") return { block: "internal_bypass", head: [] };
  if (line === "traffic processed:") return { block: "traffic", head: [] };
  if (line === "message tracking:") return { block: "message_tracking", head: [] };
  if (line === "network statistics:") return { block: "network", head: [] };
  if (line === "sequence tracking statistics:") return { block: "sequence_tracking", head: [] };
  if (line === "netlink stats:") return { block: "netlink", head: [] };
  if (line === "runtime stats:") return { block: "runtime", head: [] };
  if (
    (m = /^(UDP|TCP|multicast) traffic \(active device=(.*?)\)(?: server=(\S+) client=(\S+))?:$/.exec(line))
  ) {
    const head: Fields = [["kind", str(CHANNEL_KIND[m[1]])], ["device", str(m[2])], ["role", str("ACTIVE")]];
    if (m[3] !== undefined) head.push(["tcp_server", str(m[3])], ["tcp_client", str(m[4])]);
    return { block: "channel", head };
  }
  if ((m = /^(UDP|TCP|multicast) traffic device=(.*?) status=(\S+) role=(\S+):$/.exec(line))) {
    return {
      block: "channel",
      head: [["kind", str(CHANNEL_KIND[m[1]])], ["device", str(m[2])], ["status", str(m[3])], [
        "role",
        str(m[4]),
      ]],
    };
  }
  if ((m = /^queue (\S+):$/.exec(line))) return { block: "queue", head: [["queue", str(m[1])]] };
  if (/^allocated queue nodes:/.test(line)) return { block: "queue_nodes", head: [], rest: line };
  // Any other `Title:` line opens a block named after it.
  if ((m = /^([A-Za-z][^:\t]*):$/.exec(line))) return { block: snake(m[1]), head: [] };
  return null;
}

/** `daemon uptime: [N day[s] ]H h M min | M min` in minutes; null if it does not read so. */
export function uptimeMinutes(text: string): number | null {
  const m = /^(?:(\d+) days? )?(?:(\d+) h )?(\d+) min$/.exec(text);
  if (!m) return null;
  return Number(m[1] ?? 0) * 1440 + Number(m[2] ?? 0) * 60 + Number(m[3]);
}

/**
 * The counters of one line as [label, figures] segments, or null when it is not a counter
 * line. `qualified`: the segments after the first qualify it (`connections created: N
 * failed: N`), rather than being counters of their own (`N Bytes sent N Bytes recv`).
 */
function counters(text: string): { segments: Array<[string, string[]]>; qualified: boolean } | null {
  const out: Array<[string, string[]]> = [];
  // `label:<blanks>N[<blanks>/<blanks>N]`, tab-separated segments.
  const labelFirst = /([A-Za-z][^:\t]*):[\t ]*(\d+)(?:\/[\t ]*(\d+))?(?=\t|$)/y;
  let pos = 0;
  for (;;) {
    labelFirst.lastIndex = pos;
    const m = labelFirst.exec(text);
    if (!m) break;
    out.push([m[1], m[3] === undefined ? [m[2]] : [m[2], m[3]]]);
    pos = labelFirst.lastIndex;
    while (text[pos] === "\t") pos++;
  }
  if (out.length && pos === text.length) return { segments: out, qualified: true };
  // `N Label N Label`: figures first, labels of words with single blanks.
  out.length = 0;
  const figureFirst = /[\t ]*(\d+) ([A-Za-z]+(?: [A-Za-z]+)*)/y;
  pos = 0;
  for (;;) {
    figureFirst.lastIndex = pos;
    const m = figureFirst.exec(text);
    if (!m) break;
    out.push([m[2], [m[1]]]);
    pos = figureFirst.lastIndex;
  }
  if (out.length && text.slice(pos).trim() === "") return { segments: out, qualified: false };
  return null;
}

class BlockReader {
  /** Nested objects opened by `\tgroup:` lines, by indentation. */
  private groups: Array<{ indent: number; fields: Fields }> = [];
  /** The last counter line's label and indentation (for lines indented under it). */
  private last: { indent: number; label: string } | null = null;
  private readonly names: Record<string, string>;

  constructor(readonly b: Block) {
    this.names = NAMES[b.block] ?? {};
  }

  private target(indent: number): Fields {
    while (this.groups.length && this.groups[this.groups.length - 1].indent >= indent) this.groups.pop();
    return this.groups.length ? this.groups[this.groups.length - 1].fields : this.b.body;
  }

  private put(fields: Fields, name: string, value: Raw): void {
    let key = name, n = 1;
    while (fields.some(([k]) => k === key)) key = `${name}_${++n}`;
    fields.push([key, value]);
  }

  /** Reads one line; `head` is the counter part of a block's first line (nothing nests under it). */
  line(raw: string, head = false): void {
    const indent = /^\t*/.exec(raw)![0].length;
    const text = raw.slice(indent);
    const group = /^([A-Za-z][^:\t]*):$/.exec(text);
    if (group && indent > 0) {
      const fields: Fields = [];
      this.put(this.target(indent), snake(group[1]), { obj: fields });
      this.groups.push({ indent, fields });
      this.last = null;
      return;
    }
    const found = counters(text);
    if (!found) {
      this.b.unparsed.push(raw);
      return;
    }
    const fields = this.target(indent);
    const parent = this.last && indent > this.last.indent ? this.last.label : null;
    const first = found.segments[0][0];
    // Figure k of a qualified line is `first#k`: `connections created#1` is its `failed:` figure,
    // `active/total entries#1` the `total` one.
    let k = 0;
    for (const [label, figures] of found.segments) {
      if (!found.qualified) k = 0;
      for (const figure of figures) {
        const base = found.qualified ? first : label;
        const key = parent !== null ? `${parent}>${label}` : k ? `${base}#${k}` : base;
        const fallback = parent !== null
          ? `${parent} ${label}`
          : k === 0
          ? base
          : label !== base
          ? `${base} ${label}`
          : `${base} ${k}`;
        this.put(fields, this.names[key] ?? snake(fallback), num(figure));
        k++;
      }
    }
    // The first segment names the line (`connections created … failed:` is about creations).
    if (parent === null && !head) this.last = { indent, label: first };
  }
}

function toJson(section: string, b: Block): string {
  const fields: Fields = [["section", str(section)], ["block", str(b.block)], ...b.head, ...b.body];
  if (b.unparsed.length) fields.push(["unparsed", { str: "" }]);
  return fieldsJson(fields, b.unparsed);
}

function fieldsJson(fields: Fields, unparsed: string[] = []): string {
  return "{" + fields.map(([k, v]) => {
    const value = "num" in v
      ? v.num
      : "obj" in v
      ? fieldsJson(v.obj)
      : k === "unparsed"
      ? JSON.stringify(unparsed)
      : JSON.stringify(v.str);
    return `${JSON.stringify(k)}:${value}`;
  }).join(",") + "}";
}

/** The result of a conversion: the JSON lines, and how many text lines only made it into "unparsed". */
export interface StatsJson {
  lines: string[];
  unparsed: number;
}

/** Converts the whole `-s` text of `section` (see STATS_SECTIONS) into JSON lines. */
export function statsToJson(section: string, text: string): StatsJson {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const out: string[] = [];
  let unparsed = 0;
  let block: Block | null = null;
  let reader: BlockReader | null = null;
  const close = () => {
    if (block) {
      out.push(toJson(section, block));
      unparsed += block.unparsed.length;
    }
    block = reader = null;
  };
  for (const line of lines) {
    if (line.trim() === "") {
      close();
      continue;
    }
    let m: RegExpExecArray | null;
    // Lines that are a record each: `-s rsqueue` entries and `-s process` children.
    if ((m = /^resent queue \(len=(\d+)\)$/.exec(line))) {
      close();
      out.push(fieldsJson([["section", str(section)], ["block", str("rsqueue")], ["length", num(m[1])]]));
      continue;
    }
    if ((m = /^(control|object) -> seq:(\d+)(?: flags:(\d+))?$/.exec(line))) {
      close();
      const f: Fields = [["section", str(section)], ["block", str("rsqueue_entry")], ["kind", str(m[1])], [
        "seq",
        num(m[2]),
      ]];
      if (m[3] !== undefined) f.push(["flags", num(m[3])]);
      out.push(fieldsJson(f));
      continue;
    }
    if ((m = /^PID=(\d+) type=(\S+)$/.exec(line))) {
      close();
      out.push(fieldsJson([["section", str(section)], ["block", str("process")], ["pid", num(m[1])], [
        "type",
        str(m[2]),
      ]]));
      continue;
    }
    if ((m = /^daemon uptime: (.*)$/.exec(line))) {
      close();
      const minutes = uptimeMinutes(m[1]);
      const f: Fields = [["section", str(section)], ["block", str("daemon")]];
      if (minutes !== null) f.push(["uptime_minutes", num(String(minutes))]);
      else f.push(["uptime", str(m[1])]);
      out.push(fieldsJson(f));
      continue;
    }
    if (block === null) {
      const h = header(line);
      block = { block: h?.block ?? "unknown", head: h?.head ?? [], body: [], unparsed: [] };
      reader = new BlockReader(block);
      if (h === null) reader.line(line);
      else if (h.rest !== undefined) reader.line(h.rest, true);
      continue;
    }
    reader!.line(line);
  }
  close();
  return { lines: out, unparsed };
}
