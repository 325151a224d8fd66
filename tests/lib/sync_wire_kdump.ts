// Run inside a test namespace (`ip netns exec NS deno run -A --no-check ...`):
// dumps the conntrack and expectation tables through ctkit's netlink decoder and
// prints one JSON line per object, {"ct": {...}} or {"exp": {...}}, for
// tests/sync_wire_ref_test.ts to rebuild the model objects the sync encoder takes.
import { decodeConntrack, decodeExpect } from "../../src/conntrack/decode.ts";
import { IPCTNL_MSG_CT_GET, IPCTNL_MSG_EXP_GET } from "../../src/conntrack/attrs.ts";
import { MessageBuilder } from "../../src/netlink/builder.ts";
import {
  AF_UNSPEC,
  NFNL_SUBSYS_CTNETLINK,
  NFNL_SUBSYS_CTNETLINK_EXP,
  NLM_F_DUMP,
  NLM_F_REQUEST,
} from "../../src/netlink/constants.ts";
import { dumpPipelined } from "../../src/netlink/dump_pipeline.ts";
import { NetlinkSocket } from "../../src/netlink/socket.ts";

/** JSON for the model: byte arrays as number arrays, big integers as strings. */
export function modelJson(x: unknown): string {
  return JSON.stringify(
    x,
    (_k, v) => (v instanceof Uint8Array ? [...v] : typeof v === "bigint" ? String(v) : v),
  );
}

if (import.meta.main) {
  const sock = NetlinkSocket.open();
  const lines: string[] = [];
  for (
    const [subsys, msg, key] of [
      [NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET, "ct"],
      [NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_GET, "exp"],
    ] as const
  ) {
    const b = new MessageBuilder(64);
    b.begin((subsys << 8) | msg, NLM_F_REQUEST | NLM_F_DUMP, sock.nextSeq(), AF_UNSPEC).end();
    await dumpPipelined(sock, b.bytesView(), (buf, v, off, len) => {
      const obj = key === "ct" ? decodeConntrack(buf, v, off, len) : decodeExpect(buf, v, off, len);
      lines.push(modelJson({ [key]: obj }));
    });
  }
  console.log(lines.join("\n"));
}
