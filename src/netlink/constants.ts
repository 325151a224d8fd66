// Netlink and nfnetlink numbers (linux/netlink.h, linux/netfilter/nfnetlink*.h).

export const NETLINK_NETFILTER = 12;
export const SOL_SOCKET = 1;
export const SOL_NETLINK = 270;
export const SO_RCVBUF = 8;
export const SO_RCVBUFFORCE = 33;
export const NETLINK_BROADCAST_ERROR = 4;
export const NETLINK_NO_ENOBUFS = 5;
export const NETLINK_EXT_ACK = 11;
export const NETLINK_GET_STRICT_CHK = 12;

export const NLM_F_REQUEST = 0x01;
export const NLM_F_MULTI = 0x02;
export const NLM_F_ACK = 0x04;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP = 0x300;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

export const NFNETLINK_V0 = 0;
export const NFNL_SUBSYS_CTNETLINK = 1;
export const NFNL_SUBSYS_CTNETLINK_EXP = 2;
export const NFNL_SUBSYS_CTNETLINK_TIMEOUT = 8;
export const NFNL_SUBSYS_CTHELPER = 9;

/** Multicast group bits for bind(): NFNLGRP_CONNTRACK_NEW=1 … EXP_DESTROY=6. */
export const NF_NETLINK_CONNTRACK_NEW = 0x1;
export const NF_NETLINK_CONNTRACK_UPDATE = 0x2;
export const NF_NETLINK_CONNTRACK_DESTROY = 0x4;
export const NF_NETLINK_CONNTRACK_EXP_NEW = 0x8;
export const NF_NETLINK_CONNTRACK_EXP_UPDATE = 0x10;
export const NF_NETLINK_CONNTRACK_EXP_DESTROY = 0x20;

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;

// errno values used by callers
export const EPERM = 1;
export const ENOENT = 2;
export const EINTR = 4;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EBUSY = 16;
export const EEXIST = 17;
export const EINVAL = 22;
export const ENOSPC = 28;
export const EOPNOTSUPP = 95;
export const EAFNOSUPPORT = 97;
export const ENOBUFS = 105;
export const ETIME = 62;
export const ENOTSUPP = 524;
