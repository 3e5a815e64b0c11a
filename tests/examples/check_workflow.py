#!/usr/bin/env python3
"""Checks docs/examples/github-actions.yml by running it, as far as a machine
without GitHub can.

1. Parses it with PyYAML (exit 77 = skipped when PyYAML is missing; ci/setup.sh
   installs python3-yaml) and checks its shape: triggers, an ubuntu job,
   steps that are each `uses` or `run`.
2. Checks it agrees with docs/examples/ci-recipe.sh: the same apt packages,
   all of them in ci/setup.sh's list, and both end in `daytona-emu exec --`.
3. Runs the job against a small npm project whose `npm test` calls the API
   with fetch: `uses:` steps are emulated (the project checkout is the
   project directory; the daytona-emu checkout is `git archive HEAD` of
   --source; setup-node needs node on PATH; the cache does nothing), `run:`
   steps run as GitHub runs them (bash -eo pipefail, RUNNER_TEMP,
   GITHUB_PATH, the workflow's env) except the apt-get step, which needs
   root and a network and is only reported as skipped.
4. Makes the project's tests fail with status 3 and checks the last step
   fails with 3.

Usage: check_workflow.py --source DIR   (a git checkout of this project)
"""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WORKFLOW = os.path.join(ROOT, "docs", "examples", "github-actions.yml")
RECIPE = os.path.join(ROOT, "docs", "examples", "ci-recipe.sh")
SETUP = os.path.join(ROOT, "ci", "setup.sh")

