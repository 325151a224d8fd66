// ctkit's own version (the tools it replaces report conntrack-tools' 1.4.7).
// The commit comes from build.json, which scripts/bundle writes beside the
// bundled cli.js; from a checkout it is asked of git.
export const CTKIT_VERSION = "1.0.0";

export interface BuildInfo {
  version: string;
  commit: string;
}

/** `ctkit --version`: version, commit and the runtime underneath. */
export function versionText(build: BuildInfo): string {
  return `ctkit ${build.version} (commit ${build.commit})\n` +
    `Deno ${Deno.version.deno}, V8 ${Deno.version.v8}; drop-in for conntrack-tools 1.4.7\n`;
}

/** What the running code was built from: build.json beside the entry, else git. */
export function buildInfo(entryUrl: string): BuildInfo {
  try {
    const info = JSON.parse(Deno.readTextFileSync(new URL("./build.json", entryUrl))) as BuildInfo;
    if (typeof info.version === "string" && typeof info.commit === "string") return info;
  } catch { /* running from a checkout */ }
  return { version: CTKIT_VERSION, commit: gitCommit(new URL(".", entryUrl).pathname) };
}

function gitCommit(dir: string): string {
  try {
    const out = new Deno.Command("git", {
      args: ["-C", dir, "describe", "--always", "--dirty", "--abbrev=12", "--exclude=*"],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    const s = new TextDecoder().decode(out.stdout).trim();
    return out.success && s ? s : "unknown";
  } catch {
    return "unknown";
  }
}
