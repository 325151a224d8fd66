// The parsed form of one conntrack invocation (struct ct_cmd + struct ct_tmpl in
// conntrack.c). The argument parser (src/conntrack/parse/) fills it; the command
// runner (src/conntrack/run/) executes it.
import { Conntrack, Expect } from "./model.ts";

// Command bits (enum ct_command).
export const CT_NONE = 0;
export const CT_LIST = 1 << 0;
export const CT_CREATE = 1 << 1;
export const CT_UPDATE = 1 << 2;
export const CT_DELETE = 1 << 3;
export const CT_GET = 1 << 4;
export const CT_FLUSH = 1 << 5;
export const CT_EVENT = 1 << 6;
export const CT_VERSION = 1 << 7;
export const CT_HELP = 1 << 8;
export const EXP_LIST = 1 << 9;
export const EXP_CREATE = 1 << 10;
export const EXP_DELETE = 1 << 11;
export const EXP_GET = 1 << 12;
export const EXP_FLUSH = 1 << 13;
export const EXP_EVENT = 1 << 14;
export const CT_COUNT = 1 << 15;
export const EXP_COUNT = 1 << 16;
export const CT_STATS = 1 << 17;
export const EXP_STATS = 1 << 18;
export const CT_ADD = 1 << 19;

// Option bits (enum ct_options).
export const CT_OPT_ORIG_SRC = 1 << 0;
export const CT_OPT_ORIG_DST = 1 << 1;
export const CT_OPT_ORIG = CT_OPT_ORIG_SRC | CT_OPT_ORIG_DST;
export const CT_OPT_REPL_SRC = 1 << 2;
export const CT_OPT_REPL_DST = 1 << 3;
export const CT_OPT_REPL = CT_OPT_REPL_SRC | CT_OPT_REPL_DST;
export const CT_OPT_PROTO = 1 << 4;
export const CT_OPT_TUPLE_ORIG = CT_OPT_ORIG | CT_OPT_PROTO;
export const CT_OPT_TUPLE_REPL = CT_OPT_REPL | CT_OPT_PROTO;
export const CT_OPT_TIMEOUT = 1 << 5;
export const CT_OPT_STATUS = 1 << 6;
export const CT_OPT_ZERO = 1 << 7;
export const CT_OPT_EVENT_MASK = 1 << 8;
export const CT_OPT_EXP_SRC = 1 << 9;
export const CT_OPT_EXP_DST = 1 << 10;
export const CT_OPT_MASK_SRC = 1 << 11;
export const CT_OPT_MASK_DST = 1 << 12;
export const CT_OPT_NATRANGE = 1 << 13;
export const CT_OPT_MARK = 1 << 14;
export const CT_OPT_ID = 1 << 15;
export const CT_OPT_FAMILY = 1 << 16;
export const CT_OPT_SRC_NAT = 1 << 17;
export const CT_OPT_DST_NAT = 1 << 18;
export const CT_OPT_OUTPUT = 1 << 19;
export const CT_OPT_SECMARK = 1 << 20;
export const CT_OPT_BUFFERSIZE = 1 << 21;
export const CT_OPT_ANY_NAT = 1 << 22;
export const CT_OPT_ZONE = 1 << 23;
export const CT_OPT_LABEL = 1 << 24;
export const CT_OPT_ADD_LABEL = 1 << 25;
export const CT_OPT_DEL_LABEL = 1 << 26;
export const CT_OPT_ORIG_ZONE = 1 << 27;
export const CT_OPT_REPL_ZONE = 1 << 28;

/** Options that make -L/-D/-E/-U compare entries against the template. */
export const CT_COMPARISON = CT_OPT_PROTO | CT_OPT_ORIG | CT_OPT_REPL | CT_OPT_MARK | CT_OPT_SECMARK |
  CT_OPT_STATUS | CT_OPT_ID | CT_OPT_ZONE | CT_OPT_LABEL | CT_OPT_ORIG_ZONE | CT_OPT_REPL_ZONE;

// Output flags (-o). O_JSON is ctkit's addition.
export const O_XML = 1 << 0;
export const O_EXT = 1 << 1;
export const O_TMS = 1 << 2;
export const O_ID = 1 << 3;
export const O_KTMS = 1 << 4;
export const O_CL = 1 << 5;
export const O_SAVE = 1 << 6;
export const O_JSON = 1 << 7;

export const enum Table {
  Conntrack = 0,
  Expect = 1,
  Dying = 2,
  Unconfirmed = 3,
}

export interface U32Mask {
  value: number;
  mask: number;
}

export interface CtTemplate {
  /** Template conntrack: tuples, status, timeout, zone, NAT… as given on the command line. */
  ct: Conntrack;
  /** Expectation template (-I expect: flags, helper…). */
  exp: Expect;
  /** --tuple-src/--tuple-dst (+ ports) of an expectation, and its mask. */
  exptuple: Conntrack;
  mask: Conntrack;
  /** -m value/mask. */
  mark: U32Mask;
  /** Kernel-side dump filters (mark and status), as conntrack sets them. */
  filterMarkKernel: U32Mask | undefined;
  filterStatusKernel: U32Mask | undefined;
  /** -l: labels that must all be set (bitmap, bit n = label n). */
  label: Uint8Array | undefined;
  /** --label-add / --label-del names as a bitmap; unset for a --label-del without names (delete all). */
  labelModify: Uint8Array | undefined;
}

export interface CtCommand {
  /** Exactly one command bit (CT_LIST …), or CT_NONE. */
  command: number;
  /** Table word given to the command. */
  type: Table;
  /** -e mask of NFCT_T_* bits: 1 NEW, 2 UPDATE, 4 DESTROY. */
  eventMask: number;
  /** CT_OPT_* bits of every option given. */
  options: number;
  /** AF_UNSPEC (0), AF_INET (2) or AF_INET6 (10). */
  family: number;
  /** -p protocol number (0 when not given). */
  protonum: number;
  /** -b value. */
  socketBufferSize: number;
  /** -o flags (O_*). */
  output: number;
  tmpl: CtTemplate;
}

export function newCommand(): CtCommand {
  return {
    command: CT_NONE,
    type: Table.Conntrack,
    eventMask: 0,
    options: 0,
    family: 0,
    protonum: 0,
    socketBufferSize: 0,
    output: 0,
    tmpl: {
      ct: new Conntrack(),
      exp: new Expect(),
      exptuple: new Conntrack(),
      mask: new Conntrack(),
      mark: { value: 0, mask: 0 },
      filterMarkKernel: undefined,
      filterStatusKernel: undefined,
      label: undefined,
      labelModify: undefined,
    },
  };
}
