#!/usr/bin/env python3
"""Fuzzes the HTTP API's server: a real `procman web` and a real
`procman-runner --http`, each on a store of its own, get a flood of
malformed, oversized, truncated and slow requests and bodies, half-open
connections and wrong tokens from many connections at once.

Asserts:
  - the server never crashes (it runs at the end, and answers);
  - every request is answered with a 4xx or its connection closed by the
    server: never a 5xx, never a connection left open past the limits;
  - a well-formed request from another client is answered within a bound
    during the flood;
  - no process is started without a valid operate token, and none is lost:
    the store holds exactly the processes whose start was answered 201.

Usage: fuzz.py [--requests N] [--seed S]; PROCMAN_BIN_DIR names the
programs. The seed is printed, so that a failure can be run again.
"""

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("PROCMAN_BIN_DIR", "build/bin")
FACTOR = float(os.environ.get("PROCMAN_TEST_TIME_FACTOR", "1") or 1)

# The server's limits for the run: short timeouts so that slow and
# half-open connections end soon.
HEADER_TIMEOUT_S = 1
IDLE_TIMEOUT_S = 2
MAX_BODY = 64 * 1024
# How long the server may take to close a connection that stalls: its
# timeouts plus a margin for a busy machine.
CLOSE_BOUND_S = (IDLE_TIMEOUT_S + 6) * FACTOR
# How long a well-formed request may wait during the flood.
PROBE_BOUND_S = 5 * FACTOR
# Connections at once, below --http-max-connections (256) with the probe.
CONCURRENCY = 100

GOOD_SPEC = '{"steps": {"a": {"class": "procman.set", "args": {"x": 1}}}}'


class Failure(Exception):
    pass


def procman(store, *args):
    res = subprocess.run([os.path.join(BIN, "procman"), "--store", store]
                         + list(args), capture_output=True, text=True,
                         timeout=120)
    if res.returncode != 0:
        raise Failure("procman %s: %s" % (" ".join(args), res.stderr))
    return res.stdout


def pids_in(store):
    out = procman(store, "list", "--limit", "1000000")
    return {json.loads(line)["pid"] for line in out.splitlines() if line}


# -- what is sent --------------------------------------------------------------


class Case:
    """Bytes to send, how (all at once, trickled, then half-closed or
    left open), and whether they carry the operate token (only those may
    start a process)."""

    def __init__(self, kind, chunks, operate=False, half_close=True,
                 delay=0.0):
        self.kind = kind
        self.chunks = chunks
        self.operate = operate
        self.half_close = half_close
        self.delay = delay


def request(method, target, headers=(), body=b"", version=b"HTTP/1.1"):
    lines = [method + b" " + target + b" " + version, b"Host: fuzz"]
    lines += list(headers)
    if body and not any(h.lower().startswith(b"content-length")
                        or h.lower().startswith(b"transfer-encoding")
                        for h in headers):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def bearer(token):
    return b"Authorization: Bearer " + token.encode()


JSON = b"Content-Type: application/json"


