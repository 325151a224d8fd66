# Sourced by the demo and benchmark wrappers: `--binary PATH` (or `--binary=PATH`) chooses the ctkit
# executable they run by setting CTKIT_BIN (see scripts/ctkit_bin.ts); a relative PATH is taken from
# the current directory. Usage:
#   . "$ROOT/scripts/ctkit_bin.sh"; ctkit_binary_option "$@"; set -- "${ARGS[@]}"
ctkit_binary_option() {
  ARGS=()
  while (($#)); do
    case $1 in
      --binary)
        if (($# < 2)); then
          echo "--binary needs the path of a ctkit executable" >&2
          exit 2
        fi
        CTKIT_BIN=$2
        shift 2
        ;;
      --binary=*)
        CTKIT_BIN=${1#--binary=}
        shift
        ;;
      *)
        ARGS+=("$1")
        shift
        ;;
    esac
  done
  if [ -n "${CTKIT_BIN:-}" ]; then
    [[ $CTKIT_BIN == /* ]] || CTKIT_BIN=$PWD/$CTKIT_BIN
    if [ ! -f "$CTKIT_BIN" ] || [ ! -x "$CTKIT_BIN" ]; then
      echo "not an executable file: $CTKIT_BIN" >&2
      exit 2
    fi
    export CTKIT_BIN
  fi
}
