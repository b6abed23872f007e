#!/usr/bin/env python3
"""Re-runs the mutation table of loom-tests/README.md.

Each mutant in `loom-tests/mutants.toml` is one edit to a primitive (a
weakened ordering, a removed fence, a skipped check), applied alone to a
copy of the working tree. For each mutant, in this order, until something
fails:

1. the loom test targets named by the mutant (`loom = [...]`, by default the
   model file of the primitive it edits), every model run, at the CI bound;
2. the rest of the loom suite;
3. the stress tests it names (`stress = [...]`), in release mode.

A failing or timed-out test "catches" the mutant. Each mutant says what it
expects: `caught`; `equivalent`, with a one-line argument (`why`) that the
change is invisible under the C++ memory model (or harmless by design); or
`undetectable`, with the reason no available checker can see a change that
is a real bug (for instance one that needs a thread to run between a store
and the fence right after it, where loom 0.7 never schedules). The
run ends with a markdown table and exits non-zero when an expectation is
wrong: a survivor expected to be caught (a model lost its teeth), or an
"equivalent" mutant that something catches (the argument is wrong).

Usage (from the repository root; needs Python 3.11+ and cargo):

    python3 loom-tests/mutants.py                 # every mutant
    python3 loom-tests/mutants.py deque-push-top  # ids starting with these
    python3 loom-tests/mutants.py --list          # the list, no runs
    python3 loom-tests/mutants.py --check         # each `find` occurs once, no runs

The copy lives in `$MUTANTS_DIR/tree` (default `/tmp/corepool-mutants`)
with its own target directory, so rebuilds are incremental across mutants
and runs; results go to `$MUTANTS_DIR/results.md` as well as stdout.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Outside the repository: a copy inside it would sit in the workspace of the
# repository's own Cargo.toml, which cargo refuses.
WORK = Path(os.environ.get("MUTANTS_DIR", "/tmp/corepool-mutants"))
TREE = WORK / "tree"

# The loom targets, cheapest first (the order the fallback runs them in).
LOOM_TARGETS = [
    "loom_split",
    "loom_pool",
    "loom_buckets",
    "loom_deque",
    "loom_sleep",
    "loom_ring",
]
# The model file that exercises each primitive first.
DEFAULT_LOOM = {
    "deque.rs": ["loom_deque"],
    "ring.rs": ["loom_ring", "loom_buckets"],
    "buckets.rs": ["loom_buckets"],
    "sleep.rs": ["loom_sleep"],
    "gate.rs": ["loom_pool"],
    "results.rs": ["loom_ring"],
    "split.rs": ["loom_split"],
}

LOOM_TIMEOUT = 900
STRESS_TIMEOUT = 600


def load_mutants():
    with open(ROOT / "loom-tests" / "mutants.toml", "rb") as f:
        data = tomllib.load(f)
    mutants = data["mutant"]
    ids = set()
    for m in mutants:
        for key in ("id", "file", "find", "replace", "what", "expect"):
            if key not in m:
                sys.exit(f"mutant {m.get('id', '?')}: missing `{key}`")
        if m["id"] in ids:
            sys.exit(f"duplicate mutant id {m['id']}")
        ids.add(m["id"])
        if m["expect"] not in ("caught", "equivalent", "undetectable"):
            sys.exit(f"mutant {m['id']}: expect is `caught`, `equivalent` or `undetectable`")
        if m["expect"] != "caught" and "why" not in m:
            sys.exit(f"mutant {m['id']}: a survivor needs `why`")
    return mutants


def check(mutants):
    """Checks, without cargo, that each mutant still applies to the working
    tree: `find` occurs exactly once in `file` and `replace` differs from it.
    Prints the offenders; returns the exit status."""
    bad = []
    for m in mutants:
        try:
            text = (ROOT / m["file"]).read_text()
        except OSError as e:
            bad.append(f"{m['id']}: cannot read {m['file']}: {e}")
            continue
        count = text.count(m["find"])
        if count != 1:
            bad.append(f"{m['id']}: `find` occurs {count} times in {m['file']} (it must occur exactly once)")
        if m["replace"] == m["find"]:
            bad.append(f"{m['id']}: `replace` is the same as `find`")
    for line in bad:
        print(line)
    if bad:
        print(f"{len(bad)} problem(s) in {len(mutants)} mutants")
        return 1
    print(f"{len(mutants)} mutants: each `find` occurs once, each `replace` differs")
    return 0


def sync_tree():
    """Copies the tracked and untracked-but-not-ignored files into TREE."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for rel in files:
        if not rel:
            continue
        rel = rel.decode()
        src, dst = ROOT / rel, TREE / rel
        if not src.is_file():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        # Copy only what changed, so cargo's fingerprints stay valid.
        if not dst.exists() or dst.read_bytes() != src.read_bytes():
            shutil.copyfile(src, dst)


