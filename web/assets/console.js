// parc's console: the live board's stream and the keyboard. Plain script,
// no build step; htmx does the live search.
"use strict";

(function () {
  // ---- the live board ----
  const board = document.getElementById("board");
  if (board) {
    const body = board.tBodies[0];
    const running = document.getElementById("running");
    const state = document.getElementById("link-state");
    const empty = document.getElementById("board-empty");
    // Event → DOM lag in ms, newest last (the benchmark reads it).
    window.parcLag = [];
    const mb = (r) => (r > 0 ? (r / 1e6).toFixed(1) + " MB/s" : "");
    const left = (s) => (s == null ? "" : s < 60 ? s + " s" : s < 3600 ? Math.floor(s / 60) + " min " + (s % 60) + " s" : Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min");
    const count = () => {
      const n = body.querySelectorAll("tr:not(.finished)").length;
      running.textContent = n;
      empty.hidden = body.rows.length > 0;
    };
    const cell = (tr, cls) => tr.querySelector("." + cls);
    const row = (e) => {
      let tr = body.querySelector('tr[data-task="' + e.task + '"]');
      if (!tr) {
        tr = document.createElement("tr");
        tr.dataset.task = e.task;
        const td = (text, cls) => { const c = document.createElement("td"); if (cls) c.className = cls; c.textContent = text; tr.appendChild(c); return c; };
        td(String(e.task)); td(e.host); td(e.kind + " " + e.image); td("", "phase");
        const p = td(""); const bar = document.createElement("progress"); bar.max = 100; bar.setAttribute("aria-label", "Task " + e.task + " progress");
        const pct = document.createElement("span"); pct.className = "pct"; p.append(bar, " ", pct);
        td("", "rate"); td("", "eta");
        body.appendChild(tr);
      }
      return tr;
    };
    const apply = (e) => {
      const finished = e.state !== "running" && e.state !== "pending";
      const existing = body.querySelector('tr[data-task="' + e.task + '"]');
      if (!finished && e.state !== "running") return; // pending: not on the board
      if (finished && !existing) return;
      const tr = row(e);
      cell(tr, "phase").textContent = finished ? e.state : e.phase;
      const bar = tr.querySelector("progress");
      if (e.percent != null) { bar.value = Math.round(e.percent); cell(tr, "pct").textContent = Math.round(e.percent) + " %"; }
      else if (e.phase === "done") { bar.value = 100; cell(tr, "pct").textContent = "100 %"; }
      cell(tr, "rate").textContent = mb(e.rate);
      cell(tr, "eta").textContent = left(e.eta);
      if (finished && !tr.classList.contains("finished")) {
        tr.classList.add("finished", "state-" + e.state);
        // Seen finishing, then gone: within 2 s of the event.
        setTimeout(() => { tr.remove(); count(); }, 1500);
      }
      count();
      window.parcLag.push(Date.now() - e.at_ms);
      if (window.parcLag.length > 100000) window.parcLag.splice(0, 50000);
    };
    const src = new EventSource("/events?after=" + encodeURIComponent(board.dataset.after));
    src.addEventListener("open", () => { state.textContent = "live"; });
    src.addEventListener("error", () => { state.textContent = "reconnecting…"; });
    src.addEventListener("task", (m) => apply(JSON.parse(m.data)));
    src.addEventListener("reset", () => location.reload());
    window.addEventListener("pagehide", () => src.close());
  }

  // ---- the keyboard ----
  // "/" finds; in a table of rows, j/k move, x selects, Enter opens, r reimages the selection.
  const typing = (el) => el && (el.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName)) && el.type !== "checkbox";
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const active = document.activeElement;
    if (ev.key === "/" && !typing(active)) {
      const q = document.getElementById("q");
      if (q) { ev.preventDefault(); q.focus(); q.select(); }
      return;
    }
    if (ev.key === "Escape" && typing(active)) { active.blur(); return; }
    if (typing(active)) return;
    const table = document.querySelector("table[data-keys=rows]");
    if (!table) return;
    const rows = Array.from(table.tBodies[0].rows);
    if (!rows.length) return;
    const at = rows.findIndex((r) => r.contains(active));
    const focus = (i) => { const r = rows[Math.max(0, Math.min(rows.length - 1, i))]; r.tabIndex = -1; r.focus(); };
    if (ev.key === "j" || ev.key === "ArrowDown") { ev.preventDefault(); focus(at + 1); }
    else if (ev.key === "k" || ev.key === "ArrowUp") { ev.preventDefault(); focus(at < 0 ? 0 : at - 1); }
    else if (ev.key === "x" && at >= 0) { const c = rows[at].querySelector("input[type=checkbox]"); if (c) { ev.preventDefault(); c.checked = !c.checked; } }
    else if (ev.key === "Enter" && at >= 0 && active === rows[at]) { const a = rows[at].querySelector("a"); if (a) { ev.preventDefault(); a.click(); } }
    else if (ev.key === "r") { const b = document.getElementById("reimage-selected"); if (b) { ev.preventDefault(); b.click(); } }
  });
  // htmx swaps the results: keep the count announced, nothing else to do.
})();
