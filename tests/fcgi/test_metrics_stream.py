"""Metrics over Server-Sent Events through each web server: the snapshot
at once, again only when it changed, one snapshot per window shared by
the streams due together, clamping, and the errors before the stream."""

import json
import time

from fcgitest import SseReader, make_token, publish_sql, server_classes, uniq


class MetricsStream:
    def open(self, query, token):
        s = SseReader(self.BASE, "/api/v1/metrics/stream?" + query, token)
        self.addCleanup(s.close)
        return s

    def first(self, s):
        got = s.frames(2)
        self.assertEqual(got[0], {"retry": "1500"})
        self.assertEqual(got[1]["event"], "metrics")
        return json.loads(got[1]["data"])

    def next_metrics(self, s, seconds):
        end = time.time() + seconds
        while time.time() < end:
            got = s.frames(1, seconds=max(0.1, end - time.time()))
            if got and got[0].get("event") == "metrics":
                return json.loads(got[0]["data"])
        return None

    def quiet(self, s, snap):
        """Read metrics events until none comes for 2.5 s (the stream's own
        connection shows in the next node heartbeat, and streams of other
        tests end). The last snapshot seen; fails when the stream does not
        settle within 10 s."""
        for _ in range(4):
            nxt = self.next_metrics(s, 2.5)
            if nxt is None:
                return snap
            snap = nxt
        self.fail("metrics events keep coming without a change")

    def test_snapshot_then_changes_only(self):
        t = make_token()
        s = self.open("window_hours=2&interval_s=1", t)
        self.assertEqual(s.status, 200)
        self.assertTrue(s.headers["content-type"].startswith(
            "text/event-stream"))
        snap = self.first(s)
        self.assertEqual(snap["window_hours"], 2)
        self.assertEqual(set(snap["data"]), {"events", "chat", "activity",
                                             "tasks", "nodes", "connections",
                                             "subscriptions"})
        # Nothing changes: heartbeats (sse_heartbeat is 1 s here), no event.
        snap = self.quiet(s, snap)
        self.assertIn(": heartbeat", s.comments)
        publish_sql(uniq(), "counted")
        snap2 = self.next_metrics(s, 3)
        self.assertIsNotNone(snap2, "no metrics event after a publish")
        self.assertEqual(snap2["data"]["events"]["total"],
                         snap["data"]["events"]["total"] + 1)
        self.assertEqual(snap2["data"]["chat"]["messages"],
                         snap["data"]["chat"]["messages"] + 1)

    def test_one_snapshot_per_window_per_tick(self):
        t = make_token()
        a = self.open("window_hours=3&interval_s=1", t)
        b = self.open("window_hours=3&interval_s=1", t)
        self.quiet(a, self.first(a))
        self.quiet(b, self.first(b))
        publish_sql(uniq(), "shared")
        sa, sb = self.next_metrics(a, 3), self.next_metrics(b, 3)
        self.assertIsNotNone(sa)
        self.assertIsNotNone(sb)
        self.assertEqual(sa["generated_at"], sb["generated_at"])
        self.assertEqual(sa, sb)

    def test_clamping_and_errors(self):
        t = make_token()
        s = self.open("window_hours=500&interval_s=0", t)
        self.assertEqual(self.first(s)["window_hours"], 168)
        s = self.open("window_hours=-4&interval_s=999", t)
        self.assertEqual(self.first(s)["window_hours"], 1)
        for query in ["window_hours=x", "interval_s=1.5", "interval_s=",
                      "window_hours=1e3", "interval_s=5%27%3B--"]:
            s = self.open(query, t)
            self.assertEqual(s.status, 422, query)
            body = json.loads(s.resp.read())
            self.assertEqual(body["error"]["code"], "invalid_parameter")
        self.assertEqual(self.open("", None).status, 401)
        s = self.open("", make_token(ch=("chat:*",)))
        self.assertEqual(s.status, 403)

    def test_expiry_ends_the_stream(self):
        s = self.open("interval_s=1", make_token(ttl=-28))  # ~2 s left
        self.first(s)
        frames = s.frames(20, seconds=8)  # up to the end of the stream
        self.assertEqual(frames[-1].get("event"), "expired", frames)
        self.assertEqual(json.loads(frames[-1]["data"])["code"],
                         "token_expired")


server_classes(globals(), MetricsStream)
