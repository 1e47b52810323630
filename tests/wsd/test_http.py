"""HTTP on wsd's port: /healthz, /metrics, /status (PROTOCOL.md 5.14,
OPERATIONS.md 6), and the WebSocket handshake rules of PROTOCOL.md 4.1."""

import asyncio
import json


from sbtest import (NODE_A, NODE_B, WsdTestCase, ahttp_get, bounded, make_token,
                    metric_sum, parse_metrics)

# OPERATIONS.md 6: the metric families wsd exports (both, or wsd only).
WSD_METRICS = {
    "switchboard_up": "gauge",
    "switchboard_db_connected": "gauge",
    "switchboard_listen_connected": "gauge",
    "switchboard_connections": "gauge",
    "switchboard_subscriptions": "gauge",
    "switchboard_messages_in_total": "counter",
    "switchboard_messages_out_total": "counter",
    "switchboard_frames_out_total": "counter",
    "switchboard_publishes_total": "counter",
    "switchboard_signals_total": "counter",
    "switchboard_commit_batch_size": "histogram",
    "switchboard_doorbell_delivery_seconds": "histogram",
    "switchboard_queue_drops_total": "counter",
    "switchboard_slow_consumer_closes_total": "counter",
    "switchboard_rate_limited_total": "counter",
    "switchboard_auth_failures_total": "counter",
    "switchboard_db_reconnects_total": "counter",
}


class HealthzTest(WsdTestCase):

    @bounded(10)
    async def test_healthz_ok(self):
        status, headers, body = await ahttp_get(NODE_A.port, "/healthz")
        self.assertEqual(status, 200)
        doc = json.loads(body)
        self.assertEqual(doc.get("status"), "ok", doc)
        self.assertEqual(doc.get("database"), "up", doc)
        self.assertEqual(doc.get("listen"), "up", doc)
        self.assertEqual(doc.get("node"), "wsdtest-a", doc)


class MetricsTest(WsdTestCase):

    @bounded(15)
    async def test_metrics_names_and_types(self):
        status, headers, body = await ahttp_get(NODE_A.port, "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers.get("content-type", "").startswith("text/plain"),
                        headers.get("content-type"))
        text = body.decode()
        samples, types = parse_metrics(text)
        names = {n for (n, _) in samples}
        for name, kind in WSD_METRICS.items():
            self.assertEqual(types.get(name), kind, "# TYPE of %s" % name)
            if kind == "histogram":
                self.assertIn(name + "_count", names, name)
                self.assertIn(name + "_sum", names, name)
                self.assertIn(name + "_bucket", names, name)
            else:
                self.assertIn(name, names, name)
        # Every sample is labelled with the node.
        for (n, lab) in samples:
            if n.startswith("switchboard_"):
                self.assertIn(("node", "wsdtest-a"), lab, "%s without node label" % n)
        self.assertEqual(metric_sum(samples, "switchboard_up"), 1)
        self.assertEqual(metric_sum(samples, "switchboard_db_connected"), 1)
        self.assertEqual(metric_sum(samples, "switchboard_listen_connected"), 1)

    @bounded(15)
    async def test_metrics_count_connections_and_messages(self):
        before, _ = parse_metrics((await ahttp_get(NODE_A.port, "/metrics"))[2].decode())
        c = await self.user()
        ch = self.chan()
        await c.subscribe(ch)
        ack = await c.publish(ch)
        self.assertEqual(ack["op"], "ack", ack)
        await c.wait_seq(ch, ack["seq"])
        after, _ = parse_metrics((await ahttp_get(NODE_A.port, "/metrics"))[2].decode())
        self.assertGreaterEqual(metric_sum(after, "switchboard_connections"), 1)
        self.assertGreaterEqual(metric_sum(after, "switchboard_subscriptions"), 1)
        for name in ("switchboard_messages_in_total", "switchboard_messages_out_total",
                     "switchboard_frames_out_total"):
            self.assertGreater(metric_sum(after, name), metric_sum(before, name), name)
        self.assertGreater(metric_sum(after, "switchboard_publishes_total", result="stored"),
                           metric_sum(before, "switchboard_publishes_total", result="stored"))
        self.assertGreater(metric_sum(after, "switchboard_commit_batch_size_count"),
                           metric_sum(before, "switchboard_commit_batch_size_count"))


