#!/usr/bin/env python3
"""The dashboard in a real browser: headless Chromium (Debian's chromium,
chromium-driver and python3-selenium) against a real `procman web` and a
real `procman-runner` on a store of its own and ports the OS chose.

usage: dashboard_browser.py SCREENSHOT_DIR   (PROCMAN_BIN_DIR: the programs)

Saves a screenshot of each page at desktop and at phone width into
SCREENSHOT_DIR and prints how long the processes page took to show its
first page with 100,000 processes in the store (a figure, not a test)."""
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import (NoAlertPresentException,
                                        StaleElementReferenceException,
                                        NoSuchElementException)
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

BIN = os.environ["PROCMAN_BIN_DIR"]
SHOTS = sys.argv[1] if len(sys.argv) > 1 else "."
DEADLINE = 90  # seconds any awaited state may take, however loaded the machine
DESKTOP = (1280, 900)
PHONE = (390, 844)

XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_SCRIPT = "</script><script>alert(1)</script>"


def log(msg):
    print(msg, flush=True)


def fail(msg):
    raise AssertionError(msg)


def check(cond, what):
    if not cond:
        fail(what)
    log("ok: " + what)


def wait_for(fn, what, deadline=DEADLINE):
    """fn's first truthy value within `deadline` seconds, else a failure
    naming `what`."""
    end = time.monotonic() + deadline
    last = None
    while time.monotonic() < end:
        try:
            value = fn()
            if value:
                return value
        except (StaleElementReferenceException, NoSuchElementException) as e:
            last = e
        time.sleep(0.05)
    fail("timed out after %d s waiting for %s%s"
         % (deadline, what, " (%s)" % last if last else ""))


def procman(store, *args, check_rc=True):
    res = subprocess.run([os.path.join(BIN, "procman"), "--store", store]
                         + list(args), capture_output=True, text=True,
                         timeout=120)
    if check_rc and res.returncode != 0:
        fail("procman %s: exit %d: %s" % (" ".join(args), res.returncode,
                                          res.stderr))
    return res.stdout.strip()


ROUNDS = 5  # timed loads of the processes page, per store


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def first_page(ui):
    """Median ms from moving to the processes page to its rows drawn, and
    of the page's own figure (request and drawing, data-load-ms)."""
    clicks, own = [], []
    for _ in range(ROUNDS):
        ui.go("#/schedules")
        wait_for(lambda: ui.text("#schedule-list") != "", "the schedules page")
        t0 = time.monotonic()
        ui.go("#/processes")
        wait_for(lambda: ui.js("const e = document.querySelector('#process-list');"
                               " return e && e.dataset.loadMs !== undefined"),
                 "the processes page's first page")
        clicks.append((time.monotonic() - t0) * 1000)
        own.append(float(ui.find("#process-list").get_attribute("data-load-ms")))
    return median(clicks), median(own)


def api_median_ms(base, token):
    times = []
    for _ in range(20):
        t0 = time.monotonic()
        status, _, _ = call(base, "GET", "/api/v1/processes?limit=50", token)
        times.append((time.monotonic() - t0) * 1000)
        if status != 200:
            fail("GET /api/v1/processes?limit=50: %d" % status)
    return median(times)


def failures_of(store, pid):
    """How often the message log has `pid` going to status error."""
    lines = procman(store, "log", "export", "--pid", pid).splitlines()
    return sum(1 for x in map(json.loads, lines)
               if x.get("type") == "entry" and x.get("status_after") == "error")


