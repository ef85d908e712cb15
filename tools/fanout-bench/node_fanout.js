// The fan-out benchmark's Node twin (ws): the usual loop over clients.
//   NODE_PATH=tests/interop/node_modules node node_fanout.js SUBSCRIBERS [BURST] [SIZE]
// prints its port (ws comes from tests/interop, installed by tools/bootstrap).
// Once SUBSCRIBERS are connected it sends BURST messages of SIZE bytes to
// every client per turn of the event loop, and waits (as tornado-cpp's
// `wait` policy) while a client has more than 256 KiB buffered.
"use strict";
const { WebSocketServer } = require("ws");

const subscribers = Number(process.argv[2] || 1000);
const burst = Number(process.argv[3] || 32);
const message = "x".repeat(Number(process.argv[4] || 20));
const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });

function publish() {
  for (const client of wss.clients) {
    if (client.bufferedAmount > 256 * 1024) return setImmediate(publish);
  }
  for (let k = 0; k < burst; k++) {
    for (const client of wss.clients) client.send(message);
  }
  setImmediate(publish);
}

wss.on("listening", () => console.log(wss.address().port));
wss.on("connection", () => {
  if (wss.clients.size === subscribers) publish();
});
