// Every server the lesson tells a student to run, run as the lesson says it:
// the C++ examples (docs/examples/, built as build/tests/doc_example_*), their
// Python twins (docs/lessons/python/) and the lesson's app, each started from
// a folder that is not the repository (so that nothing depends on the current
// folder) with --port=P. Each page loads with status 200, and so does every
// file the page references (style sheet, scripts, icon); the socket answers.
// A page whose CSS and JavaScript answer 404 cannot ship again.
//
//   node --test tests/e2e/lesson5_examples.test.mjs   (after building the
//   doc_example_* targets and lesson5; needs the `ws` package: npm ci)

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import WebSocket from "ws";
import { ROOT, freePort, waitFor } from "./lib/lesson5.mjs";

const EXAMPLES_DIR = path.resolve(ROOT, process.env.DOC_EXAMPLES_DIR || "build/tests");
const LESSON5_BIN = path.resolve(ROOT, process.env.LESSON5_BIN || "build/apps/lesson5/lesson5");
const PYTHON = fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const python = (name) => [PYTHON, path.join(ROOT, "docs", "lessons", "python", name)];
const cpp = (name) => [path.join(EXAMPLES_DIR, `doc_example_${name}`)];

// What each server serves, and what its socket must answer.
const echo = { path: "/websocket", send: "Hello, world", expect: ["You said: Hello, world"] };
const echoSolved = {
  path: "/websocket",
  send: "Hello, world",
  expect: ["Hello from the server", "You said (1): Hello, world"],
};
const chat = { path: "/chatsocket?nick=Eva", expectTypes: ["history", "join"] };
const chatSolved = {
  path: "/chatsocket?nick=Eva",
  send: JSON.stringify({ nick: "Eva", body: "/kdo" }),
  expectTypes: ["history", "join", "who"],
  last: { type: "who", nicks: ["Eva"] },
};
const EXAMPLES = [
  { name: "echo_websocket.cc", command: cpp("echo_websocket"), pages: ["/", "/static/hello.html"], socket: echo },
  { name: "echo_websocket.py", command: python("echo_websocket.py"), pages: ["/", "/static/hello.html"], socket: echo },
  { name: "echo_solutions.cc", command: cpp("echo_solutions"), pages: ["/"], socket: echoSolved },
  { name: "echo_solutions.py", command: python("echo_solutions.py"), pages: ["/"], socket: echoSolved },
  { name: "chat_websocket.cc", command: cpp("chat_websocket"), pages: ["/chat"], socket: chat },
  { name: "chat_websocket.py", command: python("chat_websocket.py"), pages: ["/chat"], socket: chat },
  { name: "chat_solutions.cc", command: cpp("chat_solutions"), pages: ["/chat"], socket: chatSolved },
  { name: "chat_solutions.py", command: python("chat_solutions.py"), pages: ["/chat"], socket: chatSolved },
  {
    name: "pubsub_chat.cc",
    command: cpp("pubsub_chat"),
    pages: [],
    socket: { path: "/chatsocket", send: "Ahoj", expect: ["Ahoj"] },
  },
  {
    name: "topics_chat.cc",
    command: cpp("topics_chat"),
    pages: [],
    socket: { path: "/chatsocket", send: "Ahoj", expect: ["Ahoj"] },
  },
  { name: "lesson5 (C++ app)", command: [LESSON5_BIN], pages: ["/", "/chat", "/static/hello.html"], socket: echo },
  { name: "lesson5.py", command: python("lesson5.py"), pages: ["/", "/chat", "/static/hello.html"], socket: echo },
];

