// libnetfilter_conntrack: ctkit prints and parses in TypeScript, so this table
// serves as the reference implementation the formatter tests compare against.
import { lazyLibrary } from "./load.ts";

const symbols = {
  nfct_new: { parameters: [], result: "pointer" },
  nfct_destroy: { parameters: ["pointer"], result: "void" },
  nfct_nlmsg_parse: { parameters: ["buffer", "pointer"], result: "i32" },
  // (buf, size, ct, msg_type, out_type, flags)
  nfct_snprintf: { parameters: ["buffer", "u32", "pointer", "u32", "u32", "u32"], result: "i32" },
  // (buf, size, ct, msg_type, out_type, flags, map)
  nfct_snprintf_labels: {
    parameters: ["buffer", "u32", "pointer", "u32", "u32", "u32", "pointer"],
    result: "i32",
  },
  nfct_labelmap_new: { parameters: ["buffer"], result: "pointer" },
  nfct_labelmap_destroy: { parameters: ["pointer"], result: "void" },
  nfct_labelmap_get_name: { parameters: ["pointer", "u32"], result: "pointer" },
  nfexp_new: { parameters: [], result: "pointer" },
  nfexp_destroy: { parameters: ["pointer"], result: "void" },
  nfexp_nlmsg_parse: { parameters: ["buffer", "pointer"], result: "i32" },
  nfexp_snprintf: { parameters: ["buffer", "u32", "pointer", "u32", "u32", "u32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

export const libnfct = lazyLibrary("libnetfilter_conntrack.so.3", "libnetfilter-conntrack3", symbols);

// nfct_snprintf() output types and flags (libnetfilter_conntrack.h).
export const NFCT_O_DEFAULT = 0;
export const NFCT_O_XML = 1;
export const NFCT_OF_SHOW_LAYER3 = 1 << 0;
export const NFCT_OF_TIME = 1 << 1;
export const NFCT_OF_ID = 1 << 2;
export const NFCT_OF_TIMESTAMP = 1 << 3;
