// Starts the vendored Swagger UI on /api/docs (kept out of the page: the CSP has no inline script).
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    // Deep links put a link inside each operation's toggle button (nested controls for
    // screen readers); the page is short enough to find an operation without them.
    deepLinking: false,
    validatorUrl: null, // the default badge would load an image from validator.swagger.io
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    onComplete: function () {
      var servers = document.getElementById("servers");
      if (servers) servers.setAttribute("aria-label", "Server");
    },
  });
});
