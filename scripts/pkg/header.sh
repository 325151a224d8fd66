#!/bin/sh
# ctkit @VERSION@ (commit @COMMIT@): netfilter's conntrack-tools (conntrack, conntrackd,
# nfct) rebuilt in TypeScript, packaged as one file. Copy it anywhere, link it as
# conntrack, conntrackd and nfct; `ctkit --help` tells more.
#
# GPL-2.0-or-later. The file carries the Deno runtime (MIT), the netfilter C
# libraries (GPL-2.0-or-later, libmnl LGPL-2.1-or-later) and libsodium (ISC) taken from Debian's
# packages; their licences are in LICENSES/ of the unpacked runtime.
#
# What follows this shell preamble is a gzip'ed tar archive: the runtime, the
# bundled program and the libraries. The first run unpacks it once per build
# into a cache directory (/var/cache/ctkit for root), verified, in a private
# temporary directory renamed into place, so concurrent first runs, a full or
# noexec file system and an upgrade while an older build runs are all safe; later
# runs only test for the unpacked copy and exec it.
CTKIT_ID=@ID@
CTKIT_SKIP=@SKIP@
CTKIT_SHA256=@SHA256@

@RUNTIME@

# ctkit_start DIR [ARG…]: runs the unpacked build in DIR.
ctkit_start() {
  _ctkit_dir=$1
  shift
  export DENO_DIR="$_ctkit_dir/deno_dir" CTKIT_LIBDIR="$_ctkit_dir/lib"
  ctkit_run "$_ctkit_dir/deno" "$_ctkit_dir/app" "$@"
}

# ctkit_prune: removes unpacked builds other than this one that no process runs.
ctkit_prune() {
  _u=${XDG_CACHE_HOME:-${HOME:+$HOME/.cache}}
  for _b in "${CTKIT_CACHE:-}" /var/cache/ctkit "${_u:+$_u/ctkit}" "${TMPDIR:-/tmp}/ctkit-$(id -u)"; do
    [ -n "$_b" ] && [ -d "$_b" ] && [ -w "$_b" ] || continue
    for _d in "$_b"/*/; do
      _d=${_d%/}
      [ -d "$_d" ] && [ "${_d##*/}" != "$CTKIT_ID" ] || continue
      # In use: some process runs its runtime (a daemon may still load chunks from it).
      _used=
      for _e in /proc/[0-9]*/exe; do
        [ "$(readlink "$_e" 2>/dev/null)" = "$_d/deno" ] && _used=1 && break
      done
      if [ -n "$_used" ]; then
        echo "ctkit: kept $_d (in use)"
      else
        rm -rf "$_d" && echo "ctkit: removed $_d"
      fi
    done
    rm -rf "$_b"/.unpack-* 2>/dev/null
  done
  exit 0
}
[ "${1-}" = --prune-cache ] && ctkit_prune

# Where unpacked builds live, most preferred first. Root's and a user's own
# cache directories are checked without forking anything.
_ctkit_user=${XDG_CACHE_HOME:-${HOME:+$HOME/.cache}}
_ctkit_user=${_ctkit_user:+$_ctkit_user/ctkit}
for _ctkit_base in "${CTKIT_CACHE:-}" /var/cache/ctkit "$_ctkit_user"; do
  [ -n "$_ctkit_base" ] && [ -f "$_ctkit_base/$CTKIT_ID/.complete" ] && ctkit_start "$_ctkit_base/$CTKIT_ID" "$@"
done

ctkit_fail() {
  echo "ctkit: $*" >&2
  exit 1
}

# The last resort is a private directory under TMPDIR (or /tmp), which only
# counts when this user owns it.
_ctkit_uid=$(id -u 2>/dev/null) || _ctkit_uid=unknown
_ctkit_tmpbase=${TMPDIR:-/tmp}/ctkit-$_ctkit_uid
if [ -f "$_ctkit_tmpbase/$CTKIT_ID/.complete" ] && [ -O "$_ctkit_tmpbase" ]; then
  ctkit_start "$_ctkit_tmpbase/$CTKIT_ID" "$@"
fi

