// Token cursor shared by the section parsers: look-ahead, expectations and
// error messages. The reference only ever says `parse error`/`syntax error`
// with a line number; here every syntax error deliberately names what was
// found and what was expected instead.

import { ConfigError } from "./error.ts";
import { KEYWORDS, type Token, tokenize } from "./lexer.ts";

export class Cursor {
  private readonly tokens: Token[];
  private pos = 0;
  /** Warnings collected on the way, in the reference's wording. */
  readonly warnings: string[] = [];

  constructor(text: string, readonly file: string) {
    this.tokens = tokenize(text);
  }

  peek(offset = 0): Token {
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)];
  }

  next(): Token {
    const t = this.peek();
    if (this.pos < this.tokens.length - 1) this.pos++;
    // The reference warns about deprecated mode names as soon as it scans them.
    if (t.warning) this.warnings.push(t.warning);
    return t;
  }

  atEof(): boolean {
    return this.peek().kind === "eof";
  }

  /** True when the next token is keyword `kw`. */
  isKeyword(kw: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.kind === "keyword" && t.keyword === kw;
  }

  isChar(c: string): boolean {
    const t = this.peek();
    return t.kind === "char" && t.text === c;
  }

  error(line: number, message: string): ConfigError {
    return new ConfigError(this.file, line, message);
  }

  /** Error for an unexpected token, naming it and what should have come. */
  unexpected(t: Token, expected: string): ConfigError {
    return this.error(t.line, `expected ${expected}, found ${describe(t)}`);
  }

  expectChar(c: string, context: string): Token {
    const t = this.peek();
    if (t.kind !== "char" || t.text !== c) throw this.unexpected(t, `'${c}' ${context}`);
    return this.next();
  }

  /** Consumes `{`, then calls `item` for each clause until the matching `}`. */
  block(name: string, item: (t: Token) => void): void {
    const open = this.expectChar("{", `after ${name}`);
    for (;;) {
      const t = this.peek();
      if (t.kind === "eof") {
        throw this.error(t.line, `missing '}' to close the ${name} block opened on line ${open.line}`);
      }
      if (t.kind === "char" && t.text === "}") {
        this.next();
        return;
      }
      item(t);
    }
  }

  /** Error for a clause that does not belong in a block, with a hint for wrong-case keywords. */
  unknownClause(t: Token, block: string): ConfigError {
    const hint = caseHint(t.text);
    return this.error(t.line, `unknown clause ${describe(t)} in ${block}${hint}`);
  }

  number(after: string): number {
    const t = this.peek();
    if (t.kind !== "number") throw this.unexpected(t, `a number after ${after}`);
    this.next();
    return t.value!;
  }

  bool(after: string): boolean {
    const t = this.peek();
    if (t.kind === "on" || t.kind === "off") {
      this.next();
      return t.kind === "on";
    }
    throw this.unexpected(t, `on|off|yes|no after ${after}`);
  }

  isBool(): boolean {
    const k = this.peek().kind;
    return k === "on" || k === "off";
  }

  word(after: string): string {
    const t = this.peek();
    if (t.kind !== "word") throw this.unexpected(t, `a name after ${after}`);
    this.next();
    return t.text;
  }

  path(after: string): string {
    const t = this.peek();
    if (t.kind !== "path") throw this.unexpected(t, `an absolute path after ${after}`);
    this.next();
    return t.text;
  }

  ip(after: string): string {
    const t = this.peek();
    if (t.kind !== "ip") throw this.unexpected(t, `an IP address after ${after}`);
    this.next();
    return t.text;
  }
}

/** How a token is named in messages. */
export function describe(t: Token): string {
  if (t.kind === "eof") return "end of file";
  return `'${t.text}'`;
}

const LOWER_KEYWORDS = new Map([...KEYWORDS.keys()].map((k) => [k.toLowerCase(), k]));

function caseHint(text: string): string {
  const kw = LOWER_KEYWORDS.get(text.toLowerCase());
  return kw && kw !== text ? ` (keywords are case-sensitive: did you mean '${kw}'?)` : "";
}
