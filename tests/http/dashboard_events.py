#!/usr/bin/env python3
"""The dashboard's live updates from the event stream (GET /api/v1/events),
in headless Chromium against a real `procman web` and runner: that it reads
the server-sent events with its token, and after the server is killed and
started again resumes with Last-Event-ID, missing nothing and showing
nothing twice: the page's count of transitions equals the message log's,
before and after the restart.

usage: dashboard_events.py SCREENSHOT_DIR   (PROCMAN_BIN_DIR: the programs)"""
import json
import os
import tempfile

from dashboard_browser import (Dashboard, Web, call, check, finish, log,
                               procman, start_browser, start_runner, wait_for)


def log_entries(store, since=0):
    """The message log's entries after `since`, oldest first."""
    lines = procman(store, "log", "export", "--since", str(since)).splitlines()
    return [x for x in map(json.loads, lines)
            if x.get("type") == "entry" and x["seq"] > since]


def main():
    tmp = tempfile.mkdtemp(prefix="procman-dashboard-events-")
    store = os.path.join(tmp, "store")
    web = runner = driver = None
    ok = False
    try:
        token = procman(store, "token", "create", "--scope", "operate")
        web = Web(store, os.path.join(tmp, "web.log"))
        runner = start_runner(store, os.path.join(tmp, "runner.log"))
        base = web.base
        driver = start_browser()
        ui = Dashboard(driver)
        driver.get(base + "/")
        ui.sign_in(token)
        wait_for(lambda: ui.js("return document.querySelector('#live').dataset.mode")
                 == "events", "the page to read the event stream")
        start = max([0] + [e["seq"] for e in log_entries(store)])
        spec = {"steps": {"s": {"class": "procman.set", "args": {"x": 1}}}}

        def finished(pids):
            # By the CLI: the server is down for a while.
            return all(json.loads(procman(store, "status", p))["status"]
                       == "finished" for p in pids)

        def page_count():
            return int(ui.js("return document.body.dataset.events || '0'"))

        first = [call(base, "POST", "/api/v1/processes", token, spec)[1]["pid"]
                 for _ in range(3)]
        wait_for(lambda: finished(first), "three processes to finish")
        wait_for(lambda: page_count() == len(log_entries(store, start)),
                 "the page to count every transition of the log")
        check(page_count() > 0, "the page received %d transitions" % page_count())
        ui.js("window.procmanNotReloaded = true")
        seen_before = page_count()
        port = web.port
        web.kill()
        wait_for(lambda: ui.js("return document.querySelector('#live').dataset.mode")
                 == "reconnecting", "the page to notice the stream is gone")
        second = [procman(store, "start", json.dumps(spec)).splitlines()[0]
                  for _ in range(2)]
        wait_for(lambda: finished(second), "two more processes to finish")
        web = Web(store, os.path.join(tmp, "web.log"), port)
        wait_for(lambda: ui.js("return document.querySelector('#live').dataset.mode")
                 == "events", "the page to read the stream again")
        want = len(log_entries(store, start))
        wait_for(lambda: page_count() == want,
                 "the page to count every transition of the log (%d)" % want)
        check(page_count() > seen_before, "the transitions missed while the stream"
              " was down arrived")
        ui.go("#/")
        wait_for(lambda: ui.js("return document.querySelectorAll("
                               "'#page section:last-child tbody tr').length") > 0,
                 "the recent transitions on the overview")
        seqs = ui.js("return [...document.querySelectorAll("
                     "'#page section:last-child tbody tr td:first-child')]"
                     ".map((td) => td.textContent)")
        check(len(seqs) == len(set(seqs)), "no transition is shown twice (%s)" % seqs)
        check(ui.js("return window.procmanNotReloaded === true"), "without a reload")
        ok = True
    finally:
        if driver is not None:
            driver.quit()
        if web is not None:
            web.stop()
        finish(runner, tmp, ok)
    log("the dashboard's event stream: every check passed")


if __name__ == "__main__":
    main()
