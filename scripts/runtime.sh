# SPDX-License-Identifier: GPL-2.0-or-later
# How ctkit's entry runs on its Deno: one definition for the launcher
# (scripts/ctkit sources this file) and the packaged file (scripts/package
# copies it into dist/ctkit's header). POSIX sh: /bin/sh is dash on Debian,
# which starts in a fraction of bash's time. Nothing here forks.

# ctkit_tool [ARG…]: sets _ctkit_tool to the tool the command line runs
# (conntrack, conntrackd or nfct, by the name run under or the first
# argument), or to cli (`ctkit --version` and the like).
ctkit_tool() {
  case ${0##*/} in
  conntrack | conntrackd | nfct) _ctkit_tool=${0##*/} ;;
  *)
    case ${1-} in
    conntrack | conntrackd | nfct) _ctkit_tool=$1 ;;
    *) _ctkit_tool=cli ;;
    esac
    ;;
  esac
}

# ctkit_daemon [ARG…]: whether the command line starts conntrackd's daemon
# (after the tool, only -C FILE and -d, or nothing).
ctkit_daemon() {
  [ "$_ctkit_tool" = conntrackd ] || return 1
  [ "${0##*/}" = conntrackd ] || shift
  while [ $# -gt 0 ]; do
    case $1 in
    -C) [ $# -ge 2 ] || return 1; shift ;;
    -d) ;;
    *) return 1 ;;
    esac
    shift
  done
}

# ctkit_run DENO APP [ARG…]: replaces the shell with the runtime running the
# bundle in APP (scripts/bundle): the tool's own file when the command line
# names one (one file loads faster than chunks), cli.js otherwise. APP may
# also be an entry file (the launcher's CTKIT_FROM_SOURCE=1 passes cli.ts).
ctkit_run() {
  _ctkit_deno=$1
  _ctkit_entry=$2
  shift 2
  ctkit_tool "$@"
  [ -d "$_ctkit_entry" ] && _ctkit_entry=$_ctkit_entry/$_ctkit_tool.js
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
