// socket.js: the WebSocket helper shared by the lesson's echo and chat pages.
//
// It does the three things every page of the lesson needs:
//  - derives the socket's address from the page's own address (location):
//    http://host:port/... -> ws://host:port/<path>,
//    https://host/...     -> wss://host/<path>;
//  - opens the socket and, when it closes (the server restarted, the network
//    dropped), opens it again after about 1, 2, 4, ... up to 30 seconds, each
//    wait made random by half of it either way (jitter);
//  - shows the state of the connection in the #status element:
//    connecting / open / closed (next attempt in N s).
//
// It speaks the page's language: the server renders the texts, translated,
// into JSON blocks (#socket-strings here, #page-strings for the page's own
// script), so no script carries a sentence of its own; `strings(id)` reads
// one, `fill` puts values into its %(name)s / %(name)d placeholders and
// `plural` picks the form for a count by the language's plural rules.
//
// Text is always put into the page with textContent, never innerHTML: what
// arrives over the socket is data, not markup.
"use strict";

(function () {
  const FIRST_DELAY_S = 1;
  const MAX_DELAY_S = 30;

  // The WebSocket address of `path` on the server that served this page.
  function socketUrl(path) {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + location.host + path;
  }

  // The page's language, as the server set it on <html lang>: "cs", "en-US"...
  const language = document.documentElement.lang || "en";

  // The texts of the JSON block with this id ({} if there is none).
  function strings(id) {
    const element = document.getElementById(id);
    return element ? JSON.parse(element.textContent || "{}") : {};
  }

  // Python's named placeholders, as the catalogue has them:
  // fill("%(nick)s joins", {nick: "Eva"}) -> "Eva joins".
  function fill(text, values) {
    return String(text).replace(/%\((\w+)\)[sd]|%%/g, (match, name) =>
      name === undefined ? "%" : String(values[name]),
    );
  }

  // One of a plural text's forms ({one, few, other}, rendered by the server)
  // for `count`, chosen by the language's plural rules: in Czech 1 -> one,
  // 2-4 -> few, 0 and 5+ -> other; in English 1 -> one, the rest other.
  const pluralRules = new Intl.PluralRules(language);
  function plural(forms, count) {
    const form = forms[pluralRules.select(count)] ?? forms.other;
    return fill(form, { count });
  }

  const TEXT = strings("socket-strings");

  // Shows `state` ("connecting", "open" or "closed") with `text` in #status.
  function showState(statusElement, state, text) {
    if (!statusElement) return;
    statusElement.dataset.state = state;
    const textElement = statusElement.querySelector(".status-text") || statusElement;
    textElement.textContent = text;
  }

  // Appends one entry to a log list and keeps it scrolled to the newest entry
  // unless the reader has scrolled up to read older ones.
  //   kind: a class name ("in", "out", "event", "message", "notice", ...)
  //   parts: [[className, text], ...], each shown as a <span>.
  function appendEntry(log, kind, parts) {
    const stick = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    const item = document.createElement("li");
    item.className = "entry " + kind;
    for (const [className, text] of parts) {
      const span = document.createElement("span");
      span.className = className;
      span.textContent = text;
      item.appendChild(span);
    }
    log.appendChild(item);
    if (stick) log.scrollTop = log.scrollHeight;
    return item;
  }

  // Opens a WebSocket that reopens itself. Options:
  //   url:       the address, or a function returning it (asked on every attempt)
  //   status:    the #status element
  //   onopen(ws), onmessage(event), onclose(event): the three phases
  // Returns {send(text) -> bool}.
  function connect(options) {
    let ws = null;
    let delay = FIRST_DELAY_S;
    let retryTimer = null;
    let countdownTimer = null;

    function clearTimers() {
      clearTimeout(retryTimer);
      clearInterval(countdownTimer);
      retryTimer = countdownTimer = null;
    }

    function open() {
      clearTimers();
      const url = typeof options.url === "function" ? options.url() : options.url;
      showState(options.status, "connecting", TEXT.connecting);
      ws = new WebSocket(url);
      ws.addEventListener("open", () => {
        delay = FIRST_DELAY_S;
        showState(options.status, "open", TEXT.connected);
        if (options.onopen) options.onopen(ws);
      });
      ws.addEventListener("message", (event) => {
        if (options.onmessage) options.onmessage(event);
      });
      ws.addEventListener("close", (event) => {
        // A socket that never opened also ends here (the server is down):
        // "error" always comes with a "close", so "close" alone decides.
        ws = null;
        if (options.onclose) options.onclose(event);
        scheduleReconnect();
      });
    }

    function scheduleReconnect() {
      // Random jitter: a wait of 0.5 to 1.5 times the delay. Thirty pages that
      // lost the same server in the same instant would otherwise all come back
      // together, again and again, after exactly 1, 2, 4, ... seconds.
      const wait = delay * (0.5 + Math.random());
      let remaining = Math.max(1, Math.ceil(wait));
      const show = () =>
        showState(options.status, "closed", fill(TEXT.retrying, { seconds: remaining }));
      show();
      countdownTimer = setInterval(() => {
        remaining = Math.max(remaining - 1, 1);
        show();
      }, 1000);
      retryTimer = setTimeout(open, wait * 1000);
      delay = Math.min(delay * 2, MAX_DELAY_S);
    }

    open();
    return {
      // Sends `text` if the socket is open; tells whether it was sent.
      send(text) {
        if (!ws || ws.readyState !== WebSocket.OPEN) return false;
        ws.send(text);
        return true;
      },
    };
  }

  window.lesson = { language, socketUrl, connect, appendEntry, strings, fill, plural };
})();
