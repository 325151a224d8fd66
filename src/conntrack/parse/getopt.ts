// GNU getopt_long (glibc 2.26+) as conntrack drives it: argument permutation,
// a leading ':' in the optstring (the caller reports errors), unambiguous long
// prefixes, and a caller that may advance `optind` itself between calls (that
// is how conntrack reads its optional "table" and NAT words).

export const enum HasArg {
  No = 0,
  Required = 1,
  Optional = 2,
}

export interface LongOption {
  name: string;
  hasArg: HasArg;
  /** The value getopt returns for it (a short option char code, or an offset id). */
  val: number;
}

/** getopt's return for an option that needs an argument it did not get. */
export const MISSING_ARG = ":".charCodeAt(0);
/** getopt's return for an unknown or ambiguous option. */
export const UNKNOWN_OPT = "?".charCodeAt(0);

export class Getopt {
  /** Index of the next argv element to scan (argv[0] is the program name). */
  optind = 1;
  /** Argument of the option just returned, or undefined. */
  optarg: string | undefined = undefined;
  private nextchar = "";
  private firstNonopt = 1;
  private lastNonopt = 1;
  private readonly inOrder: boolean;

  /** `argv` includes the program name and is permuted in place. */
  constructor(readonly argv: string[], private readonly optstring: string, posixlyCorrect = false) {
    this.inOrder = posixlyCorrect;
  }

  /** The next option's value, or -1 at the end. */
  next(longopts: readonly LongOption[]): number {
    const argv = this.argv;
    const argc = argv.length;
    this.optarg = undefined;
    if (this.nextchar === "") {
      // The caller may have moved optind back or forward.
      if (this.lastNonopt > this.optind) this.lastNonopt = this.optind;
      if (this.firstNonopt > this.optind) this.firstNonopt = this.optind;
      if (!this.inOrder) {
        if (this.firstNonopt !== this.lastNonopt && this.lastNonopt !== this.optind) this.exchange();
        else if (this.lastNonopt !== this.optind) this.firstNonopt = this.optind;
        while (this.optind < argc && this.isNonOption(argv[this.optind])) this.optind++;
        this.lastNonopt = this.optind;
      }
      if (this.optind !== argc && argv[this.optind] === "--") {
        this.optind++;
        if (this.firstNonopt !== this.lastNonopt && this.lastNonopt !== this.optind) this.exchange();
        else if (this.firstNonopt === this.lastNonopt) this.firstNonopt = this.optind;
        this.lastNonopt = argc;
        this.optind = argc;
      }
      if (this.optind === argc) {
        if (this.firstNonopt !== this.lastNonopt) this.optind = this.firstNonopt;
        return -1;
      }
      if (this.isNonOption(argv[this.optind])) {
        // Only reachable in POSIX order: stop at the first operand.
        return -1;
      }
      if (argv[this.optind][1] === "-") {
        this.nextchar = argv[this.optind].slice(2);
        return this.longOption(longopts);
      }
      this.nextchar = argv[this.optind].slice(1);
    }
    return this.shortOption();
  }

  private isNonOption(arg: string): boolean {
    return arg[0] !== "-" || arg.length === 1;
  }

  /** Moves the skipped operands [firstNonopt, lastNonopt) after the options scanned since. */
  private exchange(): void {
    const a = this.argv;
    const operands = a.slice(this.firstNonopt, this.lastNonopt);
    const options = a.slice(this.lastNonopt, this.optind);
    a.splice(this.firstNonopt, this.optind - this.firstNonopt, ...options, ...operands);
    this.firstNonopt += this.optind - this.lastNonopt;
    this.lastNonopt = this.optind;
  }

  private shortOption(): number {
    const c = this.nextchar[0];
    this.nextchar = this.nextchar.slice(1);
    if (this.nextchar === "") this.optind++;
    const at = this.optstring.indexOf(c);
    if (at < 0 || c === ":" || c === ";") return UNKNOWN_OPT;
    const code = c.charCodeAt(0);
    if (this.optstring[at + 1] !== ":") return code;
    if (this.optstring[at + 2] === ":") {
      // Optional argument: only when attached (-xVALUE).
      if (this.nextchar !== "") {
        this.optarg = this.nextchar;
        this.optind++;
      }
      this.nextchar = "";
      return code;
    }
    if (this.nextchar !== "") {
      this.optarg = this.nextchar;
      this.optind++;
    } else if (this.optind === this.argv.length) {
      this.nextchar = "";
      return this.optstring[0] === ":" ? MISSING_ARG : UNKNOWN_OPT;
    } else {
      this.optarg = this.argv[this.optind++];
    }
    this.nextchar = "";
    return code;
  }

  private longOption(longopts: readonly LongOption[]): number {
    const eq = this.nextchar.indexOf("=");
    const name = eq < 0 ? this.nextchar : this.nextchar.slice(0, eq);
    let found = longopts.find((o) => o.name === name);
    if (!found) {
      let ambiguous = false;
      for (const o of longopts) {
        if (!o.name.startsWith(name)) continue;
        if (!found) found = o;
        else if (found.hasArg !== o.hasArg || found.val !== o.val) ambiguous = true;
      }
      if (ambiguous) {
        this.nextchar = "";
        this.optind++;
        return UNKNOWN_OPT;
      }
    }
    this.nextchar = "";
    this.optind++;
    if (!found) return UNKNOWN_OPT;
    if (eq >= 0) {
      if (found.hasArg === HasArg.No) return UNKNOWN_OPT;
      this.optarg = this.argv[this.optind - 1].slice(2 + eq + 1);
    } else if (found.hasArg === HasArg.Required) {
      if (this.optind < this.argv.length) this.optarg = this.argv[this.optind++];
      else return this.optstring[0] === ":" ? MISSING_ARG : UNKNOWN_OPT;
    }
    return found.val;
  }
}
