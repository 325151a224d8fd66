// `-o save` against the reference conntrack on real kernel entries. Entries are
// created with /usr/sbin/conntrack inside a throw-away namespace; this same
// file, run there as a script (`deno run`), dumps the table or listens for
// events over raw ctnetlink and prints formatSave() lines, which must equal the
// reference tool's `-o save` output for the same entries.
//
// Script modes (inside a namespace only): `dump` prints the -L lines then the
// -D lines; `events` prints one line per event until SIGTERM.
import { type Netns, withNetns } from "./lib/netns.ts";
import { NetlinkSocket } from "../src/netlink/socket.ts";
import { MessageBuilder } from "../src/netlink/builder.ts";
import { AF_UNSPEC, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REQUEST } from "../src/netlink/constants.ts";
import { decodeConntrack } from "../src/conntrack/decode.ts";
import { formatSave } from "../src/conntrack/format/save.ts";
import type { MsgType } from "../src/conntrack/format/common.ts";

const REF = "/usr/sbin/conntrack";
/** The pinned runtime (not the ctkit executable, which may be a packaged file: CTKIT_BIN). */
const DENO = new URL("../.tools/bin/deno", import.meta.url).pathname;
const SELF = new URL(import.meta.url).pathname;

/** Entries the reference tool creates: every protocol module, NAT, zones, marks, IPv6. */
const ENTRIES: string[][] = [
  "-p tcp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -r 2.2.2.2 -q 1.1.1.1 --reply-port-src 20 --reply-port-dst 10 --state ESTABLISHED -t 100 -u SEEN_REPLY,ASSURED -m 7 -w 3",
  "-p tcp -s 1.1.1.1 -d 2.2.2.2 --sport 11 --dport 21 --state SYN_SENT -t 40 --dst-nat 3.3.3.3:80",
  "-p tcp -s 1.1.1.1 -d 2.2.2.2 --sport 13 --dport 23 --state TIME_WAIT -t 40 --src-nat 6.6.6.6 --dst-nat 7.7.7.7",
  "-p udp -s 1.1.1.1 -d 2.2.2.2 --sport 11 --dport 21 -t 40 --src-nat 5.5.5.5",
  "-p udp -s 10.0.0.1 -d 10.0.0.2 --sport 53 --dport 1053 -t 40 -u SEEN_REPLY --orig-zone 4",
  "-p udp -s 10.0.0.1 -d 10.0.0.2 --sport 54 --dport 1054 -t 40 --reply-zone 5",
  "-p sctp -s 1.1.1.1 -d 2.2.2.2 --sport 11 --dport 21 -t 40 --state ESTABLISHED --orig-vtag 16909060 --reply-vtag 5",
  "-p sctp -s 1.1.1.1 -d 2.2.2.2 --sport 12 --dport 22 -t 40 --state COOKIE_WAIT --orig-vtag 1 --reply-vtag 0",
  "-p gre -s 1.1.1.1 -d 2.2.2.2 --srckey 11 --dstkey 21 -t 40",
  "-p dccp -s 1.1.1.1 -d 2.2.2.2 --sport 11 --dport 21 -t 40 --state OPEN --role server",
  "-p udplite -s 1.1.1.1 -d 2.2.2.2 --sport 11 --dport 21 -t 40",
  "-p icmp -s 1.1.1.1 -d 2.2.2.2 --icmp-type 8 --icmp-code 0 --icmp-id 1226 -t 40",
  "-p icmpv6 -s 2001:db8::1 -d ::ffff:1.2.3.4 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 5 -t 40",
  "-p tcp -s 2001:db8::1 -d 2001:db8:0:0:1::2 --sport 1 --dport 2 --state ESTABLISHED -t 50 -u ASSURED,SEEN_REPLY -m 1",
  "-p udp -s fe80::1 -d ff02::1 --sport 5 --dport 6 -t 30 --dst-nat [2001:db8::9]:99",
  "-p 2 -s 0.0.0.0 -d 224.0.0.22 -t 9",
  "-p 41 -s 192.0.2.1 -d 192.0.2.2 -t 19 -w 7",
  "-p tcp -s 1.1.1.1 -d 2.2.2.2 --sport 12 --dport 22 --state ESTABLISHED -t 40 -u FIXED_TIMEOUT",
].map((l) => l.split(" "));

// ---------------------------------------------------------------- script side

function requestDump(sock: NetlinkSocket): Uint8Array {
  return new MessageBuilder(64).begin((1 << 8) | 1, NLM_F_REQUEST | NLM_F_DUMP, sock.nextSeq(), AF_UNSPEC)
    .end()
    .bytesView().slice();
}

function line(s: string | null, l3: number): string {
  return s ?? `WARNING: unsupported l3proto ${l3}, skipping.`;
}

function scriptDump(): void {
  const sock = NetlinkSocket.open();
  const listed: string[] = [], deleted: string[] = [];
  sock.dump(requestDump(sock), (buf, view, off, len) => {
    const ct = decodeConntrack(buf, view, off, len);
    listed.push(line(formatSave(ct, 0, false), ct.orig.l3));
    deleted.push(line(formatSave(ct, 0, true), ct.orig.l3));
  });
  sock.close();
  console.log(listed.join("\n"));
  console.log("--");
  console.log(deleted.join("\n"));
}

