#!/usr/bin/env python3
"""procman end to end on Windows: procman.exe, procman-runner.exe and
procman-exec.exe under Wine, on local stores (docs/windows.md).

    end_to_end.py BIN_DIR TESTS_DIR [SCENARIO...]

BIN_DIR holds the three programs, TESTS_DIR test-platform.exe (its helper
modes play the commands and check processes: tests/platform/helper.cpp).
CTest runs it with the build's Wine prefix in WINEPREFIX, and with
PROCMAN_LINUX_BIN_DIR, the Linux build's programs, for `nodes`.
Scenarios:

  drain      200 queued procman.set processes, one procman-runner.exe
             --parallel 2 without --wait: it exits 0 once they are all run;
             each finished once, with its own output, none claimed twice
  waiting    a runner with --wait and --http: a pause and proceed, a cancel of a
             running command, a timeout that ends a procman.exec command
             (cmd /c) and the grandchild it started, the HTTP API's answer
             on a process; then a stop request drains the runner, which
             exits 0
  killed     a --wait runner killed hard (SIGKILL to Wine's process) while
             two commands with a grandchild each run and four processes
             wait: its executors, commands and grandchildren are gone; a
             second runner ends the two as runner_lost, claims neither
             again, and runs the four: no process started twice
  nodes      a Linux store node (the Linux procman-runner --listen, mutual
             TLS on loopback) and a Windows worker node joining it
             (procman-runner.exe --join with its own certificate): 100
             processes, 90 started by the Linux CLI and 10 by procman.exe
             --connect with TLS, all run on the worker, each claimed once
             and finished with its own output; procman.exe --connect
             reads one back; a --connect without TLS and a Windows
             --listen are refused by name; a stop request drains the
             worker (exit 0), SIGTERM the store node (exit 0)
  worker_killed
             the same store node and a Windows worker killed hard (SIGKILL
             to Wine's process) while two commands with a grandchild each
             run on it and four processes wait: its executors, commands
             and grandchildren are gone, the store node ends the two as
             node_lost, a second Windows worker runs the four: no process
             started twice
  worker_stopped
             the same store node and a Windows worker stopped (SIGSTOP to
             Wine's process) while a command with a grandchild runs on it:
             the executor's lease runs out and ends the command and the
             grandchild before the store node ends the process as
             node_lost; a second worker runs the next process, not that
             one; the stopped worker, woken, changes nothing
  replay     procman.exe replay of every golden log (tests/data/*.jsonl,
             tests/data/older/*.jsonl) exits 0, and of one with an
             altered event exits 1 naming the divergence

Every wait is for a state, with a deadline; exit status 0 when all passed.
"""

import concurrent.futures
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

WINE = os.environ.get("PROCMAN_WINE", "wine")
BIN_DIR = sys.argv[1]
TESTS_DIR = sys.argv[2]
DEADLINE_S = 120  # any one wait for a state

failures = []


def windows_path(path):
    """The Windows path of a Linux path under Wine (Z: is the root)."""
    return "Z:" + os.path.abspath(path).replace("/", "\\")


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


def wine(program, *args, env=None, timeout=DEADLINE_S):
    """Runs a Windows program; (exit code, stdout, stderr), CRs dropped."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    r = subprocess.run([WINE, program, *args], capture_output=True,
                       text=True, env=full_env, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return (r.returncode, r.stdout.replace("\r", ""),
            r.stderr.replace("\r", ""))


def helper(mode, *args):
    """test-platform.exe as the helper `mode` (tests/platform/helper.cpp)."""
    return wine(os.path.join(TESTS_DIR, "test-platform.exe"), *args,
                env={"PROCMAN_PLATFORM_HELPER": mode})


def helper_command(mode):
    """A procman.exec step's args running the helper `mode` through cmd /c,
    so that what the helper starts is the step's grandchild."""
    return {"command": ["cmd", "/c",
                        windows_path(os.path.join(TESTS_DIR,
                                                  "test-platform.exe"))],
            "env": {"PROCMAN_PLATFORM_HELPER": mode}}


