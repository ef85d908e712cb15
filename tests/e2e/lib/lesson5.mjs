// Helpers for the lesson 5 end-to-end tests: start the server under test on a
// free port, launch Debian's Chromium headless, make a throwaway certificate,
// save screenshots, wait for things.
//
// The server under test comes from the environment:
//   LESSON5_BIN=build/apps/lesson5/lesson5          the C++ app
//   LESSON5_CMD="python3 docs/lessons/python/lesson5.py"   any command
// Either is started from the repository root with `--port P` appended. With
// neither set, the Python Tornado reference (docs/lessons/python/lesson5.py)
// is used.

import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const SCREENSHOT_DIR = path.resolve(
  ROOT,
  process.env.SCREENSHOT_DIR || path.join("build", "screenshots"),
);
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** The command that starts the server under test, without `--port`. */
export function serverCommand() {
  if (process.env.LESSON5_BIN) {
    return [path.resolve(ROOT, process.env.LESSON5_BIN)];
  }
  if (process.env.LESSON5_CMD) {
    return process.env.LESSON5_CMD.split(/\s+/).filter(Boolean);
  }
  const python = fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  return [python, path.join("docs", "lessons", "python", "lesson5.py")];
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Polls `check` until it returns something truthy; fails with `what` after `timeout` ms. */
export async function waitFor(check, what, timeout = 10000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * One running server under test. `start` waits until it accepts connections;
 * `stop` sends SIGTERM and waits for the exit (SIGKILL after 10 s).
 */
export class Server {
  constructor({ port, args = [], scheme = "http", command }) {
    this.port = port;
    this.args = args;
    this.scheme = scheme;
    this.command = command; // another program than serverCommand() (a demo app, say)
    this.output = "";
    this.process = null;
    this.exit = null;
  }

  static async start(options = {}) {
    const server = new Server({ port: options.port || (await freePort()), ...options });
    await server.start();
    return server;
  }

  /** http://127.0.0.1:P/path (https:// when the server has a certificate). */
  url(pathname = "/") {
    return `${this.scheme}://127.0.0.1:${this.port}${pathname}`;
  }

  /** ws://127.0.0.1:P/path (wss:// when the server has a certificate). */
  socketUrl(pathname) {
    return `${this.scheme === "https" ? "wss" : "ws"}://127.0.0.1:${this.port}${pathname}`;
  }

  async start() {
    const [program, ...programArgs] = this.command || serverCommand();
    const argv = [...programArgs, "--port", String(this.port), ...this.args];
    this.exit = null;
    const child = spawn(program, argv, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    this.process = child;
    const collect = (chunk) => {
      this.output += chunk.toString();
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
      child.once("error", (error) => {
        this.output += `\n${error}`;
        this.exit = { code: null, signal: null, error };
        resolve(this.exit);
      });
    });
    const described = [program, ...argv].join(" ");
    await waitFor(
      async () => {
        if (this.exit) {
          throw new Error(`server exited early (${described}): ${JSON.stringify(this.exit)}\n${this.output}`);
        }
        return canConnect(this.port);
      },
      `${described} to listen`,
      20000,
    );
  }

  /** SIGTERM, then the exit status ({code, signal}). */
  async stop() {
    if (!this.process || this.exit) return this.exit;
    this.process.kill("SIGTERM");
    const timer = setTimeout(() => this.process.kill("SIGKILL"), 10000);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }
}

/** Debian's Chromium, headless, with a fresh temporary profile. */
export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/**
 * Records what a page reports as wrong: console errors, uncaught exceptions,
 * failed requests and HTTP error responses. Returns the (live) list.
 */
export function watchForErrors(page) {
  const errors = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => errors.push(`exception: ${error.message}`));
  page.on("requestfailed", (request) =>
    errors.push(`request failed: ${request.url()} ${request.failure()?.errorText}`),
  );
  page.on("response", (response) => {
    if (response.status() >= 400) errors.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  return errors;
}

/**
 * Records every WebSocket the page opens with the frames it sends and
 * receives: [{url, sent: [text], received: [text], closed}].
 */
export function watchSockets(page) {
  const sockets = [];
  page.on("websocket", (ws) => {
    const record = { url: ws.url(), sent: [], received: [], closed: false };
    sockets.push(record);
    ws.on("framesent", (frame) => record.sent.push(String(frame.payload)));
    ws.on("framereceived", (frame) => record.received.push(String(frame.payload)));
    ws.on("close", () => {
      record.closed = true;
    });
  });
  return sockets;
}

/** A self-signed certificate for 127.0.0.1 and localhost, made by the openssl CLI. */
export function makeCertificate() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lesson5-tls-"));
  const certfile = path.join(dir, "cert.pem");
  const keyfile = path.join(dir, "key.pem");
  execFileSync(
    "openssl",
    [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
      "-subj", "/CN=localhost",
      "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout", keyfile, "-out", certfile,
    ],
    { stdio: "pipe" },
  );
  return { dir, certfile, keyfile };
}

/**
 * Saves a full-page screenshot as SCREENSHOT_DIR/<name>.png. With
 * LESSON5_UPDATE_DOCS_IMG=1 it also refreshes docs/img/<name>.png, the copy
 * the documentation shows (off by default, so a test run leaves the tree clean).
 */
export async function saveScreenshot(page, name) {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  if (process.env.LESSON5_UPDATE_DOCS_IMG === "1") {
    fs.copyFileSync(file, path.join(ROOT, "docs", "img", `${name}.png`));
  }
  return file;
}
