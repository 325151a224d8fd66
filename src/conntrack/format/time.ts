// Local-time renderings the C printers produce with ctime() and localtime().
// JavaScript's Date follows the same TZ setting, so the text matches glibc's.

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function two(n: number): string {
  return n < 10 ? "0" + n : String(n);
}

/** ctime() without its trailing newline: "Sat Nov  1 08:05:09 2026". */
export function ctime(seconds: number): string {
  const d = new Date(seconds * 1000);
  const day = d.getDate();
  return DAYS[d.getDay()] + " " + MONTHS[d.getMonth()] + (day < 10 ? "  " : " ") + day + " " +
    two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds()) + " " + d.getFullYear();
}

/** The <when> element body of NFCT_OF_TIME: current local time, as libnetfilter_conntrack formats it. */
export function whenXml(nowSec: number = nowSeconds()): string {
  const d = new Date(nowSec * 1000);
  return "<when><hour>" + d.getHours() + "</hour><min>" + two(d.getMinutes()) + "</min><sec>" +
    two(d.getSeconds()) + "</sec><wday>" + (d.getDay() + 1) + "</wday><day>" + d.getDate() +
    "</day><month>" + (d.getMonth() + 1) + "</month><year>" + d.getFullYear() + "</year></when>";
}

/** time(NULL). */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

const NSEC_PER_SEC = 1000000000n;

/** (time_t)(ns / NSEC_PER_SEC) for an unsigned 64-bit nanosecond stamp. */
export function stampSeconds(ns: bigint): number {
  return Number(ns / NSEC_PER_SEC);
}

/** A signed 64-bit second count printed with %llu (negative values wrap). */
export function unsignedSeconds(v: number): string {
  return v >= 0 ? String(v) : String(18446744073709551616n + BigInt(v));
}

/** ((stop - start) mod 2^64) / NSEC_PER_SEC, as the XML <deltatime> computes it. */
export function wrappedDeltaSeconds(start: bigint, stop: bigint): string {
  return String(BigInt.asUintN(64, stop - start) / NSEC_PER_SEC);
}
