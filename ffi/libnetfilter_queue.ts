// libnetfilter_queue: the reference's NFQUEUE message helpers and packet
// mangling. ctkit builds its queue messages in TypeScript (src/conntrackd/
// helpers/queue_msg.ts); these symbols are the yardstick the tests compare
// those bytes and the TypeScript mangling against, and the one place that
// names the Debian package when the library is missing.
import { lazyLibrary } from "./load.ts";

const symbols = {
  // Message builders: write into a caller buffer that starts with an nlmsghdr.
  nfq_nlmsg_put: { parameters: ["buffer", "i32", "i32"], result: "pointer" },
  nfq_nlmsg_cfg_put_cmd: { parameters: ["buffer", "u16", "u8"], result: "void" },
  nfq_nlmsg_cfg_put_params: { parameters: ["buffer", "u8", "i32"], result: "void" },
  nfq_nlmsg_cfg_put_qmaxlen: { parameters: ["buffer", "u32"], result: "void" },
  nfq_nlmsg_verdict_put: { parameters: ["buffer", "i32", "i32"], result: "void" },
  nfq_nlmsg_verdict_put_pkt: { parameters: ["buffer", "buffer", "u32"], result: "void" },
  // Packet buffers and the reference helpers' NAT rewriting.
  pktb_alloc: { parameters: ["i32", "buffer", "usize", "usize"], result: "pointer" },
  pktb_data: { parameters: ["pointer"], result: "pointer" },
  pktb_len: { parameters: ["pointer"], result: "u32" },
  pktb_mangled: { parameters: ["pointer"], result: "bool" },
  pktb_free: { parameters: ["pointer"], result: "void" },
  nfq_tcp_mangle_ipv4: { parameters: ["pointer", "u32", "u32", "buffer", "u32"], result: "i32" },
  nfq_udp_mangle_ipv4: { parameters: ["pointer", "u32", "u32", "buffer", "u32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

export const libnetfilterQueue = lazyLibrary("libnetfilter_queue.so.1", "libnetfilter-queue1", symbols);
