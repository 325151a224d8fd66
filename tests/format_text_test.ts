// Fixed examples: the spec's sample lines, and `-o save` corners no kernel
// entry created by the reference tool can reach (those are in format_save_test).
import { Conntrack } from "../src/conntrack/model.ts";
import { O_EXT, O_ID } from "../src/conntrack/command.ts";
import { formatConntrack } from "../src/conntrack/format/text.ts";
import { formatSave } from "../src/conntrack/format/save.ts";

function assertEquals(actual: unknown, expected: unknown) {
  if (actual !== expected) throw new Error(`\n  actual:   ${actual}\n  expected: ${expected}`);
}

function tcp(): Conntrack {
  const ct = new Conntrack();
  ct.orig = { l3: 2, src: "1.1.1.1", dst: "2.2.2.2", proto: 6, sport: 10, dport: 20 };
  ct.reply = { l3: 2, src: "2.2.2.2", dst: "1.1.1.1", proto: 6, sport: 20, dport: 10 };
  ct.status = 0x0e;
  ct.timeout = 49;
  ct.state = 3;
  ct.mark = 7;
  ct.zone = 3;
  ct.use = 1;
  ct.id = 4233882597;
  return ct;
}

Deno.test("default line as in the spec", () => {
  assertEquals(
    formatConntrack(tcp(), 0, 0, null),
    "tcp      6 49 ESTABLISHED src=1.1.1.1 dst=2.2.2.2 sport=10 dport=20 src=2.2.2.2 dst=1.1.1.1 sport=20 dport=10 [ASSURED] mark=7 zone=3 use=1",
  );
  assertEquals(
    formatConntrack(tcp(), 1, O_EXT | O_ID, null),
    "    [NEW] ipv4     2 tcp      6 49 ESTABLISHED src=1.1.1.1 dst=2.2.2.2 sport=10 dport=20 src=2.2.2.2 dst=1.1.1.1 sport=20 dport=10 [ASSURED] mark=7 zone=3 use=1 id=4233882597",
  );
});

Deno.test("save: prefixes, UNSET, unsupported family", () => {
  const ct = tcp();
  assertEquals(
    formatSave(ct, 0, false),
    "-A -t 49 -u SEEN_REPLY,ASSURED -w 3 -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p tcp --sport 10 --dport 20 --reply-port-src 20 --reply-port-dst 10 --state ESTABLISHED",
  );
  assertEquals(formatSave(ct, 2, false)!.slice(0, 3), "-U ");
  assertEquals(formatSave(ct, 4, false)!.slice(0, 3), "-D ");
  assertEquals(formatSave(ct, 1, true)!.slice(0, 3), "-D ");
  ct.status = 1 << 14;
  assertEquals(formatSave(ct, 0, false)!.slice(0, 20), "-A -t 49 -u UNSET -w");
  ct.orig.l3 = ct.reply.l3 = 7;
  assertEquals(formatSave(ct, 0, false), null);
});

Deno.test("save: conntrack's own state tables and byte-swapped SCTP vtags", () => {
  const ct = tcp();
  ct.orig.proto = ct.reply.proto = 132;
  ct.state = 8; // HEARTBEAT_SENT: a NULL slot in conntrack's SCTP table
  ct.sctpVtagOrig = 0x04030201;
  assertEquals(
    formatSave(ct, 0, false)!.split(" -p ")[1],
    "sctp --sport 10 --dport 20 --reply-port-src 20 --reply-port-dst 10 --state (null) --orig-vtag 16909060",
  );
  ct.orig.proto = ct.reply.proto = 33;
  ct.state = 4;
  ct.dccpRole = 1;
  assertEquals(
    formatSave(ct, 0, false)!.split(" -p ")[1],
    "dccp --sport 10 --dport 20 --reply-port-src 20 --reply-port-dst 10 --state OPEN --role server",
  );
});