def eventually(condition, what, deadline_s=DEADLINE_S):
    end = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            check(True, what)
            return value
        if time.monotonic() > end:
            check(False, what + " (within %d s)" % deadline_s)
            return value
        time.sleep(0.2)


class Cli:
    """start and status through a subclass's procman(*args)."""

    def start(self, spec):
        code, out, err = self.procman("start", json.dumps(spec))
        if code != 0:
            check(False, "start exits 0 (%d: %s)" % (code, err.strip()))
            return None
        return out.strip()

    def status(self, pid):
        code, out, _ = self.procman("status", pid)
        return json.loads(out) if code == 0 else {}

    def await_status(self, pid, status, what):
        """The record of `pid` once its status is `status` (checked as
        `what`, with a deadline); {} when it never was."""
        return eventually(lambda: (lambda r: r if r.get("status") == status
                                   else None)(self.status(pid)), what) or {}


class Store(Cli):
    def __init__(self, root, name):
        self.dir = windows_path(os.path.join(root, name))

    def procman(self, *args, timeout=DEADLINE_S):
        return wine(os.path.join(BIN_DIR, "procman.exe"), "--store",
                    self.dir, *args, timeout=timeout)

    def runner_args(self, *args):
        return [WINE, os.path.join(BIN_DIR, "procman-runner.exe"), "--store",
                self.dir, *args]


def set_spec(i):
    return {"steps": {"a": {"class": "procman.set", "args": {"i": i}}}}


def scenario_drain(root):
    """200 procman.set processes drained by a runner at --parallel 2."""
    store = Store(root, "drain")
    n = 200
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        pids = list(pool.map(lambda i: store.start(set_spec(i)), range(n)))
    check(all(pids) and len(set(pids)) == n, "%d processes enqueued" % n)
    r = subprocess.run(store.runner_args("--parallel", "2"),
                       capture_output=True, text=True, timeout=900,
                       stdin=subprocess.DEVNULL)
    log = r.stderr.replace("\r", "")
    check(r.returncode == 0, "the runner exits 0 once drained (%d)"
          % r.returncode)
    check("runner done: %d processes run" % n in log,
          "the runner says it ran %d processes" % n)
    claims = re.findall(r" ([0-9a-f]{32}): claimed \(run (\d+)\)", log)
    claimed = [pid for pid, _ in claims]
    check(sorted(claimed) == sorted(p for p in pids if p),
          "each process claimed once (%d claims)" % len(claimed))
    check(all(run == "1" for _, run in claims), "no process run twice")
    code, out, _ = store.procman("list", "--limit", "1000")
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    by_pid = {rec["pid"]: rec for rec in records}
    check(len(records) == n, "list shows %d processes (%d)"
          % (n, len(records)))
    finished = [i for i, pid in enumerate(pids)
                if by_pid.get(pid, {}).get("status") == "finished"
                and by_pid[pid].get("output") == {"i": i}]
    if not check(len(finished) == n, "all finished with their own output "
                 "(%d)" % len(finished)):
        for i, pid in enumerate(pids):
            rec = by_pid.get(pid, {})
            if i not in finished:
                print("  %d %s: %s %s %s" % (i, pid, rec.get("status"),
                                           rec.get("output"),
                                           rec.get("error")))
        print("-- runner's log --\n" + log)


class WaitingRunner:
    """procman-runner.exe --wait in the background, its log collected."""

    def __init__(self, store, *extra):
        self.proc = subprocess.Popen(
            store.runner_args("--wait", "--parallel", "2", *extra),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, text=True)
        self.lines = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            with self.lock:
                self.lines.append(line.replace("\r", "").rstrip("\n"))

    def log(self):
        with self.lock:
            return "\n".join(self.lines)

    def http_url(self):
        m = re.search(r"HTTP API on (http://\S+)", self.log())
        return m and m.group(1)

    def windows_pid(self):
        m = re.search(r"ProcessRunner\[(\d+)\] -: runner \S+ serving",
                      self.log())
        return m and m.group(1)


