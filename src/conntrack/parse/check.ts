// generic_opt_check(): validates the options given against one row of a
// command/option legality table, then the "pairwise" address or port groups.
import { PARAMETER_PROBLEM } from "../errors.ts";
import { fail } from "./fail.ts";

export const enum Legal {
  Illegal = 0,
  Required = 1,
  Optional = 2,
  /** Legal; the coupled groups decide (e.g. --src needs --dst). */
  Paired = 3,
}

/**
 * Checks `given` (a bit set) against `row`, reporting the first offending bit in
 * bit order. Returns true, or false with `partial` when the paired groups are
 * not satisfied (partial = index of the first group partly given, or -1).
 */
export function genericOptCheck(
  given: number,
  row: readonly number[],
  names: readonly (string | undefined)[],
  coupled?: readonly number[],
): { ok: boolean; partial: number } {
  let paired = false;
  for (let i = 0; i < row.length; i++) {
    const name = names[i] ?? "(null)";
    if (!(given & (1 << i))) {
      if (row[i] === Legal.Required) {
        fail(PARAMETER_PROBLEM, `You need to supply the \`--${name}' option for this command`);
      }
    } else if (row[i] === Legal.Illegal) {
      fail(PARAMETER_PROBLEM, `Illegal option \`--${name}' with this command`);
    }
    if (row[i] === Legal.Paired) paired = true;
  }
  if (!paired || !coupled) return { ok: true, partial: -1 };
  let partial = -1;
  for (let i = 0; i < coupled.length; i++) {
    if ((given & coupled[i]) === coupled[i]) return { ok: true, partial: -1 };
    if ((given & coupled[i]) && partial < 0) partial = i;
  }
  return { ok: false, partial };
}
