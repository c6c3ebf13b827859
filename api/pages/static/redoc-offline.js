// Loaded before redoc.standalone.js on /redoc. Redoc 2 draws an "API docs by Redocly" logo from
// cdn.redoc.ly; on a closed network that is a request leaving the server (and a failed one). An image this
// page would load from another host is given our own blank image instead, before any request is made.
(function () {
  "use strict";
  var blank = document.currentScript.dataset.blank;
  var external = /^\s*([a-z][a-z0-9+.-]*:)?\/\//i;
  function local(value) {
    return external.test(String(value)) ? blank : value;
  }
  var setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (this instanceof HTMLImageElement && String(name).toLowerCase() === "src") {
      value = local(value);
    }
    return setAttribute.call(this, name, value);
  };
  var src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    configurable: true,
    enumerable: src.enumerable,
    get: src.get,
    set: function (value) {
      src.set.call(this, local(value));
    },
  });
})();