def scenario_waiting(root):
    store = Store(root, "waiting")
    runner = WaitingRunner(store, "--http", "127.0.0.1:0")
    try:
        wpid = eventually(runner.windows_pid, "the waiting runner serves")
        url = eventually(runner.http_url, "the runner serves the HTTP API")
        if not wpid or not url:
            return
        pid = waiting_cases(store)
        # The HTTP API (procman-runner.exe --http) reads what the CLI did.
        code, token, _ = store.procman("token", "create", "--scope", "read")
        request = urllib.request.Request(
            url + "/processes/" + pid,
            headers={"Authorization": "Bearer " + token.strip()})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                rec = json.loads(answer.read())
        except OSError as e:
            rec = {"error": str(e)}
        check(code == 0 and rec.get("pid") == pid
              and rec.get("status") == "finished",
              "the HTTP API answers with the proceeded process (%s)"
              % rec.get("status", rec))
        # What tells the timed-out tree gone tells a live process alive.
        check(helper("alive", wpid)[0] == 0, "the runner is alive")
        check(helper("stop", wpid)[0] == 0, "a stop request reaches the "
              "runner")
        try:
            code = runner.proc.wait(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            code = None
        check(code == 0, "the runner drains and exits 0 on a stop request "
              "(%s)" % code)
        check("received stop request: stopping" in runner.log(),
              "the runner logs the stop request")
        check(helper("alive", wpid)[0] == 1, "the runner is gone")
    finally:
        if runner.proc.poll() is None:
            runner.proc.kill()
            runner.proc.wait()
        runner.reader.join(10)
        if failures:
            print("-- runner's log --\n" + runner.log(), flush=True)


def waiting_cases(store):
    # A pause, then proceed with data.
    paused = pid = store.start({"steps": {
        "prepare": {"class": "procman.set", "args": {"doc": "Q3"}},
        "approve": {"class": "procman.pause",
                    "args": {"status": "awaiting approval"}},
        "publish": {"class": "procman.set", "args": {"published": True}}}})
    code, out, _ = store.procman("wait", pid, "--timeout", "60")
    check(code == 3 and json.loads(out)["status"] == "interrupted",
          "a procman.pause step interrupts the process (wait exits %d)" % code)
    code, _, err = store.procman("proceed", pid, "--data",
                                 '{"approved": true}')
    check(code == 0, "proceed exits 0 (%s)" % err.strip())
    code, out, _ = store.procman("wait", pid, "--timeout", "60")
    rec = json.loads(out) if out.strip() else {}
    check(code == 0 and rec.get("status") == "finished",
          "after proceed the process finishes (wait exits %d)" % code)
    check(rec.get("output", {}).get("approved") is True
          and rec.get("output", {}).get("published") is True,
          "the proceed's data reaches the remaining steps")

    # A cancel of a running command.
    pid = store.start({"steps": {"nap": {"class": "procman.exec",
                                         "args": helper_command("sleep")}},
                       "timeout": 600})
    eventually(lambda: store.status(pid).get("steps", {}).get("nap")
               == "running", "the sleeping command runs")
    code, _, err = store.procman("cancel", pid)
    check(code == 0, "cancel of a running process exits 0 (%s)"
          % err.strip())
    code, out, _ = store.procman("wait", pid, "--timeout", "60")
    check(code == 1 and json.loads(out)["status"] == "cancelled",
          "the cancelled process ends cancelled (wait exits %d)" % code)

    # A timeout ends the command and the grandchild it started.
    pid = store.start({"steps": {"tree": {"class": "procman.exec",
                                          "args": helper_command("tree")}},
                       "timeout": 3})

    def tree_line():
        _, out, _ = store.procman("logs", pid)
        return re.search(r"tree (\d+) grandchild (\d+)", out)
    m = eventually(tree_line, "the command reports its grandchild")
    code, out, _ = store.procman("wait", pid, "--timeout", "60")
    rec = json.loads(out) if out.strip() else {}
    check(code == 1 and rec.get("status") == "error"
          and "timeout" in json.dumps(rec.get("error")),
          "the process ends in a timeout error (wait exits %d: %s)"
          % (code, rec.get("error")))
    if m:
        for what, wpid in (("command", m.group(1)),
                           ("grandchild", m.group(2))):
            eventually(lambda: helper("alive", wpid)[0] == 1,
                       "the timed-out %s %s is gone" % (what, wpid))
    return paused


def tree_pids(cli, pid):
    """The command's and its grandchild's pids, once the command said."""
    _, out, _ = cli.procman("logs", pid)
    m = re.search(r"tree (\d+) grandchild (\d+)", out)
    return m and [m.group(1), m.group(2)]


def kill_amid_trees(cli, trees, runner, where):
    """Waits until each process of `trees` runs its command and the
    command's grandchild on `runner` (a WaitingRunner or WindowsWorker),
    checks them and the executors alive, kills `runner` hard, and returns
    the pids of its executors, commands and grandchildren."""
    pids = []
    for pid in trees:
        pids += eventually(lambda: tree_pids(cli, pid),
                           where + "a command and its grandchild run") or []
    executors = re.findall(r": started executor (\d+)", runner.log())
    check(len(executors) == 2, "two executors run (%d)" % len(executors))
    check(all(helper("alive", wpid)[0] == 0 for wpid in executors + pids),
          "executors, commands and grandchildren alive before the kill")
    runner.proc.kill()
    runner.proc.wait()
    return executors + pids


def scenario_killed(root):
    store = Store(root, "killed")
    trees = [store.start({"steps": {"tree": {"class": "procman.exec",
                                             "args": helper_command("tree")}},
                          "timeout": 600}) for _ in range(2)]
    queued = [store.start(set_spec(i)) for i in range(4)]
    first = WaitingRunner(store)
    gone = []
    try:
        gone = kill_amid_trees(store, trees, first, "")
    finally:
        if first.proc.poll() is None:
            first.proc.kill()
            first.proc.wait()
        first.reader.join(10)
    for wpid in gone:
        eventually(lambda: helper("alive", wpid)[0] == 1,
                   "%s is gone with the killed runner" % wpid)
    r = subprocess.run(store.runner_args("--parallel", "2"),
                       capture_output=True, text=True, timeout=DEADLINE_S,
                       stdin=subprocess.DEVNULL)
    second = r.stderr.replace("\r", "")
    check(r.returncode == 0, "the second runner exits 0 (%d)" % r.returncode)
    for pid in trees:
        rec = store.status(pid)
        check(rec.get("status") == "error"
              and (rec.get("error") or {}).get("kind") == "runner_lost",
              "a process of the killed runner ends as runner_lost (%s %s)"
              % (rec.get("status"), rec.get("error")))
        check(pid + ": claimed" not in second, "it is not claimed again")
    for i, pid in enumerate(queued):
        rec = store.status(pid)
        check(rec.get("status") == "finished"
              and rec.get("output") == {"i": i}, "a waiting process finishes")
    # The first runner may have claimed the waiting ones ahead without
    # starting them (the second queues those again): what counts is that
    # no process's steps were started twice.
    starts = re.findall(r" ([0-9a-f]{32}): started executor",
                        first.log() + "\n" + second)
    check(sorted(starts) == sorted(trees + queued),
          "each process started once across both runners (%d starts)"
          % len(starts))
    if failures:
        print("-- first runner --\n" + first.log() + "\n-- second --\n"
              + second, flush=True)


def make_pki(root):
    """A CA and three certificates it signs (store, worker, client), made
    with the openssl program in the new directory `root`; {name: (cert,
    key)} and the CA's path."""
    pki = root
    os.makedirs(pki)

    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True,
                       cwd=pki)

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-days", "2", "-subj", "/CN=procman test CA")
    pairs = {}
    for name in ("store", "worker", "client"):
        openssl("req", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem",
                "-CAkey", "ca.key", "-CAcreateserial", "-out", name + ".pem",
                "-days", "2")
        pairs[name] = (os.path.join(pki, name + ".pem"),
                       os.path.join(pki, name + ".key"))
    return pairs, os.path.join(pki, "ca.pem")


