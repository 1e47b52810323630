"""Tokens and origins: where the token may come from, what it allows,
and CORS (PROTOCOL.md sections 3.4, 5.15)."""

from fcgitest import http, make_token, server_classes, stored, uniq


class Auth:
    def events(self, ch):
        return f"/api/v1/channels/{ch}/events"

    def test_no_token(self):
        r = http(self.BASE, "GET", self.events(uniq()))
        self.assertEqual((r.status, r.code()), (401, "unauthorized"))
        self.assertIn("Bearer", r.headers.get("www-authenticate", ""))

    def test_bad_tokens(self):
        ch = uniq()
        for tok in ["garbage", make_token(key=b"k" * 32),
                    make_token()[:-2] + "AA"]:
            r = http(self.BASE, "GET", self.events(ch), token=tok)
            self.assertEqual((r.status, r.code()), (401, "unauthorized"), tok)
        r = http(self.BASE, "GET", self.events(ch),
                 token=make_token(exp=1000))
        self.assertEqual((r.status, r.code()), (401, "token_expired"))
        r = http(self.BASE, "GET", self.events(ch),
                 headers={"Authorization": "Basic dTpw"})
        self.assertEqual(r.status, 401)

    def test_query_and_cookie(self):
        ch, t = uniq(), make_token()
        r = http(self.BASE, "GET", self.events(ch) + "?access_token=" + t)
        self.assertEqual(r.status, 200, r)
        r = http(self.BASE, "GET", self.events(ch),
                 headers={"Cookie": f"a=b; sb_token={t}"})
        self.assertEqual(r.status, 200, r)
        r = http(self.BASE, "POST", self.events(ch),
                 {"type": "m", "data": {}}, headers={"Cookie": f"sb_token={t}"})
        self.assertEqual(r.status, 401, r)
        # A bad header token is an error even with a good cookie.
        r = http(self.BASE, "GET", self.events(ch), token="bad",
                 headers={"Cookie": f"sb_token={t}"})
        self.assertEqual(r.status, 401)
        self.assertEqual(stored(ch), 0)

    def test_forbidden(self):
        ch = uniq()
        reader = make_token(role="reader", ch=("chat:*",))
        r = http(self.BASE, "POST", self.events(ch),
                 {"type": "m", "data": {}}, reader)
        self.assertEqual((r.status, r.code()), (403, "forbidden"))
        self.assertEqual(r.json["error"]["channel"], ch)
        other = make_token(ch=("activity:*",))
        r = http(self.BASE, "GET", self.events(ch), token=other)
        self.assertEqual(r.status, 403)
        r = http(self.BASE, "GET", f"/api/v1/poll?cursor=activity:x&cursor={ch}"
                 "&timeout=0", token=other)
        self.assertEqual(r.status, 403)
        self.assertEqual(stored(ch), 0)

    def test_cors(self):
        ch, t = uniq(), make_token()
        ok = {"Origin": "https://dash.example.com"}
        r = http(self.BASE, "GET", self.events(ch), token=t, headers=ok)
        self.assertEqual(r.headers.get("access-control-allow-origin"),
                         "https://dash.example.com")
        self.assertEqual(r.headers.get("access-control-allow-credentials"),
                         "true")
        pre = dict(ok, **{"Access-Control-Request-Method": "POST"})
        r = http(self.BASE, "OPTIONS", self.events(ch), headers=pre)
        self.assertEqual(r.status, 204, r)
        self.assertIn("PATCH", r.headers["access-control-allow-methods"])
        self.assertIn("Idempotency-Key",
                      r.headers["access-control-allow-headers"])
        r = http(self.BASE, "OPTIONS", self.events(ch),
                 headers={"Origin": "https://evil.example",
                          "Access-Control-Request-Method": "POST"})
        self.assertEqual(r.status, 403)
        r = http(self.BASE, "POST", self.events(ch), {"type": "m", "data": {}},
                 t, headers={"Origin": "https://evil.example"})
        self.assertEqual((r.status, r.code()), (403, "forbidden"))
        r = http(self.BASE, "GET", self.events(ch), token=t,
                 headers={"Origin": "https://evil.example"})
        self.assertEqual(r.status, 200)
        self.assertNotIn("access-control-allow-origin", r.headers)
        self.assertEqual(stored(ch), 0)


server_classes(globals(), Auth)