async function scriptEvents(): Promise<void> {
  const sock = NetlinkSocket.open(1 | 2 | 4);
  let stop = false;
  Deno.addSignalListener("SIGTERM", () => stop = true);
  console.log("ready");
  while (!stop) {
    if (!await sock.waitReadable(100)) continue;
    const n = sock.tryRecv();
    if (n < 0) continue;
    sock.walk(n, (buf, view, off, len, type, flags) => {
      const msgType: MsgType = (type & 0xff) === 2 ? 4 : flags & NLM_F_CREATE ? 1 : 2;
      const ct = decodeConntrack(buf, view, off, len);
      console.log(line(formatSave(ct, msgType, false), ct.orig.l3));
    });
  }
  sock.close();
}

if (import.meta.main) {
  if (Deno.args[0] === "dump") scriptDump();
  else if (Deno.args[0] === "events") await scriptEvents();
  Deno.exit(0);
}

// ------------------------------------------------------------------ test side

async function must(ns: Netns, argv: string[]): Promise<string> {
  const r = await ns.exec(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** Creates the entries; ones the running kernel cannot hold are skipped (and reported). */
async function createEntries(ns: Netns): Promise<number> {
  let created = 0;
  for (const args of ENTRIES) {
    const r = await ns.exec([REF, "-I", ...args]);
    if (r.code === 0) created++;
    else console.log(`skipped (kernel refused): ${args.join(" ")}: ${r.stderr.trim()}`);
  }
  return created;
}

/** Equal line by line, except that "-t N" may differ by 2 s (the timeout counts down). */
function assertSaveLines(ours: string[], ref: string[], what: string) {
  const err = () =>
    new Error(`${what} differ\n--- ours\n${ours.join("\n")}\n--- reference\n${ref.join("\n")}`);
  if (ours.length !== ref.length) throw err();
  for (let i = 0; i < ours.length; i++) {
    const a = /^(.*?-t )(\d+)( .*)$/.exec(ours[i]), b = /^(.*?-t )(\d+)( .*)$/.exec(ref[i]);
    if (a && b) {
      if (a[1] !== b[1] || a[3] !== b[3] || Math.abs(Number(a[2]) - Number(b[2])) > 2) throw err();
    } else if (ours[i] !== ref[i]) throw err();
  }
}

function lines(s: string): string[] {
  return s.split("\n").filter((l) => l !== "");
}

Deno.test("formatSave matches `conntrack -L/-D -o save` on kernel entries", async () => {
  await withNetns(1, async (ns) => {
    const created = await createEntries(ns);
    if (created < 10) throw new Error(`only ${created} entries could be created`);
    const [oursList, oursDel] = (await must(ns, [DENO, "run", "-A", "--no-check", SELF, "dump"])).split(
      "--\n",
    );
    const refList = await must(ns, [REF, "-L", "-o", "save"]);
    assertSaveLines(lines(oursList), lines(refList), "-L -o save lines");
    const refDel = await must(ns, [REF, "-D", "-o", "save"]);
    assertSaveLines(lines(oursDel), lines(refDel), "-D -o save lines");
    console.log(`${created} kernel entries: -L and -D save lines identical`);
  });
});

/** Reads a child's stdout until `marker` has been seen. */
async function waitFor(reader: ReadableStreamDefaultReader<Uint8Array>, marker: string): Promise<string> {
  const dec = new TextDecoder();
  let text = "";
  while (!text.includes(marker)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += dec.decode(value);
  }
  return text;
}

async function drain(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  const dec = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text;
    text += dec.decode(value);
  }
}

Deno.test("formatSave matches `conntrack -E -o save` on kernel events", async () => {
  await withNetns(1, async (ns) => {
    const ref = ns.spawn([REF, "-E", "-o", "save"]);
    const ours = ns.spawn([DENO, "run", "-A", "--no-check", SELF, "events"]);
    const refOut = ref.stdout.getReader(), oursOut = ours.stdout.getReader();
    await waitFor(oursOut, "ready\n");
    await new Promise((r) => setTimeout(r, 300)); // the reference has no readiness signal
    await createEntries(ns);
    await must(ns, [REF, "-U", "-s", "1.1.1.1", "-m", "9"]);
    await must(ns, [REF, "-D", "-p", "udp"]);
    await must(ns, [REF, "-F"]);
    await new Promise((r) => setTimeout(r, 500));
    ours.kill("SIGTERM");
    ref.kill("SIGTERM");
    const [oursText, refText] = await Promise.all([drain(oursOut), drain(refOut)]);
    await Promise.all([ours.status, ref.status, ours.stderr.cancel(), ref.stderr.cancel()]);
    // Events caused by a user-space request carry " [USERSPACE] portid=N progname=P" after the line.
    const refLines = lines(refText).map((l) => l.replace(/ \[USERSPACE\] portid=\d+.*$/, ""));
    const oursLines = lines(oursText).filter((l) => l !== "ready");
    if (oursLines.length < 20) throw new Error(`too few events: ${oursLines.length}`);
    assertSaveLines(oursLines, refLines, "-E -o save lines");
    console.log(`${oursLines.length} events: save lines identical`);
  });
});
