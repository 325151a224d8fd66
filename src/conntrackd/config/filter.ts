// `Filter [From Userspace|Kernelspace] { Protocol ..., Address ..., State ... }`.
// Several Filter blocks and several clauses of one kind merge; the last
// Accept/Ignore of a kind decides its policy, as in the reference.

import type { Cursor } from "./cursor.ts";
import { FILTER_TCP_STATES } from "./lexer.ts";
import { parseIpv4, parseIpv6 } from "./inet.ts";
import { protocolByName } from "./protocols.ts";
import type { FilterConfig, FilterPolicy, TcpStateName } from "./types.ts";

const TCP_STATES: ReadonlySet<string> = new Set(FILTER_TCP_STATES);

export function parseFilter(c: Cursor, f: FilterConfig): void {
  c.next();
  let kernelspace = false;
  if (c.isKeyword("From")) {
    c.next();
    const t = c.peek();
    if (t.kind === "keyword" && (t.keyword === "Userspace" || t.keyword === "Kernelspace")) {
      c.next();
      kernelspace = t.keyword === "Kernelspace";
    } else {
      throw c.unexpected(t, "Userspace or Kernelspace after From");
    }
  }
  c.block("Filter", (t) => {
    const kw = t.kind === "keyword" ? t.keyword : undefined;
    if (kw !== "Protocol" && kw !== "Address" && kw !== "State") {
      throw c.unknownClause(t, "the Filter block (expected Protocol, Address or State)");
    }
    c.next();
    const policy = parsePolicy(c, kw);
    if (kw === "Protocol") parseProtocols(c, f, policy);
    else if (kw === "Address") parseAddresses(c, f, policy);
    else parseStates(c, f, policy);
  });
  // The reference sets the flag when the block closes, so the last Filter block decides.
  f.kernelspace = kernelspace;
}

function parsePolicy(c: Cursor, clause: string): FilterPolicy {
  const t = c.peek();
  if (t.kind === "keyword" && (t.keyword === "Accept" || t.keyword === "Ignore")) {
    c.next();
    return t.keyword === "Accept" ? "accept" : "ignore";
  }
  throw c.unexpected(t, `Accept or Ignore after ${clause}`);
}

function parseProtocols(c: Cursor, f: FilterConfig, policy: FilterPolicy): void {
  const p = f.protocol ??= { policy, protocols: [] };
  c.block("Protocol", (t) => {
    let name: string;
    if (t.kind === "keyword" && (t.keyword === "TCP" || t.keyword === "UDP")) name = t.keyword.toLowerCase();
    else if (t.kind === "word") name = t.text;
    else throw c.unexpected(t, "a protocol name (e.g. TCP, UDP, SCTP) or '}'");
    c.next();
    const num = protocolByName(name);
    if (num === null) {
      c.warnings.push(`getprotobyname() cannot find protocol \`${name}' in /etc/protocols`);
      return;
    }
    if (!p.protocols.includes(num)) p.protocols.push(num);
  });
  p.policy = policy;
}

function parseAddresses(c: Cursor, f: FilterConfig, policy: FilterPolicy): void {
  const a = f.address ??= { policy, entries: [] };
  c.block("Address", (t) => {
    const v4 = t.kind === "keyword" && t.keyword === "IPv4_address";
    const v6 = t.kind === "keyword" && t.keyword === "IPv6_address";
    if (!v4 && !v6) throw c.unknownClause(t, "the Address block (expected IPv4_address or IPv6_address)");
    c.next();
    const text = c.ip(t.text);
    const slash = text.indexOf("/");
    const addrText = slash < 0 ? text : text.slice(0, slash);
    const full = v4 ? 32 : 128;
    const prefix = slash < 0 ? full : Number(BigInt.asIntN(32, BigInt(text.slice(slash + 1))));
    // Invalid entries only warn and are skipped, as in the reference.
    if (prefix > full || prefix < 0) {
      c.warnings.push(`${addrText}/${prefix} is not a valid network, ignoring`);
      return;
    }
    const address = v4 ? parseIpv4(addrText) : parseIpv6(addrText);
    if (address === null) {
      c.warnings.push(`${addrText} is not a valid ${v4 ? "IPv4" : "IPv6"}, ignoring`);
      return;
    }
    const family = v4 ? "ipv4" : "ipv6";
    const netmask = prefix < full;
    const dup = a.entries.some((e) =>
      e.family === family && e.address === address && (netmask ? e.prefix === prefix : e.prefix === full)
    );
    if (dup) {
      c.warnings.push(
        netmask
          ? `netmask ${addrText} is repeated in the ignore pool`
          : `IP ${addrText} is repeated in the ignore pool`,
      );
      return;
    }
    a.entries.push({ family, address, prefix });
  });
  a.policy = policy;
}

function parseStates(c: Cursor, f: FilterConfig, policy: FilterPolicy): void {
  const s = f.state ??= { policy, states: [] };
  // Items are `STATE... for TCP`; the list before `for` may be empty.
  c.block("State", (t) => {
    if (t.kind === "keyword" && TCP_STATES.has(t.keyword!)) {
      c.next();
      const name = t.keyword as TcpStateName;
      if (!s.states.includes(name)) s.states.push(name);
      if (c.peek().kind === "eof" || c.isChar("}")) throw c.unexpected(c.peek(), "more states or 'for TCP'");
      return;
    }
    if (t.kind === "keyword" && t.keyword === "for") {
      c.next();
      const p = c.peek();
      if (!(p.kind === "keyword" && p.keyword === "TCP")) throw c.unexpected(p, "TCP after for");
      c.next();
      return;
    }
    throw c.unexpected(t, "a TCP state (e.g. ESTABLISHED), 'for TCP' or '}'");
  });
  s.policy = policy;
}
