"""An RFC 8441 peer built on Python's h2 (HTTP/2) and wsproto (WebSocket
frames, Sans-I/O), as Hypercorn combines them, for the Go tests in
../h2python_test.go. Both come from Debian (python3-h2, python3-wsproto).

    python3 h2peer.py server        h2c server with SETTINGS_ENABLE_CONNECT_PROTOCOL;
                                    echoes every WebSocket it accepts
    python3 h2peer.py client URL    opens one WebSocket to ws://HOST:PORT/PATH (h2c)
                                    and runs a fixed exchange

Events leave on stdout, one JSON object per line. The server exits when
stdin ends, so a test that dies never leaves it behind.
"""

import hashlib
import json
import socket
import sys
import threading
import urllib.parse

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from wsproto import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, Pong, TextMessage


def emit(ev):
    sys.stdout.write(json.dumps(ev) + "\n")
    sys.stdout.flush()


class Peer:
    """One HTTP/2 connection on a socket, with a WebSocket per stream."""

    def __init__(self, sock, client):
        self.sock = sock
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=client, header_encoding="utf-8"))
        self.pending = {}  # stream id -> bytes waiting for flow-control window
        self.ending = set()  # streams to end once pending is sent
        self.ws = {}  # stream id -> wsproto Connection
        self.parts = {}  # stream id -> fragments of the message being received

    def flush(self):
        self.sock.sendall(self.h2.data_to_send())

    def send(self, sid, data, end=False):
        self.pending[sid] = self.pending.get(sid, b"") + data
        if end:
            self.ending.add(sid)
        self.drain(sid)

    def drain(self, sid):
        buf = self.pending.get(sid, b"")
        while buf:
            n = min(len(buf), self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
            if n <= 0:
                break
            self.h2.send_data(sid, buf[:n])
            buf = buf[n:]
        self.pending[sid] = buf
        if not buf and sid in self.ending:
            self.ending.discard(sid)
            self.h2.end_stream(sid)
        self.flush()

    def ws_data(self, sid, data, on_message, on_other):
        """Feeds stream bytes to the stream's WebSocket and handles its events."""
        if not data:
            return  # the empty DATA frame that carries END_STREAM
        ws = self.ws[sid]
        ws.receive_data(data)
        for ev in ws.events():
            if isinstance(ev, Message):
                self.parts.setdefault(sid, []).append(ev.data)
                if ev.message_finished:
                    parts = self.parts.pop(sid)
                    if isinstance(ev, TextMessage):
                        on_message("text", "".join(parts).encode())
                    else:
                        on_message("binary", b"".join(parts))
            elif isinstance(ev, Ping):
                self.send(sid, ws.send(ev.response()))
            else:
                on_other(ev)

    def loop(self, handle):
        while True:
            data = self.sock.recv(65536)
            if not data:
                return
            for ev in self.h2.receive_data(data):
                if isinstance(ev, h2.events.DataReceived):
                    self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                if isinstance(ev, h2.events.WindowUpdated):
                    for sid in list(self.pending):
                        self.drain(sid)
                if handle(ev) is False:
                    self.flush()
                    return
            self.flush()


def serve_conn(sock):
    p = Peer(sock, client=False)
    p.h2.local_settings = h2.settings.Settings(
        client=False, initial_values={h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1})
    p.h2.initiate_connection()
    p.flush()

    def handle(ev):
        if isinstance(ev, h2.events.RequestReceived):
            headers = dict(ev.headers)
            emit({"ev": "request", "headers": headers})
            sid = ev.stream_id
            if headers.get(":method") != "CONNECT" or headers.get(":protocol") != "websocket":
                p.h2.send_headers(sid, [(":status", "400")], end_stream=True)
                return
            p.h2.send_headers(sid, [(":status", "200")])
            p.ws[sid] = Connection(ConnectionType.SERVER)
        elif isinstance(ev, h2.events.DataReceived) and ev.stream_id in p.ws:
            sid = ev.stream_id
            ws = p.ws[sid]

            def on_message(typ, msg):
                emit({"ev": "message", "type": typ, "len": len(msg), "sha256": hashlib.sha256(msg).hexdigest()})
                out = TextMessage(data=msg.decode()) if typ == "text" else BytesMessage(data=msg)
                p.send(sid, ws.send(out))

            def on_other(e):
                if isinstance(e, CloseConnection):
                    emit({"ev": "close", "code": e.code, "reason": e.reason})
                    # Echo the close, then end the stream: the server
                    # closes first, as it closes TCP first over HTTP/1.1.
                    p.send(sid, ws.send(e.response()), end=True)

            p.ws_data(sid, ev.data, on_message, on_other)
        elif isinstance(ev, h2.events.StreamEnded):
            emit({"ev": "end"})
        elif isinstance(ev, h2.events.StreamReset):
            emit({"ev": "reset", "code": int(ev.error_code)})
        elif isinstance(ev, h2.events.ConnectionTerminated):
            return False

    try:
        p.loop(handle)
    except Exception as e:  # report, then drop the connection
        emit({"ev": "error", "message": repr(e)})
    finally:
        sock.close()


def server():
    ln = socket.socket()
    ln.bind(("127.0.0.1", 0))
    ln.listen(16)
    emit({"ev": "listening", "port": ln.getsockname()[1]})

    def accept():
        while True:
            s, _ = ln.accept()
            threading.Thread(target=serve_conn, args=(s,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()  # until the test ends


def payload(typ, size, seed):
    if typ == "binary":
        return bytes((i * 31 + seed * 7) & 255 for i in range(size))
    chars = ["a", "é", "∑", "𝄞", " "]
    out, n, i = [], 0, seed
    while n < size:
        c = chars[i % len(chars)]
        i += 1
        if n + len(c.encode()) > size:
            c = "x"
        out.append(c)
        n += len(c.encode())
    return "".join(out).encode()


def client(raw):
    u = urllib.parse.urlsplit(raw)
    sock = socket.create_connection((u.hostname, u.port), timeout=60)
    p = Peer(sock, client=True)
    p.h2.initiate_connection()
    p.flush()
    out = {"ev": "done", "messages": []}
    sizes = [0, 125, 126, 65535, 65536, 1 << 20]
    plan = [(t, payload(t, n, i)) for i, (t, n) in enumerate((t, n) for t in ("text", "binary") for n in sizes)]
    state = {"i": 0, "sid": None}

    def send_msg(ws, sid, typ, data):
        m = TextMessage(data=data.decode()) if typ == "text" else BytesMessage(data=data)
        p.send(sid, ws.send(m))

    def handle(ev):
        if isinstance(ev, h2.events.RemoteSettingsChanged):
            s = ev.changed_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL)
            if s is not None:
                out["enableConnectProtocol"] = s.new_value == 1
            if out.get("enableConnectProtocol") and state["sid"] is None:
                sid = p.h2.get_next_available_stream_id()
                state["sid"] = sid
                p.h2.send_headers(sid, [
                    (":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
                    (":path", u.path or "/"), (":authority", u.netloc),
                    ("sec-websocket-version", "13"), ("sec-websocket-protocol", "v2.interop, v1.interop"),
                ])
        elif isinstance(ev, h2.events.ResponseReceived):
            h = dict(ev.headers)
            out["status"] = int(h[":status"])
            out["protocol"] = h.get("sec-websocket-protocol", "")
            if out["status"] != 200:
                return False
            ws = Connection(ConnectionType.CLIENT)
            p.ws[ev.stream_id] = ws
            send_msg(ws, ev.stream_id, *plan[0])
        elif isinstance(ev, h2.events.DataReceived) and ev.stream_id in p.ws:
            sid = ev.stream_id
            ws = p.ws[sid]

            def on_message(typ, msg):
                want = plan[state["i"]]
                out["messages"].append({"type": typ, "len": len(msg), "ok": (typ, msg) == want})
                state["i"] += 1
                if state["i"] < len(plan):
                    send_msg(ws, sid, *plan[state["i"]])
                else:
                    p.send(sid, ws.send(Ping(payload=b"python ping")))

            def on_other(e):
                if isinstance(e, Pong):
                    out["pong"] = e.payload == b"python ping"
                    p.send(sid, ws.send(CloseConnection(code=1000, reason="python says bye")))
                elif isinstance(e, CloseConnection):
                    out["close"] = {"code": e.code, "reason": e.reason or ""}

            p.ws_data(sid, ev.data, on_message, on_other)
        elif isinstance(ev, h2.events.StreamEnded):
            out["ended"] = True
            try:
                p.send(ev.stream_id, b"", end=True)
            except h2.exceptions.StreamClosedError:
                pass  # the server reset its finished stream (NO_ERROR)
            return False

    try:
        p.loop(handle)
    except Exception as e:
        out["error"] = repr(e)
    emit(out)
    sock.close()


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "server":
        server()
    elif len(sys.argv) == 3 and sys.argv[1] == "client":
        client(sys.argv[2])
    else:
        sys.stderr.write("usage: h2peer.py server | client URL\n")
        sys.exit(2)
