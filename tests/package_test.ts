// dist/ctkit, the one file an admin copies onto a firewall (scripts/package):
// copied alone into an empty directory and run with a minimal environment, with
// the system's netfilter libraries and Deno out of reach, it lists a table
// byte-identically to the reference; and its first-run unpacking is safe with
// concurrent runs, noexec, full and read-only file systems, a damaged copy, a
// half-written cache and an upgrade while an older build runs.
//
// Every case runs in a mount namespace of its own (`unshare -m`), with tmpfs
// mounts standing for the firewall's /var/cache, home and /tmp, so nothing of
// this machine's file system is written.
import { deepStrictEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert";
import { withNetns } from "./lib/netns.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const PACKAGED = `${ROOT}/dist/ctkit`;
const LIBDIR = "/usr/lib/x86_64-linux-gnu";
const NETFILTER_LIBS = [
  "libmnl.so.0",
  "libnfnetlink.so.0",
  "libnetfilter_conntrack.so.3",
  "libnetfilter_queue.so.1",
  "libnetfilter_cthelper.so.0",
  "libnetfilter_cttimeout.so.1",
];
const MIN_ENV = "env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[]): Promise<Run> {
  const out = await new Deno.Command(argv[0], { args: argv.slice(1), stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs a shell script in a private mount namespace. */
function inMountNs(script: string): Promise<Run> {
  return run(["unshare", "-m", "--propagation", "private", "sh", "-ec", script]);
}

/**
 * The firewall as the test models it: /var/cache empty, the netfilter
 * libraries replaced by empty files (so only the shipped copies can load),
 * and the file copied alone into an empty directory ($BIN).
 */
function firewall(bin: string): string {
  const hide = NETFILTER_LIBS.map((l) => `[ ! -e ${LIBDIR}/${l} ] || mount --bind /dev/null ${LIBDIR}/${l}`);
  return [
    "mount -t tmpfs none /var/cache",
    "mount -t tmpfs none /tmp",
    ...hide,
    `BIN=${bin}`,
  ].join("\n") + "\n";
}

/** Runs `fn` with a fresh empty directory holding only a copy of the packaged file ($dir/bin/ctkit). */
async function withCopy(fn: (dir: string) => Promise<void>): Promise<void> {
  requirePackage();
  const dir = await copyAlone();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A fresh empty directory holding only a copy of the packaged file. */
async function copyAlone(): Promise<string> {
  // Under /var/tmp: the cases mount a tmpfs of their own over /tmp.
  const dir = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "ctkit-pkg-" });
  await Deno.mkdir(`${dir}/bin`);
  await Deno.copyFile(PACKAGED, `${dir}/bin/ctkit`);
  await Deno.chmod(`${dir}/bin/ctkit`, 0o755);
  return dir;
}

async function buildId(file: string): Promise<string> {
  const head = new TextDecoder().decode((await Deno.readFile(file)).subarray(0, 8192));
  const m = /^CTKIT_ID=(\S+)$/m.exec(head);
  if (!m) throw new Error(`no CTKIT_ID in ${file}`);
  return m[1];
}

function requirePackage(): void {
  try {
    Deno.statSync(PACKAGED);
  } catch {
    throw new Error(`${PACKAGED} is missing: run scripts/package first (scripts/test does)`);
  }
}

const ENTRIES = [
  "-I -s 10.1.1.1 -d 10.2.2.2 -p tcp --sport 1025 --dport 80 --state ESTABLISHED -t 300 -u ASSURED",
  "-I -s 10.1.1.2 -d 10.2.2.3 -p udp --sport 53 --dport 5353 -t 30 -m 7",
  "-I -s 2001:db8::1 -d 2001:db8::2 -p tcp --sport 40000 --dport 443 --state SYN_SENT -t 100 -w 3",
  "-I -s 10.1.1.3 -d 10.2.2.4 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 77 -t 29",
];

Deno.test("packaged file: copied alone, minimal environment, no system libraries: lists as the reference", () =>
  withCopy(async (dir) => {
    await withNetns(1, async (ns) => {
      for (const e of ENTRIES) {
        const r = await ns.exec(["conntrack", ...e.split(" ")]);
        assertEquals(r.code, 0, r.stderr);
      }
      const netns = `nsenter --net=/run/netns/${ns.name}`;
      const cases = [["-L"], ["-L", "-o", "extended"], ["-L", "-o", "xml"], ["-C"], ["-L", "-p", "udp"]];
      // The reference keeps copies of the system's libraries (taken before they are hidden) and runs
      // just before and just after ctkit, so the ageing timeout column matches one of the two.
      const keep = NETFILTER_LIBS.map((l) =>
        `[ ! -e ${LIBDIR}/${l} ] || cp -L ${LIBDIR}/${l} ${dir}/reflibs/`
      );
      const variants = ["ref1", "ctkit", "link", "ref2"];
      const command = (v: string) =>
        v.startsWith("ref")
          ? `${MIN_ENV} LD_LIBRARY_PATH=${dir}/reflibs ${netns} /usr/sbin/conntrack`
          : `${MIN_ENV} ${netns} ${v === "ctkit" ? '"$BIN/ctkit" conntrack' : '"$BIN/conntrack"'}`;
      const script = `mkdir ${dir}/reflibs\n${keep.join("\n")}\n` + firewall(`${dir}/bin`) + [
        `ln -s ctkit "$BIN/conntrack"`,
        // Deno is not on PATH and not in the directory: the file brings its own.
        `! command -v deno >/dev/null`,
        `${MIN_ENV} "$BIN/ctkit" --version >${dir}/version`,
        ...cases.flatMap((c, i) =>
          variants.map((v) =>
            `rc=0; ${command(v)} ${c.join(" ")} >${dir}/${v}.out.${i} 2>${dir}/${v}.err.${i} || rc=$?; ` +
            `echo $rc >${dir}/${v}.rc.${i}`
          )
        ),
        `ls /var/cache/ctkit >${dir}/cache`,
        // The shipped libraries, not the system's: a listener shows what it mapped.
        `${MIN_ENV} ${netns} "$BIN/conntrack" -E >/dev/null 2>&1 & pid=$!`,
        `sleep 1; grep -o '/[^ ]*libmnl.so.0' /proc/$pid/maps | sort -u >${dir}/maps; kill $pid`,
      ].join("\n");
      const r = await inMountNs(script);
      assertEquals(r.code, 0, r.stderr);
      const result = async (v: string, i: number): Promise<Run> => ({
        code: Number((await Deno.readTextFile(`${dir}/${v}.rc.${i}`)).trim()),
        stdout: await Deno.readTextFile(`${dir}/${v}.out.${i}`),
        stderr: await Deno.readTextFile(`${dir}/${v}.err.${i}`),
      });
      for (let i = 0; i < cases.length; i++) {
        const [ref1, ref2] = [await result("ref1", i), await result("ref2", i)];
        assertEquals(ref1.code, 0, ref1.stderr);
        for (const v of ["ctkit", "link"]) {
          const got = await result(v, i);
          const what = `conntrack ${cases[i].join(" ")} (${v})`;
          assertEquals(got, JSON.stringify(got) === JSON.stringify(ref2) ? ref2 : ref1, what);
        }
      }
      assertMatch(await Deno.readTextFile(`${dir}/version`), /^ctkit \d+\.\d+\.\d+ \(commit [0-9a-f]+/);
      assertEquals((await Deno.readTextFile(`${dir}/cache`)).trim(), await buildId(PACKAGED));
      const maps = (await Deno.readTextFile(`${dir}/maps`)).trim();
      assertEquals(maps, `/var/cache/ctkit/${await buildId(PACKAGED)}/lib/libmnl.so.0`);
    });
  }));

Deno.test("packaged file: concurrent first runs unpack once, leave nothing half-done", () =>
  withCopy(async (dir) => {
    const id = await buildId(PACKAGED);
    const r = await inMountNs(
      firewall(`${dir}/bin`) + [
        `for i in 1 2 3 4; do ${MIN_ENV} "$BIN/ctkit" conntrack -V >${dir}/v.$i 2>&1 & done`,
        "wait",
        `cat ${dir}/v.*`,
        "ls -A /var/cache/ctkit",
      ].join("\n"),
    );
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, "conntrack v1.4.7 (conntrack-tools)\n".repeat(4) + `${id}\n`);
  }));

Deno.test("packaged file: noexec, full and foreign locations are passed over; none usable is one clear error", () =>
  withCopy(async (dir) => {
    const id = await buildId(PACKAGED);
    // /var/cache noexec, the home directory's file system full, TMPDIR usable.
    const falls = await inMountNs(
      firewall(`${dir}/bin`) + [
        "mount -o remount,noexec /var/cache",
        `mkdir -p ${dir}/home ${dir}/tmp`,
        `mount -t tmpfs -o size=1m none ${dir}/home`,
        `mount -t tmpfs none ${dir}/tmp`,
        `${MIN_ENV} HOME=${dir}/home TMPDIR=${dir}/tmp "$BIN/ctkit" conntrack -V`,
        `ls -A /var/cache/ctkit ${dir}/home/.cache/ctkit`,
        `ls ${dir}/tmp/ctkit-0`,
      ].join("\n"),
    );
    assertEquals(falls.code, 0, falls.stderr);
    assertEquals(
      falls.stdout,
      `conntrack v1.4.7 (conntrack-tools)\n/var/cache/ctkit:\n\n${dir}/home/.cache/ctkit:\n${id}\n`,
    );

    // Nowhere to go: one message naming every place tried and why, exit 1, nothing left behind.
    const none = await inMountNs(
      firewall(`${dir}/bin`) + [
        "mount -o remount,noexec /var/cache",
        `mkdir -p ${dir}/home ${dir}/tmp`,
        `mount -t tmpfs -o size=1m none ${dir}/home`,
        `mount -t tmpfs -o noexec none ${dir}/tmp`,
        `rc=0; ${MIN_ENV} HOME=${dir}/home TMPDIR=${dir}/tmp "$BIN/ctkit" conntrack -V || rc=$?`,
        `echo "rc=$rc"`,
        `find /var/cache/ctkit ${dir}/home/.cache/ctkit ${dir}/tmp/ctkit-0 -mindepth 1 | wc -l`,
      ].join("\n"),
    );
    assertEquals(none.code, 0, none.stderr);
    assertEquals(none.stdout, "rc=1\n0\n");
    assertEquals(
      none.stderr,
      "ctkit: cannot unpack its runtime (set CTKIT_CACHE to a writable directory that allows execution):\n" +
        "  /var/cache/ctkit: cannot execute programs there (noexec?)\n" +
        `  ${dir}/home/.cache/ctkit: unpacking failed (full?)\n` +
        `  ${dir}/tmp/ctkit-0: cannot execute programs there (noexec?)\n`,
    );

    // A TMPDIR directory planted by another user is not used.
    const foreign = await inMountNs(
      firewall(`${dir}/bin`) + [
        "mount -o remount,ro /var/cache",
        `mkdir -p ${dir}/tmp/ctkit-0 ${dir}/home && chown nobody ${dir}/tmp/ctkit-0`,
        `mount -t tmpfs -o ro none ${dir}/home`,
        `rc=0; ${MIN_ENV} HOME=${dir}/home TMPDIR=${dir}/tmp "$BIN/ctkit" conntrack -V || rc=$?`,
        `echo "rc=$rc"`,
      ].join("\n"),
    );
    assertEquals(foreign.stdout, "rc=1\n");
    assertMatch(foreign.stderr, new RegExp(`\\n  ${dir}/tmp/ctkit-0: not owned by this user\\n$`));
  }));

Deno.test("packaged file: read-only /usr, and CTKIT_CACHE", () =>
  withCopy(async (dir) => {
    const r = await inMountNs(
      firewall(`${dir}/bin`) + [
        "mount --bind /usr /usr && mount -o remount,ro,bind /usr",
        `mkdir ${dir}/cache`,
        `${MIN_ENV} CTKIT_CACHE=${dir}/cache "$BIN/ctkit" conntrack -V`,
        `ls -A ${dir}/cache`,
        "ls -A /var/cache",
      ].join("\n"),
    );
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, `conntrack v1.4.7 (conntrack-tools)\n${await buildId(PACKAGED)}\n`);
  }));

Deno.test("packaged file: a damaged copy is refused before anything is unpacked", () =>
  withCopy(async (dir) => {
    const size = (await Deno.stat(`${dir}/bin/ctkit`)).size;
    await Deno.truncate(`${dir}/bin/ctkit`, size - 4096);
    const r = await inMountNs(
      firewall(`${dir}/bin`) + [
        `rc=0; ${MIN_ENV} "$BIN/ctkit" conntrack -V || rc=$?`,
        `echo "rc=$rc"`,
        "ls -A /var/cache",
      ].join("\n"),
    );
    assertEquals(r.stdout, "rc=1\n");
    assertEquals(r.stderr, `ctkit: ${dir}/bin/ctkit is damaged (checksum mismatch): copy it again\n`);
  }));

Deno.test("packaged file: a half-written cache directory is never run, it is replaced", () =>
  withCopy(async (dir) => {
    const id = await buildId(PACKAGED);
    const r = await inMountNs(
      firewall(`${dir}/bin`) + [
        // What a crash mid-unpack by hand could leave: the name, a runtime that is not one, no marker.
        `mkdir -p /var/cache/ctkit/${id}/app && printf '#!/bin/sh\\necho stale\\n' >/var/cache/ctkit/${id}/deno`,
        `chmod 755 /var/cache/ctkit/${id}/deno`,
        `${MIN_ENV} "$BIN/ctkit" conntrack -V`,
        `ls -A /var/cache/ctkit; ls /var/cache/ctkit/${id}/.complete`,
      ].join("\n"),
    );
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, `conntrack v1.4.7 (conntrack-tools)\n${id}\n/var/cache/ctkit/${id}/.complete\n`);
  }));

