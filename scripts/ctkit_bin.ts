// Which ctkit executable the demo, the benchmarks and the tests run: the one named by the environment
// variable CTKIT_BIN (an absolute path: the launcher, the packaged dist/ctkit, a symlink to either),
// by default the launcher scripts/ctkit. The scripts' `--binary PATH` option sets CTKIT_BIN
// (scripts/ctkit_bin.sh); tests/lib/netns.ts takes its CTKIT from here too.
//
// Whatever it is, it must exec the runtime (the launcher and the packaged file both do), so a process
// started as `CTKIT_BIN conntrackd …` keeps its pid: callers signal that pid.

export const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
/** The launcher, CTKIT_BIN's default. */
export const LAUNCHER = `${ROOT}/scripts/ctkit`;

/** The ctkit executable: CTKIT_BIN if set (checked), else the launcher. Throws on a bad CTKIT_BIN. */
export function ctkitBin(value = Deno.env.get("CTKIT_BIN") ?? ""): string {
  if (value === "") return LAUNCHER;
  if (!value.startsWith("/")) throw new Error(`CTKIT_BIN must be an absolute path: ${value}`);
  // The path goes into command lines run by sh (keepalived's notify, the benchmarks).
  if (/[\s'"\\$`]/.test(value)) throw new Error(`CTKIT_BIN must not contain blanks or quotes: ${value}`);
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(value);
  } catch {
    throw new Error(`CTKIT_BIN: no such file: ${value}`);
  }
  if (!st.isFile || ((st.mode ?? 0) & 0o111) === 0) {
    throw new Error(`CTKIT_BIN: not an executable file: ${value}`);
  }
  return value;
}