def apply(m):
    """Writes the mutated file into TREE; returns the original text."""
    path = TREE / m["file"]
    text = (ROOT / m["file"]).read_text()
    count = text.count(m["find"])
    if count != 1:
        raise SystemExit(
            f"mutant {m['id']}: `find` occurs {count} times in {m['file']} "
            "(it must occur exactly once; add context)"
        )
    path.write_text(text.replace(m["find"], m["replace"]))
    return text


def restore(m, text):
    (TREE / m["file"]).write_text(text)


FAILED = re.compile(r"^test (\S+) \.\.\. FAILED", re.M)
# A model that aborts the binary (a panic while unwinding) never gets its
# FAILED line: take the panicking test thread's name instead.
PANICKED = re.compile(r"^thread '([^']+)' \(\d+\) panicked", re.M)


def cargo_test(args, timeout, env_extra=None):
    """Runs `cargo test` in TREE; returns (failed test names, status)."""
    env = dict(os.environ)
    env.pop("LOOM_MAX_PREEMPTIONS", None)  # the CI bound: the helper's default
    env["CARGO_TARGET_DIR"] = str(TREE / "target")
    env.update(env_extra or {})
    try:
        out = subprocess.run(
            ["cargo", "test", "--no-fail-fast", *args],
            cwd=TREE,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return ["(timed out: a hang)"], "timeout"
    text = out.stdout + out.stderr
    if out.returncode != 0 and "error[E" in text:
        raise SystemExit(f"the mutant does not compile:\n{text[-3000:]}")
    names = []
    for name in FAILED.findall(text) + PANICKED.findall(text):
        if name != "main" and name not in names:
            names.append(name)
    if out.returncode != 0 and not names:
        # No test failed, yet cargo did: a tool error (a build or manifest
        # problem), not a catch.
        raise SystemExit(f"cargo failed without a failing test:\n{text[-3000:]}")
    return names, ("fail" if out.returncode else "pass")


def run_one(m):
    name = Path(m["file"]).name
    own = m.get("loom", DEFAULT_LOOM.get(name, []))
    rest = [t for t in LOOM_TARGETS if t not in own]
    stages = [("loom", own), ("loom", rest)]
    stages.append(("stress", m.get("stress", [])))
    for kind, targets in stages:
        if not targets:
            continue
        args = [a for t in targets for a in ("--test", t)]
        if kind == "loom":
            failed, status = cargo_test(["--features", "loom", *args], LOOM_TIMEOUT)
        else:
            failed, status = cargo_test(["--release", *args], STRESS_TIMEOUT)
        if status != "pass":
            return failed or [f"({kind} run failed: {status})"]
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ids", nargs="*", help="run only mutants whose id starts with one of these")
    ap.add_argument("--list", action="store_true", help="print the mutants and exit")
    ap.add_argument(
        "--check",
        action="store_true",
        help="only check that each `find` occurs exactly once and each `replace` differs (no cargo)",
    )
    opts = ap.parse_args()

    mutants = load_mutants()
    if opts.ids:
        mutants = [m for m in mutants if any(m["id"].startswith(p) for p in opts.ids)]
    if opts.list:
        for m in mutants:
            print(f"{m['id']:40} {m['expect']:10} {m['what']}")
        return 0
    if opts.check:
        return check(mutants)

    WORK.mkdir(parents=True, exist_ok=True)
    sync_tree()
    # Build the unmutated tree once and check it is green, so a failure
    # below is the mutant's.
    print("baseline: building and running the loom suite", flush=True)
    args = [a for t in LOOM_TARGETS for a in ("--test", t)]
    failed, status = cargo_test(["--features", "loom", *args], LOOM_TIMEOUT)
    if status != "pass":
        sys.exit(f"the unmutated loom suite fails: {failed}")

    rows, wrong = [], []
    for m in mutants:
        start = time.monotonic()
        original = apply(m)
        try:
            caught = run_one(m)
        finally:
            restore(m, original)
        took = time.monotonic() - start
        verdict = "caught" if caught else "survived"
        ok = (verdict == "caught") == (m["expect"] == "caught")
        if not ok:
            wrong.append(m["id"])
        by = ", ".join(f"`{t}`" for t in caught[:4]) + (" ..." if len(caught) > 4 else "")
        print(f"{m['id']:40} {verdict:9} {took:5.0f} s  {by}", flush=True)
        if caught:
            note = by
        elif m["expect"] == "undetectable":
            note = f"survives, a real bug no checker here can see: {m['why']}"
        else:
            note = f"survives: {m.get('why', '**expected to be caught**')}"
        rows.append(f"| `{m['id']}` | {m['what']} | {note} |")

    table = "| mutant | change | caught by |\n|---|---|---|\n" + "\n".join(rows) + "\n"
    (WORK / "results.md").write_text(table)
    print()
    print(table)
    if wrong:
        print(f"expectation wrong for: {', '.join(wrong)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
