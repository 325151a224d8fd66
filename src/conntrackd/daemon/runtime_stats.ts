// Counters of the daemon core and the `-s runtime` / `-s` traffic text.
import type { Conntrack } from "../../conntrack/model.ts";

export class RuntimeStats {
  startTime = Math.floor(Date.now() / 1000);
  eventsReceived = 0;
  eventsFiltered = 0;
  eventsUnknownType = 0;
  catchEventFailed = 0;
  dumpUnknownType = 0;
  overrun = 0;
  kernelTableFlush = 0;
  kernelTableResync = 0;
  childProcessFailed = 0;
  childProcessSegfault = 0;
  childProcessTermsig = 0;
  selectFailed = 0;
  waitFailed = 0;
  localReadFailed = 0;
  localUnknownRequest = 0;
  // Traffic of destroyed flows, summed as the reference does: the low 32 bits of each counter.
  bytesOrig = 0n;
  bytesRepl = 0n;
  packetsOrig = 0n;
  packetsRepl = 0n;

  addTraffic(ct: Conntrack): void {
    if (ct.countersOrig) {
      this.bytesOrig += ct.countersOrig.bytes & 0xffffffffn;
      this.packetsOrig += ct.countersOrig.packets & 0xffffffffn;
    }
    if (ct.countersReply) {
      this.bytesRepl += ct.countersReply.bytes & 0xffffffffn;
      this.packetsRepl += ct.countersReply.packets & 0xffffffffn;
    }
  }
}

const u12 = (n: number) => String(n >>> 0).padStart(12);
const u20 = (n: number | bigint) => String(BigInt.asUintN(64, BigInt(n))).padStart(20);

/** `daemon uptime:` value, as the reference's uptime(). */
export function formatUptime(seconds: number): string {
  const days = Math.trunc(seconds / 86400);
  let s = days ? `${days} day${days !== 1 ? "s" : ""} ` : "";
  let minutes = Math.trunc(seconds / 60);
  const hours = Math.trunc(minutes / 60) % 24;
  minutes %= 60;
  s += hours ? `${hours} h ${minutes} min` : `${minutes} min`;
  return s;
}

/** The `-s runtime` text. */
export function formatRuntimeStats(st: RuntimeStats, bufferSize: number, nowSecs: number): string {
  return `daemon uptime: ${formatUptime(nowSecs - st.startTime)}\n\n` +
    "netlink stats:\n" +
    `\tevents received:\t${u20(st.eventsReceived)}\n` +
    `\tevents filtered:\t${u20(st.eventsFiltered)}\n` +
    `\tevents unknown type:\t\t${u12(st.eventsUnknownType)}\n` +
    `\tcatch event failed:\t\t${u12(st.catchEventFailed)}\n` +
    `\tdump unknown type:\t\t${u12(st.dumpUnknownType)}\n` +
    `\tnetlink overrun:\t\t${u12(st.overrun)}\n` +
    `\tflush kernel table:\t\t${u12(st.kernelTableFlush)}\n` +
    `\tresync with kernel table:\t${u12(st.kernelTableResync)}\n` +
    `\tcurrent buffer size (in bytes):\t${u12(bufferSize)}\n\n` +
    "runtime stats:\n" +
    `\tchild process failed:\t\t${u12(st.childProcessFailed)}\n` +
    `\t\tchild process segfault:\t${u12(st.childProcessSegfault)}\n` +
    `\t\tchild process termsig:\t${u12(st.childProcessTermsig)}\n` +
    `\tselect failed:\t\t\t${u12(st.selectFailed)}\n` +
    `\twait failed:\t\t\t${u12(st.waitFailed)}\n` +
    `\tlocal read failed:\t\t${u12(st.localReadFailed)}\n` +
    `\tlocal unknown request:\t\t${u12(st.localUnknownRequest)}\n\n`;
}

/** The `traffic processed:` block of `-s`. */
export function formatTrafficStats(st: RuntimeStats): string {
  return "traffic processed:\n" +
    `${u20(st.bytesOrig + st.bytesRepl)} Bytes      ` +
    `${u20(st.packetsOrig + st.packetsRepl)} Pckts\n\n`;
}
