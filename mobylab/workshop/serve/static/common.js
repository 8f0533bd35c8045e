"use strict";
// Shared by the seat page and the board: text-only rendering and the terminal socket.
// Every lab and terminal text reaches the DOM through textContent, never as HTML.
const mobylab = (() => {
  const CHUNK = 8192;

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  // Markdown as text: paragraphs, fenced blocks and `code` spans, nothing else.
  function markdown(source) {
    const box = document.createDocumentFragment();
    const blocks = String(source || "").split(/```/);
    blocks.forEach((block, index) => {
      if (index % 2 === 1) {
        box.appendChild(el("pre", block.replace(/^[a-z]*\n/, "").replace(/\n$/, "")));
        return;
      }
      for (const para of block.split(/\n\s*\n/)) {
        if (!para.trim()) continue;
        const p = el("p");
        para.split(/(`[^`]+`)/).forEach((part) => {
          if (part.startsWith("`") && part.endsWith("`") && part.length > 1) {
            p.appendChild(el("code", part.slice(1, -1)));
          } else {
            p.appendChild(document.createTextNode(part.replace(/\s*\n\s*/g, " ")));
          }
        });
        box.appendChild(p);
      }
    });
    return box;
  }

  function terminal(container, readOnly) {
    const term = new Terminal({ scrollback: 5000, cursorBlink: !readOnly, disableStdin: readOnly,
      fontFamily: "monospace", fontSize: 14 });
    const fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(container);
    fit.fit();
    return { term, fit };
  }

  function socketUrl(ticket) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}/ws?ticket=${encodeURIComponent(ticket)}`;
  }

  async function ticket(body) {
    const answer = await fetch("/api/ticket", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    if (!answer.ok) throw new Error(answer.status === 401 ? "this link or code is not valid" : `the server said ${answer.status}`);
    return answer.json();
  }

  // Attach `term` to a seat: output in, keystrokes and sizes out (an attendee only).
  function attach(view, ticketValue, handlers) {
    const { term, fit } = view;
    const ws = new WebSocket(socketUrl(ticketValue));
    ws.binaryType = "arraybuffer";
    let replayed = false;
    ws.onmessage = (event) => {
      if (typeof event.data === "string") {
        handlers.message(JSON.parse(event.data));
        return;
      }
      if (!replayed) { term.reset(); replayed = true; }
      term.write(new Uint8Array(event.data));
    };
    const send = (text) => { if (ws.readyState === WebSocket.OPEN) ws.send(text); };
    const resize = () => { fit.fit(); send(`r${term.cols},${term.rows}`); };
    ws.onopen = () => { resize(); handlers.open && handlers.open(); };
    ws.onclose = (event) => handlers.close(event);
    const typing = handlers.typing ? term.onData((data) => {
      for (let i = 0; i < data.length; i += CHUNK) send(`i${data.slice(i, i + CHUNK)}`);
    }) : null;
    const resizing = term.onResize(() => send(`r${term.cols},${term.rows}`));
    window.addEventListener("resize", resize);
    return () => {
      if (typing) typing.dispose();
      resizing.dispose();
      window.removeEventListener("resize", resize);
      ws.close();
    };
  }

  return { el, markdown, terminal, ticket, attach };
})();
