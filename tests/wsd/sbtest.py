"""sbtest: shared helpers of the wsd integration tests.

The harness (run-wsd-tests.sh) starts a throw-away cluster and two wsd
nodes and passes their coordinates in the environment (SB_*). This module
gives the tests:

- tokens: make_token() signs HS256 tokens with the cluster's secret (or any
  key, header or claims, to forge bad ones); mint_sql() asks the database's
  switchboard.mint_token();
- SQL: psql() runs statements through psql -X -A -t as the superuser;
  Locker holds row locks in a transaction of its own;
- nodes: NODE_A and NODE_B (started by the harness) and start_node() for
  more, each stopped by its PID;
- Client: a websockets connection with a background reader that files
  events per channel and keeps every other message for expect();
- RawClient: a minimal WebSocket client on a plain socket, to send what
  websockets refuses to (invalid UTF-8, binary frames, fragments) and to
  stop reading on purpose (slow consumer);
- http_get(): the HTTP endpoints on a node's port;
- WsdTestCase: unittest base class with per-test cleanup and unique
  channel names; bounded() limits a test's duration.

Every wait has a timeout; nothing listens beyond loopback.
"""

import asyncio
import base64
import functools
import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import time
import unittest
import uuid

import websockets

ENV = os.environ
DB = ENV.get("SB_DB", "switchboard_wsd")
PIDDIR = ENV.get("SB_WSD_PIDDIR", "")
WORKDIR = ENV.get("SB_WSD_DIR", "")
WSD_BIN = ENV.get("SB_WSD_BIN", "")
BASE_CONFIG = ENV.get("SB_WSD_CONFIG", "")

# How long a single reply may take before a test fails.
REPLY_TIMEOUT = 5.0


# --- tokens -------------------------------------------------------------------


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def secret():
    """The token secret the nodes use, as raw bytes."""
    with open(ENV["SB_TOKEN_SECRET_FILE"]) as f:
        return b64url_decode(f.read())


