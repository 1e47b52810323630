"""Bad input of every kind gets a clear error and stores nothing:
malformed JSON, wrong content types, oversized bodies, bad cursors,
unknown channels, and injection attempts in every parameter."""

from fcgitest import http, make_token, server_classes, total_events, uniq

INJECT = ["x'; DROP TABLE switchboard.events; --", "chat:a' OR '1'='1",
          "chat:a\"}", "chat:a%00b", "chat:a,chat:b", "chat:../etc",
          "chat:{a}", "chat:a@1"]


class BadInput:
    def setUp(self):
        self.before = total_events()
        self.t = make_token(ch=("*",))

    def tearDown(self):
        self.assertEqual(total_events(), self.before, "something was stored")

    def post(self, ch, raw, ctype="application/json", headers=None):
        return http(self.BASE, "POST", f"/api/v1/channels/{ch}/events",
                    raw=raw, token=self.t, ctype=ctype, headers=headers)

    def test_bodies(self):
        ch = uniq()
        cases = [(b"{", 400, "invalid_json"),
                 (b'{"type":"m","data":{},"type":"n"}', 400, "invalid_json"),
                 (b'{"type":"m","data":{"t":"\xff"}}', 400, "invalid_utf8"),
                 (b"[]", 400, "bad_request"),
                 (b'{"type":"m"}', 400, "bad_request"),
                 (b'{"type":"m","data":{},"sender":"admin:x"}', 400,
                  "bad_request"),
                 (b'{"type":"m","data":{},"channel":"chat:other"}', 400,
                  "bad_request"),
                 (b'{"type":"Bad Type","data":{}}', 422, "invalid_type"),
                 (b'{"type":"m","data":[1]}', 422, "invalid_data"),
                 (b'{"type":"m","data":{"a":"\\u0000"}}', 422,
                  "invalid_data"),
                 (b'{"type":"m","data":{"n":1e999}}', 422, "invalid_data"),
                 (b'{"type":"m","data":{},"id":"not-a-uuid"}', 422,
                  "invalid_id"),
                 (b'{"type":"log","data":{"level":"info"}}', 422,
                  "invalid_data"),
                 (b'{"type":"m","data":' + b'[' * 40 + b']' * 40 + b'}', 422,
                  "invalid_data"),
                 (b'{"type":"m","data":{"x":"' + b"a" * 70000 + b'"}}', 413,
                  "too_large")]
        for raw, status, code in cases:
            r = self.post(ch, raw)
            self.assertEqual((r.status, r.code()), (status, code), raw[:60])

    def test_content_type_and_size(self):
        ch = uniq()
        body = b'{"type":"m","data":{}}'
        for ctype in ["text/plain", "application/json; charset=latin1",
                      "application/jsonx", None]:
            r = self.post(ch, body, ctype=ctype)
            self.assertEqual((r.status, r.code()),
                             (415, "unsupported_media_type"), ctype)
        r = self.post(ch, body, ctype="application/json; charset=UTF-8")
        self.assertEqual(r.status, 201)
        self.before += 1
        r = self.post(ch, b" " * (1024 * 1024 + 1))
        self.assertEqual((r.status, r.code()), (413, "too_large"))

    def test_injection_in_channels(self):
        for bad in INJECT:
            enc = bad.replace("%", "%25").replace(" ", "%20").replace(
                "#", "%23").replace("?", "%3F").replace('"', "%22")
            r = self.post(enc, b'{"type":"m","data":{}}')
            self.assertIn(r.status, (404, 422), bad)
            r = http(self.BASE, "GET", f"/api/v1/channels/{enc}/events",
                     token=self.t)
            self.assertIn(r.status, (404, 422), bad)
            if "@" in bad:
                continue  # channel@seq is a valid cursor
            r = http(self.BASE, "GET", f"/api/v1/poll?timeout=0&cursor={enc}",
                     token=self.t)
            self.assertIn(r.status, (400, 422), bad)
        r = self.post("nosuchns:x", b'{"type":"m","data":{}}')
        self.assertEqual((r.status, r.code()), (422, "unknown_namespace"))

    def test_injection_in_parameters(self):
        ch, q = uniq(), "x'%3B%20DROP%20TABLE%20switchboard.events%3B--"
        for path in [f"/api/v1/channels/{ch}/events?after={q}",
                     f"/api/v1/channels/{ch}/events?limit={q}",
                     f"/api/v1/channels?namespace={q}",
                     f"/api/v1/channels?after={q}",
                     f"/api/v1/activity?channel={ch}&level={q}",
                     f"/api/v1/activity?channel={ch}&since={q}",
                     f"/api/v1/activity?channel={ch}&cursor={q}",
                     f"/api/v1/sse?channels={ch}&last_event_id={q}",
                     f"/api/v1/metrics/overview?window_hours={q}"]:
            r = http(self.BASE, "GET", path, token=self.t)
            self.assertIn(r.status, (400, 422), path)
            self.assertIsNotNone(r.code(), path)
        r = http(self.BASE, "GET", f"/api/v1/activity?channel={ch}&q={q}",
                 token=self.t)
        self.assertEqual(r.status, 200, r)
        r = http(self.BASE, "POST", f"/api/v1/workflows/{ch.replace('chat', 'workflow')}/tasks",
                 {"title": "t", "id": "1' OR '1'='1"}, self.t)
        self.assertEqual((r.status, r.code()), (422, "invalid_id"))
        r = http(self.BASE, "PATCH", f"/api/v1/tasks/{q}", {"state": "x"},
                 self.t)
        self.assertEqual(r.status, 422)


server_classes(globals(), BadInput)
