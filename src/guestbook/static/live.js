// Live updates: the message list follows /live without a reload. The socket says only
// what changed (created, edited or deleted, the message id, and a reply's message);
// the message's HTML comes from the server, fetched with this visitor's cookies, so it looks and escapes
// as on a page load and shows Edit and Delete on their own messages. Without
// JavaScript, or without a socket, the page is what the server sent.
(function () {
  "use strict";
  var box = document.querySelector(".live-list");
  if (!box || !window.WebSocket || !window.fetch) return;
  var after = box.dataset.liveAfter; // the last event seen; "" when unknown
  var writer = box.dataset.liveWriter; // a profile shows this member's messages only
  var thread = box.dataset.liveThread; // a message's page shows its replies, oldest first
  var member = box.dataset.liveMember === "yes"; // a reader's fragments are every reader's
  var older = box.dataset.liveOlder === "yes"; // a cursor page links to new messages
  var heartbeat = parseFloat(box.dataset.liveHeartbeat) || 25;
  var failures = 0;
  var socket = null;
  var silence = null;
  var work = Promise.resolve(); // events are handled one at a time, in order

  function state(name) { box.dataset.liveState = name; }

  // The socket on this page's own host (the server may know itself by another name
  // behind a proxy), ws: or wss: as the page is http: or https:.
  function socketUrl() {
    var url = new URL(box.dataset.liveUrl, location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.host = location.host;
    url.search = after ? "?after=" + encodeURIComponent(after) : "";
    return url.href;
  }

  function getHtml(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.status === 404) return null;
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      });
  }

  // The message's <li> as this visitor sees it, or null once it is gone (deleted, or
  // hidden by a moderator). The URL names the event: a shared cache keeps one copy per
  // event for every reader, and none from before it (an edit's is not the old text).
  // A reader's is the same on every page, so it names nothing of this one: the readers
  // of all pages share one copy.
  function fragment(id, seq) {
    var url = box.dataset.liveFragment.replace("/0/", "/" + id + "/") + "?seq=" + seq;
    if (member) {
      // Where its buttons lead back to; and on a profile, its writer sees their hidden
      // messages there, marked.
      url += "&next=" + encodeURIComponent(location.pathname + location.search);
      if (writer) url += "&profile=" + encodeURIComponent(writer);
    }
    if (thread) url += "&thread=yes";
    return getHtml(url).then(function (html) {
      if (html === null) return null;
      var template = document.createElement("template");
      template.innerHTML = html.trim();
      return template.content.firstElementChild;
    });
  }

  function showNews() { box.querySelector(".live-news").hidden = false; }

  function insert(item) {
    var list = box.querySelector("ol.messages");
    if (!list) {
      list = document.createElement("ol");
      list.className = "messages";
      var empty = box.querySelector(".empty");
      if (empty) empty.replaceWith(list);
      else box.querySelector(".live-news").after(list);
    }
    // Events come in commit order: newest first, or on a message's page last.
    list.insertBefore(item, thread ? null : list.firstElementChild);
  }

  function shownIds() {
    return Array.prototype.map.call(
      box.querySelectorAll("ol.messages > li[id^='m']"),
      function (li) { return parseInt(li.id.slice(1), 10); });
  }

  // Whether a message not on the page would stand on it: its id between the newest and
  // the oldest shown (or above them, on the newest page).
  function belongsHere(id) {
    var ids = shownIds();
    if (!ids.length) return !older;
    return id > Math.min.apply(null, ids) && (!older || id < Math.max.apply(null, ids));
  }

  // A message shown again (a moderator restored it): back in its place, in the list's
  // order.
  function putBack(item, id) {
    var list = box.querySelector("ol.messages");
    if (!list) { insert(item); return; }
    var next = Array.prototype.find.call(list.children, function (li) {
      var other = parseInt(li.id.slice(1), 10);
      return thread ? other > id : other < id;
    });
    list.insertBefore(item, next || null);
  }

  // Whether an event can change this page: a reply belongs on its message's page (and
  // on its writer's profile), not in the main list; a message's page takes its own
  // message and its replies.
  function concerns(id, parent) {
    if (document.getElementById("m" + id)) return true;
    if (thread) return String(parent) === thread;
    return !parent || !!writer;
  }

  function apply(kind, id, parent, seq) {
    var shown = document.getElementById("m" + id);
    if (kind === "deleted") {
      if (shown) shown.remove();
      // Its replies go with it: a hidden message's stay in the database, visible on
      // their own, so no event of theirs would take them off a profile.
      document.querySelectorAll('[data-parent="' + id + '"]').forEach(function (reply) {
        reply.remove();
      });
      return Promise.resolve();
    }
    if (!concerns(id, parent)) return Promise.resolve();
    if (!shown && kind === "edited" && !thread && !belongsHere(id)) return Promise.resolve();
    return fragment(id, seq).then(function (item) {
      var now = document.getElementById("m" + id);
      if (!item) {
        if (now) now.remove();
      } else if (writer && item.dataset.writer !== writer) {
        // another member's message: not on this profile
      } else if (now) {
        now.replaceWith(item);
      } else if (kind === "created") {
        if (older) showNews(); else insert(item);
      } else {
        putBack(item, id);
      }
    });
  }

  // The server could not say what was missed: fetch this page's list again.
  function reload() {
    return getHtml(location.href).then(function (html) {
      if (html === null) return;
      var fresh = new DOMParser().parseFromString(html, "text/html").querySelector(".live-list");
      if (fresh) box.innerHTML = fresh.innerHTML;
    });
  }

  function listen() {
    clearTimeout(silence);
    // Heartbeats come every `heartbeat` seconds: a quiet socket is a dead one.
    silence = setTimeout(function () { if (socket) socket.close(); }, heartbeat * 2500);
  }

  function received(message) {
    listen();
    var events;
    // A frame is one event, or a list of those that waited together on the server.
    try { events = [].concat(JSON.parse(message.data)); } catch (error) { return; }
    events.forEach(handle);
  }

  function handle(event) {
    if (event.type === "ping") return;
    work = work.then(function () {
      var done = event.type === "reload" ? reload()
        : apply(event.type, event.id, event.parent, event.seq);
      return done.then(function () {
        after = String(event.seq);
        state("open");
      }, function () {
        // A fetch failed: start again from a fresh list on the next connection.
        after = "";
        if (socket) socket.close();
      });
    });
  }

  function connect() {
    socket = new WebSocket(socketUrl());
    socket.onopen = function () { failures = 0; listen(); state("open"); };
    socket.onmessage = received;
    socket.onclose = function (event) {
      clearTimeout(silence);
      socket = null;
      state("closed");
      failures += 1;
      // 1001: this server is going away; another one takes us at once. Otherwise back
      // off, doubling up to half a minute. The jitter keeps pages from coming back
      // all in the same instant.
      var seconds = event.code === 1001 ? 1 : Math.min(30, 0.5 * Math.pow(2, failures));
      setTimeout(connect, seconds * (0.5 + Math.random() / 2) * 1000);
    };
  }

  connect();
})();
