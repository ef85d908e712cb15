// Lesson 5 scaled out, in a real browser: two lesson5 processes on two ports
// share one chat room through a real redis-server (started here on a free
// port); a Chromium page on each chats with the other, and keeps working
// while Redis is killed and restarted. Only the C++ app has --redis: with
// the Python reference under test (no LESSON5_BIN) or without redis-server,
// the test says so and skips.
//
//   LESSON5_BIN=build/apps/lesson5/lesson5 node --test lesson5_scaleout.test.mjs

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import {
  Server,
  freePort,
  launchBrowser,
  saveScreenshot,
  waitFor,
  watchForErrors,
  watchSockets,
} from "./lib/lesson5.mjs";
import net from "node:net";

const haveRedis = spawnSync("sh", ["-c", "command -v redis-server"]).status === 0;
const why = !process.env.LESSON5_BIN
  ? "--redis is the C++ app's (set LESSON5_BIN)"
  : !haveRedis
    ? "redis-server is not installed (tools/bootstrap installs it)"
    : null;

// A redis-server without persistence on `port`; resolves once it listens.
async function startRedis(port) {
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  await waitFor(
    () =>
      new Promise((resolve) => {
        const socket = net.connect({ host: "127.0.0.1", port });
        socket.once("connect", () => {
          socket.destroy();
          resolve(true);
        });
        socket.once("error", () => resolve(false));
      }),
    "redis-server to listen",
  );
  return child;
}

function stopRedis(child) {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", resolve);
    child.kill("SIGKILL");
  });
}

describe("two lesson5 processes, one room through Redis", { skip: why ?? false }, () => {
  let browser;
  let redis;
  let redisPort;
  let servers = [];

  before(async () => {
    browser = await launchBrowser();
    redisPort = await freePort();
    redis = await startRedis(redisPort);
    const args = ["--redis", `redis://127.0.0.1:${redisPort}/0`, "--presence-ttl", "2"];
    servers = [await Server.start({ args }), await Server.start({ args })];
  });

  after(async () => {
    await browser?.close();
    for (const server of servers) await server.stop();
    await stopRedis(redis);
  });

  async function openChat(server, nick) {
    // A Czech browser: the texts checked below are the Czech ones.
    const context = await browser.newContext({ viewport: { width: 1024, height: 800 }, locale: "cs-CZ" });
    await context.addInitScript((value) => localStorage.setItem("lesson5.nick", value), nick);
    const page = await context.newPage();
    const errors = watchForErrors(page);
    const sockets = watchSockets(page);
    await page.goto(server.url("/chat"));
    await page.locator('#status[data-state="open"]').waitFor({ timeout: 15000 });
    return { context, page, errors, sockets };
  }

  async function waitForLog(page, selector, text, timeout = 15000) {
    await page.locator(`#log ${selector}`, { hasText: text }).first().waitFor({ timeout });
  }

  async function say(page, text) {
    await page.fill("#message", text);
    await page.click("#send");
  }

  test("pages on different processes chat, counts are global, Redis can restart", async () => {
    const [a, b] = servers;
    const eva = await openChat(a, "Eva");
    const adam = await openChat(b, "Adam");
    try {
      // Adam's arrival on the other process reaches Eva, with the room's count.
      await waitForLog(eva.page, ".notice.join", "Adam přichází · online: 2");
      assert.equal((await eva.page.locator("#users").textContent()).trim(), "2 uživatelé online");

      await say(eva.page, "Ahoj z prvního procesu");
      await waitForLog(adam.page, ".message .body", "Ahoj z prvního procesu");
      await say(adam.page, "Čau z druhého 👋");
      await waitForLog(eva.page, ".message .body", "Čau z druhého 👋");

      // Redis goes away: pages stay connected, a message is refused visibly.
      await stopRedis(redis);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await say(eva.page, "Tohle neprojde");
      await waitForLog(eva.page, ".notice.error", "nepodařilo doručit");
      assert.equal(await eva.page.inputValue("#message"), "Tohle neprojde", "the text is back to be sent again");
      assert.equal(await eva.page.locator('#status[data-state="open"]').count(), 1);
      assert.equal(await adam.page.locator("#log .message .body", { hasText: "Tohle neprojde" }).count(), 0);
      await saveScreenshot(eva.page, "lesson5-chat-redis-outage");

      // Redis is back: the chat resumes without reloading anything.
      redis = await startRedis(redisPort);
      await waitFor(
        async () => {
          await say(eva.page, "Zase tu");
          await new Promise((resolve) => setTimeout(resolve, 300));
          return (await adam.page.locator("#log .message .body", { hasText: "Zase tu" }).count()) > 0;
        },
        "the chat to resume after Redis restarted",
        15000,
      );
      for (const server of servers) {
        assert.match(server.output, /Redis .* lost: /);
        assert.match(server.output, /Redis .* is back after/);
      }
      for (const person of [eva, adam]) {
        assert.deepEqual(person.errors, []);
        assert.equal(person.sockets.length, 1, "the socket was never reopened");
      }
    } finally {
      await eva.context.close();
      await adam.context.close();
    }
  });
});

if (why) console.log(`SKIPPED: ${why}`);
