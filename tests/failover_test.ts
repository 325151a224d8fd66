// The failover demo as a test (scripts/failover/): keepalived and conntrackd on
// two firewalls in network namespaces, fw1 crashes, fw2 takes over. With ctkit
// the TCP stream survives and the FTP data connection is admitted as RELATED;
// without state sync (the control) both die; under load with source NAT on
// random ports, the guard keeps every stream alive through a slow commit.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { DEFAULTS, runScenario } from "../scripts/failover/scenario.ts";
import { raceOnce } from "../scripts/failover/race.ts";
import { Progress } from "../scripts/failover/progress.ts";

const quiet = () => new Progress(true);
const opts = { sanitizeResources: false, sanitizeOps: false };

Deno.test({
  name: "failover: a stream and an FTP data connection survive fw1's crash with ctkit on both firewalls",
  ...opts,
  async fn() {
    const r = await runScenario({ ...DEFAULTS }, quiet());
    assert(r.passed, r.verdict);
    assertEquals(r.stream?.error, null);
    assert(r.rxAfterCrash > 0, "bytes flowed after the crash");
    assert(
      r.crashToResume !== null && r.crashToResume < 10_000,
      `stream moved again (${r.crashToResume} ms)`,
    );
    assert(r.ftp.ok, r.ftp.error);
    assert(r.relatedPackets > 0, "the data connection went through the RELATED rule");
    assert(r.crashToMaster !== null && r.masterToCommit !== null && r.masterToCommit >= 0);
    assert(r.commitMs !== null);
  },
});

Deno.test({
  name: "failover control: without state sync the stream and the FTP data connection die",
  ...opts,
  async fn() {
    const r = await runScenario({ ...DEFAULTS, sync: false }, quiet());
    assert(r.passed, r.verdict);
    assert(r.stream?.error !== null || r.crashToResume === null, "the stream did not survive");
    assert(r.crashToMaster !== null, "fw2 still became master");
    assert(!r.ftp.ok, "the FTP data connection failed");
    assertEquals(r.relatedPackets, 0);
  },
});

Deno.test({
  name:
    "failover: the reference conntrackd on fw2, driven by ctkit's ha (standard requests), also keeps them",
  ...opts,
  async fn() {
    const r = await runScenario({ ...DEFAULTS, reference: "fw2" }, quiet());
    assert(r.passed, r.verdict);
    assertEquals(r.stream?.error, null);
    assert(r.ftp.ok, r.ftp.error);
  },
});

Deno.test({
  name: "failover race: with the guard every NATed stream (random ports, tcp_loose=1) survives a slow commit",
  ...opts,
  async fn() {
    const r = await raceOnce(
      { impl: "ctkit", guard: true, tcpLoose: 1, streams: 12, idleFlows: 20_000, advertInt: 0.5 },
      quiet(),
    );
    assertEquals(r.resets, 0);
    assertEquals(r.survived, 12, JSON.stringify(r.streams));
    assert(r.masterToCommit !== null && r.commitMs !== null && r.commitMs > 0);
  },
});
