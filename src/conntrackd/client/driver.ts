// Test driver: runs clientMain as `conntrackd` until src/conntrackd/main.ts
// calls it (tests/conntrackd_client_test.ts uses whichever is wired).
import { clientMain } from "./mod.ts";

Deno.exit(await clientMain(Deno.args, Deno.env.get("CTKIT_ARGV0") ?? "conntrackd"));
