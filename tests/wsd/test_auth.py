"""Authentication: PROTOCOL.md 3.1, 3.4, 3.5, 4.1, 4.4."""

import asyncio
import json
import time

from sbtest import (WsdTestCase, apsql, b64url, bounded, last_seq, make_token, metric_sum,
                    metrics_of, mint_sql, token_claims)

LEEWAY = 30  # SB_TOKEN_LEEWAY


class AuthAcceptTest(WsdTestCase):

    def check_auth_ok(self, ok, sub, role, exp):
        self.assertEqual(ok["op"], "auth.ok", ok)
        self.assertEqual(ok["sub"], sub)
        self.assertEqual(ok["role"], role)
        self.assertEqual(ok["sender"], "%s:%s" % (role, sub))
        self.assertEqual(ok["exp"], exp)

    @bounded(10)
    async def test_header(self):
        tok = make_token("alice", "user", ("chat:*",))
        c = await self.connect(tok, how="header")
        self.assertEqual(c.hello["auth"], "done")
        self.check_auth_ok(c.auth_ok, "alice", "user", token_claims(tok)["exp"])
        self.assertEqual((await c.subscribe(self.chan()))["op"], "subscribed")

    @bounded(10)
    async def test_sub_needing_escapes(self):
        """auth.ok is printed, not built: a sub with quotes, backslashes and
        non-ASCII text comes back exactly, and so does a ref with them."""
        sub = 'al"ice\\ \u00e9\u6771 /x'
        tok = make_token(sub, "user", ("chat:*",))
        c = await self.connect(tok, how="header")
        self.check_auth_ok(c.auth_ok, sub, "user", token_claims(tok)["exp"])
        ref = 'r"1\\\u00e9'
        await c.send({"op": "auth", "ref": ref, "token": tok})
        ok = await c.expect("auth.ok", ref=ref)
        self.check_auth_ok(ok, sub, "user", token_claims(tok)["exp"])
        ok = await c.request({"op": "auth", "ref": 7, "token": tok}, "auth.ok")
        self.assertEqual(ok["ref"], 7, ok)

    @bounded(10)
    async def test_query_parameter(self):
        tok = make_token("bob", "agent", ("chat:*",))
        c = await self.connect(tok, how="query")
        self.assertEqual(c.hello["auth"], "done")
        self.check_auth_ok(c.auth_ok, "bob", "agent", token_claims(tok)["exp"])
        self.assertEqual((await c.subscribe(self.chan()))["op"], "subscribed")

    @bounded(10)
    async def test_first_message(self):
        tok = make_token("carol", "reader", ("chat:*",))
        c = await self.connect(None)
        self.assertEqual(c.hello["auth"], "required")
        await c.send({"op": "auth", "ref": "a1", "token": tok})
        ok = await c.expect("auth.ok")
        self.assertEqual(ok.get("ref"), "a1")
        self.check_auth_ok(ok, "carol", "reader", token_claims(tok)["exp"])
        self.assertEqual((await c.subscribe(self.chan()))["op"], "subscribed")

    @bounded(15)
    async def test_token_minted_by_sql(self):
        tok = await asyncio.to_thread(mint_sql, "dora", "user", "1 hour", "chat:*", "activity:*")
        c = await self.connect(tok)
        self.check_auth_ok(c.auth_ok, "dora", "user", token_claims(tok)["exp"])
        ack = await c.publish(self.chan())
        self.assertEqual(ack["op"], "ack", ack)
        admin = await asyncio.to_thread(mint_sql, "ops", "admin", "10 minutes")
        c2 = await self.connect(admin, how="header")
        self.check_auth_ok(c2.auth_ok, "ops", "admin", token_claims(admin)["exp"])

    @bounded(10)
    async def test_within_leeway(self):
        # exp 10 s in the past is still inside the 30 s leeway.
        tok = make_token(exp=int(time.time()) - 10)
        c = await self.connect(tok)
        self.assertEqual(c.auth_ok["op"], "auth.ok")

    @bounded(10)
    async def test_ping_and_ops_before_auth(self):
        c = await self.connect(None)
        self.assertTrue(await c.alive(), "ping is allowed before auth")
        ch = self.chan()
        for msg in ({"op": "subscribe", "ref": "s", "channel": ch},
                    {"op": "publish", "ref": "p", "channel": ch, "type": "message",
                     "data": {"text": "x"}},
                    {"op": "history", "ref": "h", "channel": ch}):
            await c.send(msg)
            self.assertError(await c.expect("error", ref=msg["ref"]), "unauthorized", msg["ref"])
        # Still connected, and auth still works.
        await c.send({"op": "auth", "token": make_token()})
        await c.expect("auth.ok")
        self.assertEqual(await asyncio.to_thread(last_seq, ch), 0)