Deno.test("packaged file: an upgrade while the old build runs leaves the old one working", () =>
  withCopy(async (dir) => {
    await withNetns(1, async (ns) => {
      const oldId = await buildId(PACKAGED);
      // The "new build": the same archive under another build id (same length, so the offsets hold).
      const bytes = await Deno.readFile(PACKAGED);
      const head = new TextDecoder().decode(bytes.subarray(0, 8192));
      const newId = oldId.slice(0, -1) + (oldId.endsWith("0") ? "1" : "0");
      const at = head.indexOf(`CTKIT_ID=${oldId}\n`) + "CTKIT_ID=".length;
      bytes.set(new TextEncoder().encode(newId), at);
      await Deno.writeFile(`${dir}/bin/ctkit-new`, bytes, { mode: 0o755 });
      const netns = `nsenter --net=/run/netns/${ns.name}`;
      const r = await inMountNs(
        firewall(`${dir}/bin`) + [
          // The old build runs a long-lived listener.
          `${MIN_ENV} ${netns} "$BIN/ctkit" conntrack -E -o id >${dir}/events 2>&1 & old=$!`,
          "sleep 1.5",
          `${MIN_ENV} "$BIN/ctkit-new" conntrack -V`,
          "ls /var/cache/ctkit",
          // The old build's process is still there and still works; so does the old file.
          `kill -0 $old && echo old-running`,
          `${MIN_ENV} "$BIN/ctkit" conntrack -V`,
          `${MIN_ENV} "$BIN/ctkit-new" --prune-cache`,
          `kill $old; wait $old || true`,
          `${MIN_ENV} "$BIN/ctkit-new" --prune-cache`,
          "ls /var/cache/ctkit",
        ].join("\n"),
      );
      assertEquals(r.code, 0, r.stderr);
      const [a, b] = [oldId, newId].sort();
      assertEquals(
        r.stdout,
        "conntrack v1.4.7 (conntrack-tools)\n" +
          `${a}\n${b}\n` +
          "old-running\n" +
          "conntrack v1.4.7 (conntrack-tools)\n" +
          `ctkit: kept /var/cache/ctkit/${oldId} (in use)\n` +
          `ctkit: removed /var/cache/ctkit/${oldId}\n` +
          `${newId}\n`,
      );
    });
  }));

// A copy under /var/tmp, like the other cases: firewall() mounts a tmpfs over /tmp, where a checkout may live.
Deno.test("packaged file: --version names the version and the commit it was built from", () =>
  withCopy(async (dir) => {
    const head = new TextDecoder().decode((await Deno.readFile(PACKAGED)).subarray(0, 4096));
    const m = /^# ctkit (\S+) \(commit (\S+)\)/m.exec(head);
    assert(m, "header names version and commit");
    const r = await inMountNs(firewall(`${dir}/bin`) + `${MIN_ENV} "$BIN/ctkit" --version`);
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stdout, new RegExp(`^ctkit ${m[1].replaceAll(".", "\\.")} \\(commit ${m[2]}\\)\\n`));
  }));
