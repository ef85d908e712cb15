// WebSocket interop client on Node's `ws` package: echo round trips against a
// server speaking the apps/echo contract (WebSocket /echo echoes every message
// unchanged, text as text, binary as binary).
//
//   ECHO_URL=ws://127.0.0.1:8888/echo node tests/interop/ws_client.mjs
//   ECHO_URL=... ECHO_COMPRESSION=1 node tests/interop/ws_client.mjs
//
// ECHO_COMPRESSION=1 says the server was started with --compression: every
// connection offers permessage-deflate and must get it. Otherwise the server
// must decline an offer, and the round trips run uncompressed. ECHO_TODO lists
// case ids (comma-separated) known to fail against the server under test;
// they are reported as TAP TODO and do not fail the run. Prints TAP and exits
// 1 if any other check failed (2 on bad usage).

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import WebSocket from "ws";

const url = process.env.ECHO_URL;
const compression = process.env.ECHO_COMPRESSION === "1";
const TIMEOUT_MS = Number(process.env.ECHO_TIMEOUT_MS || 15000);
const MIB = 1024 * 1024;
// Case ids expected to fail against this server: reported as TAP TODO.
const todoIds = new Set((process.env.ECHO_TODO || "").split(",").filter(Boolean));

if (!url) {
  console.error("ECHO_URL is not set (e.g. ws://127.0.0.1:8888/echo)");
  process.exit(2);
}

/** A connection whose incoming messages and pongs can be awaited in order. */
class Client {
  static open(offerDeflate) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, {
        // threshold 0: compress every message, not only those past 1 KiB.
        perMessageDeflate: offerDeflate ? { threshold: 0 } : false,
        maxPayload: 64 * MIB,
      });
      const client = new Client(ws);
      ws.once("open", () => resolve(client));
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) =>
        reject(new Error(`handshake answered ${res.statusCode}`)),
      );
    });
  }

  constructor(ws) {
    this.ws = ws;
    this.messages = [];
    this.pongs = [];
    this.waiters = [];
    this.closed = null;
    ws.on("message", (data, isBinary) => this.push("messages", { data, isBinary }));
    ws.on("pong", (data) => this.push("pongs", data));
    ws.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.flush();
    });
    ws.on("error", (error) => {
      this.error = error;
      this.flush();
    });
  }

  push(queue, item) {
    this[queue].push(item);
    this.flush();
  }

  flush() {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** The next item of `queue` ("messages" or "pongs"). */
  next(queue) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${queue} within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
      const check = () => {
        if (this[queue].length) {
          clearTimeout(timer);
          resolve(this[queue].shift());
        } else if (this.error || this.closed) {
          clearTimeout(timer);
          reject(this.error || new Error(`connection closed (${this.closed.code} ${this.closed.reason})`));
        } else {
          this.waiters.push(check);
        }
      };
      check();
    });
  }

  send(data, options = {}) {
    return new Promise((resolve, reject) =>
      this.ws.send(data, options, (error) => (error ? reject(error) : resolve())),
    );
  }

  /** Closes with 1000 and resolves with the close frame the server answered. */
  close() {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no close answer")), TIMEOUT_MS);
      const done = () => {
        clearTimeout(timer);
        resolve(this.closed);
      };
      if (this.closed) return done();
      this.ws.once("close", () => setImmediate(done));
      this.ws.close(1000, "done");
    });
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

function describe(buffer) {
  return buffer.length > 40 ? `${buffer.length} bytes` : JSON.stringify(buffer.toString());
}

async function expectEcho(client, sent, isBinary) {
  const { data, isBinary: gotBinary } = await client.next("messages");
  assert(gotBinary === isBinary, `expected a ${isBinary ? "binary" : "text"} message, got ${gotBinary ? "binary" : "text"}`);
  const expected = Buffer.isBuffer(sent) ? sent : Buffer.from(sent, "utf8");
  assert(Buffer.compare(data, expected) === 0, `echo differs: sent ${describe(expected)}, got ${describe(data)}`);
}

function checkNegotiation(client) {
  const negotiated = client.ws.extensions;
  if (compression) {
    assert(/permessage-deflate/.test(negotiated), `permessage-deflate not negotiated (extensions: "${negotiated}")`);
  } else {
    assert(negotiated === "", `no extension expected, got "${negotiated}"`);
  }
}

/** Runs `body` on a fresh connection, then closes it cleanly. */
async function withClient(body) {
  const client = await Client.open(compression);
  try {
    checkNegotiation(client);
    await body(client);
    const closed = await client.close();
    assert(closed.code === 1000, `close answered with ${closed.code}, expected 1000`);
  } finally {
    client.ws.terminate();
  }
}

const NON_ASCII = "Příliš žluťoučký kůň úpěl ďábelské ódy — 日本語 — 🐎🎉";

