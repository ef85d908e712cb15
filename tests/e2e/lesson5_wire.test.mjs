// Lesson 5 on the wire, without a browser: the routes, the command line, the
// echo and the chat's JSON frames, checked with the `ws` WebSocket client
// against the server under test (see lib/lesson5.mjs for how it is chosen).
//
//   cd tests/e2e && npm ci && node --test lesson5_wire.test.mjs

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { ROOT, Server, freePort, serverCommand, waitFor } from "./lib/lesson5.mjs";

// A WebSocket client that queues what it receives, so a test can take the
// frames one by one: `await client.next()`.
class Client {
  static async open(url, options = {}) {
    const client = new Client(url, options);
    await new Promise((resolve, reject) => {
      client.ws.once("open", resolve);
      client.ws.once("error", reject);
      client.ws.once("unexpected-response", (request, response) =>
        reject(new Error(`HTTP ${response.statusCode} instead of a WebSocket`)),
      );
    });
    return client;
  }

  constructor(url, options) {
    this.frames = [];
    this.waiters = [];
    this.closed = new Promise((resolve) => {
      this.ws = new WebSocket(url, options);
      this.ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    this.ws.on("message", (data, isBinary) => {
      const text = isBinary ? data : data.toString("utf8");
      const waiter = this.waiters.shift();
      if (waiter) waiter(text);
      else this.frames.push(text);
    });
  }

  /** The next frame as text (fails after `timeout` ms). */
  next(timeout = 5000) {
    if (this.frames.length) return Promise.resolve(this.frames.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(settle), 1);
        reject(new Error(`no frame within ${timeout} ms`));
      }, timeout);
      const settle = (text) => {
        clearTimeout(timer);
        resolve(text);
      };
      this.waiters.push(settle);
    });
  }

  /** The next frame parsed as JSON. */
  async json(timeout) {
    return JSON.parse(await this.next(timeout));
  }

  /** Fails if a frame arrives within `ms`. */
  async expectSilence(ms = 300) {
    await new Promise((resolve) => setTimeout(resolve, ms));
    assert.deepEqual(this.frames, [], "no frame expected");
  }

  send(data) {
    this.ws.send(data);
  }

  async close() {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    return this.closed;
  }
}

// Joins the chat as `nick`: returns the client and its history frame, after
// the join notice about itself.
async function joinChat(server, nick) {
  const query = nick === undefined ? "" : `?nick=${encodeURIComponent(nick)}`;
  const client = await Client.open(server.socketUrl(`/chatsocket${query}`));
  const history = await client.json();
  assert.equal(history.type, "history");
  const join = await client.json();
  assert.equal(join.type, "join");
  return { client, history, join };
}

let server;

before(async () => {
  console.log(`server under test: ${serverCommand().join(" ")}`);
  server = await Server.start();
});

after(async () => {
  await server?.stop();
});

