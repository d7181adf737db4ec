// The counter page's QR scanner: the device camera, decoded by the browser's BarcodeDetector
// where it has one, else by the vendored jsQR (loaded only then). A code found is put in the
// booking code field and looked up, exactly as if it was typed. No inline script anywhere: the
// page's Content-Security-Policy allows scripts from /staff/static only.
(function () {
  "use strict";
  var form = document.getElementById("lookup");
  var input = document.getElementById("code");
  var button = document.getElementById("scan");
  var video = document.getElementById("camera");
  var status = document.getElementById("scan-status");
  if (!form || !input || !button || !video) return;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
  button.hidden = false;

  var stream = null;
  var timer = null;
  var canvas = document.createElement("canvas");
  var context = canvas.getContext("2d", { willReadFrequently: true });

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  async function makeDecoder() {
    if ("BarcodeDetector" in window) {
      try {
        var formats = await window.BarcodeDetector.getSupportedFormats();
        if (formats.indexOf("qr_code") >= 0) {
          var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
          document.body.dataset.decoder = "BarcodeDetector";
          return async function () {
            var found = await detector.detect(video);
            return found.length ? found[0].rawValue : null;
          };
        }
      } catch (e) {
        // fall through to jsQR
      }
    }
    if (!window.jsQR) await loadScript(button.dataset.decoder);
    document.body.dataset.decoder = "jsQR";
    return async function () {
      var w = video.videoWidth, h = video.videoHeight;
      if (!w || !h) return null;
      canvas.width = w;
      canvas.height = h;
      context.drawImage(video, 0, 0, w, h);
      var found = window.jsQR(context.getImageData(0, 0, w, h).data, w, h, {
        inversionAttempts: "dontInvert",
      });
      return found ? found.data : null;
    };
  }

  function stop() {
    if (timer) clearTimeout(timer);
    timer = null;
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
    video.hidden = true;
    button.textContent = button.dataset.start;
  }

  async function start() {
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "environment" },
        audio: false,
      });
      video.srcObject = stream;
      video.hidden = false;
      await video.play();
      button.textContent = button.dataset.stop;
      var decode = await makeDecoder();
      var tick = async function () {
        if (!stream) return;
        var text = null;
        try {
          text = await decode();
        } catch (e) {
          text = null;
        }
        if (text) {
          stop();
          input.value = text.trim();
          form.submit();
          return;
        }
        timer = setTimeout(tick, 150);
      };
      tick();
    } catch (e) {
      stop();
      status.textContent = button.dataset.error;
    }
  }

  button.addEventListener("click", function () {
    if (stream) stop();
    else start();
  });
})();
