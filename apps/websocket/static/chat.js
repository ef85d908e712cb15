// The WebSocket chat client: sends the form's fields as JSON on
// /chatsocket and shows every message the server broadcasts. Works with the
// app's templates and with the Python demo's (same element ids).
"use strict";

function showMessage(message) {
  if (document.getElementById("m" + message.id)) return;
  const holder = document.createElement("div");
  holder.innerHTML = message.html;
  const node = holder.firstElementChild;
  if (node) document.getElementById("inbox").appendChild(node);
}

const updater = {
  socket: null,

  start() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    updater.socket = new WebSocket(scheme + location.host + "/chatsocket");
    updater.socket.onmessage = (event) => showMessage(JSON.parse(event.data));
  },
};

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("messageform");
  const input = document.getElementById("message");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const fields = {};
    for (const [name, value] of new FormData(form)) {
      if (name !== "next") fields[name] = value;
    }
    updater.socket.send(JSON.stringify(fields));
    input.value = "";
    input.focus();
  });
  input.focus();
  updater.start();
});
