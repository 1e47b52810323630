"""fcgitest: shared helpers of the switchboard-fcgi integration tests.

run-fcgi-tests.sh starts a throw-away cluster, switchboard-fcgi, wsd (when
built), lighttpd and Apache, and passes their coordinates in the
environment (SB_*). This module gives the tests:

- tokens: make_token() signs HS256 tokens with the cluster's secret (or
  any key or claims, to forge bad ones);
- psql(): SQL through psql -X -A -t as the superuser;
- http(): one request through a web server, with the status, headers and
  body (parsed as JSON when it is JSON);
- SseReader: an SSE stream read event by event, with a deadline;
- fcgi_request(): a minimal FastCGI client, to talk to a switchboard-fcgi
  that no web server fronts (spawn-fcgi);
- server_classes(): one unittest class per web server from a mixin, so
  every test runs through lighttpd and through Apache.

Every wait has a timeout; nothing listens beyond loopback.
"""

import base64
import hashlib
import hmac
import http.client as httpclient
import json
import os
import re
import socket
import struct
import subprocess
import time
import unittest
import urllib.parse
import uuid

ENV = os.environ
DB = ENV.get("SB_DB", "switchboard_fcgi")
SERVERS = [tuple(s.split("=", 1)) for s in ENV.get("SB_SERVERS", "").split()]
TIMEOUT = 10.0


# --- tokens -------------------------------------------------------------------

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def secret():
    with open(ENV["SB_TOKEN_SECRET_FILE"]) as f:
        text = f.read().strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(sub=None, role="user", ch=("chat:*", "activity:*",
                                           "workflow:*", "metrics:*"),
               ttl=3600, exp=None, key=None):
    """An HS256 JWT as switchboard.mint_token() makes it; ch=None leaves
    out "ch" (admin); a fresh subject by default, so that every test has a
    rate-limit bucket of its own."""
    now = int(time.time())
    claims = {"sub": sub or "t" + uuid.uuid4().hex[:12], "role": role,
              "iat": now, "exp": exp if exp is not None else now + ttl}
    if ch is not None:
        claims["ch"] = list(ch)
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    mac = hmac.new(key or secret(), f"{head}.{body}".encode(),
                   hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


# --- SQL ---------------------------------------------------------------------------

def psql(sql):
    out = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v",
                          "ON_ERROR_STOP=1", "-d", DB, "-c", sql],
                         capture_output=True, text=True, timeout=TIMEOUT)
    if out.returncode != 0:
        raise AssertionError(f"psql failed: {out.stderr}")
    return out.stdout.strip()


def stored(channel):
    """How many events channel has in the database."""
    return int(psql("SELECT count(*) FROM switchboard.event_log WHERE "
                    f"channel = '{channel}'"))


def total_events():
    return int(psql("SELECT count(*) FROM switchboard.event_log"))


def publish_sql(channel, text="from psql"):
    return int(psql("SELECT seq FROM switchboard.publish("
                    f"'{channel}', 'message', "
                    f"'{json.dumps({'text': text})}', 'agent:sql')"))


def uniq(ns="chat"):
    return f"{ns}:t{uuid.uuid4().hex[:10]}"


# --- HTTP ---------------------------------------------------------------------------

class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        ctype = headers.get("content-type", "")
        self.json = json.loads(body) if ctype.startswith(
            "application/json") and body else None

    def code(self):
        return (self.json or {}).get("error", {}).get("code")

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


def http(base, method, path, body=None, token=None, headers=None,
         timeout=TIMEOUT, raw=None, ctype="application/json"):
    """One request; body is JSON-encoded unless raw bytes are given."""
    url = urllib.parse.urlsplit(base)
    conn = httpclient.HTTPConnection(url.hostname, url.port, timeout=timeout)
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
    if data is not None and ctype is not None:
        h.setdefault("Content-Type", ctype)
    try:
        conn.request(method, url.path + path, body=data, headers=h)
        resp = conn.getresponse()
        out = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        return Reply(resp.status, hdrs, out.decode("utf-8", "replace"))
    finally:
        conn.close()


