// ttfs-lab: say plainly when the dashboard's kernel is gone, instead of controls that silently
// stop answering. Wraps WebSocket before Voila opens its kernel connection and watches the
// kernel status the server sends ("restarting" after a kill or out of memory, "dead") and the
// connection closing (server stopped, hub restarted). Both JSON and the binary v1 protocol carry
// the status as JSON text, so a text search suffices.
(function () {
  var NativeWebSocket = window.WebSocket;
  var STATUS = /"execution_state":\s*"(restarting|dead)"/;
  var decoder = new TextDecoder();
  function banner(text) {
    var el = document.getElementById("ttfs-kernel-banner");
    if (!el) {
      el = document.createElement("div");
      el.id = "ttfs-kernel-banner";
      el.setAttribute("role", "alert");
      el.style.cssText = "position:fixed;top:0;left:0;right:0;z-index:10000;padding:12px 18px;" +
        "background:#b00020;color:#fff;font:15px/1.4 sans-serif;box-shadow:0 2px 6px rgba(0,0,0,.3)";
      document.body.appendChild(el);
    }
    el.innerHTML = text + ' <button onclick="location.reload()" style="margin-left:12px;font-size:14px">Reload</button>';
  }
  function lost(why) {
    banner("<b>This dashboard has stopped</b> (" + why + "). The controls no longer do anything. " +
      "Reload the page: your work up to the last finished epoch (or Pause) is saved and can be restored.");
  }
  window.WebSocket = function (url, protocols) {
    var ws = protocols === undefined ? new NativeWebSocket(url) : new NativeWebSocket(url, protocols);
    if (String(url).indexOf("/api/kernels/") >= 0) {
      ws.addEventListener("message", function (event) {
        var data = event.data;
        var text = typeof data === "string" ? data : (data instanceof ArrayBuffer ? decoder.decode(data) : "");
        var m = STATUS.exec(text);
        if (m) lost(m[1] === "dead" ? "its kernel died" : "its kernel was killed or ran out of memory and was restarted empty");
      });
      ws.addEventListener("close", function (event) {
        if (!window.ttfsUnloading) lost("its kernel stopped or the server went away");
      });
    }
    return ws;
  };
  window.WebSocket.prototype = NativeWebSocket.prototype;
  ["CONNECTING", "OPEN", "CLOSING", "CLOSED"].forEach(function (k) { window.WebSocket[k] = NativeWebSocket[k]; });
  window.addEventListener("beforeunload", function () { window.ttfsUnloading = true; });
})();
