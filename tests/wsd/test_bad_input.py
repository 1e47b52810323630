"""Every class of bad input gets the error code or close code PROTOCOL.md
names (4.1, 4.2, 4.7, 4.8, 4.14, 6.1, 6.3), wsd stays up, and nothing is
stored."""

import asyncio
import json
import uuid

from sbtest import (OP_BINARY, OP_CONT, OP_TEXT, WsdTestCase, bounded, make_token, stored,
                    stored_count)


class BadInputTest(WsdTestCase):

    async def asyncSetUp(self):
        await super().asyncSetUp()
        # Every channel of a test starts with this prefix, so that "nothing
        # stored" is one count.
        self.prefix = "chat:bad-" + uuid.uuid4().hex[:10]

    async def asyncTearDown(self):
        try:
            n = await asyncio.to_thread(stored_count, self.prefix + "%")
            self.assertEqual(n, 0, "events stored by bad input")
        finally:
            await super().asyncTearDown()

    def ch(self, tag="x"):
        return self.prefix + "-" + tag

    async def expect_error(self, c, raw, code, ref=None, channel=None):
        await c.send(raw)
        err = await c.expect("error", ref=ref) if ref is not None else await c.expect("error")
        self.assertError(err, code, ref)
        if channel is not None:
            self.assertEqual(err.get("channel"), channel, err)
        self.assertTrue(await c.alive(), "an error never closes the connection")
        return err

    # --- frames ---------------------------------------------------------------

    @bounded(15)
    async def test_invalid_utf8_closes_1007(self):
        for payload in (b'{"op":"ping","ts":1,"x":"\xff"}', b'{"op":"ping","ts":1}\xc3',
                        b'\xed\xa0\x80'):  # an encoded surrogate
            r = await self.raw(token=make_token())
            await r.recv_json()
            await r.recv_json()
            await r.send(OP_TEXT, payload)
            code, _, _ = await r.until_close()
            self.assertEqual(code, 1007, payload)
        # Split inside a multi-byte character across fragments is fine.
        r = await self.raw(token=make_token())
        await r.recv_json()
        await r.recv_json()
        ok = "chat:bad-ok-" + uuid.uuid4().hex[:8]
        await r.send(OP_TEXT, b'{"op":"publish","ref":"u","channel":"' + ok.encode() +
                     b'","type":"message","data":{"text":"caf\xc3', fin=False)
        await r.send(OP_CONT, b'\xa9"}}')
        ack = await r.recv_json()
        self.assertEqual(ack["op"], "ack", ack)
        rows = await asyncio.to_thread(stored, ok)
        self.assertEqual(rows[0][1]["data"], {"text": "caf\u00e9"})
        await self.assertNodeUp()

    @bounded(15)
    async def test_binary_frame_closes_1003(self):
        r = await self.raw(token=make_token())
        await r.recv_json()
        await r.recv_json()
        await r.send(OP_BINARY, json.dumps({"op": "publish", "ref": "b", "channel": self.ch(),
                                            "type": "message", "data": {}}).encode())
        code, _, _ = await r.until_close()
        self.assertEqual(code, 1003)
        # Before authentication as well.
        r = await self.raw()
        await r.recv_json()
        await r.send(OP_BINARY, b"\x00\x01")
        code, _, _ = await r.until_close()
        self.assertEqual(code, 1003)
        await self.assertNodeUp()

    async def assert_closes_1002(self, cases):
        """Each (what, frame) closes the connection: 1002, or at least a
        dropped connection; the node stays up."""
        failures = []
        for what, frame in cases:
            r = await self.raw(token=make_token())
            await r.recv_json()
            await r.recv_json()
            await r.send(frame.pop("opcode"), frame.pop("payload"), **frame)
            texts = []
            try:
                code, _, _ = await r.until_close(4, keep=texts)
                if code not in (1002, None):
                    failures.append("%s: closed with %s" % (what, code))
            except asyncio.TimeoutError:
                failures.append("%s: still open after 4 s (read %s)" % (what, texts))
        if failures:
            self.fail("\n".join(failures))
        await self.assertNodeUp()

    @bounded(20)
    async def test_protocol_violations_close_1002(self):
        """A reserved bit (RFC 6455 5.2), a continuation without a start, a
        fragmented control frame."""
        await self.assert_closes_1002((
            ("a reserved bit", dict(opcode=OP_TEXT, payload=b'{"op":"ping","ts":1}', rsv=4)),
            ("a continuation without a start", dict(opcode=OP_CONT, payload=b"x")),
            ("a fragmented ping", dict(opcode=9, payload=b"x", fin=False))))

    @bounded(20)
    async def test_unmasked_frame_is_read_as_masked(self):
        """PROTOCOL.md 4.1: libwebsockets 4.1 does not tell a server whether
        a client frame was masked, so wsd reads an unmasked frame (RFC 6455
        5.1 says a server should close) like a masked one, with every other
        check in force."""
        r = await self.raw(token=make_token())
        self.assertEqual((await r.recv_json())["op"], "hello")
        self.assertEqual((await r.recv_json())["op"], "auth.ok")
        await r.send(OP_TEXT, b'{"op":"ping","ts":7}', mask=False)
        pong = await r.recv_json()
        self.assertEqual((pong["op"], pong["ts"]), ("pong", 7), pong)
        await r.send(OP_TEXT, b'{"op":"nope"}', mask=False)
        self.assertError(await r.recv_json(), "bad_request")
        await r.send(OP_BINARY, b"x", mask=False)
        code, _, _ = await r.until_close(4)
        self.assertEqual(code, 1003)
        await self.assertNodeUp()

    # --- messages -------------------------------------------------------------

    @bounded(20)
    async def test_not_json(self):
        c = await self.user()
        for raw in ("hello", "{", '{"op":"ping",}', "", "{'op':'ping'}", "nul",
                    '{"op":"ping","ts":1} trailing', '{"op":"publish","ref":"x","ref":"y"}'):
            await self.expect_error(c, raw, "invalid_json")

    @bounded(20)
    async def test_not_an_object_or_no_op(self):
        c = await self.user()
        failures = []
        for raw in ("[]", "[1,2]", '"ping"', "42", "null", "true", "{}",
                    '{"op":42}', '{"op":null}', '{"ref":"r1"}'):
            await c.send(raw)
            err = await c.expect("error")
            if err.get("code") != "bad_request":
                failures.append("%s: %s" % (raw, err))
        self.assertTrue(await c.alive())
        if failures:
            self.fail("expected bad_request (PROTOCOL.md 4.14: not an object):\n"
                      + "\n".join(failures))
        # The ref is echoed when it could be read.
        await self.expect_error(c, '{"ref":"r9"}', "bad_request", ref="r9")

    @bounded(10)
    async def test_unknown_op(self):
        c = await self.user()
        err = await self.expect_error(c, {"op": "subscribe_all", "ref": "u1"}, "bad_request", "u1")
        self.assertIn("unknown op", err["message"])
        await self.expect_error(c, {"op": "PUBLISH"}, "bad_request")

    @bounded(20)
    async def test_missing_and_unknown_members(self):
        c = await self.user()
        ch = self.ch()
        full = {"op": "publish", "ref": "p", "channel": ch, "type": "message", "data": {"a": 1}}
        for k in ("ref", "channel", "type", "data"):
            msg = dict(full)
            del msg[k]
            await self.expect_error(c, msg, "bad_request", None if k == "ref" else "p")
        for extra in ({"sender": "admin:x"}, {"seq": 5}, {"time": "2026-01-01T00:00:00.000000Z"},
                      {"chanel": ch}):
            msg = dict(full)
            msg.update(extra)
            await self.expect_error(c, msg, "bad_request", "p")
        await self.expect_error(c, {"op": "subscribe", "ref": "s"}, "bad_request", "s")
        await self.expect_error(c, {"op": "subscribe", "ref": "s", "channel": ch, "limit": 1},
                                "bad_request", "s")
        await self.expect_error(c, {"op": "unsubscribe", "ref": "u"}, "bad_request", "u")
        await self.expect_error(c, {"op": "ping"}, "bad_request")
        await self.expect_error(c, {"op": "signal", "ref": "g", "channel": ch, "type": "typing",
                                    "data": {}, "id": str(uuid.uuid4())}, "bad_request", "g")
        # A wrongly typed member.
        await self.expect_error(c, dict(full, channel=5), "bad_request", "p")
        await self.expect_error(c, dict(full, ref={"a": 1}), "bad_request")
        await self.expect_error(c, dict(full, ref="r" * 65), "bad_request")

    @bounded(15)
    async def test_forbidden_channel(self):
        c = await self.connect(make_token("alice", "user", (self.prefix + "-mine",)))
        ch = self.ch("other")
        await self.expect_error(c, {"op": "publish", "ref": "p", "channel": ch, "type": "message",
                                    "data": {}}, "forbidden", "p", ch)
        await self.expect_error(c, {"op": "signal", "ref": "g", "channel": ch, "type": "typing",
                                    "data": {}}, "forbidden", "g", ch)
        await self.expect_error(c, {"op": "subscribe", "ref": "s", "channel": ch},
                                "forbidden", "s", ch)

    @bounded(20)
    async def test_invalid_channel(self):
        c = await self.user()
        for ch in ("nocolon", "chat:", ":name", "chat:a b", "chat:a:b", "chat:x@1", "chat:x,y",
                   "chat:*", "Chat:x", "chat:" + "n" * 129, "c" * 33 + ":x", "chat:-lead",
                   "chat:caf\u00e9", ""):
            for op, extra in (("publish", {"type": "message", "data": {}}),
                              ("subscribe", {}), ("history", {}), ("presence", {})):
                msg = {"op": op, "ref": "c", "channel": ch}
                msg.update(extra)
                await self.expect_error(c, msg, "invalid_channel", "c")

    @bounded(15)
    async def test_unknown_namespace(self):
        c = await self.user()
        ch = "nosuchns" + uuid.uuid4().hex[:6] + ":x"
        for op, extra in (("publish", {"type": "message", "data": {}}),
                          ("signal", {"type": "typing", "data": {}}),
                          ("subscribe", {}), ("history", {}), ("presence", {})):
            msg = {"op": op, "ref": "n", "channel": ch}
            msg.update(extra)
            await self.expect_error(c, msg, "unknown_namespace", "n", ch)

    @bounded(15)
    async def test_oversized_data(self):
        c = await self.user()
        max_data = c.hello["limits"]["max_data_bytes"]
        ch = self.ch()
        # compact {"p":"..."} of max_data + 1 bytes
        data = {"p": "x" * (max_data + 1 - 8)}
        self.assertEqual(len(json.dumps(data, separators=(",", ":"))), max_data + 1)
        await self.expect_error(c, {"op": "publish", "ref": "big", "channel": ch,
                                    "type": "message", "data": data}, "too_large", "big", ch)
        # Exactly max_data_bytes is accepted: published into a channel
        # outside the prefix.
        ok = {"p": "x" * (max_data - 8)}
        other = "chat:bad-ok-" + uuid.uuid4().hex[:8]
        ack = await c.publish(other, ok)
        self.assertEqual(ack["op"], "ack", ack)
        # A signal over 8,000 bytes encoded.
        await self.expect_error(c, {"op": "signal", "ref": "bs", "channel": ch, "type": "token",
                                    "data": {"text": "t" * 8000}}, "too_large", "bs", ch)

    @bounded(15)
    async def test_non_object_data(self):
        c = await self.user()
        ch = self.ch()
        for data in ([], [1], "text", 42, 1.5, True, None):
            await self.expect_error(c, {"op": "publish", "ref": "d", "channel": ch,
                                        "type": "message", "data": data}, "invalid_data", "d", ch)
            await self.expect_error(c, {"op": "signal", "ref": "d", "channel": ch,
                                        "type": "typing", "data": data}, "invalid_data", "d", ch)

    @bounded(15)
    async def test_bad_data_content(self):
        c = await self.user()
        ch = self.ch()
        deep = {}
        cur = deep
        for _ in range(32):  # depth 33
            cur["a"] = {}
            cur = cur["a"]
        cases = [
            ('{"op":"publish","ref":"z","channel":"%s","type":"message","data":{"t":"a\\u0000b"}}'
             % ch, "invalid_data"),
            ('{"op":"publish","ref":"z","channel":"%s","type":"message","data":{"a\\u0000":1}}'
             % ch, "invalid_data"),
            ('{"op":"publish","ref":"z","channel":"%s","type":"message","data":{"n":99999999999999999999}}'
             % ch, "invalid_data"),
            ('{"op":"publish","ref":"z","channel":"%s","type":"message","data":{"n":1e999}}'
             % ch, "invalid_data"),
            ('{"op":"publish","ref":"z","channel":"%s","type":"message","data":{"a":1,"a":2}}'
             % ch, "invalid_json"),
            (json.dumps({"op": "publish", "ref": "z", "channel": ch, "type": "message",
                         "data": deep}), "invalid_data"),
            (json.dumps({"op": "publish", "ref": "z", "channel": ch, "type": "log",
                         "data": {"level": "fatal", "message": "x"}}), "invalid_data"),
            (json.dumps({"op": "publish", "ref": "z", "channel": ch, "type": "log",
                         "data": {"level": "info", "message": "x", "extra": 1}}), "invalid_data"),
            (json.dumps({"op": "publish", "ref": "z", "channel": ch, "type": "log",
                         "data": {"level": "info", "message": ""}}), "invalid_data"),
        ]
        failures = []
        for raw, code in cases:
            await c.send(raw)
            err = await c.expect(("error", "ack"))
            want_ref = None if code == "invalid_json" else "z"
            if err.get("code") != code or err.get("ref") != want_ref:
                failures.append("%s: expected %s (ref %s), got %s" % (raw[60:120], code,
                                                                     want_ref, err))
        self.assertTrue(await c.alive())
        if failures:
            self.fail("\n".join(failures))

    @bounded(15)
    async def test_invalid_type(self):
        c = await self.user()
        ch = self.ch()
        for t in ("", "Message", "1abc", "a..b", "a.", "a b", "x" * 65, "a-b"):
            for op in ("publish", "signal"):
                await self.expect_error(c, {"op": op, "ref": "t", "channel": ch, "type": t,
                                            "data": {}}, "invalid_type", "t", ch)
        # A type that is not a string: bad_request or invalid_type.
        await c.send({"op": "publish", "ref": "t5", "channel": ch, "type": 5, "data": {}})
        err = await c.expect("error", ref="t5")
        self.assertIn(err["code"], ("bad_request", "invalid_type"), err)

    @bounded(15)
    async def test_presence_types_refused(self):
        """PROTOCOL.md 1.4.4: types beginning with presence. belong to
        switchboard; clients do not publish them (the code is not named:
        forbidden, invalid_type or bad_request are accepted here)."""
        c = await self.user()
        ch = self.ch()
        for op in ("publish", "signal"):
            for t in ("presence.join", "presence.leave"):
                await c.send({"op": op, "ref": "t", "channel": ch, "type": t,
                              "data": {"subject": "user:alice", "node": "x", "conn": "1",
                                       "connections": 1}})
                r = await c.expect(("ack", "error"), ref="t")
                self.assertEqual(r["op"], "error", "%s of type %s was accepted: %s" % (op, t, r))
                self.assertIn(r["code"], ("forbidden", "invalid_type", "bad_request"), r)

    @bounded(15)
    async def test_invalid_id(self):
        c = await self.user()
        ch = self.ch()
        for i in ("not-a-uuid", "", "3f0b8a64-7a4e-4c1e-9a51-5e7b1a0c2d1",
                  "3f0b8a64-7a4e-4c1e-9a51-5e7b1a0c2d10x", "{3f0b8a64-7a4e-4c1e-9a51-5e7b1a0c2d10}"):
            await self.expect_error(c, {"op": "publish", "ref": "i", "channel": ch,
                                        "type": "message", "data": {}, "id": i},
                                    "invalid_id", "i", ch)
        # A non-string id: invalid_id or bad_request.
        await c.send({"op": "publish", "ref": "j", "channel": ch, "type": "message", "data": {},
                      "id": 42})
        err = await c.expect(("ack", "error"), ref="j")
        self.assertEqual(err["op"], "error", err)
        self.assertIn(err["code"], ("invalid_id", "bad_request"), err)

    @bounded(15)
    async def test_subscribe_bad_since(self):
        c = await self.user()
        ch = self.ch()
        failures = []
        for since in (-1, "5", 1.5, True, [1]):
            err = await c.request({"op": "subscribe", "channel": ch, "since": since},
                                  "subscribed")
            if err.get("op") != "error" or err.get("code") != "invalid_cursor":
                failures.append("since %r: expected invalid_cursor, got %s" % (since, err))
            elif err.get("channel") != ch:
                failures.append("since %r: error without channel (PROTOCOL.md 4.14): %s"
                                % (since, err))
        self.assertTrue(await c.alive())
        if failures:
            self.fail("\n".join(failures))

    @bounded(60)
    async def test_stays_up_after_everything(self):
        """A burst of every kind of garbage from many connections at once."""
        garbage = ["", "{", "[]", "null", '{"op":1}', '{"op":"nope"}',
                   '{"op":"publish"}', '{"op":"publish","ref":"x","channel":"chat:\\u0000",'
                   '"type":"message","data":{}}', "\ufeff{}", '{"op":"auth","token":"a.b.c"}',
                   '{"op":"history","ref":"h","channel":"chat:x","limit":-1}',
                   '{"op":"ping","ts":"' + "9" * 1000 + '"}',
                   "[" * 10000 + "]" * 10000, '{"a":' * 5000 + "1" + "}" * 5000]

        async def one(i):
            c = await self.connect(make_token("g%d" % i, "user", (self.prefix + "*",)))
            for g in garbage:
                await c.send(g)
            await c.send({"op": "ping", "ts": i})
            await c.expect("pong", pred=lambda m: m.get("ts") == i, timeout=10)
            await c.close()
        await asyncio.gather(*(one(i) for i in range(20)))
        await self.assertNodeUp()
