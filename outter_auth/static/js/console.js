/* The console's only script (served by Outter; the CSP allows no other). Everything works
   without it; it adds: dates in the viewer's own time zone (UTC stays on hover), and a copy
   button for a secret shown once. */
(function () {
  "use strict";

  var format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

  function localTimes(root) {
    root.querySelectorAll("time[data-local]").forEach(function (element) {
      var when = new Date(element.getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        element.textContent = format.format(when);
      }
    });
  }

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function copyButtons(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (button) {
      var source = document.querySelector(button.getAttribute("data-copy"));
      var status = button.closest("section").querySelector("[data-copy-status]");
      if (!source) {
        return;
      }
      button.hidden = false;
      button.addEventListener("click", function () {
        var say = function (message) {
          if (status) {
            status.textContent = message;
          }
        };
        var fallback = function () {
          selectText(source);
          say("Selected: press Ctrl+C (⌘C on a Mac) to copy.");
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(source.textContent.trim()).then(function () {
            button.textContent = "Copied";
            say("Copied to the clipboard.");
          }, fallback);
        } else {
          fallback();
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    copyButtons(document);
  });
})();
