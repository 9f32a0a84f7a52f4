// convex_lab bundle; inputs: live_view.js; sha256: 199efd83cff31ec6b29aba2c82fd92529ba60ca6d508b8f904a6115117cd979d; rebuild: cd js && npm ci && npm run build
// live_view.js
var SYSTEM = /* @__PURE__ */ new Set(["_id", "_creationTime"]);
function show(value) {
  if (value === null) return "null";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}
function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "convex-lab-live";
  let open = false;
  el.appendChild(root);
  const draw = () => {
    const kind = model.get("kind");
    root.replaceChildren();
    const header = document.createElement("div");
    header.className = "convex-lab-live-header";
    const note = model.get("note");
    const took = model.get("last_ms");
    const timing = took >= 1 ? `${took.toFixed(0)} ms` : `${took.toFixed(2)} ms`;
    header.textContent = `live \xB7 ${model.get("path")} \xB7 runs: ${model.get("runs")} \xB7 last run ${timing}` + (note ? ` \xB7 ${note}` : "");
    root.appendChild(header);
    const details = document.createElement("details");
    details.className = "convex-lab-live-reads";
    details.open = open;
    details.ontoggle = () => {
      open = details.open;
    };
    const summary = document.createElement("summary");
    summary.textContent = "read set";
    details.appendChild(summary);
    for (const range of model.get("read_set")) {
      const line = document.createElement("div");
      line.textContent = range;
      details.appendChild(line);
    }
    const reason = model.get("last_reason");
    if (reason) {
      const line = document.createElement("div");
      line.className = "convex-lab-live-reason";
      line.textContent = `last re-run: ${reason}`;
      details.appendChild(line);
    }
    root.appendChild(details);
    const boxes = {
      error: ["pre", "error", "textContent"],
      value: ["pre", "value_repr", "textContent"],
      html: ["div", "html", "innerHTML"]
    };
    if (kind in boxes) {
      const [tag, trait, property] = boxes[kind];
      const box = document.createElement(tag);
      box.className = `convex-lab-live-${kind}`;
      box[property] = model.get(trait);
      root.appendChild(box);
      return;
    }
    const columns = model.get("columns");
    const rows = model.get("rows");
    if (rows.length === 0) {
      const empty = document.createElement("div");
      empty.className = "convex-lab-live-empty";
      empty.textContent = "no results";
      root.appendChild(empty);
      return;
    }
    const changed = new Set(model.get("changed_ids"));
    const table = document.createElement("table");
    table.className = "convex-lab-live-table";
    const head = table.createTHead().insertRow();
    for (const column of columns) {
      const th = document.createElement("th");
      th.textContent = column;
      if (SYSTEM.has(column)) th.className = "convex-lab-system";
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const row of rows) {
      const tr = body.insertRow();
      if (changed.has(row._id)) tr.className = "convex-lab-changed";
      for (const column of columns) {
        const td = tr.insertCell();
        td.textContent = column in row ? show(row[column]) : "";
        if (SYSTEM.has(column)) td.className = "convex-lab-system";
        if (column === "_creationTime" && typeof row[column] === "number") td.title = new Date(row[column]).toISOString();
      }
    }
    root.appendChild(table);
    const total = model.get("total");
    const pageSize = model.get("page_size");
    if (total > pageSize) {
      const pager = document.createElement("div");
      pager.className = "convex-lab-live-pager";
      const page = model.get("page");
      const pages = Math.ceil(total / pageSize);
      const prev = document.createElement("button");
      prev.textContent = "\u2039";
      prev.disabled = page <= 0;
      prev.onclick = () => {
        model.set("page", page - 1);
        model.save_changes();
      };
      const next = document.createElement("button");
      next.textContent = "\u203A";
      next.disabled = page >= pages - 1;
      next.onclick = () => {
        model.set("page", page + 1);
        model.save_changes();
      };
      const label = document.createElement("span");
      label.textContent = ` page ${page + 1} of ${pages} (${total} rows) `;
      pager.append(prev, label, next);
      root.appendChild(pager);
    }
  };
  const names = [
    "kind",
    "rows",
    "columns",
    "value_repr",
    "html",
    "error",
    "runs",
    "last_ms",
    "page",
    "total",
    "changed_ids",
    "note",
    "read_set",
    "last_reason"
  ];
  for (const name of names) model.on(`change:${name}`, draw);
  draw();
  return () => {
    for (const name of names) model.off(`change:${name}`, draw);
  };
}
var live_view_default = { render };
export {
  live_view_default as default
};
