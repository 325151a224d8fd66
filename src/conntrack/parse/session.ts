// State that conntrack keeps in globals across do_parse() calls (all lines of
// a -R file share it): warnings, the label map, the -o mask and the last -p
// handler, which still runs its final check on later lines without -p.
import { CONNLABEL_CONF, LabelMap, loadLabelMap } from "../labels.ts";
import type { ProtoHandler } from "./proto/handler.ts";

export interface ParseOptions {
  /** connlabel.conf to load (tests point it elsewhere). */
  labelMapPath?: string;
  /** Honour POSIXLY_CORRECT (getopt stops at the first operand); read from the environment if omitted. */
  posixlyCorrect?: boolean;
}

export class ParseSession {
  readonly warnings: string[] = [];
  labelMap: LabelMap | undefined = undefined;
  outputMask = 0;
  handler: ProtoHandler | undefined = undefined;
  readonly labelMapPath: string;
  readonly posixlyCorrect: boolean;

  constructor(opts: ParseOptions = {}) {
    this.labelMapPath = opts.labelMapPath ?? CONNLABEL_CONF;
    this.posixlyCorrect = opts.posixlyCorrect ?? envPosixlyCorrect();
  }

  /** labelmap_init(): loads once; each failed attempt prints the perror line again. */
  initLabelMap(): void {
    if (this.labelMap) return;
    const { map, error } = loadLabelMap(this.labelMapPath);
    if (map) this.labelMap = map;
    else if (error) this.warnings.push(error);
  }
}

function envPosixlyCorrect(): boolean {
  try {
    return Deno.env.get("POSIXLY_CORRECT") !== undefined;
  } catch {
    return false;
  }
}
