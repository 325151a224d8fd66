// Opens a system library by soname. A missing library is a one-line error that
// names the Debian package, never a stack trace (cli.ts prints FfiLoadError).

export class FfiLoadError extends Error {
  constructor(readonly soname: string, readonly debianPackage: string, cause: unknown) {
    super(
      `cannot load ${soname}: install the Debian package ${debianPackage} (apt-get install ${debianPackage})`,
      { cause },
    );
    this.name = "FfiLoadError";
  }
}

export function openLibrary<S extends Deno.ForeignLibraryInterface>(
  soname: string,
  debianPackage: string,
  symbols: S,
): Deno.DynamicLibrary<S> {
  // CTKIT_LIBDIR lets tests point at another copy; default is the loader's search path.
  const dir = Deno.env.get("CTKIT_LIBDIR");
  const path = dir ? `${dir}/${soname}` : soname;
  try {
    return Deno.dlopen(path, symbols);
  } catch (e) {
    throw new FfiLoadError(soname, debianPackage, e);
  }
}

/** Memoises a library so it is opened on first use only (keeps start-up short). */
export function lazyLibrary<S extends Deno.ForeignLibraryInterface>(
  soname: string,
  debianPackage: string,
  symbols: S,
): () => Deno.DynamicLibrary<S>["symbols"] {
  let lib: Deno.DynamicLibrary<S> | undefined;
  return () => (lib ??= openLibrary(soname, debianPackage, symbols)).symbols;
}
