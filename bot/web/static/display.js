// The waiting-room display: follows /display/<office>/events (server-sent events; EventSource
// reconnects by itself and the server sends the whole list on every connection) and plays a
// short chime made with the Web Audio API when a new call arrives, once the chime button was
// pressed (browsers allow sound only after a gesture). No inline script anywhere: the page's
// Content-Security-Policy allows scripts from /staff/static only.
(function () {
  "use strict";
  var main = document.getElementById("calls");
  var list = document.getElementById("list");
  var offline = document.getElementById("offline");
  var button = document.getElementById("chime");
  if (!main || !list || !window.EventSource) return;
  var counterText = main.dataset.counter;
  var seen = main.dataset.day + ":" + main.dataset.seq;
  var audio = null;
  var chimeOn = false;

  function chime() {
    if (!chimeOn || !audio) return;
    var now = audio.currentTime;
    [659.25, 523.25].forEach(function (freq, i) {
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + i * 0.45);
      gain.gain.exponentialRampToValueAtTime(0.4, now + i * 0.45 + 0.03);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.45 + 0.9);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.45);
      osc.stop(now + i * 0.45 + 1);
    });
  }

  if (button) {
    button.addEventListener("click", function () {
      chimeOn = !chimeOn;
      if (chimeOn && !audio) {
        var Context = window.AudioContext || window.webkitAudioContext;
        if (Context) audio = new Context();
      }
      if (audio && audio.state === "suspended") audio.resume();
      button.textContent = chimeOn ? button.dataset.off : button.dataset.on;
      if (chimeOn) chime();
    });
  }

  function render(calls) {
    var none = document.getElementById("none");
    if (none) none.hidden = calls.length > 0;
    while (list.firstChild) list.removeChild(list.firstChild);
    calls.forEach(function (call, i) {
      var li = document.createElement("li");
      li.className = "call" + (i === 0 ? " newest" : "");
      var number = document.createElement("span");
      number.className = "number";
      number.textContent = call.number;
      var arrow = document.createElement("span");
      arrow.className = "arrow";
      arrow.textContent = "\u2192";
      var counter = document.createElement("span");
      counter.className = "counter";
      counter.textContent = counterText.replace("{counter}", String(call.counter));
      li.appendChild(number);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(arrow);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(counter);
      list.appendChild(li);
    });
    if (!calls.length && !none) {
      var p = document.createElement("p");
      p.className = "none";
      p.id = "none";
      p.textContent = main.dataset.none;
      main.insertBefore(p, list);
    }
  }

  var source = new EventSource(main.dataset.events);
  source.addEventListener("open", function () {
    if (offline) offline.hidden = true;
  });
  source.addEventListener("error", function () {
    if (offline) offline.hidden = false;
  });
  source.addEventListener("calls", function (event) {
    var state = JSON.parse(event.data);
    var head = state.day + ":" + (state.calls.length ? state.calls[0].seq : 0);
    render(state.calls);
    document.body.dataset.events = String(Number(document.body.dataset.events || 0) + 1);
    if (head !== seen) {
      seen = head;
      if (state.calls.length) {
        list.firstChild.classList.add("flash");
        chime();
      }
    }
  });
})();