class LinuxStoreNode:
    """The Linux procman-runner --listen on loopback with mutual TLS, its
    address read from --ready-fd, its log collected."""

    def __init__(self, linux_bin, store_dir, cert, key, ca):
        ready_r, ready_w = os.pipe()
        self.proc = subprocess.Popen(
            [os.path.join(linux_bin, "procman-runner"), "--store", store_dir,
             "--listen", "127.0.0.1:0", "--parallel", "0", "--tls-cert", cert,
             "--tls-key", key, "--tls-ca", ca, "--ready-fd", str(ready_w)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, text=True, pass_fds=(ready_w,))
        os.close(ready_w)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        with os.fdopen(ready_r) as ready:
            line = ready.readline().strip()  # "ready ADDR:PORT", or EOF
        self.address = line.split(" ", 1)[1] if line.startswith("ready ") \
            else None

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def log(self):
        return "\n".join(self.lines)


class WindowsWorker:
    """procman-runner.exe --join in the background, its log collected."""

    def __init__(self, address, tls, parallel=2):
        self.proc = subprocess.Popen(
            [WINE, os.path.join(BIN_DIR, "procman-runner.exe"), "--join",
             address, "--parallel", str(parallel), *tls],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, text=True)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.replace("\r", "").rstrip("\n"))

    def log(self):
        return "\n".join(self.lines)

    def end(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(10)


class NodePair(Cli):
    """A Linux store node with mutual TLS and what a scenario asks of it:
    the Linux CLI on its store, procman.exe --connect, TLS options."""

    def __init__(self, root, name):
        self.linux_bin = os.environ.get("PROCMAN_LINUX_BIN_DIR")
        self.node = None
        if not check(bool(self.linux_bin) and os.path.exists(
                os.path.join(self.linux_bin, "procman-runner")),
                "PROCMAN_LINUX_BIN_DIR holds the Linux programs (%s)"
                % self.linux_bin):
            return
        self.pairs, self.ca = make_pki(os.path.join(root, name + "-pki"))
        self.store_dir = os.path.join(root, name)
        self.node = LinuxStoreNode(self.linux_bin, self.store_dir,
                                   *self.pairs["store"], self.ca)
        if not check(self.node.address is not None,
                     "the Linux store node serves (%s)" % self.node.address):
            self.end()
            self.node = None

    def tls_of(self, name):
        cert, key = self.pairs[name]
        return ["--tls-cert", windows_path(cert), "--tls-key",
                windows_path(key), "--tls-ca", windows_path(self.ca)]

    def procman(self, *args):
        r = subprocess.run([os.path.join(self.linux_bin, "procman"),
                            "--store", self.store_dir, *args],
                           capture_output=True, text=True, timeout=DEADLINE_S,
                           stdin=subprocess.DEVNULL)
        return r.returncode, r.stdout, r.stderr

    def connect(self, *args, tls=True):
        return wine(os.path.join(BIN_DIR, "procman.exe"), "--connect",
                    self.node.address,
                    *(self.tls_of("client") if tls else []), *args)

    def worker(self):
        return WindowsWorker(self.node.address, self.tls_of("worker"))

    def end(self):
        proc = self.node.proc
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def end_nodes(pair, workers):
    """Ends the workers (named: WindowsWorker or None; a stopped one is
    woken first) and the store node, with their logs when a check
    failed."""
    for w in workers.values():
        if w is not None:
            if w.proc.poll() is None:
                os.kill(w.proc.pid, signal.SIGCONT)
            w.end()
    pair.end()
    if failures:
        print("-- store node's log --\n" + pair.node.log(), flush=True)
        for name, w in workers.items():
            if w is not None:
                print("-- %s --\n%s" % (name, w.log()), flush=True)


def scenario_nodes(root):
    pair = NodePair(root, "nodes")
    if pair.node is None:
        return
    worker = None
    try:
        code, _, err = wine(os.path.join(BIN_DIR, "procman-runner.exe"),
                            "--listen", "127.0.0.1:0", *pair.tls_of("worker"))
        check(code == 2 and "option --listen: serving other nodes is not "
              "available on Windows" in err,
              "procman-runner.exe --listen is refused by name (%d: %s)"
              % (code, err.strip()))
        worker = pair.worker()
        eventually(lambda: "joined the store node at " + pair.node.address
                   in worker.log(),
                   "the Windows worker joins the store node over mutual TLS")
        n = 100
        pids = {}
        for i in range(n):
            if i % 10 == 0:
                code, out, err = pair.connect("start", json.dumps(set_spec(i)))
            else:
                code, out, err = pair.procman("start", json.dumps(set_spec(i)))
            if code == 0:
                pids[out.strip()] = i
            else:
                check(False, "start %d exits 0 (%d: %s)" % (i, code,
                                                            err.strip()))
        check(len(pids) == n, "%d processes started, 10 of them by "
              "procman.exe --connect" % n)

        def records():
            code, out, _ = pair.procman("list", "--limit", "1000")
            return [json.loads(line) for line in out.splitlines()
                    if line.strip()] if code == 0 else []

        eventually(lambda: sum(r.get("status") in ("finished", "failed")
                               for r in records()) == n,
                   "the %d processes end" % n, deadline_s=600)
        by_pid = {r["pid"]: r for r in records()}
        own = [pid for pid, i in pids.items()
               if by_pid.get(pid, {}).get("status") == "finished"
               and by_pid[pid].get("output") == {"i": i}]
        check(len(own) == n, "all finished with their own output (%d)"
              % len(own))
        claims = re.findall(r" ([0-9a-f]{32}): claimed \(run (\d+)\)",
                            worker.log())
        check(sorted(p for p, _ in claims) == sorted(pids),
              "the Windows worker claimed each process once (%d claims)"
              % len(claims))
        check(all(run == "1" for _, run in claims), "no process run twice")
        first = next(iter(pids))
        code, out, err = pair.connect("status", first)
        rec = json.loads(out) if code == 0 else {}
        check(rec.get("pid") == first and rec.get("status") == "finished",
              "procman.exe --connect reads a process back (%d: %s)"
              % (code, (err or out).strip()[:200]))
        code, _, err = pair.connect("status", first, tls=False)
        check(code != 0 and "cannot connect to the manager at "
              + pair.node.address in err,
              "procman.exe --connect without TLS is refused, naming the node "
              "(%d: %s)" % (code, err.strip()))
        m = re.search(r"ProcessRunner\[(\d+)\] -: worker node ", worker.log())
        wpid = m and m.group(1)
        check(wpid is not None and helper("stop", wpid)[0] == 0,
              "a stop request reaches the worker (%s)" % wpid)
        try:
            code = worker.proc.wait(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            code = None
        check(code == 0, "the worker drains and exits 0 (%s)" % code)
        pair.node.proc.terminate()
        try:
            code = pair.node.proc.wait(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            code = None
        check(code == 0, "the store node exits 0 on SIGTERM (%s)" % code)
    finally:
        end_nodes(pair, {"worker": worker})


def scenario_worker_killed(root):
    pair = NodePair(root, "worker-killed")
    if pair.node is None:
        return
    first = second = None
    try:
        trees = [pair.start({"steps": {"tree": {
            "class": "procman.exec", "args": helper_command("tree")}},
            "timeout": 600}) for _ in range(2)]
        queued = [pair.start(set_spec(i)) for i in range(4)]
        first = pair.worker()
        for wpid in kill_amid_trees(pair, trees, first,
                                    "on the Windows worker "):
            eventually(lambda: helper("alive", wpid)[0] == 1,
                       "%s is gone with the killed worker" % wpid)
        for pid in trees:
            rec = pair.await_status(pid, "error", "the store node ends a "
                                    "process of the killed worker")
            check(rec.get("error", {}).get("kind") == "node_lost",
                  "it ends as node_lost (%s)" % rec.get("error"))
        second = pair.worker()
        for i, pid in enumerate(queued):
            rec = pair.await_status(pid, "finished", "a waiting process "
                                    "finishes on a second worker")
            check(rec.get("output") == {"i": i},
                  "with its own output (%s)" % rec.get("output"))
        starts = re.findall(r" ([0-9a-f]{32}): started executor",
                            first.log() + "\n" + second.log())
        check(sorted(starts) == sorted(trees + queued),
              "each process started once across both workers (%d starts)"
              % len(starts))
    finally:
        end_nodes(pair, {"first worker": first, "second worker": second})


def scenario_worker_stopped(root):
    pair = NodePair(root, "worker-stopped")
    if pair.node is None:
        return
    first = second = None
    try:
        tree = pair.start({"steps": {"tree": {
            "class": "procman.exec", "args": helper_command("tree")}},
            "timeout": 600})
        first = pair.worker()
        pids = eventually(lambda: tree_pids(pair, tree),
                          "on the Windows worker a command and its "
                          "grandchild run") or []
        executors = re.findall(r": started executor (\d+)", first.log())
        check(len(executors) == 1 and all(
            helper("alive", wpid)[0] == 0 for wpid in executors + pids),
            "its executor, command and grandchild are alive")
        # The worker stops answering; its executor, command and grandchild
        # run on, until the executor's lease (half the node's) runs out.
        os.kill(first.proc.pid, signal.SIGSTOP)
        queued = pair.start(set_spec(7))
        rec = pair.await_status(tree, "error", "the store node ends the "
                                "stopped worker's process")
        check(rec.get("error", {}).get("kind") == "node_lost",
              "as node_lost (%s)" % rec.get("error"))
        # Its step died first: nothing of it runs once the process is over.
        check(all(helper("alive", wpid)[0] == 1
                  for wpid in executors + pids),
              "the executor, command and grandchild were gone before "
              "(%s)" % [(w, helper("alive", w)[0]) for w in executors + pids])
        second = pair.worker()
        done = pair.await_status(queued, "finished", "a second worker runs "
                                 "the next process")
        check(done.get("output") == {"i": 7}, "with its own output")
        check(tree + ": claimed" not in second.log(),
              "the lost process is not claimed again")
        os.kill(first.proc.pid, signal.SIGCONT)
        check(pair.status(tree).get("status") == "error",
              "the woken worker changes nothing (%s)"
              % pair.status(tree).get("status"))
    finally:
        end_nodes(pair, {"first worker": first, "second worker": second})


def scenario_replay(root):
    data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                        "data")
    logs = sorted(glob.glob(os.path.join(data, "*.jsonl"))
                  + glob.glob(os.path.join(data, "older", "*.jsonl")))
    check(len(logs) >= 10, "golden logs found (%d)" % len(logs))
    for log in logs:
        code, out, err = wine(os.path.join(BIN_DIR, "procman.exe"), "replay",
                              windows_path(log))
        check(code == 0 and out.startswith("replay matches"),
              "%s replays clean (%d: %s)" % (os.path.relpath(log, data), code,
                                             (out + err).strip()[:200]))
    altered = os.path.join(root, "altered.jsonl")
    with open(os.path.join(data, "finished.jsonl")) as f:
        text = f.read()
    with open(altered, "w") as f:
        f.write(text.replace('"event":"finish"', '"event":"fail"', 1))
    code, _, err = wine(os.path.join(BIN_DIR, "procman.exe"), "replay",
                        windows_path(altered))
    check(code == 1 and "divergence at seq" in err,
          "an altered event is caught (%d)" % code)


def main():
    scenarios = sys.argv[3:] or ["drain", "waiting", "killed", "nodes",
                                 "worker_killed", "worker_stopped", "replay"]
    root = tempfile.mkdtemp(prefix="procman-e2e-")
    try:
        for name in scenarios:
            print("-- " + name, flush=True)
            started = time.monotonic()
            globals()["scenario_" + name](root)
            print("   %.1f s" % (time.monotonic() - started), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if failures:
        print("%d failed:\n  " % len(failures) + "\n  ".join(failures))
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
