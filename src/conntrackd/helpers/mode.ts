// The daemon's helper mode (the reference's cthelper.c): with a Helper
// section, check that the kernel can run user-space helpers, register each
// configured helper with nfnetlink_cthelper (with its private-data size when
// `Setup on`), bind its NFQUEUE queue with conntrack information, and answer
// every queued packet from the JS thread: the socket is read without
// blocking and waits happen in poll() off the thread. With `Setup on` the
// helpers are unregistered again at shutdown.
import { strerror } from "../../../ffi/libc.ts";
import type { Config, HelperInstance } from "../config/types.ts";
import type { Logger } from "../modes/mode.ts";
import { MessageBuilder } from "../../netlink/builder.ts";
import { NetlinkError, NetlinkSocket } from "../../netlink/socket.ts";
import { AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP } from "./context.ts";
import type { CtHelper } from "./context.ts";
import { buildHelperDel, buildHelperNew } from "./cthelper_msg.ts";
import { type DispatchStats, type ExpectSink, HelperDispatcher, type QueueBinding } from "./dispatch.ts";
import { buildExpectDelete, buildExpectNew, EXPECT_MAX_LIMIT, type HelperExpect } from "./expect.ts";
import { NfQueue } from "./queue.ts";
import { findCtHelper } from "./registry.ts";
import { missingSupportMessage, probeCthelper, probeQueueConntrack, SupportProbeError } from "./support.ts";

/** Why the helper mode cannot start; the message is the one line to log. */
export class HelperModeError extends Error {}

interface Instance {
  conf: HelperInstance;
  helper: CtHelper;
  l3: number;
  l4: number;
}

/** Checks the configured instances against the built-in helpers and the kernel's limits. */
export function resolveInstances(types: readonly HelperInstance[]): Instance[] {
  const out: Instance[] = [];
  const queues = new Map<number, string>();
  for (const conf of types) {
    const helper = findCtHelper(conf.name, conf.protocol);
    if (!helper) throw new HelperModeError(`Unknown \`${conf.name}' helper`);
    if (conf.policies.length === 0) throw new HelperModeError("you have to define one policy for helper");
    for (const p of conf.policies) {
      if (p.expectMax > EXPECT_MAX_LIMIT) {
        throw new HelperModeError(
          `helper \`${conf.name}': policy \`${p.name}' has ExpectMax ${p.expectMax}, the kernel allows at most ${EXPECT_MAX_LIMIT}`,
        );
      }
    }
    const other = queues.get(conf.queueNum);
    if (other !== undefined) {
      throw new HelperModeError(
        `helpers \`${other}' and \`${conf.name}' both use QueueNum ${conf.queueNum}; each helper needs its own queue`,
      );
    }
    queues.set(conf.queueNum, conf.name);
    out.push({
      conf,
      helper,
      l3: conf.family === "inet6" ? AF_INET6 : AF_INET,
      l4: conf.protocol === "tcp" ? IPPROTO_TCP : IPPROTO_UDP,
    });
  }
  return out;
}

/** Expectations created over ctnetlink on a socket of their own. */
class CtnetlinkExpects implements ExpectSink {
  private sock: NetlinkSocket | null = null;
  private readonly b = new MessageBuilder(1024);
  lastError = 0;

  constructor(private readonly log: Logger) {}

  private socket(): NetlinkSocket {
    return this.sock ??= NetlinkSocket.open(0, 1 << 16);
  }

  create(e: HelperExpect): number {
    const sock = this.socket();
    this.b.reset();
    buildExpectNew(this.b, e, sock.nextSeq());
    try {
      sock.request(this.b.bytesView());
      return 0;
    } catch (err) {
      if (!(err instanceof NetlinkError)) throw err;
      this.lastError = err.errno;
      return err.errno;
    }
  }

  remove(e: HelperExpect): void {
    const sock = this.socket();
    this.b.reset();
    buildExpectDelete(this.b, e, sock.nextSeq());
    try {
      sock.request(this.b.bytesView());
    } catch (err) {
      if (!(err instanceof NetlinkError)) throw err;
      this.log.log("warning", `cannot remove expectation: ${strerror(err.errno)}`);
    }
  }

  close(): void {
    this.sock?.close();
    this.sock = null;
  }
}

export class HelperMode {
  private stopped = false;
  private readonly registered: Instance[] = [];
  private dispatcher: HelperDispatcher | null = null;
  private readonly expects: CtnetlinkExpects;
  private loopDone: Promise<void> = Promise.resolve();

  private constructor(
    private readonly config: Config,
    private readonly log: Logger,
    private readonly instances: Instance[],
    private readonly queue: NfQueue,
  ) {
    this.expects = new CtnetlinkExpects(log);
  }

