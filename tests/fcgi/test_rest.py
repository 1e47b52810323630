"""REST through each web server: publish (one, idempotent, batch),
signals, history, channels, presence, activity, tasks, health, status,
metrics, and the error statuses that go with them."""

import uuid

from fcgitest import (http, make_token, psql, publish_sql, server_classes,
                      stored, uniq)


class Rest:
    def post(self, path, body, token, **kw):
        return http(self.BASE, "POST", "/api/v1" + path, body, token, **kw)

    def get(self, path, token=None, **kw):
        return http(self.BASE, "GET", "/api/v1" + path, token=token, **kw)

    def test_health(self):
        r = self.get("/health")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "ok")
        self.assertEqual(r.headers.get("cache-control"), "no-store")

    def test_publish_and_history(self):
        t, ch = make_token(), uniq()
        r = self.post(f"/channels/{ch}/events",
                      {"type": "message", "data": {"text": "hi"}}, t)
        self.assertEqual(r.status, 201, r)
        self.assertEqual((r.json["seq"], r.json["duplicate"]), (1, False))
        for i in range(2, 5):
            self.post(f"/channels/{ch}/events",
                      {"type": "message", "data": {"text": str(i)}}, t)
        h = self.get(f"/channels/{ch}/events?before=4&limit=2", t)
        self.assertEqual([e["seq"] for e in h.json["events"]], [2, 3])
        self.assertTrue(h.json["more"])
        self.assertEqual((h.json["last_seq"], h.json["oldest_seq"]), (4, 1))
        h = self.get(f"/channels/{ch}/events?after=2", t)
        self.assertEqual([e["seq"] for e in h.json["events"]], [3, 4])
        self.assertFalse(h.json["more"])
        ev = h.json["events"][0]
        self.assertEqual(list(ev), ["channel", "seq", "id", "type", "sender",
                                    "time", "data"])
        self.assertTrue(ev["sender"].startswith("user:"))

    def test_empty_channel(self):
        t, ch = make_token(), uniq()
        h = self.get(f"/channels/{ch}/events", t)
        self.assertEqual(h.json, {"channel": ch, "events": [], "more": False,
                                  "last_seq": 0, "oldest_seq": 1})
        i = self.get(f"/channels/{ch}", t)
        self.assertEqual((i.status, i.json["last_seq"], i.json["created_at"]),
                         (200, 0, None))

    def test_slash_in_channel(self):
        t, ch = make_token(), uniq() + "/x"
        r = self.post(f"/channels/{ch.replace('/', '%2F')}/events",
                      {"type": "message", "data": {}}, t)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["channel"], ch)

    def test_idempotent(self):
        t, ch, eid = make_token(), uniq(), str(uuid.uuid4())
        body = {"type": "message", "data": {"text": "x"}, "id": eid}
        a = self.post(f"/channels/{ch}/events", body, t)
        b = self.post(f"/channels/{ch}/events", body, t)
        self.assertEqual((a.status, b.status), (201, 200))
        self.assertEqual(b.json["seq"], a.json["seq"])
        self.assertTrue(b.json["duplicate"])
        key = str(uuid.uuid4())
        c = self.post(f"/channels/{ch}/events", {"type": "m", "data": {}}, t,
                      headers={"Idempotency-Key": key})
        d = self.post(f"/channels/{ch}/events", {"type": "m", "data": {}}, t,
                      headers={"Idempotency-Key": key})
        self.assertEqual((c.status, d.status, c.json["id"]), (201, 200, key))
        self.assertEqual(stored(ch), 2)
        e = self.post(f"/channels/{ch}/events", {"type": "m", "data": {}}, t,
                      headers={"Idempotency-Key": "nope"})
        self.assertEqual((e.status, e.code()), (422, "invalid_id"))

    def test_batch(self):
        t, ch = make_token(), uniq("activity")
        eid = str(uuid.uuid4())
        events = [{"type": "log", "data": {"level": "info", "message": "a"}},
                  {"type": "log", "data": {"level": "success",
                                           "message": "b"}, "id": eid},
                  {"type": "log", "data": {"level": "info", "message": "c"},
                   "id": eid}]
        r = self.post(f"/channels/{ch}/events", {"events": events}, t)
        self.assertEqual(r.status, 200, r)
        res = r.json["results"]
        self.assertEqual([x["seq"] for x in res], [1, 2, 2])
        self.assertEqual([x["duplicate"] for x in res], [False, False, True])
        bad = [{"type": "log", "data": {"level": "info", "message": "ok"}},
               {"type": "log", "data": {"level": "loud", "message": "x"}}]
        r = self.post(f"/channels/{ch}/events", {"events": bad}, t)
        self.assertEqual((r.status, r.code()), (422, "invalid_data"), r)
        self.assertEqual(r.json["error"]["index"], 1)
        self.assertEqual(stored(ch), 2)
        r = self.post(f"/channels/{ch}/events", {"events": []}, t)
        self.assertEqual((r.status, r.code()), (400, "bad_request"))
        many = [{"type": "m", "data": {}}] * 1001
        r = self.post(f"/channels/{ch}/events", {"events": many}, t)
        self.assertEqual((r.status, r.code()), (413, "too_large"))

    def test_signal(self):
        t, ch = make_token(), uniq()
        r = self.post(f"/channels/{ch}/signals",
                      {"type": "typing", "data": {"active": True}}, t)
        self.assertEqual(r.status, 202, r)
        self.assertIsNone(r.json["seq"])
        self.assertEqual(len(r.json["id"]), 36)
        r = self.post(f"/channels/{ch}/signals",
                      {"type": "typing", "data": {}, "id": str(uuid.uuid4())},
                      t)
        self.assertEqual(r.status, 400)
        big = {"type": "token", "data": {"text": "x" * 9000}}
        r = self.post(f"/channels/{ch}/signals", big, t)
        self.assertEqual((r.status, r.code()), (413, "too_large"), r)
        self.assertEqual(stored(ch), 0)

    def test_channels_list(self):
        t, ch = make_token(ch=("chat:*",)), uniq()
        publish_sql(ch)
        publish_sql(uniq())
        publish_sql(uniq("alerts"))
        r = self.get(f"/channels?namespace=chat&limit=1000", t)
        self.assertEqual(r.status, 200, r)
        names = [c["channel"] for c in r.json["channels"]]
        self.assertIn(ch, names)
        self.assertTrue(all(n.startswith("chat:") for n in names))
        r = self.get("/channels?limit=1", t)
        self.assertEqual(len(r.json["channels"]), 1)
        self.assertTrue(r.json["more"])
        r = self.get(f"/channels/{ch}/presence", t)
        self.assertEqual(r.json, {"channel": ch, "members": []})

    def test_activity(self):
        t, ch = make_token(), uniq("activity")
        psql(f"SELECT switchboard.log_activity('{ch}', 'error', "
             "'disk timeout on db1')")
        psql(f"SELECT switchboard.log_activity('{ch}', 'info', 'all fine')")
        r = self.get(f"/activity?channel={ch}&level=error&q=timeout", t)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json["events"]), 1)
        self.assertIsNone(r.json["cursor"])
        r = self.get(f"/activity?channel={ch}&limit=1", t)
        self.assertIsNotNone(r.json["cursor"])
        r2 = self.get(f"/activity?channel={ch}&limit=1&cursor="
                      f"{r.json['cursor']}", t)
        self.assertEqual(r2.json["events"][0]["data"]["message"],
                         "disk timeout on db1")
        self.assertEqual(self.get(f"/activity?channel={ch}&level=loud",
                                  t).code(), "invalid_parameter")
        self.assertEqual(self.get(f"/activity?channel={ch}&since=yesterday",
                                  t).status, 422)
        self.assertEqual(self.get(f"/activity?channel={ch}&cursor=zzz",
                                  t).code(), "invalid_cursor")
        self.assertEqual(self.get("/activity", t).status, 403)

    def test_tasks(self):
        t, ch = make_token(), uniq("workflow")
        r = self.post(f"/workflows/{ch}/tasks", {"title": "Draft email",
                                                  "metadata": {"c": 1}}, t)
        self.assertEqual(r.status, 201, r)
        tid = r.json["id"]
        self.assertEqual(r.json["state"], "queued")
        r = http(self.BASE, "PATCH", f"/api/v1/tasks/{tid}",
                 {"state": "active", "current_step": "writing"}, t)
        self.assertEqual(r.status, 200, r)
        s = self.get(f"/workflows/{ch}/stats", t)
        self.assertEqual((s.json["active"], s.json["total"]), (1, 1))
        self.assertEqual(s.json["current_task"]["current_step"], "writing")
        http(self.BASE, "PATCH", f"/api/v1/tasks/{tid}",
             {"state": "completed"}, t)
        r = http(self.BASE, "PATCH", f"/api/v1/tasks/{tid}",
                 {"state": "active"}, t)
        self.assertEqual((r.status, r.code()), (409, "invalid_transition"))
        r = http(self.BASE, "PATCH", f"/api/v1/tasks/{uuid.uuid4()}",
                 {"state": "active"}, t)
        self.assertEqual((r.status, r.code()), (404, "not_found"))
        r = http(self.BASE, "PATCH", f"/api/v1/tasks/{tid}",
                 {"state": "sleeping"}, t)
        self.assertEqual((r.status, r.code()), (422, "invalid_parameter"))
        self.assertGreaterEqual(stored(ch), 3)  # workflow.stats per change

    def test_status_and_metrics(self):
        r = self.get("/status", make_token())
        self.assertEqual((r.status, r.code()), (403, "forbidden"))
        r = self.get("/status", make_token(role="admin", ch=None))
        self.assertEqual(r.status, 200, r)
        self.assertIn("fcgi", [n["kind"] for n in r.json["nodes"]])
        m = self.get("/metrics")
        self.assertEqual(m.status, 200)
        self.assertIn("switchboard_parked_requests", m.body)
        self.assertTrue(m.headers["content-type"].startswith("text/plain"))
        o = self.get("/metrics/overview?window_hours=500", make_token())
        self.assertEqual(o.status, 200, o)
        self.assertEqual(o.json["window_hours"], 168)
        self.assertIn("by_namespace", o.json["data"]["events"])
        o = self.get("/metrics/overview?window_hours=x", make_token())
        self.assertEqual(o.status, 422)

    def test_routes(self):
        t = make_token()
        r = self.get("/nowhere", t)
        self.assertEqual((r.status, r.code()), (404, "not_found"))
        r = http(self.BASE, "DELETE", f"/api/v1/channels/{uniq()}/events",
                 token=t)
        self.assertEqual((r.status, r.code()), (405, "method_not_allowed"))
        self.assertIn("POST", r.headers.get("allow", ""))

    def test_rate_limited(self):
        """publish_rate 5, publish_burst 20 in the test configuration: the
        burst passes, then 429 (publishing until it comes, as a slow build
        refills the bucket while it publishes)."""
        t, ch = make_token(), uniq()
        statuses = []
        while len(statuses) < 100 and 429 not in statuses:
            statuses.append(self.post(f"/channels/{ch}/events",
                                      {"type": "m", "data": {}}, t).status)
        self.assertEqual(statuses[-1], 429, statuses)
        self.assertGreaterEqual(statuses.count(201), 20)
        r = self.post(f"/channels/{ch}/events", {"type": "m", "data": {}}, t)
        self.assertEqual((r.status, r.code()), (429, "rate_limited"))
        self.assertGreaterEqual(int(r.headers["retry-after"]), 1)
        self.assertEqual(stored(ch), statuses.count(201))


server_classes(globals(), Rest)
