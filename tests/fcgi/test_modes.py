"""The other ways to run switchboard-fcgi: as CGI behind Apache and from
the command line, and under spawn-fcgi (the listening socket as fd 0)."""

import base64
import os
import signal
import socket
import subprocess
import threading
import time

from fcgitest import (fcgi_request, http, make_token, publish_sql, uniq,
                      TIMEOUT)
import unittest

ENV = os.environ


class CgiMode(unittest.TestCase):
    BASE = ENV.get("SB_CGI_URL", "")

    def test_cgi_through_apache(self):
        t, ch = make_token(), uniq()
        r = http(self.BASE, "POST", f"/api/v1/channels/{ch}/events",
                 {"type": "message", "data": {"text": "cgi"}}, t)
        self.assertEqual(r.status, 201, r)
        r = http(self.BASE, "GET", f"/api/v1/channels/{ch}/events", token=t)
        self.assertEqual(r.json["events"][0]["data"]["text"], "cgi")
        threading.Timer(0.5, publish_sql, (ch, "woke")).start()
        r = http(self.BASE, "GET", f"/api/v1/poll?cursor={ch}@1&timeout=8",
                 token=t, timeout=15)
        self.assertEqual([e["data"]["text"] for e in r.json["events"]],
                         ["woke"], r)
        r = http(self.BASE, "GET", f"/api/v1/channels/{ch}/events")
        self.assertEqual(r.status, 401)

    def test_cgi_command_line(self):
        env = dict(ENV, GATEWAY_INTERFACE="CGI/1.1", REQUEST_METHOD="GET",
                   REQUEST_URI="/api/v1/health", QUERY_STRING="",
                   SWITCHBOARD_CONFIG=ENV["SB_FCGI_CONFIG"])
        out = subprocess.run([ENV["SB_FCGI_BIN"]], env=env,
                             stdin=subprocess.DEVNULL, capture_output=True,
                             timeout=TIMEOUT)
        self.assertEqual(out.returncode, 0, out.stderr)
        head, _, body = out.stdout.decode().partition("\r\n\r\n")
        self.assertTrue(head.startswith("Status: 200"), head)
        self.assertIn('"database":"up"', body)


class SpawnFcgi(unittest.TestCase):
    def test_spawn_fcgi(self):
        spawn = "/usr/bin/spawn-fcgi"
        if not os.access(spawn, os.X_OK):
            self.skipTest("no spawn-fcgi")
        port = int(ENV["SB_SPAWN_PORT"])
        pidfile = os.path.join(ENV["SB_PIDDIR"], "spawned.pid")
        subprocess.run([spawn, "-a", "127.0.0.1", "-p", str(port), "-P",
                        pidfile, "--", ENV["SB_FCGI_BIN"], "--config",
                        ENV["SB_FCGI_CONFIG"], "--threads", "2"],
                       check=True, capture_output=True, timeout=TIMEOUT)
        self.addCleanup(self.stop, pidfile)
        deadline = time.time() + TIMEOUT
        while True:
            try:
                status, text = fcgi_request("127.0.0.1", port, "GET",
                                            "/api/v1/health")
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        self.assertEqual(status, 200, text)
        t, ch = make_token(), uniq()
        status, text = fcgi_request(
            "127.0.0.1", port, "POST", f"/api/v1/channels/{ch}/events",
            body=b'{"type":"message","data":{}}',
            headers={"CONTENT_TYPE": "application/json",
                     "HTTP_AUTHORIZATION": f"Bearer {t}"})
        self.assertEqual(status, 201, text)

    def test_sighup_takes_a_rotated_secret(self):
        """OPERATIONS.md 2.4: after the secret file changes, SIGHUP makes
        switchboard-fcgi accept tokens signed with the new secret and
        refuse the old ones, without a restart."""
        spawn = "/usr/bin/spawn-fcgi"
        if not os.access(spawn, os.X_OK):
            self.skipTest("no spawn-fcgi")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        pidfile = os.path.join(ENV["SB_PIDDIR"], "spawned-hup.pid")
        secret_file = os.path.join(ENV["SB_PIDDIR"], "rotated_secret")
        with open(ENV["SB_TOKEN_SECRET_FILE"]) as f:
            old_text = f.read().strip()
        with open(secret_file, "w") as f:
            f.write(old_text + "\n")
        subprocess.run([spawn, "-a", "127.0.0.1", "-p", str(port), "-P",
                        pidfile, "--", ENV["SB_FCGI_BIN"], "--config",
                        ENV["SB_FCGI_CONFIG"], "--threads", "2",
                        "--token_secret_file", secret_file],
                       check=True, capture_output=True, timeout=TIMEOUT)
        self.addCleanup(self.stop, pidfile)

        def health_of(token):
            deadline = time.time() + TIMEOUT
            while True:
                try:
                    return fcgi_request(
                        "127.0.0.1", port, "GET", "/api/v1/channels/chat:x/events",
                        headers={"HTTP_AUTHORIZATION": f"Bearer {token}"})[0]
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.1)

        new_key = os.urandom(32)
        self.assertEqual(health_of(make_token()), 200)
        self.assertEqual(health_of(make_token(key=new_key)), 401)
        with open(secret_file, "w") as f:
            f.write(base64.urlsafe_b64encode(new_key).rstrip(b"=").decode() + "\n")
        with open(pidfile) as f:
            os.kill(int(f.read()), signal.SIGHUP)
        for _ in range(50):
            if health_of(make_token(key=new_key)) == 200:
                break
            time.sleep(0.1)
        self.assertEqual(health_of(make_token(key=new_key)), 200)
        self.assertEqual(health_of(make_token()), 401)

    def stop(self, pidfile):
        with open(pidfile) as f:
            pid = int(f.read())
        os.kill(pid, 15)
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        os.remove(pidfile)
