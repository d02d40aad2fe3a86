"""The interop matrix's compatibility table (docs/COMPATIBILITY.md).

  table.py render RESULTS.tsv NOTES.tsv COMPILER_VERSION [TLS_FRONT] > COMPATIBILITY.md
  table.py compare [--ignore-not-installed] GENERATED.md COMMITTED.md

render writes the Markdown tables from the cells run.sh recorded (plain rows
first, then the multiplexed ones: mode multiplexed or unknown-service, then
the TLS ones: mode tls, and the certificate cells: mode tls-cert, whose
transport column holds the kind of cell); TLS_FRONT (calcd, the default, or
haproxy) says who served TLS, and the table says so; compare
exits 0 when the two files say the same (with --ignore-not-installed, rows
whose library was not installed in this run, and the totals, are left out of
the comparison), else prints a unified diff and exits 1.  Only what a run
measures goes into the file (statuses and library versions; no times, ports
or error texts), so the same setup always writes the same bytes.
"""

import csv
import difflib
import sys

TRANSPORTS = ("buffered", "framed", "header")
PROTOCOLS = ("binary", "compact")
CERT_KINDS = ("distrust", "mtls", "no-cert", "other-ca", "revoked")
SHOW = {"pass": "pass", "FAIL": "**FAIL**", "library bug": "library bug", "n/a": "n/a",
        "not installed": "not installed", "refused": "refused"}
TOTALS = "Totals"

HEAD = """\
# Compatibility: calcd and the Thrift client libraries

<!-- Written by `tests/interop/run.sh --update` from a run of the interop matrix.
     `make check` runs the matrix again and fails when this file differs. -->

Every cell is one connection to a running calcd from a real client library of Debian 12
(bookworm) or npm, with client code generated at test time by thrift-compiler {compiler}
from calcd's [`calculator.thrift`](../calculator.thrift) (ThriftPy parses the IDL itself).
Each client calls `ping`; `add` and `subtract` (negative numbers, 2147483646 + 1,
-2147483647 - 1, and 2147483647 + 1, which must raise `TApplicationException` type 0
`add: 2147483647 + 1 overflows i32`); `calculate` with ADD, SUBTRACT, MULTIPLY (with the
optional comment), DIVIDE (100 / 7 and -100 / 7) and a division by zero, which must raise
`InvalidOperation(whatOp=4, why='Cannot divide by 0')`; `getStruct` for two of those
calculations; the oneway `zip`; then `ping` and `add` again on the same connection. Every
answer is checked. The same libraries multiplexed (`TMultiplexedProtocol`) have a table of
their own, [below](#multiplexed-clients).

Transports: **buffered** is unframed (`TSocket`/`TBufferedTransport`), **framed** is
`TFramedTransport`, **header** is `THeaderTransport`/`THeaderProtocol` with binary or
compact inside. **pass**: every answer right. **FAIL**: a wrong answer or an error.
**n/a**: the library has no such transport or protocol. **library bug**: the library
fails on its own, the same way whatever the server (see the notes); the cell still runs
every time and must fail exactly that way. **not installed**: the library was missing
from the machine that ran the matrix.

"""

MUX_HEAD = """\
## Multiplexed clients

The same libraries through their `TMultiplexedProtocol` (C GLib: `ThriftMultiplexedProtocol`;
Ruby, Perl: `MultiplexedProtocol`; Node.js: `thrift.Multiplexer`), over each transport and
protocol their plain rows run, one connection per cell.

A **multiplexed** row makes the calls above through three clients on the one connection: a
`CalculatorService` client for `ping`, `add`, `subtract`, `calculate` and `zip`, a
`SharedService` client for `getStruct`, and a `Calculator` client (the Apache tutorial's
service name) for the `ping` and `add` after `zip`. Every answer is checked. Like Apache
Thrift's own `TMultiplexedProcessor`, calcd names the bare method in its replies (`add`, not
`CalculatorService:add`). Four of these clients check that name: measured once against
the calcd of before that rule (commit fe387a9), whose replies named `CalculatorService:ping`,
C++'s generated client skipped the reply and waited for another until its timeout, C GLib's
and Go's failed with `WRONG_METHOD_NAME`, and Node.js's `Multiplexer` with "Received a
response to an unknown RPC function". The others (Python, ThriftPy, Java, Ruby, Perl, PHP)
do not look at the name.

An **unknown service** row calls `add` and then `ping` through a client multiplexed as `Nope`,
a service calcd does not serve: each must raise `TApplicationException` type 1
(UNKNOWN_METHOD) `unknown service 'Nope' (calcd serves CalculatorService, Calculator and
SharedService)`, and the `add` made after each through the `CalculatorService` client on the
same connection must be answered right.

"""

