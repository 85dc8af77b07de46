"""Helpers shared by the dashboard tests (playground, chip): waiting on what a page shows."""

UPDATE_TIMEOUT = 60_000  # ms; training and chip emulation share 2 CI cores with the browser

# A figure's drawing as one string: its SVG markup plus the pixels of any canvas (bqplot draws
# heat maps into a canvas or an <image>); equal strings mean nothing visible changed.
FINGERPRINT_JS = """
window.__ttfsFingerprint = (sel) => {
    const fig = document.querySelector(sel);
    if (!fig) return '';
    const canvases = Array.from(fig.querySelectorAll('canvas')).map(c => { try { return c.toDataURL(); } catch (e) { return ''; } });
    return fig.innerHTML + canvases.join('|');
};
"""


def _install(page):
    page.evaluate(FINGERPRINT_JS)


def figure_fingerprint(page, selector):
    _install(page)
    return page.evaluate("sel => window.__ttfsFingerprint(sel)", selector)


def wait_until(page, js, arg=None, timeout=UPDATE_TIMEOUT):
    """Wait until the JavaScript expression (or function of `arg`) is truthy."""
    _install(page)
    if arg is None:
        page.wait_for_function(js, timeout=timeout)
    else:
        page.wait_for_function(js, arg=arg, timeout=timeout)


def wait_for_text_change(page, selector, old, timeout=UPDATE_TIMEOUT):
    """Wait until the element's text differs from `old` and is no longer being computed."""
    wait_until(page, "([sel, old]) => { const t = document.querySelector(sel).innerText;"
                     " return t !== old && !t.includes('computing'); }", arg=[selector, old], timeout=timeout)
    return page.inner_text(selector)
