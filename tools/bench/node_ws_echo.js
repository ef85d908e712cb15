#!/usr/bin/env node
// The "Node ws" column of tools/bench/run: a WebSocket echo server on Node's
// `ws` package, answering at /echo as apps/echo does (text as text, binary as
// binary). Compression is off, as it is in the other targets by default;
// --deflate turns on ws's permessage-deflate with its defaults (context
// takeover, 15-bit windows, zlib level 6 as Node's zlib has it, messages under
// 1 KiB sent uncompressed) for the bench's compressed cases.
//
// With --tls-port, --certfile and --keyfile it also serves Node's https on
// that port: GET /plaintext and /json answered as apps/echo does, and the same
// echo over wss at /echo.
//
//   node tools/bench/node_ws_echo.js --port 9000 [--address 127.0.0.1] [--deflate]
//        [--tls-port 9443 --certfile cert.pem --keyfile key.pem]
'use strict';

const fs = require('fs');
const https = require('https');
const { WebSocketServer } = require('ws');

function parseArgs(argv) {
  const opts = {
    port: 8888, address: '127.0.0.1', deflate: false, 'tls-port': 0, certfile: '', keyfile: '',
  };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--deflate') {
      opts.deflate = true;
      continue;
    }
    let [flag, value] = argv[i].split('=', 2);
    if (!['--port', '--address', '--tls-port', '--certfile', '--keyfile'].includes(flag)) {
      process.stderr.write(`node_ws_echo: unknown flag ${argv[i]}\n`);
      process.exit(2);
    }
    if (value === undefined) value = argv[++i];
    if (value === undefined) {
      process.stderr.write(`node_ws_echo: ${flag} needs a value\n`);
      process.exit(2);
    }
    opts[flag.slice(2)] = value;
  }
  opts.port = Number(opts.port);
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    process.stderr.write(`node_ws_echo: bad port ${opts.port}\n`);
    process.exit(2);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const server = new WebSocketServer({
  host: opts.address,
  port: opts.port,
  path: '/echo',
  backlog: 4096,
  maxPayload: 64 * 1024 * 1024,
  perMessageDeflate: opts.deflate,
});

server.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => ws.terminate());
});
server.on('listening', () => {
  process.stdout.write(`node_ws_echo: listening on ${opts.address}:${opts.port}\n`);
});

// HTTPS and WSS on --tls-port: the same answers as the plain port's.
function serveTls() {
  const plaintext = 'Hello, World!';
  const json = JSON.stringify({ message: 'Hello, World!' });
  const httpsServer = https.createServer(
    { cert: fs.readFileSync(opts.certfile), key: fs.readFileSync(opts.keyfile) },
    (req, res) => {
      if (req.method === 'GET' && req.url === '/plaintext') {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': plaintext.length });
        res.end(plaintext);
      } else if (req.method === 'GET' && req.url === '/json') {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': json.length });
        res.end(json);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
  const wss = new WebSocketServer({
    server: httpsServer,
    path: '/echo',
    maxPayload: 64 * 1024 * 1024,
    perMessageDeflate: false,
  });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => ws.terminate());
  });
  httpsServer.listen({ host: opts.address, port: Number(opts['tls-port']), backlog: 4096 });
  return { httpsServer, wss };
}
const tls = Number(opts['tls-port']) ? serveTls() : null;

function stop() {
  for (const ws of server.clients) ws.close(1001);
  if (tls) {
    for (const ws of tls.wss.clients) ws.close(1001);
    tls.httpsServer.close();
  }
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
