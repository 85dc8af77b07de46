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


# ---------------------------------------------------------------- one screen (issue 16)
SCREENS = [(1366, 768), (1024, 768)]  # a common laptop, and the smallest projector a class meets

BOX_JS = """sels => sels.map(sel => {
    const els = Array.from(document.querySelectorAll(sel)).filter(e => e.offsetParent !== null);
    if (!els.length) return [sel, null];
    const r = els.map(e => e.getBoundingClientRect());
    return [sel, {left: Math.min(...r.map(b => b.left)), top: Math.min(...r.map(b => b.top)),
                  right: Math.max(...r.map(b => b.right)), bottom: Math.max(...r.map(b => b.bottom))}];
})"""


def on_screen_report(page, selectors, size, screenshot):
    """Resize the window to ``size``, scroll to the top, wait for the figures to settle, take a
    screenshot; return {selector: problem} for every element not wholly inside the window."""
    import time

    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.evaluate("() => { window.scrollTo(0, 0); document.querySelectorAll('*').forEach(e => { if (e.scrollTop) e.scrollTop = 0; }); }")
    time.sleep(1.5)  # bqplot redraws its figures after a resize
    page.screenshot(path=str(screenshot))
    problems = {}
    for sel, box in page.evaluate(BOX_JS, list(selectors)):
        if box is None:
            problems[sel] = "not shown"
        elif box["left"] < 0 or box["top"] < 0 or box["right"] > size[0] + 0.5 or box["bottom"] > size[1] + 0.5:
            problems[sel] = f"box {box} leaves the {size[0]}x{size[1]} window"
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > size[0]:
        problems["page"] = f"{width} px wide: a horizontal scroll bar at {size[0]} px"
    return problems
