#!/usr/bin/env python3
"""The dashboard's live updates from an event stream, in headless Chromium:
that it reads server-sent events with its token, and after the stream
drops resumes with Last-Event-ID, missing nothing and showing nothing
twice.

`procman web` does not serve GET /api/v1/events yet, so a small proxy in
front of it (everything else passes through to the real server) serves
that route as docs/dashboard.md's contract says, from the store's real
message log (`procman log export --since SEQ`): one `transition` per log
entry, its sequence number as `id`, resumed after `Last-Event-ID`.

usage: dashboard_events.py SCREENSHOT_DIR   (PROCMAN_BIN_DIR: the programs)"""
import http.client
import http.server
import json
import os
import tempfile
import threading
import time
from datetime import datetime, timezone

from dashboard_browser import (Dashboard, Web, call, check, finish, log,
                               procman, start_browser, start_runner, wait_for)


def log_entries(store, since=0):
    """The message log's entries after `since`, oldest first."""
    lines = procman(store, "log", "export", "--since", str(since)).splitlines()
    return [x for x in map(json.loads, lines)
            if x.get("type") == "entry" and x["seq"] > since]


class Proxy:
    """Passes every request to `upstream` but GET /api/v1/events, which it
    serves from `store`'s log; lists that route in openapi.json."""

    def __init__(self, store, upstream, port=0):
        self.stopping = False
        self.resumed_from = []  # the Last-Event-ID of each stream request
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def forward(self):
                body = None
                if self.headers.get("Content-Length"):
                    body = self.rfile.read(int(self.headers["Content-Length"]))
                conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("connection", "host")}
                conn.request(self.command, self.path, body=body, headers=headers)
                res = conn.getresponse()
                data = res.read()
                if self.path == "/api/v1/openapi.json" and res.status == 200:
                    doc = json.loads(data)
                    doc["paths"]["/events"] = {"get": {"responses": {}}}
                    data = json.dumps(doc).encode()
                self.send_response(res.status)
                for k, v in res.getheaders():
                    if k.lower() not in ("content-length", "connection",
                                         "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            def do_GET(self):
                if self.path.split("?")[0] != "/api/v1/events":
                    return self.forward()
                conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
                conn.request("GET", "/api/v1/whoami", headers={
                    "Authorization": self.headers.get("Authorization", "")})
                res = conn.getresponse()
                res.read()
                conn.close()
                if res.status != 200:
                    self.send_response(res.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                last = self.headers.get("Last-Event-ID")
                proxy.resumed_from.append(last)
                since = int(last) if last else max(
                    [0] + [e["seq"] for e in log_entries(store)])
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                try:
                    while not proxy.stopping:
                        out = ""
                        for e in log_entries(store, since):
                            t = datetime.fromtimestamp(e["time"] / 1000, timezone.utc)
                            data = {"seq": e["seq"], "pid": e["pid"],
                                    "time": t.strftime("%Y-%m-%dT%H:%M:%S.")
                                    + "%03dZ" % (e["time"] % 1000),
                                    "event": e["event"], "status": e["status_after"]}
                            out += "id: %d\nevent: transition\ndata: %s\n\n" % (
                                e["seq"], json.dumps(data))
                            since = e["seq"]
                        self.wfile.write((out or ": idle\n\n").encode())
                        self.wfile.flush()
                        time.sleep(0.2)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_POST(self):
                self.forward()

            def do_DELETE(self):
                self.forward()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        """Ends the streams (as a dropped connection) and stops serving."""
        self.stopping = True
        self.server.shutdown()
        self.server.server_close()


def main():
    tmp = tempfile.mkdtemp(prefix="procman-dashboard-events-")
    store = os.path.join(tmp, "store")
    web = runner = proxy = driver = None
    ok = False
    try:
        token = procman(store, "token", "create", "--scope", "operate")
        web = Web(store, os.path.join(tmp, "web.log"))
        runner = start_runner(store, os.path.join(tmp, "runner.log"))
        proxy = Proxy(store, web.port)
        base = "http://127.0.0.1:%d" % proxy.port
        driver = start_browser()
        ui = Dashboard(driver)
        driver.get(base + "/")
        ui.sign_in(token)
        wait_for(lambda: ui.js("return document.querySelector('#live').dataset.mode")
                 == "events", "the page to read the event stream")
        check(proxy.resumed_from == [None], "the first stream starts afresh")
        start = max([0] + [e["seq"] for e in log_entries(store)])
        spec = {"steps": {"s": {"class": "procman.set", "args": {"x": 1}}}}

        def finished(pids):
            return all(call(web.base, "GET", "/api/v1/processes/" + p, token)[1]["status"]
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
        last_seq = max(e["seq"] for e in log_entries(store, start))
        port = proxy.port
        proxy.stop()
        wait_for(lambda: ui.js("return document.querySelector('#live').dataset.mode")
                 == "reconnecting", "the page to notice the stream is gone")
        second = [procman(store, "start", json.dumps(spec)).splitlines()[0]
                  for _ in range(2)]
        wait_for(lambda: finished(second), "two more processes to finish")
        proxy = Proxy(store, web.port, port)
        wait_for(lambda: ui.js("return document.querySelector('#live').dataset.mode")
                 == "events", "the page to read the stream again")
        check(proxy.resumed_from[0] == str(last_seq),
              "it resumed with Last-Event-ID %s (%s)" % (last_seq, proxy.resumed_from))
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
        if proxy is not None:
            proxy.stop()
        if web is not None:
            web.stop()
        finish(runner, tmp, ok)
    log("the dashboard's event stream: every check passed")


if __name__ == "__main__":
    main()
