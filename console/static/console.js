// The live inbox: server-sent events carry items the server has already rendered (and escaped).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var list = document.querySelector("[data-stream]");
  if (!list || !window.EventSource) { return; }
  var status = document.getElementById("live-status");
  var source = new EventSource(list.getAttribute("data-stream"));
  source.addEventListener("open", function () {
    document.body.setAttribute("data-stream-state", "open");
    if (status) { status.textContent = status.getAttribute("data-live-text"); }
  });
  source.addEventListener("item", function (event) {
    var empty = document.getElementById("no-items");
    if (empty) { empty.remove(); }
    list.insertAdjacentHTML("afterbegin", event.data);
  });
});
