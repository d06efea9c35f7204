// Starts Swagger UI on the /docs page. A file, not an inline script: the page's
// Content-Security-Policy allows scripts from this server only. No request leaves it:
// the validator badge (validator.swagger.io) is turned off.
window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: 'openapi.yaml',
    dom_id: '#swagger-ui',
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    validatorUrl: null,
    deepLinking: false,
  });
});
