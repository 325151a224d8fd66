// Comma-separated keyword lists (-u, -e, -o): each item is a case-insensitive
// prefix of a keyword; prefixes of SRC_NAT/DST_NAT are ignored with a warning.
import * as C from "../command.ts";
import { PARAMETER_PROBLEM } from "../errors.ts";
import {
  IPS_ASSURED,
  IPS_EXPECTED,
  IPS_FIXED_TIMEOUT,
  IPS_HW_OFFLOAD,
  IPS_OFFLOAD,
  IPS_SEEN_REPLY,
} from "../model.ts";
import { asciiLower } from "./bytes.ts";
import { fail } from "./fail.ts";

export interface KeywordList {
  readonly words: readonly string[];
  readonly values: readonly number[];
}

export const STATUS_KEYWORDS: KeywordList = {
  words: ["ASSURED", "SEEN_REPLY", "UNSET", "FIXED_TIMEOUT", "EXPECTED", "OFFLOAD", "HW_OFFLOAD"],
  values: [IPS_ASSURED, IPS_SEEN_REPLY, 0, IPS_FIXED_TIMEOUT, IPS_EXPECTED, IPS_OFFLOAD, IPS_HW_OFFLOAD],
};

export const EVENT_NEW = 1, EVENT_UPDATE = 2, EVENT_DESTROY = 4;
export const EVENT_KEYWORDS: KeywordList = {
  words: ["ALL", "NEW", "UPDATES", "DESTROY"],
  values: [EVENT_NEW | EVENT_UPDATE | EVENT_DESTROY, EVENT_NEW, EVENT_UPDATE, EVENT_DESTROY],
};

/** -o keywords; "json" is ctkit's addition (listed last so no 1.4.7 prefix changes). */
export const OUTPUT_KEYWORDS: KeywordList = {
  words: ["xml", "extended", "timestamp", "id", "ktimestamp", "labels", "userspace", "save", "json"],
  values: [C.O_XML, C.O_EXT, C.O_TMS, C.O_ID, C.O_KTMS, C.O_CL, 0, C.O_SAVE, C.O_JSON],
};

/** strncasecmp(item, word, item.length) == 0. */
function isPrefix(item: string, word: string): boolean {
  return item.length <= word.length && asciiLower(word.slice(0, item.length)) === asciiLower(item);
}

/**
 * One item: its bits, or undefined when it names nothing. NAT pseudo-keywords
 * yield 0 and a warning.
 */
function keywordValue(item: string, list: KeywordList, warnings: string[]): number | undefined {
  if (isPrefix(item, "SRC_NAT")) {
    warnings.push("WARNING: ignoring SRC_NAT, use --src-nat instead");
    return 0;
  }
  if (isPrefix(item, "DST_NAT")) {
    warnings.push("WARNING: ignoring DST_NAT, use --dst-nat instead");
    return 0;
  }
  const i = list.words.findIndex((w) => isPrefix(item, w));
  return i < 0 ? undefined : list.values[i];
}

/** The error names the rest of the list from the failing item on. */
function badParameter(rest: string): never {
  fail(PARAMETER_PROBLEM, `Bad parameter \`${rest}'`);
}

/** parse_parameter(): ORs the items of `arg` into the returned bits. */
export function parseKeywords(arg: string, list: KeywordList, bits: number, warnings: string[]): number {
  let rest = arg;
  for (;;) {
    const comma = rest.indexOf(",");
    const item = comma < 0 ? rest : rest.slice(0, comma);
    const v = item === "" ? undefined : keywordValue(item, list, warnings);
    if (v === undefined) badParameter(rest);
    bits |= v;
    if (comma < 0) return bits;
    rest = rest.slice(comma + 1);
  }
}

const UNREPLIED = "UNREPLIED";

/**
 * parse_parameter_mask() for -u: plain items set bits in `value`, "!ITEM" in
 * `mask`; an item starting with UNREPLIED puts SEEN_REPLY in the mask.
 */
export function parseStatusKeywords(
  arg: string,
  state: { value: number; mask: number },
  warnings: string[],
): void {
  let rest = arg;
  for (;;) {
    const comma = rest.indexOf(",");
    if (comma === 0) badParameter(rest);
    const negated = rest[0] === "!";
    if (negated) rest = rest.slice(1);
    const end = comma < 0 ? -1 : comma - (negated ? 1 : 0);
    if (end === 0) badParameter(rest);
    if (!negated && rest.startsWith(UNREPLIED)) {
      state.mask |= IPS_SEEN_REPLY;
    } else {
      const item = end < 0 ? rest : rest.slice(0, end);
      const v = item === "" ? undefined : keywordValue(item, STATUS_KEYWORDS, warnings);
      if (v === undefined) badParameter(rest);
      if (negated) state.mask |= v;
      else state.value |= v;
    }
    if (end < 0) return;
    rest = rest.slice(end + 1);
  }
}
