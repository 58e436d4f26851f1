// The API's docs page (/api/docs): Swagger UI, served by this site, reading the
// OpenAPI document the page names. A file, not an inline script: the site's
// Content-Security-Policy allows no inline script. Without JavaScript the page
// keeps its link to the document itself.
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  SwaggerUIBundle({ url: root.dataset.url, dom_id: "#swagger-ui", deepLinking: true });
})();
