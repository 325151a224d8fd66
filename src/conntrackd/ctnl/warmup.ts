// Runs the per-event code on synthetic entries before the event socket opens.
// A fresh V8 interprets code until it has run enough times to be compiled; a
// burst of events right after start-up would meet that slow code while the
// kernel buffer fills, and the first burst after start overran where the
// reference does not. A few thousand rounds here (tens of milliseconds) move
// the hot paths to optimised code first.
import { MessageBuilder } from "../../netlink/builder.ts";
import { NFNL_SUBSYS_CTNETLINK, NLM_F_CREATE } from "../../netlink/constants.ts";
import * as A from "../../conntrack/attrs.ts";
import { decodeConntrack } from "../../conntrack/decode.ts";
import { putConntrack } from "../../conntrack/encode.ts";
import { Conntrack, newTuple } from "../../conntrack/model.ts";
import { ctKey, mergeConntrack } from "../cache/ct_object.ts";
import { decodeRecord, encodeRecord } from "../cache/ct_record.ts";
import { FlatCt } from "../cache/flat_ct.ts";
import { flatKey, flatRecord, readFlatRecord } from "../cache/flat_record.ts";
import type { CtFilter } from "../filter/mod.ts";
import { CT_MSG_MAX, CT_NEW } from "../sync/wire/mod.ts";
import { encodeFlatCt } from "../sync/wire/ct_flat_codec.ts";
import { parseCtMessage } from "./ct_event_fast.ts";

const ROUNDS = 4000;

function sample(i: number, tcp: boolean): Uint8Array {
  const ct = new Conntrack();
  ct.orig = {
    ...newTuple(2),
    src: `192.0.2.${i & 255}`,
    dst: "198.51.100.7",
    proto: tcp ? 6 : 17,
    sport: 1024 + i,
    dport: 80,
  };
  ct.reply = {
    ...newTuple(2),
    src: "198.51.100.7",
    dst: `192.0.2.${i & 255}`,
    proto: tcp ? 6 : 17,
    sport: 80,
    dport: 1024 + i,
  };
  ct.status = 8, ct.timeout = 120, ct.mark = 0, ct.id = i;
  if (tcp) ct.state = 3;
  const b = new MessageBuilder(512);
  b.begin((NFNL_SUBSYS_CTNETLINK << 8) | A.IPCTNL_MSG_CT_NEW, NLM_F_CREATE, 0, 2);
  putConntrack(b, ct);
  return b.end().bytesView().slice();
}

/**
 * `fastPath`: also the NEW-event fast path of the sync modes (flat parse, key, record) and
 * the transmit round's record-to-message writer, on scratch state only.
 */
export function warmUp(filter: CtFilter, fastPath = false): void {
  const msgs = [sample(1, true), sample(2, false)];
  const views = msgs.map((m) => new DataView(m.buffer, m.byteOffset, m.byteLength));
  const flat = new FlatCt(), out = new Uint8Array(CT_MSG_MAX);
  const opts = { withTimeout: false, tcpWindowTracking: false };
  let sink = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const m = msgs[i & 1], v = views[i & 1];
    const ct = decodeConntrack(m, v, 0, m.length);
    if (filter.rejects(ct, true)) sink++;
    sink += ctKey(ct).length;
    const copy = decodeRecord(encodeRecord(ct));
    mergeConntrack(copy, ct);
    sink += copy.orig.sport ?? 0;
    if (fastPath && parseCtMessage(flat, m, v, 0, m.length)) {
      sink += flatKey(flat).length;
      const record = flatRecord(flat);
      if (readFlatRecord(flat, record)) sink += encodeFlatCt(out, 0, CT_NEW, flat, opts);
    }
  }
  if (sink < 0) throw new Error("unreachable");
}