class Web:
    """`procman web` on `store`; port 0: one the OS chooses."""

    def __init__(self, store, logfile, port=0):
        self.log = open(logfile, "a")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "procman"), "--store", store, "web", "--http",
             "127.0.0.1:%d" % port],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], DEADLINE)
        line = self.proc.stdout.readline() if ready else ""
        m = re.match(r"http://127\.0\.0\.1:(\d+)/api/v1", line)
        if not m:
            self.stop()
            fail("procman web did not print its address (got %r; log %s)"
                 % (line, logfile))
        self.port = int(m.group(1))
        self.base = "http://127.0.0.1:%d" % self.port

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def call(base, method, path, token, body=None):
    """(status, JSON document, headers) of a request to the API."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            text = r.read().decode()
            return r.status, (json.loads(text) if text.strip().startswith(("{", "[")) else text), r.headers
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        return e.code, (json.loads(text) if text else None), e.headers


class Dashboard:
    def __init__(self, driver):
        self.d = driver

    def js(self, code, *args):
        return self.d.execute_script(code, *args)

    def find(self, css):
        return self.d.find_element(By.CSS_SELECTOR, css)

    def shown(self, css):
        found = self.d.find_elements(By.CSS_SELECTOR, css)
        return bool(found) and found[0].is_displayed()

    def text(self, css):
        """The text of the first match ("" if none), read in one step: the
        page may replace it any time."""
        return self.js("const e = document.querySelector(arguments[0]);"
                       " return e ? e.textContent : ''", css)

    def go(self, hash_):
        """Moves to a page as a click on a link does: no reload."""
        self.js("location.hash = arguments[0]", hash_)

    def status(self):
        return self.js("const e = document.querySelector('#page .head .badge');"
                       " return e ? e.dataset.status : null")

    def await_status(self, want):
        return wait_for(lambda: self.status() == want,
                        "the page to show status " + want)

    def keys(self, *keys):
        """Presses keys on whatever has the focus."""
        ActionChains(self.d).send_keys(*keys).perform()

    def click(self, css):
        """Clicks the first match once it is shown; the page may draw it
        anew (a refresh) between finding and clicking."""
        def attempt():
            found = self.d.find_elements(By.CSS_SELECTOR, css)
            if not found or not found[0].is_displayed():
                return False
            found[0].click()
            return True
        wait_for(attempt, "a shown " + css + " to click")

    def sign_in(self, token):
        wait_for(lambda: self.shown("#signin"), "the sign-in form")
        box = self.find("#token")
        box.clear()
        box.send_keys(token)
        self.find("#signin-form button").click()

    def sign_out(self):
        self.find("#signout").click()
        wait_for(lambda: self.shown("#signin"), "the sign-in form")

    def no_alert(self, where):
        try:
            text = self.d.switch_to.alert.text
        except NoAlertPresentException:
            log("ok: no dialog opened " + where)
            return
        fail("a dialog opened %s: %r" % (where, text))

    def shoot(self, name):
        """Saves the page at desktop and at phone width; at phone width
        nothing may stick out sideways (wide tables scroll inside)."""
        os.makedirs(SHOTS, exist_ok=True)
        for label, (w, h) in (("desktop", DESKTOP), ("phone", PHONE)):
            self.d.set_window_size(w, h)
            wait_for(lambda: self.js("return window.innerWidth") <= w,
                     "the window to take the width of a " + label)
            # The chart is redrawn 150 ms after a resize.
            time.sleep(0.4)
            self.d.save_screenshot(os.path.join(SHOTS, "%s-%s.png" % (name, label)))
            if label == "phone":
                check(self.js("return document.documentElement.scrollWidth"
                              " <= window.innerWidth"),
                      "the %s page fits the phone's width" % name)
        self.d.set_window_size(*DESKTOP)

    def scheme(self, dark):
        self.d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
            {"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]})
        return self.js("return getComputedStyle(document.body).backgroundColor")


def start_runner(store, logfile, *extra):
    return subprocess.Popen(
        [os.path.join(BIN, "procman-runner"), "--store", store, "--wait",
         "--parallel", "2"] + list(extra),
        stdout=open(logfile, "a"), stderr=subprocess.STDOUT)


def runner_base(logfile):
    """The address a runner started with --http logs once it serves."""
    def served():
        with open(logfile) as f:
            m = re.search(r"HTTP API on (http://127\.0\.0\.1:\d+)/api/v1", f.read())
        return m.group(1) if m else None
    return wait_for(served, "the runner to serve HTTP (log %s)" % logfile)


def metric_samples(base, token):
    """{(name, labels text): value} of GET /metrics."""
    status, text, _ = call(base, "GET", "/metrics", token)
    if status != 200:
        fail("GET /metrics: %d" % status)
    out = {}
    for line in text.splitlines():
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)", line)
        if m and not line.startswith("#"):
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def counts_by_state(base, token):
    """procman_processes{state=...} of /metrics, as the page writes them."""
    return {re.match(r'state="(\w+)"', labels).group(1): str(int(v))
            for (name, labels), v in metric_samples(base, token).items()
            if name == "procman_processes"}


def has_family(base, token, name):
    return any(n == name for n, _ in metric_samples(base, token))


def step_times_shown(ui):
    """{step: (state, ms shown or None, text)} of a process's timeline."""
    return ui.js(
        "const out = {};"
        " for (const li of document.querySelectorAll('#steps li')) {"
        "   const t = li.querySelector('.took');"
        "   out[li.dataset.step] = [li.dataset.state, t ? Number(t.dataset.ms) : null,"
        "                           t ? t.textContent : ''];"
        " }"
        " return out;")


