// The conntrackd entry of the bundle (scripts/bundle): conntrackd alone, for the launchers.
import { main } from "../conntrackd/main.ts";
import { runCli } from "./run.ts";

runCli({ conntrackd: () => main }, import.meta.url);
