// conntrackd.conf support: parse, load and print the effective configuration.

export { ConfigError } from "./error.ts";
export { parseConfig } from "./parser.ts";
export { loadConfig } from "./load.ts";
export { formatConfig } from "./format.ts";
export { DEFAULTS } from "./defaults.ts";
export { runCheck } from "./check.ts";
export type * from "./types.ts";
