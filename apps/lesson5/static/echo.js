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
  const TEXT = lesson.strings("page-strings");
  const url = lesson.socketUrl("/websocket");
  document.getElementById("socket-url").textContent = url;

  const said = (text) => lesson.appendEntry(log, "out", [["tag", TEXT.sent], ["text", text]]);
  const heard = (text) => lesson.appendEntry(log, "in", [["tag", TEXT.received], ["text", text]]);
  const phase = (name, text) => lesson.appendEntry(log, "event", [["tag", name], ["text", text]]);

  // The close codes a student meets (RFC 6455, section 7.4.1), explained in
  // the page's language.
  const closeText = (event) => {
    const known = TEXT.closeCodes[event.code];
    const values = { code: event.code, meaning: known ? `, ${known}` : "" };
    return lesson.fill(event.wasClean ? TEXT.closedCleanly : TEXT.closedBroken, values);
  };

  sendButton.disabled = true;
  const socket = lesson.connect({
    url,
    status: document.getElementById("status"),
    onopen(ws) {
      phase(TEXT.opened, TEXT.connectionOpened);
      ws.send("Hello, world");
      said("Hello, world");
      sendButton.disabled = false;
    },
    onmessage(event) {
      heard(String(event.data));
    },
    onclose(event) {
      sendButton.disabled = true;
      phase(TEXT.closed, closeText(event));
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
