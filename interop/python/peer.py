"""A remote-controlled WebSocket peer built on Python's `websockets` package
(Debian's python3-websockets, version 10.x), driven by the Go tests in ../
(see ../README.md for the protocol).

Commands arrive on stdin, one JSON object per line; events leave on stdout,
one JSON object per line. Binary payloads travel as base64. Received messages
are reported by type, length and SHA-256.

The process exits when stdin ends, so a test that dies never leaves it behind.
"""

import asyncio
import base64
import hashlib
import json
import sys

import websockets
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)


def emit(ev):
    sys.stdout.write(json.dumps(ev) + "\n")
    sys.stdout.flush()


def deflate_kwargs(d, server):
    """Maps the tests' neutral permessage-deflate settings to websockets'
    arguments: None turns compression off, "default" keeps the library's
    defaults, a dict builds an explicit extension factory."""
    if d is None:
        return {"compression": None}
    if d == "default":
        return {}
    kw = {
        "server_no_context_takeover": bool(d.get("serverNoContextTakeover")),
        "client_no_context_takeover": bool(d.get("clientNoContextTakeover")),
        "server_max_window_bits": d.get("serverMaxWindowBits"),
    }
    cbits = d.get("clientMaxWindowBits")
    if server:
        kw["client_max_window_bits"] = cbits
        return {"extensions": [ServerPerMessageDeflateFactory(**kw)]}
    kw["client_max_window_bits"] = True if cbits is None else cbits
    return {"extensions": [ClientPerMessageDeflateFactory(**kw)]}


class Peer:
    def __init__(self):
        self.ws = None
        self.echo = False
        self.server = None
        self.tasks = set()

    def spawn(self, coro):
        t = asyncio.ensure_future(coro)
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    async def serve_conn(self, ws, info):
        """Reports and (in echo mode) echoes every message until the
        connection closes, then reports how it closed."""
        self.ws = ws
        emit(dict(ev="open", protocol=ws.subprotocol or "", **info))
        try:
            async for msg in ws:
                data = msg.encode("utf-8") if isinstance(msg, str) else msg
                emit(
                    dict(
                        ev="message",
                        type="text" if isinstance(msg, str) else "binary",
                        len=len(data),
                        sha256=hashlib.sha256(data).hexdigest(),
                    )
                )
                if self.echo:
                    await ws.send(msg)
        except websockets.ConnectionClosed:
            pass
        except Exception as e:  # report, never hang
            emit(dict(ev="error", message=repr(e)))
        await ws.wait_closed()
        emit(dict(ev="close", code=ws.close_code, reason=ws.close_reason or ""))
        if self.ws is ws:
            self.ws = None

    async def listen(self, cmd):
        self.echo = bool(cmd.get("echo"))

        async def handler(ws, path=None):
            info = dict(
                offered=ws.request_headers.get("Sec-WebSocket-Extensions", ""),
                extensions=ws.response_headers.get("Sec-WebSocket-Extensions", ""),
            )
            await self.serve_conn(ws, info)

        self.server = await websockets.serve(
            handler,
            "127.0.0.1",
            0,
            subprotocols=cmd.get("protocols") or None,
            ping_interval=None,
            max_size=64 << 20,
            close_timeout=5,
            **deflate_kwargs(cmd.get("deflate"), True),
        )
        port = self.server.sockets[0].getsockname()[1]
        emit(dict(ev="listening", port=port))

    async def connect(self, cmd):
        self.echo = bool(cmd.get("echo"))
        try:
            ws = await asyncio.wait_for(
                websockets.connect(
                    cmd["url"],
                    subprotocols=cmd.get("protocols") or None,
                    ping_interval=None,
                    max_size=64 << 20,
                    close_timeout=5,
                    **deflate_kwargs(cmd.get("deflate"), False),
                ),
                10,
            )
        except Exception as e:
            emit(dict(ev="error", message=repr(e)))
            return
        info = dict(extensions=ws.response_headers.get("Sec-WebSocket-Extensions", ""))
        self.spawn(self.serve_conn(ws, info))

    async def send(self, cmd):
        if self.ws is None:
            emit(dict(ev="error", message="send: no connection"))
            return
        parts = [base64.b64decode(p) for p in cmd.get("parts") or [cmd.get("data", "")]]
        if cmd.get("type") == "text":
            parts = [p.decode("utf-8") for p in parts]
        if len(parts) == 1:
            await self.ws.send(parts[0])
        else:
            await self.ws.send(parts)  # an iterable is sent as fragments

    async def ping(self, cmd):
        if self.ws is None:
            emit(dict(ev="error", message="ping: no connection"))
            return
        data = base64.b64decode(cmd.get("data", ""))
        waiter = await self.ws.ping(data)

        async def wait():
            try:
                await asyncio.wait_for(waiter, 10)
                # websockets resolves the waiter only for the pong that
                # carries this ping's payload.
                emit(dict(ev="pong", data=base64.b64encode(data).decode()))
            except Exception as e:
                emit(dict(ev="error", message="ping: " + repr(e)))

        self.spawn(wait())

    async def close(self, cmd):
        if self.ws is None:
            emit(dict(ev="error", message="close: no connection"))
            return
        self.spawn(self.ws.close(cmd.get("code") or 1000, cmd.get("reason", "")))


async def main():
    peer = Peer()
    loop = asyncio.get_running_loop()
    emit(dict(ev="ready", version=websockets.__version__))
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        if not line.strip():
            continue
        try:
            cmd = json.loads(line)
            op = getattr(peer, cmd["op"], None)
            if op is None or cmd["op"] not in ("listen", "connect", "send", "ping", "close"):
                emit(dict(ev="error", message="unknown op " + str(cmd.get("op"))))
                continue
            await op(cmd)
        except Exception as e:
            emit(dict(ev="error", message=repr(e)))


if __name__ == "__main__":
    asyncio.run(main())