TLS_HEAD = """\
## TLS

The same calls over TLS, through each library's TLS client: the plain client with its
socket made the library's TLS socket, verifying calcd's certificate against the test CA
(`tests/tls/make-certs.sh`: an ECDSA P-256 server certificate for 127.0.0.1, ::1 and
localhost, signed by an intermediate CA), one connection per cell.

{front}

"""

FRONTS = {
    "calcd": "calcd serves TLS itself: `listen = 127.0.0.1:PORT tls` with `tls_certificate` "
             "and `tls_key`, beside its plain listener.",
    "haproxy": "**Measured with HAProxy terminating TLS in front of a plain calcd "
               "(`CALCD_TLS_FRONT=haproxy`), not with calcd's own TLS listener.**",
}

CERT_HEAD = """\
### Client certificates

Once per library, over the buffered transport and the first protocol of its TLS row.
**mtls**: the client presents a certificate the test CA signed to a calcd that requires
one (`tls_client_ca`, `tls_client_crl`): every answer must be right. The others must be
refused, and are **refused** when the client fails without an answer: **distrust**, the
client trusts another CA than the one that signed calcd's certificate; **no-cert**, it
presents no certificate to that calcd; **other-ca**, it presents one from a CA calcd does
not trust; **revoked**, one that calcd's CRL lists. A refusal is measured from the client's
side: it gets no answer.

"""

OTHERS = """\
## Languages without a row

Debian 12 packages Apache Thrift's libraries for exactly the languages above (C++, C GLib,
Java, Go, Python, Ruby, Perl, PHP) plus ThriftPy, and npm has the Node.js library. The
other languages Apache Thrift supports (C#/netstd, which `calculator.thrift` names, Rust,
Haskell, Erlang, Lua, Swift, Dart, D, Delphi, OCaml, Smalltalk, Haxe, Common Lisp) have no
Debian 12 package of their Thrift library, and their languages' own package registries are
not reachable from the machines that build and test calcd.
"""


def read_tsv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def library_label(row):
    return row["library"] + (" (%s)" % row["variant"] if row["variant"] else "")


def table(rows, totals, kinds=False):
    """The Markdown table of rows, and its totals line; kinds: the columns
    are CERT_KINDS (the cells' transport column), not transport x protocol."""
    if kinds:
        keys = CERT_KINDS
        cols = list(CERT_KINDS)
    else:
        keys = [(t, p) for t in TRANSPORTS for p in PROTOCOLS]
        cols = ["%s %s" % k for k in keys]
    out = ["| language | library | version | " + " | ".join(cols) + " |\n",
           "|---|---|---|" + "---|" * len(cols) + "\n"]
    count = {}
    for r in rows:
        m = r["meta"]
        statuses = [r["cells"].get(k, "n/a") for k in keys]
        for s in statuses:
            count[s] = count.get(s, 0) + 1
        installed = "not installed" not in statuses
        version = r["version"] if installed and r["version"] else "not installed"
        out.append("| %s | %s | %s | %s |\n" % (m["language"], library_label(m), version,
                                                 " | ".join(SHOW.get(s, s) for s in statuses)))
    refused = ", %d refused" % count.get("refused", 0) if kinds else ""
    out.append("\n%s: %d cells pass%s, %d FAIL, %d library bug, %d not installed, %d n/a.\n\n"
               % (totals, count.get("pass", 0), refused, count.get("FAIL", 0),
                  count.get("library bug", 0), count.get("not installed", 0),
                  count.get("n/a", 0)))
    return out


