// chat.js: the chat page of lesson 5.
//
// Opens a WebSocket to /chatsocket on the same server (ws:// or wss://, as the
// page itself came over http:// or https://) and reopens it with backoff when
// the server restarts. Every frame is one JSON object (UTF-8 text).
//
// The client sends, for each chat message:
//   {"nick": "Eva", "body": "Ahoj všichni"}
// ("nick" may be left out: the server then uses the nick from the socket's
// address, /chatsocket?nick=Eva, or "anonym"; a frame that is not such an
// object is taken whole as the body, so plain text works too.)
//
// The server sends:
//   {"type": "history", "messages": [<message>, ...]}
//       first frame on every new connection: the most recent messages, oldest
//       first (at most --history of them; possibly none)
//   {"type": "message", "id": 7, "nick": "Eva", "body": "Ahoj", "time": 1717171717000}
//       a chat message, to everyone including its author; id counts up from 1,
//       time is milliseconds since 1970-01-01 UTC
//   {"type": "join", "nick": "Eva", "users": 3, "time": ...}
//   {"type": "leave", "nick": "Eva", "users": 2, "time": ...}
//       someone came or went; users is the number connected after it
//   {"type": "users", "users": 2, "time": ...}
//       the number connected changed without a join or leave (a server of a
//       scaled-out room went away, or came back)
//   {"type": "error", "message": "...", "body": "...", "time": ...}
//       something the server could not do for this client (a message that
//       was not delivered while the room's Redis is unreachable; its body
//       comes back and returns to the input)
//
// Unknown types are ignored, so the server may add more. Bodies and nicks are
// shown with textContent: a body "<script>" shows as those characters.
"use strict";

(function () {
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const nickInput = document.getElementById("nick");
  const input = document.getElementById("message");
  const sendButton = document.getElementById("send");
  const users = document.getElementById("users");
  const TEXT = lesson.strings("page-strings");

  nickInput.value = loadNick();
  nickInput.addEventListener("change", () => {
    nickInput.value = nickInput.value.trim() || loadNick();
    saveNick(nickInput.value);
  });

  function loadNick() {
    try {
      const saved = localStorage.getItem("lesson5.nick");
      if (saved) return saved;
    } catch (error) {
      // Storage may be switched off; a fresh nick will do.
    }
    return TEXT.guest + "-" + Math.floor(100 + Math.random() * 900);
  }

  function saveNick(nick) {
    try {
      localStorage.setItem("lesson5.nick", nick);
    } catch (error) {
      // Not remembered across visits, still used on this page.
    }
  }

  function nick() {
    return nickInput.value.trim() || "anonym";
  }

  function clock(time) {
    const date = new Date(time);
    if (Number.isNaN(date.getTime())) return "";
    return date.toLocaleTimeString(lesson.language, { hour: "2-digit", minute: "2-digit" });
  }

  // A stable colour per nick, so that a conversation is easy to follow.
  function hue(text) {
    let h = 0;
    for (const ch of text) h = (h * 31 + ch.codePointAt(0)) % 360;
    return h;
  }

  function showUsers(count) {
    users.textContent = lesson.plural(TEXT.users, count);
  }

  function showMessage(message, extraClass) {
    const item = lesson.appendEntry(log, "message" + (extraClass ? " " + extraClass : ""), [
      ["time", clock(message.time)],
      ["nick", String(message.nick)],
      ["body", String(message.body)],
    ]);
    item.dataset.id = message.id;
    item.style.setProperty("--nick-hue", hue(String(message.nick)));
    if (message.nick === nick()) item.classList.add("mine");
  }

  function showNotice(kind, text) {
    lesson.appendEntry(log, "notice " + kind, [["text", text]]);
  }

  const handlers = {
    history(frame) {
      // The server sends the history on every (re)connection, so it replaces
      // whatever the log showed before.
      log.replaceChildren();
      const messages = Array.isArray(frame.messages) ? frame.messages : [];
      for (const message of messages) showMessage(message, "history");
      if (messages.length === 0) {
        showNotice("info empty", TEXT.historyEmpty);
      } else {
        showNotice("info", lesson.plural(TEXT.historyShown, messages.length));
      }
    },
    message(frame) {
      for (const empty of log.querySelectorAll(".notice.empty")) empty.remove();
      showMessage(frame);
    },
    join(frame) {
      showUsers(frame.users);
      showNotice("join", lesson.fill(TEXT.joins, { nick: frame.nick, count: frame.users }));
    },
    leave(frame) {
      showUsers(frame.users);
      showNotice("leave", lesson.fill(TEXT.leaves, { nick: frame.nick, count: frame.users }));
    },
    users(frame) {
      showUsers(frame.users);
    },
    error(frame) {
      showNotice("error", String(frame.message));
      // An undelivered message comes back, to be sent again.
      if (typeof frame.body === "string" && input.value === "") input.value = frame.body;
    },
  };

  sendButton.disabled = true;
  const socket = lesson.connect({
    url: () => lesson.socketUrl("/chatsocket?nick=" + encodeURIComponent(nick())),
    status: document.getElementById("status"),
    onopen() {
      sendButton.disabled = false;
    },
    onmessage(event) {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      const handler = frame && handlers[frame.type];
      if (handler) handler(frame);
    },
    onclose() {
      sendButton.disabled = true;
      users.textContent = "";
    },
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = input.value;
    if (body.trim() === "") return;
    if (socket.send(JSON.stringify({ nick: nick(), body }))) input.value = "";
    input.focus();
  });
})();
