#!/usr/bin/env python3
"""A plain HTTP client for procman's HTTP API tests: Python's http.client,
sharing no code with the server.

  client.py request PORT METHOD TARGET TOKEN [NAME:VALUE ...]
      One request; prints {"status", "headers", "body"} as JSON.
"""

import http.client
import json
import sys


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


if __name__ == "__main__":
    {"request": request}[sys.argv[1]](*sys.argv[2:])
