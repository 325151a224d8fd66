// The conntrack entry of the bundle (scripts/bundle): conntrack alone, for the launchers.
import { main } from "../conntrack/main.ts";
import { runCli } from "./run.ts";

runCli({ conntrack: () => main }, import.meta.url);
