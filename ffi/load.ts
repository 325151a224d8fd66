// Opens C libraries for the symbol tables in ffi/. A missing library is a
// one-line error that names the Debian package, never a stack trace (cli.ts
// prints FfiLoadError).
//
// Binding is two-tier because start-up counts (keepalived scripts run the
// tools several times per failover): Deno.dlopen() compiles a fast-call
// trampoline for every symbol of a table, ~0.1-0.3 ms each, whether or not the
// command calls it. So a table starts cold: each symbol is looked up with
// dlsym() when first called and called through Deno.UnsafeFnPointer (~3 µs a
// call, nothing to compile). A symbol that turns out to be busy (a dump's
// recv, a daemon's event loop) promotes its whole table to Deno.dlopen's fast
// calls; callers see the same object, whose methods are then the fast ones.

export class FfiLoadError extends Error {
  constructor(readonly soname: string, readonly debianPackage: string, detail: string) {
    super(
      debianPackage
        ? `cannot load ${soname}: install the Debian package ${debianPackage} (apt-get install ${debianPackage})`
        : `cannot load ${soname}: ${
          detail.startsWith(soname + ": ") ? detail.slice(soname.length + 2) : detail
        }`,
    );
    this.name = "FfiLoadError";
  }
}

/** Calls through the slow path before a symbol's table is bound for fast calls. */
const PROMOTE_AFTER = 64;
const RTLD_LAZY = 1;

type Symbols<S extends Deno.ForeignLibraryInterface> = Deno.DynamicLibrary<S>["symbols"];

/**
 * The dynamic loader itself: the one table every process binds up front. Its
 * results are declared as a struct holding one pointer, which the x86-64 ABI
 * returns exactly like a pointer (in RAX): Deno then calls them through libffi
 * instead of compiling fast-call trampolines, ~0.45 ms of a ~25 ms start.
 */
const LOADER = {
  dlopen: { parameters: ["buffer", "i32"], result: { struct: ["pointer"] } },
  dlsym: { parameters: ["pointer", "buffer"], result: { struct: ["pointer"] } },
} as const satisfies Deno.ForeignLibraryInterface;
let loader: Deno.DynamicLibrary<typeof LOADER>["symbols"] | undefined;

function pointerOf(result: Uint8Array): Deno.PointerValue {
  return Deno.UnsafePointer.create(new DataView(result.buffer, result.byteOffset, 8).getBigUint64(0, true));
}

const dl = {
  dlopen(path: Uint8Array<ArrayBuffer>, flags: number): Deno.PointerValue {
    return pointerOf((loader ??= Deno.dlopen("libc.so.6", LOADER).symbols).dlopen(path, flags));
  },
  dlsym(handle: Deno.PointerValue, name: Uint8Array<ArrayBuffer>): Deno.PointerValue {
    return pointerOf((loader ??= Deno.dlopen("libc.so.6", LOADER).symbols).dlsym(handle, name));
  },
};

const enc = new TextEncoder();
function cstr(s: string): Uint8Array<ArrayBuffer> {
  return enc.encode(s + "\0") as Uint8Array<ArrayBuffer>;
}

/**
 * dlerror() as a function pointer, resolved before the dlopen() it reports on
 * (a lookup made after a failure would clear the error it is to report).
 */
let dlerrorFn: (() => string) | undefined;
function dlerrorReader(): () => string {
  if (dlerrorFn) return dlerrorFn;
  const def = { parameters: [], result: "pointer" } as const;
  const p = dl.dlsym(null, cstr("dlerror"));
  const f = p ? new Deno.UnsafeFnPointer(p as Deno.PointerObject<typeof def>, def) : undefined;
  return dlerrorFn = () => {
    const msg = f?.call();
    return msg ? Deno.UnsafePointerView.getCString(msg) : "unknown error";
  };
}

/**
 * Where a library is opened from: CTKIT_LIBDIR (the packaged ctkit's own copies,
 * or a test's) for the netfilter libraries, the loader's search path otherwise.
 * libc always comes from the system.
 */
function libraryPath(soname: string): { path: string; shipped: boolean } {
  const dir = soname.startsWith("libc.") ? undefined : Deno.env.get("CTKIT_LIBDIR");
  return dir ? { path: `${dir}/${soname}`, shipped: true } : { path: soname, shipped: false };
}

/**
 * A library's symbols, opened on first use and bound symbol by symbol as
 * described above. Tables are declared `as const satisfies
 * Deno.ForeignLibraryInterface` exactly as for Deno.dlopen.
 */
export function lazyLibrary<S extends Deno.ForeignLibraryInterface>(
  soname: string,
  debianPackage: string,
  symbols: S,
): () => Symbols<S> {
  let table: Record<string, unknown> | undefined;
  return () => (table ??= coldTable(soname, debianPackage, symbols)) as Symbols<S>;
}

function coldTable<S extends Deno.ForeignLibraryInterface>(
  soname: string,
  debianPackage: string,
  symbols: S,
): Record<string, unknown> {
  const { path, shipped } = libraryPath(soname);
  const dlerror = dlerrorReader();
  const handle = dl.dlopen(cstr(path), RTLD_LAZY);
  if (handle === null) throw new FfiLoadError(path, shipped ? "" : debianPackage, dlerror());
  const table: Record<string, unknown> = {};
  type Fn = (...a: unknown[]) => unknown;
  // undefined: not tried yet; null: Deno.dlopen refused the table (a symbol the
  // library lacks), so its symbols stay on the slow path.
  let fast: Record<string, Fn> | null | undefined;
  const promote = () => {
    if (fast === undefined) {
      try {
        const lib = Deno.dlopen(path, symbols);
        Object.assign(table, lib.symbols);
        fast = lib.symbols as unknown as Record<string, Fn>;
      } catch {
        fast = null;
      }
    }
    return fast;
  };
  for (const [key, def] of Object.entries(symbols) as [string, Deno.ForeignFunction][]) {
    const name = def.name === undefined ? key : String(def.name);
    // An optional symbol the library lacks is null, as Deno.dlopen makes it.
    if (def.optional && dl.dlsym(handle, cstr(name)) === null) {
      table[key] = null;
      continue;
    }
    let slow: Deno.UnsafeFnPointer<Deno.ForeignFunction> | undefined;
    let calls = 0;
    table[key] = (...args: unknown[]) => {
      if (++calls > PROMOTE_AFTER) {
        const f = promote();
        if (f) return f[key](...args);
      }
      if (!slow) {
        const p = dl.dlsym(handle, cstr(name));
        if (p === null) throw new Error(`${soname}: no symbol ${name}`);
        slow = new Deno.UnsafeFnPointer(p as Deno.PointerObject<Deno.ForeignFunction>, def);
      }
      return (slow.call as Fn)(...args);
    };
  }
  return table;
}
