// libnetfilter_cthelper: the reference's nfnetlink_cthelper request builder.
// ctkit builds the registration in TypeScript (src/conntrackd/helpers/
// cthelper_msg.ts); the tests compare those bytes with what this library
// builds for the same helper, as the reference conntrackd does at start-up.
import { lazyLibrary } from "./load.ts";

const symbols = {
  nfct_helper_alloc: { parameters: [], result: "pointer" },
  nfct_helper_free: { parameters: ["pointer"], result: "void" },
  nfct_helper_attr_set: { parameters: ["pointer", "i32", "pointer"], result: "void" },
  nfct_helper_attr_set_str: { parameters: ["pointer", "i32", "buffer"], result: "void" },
  nfct_helper_attr_set_u8: { parameters: ["pointer", "i32", "u8"], result: "void" },
  nfct_helper_attr_set_u16: { parameters: ["pointer", "i32", "u16"], result: "void" },
  nfct_helper_attr_set_u32: { parameters: ["pointer", "i32", "u32"], result: "void" },
  nfct_helper_policy_alloc: { parameters: [], result: "pointer" },
  nfct_helper_policy_attr_set_str: { parameters: ["pointer", "i32", "buffer"], result: "void" },
  nfct_helper_policy_attr_set_u32: { parameters: ["pointer", "i32", "u32"], result: "void" },
  nfct_helper_nlmsg_build_hdr: { parameters: ["buffer", "u8", "u16", "u32"], result: "pointer" },
  nfct_helper_nlmsg_build_payload: { parameters: ["pointer", "pointer"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

export const libnetfilterCthelper = lazyLibrary(
  "libnetfilter_cthelper.so.0",
  "libnetfilter-cthelper0",
  symbols,
);
