// echo.js: the echo page of lesson 5.
//
// Opens a WebSocket to /websocket on the same server (ws:// or wss://, as the
// page itself came over http:// or https://), sends "Hello, world" as soon as
// the socket is open, and shows every message the server answers in #log.
// The form (#message, #send) sends more. The log also shows the socket's
// phases: opened (onopen) and closed (onclose), with the close code and what
// it means.
"use strict";

(function () {
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("message");
  const sendButton = document.getElementById("send");
  const url = lesson.socketUrl("/websocket");
  document.getElementById("socket-url").textContent = url;

  const said = (text) => lesson.appendEntry(log, "out", [["tag", "odesláno"], ["text", text]]);
  const heard = (text) => lesson.appendEntry(log, "in", [["tag", "přijato"], ["text", text]]);
  const phase = (name, text) => lesson.appendEntry(log, "event", [["tag", name], ["text", text]]);

  // The close codes a student meets (RFC 6455, section 7.4.1).
  const CLOSE_CODES = {
    1000: "normální konec",
    1001: "server nebo stránka odchází",
    1005: "zavřeno bez kódu",
    1006: "spojení přerušeno bez rozloučení",
  };
  const closeText = (event) => {
    const meaning = CLOSE_CODES[event.code] ? `, ${CLOSE_CODES[event.code]}` : "";
    return event.wasClean
      ? `Spojení zavřeno (kód ${event.code}${meaning})`
      : `Spojení se nepodařilo otevřít nebo bylo přerušeno (kód ${event.code}${meaning})`;
  };

  sendButton.disabled = true;
  const socket = lesson.connect({
    url,
    status: document.getElementById("status"),
    onopen(ws) {
      phase("otevřeno", "Spojení otevřeno");
      ws.send("Hello, world");
      said("Hello, world");
      sendButton.disabled = false;
    },
    onmessage(event) {
      heard(String(event.data));
    },
    onclose(event) {
      sendButton.disabled = true;
      phase("zavřeno", closeText(event));
    },
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    if (text.trim() === "") return;
    if (socket.send(text)) {
      said(text);
      input.value = "";
    }
    input.focus();
  });
})();
