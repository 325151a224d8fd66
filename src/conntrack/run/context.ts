// State shared by the command implementations of one conntrack invocation.
import { stderr, stdout } from "../../common/output.ts";
import { MessageBuilder } from "../../netlink/builder.ts";
import { NFNL_SUBSYS_CTNETLINK, NLM_F_REQUEST } from "../../netlink/constants.ts";
import { NetlinkSocket } from "../../netlink/socket.ts";
import type { CtCommand } from "../command.ts";
import { O_EXT, O_ID, O_JSON, O_KTMS, O_SAVE, O_TMS, O_XML } from "../command.ts";
import type { LabelMap } from "../labels.ts";
import type { Conntrack } from "../model.ts";
import { formatConntrack, XML_FOOTER_CT, XML_HEADER_CT } from "../format/text.ts";
import { formatSave } from "../format/save.ts";
import { formatConntrackJson } from "../format/json.ts";
import { BUF_LIST, BUF_SMALL, type MsgType } from "../format/common.ts";

export class RunContext {
  /** Entries shown/changed, for the summary line (the C `counter`). */
  counter = 0;
  /** True once the XML header went out (printed before the first object only). */
  xmlStarted = false;
  private modifier: NetlinkSocket | undefined;

  constructor(
    readonly cmd: CtCommand,
    readonly sock: NetlinkSocket,
    readonly labelMap: LabelMap | null,
  ) {}

  /** The second socket that deletes/updates while the first one dumps. */
  modifierSocket(): NetlinkSocket {
    if (!this.modifier) {
      this.modifier = NetlinkSocket.open();
      // Room for a whole batch of acks and read-backs (the default ~200 KiB is not).
      this.modifier.setReceiveBuffer(4 << 20);
    }
    return this.modifier;
  }

  close(): void {
    this.modifier?.close();
  }

  /** A ctnetlink request header for this command's family. */
  request(
    msg: number,
    flags: number,
    family = this.cmd.family,
    subsys = NFNL_SUBSYS_CTNETLINK,
  ): MessageBuilder {
    const b = new MessageBuilder(1024);
    b.begin((subsys << 8) | msg, NLM_F_REQUEST | flags, this.sock.nextSeq(), family);
    return b;
  }

  startXml(header = XML_HEADER_CT): void {
    if (!this.xmlStarted) {
      this.xmlStarted = true;
      stdout.write(header);
    }
  }

  endXml(footer = XML_FOOTER_CT): void {
    if (this.xmlStarted) stdout.write(footer);
  }

  /** One conntrack line as the reference prints it from the callback `style` stands for. */
  format(ct: Conntrack, msgType: MsgType, saveType: MsgType, style: PrintStyle): string {
    const out = this.cmd.output;
    if (out & O_SAVE) {
      const line = formatSave(ct, saveType, false);
      if (line === null) {
        stderr.write(`WARNING: unsupported l3proto ${ct.orig.l3}, skipping.\n`);
        return "";
      }
      return line;
    }
    if (out & O_JSON) return formatConntrackJson(ct, msgType, this.labelMap);
    if ((out & O_XML) && style.xmlHeader) this.startXml();
    return formatConntrack(
      ct,
      msgType,
      out & style.flags,
      style.labels ? this.labelMap : null,
      style.bufSize,
    );
  }
}

/**
 * How each of conntrack's print callbacks treats the -o flags: which it
 * honours, whether it prints labels and the XML header, and its buffer size.
 */
export interface PrintStyle {
  flags: number;
  labels: boolean;
  xmlHeader: boolean;
  bufSize: number;
}
/** -L and -G (mnl_nfct_dump_cb). */
export const DUMP_STYLE: PrintStyle = {
  flags: O_XML | O_EXT | O_KTMS | O_ID,
  labels: true,
  xmlHeader: true,
  bufSize: BUF_LIST,
};
/** -D (mnl_nfct_delete_cb). */
export const DELETE_STYLE: PrintStyle = {
  flags: O_XML | O_EXT | O_ID,
  labels: false,
  xmlHeader: false,
  bufSize: BUF_SMALL,
};
/** The read-back after -U (mnl_nfct_print_cb). */
export const UPDATE_STYLE: PrintStyle = {
  flags: O_XML | O_EXT | O_ID,
  labels: true,
  xmlHeader: false,
  bufSize: BUF_SMALL,
};
/** -E (event_cb). */
export const EVENT_STYLE: PrintStyle = {
  flags: O_XML | O_EXT | O_TMS | O_KTMS | O_ID,
  labels: true,
  xmlHeader: true,
  bufSize: BUF_SMALL,
};
