# SPDX-License-Identifier: GPL-2.0-or-later
# How ctkit's entry runs on its Deno: one definition for the launcher
# (scripts/ctkit sources this file) and the packaged file (scripts/package
# copies it into dist/ctkit's header). POSIX sh: /bin/sh is dash on Debian,
# which starts in a fraction of bash's time.

# ctkit_daemon [ARG…]: whether these arguments start conntrackd's daemon
# (only -C FILE and -d, or nothing), by the name run under or `ctkit conntrackd`.
ctkit_daemon() {
  case ${0##*/} in
  conntrackd) ;;
  *)
    [ "${1-}" = conntrackd ] || return 1
    shift
    ;;
  esac
  while [ $# -gt 0 ]; do
    case $1 in
    -C) [ $# -ge 2 ] || return 1; shift ;;
    -d) ;;
    *) return 1 ;;
    esac
    shift
  done
}

# ctkit_run DENO ENTRY [ARG…]: replaces the shell with the runtime running ENTRY.
ctkit_run() {
  _ctkit_deno=$1
  _ctkit_entry=$2
  shift 2
  # argv[0] for messages that print it, as the C tools do: a script only sees the
  # path the kernel resolved, so a name found through PATH is given back bare.
  CTKIT_ARGV0=$0
  case $0 in
  */*) case ":$PATH:" in *":${0%/*}:"*) CTKIT_ARGV0=${0##*/} ;; esac ;;
  esac
  export CTKIT_ARGV0 DENO_NO_UPDATE_CHECK=1
  # A small fixed young generation: the tools stream, so this keeps RSS down at no cost.
  _ctkit_v8=--max-semi-space-size=2,--min-semi-space-size=2
  # A command compiles all of its code at once (--no-lazy), so the V8 code cache
  # Deno keeps holds every function it runs and the next start compiles none:
  # ~5 ms of a ~25 ms `conntrack -C`. The daemon compiles lazily: eager bytecode
  # for all of its code would cost it ~3.5 MB of RSS for good.
  ctkit_daemon "$@" || _ctkit_v8=$_ctkit_v8,--no-lazy
  exec "$_ctkit_deno" run --allow-all --no-check --no-prompt --quiet --no-config --no-lock --no-remote \
    --no-npm --cached-only --v8-flags=$_ctkit_v8 "$_ctkit_entry" "$@"
}