describe("pages and static files", () => {
  test("GET / and GET /chat are HTML pages with the contract's elements", async () => {
    for (const pathname of ["/", "/chat"]) {
      const response = await fetch(server.url(pathname));
      assert.equal(response.status, 200, pathname);
      assert.match(response.headers.get("content-type"), /^text\/html/);
      const html = await response.text();
      for (const id of ["log", "message", "send", "status"]) {
        assert.match(html, new RegExp(`id="${id}"`), `${pathname} has #${id}`);
      }
      assert.doesNotMatch(html, /\{\{|\{%/, "template tags are rendered");
      assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, "no external resources");
    }
  });

  test("static files referenced by the pages are served by static_url", async () => {
    const html = await (await fetch(server.url("/"))).text();
    const urls = [...html.matchAll(/(?:src|href)="(\/static\/[^"]+)"/g)].map((m) => m[1]);
    assert.ok(urls.length >= 4, `static references: ${urls}`);
    for (const url of urls) {
      assert.match(url, /\?v=[0-9a-f]+$/, `${url} carries a version`);
      const response = await fetch(server.url(url.replaceAll("&amp;", "&")));
      assert.equal(response.status, 200, url);
    }
    const css = await fetch(server.url("/static/lesson.css"));
    assert.match(css.headers.get("content-type"), /^text\/css/);
    const js = await fetch(server.url("/static/socket.js"));
    assert.match(js.headers.get("content-type"), /javascript/);
    assert.equal((await fetch(server.url("/static/missing.js"))).status, 404);
  });
});

describe("echo socket", () => {
  test("answers You said: followed by the message", async () => {
    const client = await Client.open(server.socketUrl("/websocket"));
    try {
      for (const text of ["Hello, world", "Příliš žluťoučký kůň úpěl ďábelské ódy", "🌪️", ""]) {
        client.send(text);
        assert.equal(await client.next(), `You said: ${text}`);
      }
    } finally {
      await client.close();
    }
  });
});

describe("check_origin and plain GET (why the pages derive their address from location)", () => {
  // A page from 127.0.0.1 opening a hard-coded ws://localhost:..., or a page
  // opened from disk (file://, Origin "null"), is refused with 403.
  for (const origin of ["http://localhost:1", "null", `http://localhost:PORT`]) {
    test(`Origin: ${origin} against Host 127.0.0.1 answers 403`, async () => {
      const url = server.socketUrl("/websocket");
      await assert.rejects(
        Client.open(url, { origin: origin.replace("PORT", String(server.port)) }),
        /HTTP 403/,
      );
    });
  }

  test("the same origin as the page is accepted", async () => {
    const client = await Client.open(server.socketUrl("/websocket"), { origin: server.url("").replace(/\/$/, "") });
    client.send("Hello, world");
    assert.equal(await client.next(), "You said: Hello, world");
    await client.close();
  });

  test("the socket's address opened as a page (plain GET) answers 400", async () => {
    const response = await fetch(server.url("/websocket"));
    assert.equal(response.status, 400);
  });
});

describe("chat socket", () => {
  let room;

  before(async () => {
    room = await Server.start({ args: ["--history", "3"] });
  });

  after(async () => {
    await room?.stop();
  });

  test("the chat page says how many messages a newcomer sees, in Czech plural", async () => {
    // --history 3: "poslední 3 zprávy" (2-4), never "posledních 3 zpráv".
    const html = await (await fetch(room.url("/chat"), { headers: { "Accept-Language": "cs" } })).text();
    assert.match(html, /uvidí\s+poslední 3 zprávy\./);
  });

  test("history, join, message, leave: the whole schema", async () => {
    const eva = await joinChat(room, "Eva");
    assert.deepEqual(eva.history.messages, []);
    assert.equal(eva.join.nick, "Eva");
    assert.equal(eva.join.users, 1);
    assert.equal(typeof eva.join.time, "number");

    const adam = await joinChat(room, "Adam");
    assert.equal(adam.join.users, 2);
    const seen = await eva.client.json();
    assert.deepEqual([seen.type, seen.nick, seen.users], ["join", "Adam", 2]);

    const before = Date.now();
    eva.client.send(JSON.stringify({ nick: "Eva", body: "Ahoj <b>Adame</b> & spol." }));
    const forEva = await eva.client.json();
    const forAdam = await adam.client.json();
    assert.deepEqual(forEva, forAdam, "everyone gets the same frame, the author too");
    assert.deepEqual(Object.keys(forEva).sort(), ["body", "id", "nick", "time", "type"]);
    assert.equal(forEva.type, "message");
    assert.equal(forEva.nick, "Eva");
    assert.equal(forEva.body, "Ahoj <b>Adame</b> & spol.", "bodies are stored as sent");
    assert.ok(Number.isInteger(forEva.id) && forEva.id >= 1);
    assert.ok(forEva.time >= before - 1000 && forEva.time <= Date.now() + 1000);

    adam.client.send(JSON.stringify({ nick: "Adam", body: "Čau" }));
    const reply = await eva.client.json();
    assert.equal(reply.id, forEva.id + 1, "ids count up");
    await adam.client.json();

    await adam.client.close();
    const leave = await eva.client.json();
    assert.deepEqual([leave.type, leave.nick, leave.users], ["leave", "Adam", 1]);
    await eva.client.close();
  });

  test("plain text is a body, nick comes from the address, blanks are ignored", async () => {
    const { client } = await joinChat(room, "  Jan   Novák  ");
    try {
      client.send("jen text");
      const plain = await client.json();
      assert.equal(plain.body, "jen text");
      assert.equal(plain.nick, "Jan Novák");

      client.send(JSON.stringify({ body: "bez přezdívky" }));
      assert.equal((await client.json()).nick, "Jan Novák");

      client.send("   ");
      client.send(JSON.stringify({ nick: "Eva", body: " \n " }));
      await client.expectSilence();

      client.send(JSON.stringify({ nick: "x".repeat(50), body: "y".repeat(2500) }));
      const long = await client.json();
      assert.equal(long.nick, "x".repeat(32));
      assert.equal(long.body, "y".repeat(2000));

      client.send(JSON.stringify({ nick: 7, body: ["not", "text"] }));
      assert.equal((await client.json()).body, '{"nick":7,"body":["not","text"]}');
    } finally {
      await client.close();
    }
  });

  test("limits count characters (code points), not bytes; Unicode spaces are blank", async () => {
    // The same rules as Python's str: " ".join(nick.split())[:32] and body[:2000].
    const { client } = await joinChat(room, "\u3000Eva\u00a0\u00a0Nová ");
    try {
      client.send("\u00a0\u3000\u2028");
      await client.expectSilence();

      client.send(JSON.stringify({ body: "ok" }));
      assert.equal((await client.json()).nick, "Eva Nová");

      client.send(JSON.stringify({ nick: "Čeněk Žluťoučký Příliš Dlouhé Jméno", body: "😀".repeat(1500) }));
      const emoji = await client.json();
      assert.equal(emoji.nick, "Čeněk Žluťoučký Příliš Dlouhé Jm");
      assert.equal(emoji.body, "😀".repeat(1500));

      client.send(JSON.stringify({ nick: "abcd efgh".padEnd(31, "x") + " yz", body: "ž".repeat(2001) }));
      const cut = await client.json();
      assert.equal(cut.nick, "abcd efgh".padEnd(31, "x"), "no space left at the end of a cut nick");
      assert.equal([...cut.body].length, 2000);
    } finally {
      await client.close();
    }
  });

  test("without a nick the server says anonym", async () => {
    const { client, join } = await joinChat(room, undefined);
    assert.equal(join.nick, "anonym");
    await client.close();
  });

  test("a newcomer gets the last --history messages, oldest first", async () => {
    const { client } = await joinChat(room, "Pisatel");
    for (const n of [1, 2, 3, 4, 5]) {
      client.send(JSON.stringify({ nick: "Pisatel", body: `zpráva ${n}` }));
      await client.json();
    }
    const newcomer = await joinChat(room, "Nováček");
    assert.deepEqual(
      newcomer.history.messages.map((m) => m.body),
      ["zpráva 3", "zpráva 4", "zpráva 5"],
    );
    for (const m of newcomer.history.messages) {
      assert.deepEqual(Object.keys(m).sort(), ["body", "id", "nick", "time", "type"]);
    }
    assert.equal(newcomer.join.users, 2);
    await newcomer.client.close();
    await client.close();
  });
});

describe("command line", () => {
  function run(args) {
    const [program, ...programArgs] = serverCommand();
    return spawnSync(program, [...programArgs, ...args], { cwd: ROOT, encoding: "utf8", timeout: 20000 });
  }

  test("--help lists the options and exits 0", () => {
    const result = run(["--help"]);
    assert.equal(result.status, 0, result.stderr);
    const text = result.stdout + result.stderr;
    for (const flag of ["--port", "--address", "--certfile", "--keyfile", "--history", "--logging"]) {
      assert.match(text, new RegExp(flag), `--help mentions ${flag}`);
    }
  });

  test("an unknown flag or a bad value exits 2 with a message", () => {
    for (const args of [["--no-such-flag"], ["--port", "not-a-number"], ["--history", "-1"]]) {
      const result = run(args);
      assert.equal(result.status, 2, `${args.join(" ")}: ${result.stdout}${result.stderr}`);
      assert.ok(result.stderr.trim().length > 0, `${args.join(" ")} explains itself`);
    }
  });

  test("--port=N works as well as --port N", async () => {
    const port = await freePort();
    const [program, ...programArgs] = serverCommand();
    const child = spawn(program, [...programArgs, `--port=${port}`], { cwd: ROOT, stdio: "ignore" });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      await waitFor(async () => {
        try {
          return (await fetch(`http://127.0.0.1:${port}/`)).status === 200;
        } catch {
          return false;
        }
      }, "the server started with --port=N", 20000);
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });
});

describe("graceful stop", () => {
  test("SIGTERM closes open sockets with 1001 and exits 0", async () => {
    const stopping = await Server.start();
    const echo = await Client.open(stopping.socketUrl("/websocket"));
    const chat = await joinChat(stopping, "Poslední");
    const exit = await stopping.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, stopping.output);
    assert.equal((await echo.closed).code, 1001);
    assert.equal((await chat.client.closed).code, 1001);
  });
});
