#!/usr/bin/env python3
"""tests/mutate/run.py: the mutation tester (issue 17). Each mutant of tests/mutate/mutants.txt
is one exact edit of a check that guards a promise of README; the tests it names must fail
once the edit is made, else the promise is untested.

The source tree (git's tracked and untracked, not ignored, files) is copied to
build-mutate/tree/, built there once (release, -O1, no sanitizers: a mutant is judged by the
tests, not by ASan), and then, for each mutant in turn: the snippet is replaced in the copy,
the binaries its tests need are rebuilt incrementally in build-mutate/build/, the named tests
run with `ctest -R '^(...)$'`, and the file is restored. Before the first mutant the
unmutated tree must pass every named test (a red baseline would "kill" everything).

Per mutant it prints KILLED (a named test failed or timed out), SURVIVED (all passed) or
BROKEN (the mutant does not compile); then a summary line. The exit status is 1 when a
mutant survived or was broken, 2 when the list or the baseline is wrong, 0 otherwise.

    tests/mutate/run.py                 every mutant (make mutate)
    tests/mutate/run.py auth-          the mutants whose id starts with "auth-"
    tests/mutate/run.py --list          ids, files and tests, without building
    tests/mutate/run.py --no-baseline   skip the unmutated run (when it passed just before)

Build logs and test output of each mutant are kept in build-mutate/logs/<id>.log."""

import argparse
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIST = os.path.join(ROOT, "tests", "mutate", "mutants.txt")


class Mutant:
    def __init__(self, ident, line):
        self.id = ident
        self.line = line
        self.file = None
        self.tests = []
        self.equivalent = None
        self.original = None
        self.replacement = None


def parse(path):
    """Reads the list: blocks of `[id]`, `file:`, `tests:`, optional `equivalent:`, then the
    original between `<<<` and `===` and the replacement between `===` and `>>>`, verbatim."""
    mutants = []
    cur = None
    mode = None
    block = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for no, line in enumerate(lines, 1):
        if mode in ("orig", "repl"):
            if line == "===" and mode == "orig":
                cur.original = "\n".join(block)
                block, mode = [], "repl"
            elif line == ">>>" and mode == "repl":
                cur.replacement = "\n".join(block)
                block, mode = [], None
            else:
                block.append(line)
            continue
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        m = re.fullmatch(r"\[([a-z0-9][a-z0-9.-]*)\]", s)
        if m:
            cur = Mutant(m.group(1), no)
            mutants.append(cur)
            continue
        if cur is None:
            sys.exit("%s:%d: text before the first [id]" % (path, no))
        if s == "<<<":
            if cur.original is not None:
                sys.exit("%s:%d: [%s] has two edits" % (path, no, cur.id))
            mode, block = "orig", []
            continue
        key, sep, val = s.partition(":")
        if not sep:
            sys.exit("%s:%d: expected `key: value`, `<<<` or `[id]`: %r" % (path, no, s))
        key, val = key.strip(), val.strip()
        if key == "file":
            cur.file = val
        elif key == "tests":
            cur.tests = val.split()
        elif key == "equivalent":
            cur.equivalent = val
        elif key == "why":
            pass
        else:
            sys.exit("%s:%d: unknown key %r" % (path, no, key))
    if mode is not None:
        sys.exit("%s: [%s] edit not closed by >>>" % (path, cur.id))
    seen = set()
    for m in mutants:
        where = "%s:%d: [%s]" % (path, m.line, m.id)
        if m.id in seen:
            sys.exit("%s: duplicate id" % where)
        seen.add(m.id)
        if not m.file or m.original is None or m.replacement is None:
            sys.exit("%s: needs file:, and an edit <<< === >>>" % where)
        if not m.tests:
            sys.exit("%s: names no test" % where)
        if m.original == m.replacement:
            sys.exit("%s: the replacement is the original" % where)
    return mutants


def check_snippets(mutants, tree):
    """Every original must occur exactly once in its file, or the list is stale: fail loudly."""
    bad = []
    for m in mutants:
        path = os.path.join(tree, m.file)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            bad.append("[%s] %s: %s" % (m.id, m.file, e))
            continue
        n = text.count(m.original)
        if n != 1:
            bad.append("[%s] %s: the original occurs %d times (must be exactly once):\n%s"
                       % (m.id, m.file, n, m.original))
    if bad:
        sys.exit("mutate: stale mutant list:\n" + "\n".join(bad))


