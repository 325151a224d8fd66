// err2str(): conntrack's wording for netlink errors, by command.
import { strerror } from "../../../ffi/libc.ts";
import { CT_ADD, CT_CREATE, CT_DELETE, CT_GET, CT_LIST, EXP_CREATE } from "../command.ts";
import {
  EAFNOSUPPORT,
  EEXIST,
  EINVAL,
  ENOENT,
  ENOMEM,
  ENOTSUPP,
  EPERM,
  ETIME,
} from "../../netlink/constants.ts";

const TABLE: Array<[number, number, string]> = [
  [CT_LIST, ENOTSUPP, "function not implemented"],
  [0xffff, EINVAL, "invalid parameters"],
  [CT_CREATE, EEXIST, "Such conntrack exists, try -U to update"],
  [CT_CREATE | CT_GET | CT_DELETE | CT_ADD, ENOENT, "such conntrack doesn't exist"],
  [CT_CREATE | CT_GET | CT_ADD, ENOMEM, "not enough memory"],
  [CT_GET, EAFNOSUPPORT, "protocol not supported"],
  [CT_CREATE | CT_ADD, ETIME, "conntrack has expired"],
  [EXP_CREATE, ENOENT, "master conntrack not found"],
  [EXP_CREATE, EINVAL, "invalid parameters"],
  [0xffffffff, EPERM, "sorry, you must be root or get CAP_NET_ADMIN capability to do this"],
];

export function err2str(err: number, command: number): string {
  for (const [act, e, msg] of TABLE) {
    if ((act & command) !== 0 && e === err) return msg;
  }
  return strerror(err);
}
