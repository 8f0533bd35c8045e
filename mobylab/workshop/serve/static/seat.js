"use strict";
// A seat's page: the lab's step beside the seat's terminal. The token comes from the
// link's fragment (never sent to the server in a URL), kept for this tab only.
(() => {
  const statusLine = document.getElementById("status");
  const view = mobylab.terminal(document.getElementById("terminal"), false);
  window.mobylabTerminal = view.term;
  let lab = null;
  let token = location.hash.slice(1) || sessionStorage.getItem("mobylab-seat") || "";
  if (location.hash) history.replaceState(null, "", location.pathname);

  let over = false;
  // Its host dropped: the page asks again every 10 s, quietly.
  let hostAway = false;

  function say(text, down) {
    statusLine.textContent = text;
    statusLine.className = down ? "down" : "";
  }

  function showProgress(progress) {
    if (!lab) return;
    const list = document.getElementById("steps");
    list.replaceChildren();
    const steps = progress.steps || [];
    lab.steps.forEach((step, index) => {
      const status = (steps[index] || {}).status || "";
      const item = mobylab.el("li", `${step.title}${status ? ` (${status})` : ""}`);
      if (status === "passed") item.classList.add("passed");
      if (progress.current === index + 1) item.classList.add("current");
      list.appendChild(item);
    });
    const current = lab.steps[(progress.current || 1) - 1];
    const box = document.getElementById("step");
    box.replaceChildren();
    if (!current) return;
    box.appendChild(mobylab.el("h2", `Step ${progress.current}: ${current.title}`));
    box.appendChild(mobylab.markdown(current.narrative));
    box.appendChild(mobylab.el("h3", "Your task"));
    box.appendChild(mobylab.markdown(current.task));
    box.appendChild(mobylab.el("p", "In the terminal: lab check, lab hint, lab solve, lab next."));
  }

  function onMessage(message) {
    if (message.type === "seat") {
      if (message.state === "starting") { say("your sandbox is starting…"); return; }
      if (message.state !== "ready") {
        // A seat whose host dropped may come back: the page asks again now and then.
        // Any other seat that is down or ended stays so: the page says why and stops.
        over = !message.may_return;
        hostAway = Boolean(message.may_return);
        const more = hostAway ? " Waiting for it to come back…" : "";
        say(`this seat is ${message.state}. ${message.message || ""}${more}`, true);
        return;
      }
      hostAway = false;
      lab = message.lab;
      document.getElementById("lab-title").textContent = lab.title;
      say(`seat ${message.seat}: connected`);
      showProgress({ current: 1, steps: [] });
    } else if (message.type === "progress") {
      showProgress(message);
    }
  }

  async function connect() {
    if (!token) { say("open the link your instructor gave you, or type your code at /", true); return; }
    let answer;
    try {
      answer = await mobylab.ticket({ token });
    } catch (error) {
      say(String(error.message || error), true);
      if (!String(error.message).includes("not valid")) setTimeout(connect, 3000);
      return;
    }
    sessionStorage.setItem("mobylab-seat", answer.token);
    const detach = mobylab.attach(view, answer.ticket, {
      typing: true,
      message: onMessage,
      open: () => view.term.focus(),
      close: (event) => {
        detach();
        if (over) return;
        if (!hostAway) {
          say(`disconnected${event.reason ? ` (${event.reason})` : ""}: reconnecting…`, true);
        }
        setTimeout(connect, hostAway ? 10000 : 2000);
      },
    });
  }
  connect();
})();
