"use strict";
// The instructor's board: every seat's progress, and a read-only live view of one
// seat's terminal (the server drops a viewer's input; this page sends none).
(() => {
  const token = location.hash.slice(1) || sessionStorage.getItem("mobylab-board") || "";
  sessionStorage.setItem("mobylab-board", token);
  if (location.hash) history.replaceState(null, "", location.pathname);
  const status = document.getElementById("status");
  let view = null;
  let detach = null;

  function watch(seat) {
    if (detach) detach();
    if (!view) {
      view = mobylab.terminal(document.getElementById("terminal"), true);
      window.mobylabViewer = view.term;
    }
    view.term.reset();
    document.getElementById("watch-title").textContent = `seat ${seat}, read-only`;
    mobylab.ticket({ board: token, seat }).then((answer) => {
      detach = mobylab.attach(view, answer.ticket, { typing: false, message: () => {}, close: () => {} });
    }, (error) => { status.textContent = String(error.message || error); });
  }
  window.mobylabWatch = watch;

  async function refresh() {
    try {
      const answer = await fetch("/api/seats", { headers: { Authorization: `Bearer ${token}` } });
      if (!answer.ok) { status.textContent = "open the board link the server printed"; return; }
      const data = await answer.json();
      document.getElementById("lab-title").textContent = `${data.lab}: board`;
      const body = document.querySelector("#seats tbody");
      body.replaceChildren();
      for (const seat of data.seats) {
        const row = document.createElement("tr");
        row.id = `seat-${seat.seat}`;
        if (seat.state === "down") row.className = "down";
        const steps = (seat.steps || []).map((s) => (s.status === "passed" ? "✓" : "·")).join("");
        for (const text of [seat.name, seat.state + (seat.message ? `: ${seat.message}` : ""),
          String(seat.current || "-"), String(seat.done || 0), steps]) {
          row.appendChild(mobylab.el("td", text));
        }
        const cell = document.createElement("td");
        const button = mobylab.el("button", "watch");
        button.type = "button";
        button.addEventListener("click", () => watch(seat.seat));
        cell.appendChild(button);
        row.appendChild(cell);
        body.appendChild(row);
      }
      status.textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      status.textContent = "the server does not answer";
    }
  }
  refresh();
  setInterval(refresh, 2000);
})();
