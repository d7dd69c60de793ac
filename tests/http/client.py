#!/usr/bin/env python3
"""A plain HTTP client for procman's HTTP API tests: Python's http.client
and sockets, sharing no code with the server.

  client.py request PORT METHOD TARGET TOKEN [NAME:VALUE ...]
      One request; prints {"status", "headers", "body"} as JSON.
  client.py events PORT TARGET TOKEN COUNT SECONDS UNTIL [NAME:VALUE ...]
      Reads server-sent events until COUNT events came (0: no limit), an
      event's data holds UNTIL ("": none), the stream ended or SECONDS
      passed; prints {"status", "headers", "events", "comments", "retry",
      "ended"} as JSON, each event {"id", "event", "data"}. Says
      "connected" on stderr once the response's header is in.
  client.py many PORT TARGET TOKEN N UNTIL SECONDS
      N streams at once on N connections (one thread, selectors), each
      until an event's data holds UNTIL or SECONDS passed; says "connected"
      on stderr once every header is in; prints a list of N objects
      {"status", "ids"} (the ids of the `transition` events, in the order
      received).
  client.py posts PORT TOKEN BODY KEY...
      POST /api/v1/processes with BODY once per KEY, all at once (a thread
      and a connection each, released together), KEY as the
      Idempotency-Key ("-": none); prints a list of {"status", "pid"} in
      the order of the keys.
"""

import http.client
import json
import selectors
import socket
import sys
import threading
import time


def headers_of(token, extra):
    h = {}
    if token:
        h["Authorization"] = "Bearer " + token
    for x in extra:
        name, _, value = x.partition(":")
        h[name] = value.strip()
    return h


def request(port, method, target, token, *extra):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
    c.request(method, target, headers=headers_of(token, extra))
    r = c.getresponse()
    body = r.read().decode()
    print(json.dumps({"status": r.status, "headers": dict(r.getheaders()),
                      "body": body}))


class sse_parser:
    """Splits SSE text into events, comments and the retry field."""

    def __init__(self):
        self.events, self.comments, self.retry = [], 0, None
        self.event, self.rest = {}, ""

    def line(self, line):
        if line == "":
            if "data" in self.event:
                self.events.append(self.event)
            self.event = {}
        elif line.startswith(":"):
            self.comments += 1
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "retry":
                self.retry = int(value)
            elif name == "data" and "data" in self.event:
                self.event["data"] += "\n" + value
            else:
                self.event[name] = value

    def feed(self, text):
        lines = (self.rest + text).split("\n")
        self.rest = lines.pop()
        for x in lines:
            self.line(x.rstrip("\r"))


def events(port, target, token, count, seconds, until, *extra):
    count, deadline = int(count), time.monotonic() + float(seconds)
    c = http.client.HTTPConnection("127.0.0.1", int(port),
                                   timeout=float(seconds))
    c.request("GET", target, headers=headers_of(token, extra))
    r = c.getresponse()
    print("connected", file=sys.stderr, flush=True)
    out = {"status": r.status, "headers": dict(r.getheaders()),
           "ended": False}
    if r.status != 200:
        out["body"] = r.read().decode()
        print(json.dumps(out))
        return
    p = sse_parser()
    try:
        while time.monotonic() < deadline:
            if count and len(p.events) >= count:
                break
            if until and any(until in e["data"] for e in p.events):
                break
            line = r.readline()
            if not line:
                out["ended"] = True
                break
            p.line(line.decode().rstrip("\r\n"))
    except (socket.timeout, TimeoutError):
        pass
    out.update(events=p.events, comments=p.comments, retry=p.retry)
    print(json.dumps(out))


def many(port, target, token, n, until, seconds):
    n, deadline = int(n), time.monotonic() + float(seconds)
    sel = selectors.DefaultSelector()
    streams = []
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           "Authorization: Bearer %s\r\n\r\n" % (target, token)).encode()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
        s.sendall(req)
        s.setblocking(False)
        st = {"sock": s, "head": b"", "status": 0, "parser": None,
              "done": False}
        streams.append(st)
        sel.register(s, selectors.EVENT_READ, st)
    left, heads = n, 0
    while left and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=max(0.01,
                                             deadline - time.monotonic())):
            st = key.data
            try:
                data = st["sock"].recv(65536)
            except BlockingIOError:
                continue
            if st["parser"] is None:
                st["head"] += data
                if b"\r\n\r\n" not in st["head"]:
                    if data:
                        continue
                    data = b""
                else:
                    head, _, data = st["head"].partition(b"\r\n\r\n")
                    st["status"] = int(head.split(b" ")[1])
                    st["parser"] = sse_parser()
                    heads += 1
                    if heads == n:
                        print("connected", file=sys.stderr, flush=True)
            if st["parser"] is not None and data:
                st["parser"].feed(data.decode())
            full = st["parser"] is not None and \
                any(until in e["data"] for e in st["parser"].events[-64:])
            if not data or full:
                sel.unregister(st["sock"])
                st["sock"].close()
                st["done"] = True
                left -= 1
    print(json.dumps([{"status": st["status"],
                       "ids": [int(e["id"]) for e in
                               (st["parser"].events if st["parser"] else [])
                               if e.get("event") == "transition"]}
                      for st in streams]))


def posts(port, token, body, *keys):
    out = [None] * len(keys)
    conns = [http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
             for _ in keys]
    for c in conns:
        c.connect()
    go = threading.Barrier(len(keys))

    def post(i):
        h = headers_of(token, [] if keys[i] == "-"
                       else ["Idempotency-Key:" + keys[i]])
        h["Content-Type"] = "application/json"
        go.wait()
        conns[i].request("POST", "/api/v1/processes", body=body, headers=h)
        r = conns[i].getresponse()
        doc = json.loads(r.read().decode() or "null")
        out[i] = {"status": r.status,
                  "pid": doc.get("pid", "") if isinstance(doc, dict) else ""}

    threads = [threading.Thread(target=post, args=(i,))
               for i in range(len(keys))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(out))


if __name__ == "__main__":
    {"request": request, "events": events, "many": many,
     "posts": posts}[sys.argv[1]](*sys.argv[2:])