def make_token(sub="alice", role="user", ch=("chat:*",), ttl=3600, exp=None,
               key=None, header=None, claims=None, drop=(), sign=True):
    """An HS256 JWT like switchboard.mint_token() makes.

    ch=None leaves out "ch"; exp overrides now + ttl; key replaces the
    secret; header replaces {"alg":"HS256","typ":"JWT"}; claims adds or
    replaces claims; drop removes claims; sign=False leaves the signature
    empty (as alg "none" tokens have it)."""
    now = int(time.time())
    body = {"sub": sub, "role": role}
    if ch is not None:
        body["ch"] = list(ch)
    body["iat"] = now
    body["exp"] = now + ttl if exp is None else exp
    if claims:
        body.update(claims)
    for k in drop:
        body.pop(k, None)
    head = header if header is not None else {"alg": "HS256", "typ": "JWT"}
    signing_input = (b64url(json.dumps(head, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(body, separators=(",", ":")).encode()))
    if not sign:
        return signing_input + "."
    mac = hmac.new(secret() if key is None else key, signing_input.encode(),
                   hashlib.sha256).digest()
    return signing_input + "." + b64url(mac)


def token_claims(token):
    return json.loads(b64url_decode(token.split(".")[1]))


# --- SQL ----------------------------------------------------------------------


def psql(sql, **params):
    """Run sql (read from stdin, so :'name' takes params) in the test
    database as the superuser; return stdout stripped. Raises on error."""
    cmd = ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", DB]
    for k, v in params.items():
        cmd += ["-v", "%s=%s" % (k, v)]
    r = subprocess.run(cmd, input=sql, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("psql failed (%d): %s\n%s" % (r.returncode, r.stderr, sql))
    return r.stdout.strip()


async def apsql(sql, **params):
    return await asyncio.to_thread(psql, sql, **params)


def mint_sql(sub, role, ttl="1 hour", *channels):
    """A token from switchboard.mint_token()."""
    args = "".join(", :'c%d'" % i for i in range(len(channels)))
    params = {"c%d" % i: c for i, c in enumerate(channels)}
    return psql("SELECT switchboard.mint_token(:'sub', :'role', :'ttl'::interval%s);" % args,
                sub=sub, role=role, ttl=ttl, **params)


def stored(channel):
    """The stored events of a channel as (seq, event dict), ascending."""
    out = psql("SELECT seq, event FROM switchboard.event_log WHERE channel = :'ch' ORDER BY seq;",
               ch=channel)
    rows = []
    for line in out.splitlines():
        if line:
            seq, ev = line.split("|", 1)
            rows.append((int(seq), json.loads(ev)))
    return rows


def stored_count(like):
    """How many events are stored in channels matching the LIKE pattern."""
    return int(psql("SELECT count(*) FROM switchboard.event_log WHERE channel LIKE :'p';", p=like))


def last_seq(channel):
    out = psql("SELECT last_seq FROM switchboard.channel_info(:'ch');", ch=channel)
    return int(out)


class Locker:
    """A psql session that runs lock_sql (say, SELECT ... FOR UPDATE) in a
    transaction and holds its locks until release(): what needs those rows
    waits meanwhile."""

    def __init__(self, lock_sql):
        self.proc = subprocess.Popen(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", DB],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.proc.stdin.write("BEGIN;\n%s;\n\\echo locked\n" % lock_sql)
        self.proc.stdin.flush()

    async def locked(self):
        lines = [await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), 10)
                 for _ in range(2)]
        if lines[1].strip() != "locked":
            raise AssertionError("psql did not lock the row: %r" % lines)

    async def release(self):
        if self.proc.stdin.closed:
            return
        self.proc.stdin.write("COMMIT;\n")
        self.proc.stdin.close()
        await asyncio.to_thread(self.proc.wait, 10)
        self.proc.stdout.close()
        self.proc.stderr.close()


# --- nodes --------------------------------------------------------------------


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def read_config(path):
    opts = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                opts[k.strip()] = v.strip()
    return opts


class Node:
    """A wsd process: its port, PID and log."""

    def __init__(self, name, port, pid=None, proc=None, log=None):
        self.name = name
        self.port = port
        self.pid = pid
        self.proc = proc
        self.log = log
        self.url = "ws://127.0.0.1:%d/ws" % port

    def alive(self):
        if self.proc is not None:
            return self.proc.poll() is None
        try:
            os.kill(self.pid, 0)
            return True
        except OSError:
            return False

    def kill(self, sig=signal.SIGKILL):
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def wait_exit(self, timeout=10):
        """Exit status of a process we started (None if it is still running)."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        """SIGTERM, then SIGKILL after 5 s; remove the PID file."""
        if self.alive():
            self.kill(signal.SIGTERM)
            if self.wait_exit(5) is None and self.alive():
                self.kill(signal.SIGKILL)
                self.wait_exit(5)
        pidfile = os.path.join(PIDDIR, self.name + ".pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)

    def healthz_ok(self):
        try:
            status, _, _ = http_get(self.port, "/healthz", timeout=1)
            return status == 200
        except OSError:
            return False

    def log_tail(self, n=20):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-n:])
        except (OSError, TypeError):
            return ""


def _harness_node(name, port_var):
    port = int(ENV.get(port_var, "0") or 0)
    pid = None
    try:
        with open(os.path.join(PIDDIR, name + ".pid")) as f:
            pid = int(f.read())
    except (OSError, ValueError):
        pass
    return Node(name, port, pid=pid, log=os.path.join(WORKDIR, "wsd-%s.log" % name))


NODE_A = _harness_node("a", "SB_WSD_PORT_A")
NODE_B = _harness_node("b", "SB_WSD_PORT_B")

_node_count = 0


def start_node(name=None, **overrides):
    """Start another wsd with the harness's configuration plus overrides
    (option names as in configuration files; listen_port shares a port
    already in use, else a free one is chosen); wait up to 10 s for
    /healthz. The PID file lets the harness stop it if the test does not."""
    global _node_count
    _node_count += 1
    name = name or "extra%d" % _node_count
    opts = read_config(BASE_CONFIG)
    port = int(overrides.pop("listen_port", 0)) or free_port()
    opts["listen_port"] = str(port)
    opts["node_id"] = "wsdtest-" + name
    for k, v in overrides.items():
        opts[k] = str(v)
    conf = os.path.join(WORKDIR, "wsd-%s.conf" % name)
    with open(conf, "w") as f:
        for k, v in opts.items():
            f.write("%s = %s\n" % (k, v))
    log = os.path.join(WORKDIR, "wsd-%s.log" % name)
    logf = open(log, "ab")
    proc = subprocess.Popen([WSD_BIN, "--config", conf], stdout=logf, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    logf.close()
    with open(os.path.join(PIDDIR, name + ".pid"), "w") as f:
        f.write(str(proc.pid))
    node = Node(name, port, pid=proc.pid, proc=proc, log=log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            node.stop()
            raise RuntimeError("wsd %s exited with %s at start:\n%s"
                               % (name, proc.returncode, node.log_tail()))
        if node.healthz_ok():
            return node
        time.sleep(0.05)
    node.stop()
    raise RuntimeError("wsd %s did not answer /healthz within 10 s:\n%s" % (name, node.log_tail()))


async def wait_healthy(node, timeout=20, want=True):
    """Wait until node's /healthz says 200 (want=True) or not (want=False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ok = await asyncio.to_thread(node.healthz_ok)
        if ok == want:
            return True
        await asyncio.sleep(0.1)
    return False


# --- HTTP ---------------------------------------------------------------------


def http_get(port, path, headers=None, timeout=5):
    """GET http://127.0.0.1:port/path: (status, headers dict lower-case, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        conn.close()


async def ahttp_get(port, path, headers=None, timeout=5):
    return await asyncio.to_thread(http_get, port, path, headers, timeout)


def parse_metrics(text):
    """Prometheus text: {(name, frozenset(labels)): value} and {name: type}."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) >= 4:
                types[parts[2]] = parts[3]
            continue
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            name, rest = line.split("{", 1)
            labels, value = rest.rsplit("}", 1)
            lab = []
            for item in _split_labels(labels):
                k, v = item.split("=", 1)
                lab.append((k.strip(), v.strip().strip('"')))
            key = (name, frozenset(lab))
        else:
            name, value = line.split(None, 1)
            key = (name, frozenset())
        samples[key] = float(value.split()[0])
    return samples, types


def _split_labels(text):
    items, cur, quoted, esc = [], "", False, False
    for c in text:
        if esc:
            cur += c
            esc = False
        elif c == "\\":
            cur += c
            esc = True
        elif c == '"':
            quoted = not quoted
            cur += c
        elif c == "," and not quoted:
            if cur.strip():
                items.append(cur)
            cur = ""
        else:
            cur += c
    if cur.strip():
        items.append(cur)
    return items


def metric_sum(samples, name, **labels):
    """Sum of every sample of name whose labels include labels."""
    total = 0.0
    for (n, lab), v in samples.items():
        if n == name and all((k, str(val)) in lab for k, val in labels.items()):
            total += v
    return total


async def metrics_of(node):
    status, headers, body = await ahttp_get(node.port, "/metrics")
    if status != 200:
        raise AssertionError("/metrics answered %d" % status)
    return parse_metrics(body.decode())[0]


# --- WebSocket client ---------------------------------------------------------


class Closed(Exception):
    pass


class Client:
    """One WebSocket connection. A background task reads every message:
    events (from "event" and "events" frames alike) are appended to
    events[channel] and to all_events; every other message goes to msgs,
    where expect() finds it. frames counts frames received."""

    def __init__(self, ws, url):
        self.ws = ws
        self.url = url
        self.events = {}
        self.maxseq = {}
        self.all_events = []
        self.msgs = []
        self.order = []  # ("msg", msg) or ("event", event) in arrival order
        self.frames = 0
        self.close_code = None
        self.close_reason = None
        self.closed = asyncio.Event()
        self.changed = asyncio.Condition()
        self.hello = None
        self.auth_ok = None
        self._ref = 0
        self._task = asyncio.ensure_future(self._reader())

    @classmethod
    async def open(cls, url, token=None, how="message", subprotocols=("switchboard.v1",),
                   headers=None, query=None, authenticate=True):
        """Connect, read hello and, when a token is given, authenticate:
        how = "header" (Authorization), "query" (access_token) or
        "message" (first auth message). With authenticate=False the token
        is sent but auth.ok is not awaited."""
        hdrs = dict(headers or {})
        if token is not None and how == "header":
            hdrs["Authorization"] = "Bearer " + token
        full = url
        q = dict(query or {})
        if token is not None and how == "query":
            q["access_token"] = token
        if q:
            full += "?" + "&".join("%s=%s" % (k, v) for k, v in q.items())
        ws = await asyncio.wait_for(websockets.connect(
            full, subprotocols=list(subprotocols) if subprotocols else None,
            extra_headers=hdrs, max_size=None, max_queue=None, compression=None,
            ping_interval=None, close_timeout=2, open_timeout=REPLY_TIMEOUT), REPLY_TIMEOUT + 1)
        c = cls(ws, url)
        c.hello = await c.expect("hello")
        if token is not None and authenticate:
            if how == "message":
                c.auth_ok = await c.request({"op": "auth", "token": token}, "auth.ok")
            else:
                c.auth_ok = await c.expect("auth.ok")
        return c

    async def _reader(self):
        try:
            async for raw in self.ws:
                self.frames += 1
                msg = json.loads(raw)
                async with self.changed:
                    if msg.get("op") == "event":
                        self._add_event(msg["event"])
                    elif msg.get("op") == "events":
                        for ev in msg["events"]:
                            self._add_event(ev)
                    else:
                        self.msgs.append(msg)
                        self.order.append(("msg", msg))
                    self.changed.notify_all()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason
            self.closed.set()
            async with self.changed:
                self.changed.notify_all()

    def _add_event(self, ev):
        self.events.setdefault(ev["channel"], []).append(ev)
        if ev.get("seq") is not None and ev["seq"] > self.maxseq.get(ev["channel"], 0):
            self.maxseq[ev["channel"]] = ev["seq"]
        self.all_events.append(ev)
        self.order.append(("event", ev))

    def next_ref(self):
        self._ref += 1
        return "r%d" % self._ref

    async def send(self, msg):
        await self.ws.send(msg if isinstance(msg, str) else json.dumps(msg))

    async def expect(self, op=None, ref=None, channel=None, pred=None, timeout=REPLY_TIMEOUT,
                     remove=True):
        """The first kept message matching op/ref/channel/pred (waiting up
        to timeout). op may be a tuple. Raises Closed if the connection
        ends first, asyncio.TimeoutError if nothing matches in time."""
        ops = (op,) if isinstance(op, str) else op

        def find():
            for i, m in enumerate(self.msgs):
                if ops is not None and m.get("op") not in ops:
                    continue
                if ref is not None and m.get("ref") != ref:
                    continue
                if channel is not None and m.get("channel") != channel:
                    continue
                if pred is not None and not pred(m):
                    continue
                return i
            return None

        async def wait():
            async with self.changed:
                while True:
                    i = find()
                    if i is not None:
                        return self.msgs.pop(i) if remove else self.msgs[i]
                    if self.closed.is_set():
                        raise Closed("connection closed with %s %r while waiting for %s ref=%s"
                                     % (self.close_code, self.close_reason, op, ref))
                    await self.changed.wait()
        try:
            return await asyncio.wait_for(wait(), timeout)
        except asyncio.TimeoutError:
            raise asyncio.TimeoutError("no %s (ref=%s channel=%s) within %.1f s; kept: %s"
                                       % (op, ref, channel, timeout, _short(self.msgs)))

    async def request(self, msg, reply_op, timeout=REPLY_TIMEOUT):
        """Send msg with a fresh ref (unless it has one) and return the reply
        with that ref: reply_op or "error"."""
        msg = dict(msg)
        msg.setdefault("ref", self.next_ref())
        await self.send(msg)
        ops = (reply_op, "error") if isinstance(reply_op, str) else tuple(reply_op) + ("error",)
        return await self.expect(ops, ref=msg["ref"], timeout=timeout)

    async def publish(self, channel, data=None, type="message", id=None, timeout=REPLY_TIMEOUT):
        msg = {"op": "publish", "channel": channel, "type": type,
               "data": {"text": "x"} if data is None else data}
        if id is not None:
            msg["id"] = id
        return await self.request(msg, "ack", timeout)

    async def subscribe(self, channel, since=None, timeout=REPLY_TIMEOUT):
        msg = {"op": "subscribe", "channel": channel}
        if since is not None:
            msg["since"] = since
        return await self.request(msg, "subscribed", timeout)

    async def wait_until(self, pred, timeout=REPLY_TIMEOUT, what="condition"):
        async def wait():
            async with self.changed:
                while not pred():
                    if self.closed.is_set():
                        raise Closed("connection closed with %s while waiting for %s"
                                     % (self.close_code, what))
                    await self.changed.wait()
        try:
            await asyncio.wait_for(wait(), timeout)
        except asyncio.TimeoutError:
            raise asyncio.TimeoutError("%s not reached within %.1f s" % (what, timeout))

    async def wait_seq(self, channel, seq, timeout=REPLY_TIMEOUT):
        """Wait until an event of channel with seq >= seq has arrived."""
        await self.wait_until(lambda: self.maxseq.get(channel, 0) >= seq,
                              timeout, "seq %d on %s (have %s)"
                              % (seq, channel, self.maxseq.get(channel, 0)))

    def seqs(self, channel):
        return [e["seq"] for e in self.events.get(channel, []) if e["seq"] is not None]

    def durable(self, channel):
        return [e for e in self.events.get(channel, []) if e["seq"] is not None]

    def signals(self, channel, presence=False):
        """Signals of channel; presence.* ones only when presence is true."""
        return [e for e in self.events.get(channel, []) if e["seq"] is None and
                (presence or not e["type"].startswith("presence."))]

    async def wait_closed(self, timeout=REPLY_TIMEOUT):
        """The close code once the connection has ended."""
        try:
            await asyncio.wait_for(self.closed.wait(), timeout)
        except asyncio.TimeoutError:
            raise asyncio.TimeoutError("connection still open after %.1f s" % timeout)
        return self.close_code

    async def alive(self):
        """True when a ping is answered with pong."""
        try:
            ts = time.time() * 1000
            await self.send({"op": "ping", "ts": ts})
            await self.expect("pong", pred=lambda m: m.get("ts") == ts)
            return True
        except (Closed, asyncio.TimeoutError, websockets.ConnectionClosed):
            return False

    async def close(self):
        try:
            await asyncio.wait_for(self.ws.close(), 3)
        except Exception:
            pass
        self._task.cancel()
        try:
            await self._task
        except BaseException:
            pass


def _short(msgs, n=5):
    text = json.dumps(msgs[-n:])
    return text if len(text) < 600 else text[:600] + "..."


# --- raw WebSocket client -----------------------------------------------------

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class RawClient:
    """A minimal client WebSocket on a plain socket: frames exactly as
    given, and no reading unless asked (for the slow-consumer test)."""

    def __init__(self, reader, writer, sock):
        self.reader = reader
        self.writer = writer
        self.sock = sock
        self.status = None
        self.status_line = None
        self.response_headers = {}

    @classmethod
    async def open(cls, port, path="/ws", token=None, subprotocol="switchboard.v1",
                   rcvbuf=None, expect_upgrade=True, headers=None):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), REPLY_TIMEOUT)
        # A small stream limit keeps asyncio from buffering much beyond the
        # kernel when the test stops reading.
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096 if rcvbuf else 2 ** 20)
        c = cls(reader, writer, sock)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1:%d" % port, "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Key: " + key,
                 "Sec-WebSocket-Version: 13"]
        if subprotocol:
            lines.append("Sec-WebSocket-Protocol: " + subprotocol)
        if token:
            lines.append("Authorization: Bearer " + token)
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REPLY_TIMEOUT)
        except BaseException:
            writer.close()
            raise
        status_line, *hdr_lines = head.decode("latin-1").split("\r\n")
        c.status_line = status_line
        c.status = int(status_line.split()[1])
        for line in hdr_lines:
            if ":" in line:
                k, v = line.split(":", 1)
                c.response_headers[k.strip().lower()] = v.strip()
        if expect_upgrade and c.status != 101:
            raise AssertionError("handshake answered %s" % status_line)
        return c

    def send_frame(self, opcode, payload, fin=True, mask=True, rsv=0):
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
        else:
            head = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
        if mask:
            key = os.urandom(4)
            body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            self.writer.write(head + key + body)
        else:
            self.writer.write(head + payload)

    async def send(self, opcode, payload, **kw):
        self.send_frame(opcode, payload, **kw)
        await self.writer.drain()

    async def send_json(self, msg):
        await self.send(OP_TEXT, json.dumps(msg).encode())

    async def recv_frame(self, timeout=REPLY_TIMEOUT):
        """(opcode, payload) of the next frame; (None, b"") at EOF."""
        async def read():
            try:
                h = await self.reader.readexactly(2)
            except (asyncio.IncompleteReadError, ConnectionError):
                return None, b""
            opcode = h[0] & 0x0F
            n = h[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            masked = h[1] & 0x80
            key = await self.reader.readexactly(4) if masked else None
            try:
                payload = await self.reader.readexactly(n)
            except (asyncio.IncompleteReadError, ConnectionError):
                return None, b""
            if key:
                payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            return opcode, payload
        return await asyncio.wait_for(read(), timeout)

    async def recv_json(self, timeout=REPLY_TIMEOUT):
        """The next text message as a dict (answering pings on the way)."""
        while True:
            op, payload = await self.recv_frame(timeout)
            if op == OP_TEXT:
                return json.loads(payload)
            if op == OP_PING:
                await self.send(OP_PONG, payload)
                continue
            if op is None or op == OP_CLOSE:
                raise Closed("closed: %s" % (close_code(payload) if op else "EOF"))

    async def until_close(self, timeout=REPLY_TIMEOUT, keep=None):
        """Read frames until a close frame or EOF; return (code, reason,
        texts): code None when the connection ended without a close frame.
        keep: a list to append the text messages read on the way."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError("no close within %.1f s" % timeout)
            op, payload = await self.recv_frame(left)
            if op is None:
                return None, "", keep
            if op == OP_CLOSE:
                code = close_code(payload)
                try:
                    await self.send(OP_CLOSE, payload[:2])
                except (ConnectionError, OSError):
                    pass
                return code, payload[2:].decode("utf-8", "replace"), keep
            if op == OP_TEXT and keep is not None:
                keep.append(json.loads(payload))
            if op == OP_PING:
                try:
                    await self.send(OP_PONG, payload)
                except (ConnectionError, OSError):
                    pass

    def close(self):
        try:
            self.writer.close()
        except Exception:
            pass


def close_code(payload):
    if len(payload) >= 2:
        return struct.unpack("!H", payload[:2])[0]
    return 1005


# --- test cases ---------------------------------------------------------------


def bounded(seconds):
    """Fail the (async) test if it runs longer than seconds."""
    def deco(fn):
        @functools.wraps(fn)
        async def wrapper(self, *args, **kwargs):
            try:
                return await asyncio.wait_for(fn(self, *args, **kwargs), seconds)
            except asyncio.TimeoutError as e:
                if str(e):
                    raise
                raise AssertionError("test did not finish within %d s" % seconds)
        return wrapper
    return deco


class WsdTestCase(unittest.IsolatedAsyncioTestCase):
    """Base class: connect() registers clients closed after the test;
    chan() makes a channel name unique to the test."""

    node = NODE_A
    maxDiff = None

    async def asyncSetUp(self):
        # IsolatedAsyncioTestCase runs the loop in debug mode, whose
        # slow-callback reports are noise here.
        asyncio.get_running_loop().set_debug(False)
        self._clients = []
        self._raw = []
        self._nodes = []

    async def asyncTearDown(self):
        for c in self._clients:
            await c.close()
        for r in self._raw:
            r.close()
        for n in self._nodes:
            await asyncio.to_thread(n.stop)

    def chan(self, ns="chat", tag=""):
        test = self._testMethodName.replace("test_", "")[:40].replace("_", "-")
        return "%s:%s%s-%s" % (ns, test, tag, uuid.uuid4().hex[:8])

    async def connect(self, token=None, how="message", node=None, url=None, **kw):
        c = await Client.open(url or (node or self.node).url, token, how, **kw)
        self._clients.append(c)
        return c

    async def user(self, sub="alice", role="user", ch=("*",), node=None, **kw):
        """A connection authenticated by an auth message."""
        return await self.connect(make_token(sub, role, ch), node=node, **kw)

    async def raw(self, port=None, **kw):
        r = await RawClient.open(port or self.node.port, **kw)
        self._raw.append(r)
        return r

    async def start_node(self, name=None, **overrides):
        node = await asyncio.to_thread(start_node, name, **overrides)
        self._nodes.append(node)
        return node

    def assertError(self, msg, code, ref=None):
        self.assertEqual(msg.get("op"), "error", "expected error %s, got %s" % (code, msg))
        self.assertEqual(msg.get("code"), code, "expected error %s, got %s" % (code, msg))
        self.assertIsInstance(msg.get("message"), str)
        if ref is not None:
            self.assertEqual(msg.get("ref"), ref, msg)

    def assertGapless(self, seqs, first, last, what="events"):
        """seqs is exactly first..last, each once, ascending."""
        if seqs != list(range(first, last + 1)):
            dups = len(seqs) - len(set(seqs))
            missing = sorted(set(range(first, last + 1)) - set(seqs))
            self.fail("%s: expected seqs %d..%d once each in order; got %d seqs, %d duplicates, "
                      "%d missing (first missing %s), in order: %s"
                      % (what, first, last, len(seqs), dups, len(missing), missing[:5],
                         seqs == sorted(seqs)))

    async def assertNodeUp(self, node=None):
        """The node still serves: /healthz 200 and a new connection answers ping."""
        node = node or self.node
        self.assertTrue(await asyncio.to_thread(node.healthz_ok), "/healthz of %s" % node.name)
        c = await self.connect(make_token("probe", "reader", ("chat:*",)), node=node)
        self.assertTrue(await c.alive(), "a new connection to %s answers ping" % node.name)
        await c.close()