def stop_runner(runner):
    """SIGTERM, then SIGKILL after a minute."""
    runner.send_signal(signal.SIGTERM)
    try:
        runner.wait(timeout=60)
    except subprocess.TimeoutExpired:
        runner.kill()
        runner.wait()


def finish(runner, tmp, ok):
    """Stops the runner and removes the scratch directory, unless a failed
    run should keep it."""
    if runner is not None:
        stop_runner(runner)
    if ok or not os.environ.get("PROCMAN_TEST_KEEP_FAILED"):
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        log("kept " + tmp)


def start_browser():
    """Headless Chromium under chromedriver, at desktop size."""
    opts = Options()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=%d,%d" % DESKTOP):
        opts.add_argument(arg)
    driver = webdriver.Chrome(
        service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
        options=opts)
    driver.set_script_timeout(60)
    return driver


def main():
    os.makedirs(SHOTS, exist_ok=True)
    if os.path.exists(os.path.join(SHOTS, "failure.png")):
        os.remove(os.path.join(SHOTS, "failure.png"))
    tmp = tempfile.mkdtemp(prefix="procman-dashboard-")
    store = os.path.join(tmp, "store")
    web = runner = big_web = driver = None
    ok = False
    try:
        operate = procman(store, "token", "create", "--scope", "operate",
                          "--name", "ops")
        read = procman(store, "token", "create", "--scope", "read",
                       "--name", "viewer")
        revoked = procman(store, "token", "create", "--scope", "operate",
                          "--name", "gone")
        procman(store, "token", "revoke", "gone")
        web = Web(store, os.path.join(tmp, "web.log"))
        base = web.base

        # -- the headers of every dashboard file ------------------------------
        for path in ("/", "/dashboard.js", "/dashboard.css"):
            status, _, headers = call(base, "GET", path, None)
            csp = headers.get("Content-Security-Policy", "")
            check(status == 200 and "default-src 'self'" in csp
                  and "frame-ancestors 'none'" in csp
                  and "unsafe-inline" not in csp
                  and headers.get("X-Content-Type-Options") == "nosniff",
                  "GET %s has a strict CSP and nosniff" % path)

        status, _, headers = call(base, "GET", "/", None)
        etag = headers.get("ETag")
        req = urllib.request.Request(base + "/", headers={"If-None-Match": etag})
        try:
            urllib.request.urlopen(req, timeout=60)
            fail("GET / with its ETag did not answer 304")
        except urllib.error.HTTPError as e:
            check(e.code == 304 and e.headers.get("X-Content-Type-Options") == "nosniff",
                  "GET / with its ETag is a 304, with the headers")
        status, doc, headers = call(base, "POST", "/", None, {})
        check(status == 405 and headers.get("Allow") == "GET, HEAD"
              and "Content-Security-Policy" in headers,
              "POST / is a 405 naming GET, HEAD")
        status, doc, _ = call(base, "GET", "/dashboard.json", operate)
        check(status == 404, "a path that is neither the dashboard's nor the API's is a 404")
        driver = start_browser()
        ui = Dashboard(driver)

        # -- sign-in: a wrong and a revoked token say so ----------------------
        driver.get(base + "/")
        ui.shoot("signin")
        for bad, what in (("pm_not_a_token", "a wrong token"),
                          (revoked, "a revoked token")):
            ui.sign_in(bad)
            wait_for(lambda: "refused" in ui.text("#signin-error"),
                     "the sign-in form to say the token was refused")
            check(ui.js("return sessionStorage.getItem('procman.token')") is None,
                  what + " is refused and not kept")
        ui.sign_in(operate)
        wait_for(lambda: ui.shown("#nav"), "the pages after signing in")
        check("operate" in ui.text("#whoami"), "the page names the token's scope")
        check(ui.js("return sessionStorage.getItem('procman.token')") == operate
              and ui.js("return localStorage.length") == 0,
              "the token is kept in sessionStorage only")

        # -- keyboard: Tab reaches the pages, Enter opens one --------------------
        # Keys go to whatever has the focus (the page may redraw it).
        check(ui.js("return document.querySelector('a[href], button, input')"
                    ".className") == "skip", "the first Tab stop is the skip link")
        focused = lambda: ui.js("return document.activeElement.textContent")
        ui.js("document.querySelector('.skip').focus()")
        for _ in range(6):
            ui.keys(Keys.TAB)
            if focused() == "Processes":
                break
        check(focused() == "Processes", "Tab reaches the Processes link")
        ui.keys(Keys.ENTER)
        wait_for(lambda: driver.current_url.endswith("#/processes"),
                 "Enter to open the processes page")
        ui.js("document.querySelector('.skip').focus()")
        ui.keys(Keys.ENTER)
        check(ui.js("return document.activeElement.id") == "view"
              and driver.current_url.endswith("#/processes"),
              "the skip link moves the focus to the page and stays on it")

        # -- queued -> running -> paused, live; proceed; finished -------------
        ui.js("window.procmanNotReloaded = true")
        pause_spec = {"steps": {
            "work": {"class": "procman.sleep", "args": {"seconds": 3}},
            "pause": {"class": "procman.pause"},
            "after": {"class": "procman.set", "args": {"done": True}}}}
        status, doc, _ = call(base, "POST", "/api/v1/processes", operate,
                              pause_spec)
        check(status == 201, "a process is started through the API")
        pid = doc["pid"]
        ui.go("#/process/" + pid)
        ui.await_status("queued")
        runner = start_runner(store, os.path.join(tmp, "runner.log"))
        seen = ["queued"]
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end and seen[-1] != "interrupted":
            s = ui.status()
            if s and s != seen[-1]:
                seen.append(s)
            time.sleep(0.05)
        check(seen == ["queued", "running", "interrupted"],
              "the page showed queued -> running -> paused (%s)" % " -> ".join(seen))
        check(ui.js("return window.procmanNotReloaded === true"),
              "... without reloading")
        wait_for(lambda: ui.shown("#proceed-form"), "the proceed form")
        ui.shoot("process")
        box = ui.find("#proceed-data")
        for bad in ("{nope", "[1]"):
            box.clear()
            box.send_keys(bad)
            check(not ui.find("#proceed-send").is_enabled()
                  and ui.text("#proceed-data-check") != "",
                  "the proceed form refuses %r before sending" % bad)
        box.clear()
        box.send_keys('{"approved": true}')
        check(ui.find("#proceed-send").is_enabled(), "a JSON object may be sent")
        ui.find("#proceed-send").click()
        ui.await_status("finished")
        check('"approved": true' in ui.text("#output"),
              "the proceeded data is in the output")
        times = call(base, "GET", "/api/v1/processes/" + pid, read)[1]["step_times"]
        check(sorted(times) == ["after", "pause", "work"]
              and all(isinstance(t["duration_ms"], int)
                      and t["ended_ms"] - t["started_ms"] == t["duration_ms"]
                      for t in times.values()),
              "the status JSON has each step's start, end and duration (%s)" % times)
        shown = wait_for(lambda: (lambda x: x if all(v[1] is not None for v in x.values()) else None)(step_times_shown(ui)),
                         "the timeline to show the steps' durations")
        check({n: v[1] for n, v in shown.items()}
              == {n: t["duration_ms"] for n, t in times.items()}
              and all(v[0] == "completed" and "so far" not in v[2]
                      for v in shown.values()),
              "the finished process's timeline shows each step's duration (%s)"
              % {n: v[2] for n, v in shown.items()})

        # -- cancel a running one -------------------------------------------
        _, doc, _ = call(base, "POST", "/api/v1/processes", operate, {
            "steps": {"long": {"class": "procman.sleep", "args": {"seconds": 300}}}})
        long_pid = doc["pid"]
        ui.go("#/process/" + long_pid)
        ui.await_status("running")
        wait_for(lambda: ui.js("window.oldCancel = document.querySelector('#cancel');"
                               " if (window.oldCancel) window.oldCancel.focus();"
                               " return document.activeElement === window.oldCancel"),
                 "the focus on the Cancel button")
        wait_for(lambda: ui.js("const b = document.querySelector('#cancel');"
                               " return b && b !== window.oldCancel"),
                 "a refresh to draw the buttons anew")
        check(ui.js("return document.activeElement.id") == "cancel",
              "the focus stays on the Cancel button across a refresh")
        wait_for(lambda: "so far" in step_times_shown(ui).get("long", ["", None, ""])[2],
                 "the running step's time so far")
        ui.keys(Keys.ENTER)
        ui.await_status("cancelled")
        doc = call(base, "GET", "/api/v1/processes/" + long_pid, read)[1]
        check(doc["status"] == "cancelled", "the Cancel button cancelled the running process")
        ended = doc["step_times"]["long"]["duration_ms"]
        check(ended is not None, "the cancelled step has a duration (%r)" % ended)
        wait_for(lambda: step_times_shown(ui).get("long", [None, None])[1] == ended,
                 "the cancelled step to show how long it ran")
        log("ok: the cancelled step shows how long it ran, not a time so far")

        # -- hold and release a delayed one -------------------------------------
        later = procman(store, "start", "--delay", "1h",
                        json.dumps(pause_spec)).splitlines()[0]
        ui.go("#/process/" + later)
        ui.await_status("queued")
        ui.click("#hold")
        ui.await_status("held")
        ui.click("#release")
        ui.await_status("queued")
        check(call(base, "GET", "/api/v1/processes/" + later, read)[1]["status"]
              == "queued", "the Hold and Release buttons held and released it")
        check(not ui.shown("#remove"), "a queued process has no Remove button")
        ui.click("#cancel")
        ui.await_status("cancelled")

        # -- remove the cancelled one -----------------------------------------
        ui.click("#remove")
        wait_for(lambda: ui.js("return location.hash") == "#/processes",
                 "the Remove button to go back to the processes")
        check(call(base, "GET", "/api/v1/processes/" + later, read)[0] == 404,
              "the Remove button removed the cancelled process")

        # -- retry a failed one ---------------------------------------------
        _, doc, _ = call(base, "POST", "/api/v1/processes", operate, {
            "steps": {"f": {"class": "procman.fail", "args": {"message": "boom"}}}})
        failed_pid = doc["pid"]
        ui.go("#/process/" + failed_pid)
        ui.await_status("error")
        check("boom" in ui.text("#error-message"), "the error is shown")
        ui.click("#retry")
        wait_for(lambda: "now queued" in ui.text("#action-result"),
                 "the Retry button to queue the process again")
        wait_for(lambda: failures_of(store, failed_pid) == 2,
                 "the retried process to run and fail a second time")
        ui.await_status("error")
        log("ok: the retried process ran again (its log has two failures)")

        # -- output and errors are text, never HTML --------------------------
        _, doc, _ = call(base, "POST", "/api/v1/processes", operate, {
            "steps": {"s": {"class": "procman.set",
                            "args": {"img": XSS_IMG, "script": XSS_SCRIPT}}}})
        out_pid = doc["pid"]
        _, doc, _ = call(base, "POST", "/api/v1/processes", operate, {
            "steps": {"f": {"class": "procman.fail",
                            "args": {"message": XSS_IMG + XSS_SCRIPT}}}})
        err_pid = doc["pid"]
        ui.go("#/process/" + out_pid)
        ui.await_status("finished")
        out = ui.text("#output")
        check(XSS_IMG in out and XSS_SCRIPT in out,
              "an output of markup is shown as its text")
        ui.go("#/process/" + err_pid)
        ui.await_status("error")
        check(ui.text("#error-message").endswith(": " + XSS_IMG + XSS_SCRIPT),
              "an error message of markup is shown as its text")
        ui.go("#/processes")
        wait_for(lambda: err_pid in ui.text("#process-list"), "the list")
        check(XSS_IMG in ui.text("#process-list"),
              "the list shows the error message as text")
        check(ui.js("return document.querySelectorAll('img').length") == 0
              and ui.js("return document.querySelectorAll('#page script').length") == 0,
              "no element was made from a process's text")
        ui.no_alert("for markup in output or errors")

        # -- schedules: add (JSON checked first) and remove ------------------
        ui.go("#/schedules")
        wait_for(lambda: ui.shown("#schedule-form"), "the schedule form")
        ui.find("#s-name").send_keys("nightly")
        ui.find("#s-cron").send_keys("0 3 * * *")
        spec = ui.find("#s-spec")
        spec.clear()
        spec.send_keys('{"steps": ')
        check(not ui.find("#schedule-add").is_enabled(),
              "a spec that is not JSON cannot be sent")
        spec.clear()
        spec.send_keys('{"steps": {"b": {"class": "procman.set"}}}')
        ui.find("#schedule-add").click()
        wait_for(lambda: "nightly" in ui.text("#schedule-list"), "the new schedule")
        check(call(base, "GET", "/api/v1/schedules", read)[1][0]["name"] == "nightly",
              "the schedule form added the schedule")
        ui.shoot("schedules")
        ui.click("#schedule-list button.danger")
        wait_for(lambda: "nightly" not in ui.text("#schedule-list"),
                 "the schedule to go")
        check(call(base, "GET", "/api/v1/schedules", read)[1] == [],
              "the Remove button removed it")
        procman(store, "schedule", "add", "hourly", "0 * * * *",
                '{"steps": {"b": {"class": "procman.set"}}}')

        # -- counts from /metrics and /queue, while processes are added ---------
        ui.go("#/")
        wait_for(lambda: ui.shown("#counts .count"), "the overview")

        def overview_right():
            want = counts_by_state(base, read)
            q = call(base, "GET", "/api/v1/queue", read)[1]
            shown = ui.js("const o = {}; for (const e of document.querySelectorAll("
                          "'#counts .count')) o[e.dataset.state] = e.querySelector("
                          "'.n').textContent; return o")
            return (shown == want
                    and ui.text("#queue-depth") == str(q["queued"])
                    and ui.text("#queue-delayed-n") == str(q["delayed"])
                    and ui.text("#queue-held-n") == str(q["held"])) and (shown, q)

        def queue_right():
            q = call(base, "GET", "/api/v1/queue", read)[1]
            return all(ui.text("#" + i) == str(q[k]) for i, k in (
                ("queue-depth", "queued"), ("queue-delayed-n", "delayed"),
                ("queue-held-n", "held"), ("queue-running-n", "running"),
                ("queue-interrupted-n", "interrupted"))) and q

        quick = {"steps": {"q": {"class": "procman.set", "args": {"x": 1}}}}
        for batch in range(3):
            for i in range(8):
                call(base, "POST", "/api/v1/processes", operate, quick)
                call(base, "POST", "/api/v1/processes", operate, dict(
                    pause_spec, not_before="2099-01-01T00:00:00Z"))
            shown, q = wait_for(overview_right, "the overview's counts to match "
                                "/metrics and /queue after batch %d" % (batch + 1))
        check(q["delayed"] >= 24,
              "the overview's counts match /metrics and /queue as processes are "
              "added (%s; queue %s)" % (shown, {k: q[k] for k in ("queued", "delayed", "held")}))
        if not has_family(base, read, "procman_slots"):
            check(ui.shown("#slots-none") and "No runner" in ui.text("#slots"),
                  "the overview of procman web says it has no runner's slots")
        ui.go("#/queue")
        for i in range(5):
            call(base, "POST", "/api/v1/processes", operate, dict(
                pause_spec, not_before="2099-01-01T00:00:00Z"))
        q = wait_for(queue_right, "the queue page's counts to match /queue")
        check(q["delayed"] >= 29, "the queue page's counts match /queue (%s)" % q)

        # -- the other pages ---------------------------------------------------
        _, doc, _ = call(base, "POST", "/api/v1/processes", operate, pause_spec)
        paused_pid = doc["pid"]
        for page, ready in (("#/", "#page .counts .count"),
                            ("#/processes", "#process-list table"),
                            ("#/queue", "#queue-ready"),
                            ("#/nodes", "#node-list")):
            ui.go(page)
            wait_for(lambda: ui.shown(ready), "the page " + page)
            time.sleep(0.3)
            ui.shoot({"#/": "overview"}.get(page, page[2:]))
        served = call(base, "GET", "/api/v1/openapi.json", read)[1]["paths"]
        if "/nodes" in served:
            check(ui.text("#node-list") != "", "the nodes page lists the nodes")
        else:
            check("Not available" in ui.text("#node-list"),
                  "the nodes page says a server without /nodes has none to show")
        ui.go("#/")
        wait_for(lambda: ui.shown("#page .counts .count"), "the overview")
        light = ui.scheme(False)
        dark = ui.scheme(True)
        check(light != dark, "the page follows prefers-color-scheme (%s, %s)"
              % (light, dark))
        time.sleep(0.3)
        driver.save_screenshot(os.path.join(SHOTS, "overview-dark.png"))
        ui.scheme(False)

        # -- a read token sees no button, and a forged change is refused ----
        wait_for(lambda: call(base, "GET", "/api/v1/processes/" + paused_pid,
                              read)[1]["status"] == "interrupted",
                 "a process to pause")
        ui.sign_out()
        ui.sign_in(read)
        wait_for(lambda: ui.shown("#nav"), "the pages for the read token")
        check("read" in ui.text("#whoami"), "the page names the read scope")
        for p, state in ((paused_pid, "interrupted"), (failed_pid, "error")):
            ui.go("#/process/" + p)
            ui.await_status(state)
            check(ui.js("return document.querySelectorAll('#actions button').length") == 0
                  and not ui.shown("#proceed-form"),
                  "a read token sees no button on a process in " + state)
        ui.go("#/schedules")
        wait_for(lambda: "hourly" in ui.text("#schedule-list"), "the schedules")
        check(not ui.shown("#schedule-form")
              and not driver.find_elements(By.CSS_SELECTOR, "#schedule-list button"),
              "a read token sees no schedule form or Remove button")
        forged = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch('/api/v1/processes/' + arguments[0] + '/cancel', {method: 'POST',"
            " headers: {Authorization: 'Bearer ' + sessionStorage.getItem('procman.token')}})"
            ".then((r) => done(r.status), (e) => done(String(e)));", paused_pid)
        check(forged == 403, "a forged cancel with the read token gets 403 (%r)" % forged)
        check(call(base, "GET", "/api/v1/processes/" + paused_pid, read)[1]["status"]
              == "interrupted", "... and changes nothing")
        ui.sign_out()
        ui.sign_in(operate)
        wait_for(lambda: ui.shown("#nav"), "the pages again")

        # -- kill the server, start it again: the page resumes ----------------
        ui.go("#/processes")
        wait_for(lambda: paused_pid in ui.text("#process-list"), "the list")
        ui.js("window.procmanNotReloaded = true")
        port = web.port
        web.kill()
        web.stop()
        wait_for(lambda: ui.js("return document.body.dataset.online") == "no"
                 and ui.shown("#banner"), "the page to say the server is gone")
        log("ok: the page says the server cannot be reached")
        late = procman(store, "start", json.dumps(pause_spec)).splitlines()[0]
        web = Web(store, os.path.join(tmp, "web.log"), port)
        wait_for(lambda: late in ui.text("#process-list"),
                 "the page to resume and list a process started meanwhile")
        check(not ui.shown("#banner") and ui.js("return window.procmanNotReloaded === true"),
              "the page resumed after the restart without reloading")
        log("live updates: " + ui.text("#live"))
        small = first_page(ui)
        small_api = api_median_ms(base, read)
        small_n = len(driver.find_elements(By.CSS_SELECTOR, "#process-list tbody tr"))

        # -- a runner serving the API: its busy slots ----------------------------
        store2 = os.path.join(tmp, "store2")
        token2 = procman(store2, "token", "create", "--scope", "operate")
        runner2_log = os.path.join(tmp, "runner2.log")
        runner2 = start_runner(store2, runner2_log, "--http", "127.0.0.1:0")
        try:
            base2 = runner_base(runner2_log)
            driver.get(base2 + "/")
            ui.sign_in(token2)
            wait_for(lambda: ui.shown("#nav"), "the pages of the runner's server")
            wait_for(lambda: ui.shown("#counts .count"), "the runner's overview")
            check(has_family(base2, token2, "procman_slots"),
                  "a runner's /metrics has procman_slots")
            def slots_right(busy):
                m = metric_samples(base2, token2)
                total = str(int(sum(v for (n, _), v in m.items()
                                    if n == "procman_slots")))
                now = str(int(sum(v for (n, _), v in m.items()
                                  if n == "procman_slots_busy")))
                return (now == str(busy) and ui.text("#slots-total") == total
                        and ui.text("#slots-busy") == now) and (now, total)
            got = wait_for(lambda: slots_right(0), "busy slots: 0 of 2")
            check(got == ("0", "2"), "the runner's overview shows busy slots: 0 of 2")
            _, doc, _ = call(base2, "POST", "/api/v1/processes", token2, {
                "steps": {"long": {"class": "procman.sleep", "args": {"seconds": 300}}}})
            got = wait_for(lambda: slots_right(1), "busy slots: 1 of 2")
            check("busy slots: 1 of 2" in ui.text("#slots"),
                  "the overview shows busy slots: 1 of 2 while one process runs")
            call(base2, "POST", "/api/v1/processes/%s/cancel" % doc["pid"], token2)
        finally:
            stop_runner(runner2)

        # -- 100,000 processes: the first page ----------------------------------
        big = os.path.join(tmp, "big")
        res = subprocess.run([os.path.join(BIN, "procman-bench"), "fill",
                              "--store", big, "--n", "100000"],
                             capture_output=True, text=True, timeout=600)
        check(res.returncode == 0, "a store of 100,000 processes is built")
        big_token = procman(big, "token", "create", "--scope", "read")
        big_web = Web(big, os.path.join(tmp, "big-web.log"))
        driver.get(big_web.base + "/")
        ui.sign_in(big_token)
        wait_for(lambda: ui.shown("#nav"), "the pages on the big store")
        large = first_page(ui)
        check(len(driver.find_elements(By.CSS_SELECTOR, "#process-list tbody tr")) == 50,
              "the processes page shows its first 50 of 100,000 processes")
        large_api = api_median_ms(big_web.base, big_token)
        log("figure: the processes page's first page, median of %d, from the "
            "click to the rows shown (the page's own request and drawing): "
            "%d processes in the store %.0f ms (%.0f ms), 100,000 %.0f ms "
            "(%.0f ms), ratio %.2f; GET /api/v1/processes?limit=50 alone "
            "%.1f ms and %.1f ms"
            % (ROUNDS, small_n, small[0], small[1], large[0], large[1],
               large[0] / small[0], small_api, large_api))
        ui.no_alert("at the end")
        ok = True
    finally:
        if driver is not None:
            if not ok:
                try:
                    driver.save_screenshot(os.path.join(SHOTS, "failure.png"))
                    log("the page at the failure: " + os.path.join(SHOTS, "failure.png"))
                except Exception:
                    pass
            driver.quit()
        for w in (web, big_web):
            if w is not None:
                w.stop()
        finish(runner, tmp, ok)
    log("the dashboard in Chromium: every check passed; screenshots in " + SHOTS)


if __name__ == "__main__":
    main()