def sync_tree(dst):
    """Copies git's tracked and untracked (not ignored) files to dst, writing only those whose
    bytes differ, so the scratch build stays incremental from one run to the next."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                         check=True, capture_output=True).stdout
    for rel in filter(None, out.decode().split("\0")):
        src = os.path.join(ROOT, rel)
        if not os.path.isfile(src):
            continue  # deleted but still tracked
        with open(src, "rb") as f:
            data = f.read()
        path = os.path.join(dst, rel)
        try:
            with open(path, "rb") as f:
                if f.read() == data:
                    continue
        except OSError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, os.stat(src).st_mode & 0o777)


def write(path, text):
    # a fresh mtime on every write: the build must see both the mutant and the restore
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def run(cmd, log, timeout=None, cwd=None):
    log.write("$ %s\n" % " ".join(cmd))
    log.flush()
    try:
        return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                              timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        log.write("timed out after %ss\n" % timeout)
        return 124


def targets_for(tests):
    """The build targets the tests need: the server and CLI for integration tests, the test's
    own binary for unit and fuzz tests (ctest name = target name)."""
    t = {"almanacd", "almanac"}
    for name in tests:
        is_fuzz = re.fullmatch(r"fuzz_[a-z0-9_]+", name) and not name.endswith("_smoke")
        if name.startswith("unit_") or is_fuzz:
            t.add(name)
    return sorted(t)


def build(bdir, tests, jobs, log):
    return run(["cmake", "--build", bdir, "-j%d" % jobs, "--target", *targets_for(tests)],
               log) == 0


def ctest(bdir, tests, jobs, timeout, log):
    regex = "^(%s)$" % "|".join(re.escape(t) for t in sorted(set(tests)))
    return run(["ctest", "-R", regex, "-j%d" % jobs, "--timeout", str(timeout),
                "--no-tests=error", "--stop-on-failure", "--output-on-failure"],
               log, cwd=bdir, timeout=timeout * (len(tests) + 1)) == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("prefix", nargs="*", help="run only mutants whose id starts with one of these")
    ap.add_argument("--list", action="store_true", help="print the mutants and exit")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    ap.add_argument("--dir", default=os.path.join(ROOT, "build-mutate"), help="scratch directory")
    ap.add_argument("--jobs", type=int, default=2, help="build jobs (default 2)")
    ap.add_argument("--test-jobs", type=int, default=1,
                    help="ctest jobs (default 1: timing tests flake less alone)")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per test (default 300)")
    args = ap.parse_args()

    mutants = parse(LIST)
    check_snippets(mutants, ROOT)
    if args.prefix:
        mutants = [m for m in mutants if any(m.id.startswith(p) for p in args.prefix)]
        if not mutants:
            sys.exit("mutate: no mutant id starts with %s" % " or ".join(args.prefix))
    if args.list:
        for m in mutants:
            print("%-32s %-28s %s%s" % (m.id, m.file, " ".join(m.tests),
                                         "  (equivalent)" if m.equivalent else ""))
        return 0
    live = [m for m in mutants if not m.equivalent]

    tree = os.path.join(args.dir, "tree")
    bdir = os.path.join(args.dir, "build")
    logs = os.path.join(args.dir, "logs")
    os.makedirs(tree, exist_ok=True)
    os.makedirs(logs, exist_ok=True)
    t0 = time.time()
    sync_tree(tree)
    check_snippets(live, tree)
    all_tests = sorted({t for m in live for t in m.tests})
    with open(os.path.join(logs, "baseline.log"), "w") as log:
        # configured every run: a test file added since the last run is a new target
        if run(["cmake", "-S", tree, "-B", bdir, "-DCMAKE_BUILD_TYPE=Release",
                "-DCMAKE_C_FLAGS_RELEASE=-O1", "-DALMANAC_SANITIZE=OFF",
                "-DALMANAC_WERROR=OFF"], log) != 0:
            sys.exit("mutate: cmake failed, see %s" % log.name)
        if not build(bdir, all_tests, args.jobs, log):
            sys.exit("mutate: the unmutated tree does not build, see %s" % log.name)
        listed = subprocess.run(["ctest", "-N"], cwd=bdir, capture_output=True, text=True).stdout
        known = set(re.findall(r"Test +#\d+: (\S+)", listed))
        unknown = sorted(set(all_tests) - known)
        if unknown:
            sys.exit("mutate: no such ctest test: %s" % " ".join(unknown))
        if not args.no_baseline:
            print("mutate: baseline: %d tests on the unmutated tree" % len(all_tests), flush=True)
            if not ctest(bdir, all_tests, args.test_jobs, args.timeout, log):
                sys.exit("mutate: the unmutated tree fails a named test, see %s" % log.name)
    print("mutate: %d mutants (%d argued equivalent, not run), baseline ready in %.0fs"
          % (len(mutants), len(mutants) - len(live), time.time() - t0), flush=True)

    results = {"KILLED": [], "SURVIVED": [], "BROKEN": []}
    for i, m in enumerate(live, 1):
        path = os.path.join(tree, m.file)
        with open(path, encoding="utf-8") as f:
            original = f.read()
        t1 = time.time()
        with open(os.path.join(logs, m.id + ".log"), "w") as log:
            try:
                write(path, original.replace(m.original, m.replacement, 1))
                if not build(bdir, m.tests, args.jobs, log):
                    verdict = "BROKEN"
                elif ctest(bdir, m.tests, args.test_jobs, args.timeout, log):
                    verdict = "SURVIVED"
                else:
                    verdict = "KILLED"
            finally:
                write(path, original)
        results[verdict].append(m)
        print("%-8s %3d/%d %-32s %-26s %4.0fs  %s" % (verdict, i, len(live), m.id, m.file,
                                                       time.time() - t1, " ".join(m.tests)),
              flush=True)
    # leave the scratch build unmutated
    with open(os.path.join(logs, "restore.log"), "w") as log:
        build(bdir, all_tests, args.jobs, log)
    mins, secs = divmod(int(time.time() - t0), 60)
    print("mutate: %d mutants: %d killed, %d survived, %d broken; %d argued equivalent, not run;"
          " %dm%02ds" % (len(live), len(results["KILLED"]), len(results["SURVIVED"]),
                         len(results["BROKEN"]), len(mutants) - len(live), mins, secs))
    for v in ("SURVIVED", "BROKEN"):
        for m in results[v]:
            print("  %s: [%s] %s:%d (log %s)" % (v.lower(), m.id, os.path.relpath(LIST, ROOT),
                                                 m.line, os.path.join(logs, m.id + ".log")))
    return 1 if results["SURVIVED"] or results["BROKEN"] else 0


if __name__ == "__main__":
    sys.exit(main())