  get stats(): DispatchStats | null {
    return this.dispatcher?.stats ?? null;
  }

  /**
   * cthelper_init(): everything or nothing. On failure the reason is logged,
   * whatever was set up is undone, and null is returned.
   */
  static start(config: Config, log: Logger): HelperMode | null {
    let queue: NfQueue | null = null;
    let mode: HelperMode | null = null;
    try {
      const instances = resolveInstances(config.helper?.types ?? []);
      const cthelper = probeCthelper();
      queue = NfQueue.open();
      const first = instances[0];
      const queueConntrack = first ? probeQueueConntrack(queue, first.conf.queueNum) : true;
      const missing = missingSupportMessage({ cthelper, queueConntrack });
      if (missing) throw new HelperModeError(missing);
      mode = new HelperMode(config, log, instances, queue);
      mode.setup();
      mode.run();
      return mode;
    } catch (e) {
      if (e instanceof HelperModeError || e instanceof SupportProbeError) log.log("error", e.message);
      else log.log("error", `cannot start the helpers: ${e instanceof Error ? e.message : String(e)}`);
      if (mode) mode.kill();
      else queue?.close();
      return null;
    }
  }

  private setup(): void {
    const { log, queue } = this;
    const setupOn = this.config.helper?.setup ?? false;
    queue.rebindFamily();
    for (const inst of this.instances) {
      const { conf, helper } = inst;
      log.log(
        "notice",
        `configuring helper \`${conf.name}' with queuenum=${conf.queueNum} and queuelen=${conf.queueLen}`,
      );
      for (const p of conf.policies) {
        log.log(
          "notice",
          `policy name=${p.name} expect_timeout=${p.expectTimeout} expect_max=${p.expectMax}`,
        );
      }
      const sock = NetlinkSocket.open(0, 1 << 16);
      try {
        sock.request(buildHelperNew({
          name: conf.name,
          queueNum: conf.queueNum,
          l3proto: inst.l3,
          l4proto: inst.l4,
          privDataLen: setupOn ? helper.privLen : undefined,
          policies: conf.policies,
        }, Math.floor(Date.now() / 1000)));
      } catch (e) {
        if (!(e instanceof NetlinkError)) throw e;
        throw new HelperModeError(`trying to configure cthelper \`${conf.name}': ${strerror(e.errno)}`);
      } finally {
        sock.close();
      }
      this.registered.push(inst);
      try {
        // The probe already bound the first queue.
        if (inst !== this.instances[0]) queue.bind(conf.queueNum);
        queue.setParams(conf.queueNum, { conntrack: true, maxLen: conf.queueLen });
      } catch (e) {
        if (!(e instanceof NetlinkError)) throw e;
        throw new HelperModeError(`cannot configure NFQUEUE queue ${conf.queueNum}: ${strerror(e.errno)}`);
      }
      log.log("notice", `helper \`${conf.name}' configured successfully`);
    }
    const bindings = new Map<number, QueueBinding>();
    for (const i of this.instances) {
      bindings.set(i.conf.queueNum, { helper: i.helper, policies: i.conf.policies });
    }
    this.dispatcher = new HelperDispatcher(
      bindings,
      queue,
      this.expects,
      (level, msg) => log.log(level, msg),
    );
  }

  /** The queue loop: wait off the thread, then answer everything queued. */
  private run(): void {
    const handle = this.dispatcher!.handle.bind(this.dispatcher!);
    this.loopDone = (async () => {
      while (!this.stopped) {
        const ready = await this.queue.wait(1000);
        if (this.stopped) break;
        if (!ready) continue;
        try {
          this.queue.drain(handle);
        } catch (e) {
          const msg = e instanceof NetlinkError ? strerror(e.errno) : String(e);
          this.log.log("error", `failed to receive message: ${msg}`);
        }
      }
    })();
  }

  /** cthelper_kill(): stop answering, unbind the queues, and with `Setup on` unregister the helpers. */
  kill(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const inst of this.instances) {
      try {
        this.queue.unbind(inst.conf.queueNum);
      } catch {
        // Not bound (start-up failed before it): nothing to undo.
      }
    }
    if (this.config.helper?.setup) {
      for (const inst of this.registered) {
        const sock = NetlinkSocket.open(0, 1 << 16);
        try {
          sock.request(buildHelperDel(inst.conf.name, inst.l3, inst.l4, sock.nextSeq()));
        } catch (e) {
          if (!(e instanceof NetlinkError)) throw e;
          this.log.log("warning", `cannot unregister helper \`${inst.conf.name}': ${strerror(e.errno)}`);
        } finally {
          sock.close();
        }
      }
    }
    this.queue.close();
    this.expects.close();
  }

  /** Resolves when the queue loop has ended (after kill()). */
  done(): Promise<void> {
    return this.loopDone;
  }
}
