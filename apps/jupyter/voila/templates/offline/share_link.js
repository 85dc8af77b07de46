// ttfs-lab: the "Copy link" button of widgets/share_link.py. The kernel builds the link and
// shows it in the text field beside the button; copying to the clipboard is the page's job
// (only the page has the clipboard). One listener on the document: the widgets appear after
// this script runs. Without clipboard access (an insecure origin, a headless browser) the
// link is at least selected, ready for Ctrl+C.
(function () {
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".ttfs-copy_link");
    if (!button) return;
    var box = button.closest(".ttfs-share-link");
    var input = box && box.querySelector(".ttfs-link_url input");
    if (!input) return;
    input.focus();
    input.select();
    var fallback = function () { try { document.execCommand("copy"); } catch (e) { /* selected, that is all */ } };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).catch(fallback);
    } else {
      fallback();
    }
  }, true);
})();
