// `-o json`: every line is valid JSON and carries the documented fields.
import { Conntrack, Expect } from "../src/conntrack/model.ts";
import { LabelMap } from "../src/conntrack/labels.ts";
import { formatConntrackJson, formatExpectJson } from "../src/conntrack/format/json.ts";

function assertEquals(actual: unknown, expected: unknown, msg = "") {
  const a = JSON.stringify(actual), e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${msg}\n  actual:   ${a}\n  expected: ${e}`);
}

function tcpEntry(): Conntrack {
  const ct = new Conntrack();
  ct.orig = { l3: 2, src: "1.1.1.1", dst: "2.2.2.2", proto: 6, sport: 10, dport: 20, zone: 4 };
  ct.reply = { l3: 2, src: "2.2.2.2", dst: "1.1.1.1", proto: 6, sport: 20, dport: 10 };
  ct.status = 0x0e | (1 << 14);
  ct.timeout = 49;
  ct.state = 3;
  ct.mark = 7;
  ct.secmark = 0;
  ct.zone = 3;
  ct.use = 1;
  ct.id = 4233882597;
  ct.countersOrig = { packets: 18446744073709551615n, bytes: 5n };
  ct.countersReply = { packets: 0n, bytes: 0n };
  ct.tsStart = 1700000000123456789n;
  ct.helper = 'ft"p';
  ct.secctx = "system_u:object_r:unlabeled_t:s0";
  ct.labels = new Uint8Array([0b1001, 0, 0, 0, 1]);
  return ct;
}

Deno.test("conntrack JSON: schema fields, 64-bit numbers, escaped strings", () => {
  const map = LabelMap.parse("0 zero\n3 three\n")!;
  const line = formatConntrackJson(tcpEntry(), 1, map);
  const j = JSON.parse(line);
  assertEquals(j.type, "new");
  assertEquals(j.family, { name: "ipv4", num: 2 });
  assertEquals(j.proto, { name: "tcp", num: 6 });
  assertEquals(j.orig, {
    src: "1.1.1.1",
    dst: "2.2.2.2",
    sport: 10,
    dport: 20,
    zone: 4,
    packets: 18446744073709551615,
    bytes: 5,
  });
  assertEquals(j.reply, { src: "2.2.2.2", dst: "1.1.1.1", sport: 20, dport: 10, packets: 0, bytes: 0 });
  assertEquals(j.state, "ESTABLISHED");
  assertEquals(j.status, ["SEEN_REPLY", "ASSURED", "CONFIRMED", "OFFLOAD"]);
  assertEquals([j.timeout, j.mark, j.secmark, j.zone, j.use, j.id], [49, 7, 0, 3, 1, 4233882597]);
  assertEquals(j.labels, [{ bit: 0, name: "zero" }, { bit: 3, name: "three" }, { bit: 32 }]);
  assertEquals(j.timestamp, { start: 1700000000123456800 });
  assertEquals(j.helper, 'ft"p');
  assertEquals(j.secctx, "system_u:object_r:unlabeled_t:s0");
  // The exact digits of 64-bit values survive in the text even where a double cannot hold them.
  if (!line.includes('"packets":18446744073709551615')) throw new Error(line);
  // Listings carry no "type"; without a map labels are bit numbers only.
  const listed = JSON.parse(formatConntrackJson(tcpEntry(), 0, null));
  assertEquals(listed.type, undefined);
  assertEquals(listed.labels, [{ bit: 0 }, { bit: 3 }, { bit: 32 }]);
});

Deno.test("conntrack JSON: per-protocol tuple fields and optional members", () => {
  const icmp = new Conntrack();
  icmp.orig = {
    l3: 10,
    src: "2001:db8::1",
    dst: "::ffff:1.2.3.4",
    proto: 58,
    icmpType: 128,
    icmpCode: 0,
    icmpId: 5,
  };
  icmp.reply = {
    l3: 10,
    src: "::ffff:1.2.3.4",
    dst: "2001:db8::1",
    proto: 58,
    icmpType: 129,
    icmpCode: 0,
    icmpId: 5,
  };
  const j = JSON.parse(formatConntrackJson(icmp, 4, null));
  assertEquals(j, {
    type: "destroy",
    family: { name: "ipv6", num: 10 },
    proto: { name: "icmpv6", num: 58 },
    orig: { src: "2001:db8::1", dst: "::ffff:1.2.3.4", type: 128, code: 0, id: 5 },
    reply: { src: "::ffff:1.2.3.4", dst: "2001:db8::1", type: 129, code: 0, id: 5 },
  });
  const gre = new Conntrack();
  gre.orig = { l3: 2, src: "1.1.1.1", dst: "2.2.2.2", proto: 47, sport: 11, dport: 21 };
  gre.reply = { l3: 2, src: "2.2.2.2", dst: "1.1.1.1", proto: 47, sport: 21, dport: 11 };
  gre.tsStart = 1n;
  gre.tsStop = 2n;
  gre.status = 1 << 20;
  const g = JSON.parse(formatConntrackJson(gre, 2, null));
  assertEquals(g.orig, { src: "1.1.1.1", dst: "2.2.2.2", srckey: 11, dstkey: 21 });
  assertEquals(g.timestamp, { start: 1, stop: 2 });
  assertEquals(g.status, ["BIT_20"]);
  assertEquals(g.type, "update");
  const unknown = new Conntrack();
  unknown.orig = { l3: 2, src: "0.0.0.0", dst: "224.0.0.22", proto: 2 };
  unknown.reply = { l3: 2 };
  assertEquals(JSON.parse(formatConntrackJson(unknown, 0, null)).reply, {});
  assertEquals(JSON.parse(formatConntrackJson(unknown, 0, null)).proto, { name: "unknown", num: 2 });
});

Deno.test("expectation JSON", () => {
  const exp = new Expect();
  exp.master = { l3: 2, src: "127.0.0.1", dst: "127.0.0.1", proto: 6, sport: 39030, dport: 21 };
  exp.tuple = { l3: 2, src: "127.0.0.1", dst: "127.0.0.1", proto: 6, sport: 0, dport: 10000 };
  exp.mask = { l3: 2, src: "255.255.255.255", dst: "255.255.255.255", proto: 6, sport: 0, dport: 65535 };
  exp.timeout = 299;
  exp.helper = "ftp";
  exp.flags = 5;
  exp.class = 0;
  exp.zone = 2;
  exp.id = 77;
  exp.nat = { dir: 1, tuple: { l3: 2, src: "10.0.0.1", dst: "10.0.0.2", proto: 6, sport: 1, dport: 2 } };
  exp.fn = "nat-follow-master";
  const j = JSON.parse(formatExpectJson(exp, 1));
  assertEquals(j, {
    type: "new",
    family: { name: "ipv4", num: 2 },
    proto: { name: "tcp", num: 6 },
    master: { src: "127.0.0.1", dst: "127.0.0.1", sport: 39030, dport: 21 },
    tuple: { src: "127.0.0.1", dst: "127.0.0.1", sport: 0, dport: 10000 },
    mask: { src: "255.255.255.255", dst: "255.255.255.255", sport: 0, dport: 65535 },
    timeout: 299,
    helper: "ftp",
    flags: ["PERMANENT", "USERSPACE"],
    class: 0,
    zone: 2,
    id: 77,
    nat: { dir: 1, tuple: { src: "10.0.0.1", dst: "10.0.0.2", sport: 1, dport: 2 } },
    fn: "nat-follow-master",
  });
});

Deno.test("JSON stays valid for any combination of present fields", () => {
  let seed = 42;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const map = LabelMap.parse("1 a\n2 b c\n")!;
  for (let i = 0; i < 5000; i++) {
    const ct = tcpEntry();
    const fields = Object.keys(ct) as (keyof Conntrack)[];
    for (const f of fields) if (rnd(3) === 0) (ct as unknown as Record<string, unknown>)[f] = undefined;
    ct.orig ??= { l3: 0 };
    ct.reply ??= { l3: 0 };
    ct.orig.proto = [1, 6, 17, 47, 58, 132, 2, undefined][rnd(8)];
    if (ct.state !== undefined) ct.state = rnd(256);
    if (ct.status !== undefined) ct.status = (rnd(65536) * 65536 + rnd(65536)) >>> 0;
    for (
      const line of [formatConntrackJson(ct, [0, 1, 2, 4][rnd(4)] as 0 | 1 | 2 | 4, rnd(2) ? map : null)]
    ) {
      if (line.includes("\n")) throw new Error(`multi-line: ${line}`);
      JSON.parse(line);
    }
  }
});
