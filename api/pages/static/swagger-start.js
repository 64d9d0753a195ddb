// Starts Swagger UI on /api/docs (api/docs_page.py): no inline script, so the docs' CSP can forbid it.
window.addEventListener("DOMContentLoaded", function () {
  var container = document.getElementById("swagger-container");
  window.ui = SwaggerUIBundle({
    url: container.getAttribute("data-openapi-url"),
    dom_id: "#swagger-container",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
});
