#!/bin/sh
# Usage: labelmap_wrap.sh MNTDIR CONF CMD...
# Must run in a private mount namespace (unshare -m --propagation private): puts an
# overlay on /etc whose upper layer holds CONF as /etc/xtables/connlabel.conf, then
# execs CMD. The host's /etc is never written; the mounts vanish with the namespace.
set -e
mnt=$1 conf=$2
shift 2
mount -t tmpfs ctkit-labels "$mnt"
mkdir -p "$mnt/u/xtables" "$mnt/w"
cp "$conf" "$mnt/u/xtables/connlabel.conf"
mount -t overlay ctkit-labels -o "lowerdir=/etc,upperdir=$mnt/u,workdir=$mnt/w" /etc
exec "$@"
