// Starts Swagger UI on /docs (a file, not an inline script, so the page works under script-src 'self').
// The page names the schema and the OAuth2 redirect in data attributes; a visitor signed in with the
// session cookie gets the session's CSRF token in <meta name="csrf-token">, sent as X-CSRF-Token.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : null;
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null, // never ask validator.swagger.io about our schema
    oauth2RedirectUrl: new URL(root.dataset.oauth2RedirectUrl, window.location.href).href,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    requestInterceptor: function (request) {
      if (csrf) {
        request.headers["X-CSRF-Token"] = csrf;
      }
      return request;
    },
  });
})();
