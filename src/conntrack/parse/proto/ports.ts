// Port options shared by tcp, udp, udplite, sctp and dccp (and GRE keys, which
// travel in the same tuple slots).
import type { CtTemplate } from "../../command.ts";
import type { Tuple } from "../../model.ts";

export const enum PortSlot {
  OrigSrc,
  OrigDst,
  ReplySrc,
  ReplyDst,
  MaskSrc,
  MaskDst,
  TupleSrc,
  TupleDst,
}

/**
 * Stores a 16-bit port in its slot and sets that tuple's L4 protocol to `proto`
 * (expectation tuple slots use `tupleProto`, which some protocols get wrong).
 */
export function setPort(
  tmpl: CtTemplate,
  slot: PortSlot,
  port: number,
  proto: number,
  tupleProto = proto,
): void {
  const put = (t: Tuple, src: boolean, p: number) => {
    if (src) t.sport = port;
    else t.dport = port;
    t.proto = p;
  };
  switch (slot) {
    case PortSlot.OrigSrc:
    case PortSlot.OrigDst:
      return put(tmpl.ct.orig, slot === PortSlot.OrigSrc, proto);
    case PortSlot.ReplySrc:
    case PortSlot.ReplyDst:
      return put(tmpl.ct.reply, slot === PortSlot.ReplySrc, proto);
    case PortSlot.MaskSrc:
    case PortSlot.MaskDst:
      return put(tmpl.mask.orig, slot === PortSlot.MaskSrc, proto);
    case PortSlot.TupleSrc:
    case PortSlot.TupleDst:
      return put(tmpl.exptuple.orig, slot === PortSlot.TupleSrc, tupleProto);
  }
}

/**
 * tcp, sctp and dccp store the expectation tuple's protocol from the port in
 * network order truncated to 8 bits: the port's high byte on little-endian hosts.
 */
export function portHighByte(port: number): number {
  return (port >> 8) & 0xff;
}

export const PORT_HELP = "  --orig-port-src\t\toriginal source port\n" +
  "  --orig-port-dst\t\toriginal destination port\n" +
  "  --reply-port-src\t\treply source port\n" +
  "  --reply-port-dst\t\treply destination port\n" +
  "  --mask-port-src\t\tmask source port\n" +
  "  --mask-port-dst\t\tmask destination port\n" +
  "  --tuple-port-src\t\texpectation tuple src port\n" +
  "  --tuple-port-src\t\texpectation tuple dst port\n";

export const PORT_PAIR_MESSAGES = {
  orig: "`--sport' and `--dport'",
  reply: "`--reply-src-port' and `--reply-dst-port'",
};