# ctkit_payload: the archive part of this file on stdout.
ctkit_payload() {
  tail -c +$((CTKIT_SKIP + 1)) "$0"
}


[ "$(uname -s 2>/dev/null)" = Linux ] && [ "$(uname -m 2>/dev/null)" = x86_64 ] ||
  ctkit_fail "this file runs on x86_64 Linux; this machine is $(uname -sm 2>/dev/null)"
[ -r "$0" ] || ctkit_fail "cannot read its own file $0 to unpack the runtime"
for _t in tail gzip tar mktemp; do
  command -v "$_t" >/dev/null 2>&1 || ctkit_fail "needs '$_t' to unpack its runtime the first time"
done
# A damaged copy (an interrupted transfer) is refused before anything is unpacked.
if command -v sha256sum >/dev/null 2>&1; then
  _sum=$(ctkit_payload | sha256sum)
  [ "${_sum%% *}" = "$CTKIT_SHA256" ] || ctkit_fail "$0 is damaged (checksum mismatch): copy it again"
fi

# ctkit_unpack BASE: unpacks into BASE/$CTKIT_ID; on failure sets _why.
ctkit_unpack() {
  _base=$1
  _why=
  mkdir -p "$_base" 2>/dev/null || { _why="cannot create it"; return 1; }
  [ -w "$_base" ] || { _why="not writable"; return 1; }
  _tmp=$(mktemp -d "$_base/.unpack-$CTKIT_ID.XXXXXX" 2>/dev/null) || { _why="cannot create a directory in it"; return 1; }
  if ! ctkit_payload | gzip -dc 2>/dev/null | tar -xf - -C "$_tmp" 2>/dev/null; then
    rm -rf "$_tmp"
    _why="unpacking failed (full?)"
    return 1
  fi
  # Proves the runtime can run from there (not a noexec mount, a usable C library).
  if ! _err=$("$_tmp/deno" --version 2>&1 >/dev/null); then
    rm -rf "$_tmp"
    case $_err in
    *GLIBC*) ctkit_fail "the bundled runtime needs glibc 2.27 or later: $_err" ;;
    esac
    _why="cannot execute programs there (noexec?)"
    return 1
  fi
  : >"$_tmp/.complete"
  # A directory left by hand without the marker is not ours: set it aside.
  if [ -e "$_base/$CTKIT_ID" ] && [ ! -f "$_base/$CTKIT_ID/.complete" ]; then
    mv "$_base/$CTKIT_ID" "$_tmp.stale" 2>/dev/null && rm -rf "$_tmp.stale"
  fi
  # One rename makes it visible; a concurrent first run that got there first wins.
  mv -T "$_tmp" "$_base/$CTKIT_ID" 2>/dev/null || rm -rf "$_tmp"
  [ -f "$_base/$CTKIT_ID/.complete" ] || { _why="could not move it into place"; return 1; }
}

_ctkit_umask=$(umask)
_ctkit_tried=
for _ctkit_base in "${CTKIT_CACHE:-}" /var/cache/ctkit "$_ctkit_user" "$_ctkit_tmpbase"; do
  [ -n "$_ctkit_base" ] || continue
  if [ "$_ctkit_base" = "$_ctkit_tmpbase" ]; then
    # Private, and only if this user owns it (not one planted by someone else).
    (umask 077 && mkdir -p "$_ctkit_tmpbase") 2>/dev/null
    if [ ! -O "$_ctkit_tmpbase" ]; then
      _ctkit_tried="$_ctkit_tried
  $_ctkit_base: not owned by this user"
      continue
    fi
  fi
  # Unpacked files get the usual modes whatever the caller's umask, which the
  # program then gets back.
  umask 022
  ctkit_unpack "$_ctkit_base"
  _ctkit_ok=$?
  umask "$_ctkit_umask"
  [ $_ctkit_ok -eq 0 ] && ctkit_start "$_ctkit_base/$CTKIT_ID" "$@"
  _ctkit_tried="$_ctkit_tried
  $_ctkit_base: $_why"
done
ctkit_fail "cannot unpack its runtime (set CTKIT_CACHE to a writable directory that allows execution):$_ctkit_tried"
exit 1
