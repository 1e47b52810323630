"""Metrics subscriptions: PROTOCOL.md 4.12."""

import asyncio
import json
import re
import time

from sbtest import WsdTestCase, apsql, bounded, make_token, metric_sum, metrics_of

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
OVERVIEW = ("metrics:overview",)


def pushes(c):
    """The metrics pushes (metrics messages without ref) kept so far."""
    return [m for m in c.msgs if m.get("op") == "metrics" and "ref" not in m]


class MetricsSubscriptionTest(WsdTestCase):

    def check_snapshot(self, m, window, interval=None):
        self.assertEqual(m["op"], "metrics", m)
        self.assertEqual(m["window_hours"], window, m)
        if interval is not None:
            self.assertEqual(m["interval_s"], interval, m)
        self.assertRegex(m["generated_at"], TIME_RE)
        d = m["data"]
        self.assertEqual(list(d), ["events", "chat", "activity", "tasks", "nodes",
                                   "connections", "subscriptions"], d)
        self.assertIsInstance(d["events"]["total"], int)
        self.assertIsInstance(d["events"]["by_namespace"], dict)
        self.assertGreaterEqual(d["nodes"].get("wsd", 0), 2, d["nodes"])

    async def quiet(self, c, seconds):
        """Wait seconds; return the pushes that arrived meanwhile (removed)."""
        await asyncio.sleep(seconds)
        got = pushes(c)
        for m in got:
            c.msgs.remove(m)
        return got

    @bounded(20)
    async def test_subscribe_push_on_change(self):
        c = await self.connect(make_token("m", "reader", ("metrics:overview", "chat:*")))
        m = await c.request({"op": "metrics.subscribe", "window_hours": 24, "interval_s": 1},
                            "metrics")
        self.check_snapshot(m, 24, 1)
        total = m["data"]["events"]["total"]
        pub = await self.user("pub")
        ack = await pub.publish(self.chan())
        self.assertEqual(ack["op"], "ack")
        pushed = await c.expect("metrics", pred=lambda x: "ref" not in x and
                                x["data"]["events"]["total"] > total, timeout=6)
        self.check_snapshot(pushed, 24, 1)

    @bounded(40)
    async def test_pushes_only_changes(self):
        """Ticks without a change push nothing; every push differs from the
        snapshot the connection had; a publish is pushed."""
        pub = await self.user("pub")
        c = await self.connect(make_token("m", "reader", OVERVIEW))
        last = await c.request({"op": "metrics.subscribe", "window_hours": 24,
                                "interval_s": 1}, "metrics")
        self.check_snapshot(last, 24, 1)
        # Connection counts reach the database with the next heartbeats:
        # wait for a stretch of three ticks without a push.
        quiet = False
        for _ in range(6):
            got = await self.quiet(c, 3.2)
            for m in got:
                self.assertNotEqual(m["data"], last["data"], "pushed an unchanged snapshot")
                last = m
            if not got:
                quiet = True
                break
        self.assertTrue(quiet, "a push on every tick although nothing changed")
        ack = await pub.publish(self.chan())
        self.assertEqual(ack["op"], "ack", ack)
        m = await c.expect("metrics", pred=lambda x: "ref" not in x, timeout=4)
        self.check_snapshot(m, 24, 1)
        self.assertEqual(m["data"]["events"]["total"], last["data"]["events"]["total"] + 1, m)
        self.assertEqual(m["data"]["chat"]["messages"], last["data"]["chat"]["messages"] + 1)

    @bounded(20)
    async def test_interval_change_without_resubscribe(self):
        pub = await self.user("pub")
        c = await self.connect(make_token("m", "reader", OVERVIEW))
        m = await c.request({"op": "metrics.subscribe", "window_hours": 24, "interval_s": 60},
                            "metrics")
        self.check_snapshot(m, 24, 60)
        total = m["data"]["events"]["total"]
        await pub.publish(self.chan())
        # Not checked again for 60 s.
        self.assertEqual(await self.quiet(c, 2.5), [], "pushed before the interval")
        m = await c.request({"op": "metrics.interval", "interval_s": 1}, "metrics")
        self.check_snapshot(m, 24, 1)
        self.assertGreater(m["data"]["events"]["total"], total, "the reply is the current snapshot")
        total = m["data"]["events"]["total"]
        await pub.publish(self.chan())
        m = await c.expect("metrics", pred=lambda x: "ref" not in x and
                           x["data"]["events"]["total"] > total, timeout=4)
        self.check_snapshot(m, 24, 1)

    @bounded(20)
    async def test_refresh(self):
        pub = await self.user("pub")
        c = await self.connect(make_token("m", "reader", ("metrics:*",)))
        # Without a subscription: a one-shot, 24 h by default, no interval.
        m = await c.request({"op": "metrics.refresh"}, "metrics")
        self.check_snapshot(m, 24)
        self.assertIsNone(m["interval_s"], m)
        m = await c.request({"op": "metrics.refresh", "window_hours": 3}, "metrics")
        self.check_snapshot(m, 3)
        # Answered whether or not anything changed.
        s = await c.request({"op": "metrics.subscribe", "window_hours": 24, "interval_s": 60},
                            "metrics")
        again = await c.request({"op": "metrics.refresh"}, "metrics")
        self.check_snapshot(again, 24, 60)
        self.assertEqual(again["data"], s["data"])
        # At most one second old: a publish shows after a second.
        await pub.publish(self.chan())
        await asyncio.sleep(1.1)
        m = await c.request({"op": "metrics.refresh"}, "metrics")
        self.assertEqual(m["data"]["events"]["total"], s["data"]["events"]["total"] + 1, m)
        # With window_hours it moves the subscription to that window.
        m = await c.request({"op": "metrics.refresh", "window_hours": 48}, "metrics")
        self.check_snapshot(m, 48, 60)
        m = await c.request({"op": "metrics.interval", "interval_s": 1}, "metrics")
        self.check_snapshot(m, 48, 1)
        await pub.publish(self.chan())
        m = await c.expect("metrics", pred=lambda x: "ref" not in x, timeout=4)
        self.check_snapshot(m, 48, 1)
        # Unsubscribed: no more pushes.
        await c.request({"op": "metrics.unsubscribe"}, "metrics.unsubscribed")
        await pub.publish(self.chan())
        self.assertEqual(await self.quiet(c, 2.2), [], "pushed after metrics.unsubscribe")

    @bounded(15)
    async def test_clamping_refresh_interval(self):
        c = await self.connect(make_token("m", "reader", ("metrics:*",)))
        m = await c.request({"op": "metrics.subscribe", "window_hours": 0, "interval_s": 500},
                            "metrics")
        self.check_snapshot(m, 1, 60)
        m = await c.request({"op": "metrics.refresh", "window_hours": 1000}, "metrics")
        self.check_snapshot(m, 168)
        m = await c.request({"op": "metrics.interval", "interval_s": 0}, "metrics")
        self.check_snapshot(m, 168, 1)
        m = await c.request({"op": "metrics.subscribe", "window_hours": -5,
                             "interval_s": 2 ** 62}, "metrics")
        self.check_snapshot(m, 1, 60)
        m = await c.request({"op": "metrics.subscribe", "window_hours": 2 ** 63 - 1,
                             "interval_s": -(2 ** 63)}, "metrics")
        self.check_snapshot(m, 168, 1)
        m = await c.request({"op": "metrics.subscribe", "window_hours": 168, "interval_s": 60},
                            "metrics")
        self.check_snapshot(m, 168, 60)
        m = await c.request({"op": "metrics.subscribe", "window_hours": 169, "interval_s": 61},
                            "metrics")
        self.check_snapshot(m, 168, 60)
        un = await c.request({"op": "metrics.unsubscribe"}, "metrics.unsubscribed")
        self.assertEqual(un["op"], "metrics.unsubscribed", un)
        # Without a subscription: refresh is a one-shot (24 h), interval is bad_request.
        m = await c.request({"op": "metrics.refresh"}, "metrics")
        self.check_snapshot(m, 24)
        self.assertError(await c.request({"op": "metrics.interval", "interval_s": 5}, "metrics"),
                         "bad_request")
        # unsubscribe always succeeds.
        un = await c.request({"op": "metrics.unsubscribe"}, "metrics.unsubscribed")
        self.assertEqual(un["op"], "metrics.unsubscribed", un)

    @bounded(15)
    async def test_bad_values(self):
        c = await self.connect(make_token("m", "reader", OVERVIEW))
        for bad in ("24", 1.5, None, True, [24], {"h": 24}, 1e3):
            for msg in ({"op": "metrics.subscribe", "window_hours": bad, "interval_s": 2},
                        {"op": "metrics.subscribe", "window_hours": 24, "interval_s": bad},
                        {"op": "metrics.refresh", "window_hours": bad}):
                r = await c.request(msg, "metrics")
                self.assertError(r, "invalid_parameter")
                self.assertIn("integer", r["message"])
        for msg in ({"op": "metrics.subscribe", "interval_s": 2},
                    {"op": "metrics.subscribe", "window_hours": 24},
                    {"op": "metrics.subscribe", "window_hours": 24, "interval_s": 2, "x": 1},
                    {"op": "metrics.refresh", "window": 24},
                    {"op": "metrics.unsubscribe", "window_hours": 24}):
            self.assertError(await c.request(msg, "metrics"), "bad_request")
        # Nothing above subscribed: interval still finds no subscription.
        self.assertError(await c.request({"op": "metrics.interval", "interval_s": 5}, "metrics"),
                         "bad_request")
        await c.request({"op": "metrics.subscribe", "window_hours": 24, "interval_s": 2},
                        "metrics")
        for bad in ("5", 0.5, None):
            self.assertError(await c.request({"op": "metrics.interval", "interval_s": bad},
                                             "metrics"), "invalid_parameter")
        self.assertError(await c.request({"op": "metrics.interval"}, "metrics"), "bad_request")
        # The subscription is unchanged by the refused requests.
        m = await c.request({"op": "metrics.refresh"}, "metrics")
        self.check_snapshot(m, 24, 2)
        self.assertTrue(await c.alive())

    @bounded(10)
    async def test_errors(self):
        c = await self.connect(make_token("m", "user", ("chat:*",)))
        self.assertError(await c.request({"op": "metrics.subscribe", "window_hours": 24,
                                          "interval_s": 2}, "metrics"), "forbidden")
        d = await self.connect(make_token("m", "reader", ("metrics:overview",)))
        for msg in ({"op": "metrics.subscribe", "window_hours": "24", "interval_s": 2},
                    {"op": "metrics.subscribe", "window_hours": 24, "interval_s": 1.5}):
            self.assertError(await d.request(msg, "metrics"), "invalid_parameter")
        await d.send({"op": "metrics.subscribe", "window_hours": 24, "interval_s": 2})
        self.assertError(await d.expect("error"), "bad_request")  # ref is required

    @bounded(20)
    async def test_permissions(self):
        allowed = [("reader", ("metrics:overview",)), ("reader", ("metrics:*",)),
                   ("user", ("*",)), ("admin", None), ("agent", ("chat:*", "metrics:overview"))]
        for role, ch in allowed:
            c = await self.connect(make_token("m", role, ch))
            m = await c.request({"op": "metrics.refresh"}, "metrics")
            self.assertEqual(m["op"], "metrics", (role, ch, m))
        refused = [("reader", ("metrics:costs",)), ("user", ("chat:*",)),
                   ("reader", ("metrics:overview-2",))]
        for role, ch in refused:
            c = await self.connect(make_token("m", role, ch))
            for msg in ({"op": "metrics.subscribe", "window_hours": 24, "interval_s": 2},
                        {"op": "metrics.refresh"}, {"op": "metrics.interval", "interval_s": 2}):
                r = await c.request(msg, "metrics")
                self.assertError(r, "forbidden")
                self.assertEqual(r["message"], "forbidden: read on metrics:overview")
            un = await c.request({"op": "metrics.unsubscribe"}, "metrics.unsubscribed")
            self.assertEqual(un["op"], "metrics.unsubscribed")
        # Before auth: unauthorized.
        c = await self.connect()
        self.assertError(await c.request({"op": "metrics.refresh"}, "metrics"), "unauthorized")

    @bounded(20)
    async def test_refresh_token_without_metrics_ends_subscription(self):
        pub = await self.user("pub")
        c = await self.connect(make_token("m", "reader", ("metrics:overview", "chat:*")))
        await c.request({"op": "metrics.subscribe", "window_hours": 24, "interval_s": 1},
                        "metrics")
        ok = await c.request({"op": "auth", "token": make_token("m", "reader", ("chat:*",))},
                             "auth.ok")
        self.assertEqual(ok["op"], "auth.ok", ok)
        un = await c.expect("metrics.unsubscribed")
        self.assertEqual(un.get("reason"), "forbidden", un)
        await pub.publish(self.chan())
        self.assertEqual(await self.quiet(c, 2.2), [], "pushed after losing the permission")
        self.assertError(await c.request({"op": "metrics.interval", "interval_s": 2}, "metrics"),
                         "forbidden")

    @bounded(30)
    async def test_one_query_per_window_per_tick(self):
        """Six subscribers on two windows: the database computes two
        snapshots per tick, not six."""
        clients = []
        for i in range(6):
            c = await self.connect(make_token("m%d" % i, "reader", OVERVIEW))
            await c.request({"op": "metrics.subscribe", "window_hours": 24 if i % 2 else 72,
                             "interval_s": 1}, "metrics")
            clients.append(c)
        before = await metrics_of(self.node)
        self.assertEqual(metric_sum(before, "switchboard_metrics_subscriptions"), 6)
        t0 = time.monotonic()
        await asyncio.sleep(4)
        after = await metrics_of(self.node)
        elapsed = time.monotonic() - t0
        queries = (metric_sum(after, "switchboard_metrics_queries_total") -
                   metric_sum(before, "switchboard_metrics_queries_total"))
        ticks = int(elapsed)
        self.assertLessEqual(queries, 2 * (ticks + 1),
                             "%d snapshot queries in %.1f s for 2 windows" % (queries, elapsed))
        self.assertGreaterEqual(queries, 2 * (ticks - 1),
                                "%d snapshot queries in %.1f s for 2 windows" % (queries, elapsed))
        for c in clients:
            await c.close()
        await asyncio.sleep(0.2)
        gone = await metrics_of(self.node)
        self.assertEqual(metric_sum(gone, "switchboard_metrics_subscriptions"), 0)

    @bounded(20)
    async def test_counts_follow_the_database(self):
        """The snapshot is metrics_overview() of the window."""
        c = await self.connect(make_token("m", "reader", OVERVIEW))
        m = await c.request({"op": "metrics.refresh", "window_hours": 5}, "metrics")
        want = await apsql("SELECT switchboard.metrics_overview(5)::jsonb - 'nodes' "
                           "- 'connections' - 'subscriptions';")
        got = dict(m["data"])
        for k in ("nodes", "connections", "subscriptions"):
            got.pop(k)
        self.assertEqual(got, json.loads(want))
