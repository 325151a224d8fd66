// The demo's traffic as seen from the orchestrator: traffic.py processes in the
// client and server namespaces, whose JSON-line reports are collected as they
// come so the scenario can wait for them and measure.
import { ADDR, FTP_PORT, STREAM_PORT, type Testbed, TRAFFIC } from "./testbed.ts";
import { sleep } from "./progress.ts";

// deno-lint-ignore no-explicit-any
export type Report = Record<string, any>;

/** A traffic.py process: its reports in arrival order, and a line-based stdin. */
export class Reporter {
  readonly reports: Report[] = [];
  private readonly done: Promise<void>;
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;

  constructor(readonly child: Deno.ChildProcess) {
    this.writer = child.stdin.getWriter();
    this.done = this.read();
  }

  private async read(): Promise<void> {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of this.child.stdout) {
      pending += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        try {
          this.reports.push(JSON.parse(line));
        } catch { /* not a report */ }
      }
    }
  }

  /** The first report matching `pred` (waiting up to `timeoutMs`), or null. */
  async waitFor(pred: (r: Report) => boolean, timeoutMs: number): Promise<Report | null> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.reports.find(pred);
      if (hit) return hit;
      if (Date.now() >= end) return null;
      await sleep(20);
    }
  }

  async send(line: string): Promise<void> {
    await this.writer.write(new TextEncoder().encode(line + "\n")).catch(() => {});
  }

  async closeInput(): Promise<void> {
    await this.writer.close().catch(() => {});
  }

  async finished(timeoutMs: number): Promise<void> {
    await Promise.race([this.done, sleep(timeoutMs)]);
  }
}

const py = (args: string[]) => ["python3", TRAFFIC, ...args];

/** The echo server and the FTP server, in the server namespace. */
export async function startServers(bed: Testbed): Promise<void> {
  const echo = new Reporter(
    bed.spawn("server", py(["echo-server", "--port", `${STREAM_PORT}`]), bed.file("echo.err")),
  );
  const ftp = new Reporter(
    bed.spawn(
      "server",
      py(["ftp-server", "--port", `${FTP_PORT}`, "--size", `${1 << 20}`]),
      bed.file("ftpd.err"),
    ),
  );
  for (const [name, r] of [["echo server", echo], ["FTP server", ftp]] as const) {
    if (!(await r.waitFor((x) => x.event === "listening", 10_000))) {
      throw new Error(
        `${name} did not start: ${await Deno.readTextFile(bed.file("echo.err")).catch(() => "")}`,
      );
    }
  }
}

export interface StreamSummary {
  rx: number;
  tx: number;
  error: string | null;
  max_stall: number;
}

/** Echo streams from the client to the server through the virtual IPs. */
export class Streams {
  private constructor(readonly proc: Reporter, readonly count: number) {}

  static async open(
    bed: Testbed,
    opts: { count: number; userTimeout: number; chunk?: number; interval?: number },
  ): Promise<Streams> {
    const args = [
      "streams",
      "--host",
      ADDR.server,
      "--port",
      `${STREAM_PORT}`,
      "--count",
      `${opts.count}`,
      "--user-timeout",
      `${opts.userTimeout}`,
      "--chunk",
      `${opts.chunk ?? 1024}`,
      "--interval",
      `${opts.interval ?? 0.01}`,
      "--report",
      "0.1",
    ];
    const proc = new Reporter(bed.spawn("client", py(args), bed.file("streams.err")));
    if (!(await proc.waitFor((r) => r.event === "connected", 15_000))) {
      throw new Error(
        `streams did not connect: ${await Deno.readTextFile(bed.file("streams.err")).catch(() => "")}`,
      );
    }
    return new Streams(proc, opts.count);
  }

  /** Total bytes echoed back so far, at the last report at or before `t` (ms since the epoch). */
  rxAt(t: number): number {
    let rx = 0;
    for (const r of this.proc.reports) {
      if (r.event !== "tick") continue;
      if (r.t * 1000 > t) break;
      rx = (r.rx as number[]).reduce((a, b) => a + b, 0);
    }
    return rx;
  }

  /** Per-stream bytes at the last report. */
  lastRx(): number[] {
    const ticks = this.proc.reports.filter((r) => r.event === "tick");
    return ticks.length ? ticks[ticks.length - 1].rx : [];
  }

  /** The first report after `t` showing more bytes than at `t`: when the stream moved again. */
  resumedAfter(t: number): number | null {
    const base = this.rxAt(t);
    for (const r of this.proc.reports) {
      if (r.event !== "tick" || r.t * 1000 <= t) continue;
      if ((r.rx as number[]).reduce((a, b) => a + b, 0) > base) return r.t * 1000;
    }
    return null;
  }

  errors(): Report[] {
    return this.proc.reports.filter((r) => r.event === "stream-error");
  }

  /** Stops the streams and returns each one's totals, errors and longest stall. */
  async stop(): Promise<StreamSummary[]> {
    await this.proc.send("stop");
    const final = await this.proc.waitFor((r) => r.event === "final", 10_000);
    return final ? final.streams : [];
  }
}

/** The FTP client: logged in and in passive mode; the data connection waits for go(). */
export class FtpSession {
  private constructor(readonly proc: Reporter, readonly port: number) {}

  static async open(bed: Testbed, connectTimeout: number): Promise<FtpSession> {
    const proc = new Reporter(
      bed.spawn(
        "client",
        py(["ftp-client", "--host", ADDR.server, "--connect-timeout", `${connectTimeout}`]),
        bed.file("ftp.err"),
      ),
    );
    const pasv = await proc.waitFor((r) => r.event === "pasv", 15_000);
    if (!pasv) {
      throw new Error(`FTP login failed: ${await Deno.readTextFile(bed.file("ftp.err")).catch(() => "")}`);
    }
    return new FtpSession(proc, pasv.port);
  }

  /** Opens the data connection and downloads; returns the outcome report. */
  async go(timeoutMs: number): Promise<Report> {
    await this.proc.send("go");
    return await this.proc.waitFor((r) => r.event === "done" || r.event === "error", timeoutMs) ??
      { event: "error", stage: "data-connect", error: "no answer" };
  }
}
