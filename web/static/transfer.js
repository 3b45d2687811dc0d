// Live progress of a transfer (issue 12): follows the page's Server-Sent Events
// stream and updates the status, the counts, the bar and the steps in place; at the
// end it reloads the page, which then shows the result. Without JavaScript the page
// refreshes itself instead (a <noscript> meta refresh).
(function () {
  'use strict';
  var live = document.getElementById('transfer-live');
  if (!live || !window.EventSource) { return; }
  var events = new EventSource(live.getAttribute('data-events'));
  function text(id, value) {
    var el = document.getElementById(id);
    if (el && el.textContent !== value) { el.textContent = value; }
  }
  events.addEventListener('state', function (e) {
    var s = JSON.parse(e.data);
    text('transfer-label', s.label);
    text('transfer-docs', s.progress);
    var bar = document.getElementById('transfer-bar');
    if (bar) { bar.value = s.percent; bar.textContent = s.percent + '%'; }
    var items = document.querySelectorAll('#transfer-steps > li');
    for (var i = 0; i < items.length && i < s.steps.length; i++) {
      items[i].className = 'step-' + s.steps[i].state;
      if (s.steps[i].state === 'current') { items[i].setAttribute('aria-current', 'step'); }
      else { items[i].removeAttribute('aria-current'); }
    }
    if (s.final) { events.close(); window.location.reload(); }
  });
  events.onerror = function () {
    // The browser reconnects by itself; after the stream ended (final state) it
    // reloads the page, which shows the result.
    if (events.readyState === EventSource.CLOSED) { window.location.reload(); }
  };
}());
