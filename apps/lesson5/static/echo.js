// echo.js: the echo page of lesson 5.
//
// Opens a WebSocket to /websocket on the same server (ws:// or wss://, as the
// page itself came over http:// or https://), sends "Hello, world" as soon as
// the socket is open, and shows every message the server answers in #log.
// The form (#message, #send) sends more. The log also shows the socket's
// phases, open and close, as the lesson names them.
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

  sendButton.disabled = true;
  const socket = lesson.connect({
    url,
    status: document.getElementById("status"),
    onopen(ws) {
      phase("open", "Spojení je otevřené");
      ws.send("Hello, world");
      said("Hello, world");
      sendButton.disabled = false;
    },
    onmessage(event) {
      heard(String(event.data));
    },
    onclose(event) {
      sendButton.disabled = true;
      phase("close", event.wasClean ? `Spojení zavřeno (kód ${event.code})` : "Spojení se nepodařilo otevřít nebo spadlo");
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