class AuthRejectTest(WsdTestCase):

    async def reject_at_connect(self, token, code="unauthorized", how="header", **kw):
        """An invalid token on the upgrade request: hello, error, close 4001."""
        c = await self.connect(token, how=how, authenticate=False, **kw)
        err = await c.expect("error")
        self.assertError(err, code)
        self.assertEqual(await c.wait_closed(), 4001)
        return c

    async def reject_by_message(self, token, code="unauthorized"):
        c = await self.connect(None)
        await c.send({"op": "auth", "ref": "a", "token": token})
        self.assertError(await c.expect("error", ref="a"), code, "a")
        self.assertEqual(await c.wait_closed(), 4001)

    @bounded(15)
    async def test_no_auth_within_deadline(self):
        c = await self.connect(None)
        limit = c.hello["limits"]["auth_timeout"]
        t0 = time.monotonic()
        self.assertEqual(await c.wait_closed(limit + 3), 4001)
        self.assertGreaterEqual(time.monotonic() - t0, limit - 0.5)

    @bounded(10)
    async def test_forged_signature(self):
        tok = make_token()
        head, body, sig = tok.split(".")
        # Another claim set under the original signature: role admin.
        claims = token_claims(tok)
        claims["role"] = "admin"
        forged = head + "." + b64url(json.dumps(claims).encode()) + "." + sig
        await self.reject_at_connect(forged)
        await self.reject_by_message(forged)
        # A flipped signature bit.
        bad = tok[:-2] + ("A" if tok[-2] != "A" else "B") + tok[-1]
        await self.reject_at_connect(bad, how="query")

    @bounded(10)
    async def test_expired(self):
        tok = make_token(exp=int(time.time()) - LEEWAY - 60)
        await self.reject_at_connect(tok, "token_expired")
        await self.reject_by_message(tok, "token_expired")

    @bounded(10)
    async def test_alg_none(self):
        tok = make_token(header={"alg": "none", "typ": "JWT"}, sign=False)
        await self.reject_at_connect(tok)
        await self.reject_by_message(tok)
        # alg none with a valid HS256 signature attached is still alg none.
        tok2 = make_token(header={"alg": "none", "typ": "JWT"})
        await self.reject_by_message(tok2)
        tok3 = make_token(header={"alg": "HS512", "typ": "JWT"})
        await self.reject_by_message(tok3)

    @bounded(10)
    async def test_wrong_secret(self):
        tok = make_token(key=b"k" * 32)
        await self.reject_at_connect(tok)
        await self.reject_by_message(tok)

    @bounded(20)
    async def test_malformed_claims(self):
        now = int(time.time())
        for tok in (make_token(drop=("sub",)),
                    make_token(drop=("role",)),
                    make_token(drop=("exp",)),
                    make_token(ch=None),                      # non-admin without ch
                    make_token(role="superuser"),
                    make_token(ch=("chat:*x",)),              # * not at the end
                    make_token(ch=("chat:ok", "bad pattern")),
                    make_token(claims={"exp": str(now + 600)}),
                    make_token(claims={"nbf": now + 120}),    # not yet valid
                    make_token(sub="x" * 122),                # SB_SUBJECT_MAX 121
                    make_token(header={"alg": "HS256", "typ": "JWT", "crit": ["exp"]}),
                    "not-a-token",
                    "a.b.c",
                    make_token() + "="):
            await self.reject_by_message(tok)

    @bounded(15)
    async def test_failures_counted_and_audited(self):
        """OPERATIONS.md 6: switchboard_auth_failures_total, and an
        auth_failure row in switchboard.audit."""
        before = await metrics_of(self.node)
        n0 = int(await apsql("SELECT count(*) FROM switchboard.audit "
                             "WHERE kind = 'auth_failure' AND node = 'wsdtest-a';"))
        await self.reject_at_connect(make_token(key=b"q" * 32))
        after = await metrics_of(self.node)
        self.assertGreaterEqual(metric_sum(after, "switchboard_auth_failures_total") -
                                metric_sum(before, "switchboard_auth_failures_total"), 1)
        for _ in range(50):
            n1 = int(await apsql("SELECT count(*) FROM switchboard.audit "
                                 "WHERE kind = 'auth_failure' AND node = 'wsdtest-a';"))
            if n1 > n0:
                break
            await asyncio.sleep(0.1)
        self.assertGreater(n1, n0, "no auth_failure row in switchboard.audit")

    @bounded(15)
    async def test_audit_rows_hold_what_happened(self):
        """OPERATIONS.md: connect and disconnect rows carry the node, the
        token's sender (the subject's quotes, backslashes and non-ASCII kept exactly)
        and the client's address; auth_failure rows the reason."""
        sub = 'q"uo\\te-\u00e9\u2603-%d' % time.time_ns()
        c = await self.connect(make_token(sub=sub), how="header")
        await c.close()
        bad = "bad-%d" % time.time_ns()
        await self.reject_at_connect(make_token(sub=bad, key=b"q" * 32))
        rows = []
        for _ in range(50):
            out = await apsql(
                "SELECT kind, node, subject, remote, detail ->> 'reason' "
                "FROM switchboard.audit WHERE subject = 'user:' || :'s' OR "
                "(kind = 'auth_failure' AND at > now() - interval '1 minute') "
                "ORDER BY id;", s=sub)
            rows = [r.split("|") for r in out.splitlines() if r]
            kinds = [r[0] for r in rows]
            if "connect" in kinds and "disconnect" in kinds and "auth_failure" in kinds:
                break
            await asyncio.sleep(0.1)
        mine = [r for r in rows if r[2] == "user:" + sub]
        self.assertEqual(sorted(r[0] for r in mine), ["connect", "disconnect"], rows)
        for r in mine:
            self.assertEqual(r[1], "wsdtest-a")
            self.assertEqual(r[3], "127.0.0.1")
        failures = [r for r in rows if r[0] == "auth_failure"]
        self.assertTrue(failures, rows)
        self.assertIn("signature", failures[-1][4])
        self.assertEqual(failures[-1][3], "127.0.0.1")

    @bounded(10)
    async def test_header_takes_precedence(self):
        # An invalid header token is an error even with a valid query token.
        bad = make_token(key=b"x" * 32)
        await self.reject_at_connect(bad, how="header",
                                     query={"access_token": make_token()})

    @bounded(10)
    async def test_auth_message_bad_request(self):
        c = await self.connect(None)
        await c.send({"op": "auth", "ref": "a"})
        self.assertError(await c.expect("error", ref="a"), "bad_request", "a")
        await c.send({"op": "auth", "ref": "b", "token": 42})
        self.assertError(await c.expect("error", ref="b"), "bad_request", "b")

    @bounded(10)
    async def test_token_too_large(self):
        c = await self.connect(None)
        huge = make_token(claims={"pad": "p" * 17000})
        await c.send({"op": "auth", "ref": "a", "token": huge})
        self.assertError(await c.expect("error", ref="a"), "too_large", "a")


