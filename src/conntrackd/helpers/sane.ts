// SANE network scanning (saned): a client's 8-byte SANE_NET_START request
// arms one byte of state; the server's successful reply names the data port,
// and the client's connection to it is expected (NFQA_EXP). Any other 8-byte
// request disarms. Only established connections are parsed.
import { be16At, be32At } from "./bytes.ts";
import {
  type CtHelper,
  type HelperCall,
  IP_CT_ESTABLISHED,
  IP_CT_ESTABLISHED_REPLY,
  IPPROTO_TCP,
} from "./context.ts";
import { expectInit } from "./expect.ts";

const SANE_NET_START = 7;
const SANE_STATUS_SUCCESS = 0;
const STATE_NORMAL = 0;
const STATE_START_REQUESTED = 1;

function run(call: HelperCall): void {
  if (call.ctinfo !== IP_CT_ESTABLISHED && call.ctinfo !== IP_CT_ESTABLISHED_REPLY) return;
  const { pkt, ct } = call;
  const dataoff = pkt.tcpDataOff();
  if (dataoff >= pkt.len) return;
  const datalen = pkt.len - dataoff;
  const buf = pkt.buf;
  const state = call.privView;
  if (call.dir === 0) {
    // struct sane_request: RPC code, handle.
    if (datalen !== 8) return;
    const start = be32At(buf, dataoff, pkt.len) === SANE_NET_START;
    state.setUint32(0, start ? STATE_START_REQUESTED : STATE_NORMAL, true);
    return;
  }
  if (state.getUint32(0, true) !== STATE_START_REQUESTED) return;
  state.setUint32(0, STATE_NORMAL, true);
  // struct sane_reply_net_start: status, zero, port.
  if (datalen < 8) return;
  if (be32At(buf, dataoff, pkt.len) !== SANE_STATUS_SUCCESS) return;
  if (be16At(buf, dataoff + 4, pkt.len) !== 0) return;
  const port = be16At(buf, dataoff + 6, pkt.len);
  call.attach = expectInit(call, 0, ct.orig.src, ct.orig.dst, IPPROTO_TCP, null, port, 0);
}

export const saneHelper: CtHelper = {
  name: "sane",
  proto: IPPROTO_TCP,
  privLen: 4,
  policies: [{ name: "sane", expectMax: 1, expectTimeout: 300 }],
  run,
};
