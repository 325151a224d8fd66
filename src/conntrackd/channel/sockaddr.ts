// struct sockaddr_in / sockaddr_in6 built from the config's address text.
import { addrBytes } from "../../common/inet.ts";
import { AF_INET, AF_INET6 } from "../../../ffi/libc_socket.ts";

export type Family = "ipv4" | "ipv6";

export function familyNumber(family: Family): number {
  return family === "ipv4" ? AF_INET : AF_INET6;
}

/** Address bytes of the family; a missing address is the wildcard (all zeros), as in the reference. */
export function addressBytes(family: Family, address: string | null): Uint8Array {
  const size = family === "ipv4" ? 4 : 16;
  if (address === null) return new Uint8Array(size);
  const b = addrBytes(address);
  if (b === null || b.length !== size) throw new Error(`${address} is not an ${family} address`);
  return b;
}

/** sockaddr_in (16 bytes) or sockaddr_in6 (28 bytes); scopeId only matters for IPv6. */
export function sockaddr(family: Family, address: string | null, port: number, scopeId = 0): Uint8Array {
  const addr = addressBytes(family, address);
  const out = new Uint8Array(family === "ipv4" ? 16 : 28);
  const v = new DataView(out.buffer);
  v.setUint16(0, familyNumber(family), true);
  v.setUint16(2, port, false);
  if (family === "ipv4") {
    out.set(addr, 4);
  } else {
    out.set(addr, 8);
    v.setUint32(24, scopeId >>> 0, true);
  }
  return out;
}

/** The port of a sockaddr_in/in6. */
export function sockaddrPort(sa: Uint8Array): number {
  return new DataView(sa.buffer, sa.byteOffset, sa.byteLength).getUint16(2, false);
}
