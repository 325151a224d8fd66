// nfct: `nfct <command> <subsystem> [parameters]`, or the legacy
// `nfct <subsystem> <command>`; a drop-in for conntrack-tools 1.4.7's nfct.
import { NetlinkError, NetlinkSocket } from "../netlink/socket.ts";
import { parseCommand, parseSubsystem, type Subsystem } from "./commands.ts";
import { runHelper } from "./helper.ts";
import { nfctError, printErr, printOut, VERSION } from "./io.ts";
import { runTimeout } from "./timeout.ts";

const VERSION_TEXT = `nfct v${VERSION}: utility for the Netfilter's Connection Tracking System
Copyright (C) 2012 Pablo Neira Ayuso <pablo@netfilter.org>
This program comes with ABSOLUTELY NO WARRANTY.
This is free software, and you are welcome to redistribute it under certain 
conditions; see LICENSE file distributed in this package for details.
`;

function helpText(progname: string): string {
  return `nfct v${VERSION}: utility for the Netfilter's Connection Tracking System
Usage: ${progname} command [parameters]...

Subsystem:
  helper\t\tAllows to configure user-space helper
  timeout\t\tAllows definition of fine-grain timeout policies
  version\t\tDisplay version and disclaimer
  help\t\t\tDisplay this help message
Commands:
  list [reset]\t\tList the accounting object table (and reset)
  add object-name\tAdd new accounting object to table
  delete object-name\tDelete existing accounting object
  get object-name\tGet existing accounting object
  disable\t\tDisable queueing packets to userspace for helper inspection
  default-set\t\tSet default timeouts
  default-get\t\tGet default timeouts
  flush\t\t\tFlush accounting object table
`;
}

function usage(progname: string): void {
  printErr(`Usage: ${progname} command subsystem [parameters]...\n`);
}

/** Both "unknown" errors name argv[1], whichever word was actually wrong. */
function unknown(what: string, argv: string[]): number {
  printErr(`nfct v${VERSION}: Unknown ${what}: ${argv[1]}\n`);
  usage(argv[0]);
  return 1;
}

/** Runs nfct; `args` excludes the program name. Returns the exit status. */
export function main(args: string[], progname: string): number {
  const argv = [progname, ...args];
  if (argv.length < 3) {
    usage(progname);
    return 1;
  }
  let cmd = parseCommand(argv[1]);
  let subsys: Subsystem | undefined;
  if (cmd === undefined) {
    subsys = parseSubsystem(argv[1]);
    if (subsys === undefined) return unknown("subsystem", argv);
    cmd = parseCommand(argv[2]);
    if (cmd === undefined) return unknown("command", argv);
  } else {
    subsys = parseSubsystem(argv[2]);
    if (subsys === undefined) return unknown("subsystem", argv);
  }

  if (subsys === "version") {
    printOut(VERSION_TEXT);
    return 0;
  }
  if (subsys === "help") {
    printOut(helpText(progname));
    return 0;
  }

  let sock: NetlinkSocket;
  try {
    sock = NetlinkSocket.open();
  } catch (e) {
    if (!(e instanceof NetlinkError)) throw e;
    nfctError("cannot open netlink", e.errno);
    return 255;
  }
  try {
    const result = subsys === "timeout" ? runTimeout(sock, argv, cmd) : runHelper(sock, argv, cmd);
    if (typeof result === "object") return result.exit;
    return result < 0 ? 1 : 0;
  } finally {
    sock.close();
  }
}
