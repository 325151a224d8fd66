# SPDX-License-Identifier: GPL-2.0-or-later
# How ctkit's entry runs on its Deno: one definition for the launcher
# (scripts/ctkit sources this file) and the packaged file (scripts/package
# copies it into dist/ctkit's header). POSIX sh: /bin/sh is dash on Debian,
# which starts in a fraction of bash's time.

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
  exec "$_ctkit_deno" run --allow-all --no-check --no-prompt --quiet --no-config --no-lock --no-remote \
    --no-npm --cached-only --v8-flags=--max-semi-space-size=2,--min-semi-space-size=2 \
    "$_ctkit_entry" "$@"
}