test("every example program of the lesson is in this test", () => {
  const covered = new Set(EXAMPLES.map((example) => example.name));
  // The lesson's C++ programs are the docs/examples/ files its text names
  // (docs/examples/ also holds the other docs' examples, which are not servers
  // of this lesson).
  const lessonText = fs
    .readdirSync(path.join(ROOT, "docs", "lessons"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => fs.readFileSync(path.join(ROOT, "docs", "lessons", name), "utf8"))
    .join("\n");
  const named = [...lessonText.matchAll(/docs\/examples\/(\w+\.cc)/g)].map((match) => match[1]);
  const sources = [...fs.readdirSync(path.join(ROOT, "docs", "lessons", "python")), ...named].filter((name) =>
    /\.(py|cc)$/.test(name),
  );
  assert.ok(named.length > 0, "the lessons name their C++ examples");
  for (const name of sources) assert.ok(covered.has(name), `${name} is not run by this test`);
});

// Starts `command --port=P` in a scratch folder; resolves once it listens.
async function start(command) {
  const port = await freePort();
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "lesson5-example-"));
  const [program, ...args] = command;
  const child = spawn(program, [...args, `--port=${port}`], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  let exited = null;
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const exit = new Promise((resolve) => child.once("exit", (code, signal) => resolve((exited = { code, signal }))));
  child.once("error", (error) => (exited = { error: String(error) }));
  await waitFor(
    async () => {
      if (exited) throw new Error(`${command.join(" ")} exited: ${JSON.stringify(exited)}\n${output}`);
      try {
        await fetch(`http://127.0.0.1:${port}/`);
        return true;
      } catch {
        return false;
      }
    },
    `${command.join(" ")} to listen`,
    20000,
  );
  return {
    port,
    output: () => output,
    async stop() {
      if (!exited) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10000);
      await exit;
      clearTimeout(timer);
      fs.rmSync(cwd, { recursive: true, force: true });
    },
  };
}

// The messages the socket at `path` sends, `count` of them, after `send`.
function talk(port, { path: socketPath, send, count }) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${socketPath}`, { origin: `http://127.0.0.1:${port}` });
    const received = [];
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`got ${JSON.stringify(received)}, expected ${count} messages`));
    }, 5000);
    ws.on("unexpected-response", (request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
    ws.on("error", reject);
    ws.on("open", () => send !== undefined && ws.send(send));
    ws.on("message", (data) => {
      received.push(data.toString("utf8"));
      if (received.length === count) {
        clearTimeout(timer);
        ws.close(1000);
        resolve(received);
      }
    });
  });
}

for (const example of EXAMPLES) {
  describe(example.name, () => {
    test("serves its pages and every file they reference, and its socket answers", async () => {
      if (!fs.existsSync(example.command[0]) && example.command[0].includes(path.sep)) {
        assert.fail(`${example.command[0]} is missing: build it first (cmake --build build)`);
      }
      const server = await start(example.command);
      try {
        const base = `http://127.0.0.1:${server.port}`;
        for (const page of example.pages) {
          const response = await fetch(base + page);
          assert.equal(response.status, 200, `${page}\n${server.output()}`);
          const html = await response.text();
          const references = [...html.matchAll(/(?:src|href)="([^"#:]+)"/g)]
            .map((match) => match[1].replaceAll("&amp;", "&"))
            .filter((url) => url.startsWith("/static/"));
          if (page !== "/static/hello.html") {
            assert.ok(references.length >= 3, `${page} references its style sheet and scripts: ${references}`);
          }
          for (const url of references) {
            const file = await fetch(base + url);
            assert.equal(file.status, 200, `${page} references ${url}\n${server.output()}`);
          }
        }
        const { socket } = example;
        const received = await talk(server.port, {
          path: socket.path,
          send: socket.send,
          count: socket.expect ? socket.expect.length : socket.expectTypes.length,
        });
        if (socket.expect) {
          assert.deepEqual(received, socket.expect);
        } else {
          assert.deepEqual(received.map((text) => JSON.parse(text).type), socket.expectTypes);
          if (socket.last) assert.deepEqual(JSON.parse(received.at(-1)), socket.last);
        }
      } finally {
        await server.stop();
      }
    });
  });
}
