// libmnl: netlink socket life cycle. Messages are built and parsed in TypeScript
// (src/netlink/), so only these few calls cross FFI, once per buffer.
import { lazyLibrary } from "./load.ts";

const symbols = {
  mnl_socket_open: { parameters: ["i32"], result: "pointer" },
  mnl_socket_bind: { parameters: ["pointer", "u32", "i32"], result: "i32" },
  mnl_socket_get_fd: { parameters: ["pointer"], result: "i32" },
  mnl_socket_get_portid: { parameters: ["pointer"], result: "u32" },
  mnl_socket_sendto: { parameters: ["pointer", "buffer", "usize"], result: "isize" },
  mnl_socket_close: { parameters: ["pointer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

export const libmnl = lazyLibrary("libmnl.so.0", "libmnl0", symbols);
