// `nfct <command> helper …`: user-space conntrack helpers over nfnetlink_cthelper.
// Returns 0 on success, -1 on failure; an unsupported command exits with 1.
import { type NetlinkSocket } from "../netlink/socket.ts";
import { NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP } from "../netlink/constants.ts";
import { type Command } from "./commands.ts";
import { fixedName } from "./cstring.ts";
import { nfctError, printErr, printOut, tooManyArguments, VERSION } from "./io.ts";
import { parseFamily, parseHelperL4 } from "./protocols.ts";
import { talk } from "./talk.ts";
import { findBuiltinHelper } from "./helper_table.ts";
import {
  buildHelperRequest,
  formatHelper,
  HELPER_NAME_SIZE,
  type HelperRequest,
  NFCT_HELPER_STATUS_DISABLED,
  NFNL_MSG_CTHELPER_DEL,
  NFNL_MSG_CTHELPER_GET,
  NFNL_MSG_CTHELPER_NEW,
  parseHelperMessage,
} from "./helper_msg.ts";

function usage(argv: string[]): void {
  printErr(
    `nfct v${VERSION}: Missing command\n${
      argv[0]
    } helper list|add|delete|disable|get|flush [parameters...]\n`,
  );
}

/** Result of a command, or `{ exit }` when the reference exits on the spot. */
export type HelperResult = number | { exit: number };

export function runHelper(sock: NetlinkSocket, argv: string[], cmd: Command): HelperResult {
  switch (cmd) {
    case "list":
      return list(sock, argv);
    case "add":
      return register(sock, argv, false);
    case "disable":
      return register(sock, argv, true);
    case "delete":
      return byName(sock, argv, NFNL_MSG_CTHELPER_DEL, false);
    case "get":
      return byName(sock, argv, NFNL_MSG_CTHELPER_GET, true);
    case "flush":
      return flush(sock, argv);
    default:
      printErr(`nfct v${VERSION}: Unknown command: ${argv[2]}\n`);
      usage(argv);
      return { exit: 1 };
  }
}

function exchange(
  sock: NetlinkSocket,
  msgType: number,
  flags: number,
  h?: HelperRequest,
  print = false,
): number {
  const request = buildHelperRequest(msgType, flags, sock.nextSeq(), h);
  return talk(
    sock,
    request,
    print
      ? (buf, view, off, len) => {
        const helper = parseHelperMessage(buf, view, off, len);
        if (helper) printOut(...formatHelper(helper));
        else nfctError("nfct_helper_nlmsg_parse_payload");
      }
      : undefined,
  );
}

function list(sock: NetlinkSocket, argv: string[]): number {
  if (tooManyArguments(argv, 3)) return -1;
  return exchange(sock, NFNL_MSG_CTHELPER_GET, NLM_F_DUMP, undefined, true);
}

function flush(sock: NetlinkSocket, argv: string[]): number {
  if (tooManyArguments(argv, 3)) return -1;
  return exchange(sock, NFNL_MSG_CTHELPER_DEL, NLM_F_ACK);
}

/** add (register the built-in definition) and disable (same object, status off). */
function register(sock: NetlinkSocket, argv: string[], disable: boolean): number {
  if (argv.length < 6) {
    nfctError(`missing parameters\nsyntax: nfct ${disable ? "disable" : "add"} helper name family protocol`);
    return -1;
  }
  const l3proto = parseFamily(argv[4]);
  if (l3proto === undefined) {
    nfctError("unknown layer 3 protocol");
    return -1;
  }
  const l4proto = parseHelperL4(argv[5]);
  if (l4proto === undefined) {
    nfctError("unsupported layer 4 protocol");
    return -1;
  }
  const builtin = findBuiltinHelper(argv[3], l4proto);
  if (!builtin) {
    nfctError("that helper is not supported");
    return -1;
  }
  const h: HelperRequest = { name: fixedName(argv[3], HELPER_NAME_SIZE), l3proto, l4proto };
  if (disable) {
    h.status = NFCT_HELPER_STATUS_DISABLED;
  } else {
    h.privDataLen = builtin.privDataLen;
    h.policies = builtin.policies;
  }
  return exchange(sock, NFNL_MSG_CTHELPER_NEW, NLM_F_CREATE | NLM_F_ACK, h);
}

/** delete and get: `name [family [protocol]]`. */
function byName(sock: NetlinkSocket, argv: string[], msgType: number, print: boolean): number {
  if (argv.length < 4) {
    nfctError("missing helper policy name");
    return -1;
  }
  if (tooManyArguments(argv, 6)) return -1;
  const h: HelperRequest = { name: fixedName(argv[3], HELPER_NAME_SIZE) };
  if (argv.length >= 5) {
    h.l3proto = parseFamily(argv[4]);
    if (h.l3proto === undefined) {
      nfctError("unknown layer 3 protocol");
      return -1;
    }
  }
  if (argv.length === 6) {
    h.l4proto = parseHelperL4(argv[5]);
    if (h.l4proto === undefined) {
      nfctError("unsupported layer 4 protocol");
      return -1;
    }
  }
  return exchange(sock, msgType, NLM_F_ACK, h, print);
}