class StatusTest(WsdTestCase):

    @bounded(15)
    async def test_status_needs_admin(self):
        status, _, _ = await ahttp_get(NODE_A.port, "/status")
        self.assertEqual(status, 401, "/status without a token")
        user = make_token("alice", "user", ("*",))
        status, _, _ = await ahttp_get(NODE_A.port, "/status",
                                       {"Authorization": "Bearer " + user})
        self.assertEqual(status, 403, "/status with a user token")

    @bounded(20)
    async def test_status_lists_both_nodes(self):
        admin = make_token("ops", "admin", None)
        c = await self.user(node=NODE_B)
        await c.subscribe(self.chan())
        doc = None
        # Heartbeats come every second (heartbeat_interval = 1s).
        for _ in range(50):
            status, headers, body = await ahttp_get(NODE_A.port, "/status",
                                                    {"Authorization": "Bearer " + admin})
            self.assertEqual(status, 200, body)
            self.assertIn("application/json", headers.get("content-type", ""))
            doc = json.loads(body)
            nodes = {n["id"]: n for n in doc.get("nodes", [])}
            if ("wsdtest-a" in nodes and "wsdtest-b" in nodes
                    and nodes["wsdtest-b"].get("connections", 0) >= 1
                    and nodes["wsdtest-b"].get("subscriptions", 0) >= 1):
                break
            await asyncio.sleep(0.2)
        self.assertEqual(doc.get("node"), "wsdtest-a", doc)
        nodes = {n["id"]: n for n in doc.get("nodes", [])}
        self.assertIn("wsdtest-a", nodes, doc)
        self.assertIn("wsdtest-b", nodes, doc)
        b = nodes["wsdtest-b"]
        self.assertEqual(b.get("kind"), "wsd")
        self.assertEqual(b.get("pid"), NODE_B.pid)
        self.assertGreaterEqual(b.get("connections", 0), 1, doc)
        self.assertGreaterEqual(b.get("subscriptions", 0), 1, doc)
        totals = doc.get("totals", {})
        self.assertGreaterEqual(totals.get("nodes", 0), 2, doc)
        self.assertEqual(totals.get("connections"),
                         sum(n.get("connections", 0) for n in doc["nodes"]), doc)


class HandshakeTest(WsdTestCase):

    @bounded(10)
    async def test_subprotocol_selected(self):
        c = await self.user()
        self.assertEqual(c.ws.subprotocol, "switchboard.v1")
        h = c.hello
        self.assertEqual(h["protocol"], "switchboard.v1")
        self.assertEqual(h["node"], "wsdtest-a")
        self.assertIsInstance(h["server_ts"], int)
        self.assertEqual(h["auth"], "required")
        for k in ("max_message_bytes", "max_data_bytes", "max_subscriptions", "publish_rate",
                  "publish_burst", "history_max", "batch_max", "auth_timeout", "token_grace",
                  "send_queue_max"):
            self.assertIsInstance(h["limits"].get(k), int, "hello.limits.%s" % k)
        self.assertEqual(h["limits"]["auth_timeout"], 2)
        self.assertEqual(h["limits"]["history_max"], 1000)

    @bounded(10)
    async def test_no_subprotocol_accepted(self):
        c = await self.connect(make_token(), subprotocols=None)
        self.assertIsNone(c.ws.subprotocol)
        self.assertTrue(await c.alive())

    @bounded(10)
    async def test_other_subprotocol_refused_400(self):
        for offer in ("chat.v9, chat.v10", "switchboard.v2", "Switchboard.v1"):
            try:
                r = await self.raw(subprotocol=offer, expect_upgrade=False)
            except asyncio.IncompleteReadError as e:
                self.fail("%s: no HTTP response, the connection was closed (read %r)"
                          % (offer, e.partial))
            self.assertEqual(r.status, 400, "%s: %s" % (offer, r.status_line))
        # Offered among others, switchboard.v1 is selected.
        r = await self.raw(subprotocol="chat.v9, switchboard.v1", expect_upgrade=False)
        self.assertEqual(r.status, 101, r.status_line)
        self.assertEqual(r.response_headers.get("sec-websocket-protocol"), "switchboard.v1")

    @bounded(10)
    async def test_ping_pong(self):
        c = await self.user()
        await c.send({"op": "ping", "ts": 1763806530123})
        pong = await c.expect("pong")
        self.assertEqual(pong["ts"], 1763806530123)
        self.assertIsInstance(pong["server_ts"], int)
        await c.send({"op": "ping", "ts": 12.5})
        pong = await c.expect("pong")
        self.assertEqual(pong["ts"], 12.5)
