// Counts script errors and images that did not draw into attributes a headless browser's DOM dump
// shows (data-js-errors on the page, data-broken-images on its body): the tests open every page.
document.documentElement.setAttribute('data-js-errors', '0');
window.addEventListener('error', function () {
  var n = +document.documentElement.getAttribute('data-js-errors') + 1;
  document.documentElement.setAttribute('data-js-errors', n);
});
window.addEventListener('load', function () {
  var n = 0;
  for (var i = 0; i < document.images.length; i++) {
    var m = document.images[i];
    if (!m.complete || m.naturalWidth === 0) n++;
  }
  document.body.setAttribute('data-broken-images', n);
});