USER_TEST = r"""
// The user's own test: list sandboxes, create one, see it listed.
const url = process.env.DAYTONA_API_URL, key = process.env.DAYTONA_API_KEY;
if (!url || !key) { console.error('DAYTONA_API_URL/KEY not set'); process.exit(1); }
const h = { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' };
(async () => {
  let r = await fetch(`${url}/sandbox`, { headers: h });
  if (r.status !== 200) throw new Error(`list: ${r.status}`);
  r = await fetch(`${url}/sandbox`, { method: 'POST', headers: h, body: '{}' });
  const sb = await r.json();
  if (r.status !== 200 || sb.state !== 'started') throw new Error(`create: ${r.status}`);
  r = await fetch(`${url}/sandbox`, { headers: h });
  const list = await r.json();
  if (list.items.length !== 1 || list.items[0].id !== sb.id) throw new Error('list after create');
  console.log('user tests: ok');
  process.exit(Number(process.env.USER_TEST_EXIT || 0));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def fail(msg):
    print(f"check_workflow: FAIL: {msg}")
    sys.exit(1)


def apt_packages(text, where):
    m = re.search(r"apt-get install -y(?: -qq)? ([^\n\"]+)", text)
    if not m:
        fail(f"no apt-get install line in {where}")
    return set(m.group(1).split())


def check_shape(wf):
    # PyYAML reads the bare key `on` as the boolean True.
    on = wf.get("on", wf.get(True))
    if not isinstance(on, dict) or "push" not in on or "pull_request" not in on:
        fail("the workflow must run on push and pull_request")
    jobs = wf.get("jobs")
    if not isinstance(jobs, dict) or len(jobs) != 1:
        fail("expected exactly one job")
    job = next(iter(jobs.values()))
    if not str(job.get("runs-on", "")).startswith("ubuntu"):
        fail("the job must run on ubuntu")
    steps = job.get("steps")
    if not isinstance(steps, list) or not steps:
        fail("the job has no steps")
    for s in steps:
        if not isinstance(s, dict) or ("uses" in s) == ("run" in s):
            fail(f"a step must have exactly one of uses/run: {s}")
    return steps


def check_agreement(steps):
    runs = "\n".join(s["run"] for s in steps if "run" in s)
    with open(RECIPE) as f:
        recipe = f.read()
    with open(SETUP) as f:
        setup = f.read()
    wf_pkgs, recipe_pkgs = apt_packages(runs, "the workflow"), apt_packages(recipe, "ci-recipe.sh")
    if wf_pkgs != recipe_pkgs:
        fail(f"apt packages differ: workflow {sorted(wf_pkgs)}, recipe {sorted(recipe_pkgs)}")
    m = re.search(r"pkgs=\(([^)]*)\)", setup)
    setup_pkgs = set(m.group(1).split()) if m else set()
    if not wf_pkgs <= setup_pkgs:
        fail(f"not in ci/setup.sh's packages: {sorted(wf_pkgs - setup_pkgs)}")
    for needle in ("--target daytona-emu daytona-emu-sandbox", "-DEMU_WERROR=OFF"):
        if needle not in runs or needle not in recipe:
            fail(f"workflow and recipe should both build with '{needle}'")
    if not steps[-1].get("run", "").startswith("daytona-emu exec -- npm test"):
        fail("the last step should be `daytona-emu exec -- npm test`")
    if 'exec "$emu" exec -- "$@"' not in recipe:
        fail("the recipe should end in daytona-emu exec -- CMD")


def make_project(d):
    with open(os.path.join(d, "package.json"), "w") as f:
        json.dump({"name": "emu-ci-example", "version": "1.0.0", "private": True,
                   "scripts": {"test": "node test.js"}}, f)
    with open(os.path.join(d, "package-lock.json"), "w") as f:
        json.dump({"name": "emu-ci-example", "version": "1.0.0", "lockfileVersion": 3,
                   "requires": True,
                   "packages": {"": {"name": "emu-ci-example", "version": "1.0.0"}}}, f)
    with open(os.path.join(d, "test.js"), "w") as f:
        f.write(USER_TEST)


def copy_checkout(source, dest):
    """actions/checkout: the committed tree (HEAD) of the repository."""
    os.makedirs(dest, exist_ok=True)
    archive = subprocess.run(["git", "-C", source, "archive", "--format=tar", "HEAD"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)


def emulate_uses(step, work, source):
    uses = step["uses"]
    with_ = step.get("with", {}) or {}
    if uses.startswith("actions/checkout@"):
        if "repository" in with_:
            dest = os.path.join(work, with_.get("path", "."))
            copy_checkout(source, dest)
            return f"git archive HEAD of {source} into {with_.get('path')}"
        return "the project directory is the checkout"
    if uses.startswith("actions/setup-node@"):
        if not shutil.which("node"):
            fail("node is not on PATH")
        return "using node from PATH"
    if uses.startswith("actions/cache@"):
        return "no cache here"
    fail(f"no emulation for {uses}")


def run_step(step, env, work, extra_path, capture=False):
    script = step["run"]
    if "${{" in script:
        fail(f"cannot evaluate an expression in run: {script!r}")
    e = dict(env)
    e["PATH"] = os.pathsep.join(extra_path + [e["PATH"]])
    p = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                       cwd=work, env=e, capture_output=capture, text=True)
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True, help="git checkout of this project")
    args = ap.parse_args()
    try:
        import yaml
    except ImportError:
        print("check_workflow: SKIPPED: PyYAML is not installed (ci/setup.sh installs python3-yaml)")
        return 77
    if subprocess.run(["git", "-C", args.source, "rev-parse", "-q", "--verify", "HEAD"],
                      capture_output=True).returncode != 0:
        print(f"check_workflow: SKIPPED: {args.source} is not a git checkout")
        return 77
    with open(WORKFLOW) as f:
        wf = yaml.safe_load(f)
    steps = check_shape(wf)
    check_agreement(steps)
    print(f"check_workflow: {len(steps)} steps parsed; matches ci-recipe.sh and ci/setup.sh")

    tmp = tempfile.mkdtemp(prefix="gha-check-")
    try:
        work = os.path.join(tmp, "workspace")
        runner_temp = os.path.join(tmp, "runner-temp")
        os.makedirs(work)
        os.makedirs(runner_temp)
        make_project(work)
        github_path = os.path.join(tmp, "github_path")
        open(github_path, "w").close()
        env = dict(os.environ)
        env.update({k: str(v) for k, v in (wf.get("env") or {}).items()})
        env.update({"RUNNER_TEMP": runner_temp, "GITHUB_PATH": github_path,
                    "GITHUB_WORKSPACE": work, "CI": "true",
                    "npm_config_update_notifier": "false", "npm_config_audit": "false",
                    "npm_config_fund": "false", "npm_config_offline": "true"})
        for k in ("DAYTONA_API_URL", "DAYTONA_API_KEY", "DAYTONA_EMU_URL", "USER_TEST_EXIT"):
            env.pop(k, None)
        last = None
        for step in steps:
            name = step.get("name", step.get("uses", "?"))
            if "uses" in step:
                print(f"-- {name}: {emulate_uses(step, work, args.source)}")
                continue
            if "apt-get" in step["run"]:
                print(f"-- {name}: SKIPPED here (needs root and the network)")
                continue
            with open(github_path) as f:
                extra_path = [l.strip() for l in f if l.strip()]
            is_last = step is steps[-1]
            print(f"-- {name}: running", flush=True)
            p = run_step(step, env, work, extra_path, capture=is_last)
            if is_last:
                sys.stdout.write(p.stdout)
                sys.stdout.write(p.stderr)
            if p.returncode != 0:
                fail(f"step '{name}' exited with {p.returncode}")
            last = (step, extra_path, p)
        step, extra_path, p = last
        if "user tests: ok" not in p.stdout:
            fail("the user's tests did not report ok")
        # A failing test suite fails the step with its status.
        env["USER_TEST_EXIT"] = "3"
        p = run_step(step, env, work, extra_path, capture=True)
        if p.returncode != 3:
            fail(f"with failing tests the last step exited {p.returncode}, not 3")
        print("check_workflow: failing user tests fail the step with their status (3)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("check_workflow: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
