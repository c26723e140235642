/* Citéla — progressive enhancement only: every page works without this file. */
(function () {
  "use strict";
  // Forms marked data-confirm ask before an irreversible action.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });
  // "Select all" checkboxes of bulk forms (moderation queue).
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[data-select-all]")) { return; }
    var scope = document.getElementById(box.getAttribute("data-select-all"));
    if (!scope) { return; }
    scope.querySelectorAll("input[type=checkbox][name]").forEach(function (other) {
      other.checked = box.checked;
    });
  });
})();
