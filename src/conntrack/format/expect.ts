// Expectation output (nfexp_snprintf, default and XML) as conntrack 1.4.7
// prints `-L expect` and `-E expect`.
import type { Expect } from "../model.ts";
import { O_TMS, O_XML } from "../command.ts";
import {
  addressText,
  addressXml,
  BUF_SMALL,
  clip,
  eventTag,
  extraUtf8,
  type MsgType,
  protoText,
  protoXml,
  xmlFlowOpen,
} from "./common.ts";
import { layer3Open, layer4Open } from "./xml.ts";
import { whenXml } from "./time.ts";

const NF_CT_EXPECT_PERMANENT = 0x1;
const NF_CT_EXPECT_INACTIVE = 0x2;
const NF_CT_EXPECT_USERSPACE = 0x4;

/**
 * One expectation, no trailing newline. `output` is the -o bitmask: O_XML
 * selects XML and O_TMS adds <when> to it (the text prefix is the caller's).
 */
export function formatExpect(exp: Expect, msgType: MsgType, output: number): string {
  const text = output & O_XML
    ? formatExpectXml(exp, msgType, (output & O_TMS) !== 0)
    : formatExpectDefault(exp, msgType);
  return clip(text, BUF_SMALL, exp.helper === undefined ? 0 : extraUtf8(exp.helper));
}

function formatExpectDefault(exp: Expect, msgType: MsgType): string {
  let s = eventTag(msgType);
  if (exp.timeout !== undefined) s += exp.timeout + " ";
  s += "proto=" + (exp.tuple.proto ?? 0) + " " +
    addressText(exp.tuple, "src=", "dst=") + protoText(exp.tuple) +
    addressText(exp.mask, "mask-src=", "mask-dst=") + protoText(exp.mask) +
    addressText(exp.master, "master-src=", "master-dst=") + protoText(exp.master);
  if (exp.zone !== undefined) s += "zone=" + exp.zone + " ";
  const flags = exp.flags ?? 0;
  if (flags) {
    let names = "";
    if (flags & NF_CT_EXPECT_PERMANENT) names = "PERMANENT";
    if (flags & NF_CT_EXPECT_INACTIVE) names += names ? ",INACTIVE" : "INACTIVE";
    if (flags & NF_CT_EXPECT_USERSPACE) names += names ? ",USERSPACE" : "USERSPACE";
    // The separating blank is written for any non-zero flags, named or not.
    s += names + " ";
  }
  if (exp.class !== undefined) s += "class=" + exp.class + " ";
  if (exp.helper !== undefined) s += "helper=" + exp.helper;
  // Only one trailing blank is removed (helper= has none).
  return s.endsWith(" ") ? s.slice(0, -1) : s;
}

function formatExpectXml(exp: Expect, msgType: MsgType, when: boolean): string {
  const t = exp.tuple, m = exp.mask, ms = exp.master;
  let s = xmlFlowOpen(msgType) + layer3Open(t.l3) +
    "<expected>" + addressXml(t) + "</expected><mask>" + addressXml(m) + "</mask><master>" + addressXml(ms) +
    "</master></layer3>" + layer4Open(t.proto) +
    "<expected>" + protoXml(t) + "</expected><mask>" + protoXml(m) + "</mask><master>" + protoXml(ms) +
    "</master></layer4><meta>";
  if (exp.helper !== undefined) s += "<helper-name>" + exp.helper + "</helper-name>";
  if (exp.timeout !== undefined) s += "<timeout>" + exp.timeout + "</timeout>";
  if (exp.class !== undefined) s += "<class>" + exp.class + "</class>";
  if (exp.zone !== undefined) s += "<zone>" + exp.zone + "</zone>";
  if (when) s += whenXml();
  const flags = exp.flags ?? 0;
  if (flags & NF_CT_EXPECT_PERMANENT) s += "<permanent/>";
  if (flags & NF_CT_EXPECT_INACTIVE) s += "<inactive/>";
  if (flags & NF_CT_EXPECT_USERSPACE) s += "<userspace/>";
  return s + "</meta></flow>";
}
