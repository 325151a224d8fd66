// TEMPORARY: a minimal reader that pulls `UNIX { Path … }` out of a conntrackd
// config so the client works before the real config parser exists.
// To be replaced by src/conntrackd/config's `loadConfig` once that lands (the
// integrator swaps the `loadUnixPath` hook passed to runClient); it checks no
// grammar at all, so syntax errors the reference reports go unnoticed here.
import type { OutputChunk } from "./args.ts";
import { logLine } from "./usage.ts";

/** sun_path is 108 bytes; the reference rejects longer paths while parsing. */
const UNIX_PATH_MAX = 108;

export interface UnixPathResult {
  /** The socket path ("" when the config has none: connecting then fails like the reference). */
  path: string;
  /** Lines the reference's parser would print on the way (e.g. the Backlog deprecation warning). */
  output: OutputChunk[];
  /** Set when the reference's parser exits (path too long). */
  exitStatus?: number;
}

/** Reads the config file; null when it cannot be opened (the caller reports that). */
export function readUnixPathTemporary(configPath: string): UnixPathResult | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(configPath);
  } catch {
    return null;
  }
  const tokens = text.replace(/#[^\n]*/g, "").match(/[{}]|[^\s{}]+/g) ?? [];
  const result: UnixPathResult = { path: "", output: [] };
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] !== "UNIX" || tokens[i + 1] !== "{") continue;
    for (i += 2; i < tokens.length && tokens[i] !== "}"; i++) {
      if (tokens[i] === "Path" && tokens[i + 1]?.startsWith("/")) {
        const path = tokens[++i];
        if (new TextEncoder().encode(path).length >= UNIX_PATH_MAX) {
          result.output.push({
            stream: "stderr",
            text: logLine("ERROR", `Path is longer than ${UNIX_PATH_MAX - 1} characters`),
          });
          result.exitStatus = 1;
          return result;
        }
        result.path = path;
      } else if (tokens[i] === "Backlog" && /^[0-9]+$/.test(tokens[i + 1] ?? "")) {
        i++;
        result.output.push({
          stream: "stderr",
          text: logLine("warning", "deprecated unix backlog configuration, ignoring."),
        });
      }
    }
  }
  return result;
}
