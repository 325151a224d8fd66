// The built-in helpers by name and layer-4 protocol (the reference's
// ct_helper_NAME.so set, see config/helpers_known.ts for the parser's copy).
import { amandaHelper } from "./amanda.ts";
import type { CtHelper } from "./context.ts";
import { dhcpv6Helper } from "./dhcpv6.ts";
import { ftpHelper } from "./ftp.ts";
import { mdnsHelper } from "./mdns.ts";
import { rpcTcpHelper, rpcUdpHelper } from "./rpc.ts";
import { saneHelper } from "./sane.ts";
import { slpHelper } from "./slp.ts";
import { ssdpTcpHelper, ssdpUdpHelper } from "./ssdp.ts";
import { tftpHelper } from "./tftp.ts";
import { tnsHelper } from "./tns.ts";

export const HELPERS: readonly CtHelper[] = [
  amandaHelper,
  dhcpv6Helper,
  ftpHelper,
  mdnsHelper,
  rpcTcpHelper,
  rpcUdpHelper,
  saneHelper,
  slpHelper,
  ssdpUdpHelper,
  ssdpTcpHelper,
  tftpHelper,
  tnsHelper,
];

export function findCtHelper(name: string, proto: "tcp" | "udp" | number): CtHelper | undefined {
  const p = proto === "tcp" ? 6 : proto === "udp" ? 17 : proto;
  return HELPERS.find((h) => h.name === name && h.proto === p);
}
