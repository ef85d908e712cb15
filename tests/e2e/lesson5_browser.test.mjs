// Lesson 5 in a real browser: Debian's Chromium, driven by playwright-core,
// against the server under test (see lib/lesson5.mjs for how it is chosen).
//
//   cd tests/e2e && npm ci && node --test lesson5_browser.test.mjs

import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, test } from "node:test";
import {
  Server,
  launchBrowser,
  makeCertificate,
  saveScreenshot,
  serverCommand,
  waitFor,
  watchForErrors,
  watchSockets,
} from "./lib/lesson5.mjs";

const CZECH = "Příliš žluťoučký kůň úpěl ďábelské ódy";
const EMOJI = "🌪️ vítr 👋🏽";
const PHONE = { width: 390, height: 844 };

let browser;
let server;

before(async () => {
  console.log(`server under test: ${serverCommand().join(" ")}`);
  browser = await launchBrowser();
  server = await Server.start();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// A page in a fresh context (its own storage) whose chat nick is `nick`. The
// browser speaks Czech (Accept-Language: cs-CZ), as the course's students'
// do, unless `locale` says otherwise.
async function openPage(
  pathname,
  { nick, viewport, target = server, contextOptions = {}, random, locale = "cs-CZ" } = {},
) {
  const context = await browser.newContext({
    viewport: viewport || { width: 1024, height: 800 },
    locale,
    ...contextOptions,
  });
  if (random !== undefined) {
    await context.addInitScript((value) => {
      Math.random = () => value;
    }, random);
  }
  if (nick) {
    await context.addInitScript((value) => localStorage.setItem("lesson5.nick", value), nick);
  }
  const page = await context.newPage();
  const errors = watchForErrors(page);
  const sockets = watchSockets(page);
  const response = await page.goto(target.url(pathname));
  return { context, page, errors, sockets, response };
}

// The texts of the entries in #log matching `selector` (inside #log).
function logTexts(page, selector) {
  return page.locator(`#log ${selector}`).allTextContents();
}

async function waitForLog(page, selector, text, timeout = 15000) {
  await page.locator(`#log ${selector}`, { hasText: text }).first().waitFor({ timeout });
}

async function waitForState(page, state, timeout = 15000) {
  await page.locator(`#status[data-state="${state}"]`).waitFor({ timeout });
}

// Frames the page received on its socket, parsed as JSON.
function frames(socket) {
  return socket.received.map((text) => JSON.parse(text));
}

describe("echo page", () => {
  test("loads with no console errors, opens ws:// and greets the server", async () => {
    const { context, page, errors, sockets, response } = await openPage("/");
    try {
      assert.equal(response.status(), 200);
      assert.match(response.headers()["content-type"], /^text\/html/);
      await waitForLog(page, ".in .text", "You said: Hello, world");
      await waitForState(page, "open");

      assert.equal(sockets.length, 1);
      const [socket] = sockets;
      assert.equal(socket.url, server.socketUrl("/websocket"));
      assert.deepEqual(socket.sent, ["Hello, world"]);
      assert.deepEqual(socket.received, ["You said: Hello, world"]);
      assert.equal(await page.locator("#socket-url").textContent(), server.socketUrl("/websocket"));
      assert.ok(await page.locator("#log").isVisible());
      assert.deepEqual(await logTexts(page, ".in .text"), ["You said: Hello, world"]);
      assert.equal(await page.title(), "Lekce 5: Interakce skrze websockets v Tornadu");

      await page.waitForLoadState("load");
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test("round-trips Czech and emoji typed into #message and sent with #send", async () => {
    const { context, page, errors, sockets } = await openPage("/");
    try {
      await waitForLog(page, ".in .text", "You said: Hello, world");
      for (const text of [CZECH, EMOJI]) {
        await page.fill("#message", text);
        await page.click("#send");
        await waitForLog(page, ".in .text", `You said: ${text}`);
      }
      assert.deepEqual(sockets[0].sent, ["Hello, world", CZECH, EMOJI]);
      assert.deepEqual(await logTexts(page, ".in .text"), [
        "You said: Hello, world",
        `You said: ${CZECH}`,
        `You said: ${EMOJI}`,
      ]);
      assert.equal(await page.inputValue("#message"), "");

      // Enter in the input sends too.
      await page.fill("#message", "Enter");
      await page.press("#message", "Enter");
      await waitForLog(page, ".in .text", "You said: Enter");

      // Markup is shown as text, never parsed.
      const markup = '<img src=x onerror="window.__injected=1"><b>tučně</b>';
      await page.fill("#message", markup);
      await page.click("#send");
      await waitForLog(page, ".in .text", `You said: ${markup}`);
      assert.equal(await page.locator("#log b, #log img").count(), 0);
      assert.equal(await page.evaluate(() => window.__injected), undefined);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test("fits a phone-width screen", async () => {
    const { context, page, errors } = await openPage("/", { viewport: PHONE });
    try {
      await waitForLog(page, ".in .text", "You said: Hello, world");
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - window.innerWidth,
      );
      assert.ok(overflow <= 0, `page is ${overflow}px wider than the screen`);
      assert.ok(await page.locator("#send").isVisible());
      assert.ok(await page.locator("#message").isVisible());
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});

describe("chat page", () => {
  test("two people chat, see join/leave notices with counts, a newcomer sees the history", async () => {
    // A room of its own: the counts and the history below start from nothing.
    const room = await Server.start();
    const eva = await openPage("/chat", { nick: "Eva", target: room });
    const adam = await openPage("/chat", { nick: "Adam", target: room });
    let cyril;
    try {
      for (const person of [eva, adam]) {
        assert.equal(person.response.status(), 200);
        await waitForState(person.page, "open");
        const nick = person === eva ? "Eva" : "Adam";
        assert.equal(person.sockets[0].url, room.socketUrl(`/chatsocket?nick=${nick}`));
      }
      // Each newcomer first gets the history, then everyone hears of the join.
      await waitForLog(eva.page, ".notice.join", "Adam přichází · online: 2");
      await waitForLog(adam.page, ".notice.join", "Adam přichází · online: 2");
      assert.equal((await eva.page.locator("#users").textContent()).trim(), "2 uživatelé online");
      assert.equal(frames(eva.sockets[0])[0].type, "history");
      assert.deepEqual(
        frames(eva.sockets[0]).filter((f) => f.type === "join").map((f) => [f.nick, f.users]),
        [["Eva", 1], ["Adam", 2]],
      );

      await eva.page.fill("#message", `Ahoj Adame! ${CZECH}`);
      await eva.page.click("#send");
      for (const person of [eva, adam]) {
        await waitForLog(person.page, ".message .body", `Ahoj Adame! ${CZECH}`);
      }
      const hostile = "<script>window.__injected = 1</script>";
      await adam.page.fill("#message", hostile);
      await adam.page.click("#send");
      await adam.page.fill("#message", `Čau Evo ${EMOJI}`);
      await adam.page.press("#message", "Enter");
      for (const person of [eva, adam]) {
        await waitForLog(person.page, ".message .body", `Čau Evo ${EMOJI}`);
        assert.deepEqual(await logTexts(person.page, ".message .nick"), ["Eva", "Adam", "Adam"]);
        assert.deepEqual(await logTexts(person.page, ".message .body"), [
          `Ahoj Adame! ${CZECH}`,
          hostile,
          `Čau Evo ${EMOJI}`,
        ]);
        assert.equal(await person.page.locator("#log script").count(), 0);
        assert.equal(await person.page.evaluate(() => window.__injected), undefined);
      }
      const sentByEva = eva.sockets[0].sent.map((text) => JSON.parse(text));
      assert.deepEqual(sentByEva, [{ nick: "Eva", body: `Ahoj Adame! ${CZECH}` }]);
      const message = frames(adam.sockets[0]).find((f) => f.type === "message");
      assert.equal(message.nick, "Eva");
      assert.equal(typeof message.id, "number");
      assert.ok(Math.abs(message.time - Date.now()) < 60000, `time ${message.time} is not now`);

      // A newcomer sees the three messages as history.
      cyril = await openPage("/chat", { nick: "Cyril", target: room });
      await waitForLog(cyril.page, ".notice.join", "Cyril přichází · online: 3");
      // A whole Czech sentence, with the plural form for 2-4.
      assert.deepEqual(await logTexts(cyril.page, ".notice.info"), ["Výše jsou 3 zprávy z historie."]);
      assert.deepEqual(await logTexts(cyril.page, ".message.history .body"), [
        `Ahoj Adame! ${CZECH}`,
        hostile,
        `Čau Evo ${EMOJI}`,
      ]);
      const history = frames(cyril.sockets[0])[0];
      assert.equal(history.type, "history");
      assert.deepEqual(history.messages.map((m) => m.nick), ["Eva", "Adam", "Adam"]);
      await waitForLog(eva.page, ".notice.join", "Cyril přichází · online: 3");

      // Leaving is announced to the others, with the new count.
      await adam.context.close();
      for (const person of [eva, cyril]) {
        await waitForLog(person.page, ".notice.leave", "Adam odchází · online: 2");
        assert.equal((await person.page.locator("#users").textContent()).trim(), "2 uživatelé online");
      }
      for (const person of [eva, cyril]) assert.deepEqual(person.errors, []);
    } finally {
      await eva.context.close();
      await adam.context.close();
      await cyril?.context.close();
      await room.stop();
    }
  });

  test("fits a phone-width screen", async () => {
    const { context, page, errors } = await openPage("/chat", { nick: "Telefon", viewport: PHONE });
    try {
      await waitForState(page, "open");
      await page.fill("#message", "Píšu z mobilu, dlouhá zpráva se musí zalomit a nesmí rozbít šířku stránky: " + "x".repeat(80));
      await page.click("#send");
      await waitForLog(page, ".message .body", "Píšu z mobilu");
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - window.innerWidth,
      );
      assert.ok(overflow <= 0, `page is ${overflow}px wider than the screen`);
      assert.ok(await page.locator("#send").isVisible());
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});

describe("the page's language", () => {
  // The texts the echo page shows, in each language: the page's own and the
  // ones its script gets from the server (status, log tags).
  const ECHO = {
    "en-US": { lang: "en", title: "Lesson 5: Interaction through WebSockets in Tornado", send: "Send",
               connected: "Connected", sent: "sent", received: "received", opened: "Connection opened" },
    "cs-CZ": { lang: "cs", title: "Lekce 5: Interakce skrze websockets v Tornadu", send: "Odeslat",
               connected: "Připojeno", sent: "odesláno", received: "přijato", opened: "Spojení otevřeno" },
  };

  for (const [locale, text] of Object.entries(ECHO)) {
    test(`a browser set to ${locale} gets the echo page in its language, and the echo works`, async () => {
      const { context, page, errors, sockets } = await openPage("/", { locale });
      try {
        await waitForLog(page, ".in .text", "You said: Hello, world");
        await waitForState(page, "open");
        assert.equal(await page.getAttribute("html", "lang"), text.lang);
        assert.equal(await page.title(), text.title);
        assert.equal((await page.locator("#send").textContent()).trim(), text.send);
        assert.equal((await page.locator("#status .status-text").textContent()).trim(), text.connected);
        assert.deepEqual(await logTexts(page, ".event .text"), [text.opened]);
        assert.deepEqual(await logTexts(page, ".out .tag"), [text.sent]);
        assert.deepEqual(await logTexts(page, ".in .tag"), [text.received]);
        await page.fill("#message", CZECH);
        await page.click("#send");
        await waitForLog(page, ".in .text", `You said: ${CZECH}`);
        assert.deepEqual(sockets[0].sent, ["Hello, world", CZECH]);
        assert.deepEqual(errors, []);
        // The lesson's appendix F shows the English page; the Czech one is lesson5-echo.
        if (text.lang === "en") {
          await page.locator("#message").blur();
          await saveScreenshot(page, "lesson5-echo-en");
        }
      } finally {
        await context.close();
      }
    });
  }

  test("one chat room, each reader in their own language: notices, counts and plurals", async () => {
    const room = await Server.start();
    const eva = await openPage("/chat", { nick: "Eva", target: room, locale: "cs-CZ" });
    const adam = await openPage("/chat", { nick: "Adam", target: room, locale: "en-GB" });
    let cyril;
    try {
      // The same join frame, shown in Czech to Eva and in English to Adam.
      await waitForLog(eva.page, ".notice.join", "Adam přichází · online: 2");
      await waitForLog(adam.page, ".notice.join", "Adam joins · online: 2");
      assert.equal((await eva.page.locator("#users").textContent()).trim(), "2 uživatelé online");
      assert.equal((await adam.page.locator("#users").textContent()).trim(), "2 users online");
      assert.deepEqual(await logTexts(adam.page, ".notice.info"), ["Nobody has written anything here yet."]);
      assert.equal(await adam.page.getAttribute("#message", "placeholder"), "Write a message…");

      for (const n of [1, 2, 3, 4, 5]) {
        await eva.page.fill("#message", `zpráva ${n}`);
        await eva.page.click("#send");
        await waitForLog(adam.page, ".message .body", `zpráva ${n}`);
      }
      // Czech has three plural forms: 1, 2-4, 0 and 5+ ("zpráv", "uživatelů").
      cyril = await openPage("/chat", { nick: "Cyril", target: room, locale: "cs-CZ" });
      await waitForLog(cyril.page, ".notice.join", "Cyril přichází · online: 3");
      assert.deepEqual(await logTexts(cyril.page, ".notice.info"), ["Výše je 5 zpráv z historie."]);
      await waitForLog(adam.page, ".notice.join", "Cyril joins · online: 3");
      await adam.context.close();
      await waitForLog(eva.page, ".notice.leave", "Adam odchází · online: 2");
      await eva.context.close();
      await waitForLog(cyril.page, ".notice.leave", "Eva odchází · online: 1");
      assert.equal((await cyril.page.locator("#users").textContent()).trim(), "1 uživatel online");
      for (const person of [eva, adam, cyril]) assert.deepEqual(person.errors, []);
    } finally {
      await eva.context.close();
      await adam.context.close();
      await cyril?.context.close();
      await room.stop();
    }
  });

  test("?lang=en beats a Czech browser, and the choice stays on the next page", async () => {
    const { context, page, errors } = await openPage("/?lang=en", { locale: "cs-CZ" });
    try {
      await waitForLog(page, ".in .text", "You said: Hello, world");
      assert.equal(await page.getAttribute("html", "lang"), "en");
      assert.equal(await page.locator('.languages a[aria-current="true"]').textContent(), "English");
      await page.click(".nav-chat");
      await waitForState(page, "open");
      assert.equal(new URL(page.url()).pathname, "/chat");
      assert.equal(await page.getAttribute("html", "lang"), "en");
      assert.equal((await page.locator("#send").textContent()).trim(), "Send");
      // And back to Czech with the switcher.
      await page.click('.languages a[hreflang="cs"]');
      await waitForState(page, "open");
      assert.equal(await page.getAttribute("html", "lang"), "cs");
      assert.equal((await page.locator("#send").textContent()).trim(), "Odeslat");
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});

describe("over https", () => {
  let tls;
  let secure;

  before(async () => {
    tls = makeCertificate();
    secure = await Server.start({
      scheme: "https",
      args: ["--certfile", tls.certfile, "--keyfile", tls.keyfile],
    });
  });

  after(async () => {
    await secure?.stop();
    if (tls) fs.rmSync(tls.dir, { recursive: true, force: true });
  });

  test("the echo page uses wss:// and the echo works", async () => {
    const { context, page, errors, sockets, response } = await openPage("/", {
      target: secure,
      contextOptions: { ignoreHTTPSErrors: true },
    });
    try {
      assert.equal(response.status(), 200);
      assert.ok(page.url().startsWith("https://"));
      await waitForLog(page, ".in .text", "You said: Hello, world");
      assert.equal(sockets[0].url, secure.socketUrl("/websocket"));
      assert.ok(sockets[0].url.startsWith("wss://"));
      await page.fill("#message", CZECH);
      await page.click("#send");
      await waitForLog(page, ".in .text", `You said: ${CZECH}`);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test("the chat page uses wss://", async () => {
    const { context, page, errors, sockets } = await openPage("/chat", {
      nick: "Šifra",
      target: secure,
      contextOptions: { ignoreHTTPSErrors: true },
    });
    try {
      await waitForLog(page, ".notice.join", "Šifra přichází · online: 1");
      assert.equal(sockets[0].url, secure.socketUrl(`/chatsocket?nick=${encodeURIComponent("Šifra")}`));
      assert.ok(sockets[0].url.startsWith("wss://"));
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});

describe("server restart", () => {
  test("the page shows the lost connection and reconnects when the server is back", async () => {
    const restartable = await Server.start();
    const { context, page, sockets } = await openPage("/", { target: restartable });
    try {
      await waitForLog(page, ".in .text", "You said: Hello, world");
      const exit = await restartable.stop();
      assert.deepEqual(exit, { code: 0, signal: null }, `graceful stop, output:\n${restartable.output}`);
      // The server said goodbye with 1001 (going away) and the page says it will retry.
      await waitForLog(page, ".event .text", "1001");
      await waitForState(page, "closed");
      assert.match(await page.locator("#status").textContent(), /další pokus za \d+ s/);

      await restartable.start();
      await waitForState(page, "open", 20000);
      await waitFor(
        async () => (await logTexts(page, ".in .text")).length === 2,
        "the second greeting after reconnecting",
      );
      assert.deepEqual(await logTexts(page, ".in .text"), [
        "You said: Hello, world",
        "You said: Hello, world",
      ]);
      assert.ok(sockets.length >= 2);
      assert.equal(sockets.at(-1).url, restartable.socketUrl("/websocket"));
      await page.fill("#message", "Jsem zpátky");
      await page.click("#send");
      await waitForLog(page, ".in .text", "You said: Jsem zpátky");
    } finally {
      await context.close();
      await restartable.stop();
    }
  });
});

describe("reconnect jitter", () => {
  test("the wait is the backoff delay times 0.5 to 1.5, from Math.random", async () => {
    // With Math.random() = 0.99 the first wait is 1 s * 1.49: shown as 1 s
    // without jitter, as 2 s with it (whole seconds, rounded up).
    const restartable = await Server.start();
    const { context, page } = await openPage("/", { target: restartable, random: 0.99 });
    try {
      await waitForLog(page, ".in .text", "You said: Hello, world");
      await restartable.stop();
      await waitForState(page, "closed");
      assert.match(await page.locator("#status").textContent(), /další pokus za 2 s/);
    } finally {
      await context.close();
      await restartable.stop();
    }
  });
});

describe("screenshots", () => {
  test("of both pages, at desktop and phone width", async () => {
    const room = await Server.start();
    const eva = await openPage("/chat", { nick: "Eva", target: room });
    const adam = await openPage("/chat", { nick: "Adam", viewport: PHONE, target: room });
    const echo = await openPage("/", { target: room });
    const echoPhone = await openPage("/", { viewport: PHONE, target: room });
    try {
      await waitForLog(echo.page, ".in .text", "You said: Hello, world");
      await echo.page.fill("#message", CZECH);
      await echo.page.click("#send");
      await waitForLog(echo.page, ".in .text", `You said: ${CZECH}`);
      await echo.page.locator("#message").blur();
      await saveScreenshot(echo.page, "lesson5-echo");

      await waitForLog(echoPhone.page, ".in .text", "You said: Hello, world");
      await echoPhone.page.fill("#message", "Ahoj z telefonu!");
      await echoPhone.page.click("#send");
      await waitForLog(echoPhone.page, ".in .text", "You said: Ahoj z telefonu!");
      await echoPhone.page.locator("#message").blur();
      await saveScreenshot(echoPhone.page, "lesson5-echo-phone");

      await waitForLog(eva.page, ".notice.join", "Adam přichází");
      const lines = [
        [eva, "Ahoj, funguje vám ten websocket?"],
        [adam, "Jo! Server mi poslal zprávu, aniž bych se na něco ptal."],
        [eva, "To je ten rozdíl oproti HTTP: server může psát kdykoli."],
        [adam, "<script>alert('ahoj')</script> se ukáže jako obyčejný text."],
      ];
      for (const [person, text] of lines) {
        await person.page.fill("#message", text);
        await person.page.click("#send");
        await waitForLog(eva.page, ".message .body", text);
        await waitForLog(adam.page, ".message .body", text);
      }
      for (const person of [eva, adam]) await person.page.locator("#message").blur();
      await saveScreenshot(eva.page, "lesson5-chat");
      await saveScreenshot(adam.page, "lesson5-chat-phone");
    } finally {
      for (const person of [eva, adam, echo, echoPhone]) await person.context.close();
      await room.stop();
    }
  });
});
