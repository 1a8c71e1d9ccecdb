'use strict';
// Node's ws set up like the real suite's reference runs of ws 8.23
// (../../../../../shared/autobahn/README.md, "nodews-server" and
// "nodews-client"): permessage-deflate on with ws's defaults, maxPayload
// 64 MiB, every message sent back with ws.send(data, {binary}).
//
//   node nodews.js server          listens on 127.0.0.1, prints {"port": N}
//   node nodews.js client URL A F S N  runs cases F, F+S, F+2S, ... up to N
//                                  of the fuzzing server at URL as agent A,
//                                  one at a time
//   node nodews.js update URL A    asks the fuzzing server for the reports
//
// ws is resolved through NODE_PATH (interop/node/node_modules, installed
// with `npm ci --prefix interop/node`). The process ends when stdin ends,
// so a test that dies does not leave it behind.

const { WebSocket, WebSocketServer } = require('ws');

const maxPayload = 64 << 20;

function echo(ws) {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
}

function exitWithStdin() {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

const mode = process.argv[2];
if (mode === 'server') {
  exitWithStdin();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: true, maxPayload });
  wss.on('listening', () => process.stdout.write(JSON.stringify({ port: wss.address().port }) + '\n'));
  wss.on('connection', echo);
} else if (mode === 'client') {
  // Cases first, first+step, ... up to count, one at a time: Node runs
  // one thread, and a case waiting for a close reply must not wait behind
  // another case's 16 MiB message (the reference runs took one case at a
  // time). Run several processes for parallelism.
  exitWithStdin();
  const [base, agent, first, step, count] = process.argv.slice(3);
  const one = (url) => new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: true, maxPayload });
    echo(ws);
    ws.on('close', resolve);
    ws.on('error', resolve);
  });
  (async () => {
    for (let i = Number(first); i <= Number(count); i += Number(step)) {
      await one(`${base}/runCase?case=${i}&agent=${encodeURIComponent(agent)}`);
    }
  })().then(() => process.exit(0));
} else if (mode === 'update') {
  exitWithStdin();
  const [base, agent] = process.argv.slice(3);
  const ws = new WebSocket(`${base}/updateReports?agent=${encodeURIComponent(agent)}`);
  ws.on('close', () => process.exit(0));
  ws.on('error', () => process.exit(1));
} else {
  process.stderr.write('usage: node nodews.js server | client URL AGENT FIRST STEP COUNT | update URL AGENT\n');
  process.exit(2);
}
