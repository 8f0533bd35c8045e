"use strict";
// The front page: a code typed in, the seat's page opened (its token in the fragment).
(() => {
  const status = document.getElementById("status");
  async function join() {
    const code = document.getElementById("code").value;
    const answer = await fetch("/api/ticket", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ code }),
    });
    if (answer.status === 409) { status.textContent = "every seat is taken: ask for a seat's own code"; return; }
    if (!answer.ok) { status.textContent = "that code is not one of this workshop's"; return; }
    const seat = await answer.json();
    location.assign(`/seat#${seat.token}`);
  }
  document.getElementById("go").addEventListener("click", join);
  document.getElementById("code").addEventListener("keydown", (event) => { if (event.key === "Enter") join(); });
})();
