/* Citéla dashboard — progressive enhancement: a tooltip for the matrix points on hover and
   focus. Without it the SVG <title> and each point's aria-label still give the figures. */
(function () {
  "use strict";
  function setUp(wrap) {
    var tip = document.createElement("div");
    tip.className = "chart-tooltip";
    tip.setAttribute("role", "tooltip");
    tip.hidden = true;
    wrap.appendChild(tip);
    var shown = null;
    function show(point) {
      var lines = (point.getAttribute("data-tip") || "").split("\n");
      tip.textContent = "";
      lines.forEach(function (line) {
        var p = document.createElement("p");
        p.textContent = line;
        tip.appendChild(p);
      });
      tip.hidden = false;
      var box = wrap.getBoundingClientRect();
      var mark = (point.querySelector(".marker") || point).getBoundingClientRect();
      var left = mark.left - box.left + mark.width / 2 + 12;
      var top = mark.top - box.top + mark.height / 2 + 12;
      if (left + tip.offsetWidth > box.width) { left = Math.max(0, left - tip.offsetWidth - 24); }
      if (top + tip.offsetHeight > box.height) { top = Math.max(0, top - tip.offsetHeight - 24); }
      tip.style.left = left + "px";
      tip.style.top = top + "px";
      shown = point;
    }
    function hide() { tip.hidden = true; shown = null; }
    wrap.querySelectorAll(".chart-point").forEach(function (point) {
      // The custom tooltip replaces the browser's: keep the <title> text for no-JS only.
      var title = point.querySelector("title");
      if (title) { title.parentNode.removeChild(title); }
      point.addEventListener("mouseenter", function () { show(point); });
      point.addEventListener("mouseleave", function () { if (shown === point && document.activeElement !== point) { hide(); } });
      point.addEventListener("focus", function () { show(point); });
      point.addEventListener("blur", hide);
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && shown) { hide(); }
    });
  }
  document.querySelectorAll("[data-chart]").forEach(setUp);
})();