def render(results_path, notes_path, compiler, front="calcd"):
    cells = read_tsv(results_path)
    notes = {}
    with open(notes_path) as f:
        for line in f:
            rid, _, text = line.rstrip("\n").partition("\t")
            notes[rid] = text
    rows = {}
    for c in cells:
        r = rows.setdefault(c["id"], {"meta": c, "cells": {}, "version": ""})
        if c.get("mode") == "tls-cert":
            r["cells"][c["transport"]] = c["status"]
        else:
            r["cells"][(c["transport"], c["protocol"])] = c["status"]
        if c["status"] != "not installed" and c["version"]:
            r["version"] = c["version"]
    def mode(r):
        return r["meta"].get("mode") or "plain"
    plain = [r for r in rows.values() if mode(r) == "plain"]
    muxed = [r for r in rows.values() if mode(r) in ("multiplexed", "unknown-service")]
    tls = [r for r in rows.values() if mode(r) == "tls"]
    certs = [r for r in rows.values() if mode(r) == "tls-cert"]
    out = [HEAD.format(compiler=compiler)]
    out += table(plain, TOTALS)
    if muxed:
        out.append(MUX_HEAD)
        out += table(muxed, TOTALS + " (multiplexed)")
    if tls or certs:
        out.append(TLS_HEAD.format(front=FRONTS[front]))
    if tls:
        out += table(tls, TOTALS + " (TLS)")
    if certs:
        out.append(CERT_HEAD)
        out += table(certs, TOTALS + " (client certificates)", kinds=True)
    out.append("## Notes\n\n")
    for r in plain + muxed + tls + certs:
        if notes.get(r["meta"]["id"]):
            out.append("- **%s, %s%s**: %s\n" % (r["meta"]["language"], library_label(r["meta"]),
                                                ", TLS" if mode(r) == "tls" else "",
                                              notes[r["meta"]["id"]]))
    out.append("\n" + OTHERS)
    sys.stdout.write("".join(out))


def table_key(line):
    """(language, library) of a table row, else None."""
    if not line.startswith("| ") or line.startswith("| language |"):
        return None
    parts = [p.strip() for p in line.strip().strip("|").split("|")]
    return tuple(parts[:2]) if len(parts) > 3 else None


def compare(generated_path, committed_path, ignore_not_installed):
    with open(generated_path) as f:
        generated = f.readlines()
    try:
        with open(committed_path) as f:
            committed = f.readlines()
    except FileNotFoundError:
        print("%s does not exist: run tests/interop/run.sh --update" % committed_path)
        return 1
    if ignore_not_installed:
        skip = set()
        for line in generated:
            key = table_key(line)
            if key and "| not installed |" in line:
                skip.add(key)
        if skip:
            print("not compared with the docs (not installed here): %s"
                  % ", ".join(" ".join(k) for k in sorted(skip)))

            def keep(line):
                return table_key(line) not in skip and not line.startswith(TOTALS)
            generated = [l for l in generated if keep(l)]
            committed = [l for l in committed if keep(l)]
    if generated == committed:
        return 0
    sys.stdout.writelines(difflib.unified_diff(committed, generated, committed_path,
                                               generated_path))
    return 1


def main(argv):
    if len(argv) in (5, 6) and argv[1] == "render":
        if len(argv) == 6 and argv[5] not in FRONTS:
            return usage()
        render(*argv[2:])
        return 0
    if len(argv) in (4, 5) and argv[1] == "compare":
        ignore = argv[2] == "--ignore-not-installed"
        if len(argv) == 5 and not ignore:
            return usage()
        return compare(argv[-2], argv[-1], ignore)
    return usage()


def usage():
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
