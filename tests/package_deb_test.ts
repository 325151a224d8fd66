// dist/ctkit_<version>_amd64.deb (scripts/package, scripts/pkg/build-deb) installed into a
// throw-away root: the tool names become ctkit and conntrack-tools' programs stay runnable
// under their diverted names, `conntrack -L` through the installed link prints
// byte-identically what the reference prints, postinst unpacks the runtime, the unit is
// sane, and removing the package gives conntrack-tools back, purging it the cache.
//
// The throw-away root: one shell script run by `unshare -m --propagation private` mounts a
// tmpfs (upper and work directories) and an overlay of / onto it, binds /proc, /sys
// (read-only), /dev and /run/netns in, and runs dpkg and the tools through `chroot`. The
// host's / is only the overlay's read-only lower layer: every write lands in the tmpfs, and
// every mount of the script disappears with its mount namespace. The reference's entries go
// into a network namespace the test makes.
import { deepStrictEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert";
import { CTKIT_VERSION } from "../src/version.ts";
import { Netns } from "./lib/netns.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const DEB = `${ROOT}/dist/ctkit_${CTKIT_VERSION}_amd64.deb`;
const TOOLS = ["conntrack", "conntrackd", "nfct"];

// (the script writes "@{" for the shell's "${", which a template literal would take)
const SCRIPT = String.raw`
set -eu
deb=$1 ns=$2 t=$3
out=$t/out r=$t/root
mkdir -p "$out" "$r" "$t/layer"

# The throw-away root. This shell is alone in a private mount namespace: nothing mounted
# here reaches the host, and it all goes away when the namespace's last process exits.
mount -t tmpfs -o mode=0755 ctkit-deb-test "$t/layer"
mkdir "$t/layer/upper" "$t/layer/work"
mount -t overlay -o "lowerdir=/,upperdir=$t/layer/upper,workdir=$t/layer/work" ctkit-deb-test "$r"
mount --bind /proc "$r/proc"
mount --bind -o ro /sys "$r/sys"
mount --rbind /dev "$r/dev"
mkdir -p "$r/run/netns"
mount --rbind /run/netns "$r/run/netns"

in_root() { chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }
in_ns() { in_root nsenter --net="/run/netns/$ns" "$@"; }
# rec NAME CMD…: NAME.out, NAME.err, NAME.rc
rec() {
  _n=$1
  shift
  set +e
  "$@" >"$out/$_n.out" 2>"$out/$_n.err"
  echo $? >"$out/$_n.rc"
  set -e
}
same() { cmp -s "$out/$1.out" "$out/$2.out" && cmp -s "$out/$1.err" "$out/$2.err" && cmp -s "$out/$1.rc" "$out/$2.rc"; }

cp "$deb" "$r/tmp/ctkit-test.deb"
# No unpacked build from the host's own runs, and a stale one for postinst's prune.
in_root rm -rf /var/cache/ctkit
in_root mkdir -p /var/cache/ctkit/0.0.0-stale
in_root touch /var/cache/ctkit/0.0.0-stale/.complete
rec refpkgs in_root dpkg-query -W -f '@{db:Status-Abbrev}@{Package}\n' conntrack conntrackd nfct

rec install in_root dpkg -i /tmp/ctkit-test.deb
# Before any tool runs: what postinst unpacked and pruned.
rec cache in_root find /var/cache/ctkit -mindepth 1 -maxdepth 2
rec links in_root readlink /usr/sbin/conntrack /usr/sbin/conntrackd /usr/sbin/nfct
rec diversions in_root dpkg-divert --list ctkit
rec version in_root ctkit --version
rec V-ctkit in_root conntrack -V
rec V-ref in_root conntrack.conntrack-tools -V
rec v-ctkit in_root conntrackd -v
rec v-ref in_root conntrackd.conntrack-tools -v

# Entries made by the reference, listed by both.
rec insert in_ns sh -ec '
  c=conntrack.conntrack-tools
  $c -I -s 10.9.0.1 -d 10.9.0.2 -p tcp --sport 1000 --dport 80 --state ESTABLISHED -u SEEN_REPLY,ASSURED -t 3600 -m 7
  $c -I -s 10.9.0.3 -d 10.9.0.4 -p udp --sport 53 --dport 5353 -t 3600
  $c -I -s 2001:db8::1 -d 2001:db8::2 -p tcp --sport 2000 --dport 443 --state SYN_SENT -t 3600
  $c -I -s 10.9.1.1 -d 10.9.1.2 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 9 -t 3600
  nfct.conntrack-tools add timeout t1 inet tcp established 100'
# The timeouts count down while the three run: ctkit must match the run before or after it.
i=0
while :; do
  i=$((i + 1))
  rec L-ref1 in_ns conntrack.conntrack-tools -L
  rec L-ctkit in_ns conntrack -L
  rec L-ref2 in_ns conntrack.conntrack-tools -L
  if same L-ctkit L-ref1 || same L-ctkit L-ref2; then echo 1 >"$out/L-same"; break; fi
  [ $i -lt 4 ] || break
done
rec nfct-ctkit in_ns nfct list timeout
rec nfct-ref in_ns nfct.conntrack-tools list timeout

rec unit in_root cat /usr/lib/systemd/system/ctkit-conntrackd.service
if in_root sh -c 'command -v systemd-analyze' >/dev/null; then
  rec analyze in_root systemd-analyze verify /usr/lib/systemd/system/ctkit-conntrackd.service
fi
rec docs in_root find /usr/share/doc/ctkit -type f
if in_root sh -c 'command -v keepalived' >/dev/null; then
  # The examples' interfaces, in the test's namespace.
  in_ns ip link add eth0 type veth peer name ctk-p0
  in_ns ip link add eth1 type veth peer name ctk-p1
  for f in keepalived-notify keepalived-notify-fifo; do
    rec "kaconf-$f" in_ns keepalived --config-test -f "/usr/share/doc/ctkit/examples/$f.conf"
  done
fi

# Installing the same package again (preinst and postrm see an upgrade) keeps everything.
rec reinstall in_root dpkg -i /tmp/ctkit-test.deb
rec re-links in_root readlink /usr/sbin/conntrack /usr/sbin/conntrackd /usr/sbin/nfct
rec re-diversions in_root dpkg-divert --list ctkit
rec re-V in_root conntrack.conntrack-tools -V

rec remove in_root dpkg -r ctkit
rec r-type in_root stat -c %F /usr/sbin/conntrack /usr/sbin/conntrackd /usr/sbin/nfct
rec r-diverted in_root sh -c 'ls /usr/sbin/*.conntrack-tools'
rec r-diversions in_root dpkg-divert --list ctkit
rec r-V in_root conntrack -V
rec r-verify in_root sh -c 'dpkg --verify conntrack conntrackd nfct'
rec r-cache in_root test -d /var/cache/ctkit
rec purge in_root dpkg -P ctkit
rec p-cache in_root test -e /var/cache/ctkit
rec p-status in_root dpkg-query -W ctkit

# Without Debian's conntrack package: ctkit installs and leaves nothing behind; the package
# installed afterwards (from apt's cache, when it is there) goes to the diverted name.
rec n-rmref in_root dpkg -r conntrack
rec n-install in_root dpkg -i /tmp/ctkit-test.deb
rec n-V in_root conntrack -V
rec n-diverted in_root test -e /usr/sbin/conntrack.conntrack-tools
refdeb=$(ls "$r"/var/cache/apt/archives/conntrack_*_amd64.deb 2>/dev/null | head -n 1)
if [ -n "$refdeb" ]; then
  rec n-refinstall in_root dpkg -i "@{refdeb#"$r"}"
  rec n-V2 in_root conntrack -V
  rec n-refV in_root conntrack.conntrack-tools -V
fi
rec n-remove in_root dpkg -r ctkit
rec n-type in_root stat -c %F /usr/sbin/conntrack
rec n-diversions in_root dpkg-divert --list ctkit
`;

interface Rec {
  out: string;
  err: string;
  rc: number;
}

Deno.test("package: the .deb in a throw-away root (install, tools, unit, remove, purge)", async () => {
  try {
    Deno.statSync(DEB);
  } catch {
    throw new Error(`${DEB} is missing: run scripts/package first`);
  }
  const tmp = await Deno.makeTempDir({ prefix: "ctkit-deb-test-" });
  const ns = await Netns.create("ctkdeb");
  try {
    await Deno.writeTextFile(`${tmp}/run.sh`, SCRIPT.replaceAll("@{", "${"));
    const child = new Deno.Command("unshare", {
      args: ["-m", "--propagation", "private", "sh", `${tmp}/run.sh`, DEB, ns.name, tmp],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(150_000),
    }).spawn();
    const res = await child.output();
    const dec = new TextDecoder();
    assertEquals(res.code, 0, `the throw-away root script failed:\n${dec.decode(res.stderr)}`);

    const text = (p: string) => Deno.readTextFileSync(`${tmp}/out/${p}`);
    const exists = (p: string) => {
      try {
        Deno.statSync(`${tmp}/out/${p}`);
        return true;
      } catch {
        return false;
      }
    };
    const rec = (n: string): Rec => ({
      out: text(`${n}.out`),
      err: text(`${n}.err`),
      rc: Number(text(`${n}.rc`)),
    });
    const ok = (n: string) => {
      const r = rec(n);
      assertEquals(r.rc, 0, `${n}: exit ${r.rc}\n${r.out}${r.err}`);
      return r;
    };

    // conntrack-tools' packages are what the diversions are about (scripts/bootstrap installs them).
    assertEquals(
      ok("refpkgs").out.split("\n").filter((l) => l).sort(),
      ["ii conntrack", "ii conntrackd", "ii nfct"],
      "conntrack-tools' Debian packages (conntrack, conntrackd, nfct) must be installed: run scripts/bootstrap",
    );

    // Installation, the names, the diversions.
    const install = ok("install");
    for (const tool of TOOLS) {
      assertMatch(
        install.out,
        new RegExp(`Adding 'diversion of /usr/sbin/${tool} to /usr/sbin/${tool}.conntrack-tools by ctkit'`),
      );
    }
    assertEquals(ok("links").out, "ctkit\nctkit\nctkit\n");
    assertEquals(
      ok("diversions").out.split("\n").filter((l) => l).sort(),
      TOOLS.map((t) => `diversion of /usr/sbin/${t} to /usr/sbin/${t}.conntrack-tools by ctkit`),
    );

    // postinst unpacked this build (and nothing ran before), and pruned the stale one.
    const cache = ok("cache").out.split("\n").filter((l) => l).sort();
    const builds = cache.filter((l) => /^\/var\/cache\/ctkit\/[^/]+$/.test(l));
    assertEquals(builds.length, 1, `one unpacked build after postinst, got:\n${cache.join("\n")}`);
    assert(!builds[0].endsWith("/0.0.0-stale"), "postinst's prune left the stale build");
    assert(cache.includes(`${builds[0]}/.complete`), `${builds[0]}/.complete is missing`);
    assertMatch(builds[0], new RegExp(`/${CTKIT_VERSION.replaceAll(".", "\\.")}-[0-9a-f]{16}$`));
    assertMatch(ok("version").out, new RegExp(`^ctkit ${CTKIT_VERSION.replaceAll(".", "\\.")} \\(commit `));

    // The installed names against the diverted reference.
    assertEquals(rec("V-ctkit"), rec("V-ref"));
    assertEquals(ok("V-ctkit").out, "conntrack v1.4.7 (conntrack-tools)\n");
    assertEquals(rec("v-ctkit"), rec("v-ref"));
    ok("insert");
    const listed = rec("L-ctkit");
    assert(
      exists("L-same"),
      `conntrack -L differs from the reference's:\n--- reference\n${rec("L-ref1").out}${rec("L-ref1").err}` +
        `--- ctkit (exit ${listed.rc})\n${listed.out}${listed.err}`,
    );
    assertEquals(listed.rc, 0);
    assertMatch(listed.err, /4 flow entries have been shown/);
    assertEquals(rec("nfct-ctkit"), rec("nfct-ref"));
    assertMatch(ok("nfct-ctkit").out, /^\.t1 = \{/);

    // The unit.
    const unit = ok("unit").out;
    assertMatch(unit, /^Type=notify$/m);
    assertMatch(unit, /^ExecStart=\/usr\/sbin\/ctkit conntrackd -C \/etc\/conntrackd\/conntrackd\.conf$/m);
    assertMatch(unit, /^Conflicts=conntrackd\.service$/m);
    if (exists("analyze.rc")) {
      const a = rec("analyze");
      assertEquals(a.rc, 0, `systemd-analyze verify: exit ${a.rc}\n${a.out}${a.err}`);
      assertEquals(a.out + a.err, "", "systemd-analyze verify complains");
    } else {
      console.log("package_deb_test: systemd-analyze is not installed, `systemd-analyze verify` skipped");
    }

    // The documentation.
    const docs = ok("docs").out.split("\n").filter((l) => l).map((l) =>
      l.replace("/usr/share/doc/ctkit/", "")
    );
    for (
      const f of [
        "copyright",
        "README.Debian",
        "examples/keepalived-notify.conf",
        "examples/keepalived-notify-fifo.conf",
        "licenses/ctkit.LICENSE",
        "licenses/deno.LICENSE",
        "licenses/libmnl0.copyright",
        "licenses/libnfnetlink0.copyright",
        "licenses/libnetfilter-conntrack3.copyright",
        "licenses/libnetfilter-queue1.copyright",
        "licenses/libnetfilter-cthelper0.copyright",
        "licenses/libnetfilter-cttimeout1.copyright",
        "licenses/libsodium23.copyright",
      ]
    ) assert(docs.includes(f), `/usr/share/doc/ctkit/${f} is missing`);
    for (const f of ["keepalived-notify", "keepalived-notify-fifo"]) {
      if (exists(`kaconf-${f}.rc`)) ok(`kaconf-${f}`);
    }

    // Removal gives conntrack-tools' programs back, unchanged; purge drops the cache.
    ok("reinstall");
    assertEquals(ok("re-links").out, "ctkit\nctkit\nctkit\n");
    assertEquals(ok("re-diversions").out.split("\n").filter((l) => l).length, 3);
    assertEquals(ok("re-V").out, "conntrack v1.4.7 (conntrack-tools)\n");

    ok("remove");
    assertEquals(ok("r-type").out, "regular file\nregular file\nregular file\n");
    assertEquals(rec("r-diverted").out, "");
    assertEquals(ok("r-diversions").out, "");
    assertEquals(ok("r-V").out, "conntrack v1.4.7 (conntrack-tools)\n");
    const verify = rec("r-verify");
    assert(!/\/usr\/sbin\//.test(verify.out), `dpkg --verify after removal:\n${verify.out}${verify.err}`);
    assertEquals(rec("r-cache").rc, 0, "/var/cache/ctkit should stay until purge");
    ok("purge");
    assertEquals(rec("p-cache").rc, 1, "/var/cache/ctkit survived the purge");
    assert(rec("p-status").rc !== 0, "dpkg still knows ctkit after the purge");

    // Without conntrack-tools' conntrack package.
    ok("n-rmref");
    ok("n-install");
    assertEquals(ok("n-V").out, "conntrack v1.4.7 (conntrack-tools)\n");
    assertEquals(rec("n-diverted").rc, 1, "a diverted conntrack appeared from nowhere");
    if (exists("n-refinstall.rc")) {
      ok("n-refinstall");
      assertEquals(ok("n-V2").out, "conntrack v1.4.7 (conntrack-tools)\n");
      assertEquals(ok("n-refV").out, "conntrack v1.4.7 (conntrack-tools)\n");
    } else {
      console.log(
        "package_deb_test: no conntrack .deb in apt's cache, its installation next to ctkit skipped",
      );
    }
    ok("n-remove");
    assertEquals(
      rec("n-type").out,
      exists("n-refinstall.rc") ? "regular file\n" : "",
      "/usr/sbin/conntrack after removing ctkit",
    );
    assertEquals(ok("n-diversions").out, "");
  } finally {
    await ns.destroy();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
});
