'use strict';
// A remote-controlled WebSocket peer built on the `ws` package, driven by the
// Go tests in ../ (see ../README.md for the protocol).
//
// Commands arrive on stdin, one JSON object per line; events leave on stdout,
// one JSON object per line. Binary payloads travel as base64. Received
// messages are reported by type, length and SHA-256 so that a 1 MiB message
// does not have to be echoed through the pipe.
//
// The process exits when stdin ends, so a test that dies never leaves it
// behind.

const crypto = require('crypto');
const readline = require('readline');
const { WebSocket, WebSocketServer } = require('ws');

function emit(ev) {
  process.stdout.write(JSON.stringify(ev) + '\n');
}

// deflateOptions maps the tests' neutral description of permessage-deflate
// settings to ws's perMessageDeflate option (false turns it off).
function deflateOptions(d) {
  if (!d) return false;
  const o = { threshold: d.threshold === undefined ? 0 : d.threshold };
  if (d.serverNoContextTakeover) o.serverNoContextTakeover = true;
  if (d.clientNoContextTakeover) o.clientNoContextTakeover = true;
  if (d.serverMaxWindowBits) o.serverMaxWindowBits = d.serverMaxWindowBits;
  if (d.clientMaxWindowBits !== undefined && d.clientMaxWindowBits !== null) {
    o.clientMaxWindowBits = d.clientMaxWindowBits;
  }
  return o;
}

let current = null; // the open connection (one at a time)
let echo = false;

function attach(ws, info) {
  current = ws;
  ws.on('message', (data, isBinary) => {
    emit({
      ev: 'message',
      type: isBinary ? 'binary' : 'text',
      len: data.length,
      sha256: crypto.createHash('sha256').update(data).digest('hex'),
    });
    if (echo) ws.send(data, { binary: isBinary });
  });
  ws.on('ping', (data) => emit({ ev: 'ping', data: data.toString('base64') }));
  ws.on('pong', (data) => emit({ ev: 'pong', data: data.toString('base64') }));
  ws.on('close', (code, reason) => {
    emit({ ev: 'close', code, reason: reason.toString('utf8') });
    if (current === ws) current = null;
  });
  ws.on('error', (err) => emit({ ev: 'error', message: String(err && err.message) }));
  emit(Object.assign({ ev: 'open', protocol: ws.protocol }, info));
}

function listen(cmd) {
  echo = !!cmd.echo;
  const server = (cmd.protocols || []);
  let offered = '';
  let accepted = '';
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    perMessageDeflate: deflateOptions(cmd.deflate),
    maxPayload: 64 << 20,
    handleProtocols: (protocols) => {
      for (const p of server) if (protocols.has(p)) return p;
      return false;
    },
  });
  wss.on('headers', (headers, req) => {
    offered = req.headers['sec-websocket-extensions'] || '';
    accepted = '';
    for (const h of headers) {
      const m = /^sec-websocket-extensions:\s*(.*)$/i.exec(h);
      if (m) accepted = m[1];
    }
  });
  wss.on('connection', (ws) => attach(ws, { offered, extensions: accepted }));
  wss.on('listening', () => emit({ ev: 'listening', port: wss.address().port }));
  wss.on('error', (err) => emit({ ev: 'error', message: String(err && err.message) }));
}

function connect(cmd) {
  echo = !!cmd.echo;
  const ws = new WebSocket(cmd.url, cmd.protocols || [], {
    perMessageDeflate: deflateOptions(cmd.deflate),
    maxPayload: 64 << 20,
    handshakeTimeout: 10000,
  });
  let extensions = '';
  ws.on('upgrade', (res) => { extensions = res.headers['sec-websocket-extensions'] || ''; });
  ws.on('open', () => attach(ws, { extensions }));
  ws.on('unexpected-response', (req, res) => {
    emit({ ev: 'error', message: 'unexpected response ' + res.statusCode });
    req.destroy();
  });
  ws.on('error', (err) => { if (current !== ws) emit({ ev: 'error', message: String(err && err.message) }); });
}

function send(cmd) {
  if (!current) return emit({ ev: 'error', message: 'send: no connection' });
  const binary = cmd.type === 'binary';
  const parts = (cmd.parts || [cmd.data]).map((p) => Buffer.from(p || '', 'base64'));
  // Several parts are sent as the fragments of one message.
  parts.forEach((p, i) => current.send(p, { binary, fin: i === parts.length - 1 }));
}

const handlers = {
  listen,
  connect,
  send,
  ping: (cmd) => current ? current.ping(Buffer.from(cmd.data || '', 'base64')) : emit({ ev: 'error', message: 'ping: no connection' }),
  close: (cmd) => {
    if (!current) return emit({ ev: 'error', message: 'close: no connection' });
    if (cmd.code) current.close(cmd.code, cmd.reason || '');
    else current.close();
  },
};

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    return emit({ ev: 'error', message: 'bad command: ' + e.message });
  }
  const h = handlers[cmd.op];
  if (!h) return emit({ ev: 'error', message: 'unknown op ' + cmd.op });
  try {
    h(cmd);
  } catch (e) {
    emit({ ev: 'error', message: cmd.op + ': ' + e.message });
  }
});
rl.on('close', () => process.exit(0));
emit({ ev: 'ready', version: require('ws/package.json').version });
