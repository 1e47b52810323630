"""Server-Sent Events through each web server: retry hint, replay,
streaming as events are published, signals, heartbeats, resume by
Last-Event-ID or last_event_id."""

import json
import threading

from fcgitest import SseReader, make_token, psql, publish_sql, server_classes, uniq


class Sse:
    def open(self, query, token=None, headers=None):
        s = SseReader(self.BASE, "/api/v1/sse?" + query, token, headers)
        self.addCleanup(s.close)
        return s

    def test_stream_and_resume(self):
        t, a, b = make_token(), uniq(), uniq()
        publish_sql(a, "old")
        s = self.open(f"channels={a},{b}", t)
        self.assertEqual(s.status, 200)
        self.assertTrue(s.headers["content-type"].startswith(
            "text/event-stream"))
        self.assertEqual(s.frames(1)[0], {"retry": "1500"})
        threading.Timer(0.3, publish_sql, (b, "live")).start()
        f = s.frames(1)[0]
        self.assertEqual(f["id"], f"{a}@1,{b}@1")
        self.assertEqual(f["event"], "message")
        self.assertEqual(json.loads(f["data"])["data"]["text"], "live")
        publish_sql(a, "missed 1")
        publish_sql(a, "missed 2")
        s2 = self.open(f"channels={a},{b}", t,
                       headers={"Last-Event-ID": f"{a}@1,{b}@1"})
        got = s2.frames(3)
        self.assertEqual([x.get("id") for x in got[1:]],
                         [f"{a}@2,{b}@1", f"{a}@3,{b}@1"])
        s3 = self.open(f"channels={a}@0&last_event_id={a}@2&event_names=0",
                       t)
        got = s3.frames(2)
        self.assertNotIn("event", got[1])
        self.assertEqual(got[1]["id"], f"{a}@3")

    def test_signal_and_heartbeat(self):
        t, ch = make_token(), uniq()
        s = self.open(f"channels={ch}", t)
        s.frames(1)
        threading.Timer(0.3, psql, (f"SELECT switchboard.signal('{ch}', "
                                    "'typing', '{\"active\": true}', "
                                    "'user:x')",)).start()
        f = s.frames(1)[0]
        self.assertEqual(f["event"], "typing")
        self.assertNotIn("id", f)
        s.frames(1, seconds=2.5)  # sse_heartbeat is 1 s here
        self.assertIn(": heartbeat", s.comments)

    def test_expiry(self):
        t, ch = make_token(ttl=-28), uniq()  # valid for ~2 s more (leeway)
        s = self.open(f"channels={ch}", t)
        got = s.frames(3, seconds=6)
        self.assertEqual(got[-1]["event"], "expired")
        self.assertEqual(json.loads(got[-1]["data"])["code"], "token_expired")

    def test_errors_before_stream(self):
        t, ch = make_token(), uniq()
        for query, status in [("", 422), (f"channels={ch}@x", 400),
                              ("channels=bad", 422),
                              (f"channels={ch},{ch}", 400),
                              (f"channels={ch}&event_names=2", 422)]:
            s = self.open(query, t)
            self.assertEqual(s.status, status, query)
        s = self.open(f"channels={ch}", t,
                      headers={"Last-Event-ID": "garbage"})
        self.assertEqual(s.status, 400)
        s = self.open(f"channels={ch}")
        self.assertEqual(s.status, 401)
        s = self.open(f"channels=activity:main", make_token(ch=("chat:*",)))
        self.assertEqual(s.status, 403)


server_classes(globals(), Sse)
