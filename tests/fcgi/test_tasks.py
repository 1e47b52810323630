"""Workflow tasks through each web server: the stored task in every
answer, GET /tasks/{id}, GET /workflows/{channel}/tasks (newest first,
state filter, paging by task id), permissions on the task's own channel,
and the bad parameters."""

import uuid

from fcgitest import http, make_token, psql, server_classes, uniq

SHAPE = ["id", "channel", "title", "state", "current_step", "error",
         "metadata", "created_at", "started_at", "finished_at", "updated_at"]


class Tasks:
    def create(self, ch, title, token, **extra):
        r = http(self.BASE, "POST", f"/api/v1/workflows/{ch}/tasks",
                 dict({"title": title}, **extra), token)
        self.assertEqual(r.status, 201, r)
        return r.json

    def get(self, path, token):
        return http(self.BASE, "GET", "/api/v1" + path, token=token)

    def patch(self, tid, body, token):
        return http(self.BASE, "PATCH", f"/api/v1/tasks/{tid}", body, token)

    def test_answers_are_the_stored_task(self):
        t, ch = make_token(), uniq("workflow")
        task = self.create(ch, "Draft", t, metadata={"customer": "acme"})
        self.assertEqual(list(task), SHAPE)
        self.assertEqual((task["channel"], task["state"], task["metadata"]),
                         (ch, "queued", {"customer": "acme"}))
        self.assertIsNone(task["started_at"])
        r = self.patch(task["id"], {"state": "active",
                                    "current_step": "writing"}, t)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(list(r.json), SHAPE)
        self.assertEqual((r.json["state"], r.json["current_step"],
                          r.json["title"]), ("active", "writing", "Draft"))
        self.assertIsNotNone(r.json["started_at"])
        g = self.get(f"/tasks/{task['id']}", t)
        self.assertEqual((g.status, g.json), (200, r.json))
        again = self.create(ch, "Other title", t, id=task["id"])
        self.assertEqual((again["title"], again["state"]), ("Draft", "active"))

    def test_list_newest_first_and_paging(self):
        t, ch = make_token(), uniq("workflow")
        ids = [self.create(ch, f"task {i}", t)["id"] for i in range(5)]
        self.patch(ids[1], {"state": "active"}, t)
        r = self.get(f"/workflows/{ch}/tasks", t)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(set(r.json), {"tasks", "more"})
        self.assertFalse(r.json["more"])
        want = psql("SELECT string_agg(id::text, ',' ORDER BY created_at "
                    f"DESC, id DESC) FROM switchboard.tasks WHERE channel = "
                    f"'{ch}'").split(",")
        self.assertEqual([x["id"] for x in r.json["tasks"]], want)
        self.assertEqual(sorted(want), sorted(ids))
        seen, after = [], None
        for _ in range(10):
            q = f"/workflows/{ch}/tasks?limit=2" + (f"&after={after}"
                                                    if after else "")
            page = self.get(q, t).json
            seen += [x["id"] for x in page["tasks"]]
            if not page["more"]:
                break
            after = page["tasks"][-1]["id"]
        self.assertEqual(seen, want)
        r = self.get(f"/workflows/{ch}/tasks?state=active", t)
        self.assertEqual([x["id"] for x in r.json["tasks"]], [ids[1]])
        r = self.get(f"/workflows/{uniq('workflow')}/tasks", t)
        self.assertEqual(r.json, {"tasks": [], "more": False})

    def test_bad_parameters(self):
        t, ch = make_token(), uniq("workflow")
        other = self.create(uniq("workflow"), "elsewhere", t)["id"]
        for query in ["state=sleeping", "state=", "limit=0", "limit=1001",
                      "limit=x", "after=nope", "after=1%27%20OR%201=1",
                      f"after={uuid.uuid4()}", f"after={other}"]:
            r = self.get(f"/workflows/{ch}/tasks?{query}", t)
            self.assertEqual((r.status, r.code()), (422, "invalid_parameter"),
                             (query, r))
        r = self.get("/workflows/bad%20channel/tasks", t)
        self.assertEqual((r.status, r.code()), (422, "invalid_channel"))
        r = self.get(f"/workflows/nons{uuid.uuid4().hex[:6]}:x/tasks",
                     make_token(ch=("*",)))
        self.assertEqual((r.status, r.code()), (422, "unknown_namespace"))
        r = self.get("/tasks/not-a-uuid", t)
        self.assertEqual((r.status, r.code()), (422, "invalid_id"))
        r = self.get(f"/tasks/{uuid.uuid4()}", t)
        self.assertEqual((r.status, r.code()), (404, "not_found"))
        r = self.patch(uuid.uuid4(), {"state": "active"}, t)
        self.assertEqual((r.status, r.code()), (404, "not_found"))

    def test_permissions_on_the_task_channel(self):
        owner, ch = make_token(), uniq("workflow")
        tid = self.create(ch, "private", owner)["id"]
        before = psql(f"SELECT updated_at FROM switchboard.tasks "
                      f"WHERE id = '{tid}'")
        stranger = make_token(ch=("workflow:someone-else", "chat:*"))
        for r in [self.get(f"/tasks/{tid}", stranger),
                  self.get(f"/workflows/{ch}/tasks", stranger),
                  self.patch(tid, {"state": "active"}, stranger)]:
            self.assertEqual((r.status, r.code()), (403, "forbidden"), r)
        reader = make_token(role="reader", ch=(ch,))
        self.assertEqual(self.get(f"/tasks/{tid}", reader).status, 200)
        self.assertEqual(self.get(f"/workflows/{ch}/tasks", reader).status,
                         200)
        r = self.patch(tid, {"state": "active"}, reader)
        self.assertEqual((r.status, r.code()), (403, "forbidden"), r)
        # A publisher of this one channel may change it: no wildcard needed.
        r = self.patch(tid, {"state": "cancelled"}, make_token(ch=(ch,)))
        self.assertEqual((r.status, r.json["state"]), (200, "cancelled"), r)
        self.assertNotEqual(before, psql(f"SELECT updated_at FROM "
                                         f"switchboard.tasks WHERE id = "
                                         f"'{tid}'"))
        self.assertEqual(self.get(f"/tasks/{tid}", None).status, 401)


    def test_writes_count_against_publish_rate(self):
        """PROTOCOL.md 5.12: task writes take from the subject's
        publish_rate bucket (5/s, burst 20 in the test configuration): the
        burst passes, then 429 with Retry-After, and nothing is written."""
        t, ch = make_token(), uniq("workflow")
        statuses, first = [], None
        while len(statuses) < 100 and 429 not in statuses:
            r = http(self.BASE, "POST", f"/api/v1/workflows/{ch}/tasks",
                     {"title": "t%d" % len(statuses)}, t)
            statuses.append(r.status)
            first = first or (r.json["id"] if r.status == 201 else None)
        # At once, before the bucket refills (one token per 200 ms).
        r = self.patch(first, {"state": "active"}, t)
        self.assertEqual((r.status, r.code()), (429, "rate_limited"), r)
        self.assertGreaterEqual(int(r.headers["retry-after"]), 1)
        self.assertEqual(statuses[-1], 429, statuses)
        self.assertGreaterEqual(statuses.count(201), 20)
        created = int(psql(f"SELECT count(*) FROM switchboard.tasks WHERE channel = '{ch}'"))
        self.assertEqual(created, statuses.count(201))
        self.assertEqual(psql(f"SELECT state FROM switchboard.tasks WHERE id = '{first}'"),
                         "queued")


server_classes(globals(), Tasks)
