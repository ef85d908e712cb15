// Tornado's two chat demos (apps/chat: long polling, apps/websocket: a
// WebSocket room) in a real browser: Debian's Chromium, driven by
// playwright-core, with two pages on the same room. What one page posts
// shows up on both, links made by linkify; a page opened later lists it.
//
//   CHAT_BIN=build/apps/chat/chat WEBSOCKET_CHAT_BIN=build/apps/websocket/websocket_chat \
//     node tests/e2e/run.mjs tests/e2e/demos_browser.test.mjs

import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT, Server, launchBrowser, watchForErrors } from "./lib/lesson5.mjs";

const APPS = [
  { name: "chat", bin: process.env.CHAT_BIN || "build/apps/chat/chat" },
  { name: "websocket", bin: process.env.WEBSOCKET_CHAT_BIN || "build/apps/websocket/websocket_chat" },
];

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

async function openPage(server) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = watchForErrors(page);
  const response = await page.goto(server.url("/"));
  assert.equal(response.status(), 200);
  return { context, page, errors };
}

async function post(page, text) {
  await page.locator("#message").fill(text);
  await page.locator("#messageform input[type=submit]").click();
}

async function waitForMessage(page, text) {
  await page.locator("#inbox .message", { hasText: text }).first().waitFor({ timeout: 15000 });
}

for (const app of APPS) {
  describe(app.name, () => {
    let server;
    before(async () => {
      server = await Server.start({ command: [path.resolve(ROOT, app.bin)] });
    });
    after(async () => {
      await server?.stop();
    });

    test("two pages see each other's messages; a later page lists them", async () => {
      const alice = await openPage(server);
      const bob = await openPage(server);
      try {
        // The long-polling page must be polling, the WebSocket page connected,
        // before the other posts: Bob's own first message proves it.
        await post(bob.page, "bob is here");
        await waitForMessage(bob.page, "bob is here");
        await waitForMessage(alice.page, "bob is here");

        await post(alice.page, "hi <b>all</b>, see http://example.com/x");
        for (const { page } of [alice, bob]) {
          await waitForMessage(page, "hi <b>all</b>, see http://example.com/x");
          const link = page.locator("#inbox .message a", { hasText: "http://example.com/x" });
          assert.equal(await link.getAttribute("href"), "http://example.com/x");
          assert.equal(await page.locator("#inbox .message b").count(), 0);
          // Each message once, however it arrived (answer and broadcast).
          assert.equal(await page.locator("#inbox .message").count(), 2);
        }
        assert.equal(await alice.page.locator("#message").inputValue(), "");

        const carol = await openPage(server);
        try {
          assert.deepEqual(await carol.page.locator("#inbox .message").allTextContents(), [
            "bob is here",
            "hi <b>all</b>, see http://example.com/x",
          ]);
          assert.deepEqual(carol.errors, []);
        } finally {
          await carol.context.close();
        }
        assert.deepEqual(alice.errors, []);
        assert.deepEqual(bob.errors, []);
      } finally {
        await alice.context.close();
        await bob.context.close();
      }
    });
  });
}
