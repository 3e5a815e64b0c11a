#!/usr/bin/env python3
"""parity.py - the parity table (docs/parity.json) and report (docs/PARITY.md).

The table lists every control-plane and toolbox operation that the pinned official SDK
(@daytonaio/sdk in tests/sdk-compat) calls, with: whether daytona-emu implements it, whether the
SDK compatibility suite and the contract suite exercise it, what Prism's validation against the
v0.190 OpenAPI documents found, and the known differences.

  parity.py update [--emu BIN] [--run DIR]
      Rebuild docs/parity.json and docs/PARITY.md.  The operation list comes from the SDK's
      sources, "implemented" from probing a throwaway daytona-emu (BIN, default
      build/bin/daytona-emu), the SDK-suite, contract-suite and spec columns from a
      tests/spec/run.sh output directory (DIR: both suites ran through the validating front, which
      counted every operation each one exercised).  Hand-written fields (gap, differences) are
      kept; columns without a new source keep their old values.
  parity.py render
      Write docs/PARITY.md from docs/parity.json and tests/spec/allowlist.json.
  parity.py check [--emu BIN]
      The ctest: docs/PARITY.md is what render produces; every operation is implemented or has a
      known gap (and no implemented one keeps a gap); the implemented column matches a probe of
      BIN; and, when the SDK is installed, the table lists exactly the operations the SDK calls.
  parity.py check-run DIR
      After tests/spec/run.sh: the SDK-suite and contract-suite columns match what the run
      exercised (fails), the spec column matches what Prism found (warns).

Only the Python standard library is used.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TABLE = os.path.join(ROOT, "docs", "parity.json")
REPORT = os.path.join(ROOT, "docs", "PARITY.md")
ALLOWLIST = os.path.join(ROOT, "tests", "spec", "allowlist.json")
NODE_MODULES = os.path.join(ROOT, "tests", "sdk-compat", "node_modules")
SDK_DIR = os.path.join(NODE_MODULES, "@daytonaio", "sdk")
CLIENTS = {
    "control": os.path.join(NODE_MODULES, "@daytona", "api-client", "src", "api"),
    "toolbox": os.path.join(NODE_MODULES, "@daytona", "toolbox-api-client", "src", "api"),
}
DOC_NAMES = {"control": "api-v0.190.0.yaml", "toolbox": "toolbox-v0.190.0.yaml"}
# The SDK classes whose calls count (every .js file of the SDK's cjs/ and cjs/utils/).
PARAM_RE = re.compile(r"\{[^}]*\}")


def fail(msg):
    sys.stderr.write(f"parity: {msg}\n")
    sys.exit(1)


def norm(path):
    """A path with every {param} written as {} (templates from different sources compare equal)."""
    return PARAM_RE.sub("{}", path)


def key(op):
    return (op["api"], op["method"], norm(op["path"]))


# ---------------------------------------------------------------- the SDK's operations


def client_methods(api):
    """{ClassName: {method: (HTTP method, path)}} from the generated axios clients."""
    out = {}
    for name in sorted(os.listdir(CLIENTS[api])):
        if not name.endswith(".js"):
            continue
        text = open(os.path.join(CLIENTS[api], name), encoding="utf-8").read()
        m = re.search(r"const (\w+)AxiosParamCreator = function", text)
        if not m:
            continue
        cls = m.group(1)
        start = m.end()
        end = text.find(f"exports.{cls}AxiosParamCreator", start)
        body = text[start:end if end > 0 else len(text)]
        methods = {}
        for mm in re.finditer(r"\n        (\w+): async \(", body):
            chunk = body[mm.end():]
            nxt = re.search(r"\n        \w+: async \(", chunk)
            chunk = chunk[: nxt.start()] if nxt else chunk
            p = re.search(r"const localVarPath = `([^`]*)`", chunk)
            v = re.search(r"method: '(\w+)'", chunk)
            if p and v:
                methods[mm.group(1)] = (v.group(1).upper(), p.group(1))
        out[cls] = methods
    return out


def sdk_files():
    cjs = os.path.join(SDK_DIR, "cjs")
    for d in (cjs, os.path.join(cjs, "utils")):
        for name in sorted(os.listdir(d)):
            if name.endswith(".js"):
                yield os.path.relpath(os.path.join(d, name), cjs), open(os.path.join(d, name), encoding="utf-8").read()


def sdk_operations():
    """Every operation an SDK class calls: generated-client calls and hand-built URLs."""
    if not os.path.isdir(SDK_DIR):
        return None
    classes = {api: client_methods(api) for api in CLIENTS}
    files = dict(sdk_files())
    # Which API classes each SDK file can reach: those it constructs, and those handed to a class
    # of another file (new FileSystem_1.FileSystem(cfg, new toolbox_api_client_1.FileSystemApi(...))).
    reach = {f: set() for f in files}
    for f, text in files.items():
        for m in re.finditer(r"new (?:toolbox_)?api_client_1\.(\w+Api)\(", text):
            reach[f].add(m.group(1))
        for m in re.finditer(r"new (\w+)_1\.\w+\(([^;]*?)new (?:toolbox_)?api_client_1\.(\w+Api)\(", text):
            target = m.group(1) + ".js"
            if target in reach:
                reach[target].add(m.group(3))
    # ... and those handed over in a variable: new Sandbox_1.Sandbox(..., this.sandboxApi, ...) where
    # this file assigned this.sandboxApi = new api_client_1.SandboxApi(...).
    for f, text in files.items():
        names = {m.group(1): m.group(2) for m in
                 re.finditer(r"(?:this\.)?(\w+) = new (?:toolbox_)?api_client_1\.(\w+Api)\(", text)}
        for m in re.finditer(r"new (\w+)_1\.\w+\(([^;]*)\)", text):
            target = m.group(1) + ".js"
            if target not in reach:
                continue
            for ident in re.findall(r"\b(\w+Api)\b", m.group(2)):
                if ident in names:
                    reach[target].add(names[ident])
    ops = {}

    def add(api, method, path, client, caller, transport):
        op = {"api": api, "method": method, "path": path, "client": client, "transport": transport}
        k = key(op)
        have = ops.setdefault(k, op)
        if have["transport"] != transport:
            have["transport"] = "http+websocket"
        have.setdefault("callers", [])
        if caller not in have["callers"]:
            have["callers"].append(caller)

    for f, text in files.items():
        for m in re.finditer(r"\b\w*(?:[aA]pi|apiClient)\w*\)?\s*\.(\w+)\(", text):
            name = m.group(1)
            for api in CLIENTS:
                for cls in sorted(reach[f]):
                    meth = classes[api].get(cls, {}).get(name)
                    if meth:
                        add(api, meth[0], meth[1], f"{cls}.{name}", f, "http")
        # WebSocket URLs built by hand from the toolbox base path.
        for m in re.finditer(r"`\$\{this\.clientConfig\.basePath\.replace\(/\^http/, 'ws'\)\}(/[^`?]*)", text):
            path = re.sub(r"\$\{(\w+)\}", r"{\1}", m.group(1))
            add("toolbox", "GET", path, "(WebSocket)", f, "websocket")
        if "socket.io/" in text and "socket_io_client" in text:
            add("control", "GET", "/socket.io/", "(socket.io event channel)", f, "websocket")
    for op in ops.values():
        op["callers"].sort()
    return sorted(ops.values(), key=lambda o: (o["api"], o["path"], o["method"]))


# ---------------------------------------------------------------- the OpenAPI documents


def openapi_dir():
    for d in (os.environ.get("SPEC_OPENAPI_DIR"),
              os.path.join(ROOT, "..", "shared", "reference", "daytona-openapi"),
              "/work/shared/reference/daytona-openapi"):
        if d and os.path.isdir(d):
            return d
    return None


def spec_operations(api):
    """{(METHOD, normalized path): path} read from the YAML by its fixed layout (no YAML library)."""
    d = openapi_dir()
    if not d:
        return None
    out = {}
    path = None
    in_paths = False
    for line in open(os.path.join(d, DOC_NAMES[api]), encoding="utf-8"):
        if line.startswith("paths:"):
            in_paths = True
            continue
        if in_paths and line and not line.startswith(" "):
            break
        m = re.match(r"^  (/\S*):\s*$", line)
        if in_paths and m:
            path = m.group(1)
            continue
        m = re.match(r"^    (get|put|post|delete|patch|head|options):\s*$", line)
        if in_paths and path and m:
            out[(m.group(1).upper(), norm(path))] = path
    return out


# ---------------------------------------------------------------- probing daytona-emu


def http(method, url, headers=None, body=None, timeout=10):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def probe(emu_bin, ops):
    """{key: bool}: whether daytona-emu routes each operation.

    A route the emulator lacks answers 404 "Cannot METHOD /api/..." (control plane, Nest's text) or
    404 "404 page not found" (toolbox, gin's text); anything else means a handler ran.  Control-plane
    ids name a sandbox that does not exist, so no probe changes anything; toolbox probes go to a
    throwaway started sandbox with empty bodies.
    """
    if not os.access(emu_bin, os.X_OK):
        fail(f"no daytona-emu at {emu_bin} (build it, or pass --emu)")
    tmp = tempfile.mkdtemp(prefix="parity-")
    pf = os.path.join(tmp, "port")
    proc = subprocess.Popen([emu_bin, "--port", "0", "--port-file", pf, "--data-dir", ":memory:",
                             "--api-key", "parity-key", "--log-level", "error"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)
    try:
        deadline = time.time() + 20
        port = 0
        while time.time() < deadline and not port:
            try:
                port = int(open(pf).read().strip() or 0)
            except (OSError, ValueError):
                time.sleep(0.05)
        if not port:
            fail("daytona-emu wrote no port file within 20 s")
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": "Bearer parity-key"}
        st, body = http("POST", base + "/api/sandbox", dict(auth, **{"Content-Type": "application/json"}), b"{}")
        if st != 200:
            fail(f"probe: creating a sandbox gave {st}: {body[:200]}")
        sb = json.loads(body)
        toolbox = sb["toolboxProxyUrl"].rstrip("/") + "/" + sb["id"]
        result = {}
        for op in ops:
            path = PARAM_RE.sub("parity-probe", op["path"])
            url = (base + "/api" + path) if op["api"] == "control" else (toolbox + path)
            st, body = http(op["method"], url, dict(auth))
            missing = st == 404 and (body.strip() == "404 page not found" or
                                     f'"Cannot {op["method"]} ' in body)
            result[key(op)] = not missing
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)


# ---------------------------------------------------------------- a spec run's results


def segment_matches(table_seg, seg):
    """A literal segment matches itself or a parameter; a parameter ({x}) only a parameter."""
    if PARAM_RE.fullmatch(seg):
        return bool(PARAM_RE.fullmatch(table_seg))
    return seg == table_seg or bool(PARAM_RE.fullmatch(table_seg))


def template_match(ops, api, method, path):
    """The table operation a concrete or templated path belongs to (most literal segments wins)."""
    best, best_lit = None, -1
    segs = path.rstrip("/").split("/") if path != "/" else [""]
    for op in ops:
        if op["api"] != api or op["method"] != method:
            continue
        t = op["path"].rstrip("/").split("/") if op["path"] != "/" else [""]
        if len(t) != len(segs):
            continue
        if all(segment_matches(a, b) for a, b in zip(t, segs)):
            lit = sum(1 for a in t if not PARAM_RE.fullmatch(a))
            if lit > best_lit:
                best, best_lit = op, lit
    return best


def run_columns(ops, run_dir):
    """{key: {sdkSuite, contractSuite?, spec}} from a tests/spec/run.sh output directory.

    coverage.json counts each operation's requests per suite; violations.json holds what Prism
    found (all of it allowlisted when the run passed); run.json names the suites that ran, so a
    run without the contract suite leaves that column alone.
    """
    cov = json.load(open(os.path.join(run_dir, "coverage.json"), encoding="utf-8"))
    vio = json.load(open(os.path.join(run_dir, "violations.json"), encoding="utf-8"))
    suites = json.load(open(os.path.join(run_dir, "run.json"), encoding="utf-8"))["suites"]
    seen = {}
    validated, violated = set(), set()

    def find(spec, operation):
        method, path = operation.split(" ")[:2]
        return template_match(ops, spec, method, path)

    for c in cov:
        op = find(c["spec"], c["operation"])
        if not op:
            continue
        k = key(op)
        for suite in c.get("suites", {}):
            seen.setdefault(k, set()).add(suite)
        if c["validated"]:
            validated.add(k)
    for v in vio:
        op = find(v["spec"], v["operation"])
        if op:
            violated.add(key(op))
    out = {}
    for op in ops:
        k = key(op)
        col = {"sdkSuite": "yes" if "sdk" in seen.get(k, ()) else "no"}
        if "contract" in suites:
            col["contractSuite"] = "yes" if "contract" in seen.get(k, ()) else "no"
        if k not in seen:
            col["spec"] = "not exercised"
        elif not op.get("specPath"):
            col["spec"] = "not in the v0.190 document"
        elif k not in validated:
            col["spec"] = "not validated (WebSocket)" if "websocket" in op["transport"] else "not validated"
        elif k in violated:
            col["spec"] = "allowlisted differences"
        else:
            col["spec"] = "conforms"
        out[k] = col
    return out


# ---------------------------------------------------------------- the report


def load_table():
    if not os.path.exists(TABLE):
        return {"operations": []}
    return json.load(open(TABLE, encoding="utf-8"))


def md_escape(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def render(table, allow):
    ops = table["operations"]
    lines = [
        "# Parity: daytona-emu and the official SDK",
        "",
        "<!-- Generated by tools/parity/parity.py from docs/parity.json and tests/spec/allowlist.json;",
        "     do not edit (ctest test `parity_report` fails when this file is stale). -->",
        "",
        f"Every control-plane and toolbox operation that **{table.get('sdk', '@daytonaio/sdk')}** calls "
        "(derived from the SDK's own classes and its generated API clients), and how daytona-emu "
        "stands on each.",
        "",
        "- **Emulated**: daytona-emu routes the operation (probed against the built emulator), "
        "otherwise the known gap and why.",
        "- **SDK suite** / **Contract suite**: the operation is exercised by `tests/sdk-compat` / "
        "`tests/contract` against the emulator (both suites run through the validating front of "
        "`tests/spec/run.sh`, which counts the operations each one reaches).",
        "- **Spec**: what Prism found when the SDK suite's exchanges were validated against "
        f"`{DOC_NAMES['control']}` / `{DOC_NAMES['toolbox']}` (see `tests/spec/README.md`); "
        "`allowlisted differences` are listed below the table with their reasons.",
        "",
    ]
    counts = {
        "total": len(ops),
        "implemented": sum(1 for o in ops if o["implemented"]),
        "gaps": sum(1 for o in ops if not o["implemented"]),
        "suite": sum(1 for o in ops if o.get("sdkSuite") == "yes"),
        "conforms": sum(1 for o in ops if o.get("spec") == "conforms"),
        "allowlisted": sum(1 for o in ops if o.get("spec") == "allowlisted differences"),
    }
    lines += [
        f"**{counts['total']}** operations: **{counts['implemented']}** emulated, **{counts['gaps']}** known gaps; "
        f"**{counts['suite']}** exercised by the SDK suite, of which **{counts['conforms']}** conform to the "
        f"document and **{counts['allowlisted']}** differ only in reviewed, allowlisted ways.",
        "",
    ]
    for api, title in (("control", "Control plane (`/api`)"), ("toolbox", "Toolbox (`toolboxProxyUrl/{sandboxId}`)")):
        lines += [f"## {title}", "",
                  "| Operation | SDK client call | Emulated | SDK suite | Contract suite | Spec | Known differences |",
                  "|---|---|---|---|---|---|---|"]
        for o in ops:
            if o["api"] != api:
                continue
            ws = " (WebSocket)" if o["transport"] == "websocket" else ""
            emu = "yes" if o["implemented"] else f"**gap**: {o.get('gap', '')}"
            lines.append("| `{} {}`{} | {} | {} | {} | {} | {} | {} |".format(
                o["method"], o["path"], ws, md_escape(o["client"]), md_escape(emu),
                o.get("sdkSuite", "unknown"), o.get("contractSuite", "unknown"),
                o.get("spec", "unknown"), md_escape(o.get("differences", ""))))
        lines.append("")
    lines += ["## Allowlisted spec violations", "",
              "Violations Prism reports for the SDK suite's exchanges that were reviewed and accepted "
              "(`tests/spec/allowlist.json`); any other violation fails `tests/spec/run.sh`.", "",
              "| API | Operation | Violation (regular expression) | Reason |", "|---|---|---|---|"]
    for e in allow.get("entries", []):
        lines.append("| {} | `{}` | `{}` | {} |".format(
            e["spec"], md_escape(e["operation"]), md_escape(e["violation"]), md_escape(e["reason"])))
    lines.append("")
    return "\n".join(lines)


def load_allow():
    if not os.path.exists(ALLOWLIST):
        return {"entries": []}
    return json.load(open(ALLOWLIST, encoding="utf-8"))


def write_table(table):
    with open(TABLE, "w", encoding="utf-8") as f:
        json.dump(table, f, indent=2, sort_keys=False)
        f.write("\n")


# ---------------------------------------------------------------- commands


def default_emu():
    return os.environ.get("EMU_BIN") or os.path.join(ROOT, "build", "bin", "daytona-emu")


def sdk_version():
    try:
        return json.load(open(os.path.join(SDK_DIR, "package.json"), encoding="utf-8"))["version"]
    except OSError:
        return None


def cmd_update(args):
    old = {key(o): o for o in load_table()["operations"]}
    ops = sdk_operations()
    if ops is None:
        fail(f"the SDK is not installed under {NODE_MODULES} (run ci/setup.sh)")
    for api in CLIENTS:
        spec = spec_operations(api)
        if spec is None:
            fail("the OpenAPI documents are not found (set SPEC_OPENAPI_DIR)")
        for o in ops:
            if o["api"] == api:
                o["specPath"] = spec.get((o["method"], norm(o["path"])))
    impl = probe(args.emu or default_emu(), ops)
    runcols = run_columns(ops, args.run) if args.run else {}
    table_ops = []
    for o in ops:
        k = key(o)
        prev = old.get(k, {})
        row = {
            "api": o["api"], "method": o["method"], "path": o["path"], "transport": o["transport"],
            "client": o["client"], "callers": o["callers"], "specPath": o["specPath"],
            "implemented": impl[k],
            "gap": prev.get("gap", "") if not impl[k] else "",
            "sdkSuite": runcols.get(k, {}).get("sdkSuite", prev.get("sdkSuite", "unknown")),
            "contractSuite": runcols.get(k, {}).get("contractSuite", prev.get("contractSuite", "unknown")),
            "spec": runcols.get(k, {}).get("spec", prev.get("spec", "unknown")),
            "differences": prev.get("differences", ""),
        }
        table_ops.append(row)
    table = {"sdk": f"@daytonaio/sdk {sdk_version()}", "documents": DOC_NAMES, "operations": table_ops}
    write_table(table)
    with open(REPORT, "w", encoding="utf-8") as f:
        f.write(render(table, load_allow()))
    missing = [o for o in table_ops if not o["implemented"] and not o["gap"]]
    print(f"parity: {len(table_ops)} operations written to {os.path.relpath(TABLE, ROOT)} and "
          f"{os.path.relpath(REPORT, ROOT)}")
    for o in missing:
        print(f"parity: write a gap reason for {o['api']} {o['method']} {o['path']} (not emulated)")
    return 0


def cmd_render(_args):
    with open(REPORT, "w", encoding="utf-8") as f:
        f.write(render(load_table(), load_allow()))
    return 0


def cmd_check(args):
    table = load_table()
    ops = table["operations"]
    errors = []
    if not ops:
        errors.append(f"{os.path.relpath(TABLE, ROOT)} lists no operations")
    want = render(table, load_allow())
    have = open(REPORT, encoding="utf-8").read() if os.path.exists(REPORT) else ""
    if want != have:
        errors.append("docs/PARITY.md is stale: run `python3 tools/parity/parity.py render` and commit it")
    for o in ops:
        name = f"{o['api']} {o['method']} {o['path']}"
        if not o["implemented"] and not o.get("gap", "").strip():
            errors.append(f"{name}: the SDK calls it, daytona-emu does not implement it, and no known gap says why")
        if o["implemented"] and o.get("gap"):
            errors.append(f"{name}: implemented now; remove its gap text")
    impl = probe(args.emu or default_emu(), ops)
    for o in ops:
        if impl[key(o)] != o["implemented"]:
            errors.append(f"{o['api']} {o['method']} {o['path']}: the table says implemented={o['implemented']}, "
                          f"the emulator says {impl[key(o)]} (run parity.py update)")
    sdk = sdk_operations()
    if sdk is None:
        print(f"parity: SDK not installed under {NODE_MODULES}; skipped the SDK operation list check")
    else:
        if table.get("sdk") != f"@daytonaio/sdk {sdk_version()}":
            errors.append(f"the table was made for {table.get('sdk')}, the installed SDK is {sdk_version()}")
        a = {key(o) for o in sdk}
        b = {key(o) for o in ops}
        for k in sorted(a - b):
            errors.append(f"the SDK calls {' '.join(k)}, which the table does not list (run parity.py update)")
        for k in sorted(b - a):
            errors.append(f"the table lists {' '.join(k)}, which the SDK no longer calls (run parity.py update)")
    for e in errors:
        print(f"parity: FAIL {e}")
    print(f"parity: {len(ops)} operations, {sum(1 for o in ops if o['implemented'])} implemented, "
          f"{sum(1 for o in ops if not o['implemented'])} known gaps: {'FAILED' if errors else 'OK'}")
    return 1 if errors else 0


def cmd_check_run(args):
    ops = load_table()["operations"]
    cols = run_columns(ops, args.run)
    status = 0
    for o in ops:
        name = f"{o['api']} {o['method']} {o['path']}"
        for col, fatal in (("sdkSuite", True), ("contractSuite", True), ("spec", False)):
            got = cols[key(o)].get(col)
            if got is None or got == o.get(col):
                continue
            if fatal:
                print(f"parity: FAIL {name}: {col} column says '{o.get(col)}', this run: '{got}'")
                status = 1
            else:
                print(f"parity: warning: {name}: {col} column says '{o.get(col)}', this run: '{got}'")
    if status:
        print("parity: docs/parity.json is stale: run `python3 tools/parity/parity.py update --run DIR` "
              "with this run's output directory and commit docs/parity.json and docs/PARITY.md")
    else:
        print("parity: the suites' coverage in docs/parity.json matches this run")
    return status


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("update")
    u.add_argument("--emu")
    u.add_argument("--run")
    sub.add_parser("render")
    c = sub.add_parser("check")
    c.add_argument("--emu")
    r = sub.add_parser("check-run")
    r.add_argument("run")
    args = ap.parse_args()
    return {"update": cmd_update, "render": cmd_render, "check": cmd_check, "check-run": cmd_check_run}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
