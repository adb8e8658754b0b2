// leakwatch report page: the icicle graph of outstanding bytes by call stack.
// The tree comes as JSON in the data-tree attribute of #flame ({n: name, v: bytes, s: the source
// lines merged into the box, c: children}); names are text from others' binaries, so they only ever
// go through textContent and title, never through innerHTML.
"use strict";
(function () {
  const ROW = 20;

  function fmt(bytes) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let v = bytes, u = 0;
    while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
    return (u === 0 ? v.toFixed(0) : v.toFixed(1)) + " " + units[u];
  }

  function colour(name) {
    let h = 0;
    for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) | 0;
    const hue = 10 + Math.abs(h) % 40;            // warm colours, as flame graphs are
    const light = 62 + Math.abs(h >> 8) % 18;
    return "hsl(" + hue + ",75%," + light + "%)";
  }

  function depth(node) {
    let d = 0;
    for (const c of node.c || []) d = Math.max(d, depth(c));
    return d + 1;
  }

  function render(container, root, path) {
    container.textContent = "";
    const width = container.clientWidth || 1000;
    const rows = depth(root);
    container.style.height = (rows * ROW + 4) + "px";
    container.dataset.zoom = root.n;
    function place(node, x, w, level, isRoot) {
      if (w < 2) return;
      const div = document.createElement("div");
      div.className = "fr" + (isRoot ? " root" : "");
      div.style.left = x + "px";
      div.style.top = (level * ROW) + "px";
      div.style.width = w + "px";
      if (!isRoot) div.style.background = colour(node.n);
      const sources = node.s || [];
      // the box names the line to open when it has one; the title lists every line merged into it
      const line = sources.length === 1 ? "  " + sources[0].replace(/^.*\//, "") : "";
      div.textContent = node.n + line + " (" + fmt(node.v) + ")";
      div.title = [node.n].concat(sources).concat([fmt(node.v)]).join("\n");
      div.dataset.name = node.n;
      if (sources.length) div.dataset.source = sources.join("\n");
      div.addEventListener("click", function (e) {
        e.stopPropagation();
        if (isRoot && path.length) {
          const parent = path[path.length - 1];
          render(container, parent, path.slice(0, -1));
        } else if (!isRoot) {
          render(container, node, path.concat([root]));
        }
      });
      container.appendChild(div);
      let cx = x;
      for (const c of (node.c || []).slice().sort((a, b) => b.v - a.v)) {
        const cw = node.v > 0 ? w * c.v / node.v : 0;
        place(c, cx, cw, level + 1, false);
        cx += cw;
      }
    }
    place(root, 0, width, 0, true);
  }

  document.addEventListener("DOMContentLoaded", function () {
    const container = document.getElementById("flame");
    if (!container || !container.dataset.tree) return;
    const root = JSON.parse(container.dataset.tree);
    render(container, root, []);
    window.addEventListener("resize", function () { render(container, root, []); });
  });
})();
