'use strict';
// An RFC 8441 peer built on Node's own HTTP/2 implementation (the http2
// module, nghttp2), for the Go tests in ../h2node_test.go. WebSocket frames
// are encoded and decoded by the small codec below (no permessage-deflate):
// what is under test on the Go side is the HTTP/2 part and the framing
// inside the stream.
//
//   node h2peer.js server          h2c server with SETTINGS_ENABLE_CONNECT_PROTOCOL;
//                                  echoes every WebSocket it accepts
//   node h2peer.js client URL      opens one WebSocket to URL (ws: h2c, wss: TLS,
//                                  certificate not checked), runs a fixed exchange
//
// Events leave on stdout, one JSON object per line. The server exits when
// stdin ends, so a test that dies never leaves it behind.

const crypto = require('crypto');
const http2 = require('http2');

function emit(ev) {
  process.stdout.write(JSON.stringify(ev) + '\n');
}

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

// encode returns one final frame; a client masks it with a fresh key.
function encode(opcode, payload, mask) {
  const len = payload.length;
  const ext = len > 65535 ? 8 : len > 125 ? 2 : 0;
  const h = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  h[0] = 0x80 | opcode;
  if (ext === 8) {
    h[1] = 127;
    h.writeBigUInt64BE(BigInt(len), 2);
  } else if (ext === 2) {
    h[1] = 126;
    h.writeUInt16BE(len, 2);
  } else {
    h[1] = len;
  }
  if (!mask) return Buffer.concat([h, payload]);
  h[1] |= 0x80;
  const key = crypto.randomBytes(4);
  key.copy(h, 2 + ext);
  const p = Buffer.from(payload);
  for (let i = 0; i < p.length; i++) p[i] ^= key[i & 3];
  return Buffer.concat([h, p]);
}

// WS speaks WebSocket over one HTTP/2 stream: messages (fragments joined),
// pings answered, the close handshake. Protocol errors close with 1002.
class WS {
  constructor(stream, isClient, on) {
    this.stream = stream;
    this.isClient = isClient;
    this.on = on; // {message(type, buf), pong(buf), close(code, reason), end()}
    this.buf = Buffer.alloc(0);
    this.frags = null;
    this.fragType = null;
    this.closeSent = false;
    stream.on('data', (d) => this.push(d));
    stream.on('end', () => on.end && on.end());
    stream.on('error', (e) => emit({ ev: 'error', message: String(e) }));
    stream.on('close', () => {
      // RST_STREAM from the peer (NO_ERROR = 0 is a clean end).
      if (!stream.readableEnded && stream.rstCode !== undefined) emit({ ev: 'reset', code: stream.rstCode });
    });
  }

  send(opcode, payload) {
    this.stream.write(encode(opcode, Buffer.from(payload), this.isClient));
  }

  close(code, reason) {
    if (this.closeSent) return;
    this.closeSent = true;
    const r = Buffer.from(reason || '');
    const p = Buffer.alloc(2 + r.length);
    p.writeUInt16BE(code, 0);
    r.copy(p, 2);
    this.send(8, p);
  }

  fail(code, why) {
    emit({ ev: 'protocolError', why });
    this.close(code, why.slice(0, 100));
    this.stream.end();
  }

  push(d) {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      const fin = (b[0] & 0x80) !== 0, rsv = b[0] & 0x70, op = b[0] & 0x0f;
      const masked = (b[1] & 0x80) !== 0;
      let len = b[1] & 0x7f, o = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        o = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        o = 10;
      }
      if (b.length < o + (masked ? 4 : 0) + len) return;
      let p = Buffer.from(b.subarray(o + (masked ? 4 : 0), o + (masked ? 4 : 0) + len));
      if (masked) {
        const key = b.subarray(o, o + 4);
        for (let i = 0; i < p.length; i++) p[i] ^= key[i & 3];
      }
      this.buf = b.subarray(o + (masked ? 4 : 0) + len);
      if (masked === this.isClient) return this.fail(1002, masked ? 'masked frame from a server' : 'unmasked frame from a client');
      if (rsv) return this.fail(1002, 'RSV bits set');
      this.frame(fin, op, p);
    }
  }

  frame(fin, op, p) {
    switch (op) {
      case 0:
        if (!this.frags) return this.fail(1002, 'continuation without a message');
        this.frags.push(p);
        break;
      case 1:
      case 2:
        if (this.frags) return this.fail(1002, 'new message inside a fragmented one');
        this.frags = [p];
        this.fragType = op === 1 ? 'text' : 'binary';
        break;
      case 8: {
        const code = p.length >= 2 ? p.readUInt16BE(0) : 1005;
        const reason = p.length > 2 ? p.subarray(2).toString('utf8') : '';
        this.on.close && this.on.close(code, reason);
        if (!this.closeSent) this.close(code === 1005 ? 1000 : code, '');
        if (!this.isClient) this.stream.end(); // the server ends the stream first
        return;
      }
      case 9:
        this.send(10, p);
        return;
      case 10:
        this.on.pong && this.on.pong(p);
        return;
      default:
        return this.fail(1002, 'unknown opcode ' + op);
    }
    if (fin && this.frags) {
      const msg = Buffer.concat(this.frags);
      const type = this.fragType;
      this.frags = null;
      this.on.message && this.on.message(type, msg);
    }
  }
}

