// `nfct <command> timeout …`: argument checks in the reference's order, then
// one cttimeout request per command. Returns 0 on success, -1 on failure.
import { type NetlinkSocket } from "../netlink/socket.ts";
import { NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP } from "../netlink/constants.ts";
import { type Command } from "./commands.ts";
import { asciiCaseEqual, atoiU32, fixedName } from "./cstring.ts";
import { nfctError, printErr, printOut, tooManyArguments, VERSION } from "./io.ts";
import { parseFamily, parseTimeoutL4 } from "./protocols.ts";
import { talk } from "./talk.ts";
import {
  buildTimeoutRequest,
  formatTimeout,
  IPCTNL_MSG_TIMEOUT_DEFAULT_GET,
  IPCTNL_MSG_TIMEOUT_DEFAULT_SET,
  IPCTNL_MSG_TIMEOUT_DELETE,
  IPCTNL_MSG_TIMEOUT_GET,
  IPCTNL_MSG_TIMEOUT_NEW,
  newTimeoutObject,
  parseTimeoutMessage,
  TIMEOUT_NAME_SIZE,
  type TimeoutObject,
  timeoutStates,
} from "./timeout_msg.ts";

/** `argv` is the full C-style vector: argv[0] program, argv[1..2] command and subsystem. */
export function runTimeout(sock: NetlinkSocket, argv: string[], cmd: Command): number {
  switch (cmd) {
    case "list":
      return list(sock, argv);
    case "add":
      return add(sock, argv);
    case "delete":
      return byName(sock, argv, IPCTNL_MSG_TIMEOUT_DELETE, false);
    case "get":
      return byName(sock, argv, IPCTNL_MSG_TIMEOUT_GET, true);
    case "flush":
      return flush(sock, argv);
    case "default-set":
      return defaultSet(sock, argv);
    case "default-get":
      return defaultGet(sock, argv);
    default:
      printErr(
        `nfct v${VERSION}: Missing command\n` +
          `${argv[0]} <list|add|delete|get|default-set|default-get|flush> timeout [<parameters>, ...]\n`,
      );
      return -1;
  }
}

/** Sends one request, printing every object in the reply; reports a failure like the reference. */
function exchange(
  sock: NetlinkSocket,
  msgType: number,
  flags: number,
  t?: TimeoutObject,
  print = false,
): number {
  const request = buildTimeoutRequest(msgType, flags, sock.nextSeq(), t);
  return talk(
    sock,
    request,
    print
      ? (buf, view, off, len) => printOut(...formatTimeout(parseTimeoutMessage(buf, view, off, len)))
      : undefined,
  );
}

function list(sock: NetlinkSocket, argv: string[]): number {
  if (tooManyArguments(argv, 3)) return -1;
  return exchange(sock, IPCTNL_MSG_TIMEOUT_GET, NLM_F_DUMP, undefined, true);
}

function flush(sock: NetlinkSocket, argv: string[]): number {
  if (tooManyArguments(argv, 3)) return -1;
  // A DELETE without a name removes every policy that is not in use.
  return exchange(sock, IPCTNL_MSG_TIMEOUT_DELETE, NLM_F_ACK);
}

function add(sock: NetlinkSocket, argv: string[]): number {
  if (argv.length < 6) {
    nfctError("missing parameters\nsyntax: nfct add timeout name family protocol state1 timeout1 ...");
    return -1;
  }
  const t = newTimeoutObject();
  t.name = fixedName(argv[3], TIMEOUT_NAME_SIZE);
  if (!parsePolicyArgs(t, argv.slice(4))) return -1;
  return exchange(sock, IPCTNL_MSG_TIMEOUT_NEW, NLM_F_CREATE | NLM_F_ACK, t);
}

/** delete and get: exactly one policy name. */
function byName(sock: NetlinkSocket, argv: string[], msgType: number, print: boolean): number {
  if (argv.length < 4) {
    nfctError("missing timeout policy name");
    return -1;
  }
  if (tooManyArguments(argv, 4)) return -1;
  const t = newTimeoutObject();
  t.name = fixedName(argv[3], TIMEOUT_NAME_SIZE);
  return exchange(sock, msgType, NLM_F_ACK, t, print);
}

function defaultSet(sock: NetlinkSocket, argv: string[]): number {
  if (argv.length < 6) {
    nfctError("missing parameters\nsyntax: nfct default-set timeout family protocol state1 timeout1...");
    return -1;
  }
  const t = newTimeoutObject();
  if (!parsePolicyArgs(t, argv.slice(3))) return -1;
  return exchange(sock, IPCTNL_MSG_TIMEOUT_DEFAULT_SET, NLM_F_ACK, t, true);
}

function defaultGet(sock: NetlinkSocket, argv: string[]): number {
  if (argv.length < 5) {
    nfctError("missing parameters\nsyntax: nfct default-get timeout family protocol");
    return -1;
  }
  // Anything after the protocol is ignored, as the reference does.
  const t = newTimeoutObject();
  if (!parseProtocols(t, argv[3], argv[4])) return -1;
  return exchange(sock, IPCTNL_MSG_TIMEOUT_DEFAULT_GET, NLM_F_ACK, t, true);
}

function parseProtocols(t: TimeoutObject, family: string, proto: string): boolean {
  const l3 = parseFamily(family);
  if (l3 === undefined) {
    nfctError("unknown layer 3 protocol");
    return false;
  }
  t.l3proto = l3;
  const l4 = parseTimeoutL4(proto);
  if (l4 === undefined) {
    nfctError("unknown layer 4 protocol");
    return false;
  }
  t.l4proto = l4 & 0xff;
  return true;
}

/**
 * `family protocol [state value]...`: states are checked pair by pair, so a
 * bad state name is reported before a trailing state without a value.
 */
function parsePolicyArgs(t: TimeoutObject, args: string[]): boolean {
  if (!parseProtocols(t, args[0], args[1])) return false;
  const protoName = args[1];
  const states = timeoutStates(t.l4proto!);
  let i = 2;
  for (; args.length - i > 1; i += 2) {
    const index = states.findIndex((s) => asciiCaseEqual(args[i], s));
    if (index < 0) {
      printErr(`nfct v${VERSION}: Wrong state name: \`${args[i]}' for protocol \`${protoName}'\n`);
      return false;
    }
    t.policy.set(index, atoiU32(args[i + 1]));
  }
  if (i < args.length) {
    nfctError("missing value for this timeout");
    return false;
  }
  return true;
}