class RefreshTest(WsdTestCase):
    """The nodes run with token_grace = 3 s."""

    def near_expiry(self, sub="erin", ch=("chat:*",), secs=2):
        """A token valid now whose exp + leeway passes in about secs s."""
        return make_token(sub, "user", ch, exp=int(time.time()) - LEEWAY + secs)

    @bounded(20)
    async def test_refresh_in_grace(self):
        ch = self.chan()
        c = await self.connect(self.near_expiry())
        await c.subscribe(ch)
        err = await c.expect("error", pred=lambda m: m.get("code") == "token_expired", timeout=6)
        self.assertError(err, "token_expired")
        # In the grace: subscriptions keep receiving, requests are refused.
        pub = await self.user("frank")
        ack = await pub.publish(ch)
        await c.wait_seq(ch, ack["seq"])
        self.assertError(await c.publish(ch), "token_expired")
        self.assertError(await c.request({"op": "history", "channel": ch}, "history"),
                         "token_expired")
        self.assertTrue(await c.alive(), "ping is allowed during the grace")
        fresh = make_token("erin", "user", ("chat:*",))
        ok = await c.request({"op": "auth", "token": fresh}, "auth.ok")
        self.assertEqual(ok["op"], "auth.ok", ok)
        self.assertEqual(ok["exp"], token_claims(fresh)["exp"])
        # Past the end of the grace the connection is still open and works.
        await asyncio.sleep(c.hello["limits"]["token_grace"] + 0.5)
        ack2 = await c.publish(ch)
        self.assertEqual(ack2["op"], "ack", ack2)

    @bounded(20)
    async def test_no_refresh_closes_4002(self):
        c = await self.connect(self.near_expiry())
        await c.expect("error", pred=lambda m: m.get("code") == "token_expired", timeout=6)
        grace = c.hello["limits"]["token_grace"]
        t0 = time.monotonic()
        self.assertEqual(await c.wait_closed(grace + 3), 4002)
        self.assertGreaterEqual(time.monotonic() - t0, grace - 0.5)

    @bounded(10)
    async def test_refresh_other_sub_forbidden(self):
        c = await self.connect(make_token("erin"))
        err = await c.request({"op": "auth", "token": make_token("mallory")}, "auth.ok")
        self.assertError(err, "forbidden")
        # The connection keeps its authentication.
        self.assertEqual((await c.publish(self.chan()))["op"], "ack")

    @bounded(10)
    async def test_failed_refresh_keeps_auth(self):
        c = await self.connect(make_token("erin"))
        err = await c.request({"op": "auth", "token": make_token("erin", key=b"z" * 32)},
                              "auth.ok")
        self.assertError(err, "unauthorized")
        self.assertTrue(await c.alive())
        self.assertEqual((await c.publish(self.chan()))["op"], "ack")

    @bounded(10)
    async def test_refresh_narrows_patterns(self):
        keep, lose = self.chan(tag="-keep"), self.chan(tag="-lose")
        c = await self.connect(make_token("erin", ch=(keep, lose)))
        await c.subscribe(keep)
        await c.subscribe(lose)
        ok = await c.request({"op": "auth", "token": make_token("erin", ch=(keep,))}, "auth.ok")
        self.assertEqual(ok["op"], "auth.ok", ok)
        un = await c.expect("unsubscribed", channel=lose)
        self.assertEqual(un.get("reason"), "forbidden")
        self.assertError(await c.publish(lose), "forbidden")
        self.assertEqual((await c.publish(keep))["op"], "ack")