class SseReader:
    """An SSE stream: events() reads frames until n or the deadline."""

    def __init__(self, base, path, token=None, headers=None):
        url = urllib.parse.urlsplit(base)
        self.conn = httpclient.HTTPConnection(url.hostname, url.port,
                                               timeout=TIMEOUT)
        h = dict(headers or {})
        h["Accept"] = "text/event-stream"
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        self.conn.request("GET", url.path + path, headers=h)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = {k.lower(): v for k, v in self.resp.getheaders()}
        self.comments = []

    def frame(self, end):
        fields = {}
        while time.time() < end:
            line = self.resp.readline()
            if not line:
                return None
            line = line.decode().rstrip("\n")
            if line == "":
                if fields:
                    return fields
                continue
            if line.startswith(":"):
                self.comments.append(line)
                continue
            key, _, value = line.partition(":")
            fields[key] = value[1:] if value.startswith(" ") else value
        return None

    def frames(self, n, seconds=TIMEOUT):
        out = []
        self.conn.sock.settimeout(seconds)
        end = time.time() + seconds
        while len(out) < n and time.time() < end:
            try:
                f = self.frame(end)
            except (TimeoutError, socket.timeout):
                break
            if f is None:
                break
            out.append(f)
        return out

    def close(self):
        self.conn.close()


# --- FastCGI -------------------------------------------------------------------

def _record(kind, rid, content):
    pad = -len(content) % 8
    return struct.pack("!BBHHBx", 1, kind, rid, len(content), pad) + \
        content + b"\0" * pad


def _pair(name, value):
    def ln(x):
        return struct.pack("!B", len(x)) if len(x) < 128 else \
            struct.pack("!I", len(x) | 0x80000000)
    return ln(name) + ln(value) + name + value


def fcgi_request(host, port, method, uri, body=b"", headers=None):
    """A FastCGI RESPONDER request; returns (status, stdout text)."""
    params = {"REQUEST_METHOD": method, "REQUEST_URI": uri,
              "QUERY_STRING": urllib.parse.urlsplit(uri).query,
              "CONTENT_LENGTH": str(len(body)), "SERVER_PROTOCOL": "HTTP/1.1"}
    params.update(headers or {})
    enc = b"".join(_pair(k.encode(), v.encode()) for k, v in params.items())
    msg = _record(1, 1, struct.pack("!HB5x", 1, 0)) + _record(4, 1, enc) + \
        _record(4, 1, b"")
    if body:
        msg += _record(5, 1, body)
    msg += _record(5, 1, b"")
    out = b""
    with socket.create_connection((host, port), timeout=TIMEOUT) as s:
        s.sendall(msg)
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        while len(buf) >= 8:
            _, kind, _, clen, plen = struct.unpack("!BBHHBx", buf[:8])
            if kind == 6:
                out += buf[8:8 + clen]
            buf = buf[8 + clen + plen:]
    text = out.decode()
    status = int(text.split("Status: ", 1)[1][:3]) if "Status: " in text \
        else 200
    return status, text


# --- one test class per web server ---------------------------------------------

def metrics(base):
    """The fcgi process's metric samples, name{labels} -> value."""
    r = http(base, "GET", "/api/v1/metrics")
    out = {}
    for line in r.body.splitlines():
        m = re.match(r'^([a-z_]+)(\{[^}]*\})? (\S+)$', line)
        if m:
            labels = re.sub(r'node="[^"]*",?', "", m.group(2) or "")
            out[m.group(1) + (labels if labels != "{}" else "")] = \
                float(m.group(3))
    return out


def server_classes(namespace, mixin):
    """Add to namespace a TestCase per web server, running mixin's tests."""
    for name, base in SERVERS:
        cls = type(f"{mixin.__name__}_{name}", (mixin, unittest.TestCase),
                   {"BASE": base, "SERVER": name,
                    "__module__": namespace["__name__"]})
        namespace[cls.__name__] = cls
