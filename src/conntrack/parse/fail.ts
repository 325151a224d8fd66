// exit_error() for the parser: messages are built from byte strings.
import { exitError } from "../errors.ts";
import { fromBytes } from "./bytes.ts";

export function fail(status: number, message: string): never {
  exitError(status, fromBytes(message));
}
