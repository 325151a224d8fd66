// The nfct entry of the bundle (scripts/bundle): nfct alone, for the launchers.
import { main } from "../nfct/main.ts";
import { runCli } from "./run.ts";

runCli({ nfct: () => main }, import.meta.url);
