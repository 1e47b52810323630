"""Long-polling through each web server: immediate answers, a wait woken
by a publish from psql and from wsd, signals, timeouts, bounds."""

import asyncio
import json
import os
import threading
import time
import uuid

from fcgitest import (http, make_token, metrics, psql, publish_sql,
                      server_classes, stored, uniq, SseReader)


def later(seconds, fn, *args):
    t = threading.Timer(seconds, fn, args)
    t.start()
    return t


def wsd_publish(url, token, channel):
    """Publish one event through wsd (python3-websockets)."""
    import websockets

    async def run():
        async with websockets.connect(url, subprotocols=["switchboard.v1"],
                                      open_timeout=5) as ws:
            await ws.recv()  # hello
            await ws.send(json.dumps({"op": "auth", "token": token}))
            await ws.recv()
            await ws.send(json.dumps({"op": "publish", "ref": "p",
                                      "channel": channel, "type": "message",
                                      "data": {"text": "via wsd"}}))
            while json.loads(await ws.recv())["op"] != "ack":
                pass
    asyncio.run(asyncio.wait_for(run(), 10))


class Poll:
    def poll(self, query, token, timeout=15):
        return http(self.BASE, "GET", "/api/v1/poll?" + query, token=token,
                    timeout=timeout)

    def test_immediate(self):
        t, a, b = make_token(), uniq(), uniq()
        publish_sql(a, "one")
        publish_sql(a, "two")
        r = self.poll(f"cursor={a}@0&cursor={b}&limit=1", t)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json["events"]), 1)
        self.assertEqual(r.json["cursors"], {a: 1, b: 0})
        self.assertFalse(r.json["timeout"])
        r = self.poll(f"cursor={a}@1&cursor={b}@0", t)
        self.assertEqual(r.json["cursors"], {a: 2, b: 0})

    def test_woken_by_psql(self):
        t, ch = make_token(), uniq()
        later(0.5, publish_sql, ch, "wake")
        start = time.time()
        r = self.poll(f"cursor={ch}@0&timeout=8", t)
        self.assertLess(time.time() - start, 4)
        self.assertEqual([e["data"]["text"] for e in r.json["events"]],
                         ["wake"])
        self.assertEqual(r.json["cursors"], {ch: 1})

    def test_woken_by_wsd(self):
        url = os.environ.get("SB_WSD_URL")
        if not url:
            self.skipTest("wsd not built")
        try:
            import websockets  # noqa: F401
        except ImportError:
            self.skipTest("no python3-websockets")
        t, ch = make_token(), uniq()
        later(0.5, wsd_publish, url, make_token(), ch)
        r = self.poll(f"cursor={ch}&timeout=8", t)
        self.assertEqual([e["data"]["text"] for e in r.json["events"]],
                         ["via wsd"], r)

    def test_post_and_signal(self):
        t, ch = make_token(), uniq()
        later(0.5, psql, f"SELECT switchboard.signal('{ch}', 'typing', "
              "'{\"active\": true}', 'user:x')")
        r = http(self.BASE, "POST", "/api/v1/poll",
                 {"cursors": {ch: None}, "timeout": 8}, t, timeout=15)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["events"][0]["type"], "typing")
        self.assertIsNone(r.json["events"][0]["seq"])

    def test_known_cursor(self):
        """A re-poll whose cursor the doorbells already told about parks
        without its own database read (the metric counts it): when current,
        the next publish wakes it; when behind, the waiter reads for it and
        it is answered at once. Without a wait it is read as usual."""
        t, ch = make_token(), uniq()
        name = "switchboard_poll_known_total"
        later(0.5, publish_sql, ch, "one")
        r = self.poll(f"cursor={ch}@0&timeout=8", t)
        self.assertEqual(r.json["cursors"], {ch: 1}, r)
        before = metrics(self.BASE)[name]
        later(0.5, publish_sql, ch, "two")
        start = time.time()
        r = self.poll(f"cursor={ch}@1&timeout=8", t)
        self.assertLess(time.time() - start, 4)
        self.assertEqual([e["data"]["text"] for e in r.json["events"]],
                         ["two"], r)
        self.assertEqual(r.json["cursors"], {ch: 2})
        self.assertEqual(metrics(self.BASE)[name], before + 1)
        start = time.time()
        r = self.poll(f"cursor={ch}@0&timeout=8", t)
        self.assertLess(time.time() - start, 4)
        self.assertEqual([e["seq"] for e in r.json["events"]], [1, 2], r)
        self.assertEqual(r.json["cursors"], {ch: 2})
        self.assertEqual(metrics(self.BASE)[name], before + 2)
        r = self.poll(f"cursor={ch}@1&timeout=0", t)
        self.assertEqual([e["seq"] for e in r.json["events"]], [2], r)
        r = self.poll(f"cursor={ch}@2&timeout=0", t)
        self.assertEqual(r.json, {"events": [], "cursors": {ch: 2},
                                  "timeout": True})
        self.assertEqual(metrics(self.BASE)[name], before + 3)

    def test_known_cursor_pruned(self):
        """A poll parked behind the doorbells on a channel whose events
        retention removed since gets the same reload as a read would give:
        pruned, with the channel's last and oldest seq."""
        ns = "tp" + uuid.uuid4().hex[:8]
        psql("INSERT INTO switchboard.namespaces (name, description, "
             f"retention) VALUES ('{ns}', 'fcgi test', '1 millisecond')")
        t, ch = make_token(ch=("*",)), f"{ns}:gone"
        name = "switchboard_poll_known_total"
        later(0.5, publish_sql, ch, "one")
        r = self.poll(f"cursor={ch}@0&timeout=8", t)
        self.assertEqual(r.json["cursors"], {ch: 1}, r)
        later(0.5, publish_sql, ch, "two")
        r = self.poll(f"cursor={ch}@1&timeout=8", t)
        self.assertEqual(r.json["cursors"], {ch: 2}, r)
        time.sleep(0.1)
        psql("SELECT count(*) FROM switchboard.prune_events()")
        before = metrics(self.BASE)[name]
        start = time.time()
        r = self.poll(f"cursor={ch}@0&timeout=8", t)
        self.assertLess(time.time() - start, 4)
        self.assertEqual(metrics(self.BASE)[name], before + 1)
        self.assertEqual(r.json, {"events": [], "cursors": {ch: 2},
                                  "timeout": False,
                                  "reload": [{"channel": ch,
                                              "reason": "pruned",
                                              "last_seq": 2,
                                              "oldest_seq": 3}]})
        r = self.poll(f"cursor={ch}@0&timeout=0", t)
        self.assertEqual(r.json["reload"][0]["oldest_seq"], 3, r)

    def test_timeout(self):
        t, ch = make_token(), uniq()
        start = time.time()
        r = self.poll(f"cursor={ch}&timeout=1", t)
        self.assertGreaterEqual(time.time() - start, 0.9)
        self.assertEqual(r.json, {"events": [], "cursors": {ch: 0},
                                  "timeout": True})
        r = self.poll(f"cursor={ch}@0&timeout=0", t)
        self.assertTrue(r.json["timeout"])

    def test_reload(self):
        t, ch = make_token(), uniq()
        publish_sql(ch)
        r = self.poll(f"cursor={ch}@7", t)
        self.assertEqual(r.json["reload"], [{"channel": ch, "reason":
                                             "rewound", "last_seq": 1,
                                             "oldest_seq": 1}])
        self.assertEqual(r.json["cursors"], {ch: 1})

    def test_bad_polls(self):
        t, ch = make_token(), uniq()
        cases = [(f"cursor={ch}@-1", 400, "invalid_cursor"),
                 (f"cursor={ch}@x", 400, "invalid_cursor"),
                 (f"cursor={ch}@1&cursor={ch}@2", 400, "invalid_cursor"),
                 ("cursor=nope", 422, "invalid_channel"),
                 ("timeout=1", 422, "invalid_parameter"),
                 (f"cursor={ch}&timeout=999", 422, "invalid_parameter"),
                 (f"cursor={ch}&limit=0", 422, "invalid_parameter"),
                 ("&".join(f"cursor=chat:c{i}" for i in range(65)), 422,
                  "invalid_parameter")]
        for query, status, code in cases:
            r = self.poll(query, t)
            self.assertEqual((r.status, r.code()), (status, code), query)
        r = self.poll("cursor=nope:x", make_token(ch=("*",)))
        self.assertEqual((r.status, r.code()), (422, "unknown_namespace"))
        r = http(self.BASE, "POST", "/api/v1/poll", raw=b"{", token=t)
        self.assertEqual((r.status, r.code()), (400, "invalid_json"))
        r = http(self.BASE, "POST", "/api/v1/poll", {"cursors": {ch: 0}}, t,
                 ctype="text/plain")
        self.assertEqual(r.status, 415)

    def test_max_parked(self):
        """max_parked is 8 in the test configuration: the 9th waits no more."""
        t, ch = make_token(), uniq()
        results = []

        def one():
            results.append(self.poll(f"cursor={ch}&timeout=4", t))
        threads = [threading.Thread(target=one) for _ in range(8)]
        for th in threads:
            th.start()
        time.sleep(1.0)
        r = self.poll(f"cursor={ch}&timeout=4", t)
        self.assertEqual((r.status, r.code()), (503, "unavailable"), r)
        self.assertEqual(r.headers.get("retry-after"), "1")
        s = SseReader(self.BASE, f"/api/v1/sse?channels={ch}", t)
        self.assertEqual(s.status, 503)
        s.close()
        publish_sql(ch)
        for th in threads:
            th.join(15)
        self.assertEqual(sorted(x.status for x in results), [200] * 8)
        self.assertTrue(all(len(x.json["events"]) == 1 for x in results))
        self.assertEqual(stored(ch), 1)


server_classes(globals(), Poll)


class WsProxy:
    """The web server's /ws proxy reaches wsd with the upgrade."""

    def test_upgrade_reaches_wsd(self):
        if not os.environ.get("SB_WSD_URL"):
            self.skipTest("wsd not built")
        try:
            import websockets
        except ImportError:
            self.skipTest("no python3-websockets")

        async def hello():
            url = self.BASE.replace("http://", "ws://") + "/ws"
            async with websockets.connect(url, subprotocols=["switchboard.v1"],
                                          open_timeout=5) as ws:
                return json.loads(await asyncio.wait_for(ws.recv(), 5))
        msg = asyncio.run(hello())
        self.assertEqual((msg["op"], msg["protocol"]),
                         ("hello", "switchboard.v1"))


server_classes(globals(), WsProxy)
