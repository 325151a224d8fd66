// The words nfct understands. Both lists are matched by prefix in this order,
// so `d` means delete and `help` means helper (the help subsystem is reachable
// only in theory, exactly as in the reference).

export const COMMANDS = [
  "list",
  "add",
  "delete",
  "get",
  "flush",
  "disable",
  "default-set",
  "default-get",
] as const;
export type Command = typeof COMMANDS[number];

export const SUBSYSTEMS = ["timeout", "helper", "version", "help"] as const;
export type Subsystem = typeof SUBSYSTEMS[number];

/** strncmp(name, word, strlen(word)) == 0 for the first name: the empty word matches the first. */
function firstWithPrefix<T extends string>(names: readonly T[], word: string): T | undefined {
  return names.find((name) => name.startsWith(word));
}

export function parseCommand(word: string): Command | undefined {
  return firstWithPrefix(COMMANDS, word);
}

export function parseSubsystem(word: string): Subsystem | undefined {
  return firstWithPrefix(SUBSYSTEMS, word);
}