const cases = [
  ["text", "text round trip", () => withClient(async (c) => {
    await c.send("Hello, world");
    await expectEcho(c, "Hello, world", false);
  })],
  ["binary", "binary round trip (all 256 byte values)", () => withClient(async (c) => {
    const data = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await c.send(data, { binary: true });
    await expectEcho(c, data, true);
  })],
  ["empty", "empty text and empty binary messages", () => withClient(async (c) => {
    await c.send("");
    await expectEcho(c, "", false);
    await c.send(Buffer.alloc(0), { binary: true });
    await expectEcho(c, Buffer.alloc(0), true);
  })],
  ["non-ascii", "non-ASCII text round trip", () => withClient(async (c) => {
    await c.send(NON_ASCII);
    await expectEcho(c, NON_ASCII, false);
  })],
  ["mebibyte-binary", "1 MiB binary message (random bytes)", () => withClient(async (c) => {
    const data = randomBytes(MIB);
    await c.send(data, { binary: true });
    await expectEcho(c, data, true);
  })],
  ["mebibyte-text", "1 MiB text message (repetitive, compresses well)", () => withClient(async (c) => {
    const text = "tornado-cpp says hello. ".repeat(Math.ceil(MIB / 24)).slice(0, MIB);
    await c.send(text);
    await expectEcho(c, text, false);
  })],
  ["fragmented-text", "fragmented text message, a UTF-8 sequence split across fragments", () => withClient(async (c) => {
    const bytes = Buffer.from(`start ${NON_ASCII} end`, "utf8");
    const cut1 = bytes.indexOf(Buffer.from("ř")) + 1; // inside the two-byte "ř"
    const cut2 = bytes.indexOf(Buffer.from("🐎")) + 2; // inside the four-byte emoji
    await c.send(bytes.subarray(0, cut1), { binary: false, fin: false });
    await c.send(bytes.subarray(cut1, cut2), { binary: false, fin: false });
    await c.send(bytes.subarray(cut2), { binary: false, fin: true });
    await expectEcho(c, bytes, false);
  })],
  ["fragmented-binary", "fragmented binary message (64 fragments of 4 KiB)", () => withClient(async (c) => {
    const data = randomBytes(64 * 4096);
    for (let i = 0; i < 64; ++i) {
      await c.send(data.subarray(i * 4096, (i + 1) * 4096), { binary: true, fin: i === 63 });
    }
    await expectEcho(c, data, true);
  })],
  ["ping", "ping answered with the same payload, then a message", () => withClient(async (c) => {
    c.ws.ping(Buffer.from("ping payload"));
    const pong = await c.next("pongs");
    assert(pong.toString() === "ping payload", `pong payload ${describe(pong)}`);
    await c.send("after the ping");
    await expectEcho(c, "after the ping", false);
  })],
  ["ping-between-fragments", "ping between the fragments of a message", () => withClient(async (c) => {
    await c.send("first half, ", { binary: false, fin: false });
    c.ws.ping(Buffer.from("mid-message"));
    await c.send("second half", { binary: false, fin: true });
    const pong = await c.next("pongs");
    assert(pong.toString() === "mid-message", `pong payload ${describe(pong)}`);
    await expectEcho(c, "first half, second half", false);
  })],
  ["in-order", "100 messages in a row come back in order", () => withClient(async (c) => {
    const sent = Array.from({ length: 100 }, (_, i) => (i % 2 ? `message ${i}` : Buffer.from(`binary ${i}`)));
    await Promise.all(sent.map((m) => c.send(m, { binary: Buffer.isBuffer(m) })));
    for (const m of sent) await expectEcho(c, m, Buffer.isBuffer(m));
  })],
];

if (!compression) {
  cases.unshift(["offer-declined", "a server without --compression declines permessage-deflate", async () => {
    const client = await Client.open(true);
    try {
      assert(client.ws.extensions === "", `extensions negotiated: "${client.ws.extensions}"`);
      await client.send("still works");
      await expectEcho(client, "still works", false);
      await client.close();
    } finally {
      client.ws.terminate();
    }
  }]);
}

function wsVersion() {
  try {
    const file = new URL("./node_modules/ws/package.json", import.meta.url);
    return JSON.parse(readFileSync(file, "utf8")).version;
  } catch {
    return "(version unknown)";
  }
}

const mode = compression ? "permessage-deflate" : "uncompressed";
console.log("TAP version 13");
console.log(`# ws ${wsVersion()} against ${url} (${mode})`);
console.log(`1..${cases.length}`);
let passed = 0;
let failed = 0;
let todo = 0;
for (const [index, [id, name, run]] of cases.entries()) {
  const label = `${index + 1} - ${name} [${mode}]`;
  try {
    await run();
    passed += 1;
    console.log(`ok ${label}${todoIds.has(id) ? " # TODO passes now" : ""}`);
  } catch (error) {
    if (todoIds.has(id)) {
      todo += 1;
      console.log(`not ok ${label} # TODO known to fail (ECHO_TODO=${id})`);
    } else {
      failed += 1;
      console.log(`not ok ${label}`);
    }
    console.log(`  ---\n  message: ${JSON.stringify(String(error?.message ?? error))}\n  ...`);
  }
}
console.log(`# ws client: ${passed} passed, ${failed} failed${todo ? `, ${todo} known failures (TODO)` : ""}`);
process.exit(failed ? 1 : 0);
