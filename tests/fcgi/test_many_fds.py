"""Parked requests on descriptors above FD_SETSIZE (1024): a
switchboard-fcgi of its own holds 1,200 long-polls straight over FastCGI,
one publish releases them all, and every request is finished (libfcgi's
close path must not select() on such descriptors) with the process still
up and its descriptors given back. The client reads each answer but does
not close its end, as a web server slow to close would: the waiter must
not linger on each connection for the peer's EOF (libfcgi waits up to 2 s
per close), or 1,200 answers would take 40 minutes."""

import os
import resource
import selectors
import socket
import struct
import subprocess
import time
import unittest

from fcgitest import (TIMEOUT, _pair, _record, fcgi_request, make_token,
                      publish_sql, uniq)

ENV = os.environ
POLLS = 1200
FD_SETSIZE = 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll_request(uri, token):
    params = {"REQUEST_METHOD": "GET", "REQUEST_URI": uri,
              "QUERY_STRING": uri.split("?", 1)[1], "CONTENT_LENGTH": "0",
              "HTTP_AUTHORIZATION": f"Bearer {token}"}
    enc = b"".join(_pair(k.encode(), v.encode()) for k, v in params.items())
    return (_record(1, 1, struct.pack("!HB5x", 1, 0)) + _record(4, 1, enc) +
            _record(4, 1, b"") + _record(5, 1, b""))


def stdout_of(records):
    out = b""
    while len(records) >= 8:
        _, kind, _, clen, plen = struct.unpack("!BBHHBx", records[:8])
        if kind == 6:
            out += records[8:8 + clen]
        records = records[8 + clen + plen:]
    return out.decode("utf-8", "replace")


class ManyDescriptors(unittest.TestCase):
    def setUp(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = POLLS + 200
        if hard != resource.RLIM_INFINITY and hard < want:
            self.skipTest(f"descriptor limit {hard} < {want}")
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        self.port = free_port()
        log = open(os.path.join(ENV["SB_DIR"], "fcgi-manyfd.log"), "w")
        self.addCleanup(log.close)
        self.proc = subprocess.Popen(
            [ENV["SB_FCGI_BIN"], "--config", ENV["SB_FCGI_CONFIG"],
             f"--listen=127.0.0.1:{self.port}", f"--max_parked={POLLS + 10}",
             "--poll_timeout_max=60s"],
            stdout=log, stderr=subprocess.STDOUT)
        pidfile = os.path.join(ENV["SB_PIDDIR"], "manyfd.pid")
        with open(pidfile, "w") as f:
            f.write(str(self.proc.pid))
        self.addCleanup(self.stop, pidfile)
        deadline = time.time() + TIMEOUT
        while True:
            try:
                fcgi_request("127.0.0.1", self.port, "GET", "/api/v1/health")
                break
            except OSError:
                self.assertLess(time.time(), deadline, "no answer")
                time.sleep(0.1)

    def stop(self, pidfile):
        self.proc.terminate()
        # 0 after a clean stop (a sanitizer build exits otherwise on a leak).
        self.assertEqual(self.proc.wait(TIMEOUT), 0)
        os.remove(pidfile)

    def fds(self):
        return [int(f) for f in os.listdir(f"/proc/{self.proc.pid}/fd")]

    def test_release_above_fd_setsize(self):
        t, ch = make_token(), uniq()
        msg = poll_request(f"/api/v1/poll?cursor={ch}@0&timeout=50", t)
        sel = selectors.DefaultSelector()
        self.addCleanup(sel.close)
        got = {}
        for _ in range(POLLS):
            s = socket.create_connection(("127.0.0.1", self.port), TIMEOUT)
            self.addCleanup(s.close)
            s.sendall(msg)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            got[s] = b""
        deadline = time.time() + 30
        while len(self.fds()) < POLLS and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)  # the last accepted ones reach the waiter
        self.assertGreater(max(self.fds()), FD_SETSIZE + 50)
        publish_sql(ch, "all of you")
        done, deadline = 0, time.time() + 30
        while done < POLLS and time.time() < deadline:
            for key, _ in sel.select(timeout=1):
                data = key.fileobj.recv(65536)
                if data:
                    got[key.fileobj] += data
                    continue
                sel.unregister(key.fileobj)
                done += 1
        self.assertEqual(done, POLLS)
        answers = [stdout_of(b) for b in got.values()]
        self.assertEqual(sum(a.startswith("Status: 200") and '"seq":1' in a
                             for a in answers), POLLS, answers[0])
        self.assertIsNone(self.proc.poll(), "switchboard-fcgi died")
        deadline = time.time() + 10
        while len(self.fds()) > 100 and time.time() < deadline:
            time.sleep(0.2)
        self.assertLess(len(self.fds()), 100, "descriptors not given back")