class AnonymousAndOriginTest(WsdTestCase):
    """A node with anonymous_read (PROTOCOL.md 3.6) and allowed_origins
    (PROTOCOL.md 4.1). The list separator is a comma (OPERATIONS.md 3.1
    says "a list of channel patterns")."""

    async def asyncSetUp(self):
        await super().asyncSetUp()
        self.node = await self.start_node("anon", anonymous_read="activity:*,chat:anon-*",
                                          allowed_origins="https://dash.example.com")

    @bounded(20)
    async def test_anonymous_read(self):
        ch = self.chan("activity")
        chat = "chat:anon-" + ch.rsplit("-", 1)[1]
        a = await self.connect(None)
        self.assertEqual(a.hello["auth"], "optional")
        self.assertEqual((await a.subscribe(ch))["op"], "subscribed")
        self.assertEqual((await a.subscribe(chat))["op"], "subscribed")
        self.assertError(await a.subscribe(self.chan()), "forbidden")
        self.assertError(await a.publish(ch, {"level": "info", "message": "x"}, type="log"),
                         "forbidden")
        self.assertError(await a.request({"op": "signal", "channel": chat, "type": "typing",
                                          "data": {"active": True}}, "ack"), "forbidden")
        h = await a.request({"op": "history", "channel": ch}, "history")
        self.assertEqual(h["op"], "history", h)
        # Anonymous connections are not listed in presence.
        u = await self.connect(make_token("alice", "user", ("chat:*", "activity:*")))
        await u.subscribe(chat)
        # The join is recorded after subscribed: wait for it (own signal).
        await u.wait_until(lambda: u.signals(chat, presence=True), what="own presence.join")
        p = await u.request({"op": "presence", "channel": chat}, "presence")
        self.assertEqual([m["subject"] for m in p["members"]], ["user:alice"])
        ack = await u.publish(chat)
        await a.wait_seq(chat, ack["seq"])
        self.assertEqual([e for e in a.signals(chat, presence=True)
                          if e["data"].get("subject") == "reader:anonymous"], [])
        # auth turns an anonymous connection into an authenticated one.
        ok = await a.request({"op": "auth", "token": make_token("bob", "user", ("chat:*",))},
                             "auth.ok")
        self.assertEqual(ok["op"], "auth.ok", ok)
        self.assertEqual((await a.publish(chat))["op"], "ack")

    @bounded(10)
    async def test_anonymous_subscribe_parameter(self):
        """?subscribe= applies at once on an anonymous connection, with the
        anonymous patterns."""
        ch = self.chan("activity")
        a = await self.connect(None, query={"subscribe": ch + "," + self.chan()})
        self.assertEqual(a.hello["auth"], "optional")
        s = await a.expect("subscribed", channel=ch)
        self.assertEqual((s["last_seq"], s["recovered"]), (0, True), s)
        self.assertError(await a.expect("error"), "forbidden")
        u = await self.connect(make_token("alice", "agent", ("activity:*",)))
        ack = await u.publish(ch, {"level": "info", "message": "x"}, type="log")
        await a.wait_seq(ch, ack["seq"])

    @bounded(10)
    async def test_invalid_token_is_never_anonymous(self):
        c = await self.connect(make_token(key=b"w" * 32), how="header", authenticate=False)
        self.assertError(await c.expect("error"), "unauthorized")
        self.assertEqual(await c.wait_closed(), 4001)

    @bounded(10)
    async def test_origin(self):
        c = await self.connect(make_token(), headers={"Origin": "https://dash.example.com"})
        self.assertEqual(c.auth_ok["op"], "auth.ok")
        c = await self.connect(make_token())  # no Origin: not a browser
        self.assertEqual(c.auth_ok["op"], "auth.ok")
        r = await self.raw(port=self.node.port, headers={"Origin": "https://dash.example.com"})
        self.assertEqual(r.status, 101)
        r = await self.raw(port=self.node.port, headers={"Origin": "https://evil.example.com"},
                           expect_upgrade=False)
        self.assertEqual(r.status, 403, r.status_line)
        n = int(r.response_headers.get("content-length", "0"))
        body = json.loads(await asyncio.wait_for(r.reader.readexactly(n), 5))
        self.assertEqual(body["error"]["code"], "forbidden", body)