function server() {
  const srv = http2.createServer({ settings: { enableConnectProtocol: true } });
  srv.on('stream', (stream, headers) => {
    emit({ ev: 'request', headers });
    if (headers[':method'] !== 'CONNECT' || headers[':protocol'] !== 'websocket') {
      stream.respond({ ':status': 400 });
      stream.end('expected an extended CONNECT with :protocol websocket');
      return;
    }
    if (headers['sec-websocket-version'] !== '13') {
      stream.respond({ ':status': 400, 'sec-websocket-version': '13' });
      stream.end();
      return;
    }
    const res = { ':status': 200 };
    const offered = (headers['sec-websocket-protocol'] || '').split(',').map((s) => s.trim());
    if (offered.includes('v1.interop')) res['sec-websocket-protocol'] = 'v1.interop';
    stream.respond(res);
    const ws = new WS(stream, false, {
      message: (type, msg) => {
        emit({ ev: 'message', type, len: msg.length, sha256: sha256(msg) });
        ws.send(type === 'text' ? 1 : 2, msg);
      },
      close: (code, reason) => emit({ ev: 'close', code, reason }),
      end: () => emit({ ev: 'end' }),
    });
  });
  srv.listen(0, '127.0.0.1', () => emit({ ev: 'listening', port: srv.address().port }));
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

// payload makes size bytes: valid UTF-8 for text (multi-byte characters
// included), a pattern for binary.
function payload(type, size, seed) {
  if (type === 'binary') {
    const b = Buffer.alloc(size);
    for (let i = 0; i < size; i++) b[i] = (i * 31 + seed * 7) & 255;
    return b;
  }
  const chars = ['a', 'é', '∑', '𝄞', ' '];
  let s = '', n = 0, i = seed;
  while (n < size) {
    let c = chars[i++ % chars.length];
    if (n + Buffer.byteLength(c) > size) c = 'x';
    s += c;
    n += Buffer.byteLength(c);
  }
  return Buffer.from(s);
}

function client(rawURL) {
  const u = new URL(rawURL);
  const origin = (u.protocol === 'wss:' ? 'https://' : 'http://') + u.host;
  const out = { ev: 'done', messages: [] };
  const fail = (why) => {
    emit({ ev: 'failed', why: String(why) });
    process.exit(1);
  };
  setTimeout(() => fail('timed out'), 60000).unref();
  const session = http2.connect(origin, { rejectUnauthorized: false });
  session.on('error', fail);
  session.on('remoteSettings', (s) => {
    out.enableConnectProtocol = !!s.enableConnectProtocol;
    if (out.status !== undefined) return;
    const req = session.request({
      ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': u.protocol === 'wss:' ? 'https' : 'http',
      ':path': u.pathname + u.search, ':authority': u.host,
      'sec-websocket-version': '13', 'sec-websocket-protocol': 'v2.interop, v1.interop',
      origin: origin,
    });
    out.status = 0;
    req.on('error', fail);
    req.on('response', (headers) => {
      out.status = headers[':status'];
      out.protocol = headers['sec-websocket-protocol'] || '';
      if (out.status !== 200) fail('status ' + out.status);
      run(req);
    });
  });

  function run(req) {
    const sizes = [0, 125, 126, 65535, 65536, 1 << 20];
    const plan = [];
    let seed = 1;
    for (const type of ['text', 'binary']) for (const size of sizes) plan.push({ type, data: payload(type, size, seed++) });
    let i = 0;
    const pingData = Buffer.from('node ping');
    const ws = new WS(req, true, {
      message: (type, msg) => {
        const want = plan[i];
        out.messages.push({ type, len: msg.length, ok: type === want.type && msg.equals(want.data) });
        i++;
        if (i < plan.length) ws.send(plan[i].type === 'text' ? 1 : 2, plan[i].data);
        else ws.send(9, pingData);
      },
      pong: (p) => {
        out.pong = p.equals(pingData);
        ws.close(1000, 'node says bye');
      },
      close: (code, reason) => {
        out.close = { code, reason };
      },
      end: () => {
        out.ended = true;
        req.end();
        emit(out);
        session.close();
      },
    });
    ws.send(plan[0].type === 'text' ? 1 : 2, plan[0].data);
  }
}

const [mode, arg] = process.argv.slice(2);
if (mode === 'server') server();
else if (mode === 'client' && arg) client(arg);
else {
  console.error('usage: node h2peer.js server | client URL');
  process.exit(2);
}
