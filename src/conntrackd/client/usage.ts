// The texts conntrackd prints for -h and -v, and its log line format.

export const VERSION = "1.4.7";

const GENERAL_COMMANDS = `General commands:
  -d, run in daemon mode
  -C [configfile], configuration file path
  -v, display conntrackd version
  -h, display this help information
`;

const CLIENT_COMMANDS = `Client mode commands:
  -c [ct|expect], commit external cache to conntrack table
  -f [internal|external], flush internal and external cache
  -F [ct|expect], flush kernel conntrack table
  -i [ct|expect], display content of the internal cache
  -e [ct|expect], display the content of the external cache
  -k, kill conntrack daemon
  -s  [network|cache|runtime|link|rsqueue|queue|ct|expect], dump statistics
  -R [ct|expect], resync with kernel conntrack table
  -n, request resync with other node (only FT-FW and NOTRACK modes)
  -B, force a bulk send to other replica firewalls
  -x, dump cache in XML format (requires -i or -e)
  -t, reset the kernel timeout (see PurgeTimeout clause)
`;

/** The usage text (stdout) with argv[0] as the program name, as the reference prints it. */
export function usageText(progname: string): string {
  return `Connection tracking userspace daemon v${VERSION}\n` +
    `Usage: ${progname} [commands] [options]\n\n` +
    `${GENERAL_COMMANDS}\n${CLIENT_COMMANDS}\n`;
}

/** The usage text for a program started as `conntrackd`. */
export const USAGE_TEXT = usageText("conntrackd");

export function versionText(): string {
  return `Connection tracking userspace daemon v${VERSION}. Licensed under GPLv2.\n` +
    "(C) 2006-2009 Pablo Neira Ayuso <pablo@netfilter.org>\n";
}

export type LogPriority = "info" | "notice" | "warning" | "ERROR";

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** C's ctime() in local time without the trailing newline: `Sat Nov  1 08:05:09 2026`. */
export function ctime(d: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`;
}

/** One console/log line as dlog() writes it, newline included. */
export function logLine(prio: LogPriority, message: string, now = new Date(), pid = Deno.pid): string {
  return `[${ctime(now)}] (pid=${pid}) [${prio}] ${message}\n`;
}

/** Where dlog() sends a console line before logging is set up: errors and warnings to stderr. */
export function logStream(prio: LogPriority): "stdout" | "stderr" {
  return prio === "info" || prio === "notice" ? "stdout" : "stderr";
}