class Generator:
    def __init__(self, rnd, operate, read):
        self.rnd = rnd
        self.operate = operate
        self.read = read

    def token(self):
        """A token that may not start anything, and its header."""
        r = self.rnd
        choice = r.randrange(7)
        if choice == 0:
            return [bearer(self.read)]
        if choice == 1:
            return [bearer("pm_" + "".join(r.choice("abcXYZ09-_")
                                           for _ in range(43)))]
        if choice == 2:
            return [bearer(self.operate[:-1] + ("A" if self.operate[-1] != "A"
                                                else "B"))]
        if choice == 3:
            return [b"Authorization: Basic dXNlcjpwdw=="]
        if choice == 4:
            return [b"Authorization: Bearer"]
        if choice == 5:
            return [bearer(self.operate.upper())]
        return []

    def path(self):
        r = self.rnd
        return r.choice([
            b"/api/v1/processes", b"/api/v1/processes/" + b"0" * 32,
            b"/api/v1/processes/" + os.urandom(8).hex().encode(),
            b"/api/v1/processes/../../etc/passwd", b"/api/v1/processes/%00",
            b"/api/v1/processes?limit=-1", b"/api/v1/processes?status=%zz",
            b"/api/v1/processes?" + b"a=1&" * r.randrange(1, 300),
            b"/api/v1/schedules/%2e%2e", b"/api/v1/healthz?x=" + b"y" * 3000,
            b"/api/v1/" + bytes(r.randrange(33, 127) for _ in range(20)),
            b"*", b"http://evil/api/v1/processes", b"",
            b"/api/v1/processes/" + b"a" * 5000,
        ])

    def body(self):
        r = self.rnd
        return r.choice([
            b"{", b"[]", b"null", b'"x"', b"{}", b'{"steps": 1}',
            b"[" * 10000 + b"]" * 10000, b"{\"a\":" * 3000,
            b'{"steps": {"a": {"class": "procman.set"}}, "extra": 1}',
            b'{"steps": {"a": {"class": "procman.nope"}}}',
            b'{"steps": {"a": {"class": "procman.set", "args": {"x": 1e99999}}}}',
            b'{"data": "\xff\xfe\xfd"}', b"\x00" * 100,
            b'{"steps": {"' + b"k" * 70000 + b'": {}}}',
            os.urandom(r.randrange(1, 2000)),
            GOOD_SPEC.encode()[: r.randrange(1, len(GOOD_SPEC))],
        ])

    def well_formed_start(self, token_headers):
        return request(b"POST", b"/api/v1/processes",
                       token_headers + [JSON], GOOD_SPEC.encode())

    # How often each kind below comes: the slow ones (4, 15, 16, 17) hold
    # a connection for a second or two, so they are rarer.
    WEIGHTS = [5, 5, 5, 5, 1, 5, 3, 5, 5, 5, 5, 5, 5, 5, 5, 2, 1, 1, 5, 5, 3, 4]

    def case(self):
        r = self.rnd
        kind = r.choices(range(len(self.WEIGHTS)), self.WEIGHTS)[0]
        if kind == 0:  # random bytes
            return Case("garbage", [os.urandom(r.randrange(1, 3000))])
        if kind == 1:  # a request with bytes changed
            raw = bytearray(self.well_formed_start(self.token()))
            for _ in range(r.randrange(1, 8)):
                at = r.randrange(len(raw))
                op = r.randrange(3)
                if op == 0:
                    raw[at] = r.randrange(256)
                elif op == 1:
                    del raw[at]
                else:
                    raw.insert(at, r.randrange(256))
            return Case("mutated", [bytes(raw)])
        if kind == 2:  # the operate token, bytes changed: may start one
            raw = bytearray(self.well_formed_start([bearer(self.operate)]))
            at = r.randrange(len(raw))
            raw[at] = r.randrange(256)
            return Case("mutated-operate", [bytes(raw)], operate=True)
        if kind == 3:  # truncated, then half-closed
            raw = self.well_formed_start([bearer(self.operate)])
            return Case("truncated", [raw[: r.randrange(1, len(raw))]],
                        operate=True)
        if kind == 4:  # truncated and left open: the server must close it
            raw = self.well_formed_start(self.token())
            return Case("stalled", [raw[: r.randrange(0, len(raw))]],
                        half_close=False)
        if kind == 5:  # oversized header
            return Case("huge-header", [request(
                b"GET", b"/api/v1/healthz",
                [b"X-Big: " + b"a" * r.randrange(17000, 100000)])])
        if kind == 6:  # many headers
            return Case("many-headers", [request(
                b"GET", b"/api/v1/processes",
                [b"X-%d: v" % i for i in range(r.randrange(100, 3000))])])
        if kind == 7:  # a body over the limit, declared
            return Case("huge-declared", [request(
                b"POST", b"/api/v1/processes",
                r.choice([[bearer(self.operate)], self.token()]) + [
                    JSON, b"Content-Length: %d" % (MAX_BODY + 1
                                                   + r.randrange(10**9))],
                b"{" * r.randrange(0, 5000))], operate=True)
        if kind == 8:  # a chunked body over the limit, or malformed chunks
            chunks = r.choice([
                b"10000\r\n" + b" " * 0x10000 + b"\r\n" + b"10\r\n"
                + b" " * 16 + b"\r\n0\r\n\r\n",
                b"zz\r\nabc\r\n0\r\n\r\n", b"-1\r\n\r\n",
                b"ffffffffffffffffffff\r\n", b"5\r\nab",
                b"3\r\nabcdef\r\n0\r\n\r\n"])
            return Case("chunked", [request(
                b"POST", b"/api/v1/processes",
                [bearer(self.operate), JSON,
                 b"Transfer-Encoding: chunked"]) + chunks], operate=True)
        if kind == 9:  # conflicting or bad lengths
            h = r.choice([
                [b"Content-Length: 5", b"Content-Length: 6"],
                [b"Content-Length: -5"], [b"Content-Length: abc"],
                [b"Content-Length: 5", b"Transfer-Encoding: chunked"],
                [b"Transfer-Encoding: gzip"],
                [b"Content-Length: 99999999999999999999999"]])
            return Case("lengths", [request(
                b"POST", b"/api/v1/processes",
                [bearer(self.operate), JSON] + h, b"{}{}{}")],
                operate=True)
        if kind == 10:  # wrong tokens on a good start
            return Case("wrong-token", [self.well_formed_start(self.token())])
        if kind == 11:  # wrong tokens on every route
            method = r.choice([b"GET", b"POST", b"DELETE"])
            return Case("wrong-token-route", [request(
                method, self.path(), self.token() + [JSON],
                self.body() if method == b"POST" else b"")])
        if kind == 12:  # bad bodies with the operate token
            return Case("bad-body", [request(
                b"POST", r.choice([b"/api/v1/processes",
                                   b"/api/v1/processes/" + b"0" * 32
                                   + b"/proceed", b"/api/v1/schedules"]),
                [bearer(self.operate), JSON], self.body())], operate=True)
        if kind == 13:  # bad paths and queries with a read token
            return Case("bad-path", [request(
                r.choice([b"GET", b"POST", b"PUT", b"PATCH", b"OPTIONS",
                          b"TRACE", b"CONNECT", b"FOO", b"G\x00T"]),
                self.path(), [bearer(self.read)])])
        if kind == 14:  # bad request lines and versions
            return Case("request-line", [r.choice([
                b"GET /api/v1/healthz HTTP/9.9\r\n\r\n",
                b"GET /api/v1/healthz\r\n\r\n", b"GET\r\n\r\n",
                b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                b"GET /api/v1/healthz HTTP/1.1\n\n",
                b"GET  /api/v1/healthz  HTTP/1.1\r\n\r\n",
                b"\r\n\r\n\r\n", b"GET /api/v1/healthz HTTP/1.1\r\n"
                b"Host: a\r\n folded: x\r\n\r\n",
                b"GET /api/v1/healthz HTTP/1.1\r\nBad Header\r\n\r\n",
                b"GET /api/v1/healthz HTTP/1.1\r\n\xff\xfe: x\r\n\r\n",
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"])])
        if kind == 15:  # slow: trickled, a few bytes at a time
            raw = request(b"GET", b"/api/v1/processes", self.token())
            step = r.randrange(5, 40)
            return Case("slow", [raw[i:i + step]
                                 for i in range(0, len(raw), step)],
                        delay=0.02)
        if kind == 16:  # slower than the header timeout: closed
            raw = request(b"GET", b"/api/v1/processes", self.token())
            return Case("too-slow", [raw[:10], raw[10:20]],
                        half_close=False, delay=HEADER_TIMEOUT_S * 1.5)
        if kind == 17:  # connect, send nothing
            return Case("silent", [], half_close=r.random() < 0.5)
        if kind == 18:  # pipelined: good and bad requests in one write
            parts = [request(b"GET", b"/api/v1/healthz"),
                     request(b"GET", self.path(), self.token()),
                     os.urandom(50)]
            r.shuffle(parts)
            return Case("pipelined", [b"".join(parts)])
        if kind == 19:  # a wrong content type with the operate token
            return Case("content-type", [request(
                b"POST", b"/api/v1/processes",
                [bearer(self.operate), r.choice([
                    b"Content-Type: text/plain",
                    b"Content-Type: application/json; charset=latin1",
                    b"Content-Type: multipart/form-data; boundary=x",
                    b"Content-Type: "])], GOOD_SPEC.encode())],
                operate=True)
        if kind == 20:  # the read token may not start one
            return Case("read-token", [self.well_formed_start(
                [bearer(self.read)])])
        # a well-formed start with the operate token: must start, once
        return Case("start", [self.well_formed_start([bearer(self.operate)])],
                    operate=True)


# -- how it is sent and judged -------------------------------------------------

# Kinds that a 2xx never answers (the others may be a read with the read
# token, or reach the open /healthz).
STRICT = {"wrong-token", "read-token", "huge-declared", "chunked", "lengths",
          "huge-header", "many-headers", "bad-body", "garbage"}

STATUS = re.compile(rb"HTTP/1\.[01] (\d{3}) ")
PID = re.compile(rb'"pid":"([0-9a-f]{32})"')


class Tally:
    def __init__(self):
        self.sent = 0
        self.by_status = {}
        self.closed = 0
        self.refused = 0
        self.started = set()
        self.errors = []

    def fail(self, msg):
        if len(self.errors) < 20:
            self.errors.append(msg)


def first_response(data):
    """(status, body) of the first complete response in data, or None."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    m = STATUS.match(data)
    if not m:
        return (-1, data[:200])
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", data[:end])
    need = int(length.group(1)) if length else 0
    if len(data) < end + 4 + need:
        return None
    return (int(m.group(1)), data[end + 4:end + 4 + need])


async def send_case(host, port, case, tally):
    tally.sent += 1
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        # Past --http-max-connections a connection may be closed at once.
        tally.refused += 1
        return
    data = b""
    try:
        for i, chunk in enumerate(case.chunks):
            if i and case.delay:
                await asyncio.sleep(case.delay)
            writer.write(chunk)
            await writer.drain()
        if case.half_close and writer.can_write_eof():
            writer.write_eof()
    except OSError:
        pass  # the server answered and closed while this side wrote
    start = time.monotonic()
    try:
        while True:
            left = CLOSE_BOUND_S - (time.monotonic() - start)
            if left <= 0:
                tally.fail("%s: the server kept the connection open %.1f s "
                           "without an answer: %r" % (case.kind, CLOSE_BOUND_S,
                                                       case.chunks[:1]))
                break
            try:
                got = await asyncio.wait_for(reader.read(65536), left)
            except asyncio.TimeoutError:
                continue
            except OSError:
                got = b""
            if not got:
                break
            data += got
            if first_response(data):
                break
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
    res = first_response(data) if data else None
    if res is None:
        tally.closed += 1
        if data:
            tally.fail("%s: an incomplete answer: %r" % (case.kind, data[:200]))
        return
    status, body = res
    tally.by_status[status] = tally.by_status.get(status, 0) + 1
    if status < 0 or status >= 500:
        tally.fail("%s: status %d: %r" % (case.kind, status, body[:300]))
    if status == 201:
        if not case.operate:
            tally.fail("%s: started without the operate token: %r"
                       % (case.kind, body))
        m = PID.search(body)
        if not m:
            tally.fail("%s: 201 without a pid: %r" % (case.kind, body))
        else:
            tally.started.add(m.group(1).decode())
    elif 200 <= status < 300 and case.kind in STRICT:
        tally.fail("%s: answered %d: %r" % (case.kind, status, body[:200]))
    elif case.kind == "start" and status != 201:
        tally.fail("start: answered %d: %r" % (status, body[:300]))


async def probe(host, port, stop, latencies, tally):
    """A well-formed client beside the flood: GET /healthz every 50 ms."""
    req = request(b"GET", b"/api/v1/healthz", [b"Connection: close"])
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), PROBE_BOUND_S)
            writer.write(req)
            data = await asyncio.wait_for(reader.read(4096), PROBE_BOUND_S)
            writer.close()
            if not data.startswith(b"HTTP/1.1 200"):
                tally.fail("probe: %r" % data[:200])
        except (OSError, asyncio.TimeoutError) as e:
            tally.fail("probe: no answer within %.1f s: %r"
                       % (PROBE_BOUND_S, e))
        latencies.append(time.monotonic() - t0)
        await asyncio.sleep(0.05)


async def flood(host, port, gen, n):
    tally = Tally()
    cases = asyncio.Queue()
    for _ in range(n):
        cases.put_nowait(gen.case())

    async def worker():
        while True:
            try:
                case = cases.get_nowait()
            except asyncio.QueueEmpty:
                return
            await send_case(host, port, case, tally)

    stop = asyncio.Event()
    latencies = []
    prober = asyncio.create_task(probe(host, port, stop, latencies, tally))
    await asyncio.gather(*[worker() for _ in range(CONCURRENCY)])
    stop.set()
    await prober
    return tally, latencies


# -- the servers ---------------------------------------------------------------


LIMITS = ["--http-header-timeout", "%ds" % HEADER_TIMEOUT_S,
          "--http-idle-timeout", "%ds" % IDLE_TIMEOUT_S,
          "--http-max-body", str(MAX_BODY)]


def start_server(argv, log_path, marker):
    log = open(log_path, "w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 60 * FACTOR
    while time.monotonic() < deadline:
        text = open(log_path).read()
        m = re.search(marker + r"http://127\.0\.0\.1:(\d+)/api/v1", text)
        if m:
            return proc, int(m.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise Failure("the server did not start: " + open(log_path).read())


def run_one(name, argv_for, marker, store, gen_seed, n, log_path):
    operate = procman(store, "token", "create", "--scope", "operate").strip()
    read = procman(store, "token", "create", "--scope", "read").strip()
    before = pids_in(store)
    proc, port = start_server(argv_for(store), log_path, marker)
    try:
        gen = Generator(random.Random(gen_seed), operate, read)
        t0 = time.monotonic()
        tally, latencies = asyncio.run(flood("127.0.0.1", port, gen, n))
        took = time.monotonic() - t0
        if proc.poll() is not None:
            raise Failure("%s died during the flood (exit %s): %s"
                          % (name, proc.returncode, open(log_path).read()[-3000:]))
        # It still answers.
        alive = subprocess.run(
            ["python3", "-c", "import http.client, sys; "
             "c = http.client.HTTPConnection('127.0.0.1', %d, timeout=30); "
             "c.request('GET', '/api/v1/healthz'); "
             "sys.exit(c.getresponse().status != 200)" % port])
        if alive.returncode != 0:
            tally.fail("%s does not answer after the flood" % name)
    finally:
        proc.terminate()
        try:
            proc.wait(30 * FACTOR)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise Failure("%s did not stop on SIGTERM" % name)
    if proc.returncode != 0:
        tally.fail("%s exited %s after SIGTERM" % (name, proc.returncode))
    after = pids_in(store)
    new = after - before
    if new != tally.started:
        tally.fail("%s: the store holds %d new processes, %d starts were "
                   "answered 201 (not answered: %s; lost: %s)"
                   % (name, len(new), len(tally.started),
                      sorted(new - tally.started)[:5],
                      sorted(tally.started - new)[:5]))
    print("%s: %d cases in %.1f s; statuses %s; closed without an answer "
          "%d, refused %d; %d processes started with the operate token; "
          "probe max %.3f s over %d probes"
          % (name, tally.sent, took, dict(sorted(tally.by_status.items())),
             tally.closed, tally.refused, len(tally.started),
             max(latencies or [0]), len(latencies)))
    if latencies and max(latencies) > PROBE_BOUND_S:
        tally.fail("%s: a well-formed request waited %.1f s"
                   % (name, max(latencies)))
    return tally


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=10000)
    ap.add_argument("--runner-requests", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print("seed %d (fuzz.py --seed %d runs the same cases)" % (seed, seed))
    failures = []
    with tempfile.TemporaryDirectory(prefix="procman-fuzz-") as tmp:
        web_store = os.path.join(tmp, "web-store")
        runner_store = os.path.join(tmp, "runner-store")
        runs = [
            ("procman web",
             lambda s: [os.path.join(BIN, "procman"), "--store", s, "web",
                        "--http", "127.0.0.1:0"] + LIMITS,
             "", web_store, args.requests),
            ("procman-runner --http",
             lambda s: [os.path.join(BIN, "procman-runner"), "--store", s,
                        "--wait", "--parallel", "2", "--http",
                        "127.0.0.1:0"] + LIMITS,
             "HTTP API on ", runner_store, args.runner_requests),
        ]
        for i, (name, argv_for, marker, store, n) in enumerate(runs):
            tally = run_one(name, argv_for, marker, store, seed + i, n,
                            os.path.join(tmp, "server-%d.log" % i))
            failures += ["%s: %s" % (name, e) for e in tally.errors]
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as e:
        print("FAIL %s" % e)
        sys.exit(1)
