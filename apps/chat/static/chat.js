// The long-polling chat client: posts the form with fetch() and keeps one
// request open on /a/message/updates, sending the id of the last message
// seen as the cursor. Works with the app's templates and with the Python
// demo's (same element ids).
"use strict";

function cookie(name) {
  const match = document.cookie.match("\\b" + name + "=([^;]*)\\b");
  return match ? match[1] : undefined;
}

function formBody(fields) {
  const body = new URLSearchParams(fields);
  const xsrf = cookie("_xsrf");
  if (xsrf) body.set("_xsrf", xsrf);
  return body;
}

function showMessage(message) {
  if (document.getElementById("m" + message.id)) return;
  const holder = document.createElement("div");
  holder.innerHTML = message.html;
  const node = holder.firstElementChild;
  if (node) document.getElementById("inbox").appendChild(node);
}

async function newMessage(form) {
  const input = form.querySelector("input[name=body]");
  const submit = form.querySelector("input[type=submit]");
  submit.disabled = true;
  try {
    const response = await fetch("/a/message/new", {
      method: "POST",
      body: formBody({ body: input.value }),
    });
    if (response.ok) showMessage(await response.json());
    input.value = "";
    input.focus();
  } finally {
    submit.disabled = false;
  }
}

const updater = {
  errorSleepTime: 500,
  cursor: null,

  async poll() {
    const fields = {};
    if (updater.cursor) fields.cursor = updater.cursor;
    try {
      const response = await fetch("/a/message/updates", {
        method: "POST",
        body: formBody(fields),
      });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const answer = await response.json();
      const messages = answer.messages || [];
      if (messages.length) updater.cursor = messages[messages.length - 1].id;
      messages.forEach(showMessage);
      updater.errorSleepTime = 500;
      window.setTimeout(updater.poll, 0);
    } catch (error) {
      updater.errorSleepTime *= 2;
      console.log("Poll error; sleeping for", updater.errorSleepTime, "ms", error);
      window.setTimeout(updater.poll, updater.errorSleepTime);
    }
  },
};

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("messageform");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    newMessage(form);
  });
  document.getElementById("message").focus();
  updater.poll();
});
