"""Lesson 01 rendered in a real browser (through Voilà, as a class may serve it) logs no
JavaScript errors -- e.g. bqplot's "translate(540,NaN)" from an infinite spike time in a plot
(issue 16) -- and no front-end version warnings."""
import pytest

from conftest import PAGE_RENDER_TIMEOUT, PageRecorder, VoilaServer

LESSON = "notebooks/01_a_first_spike.ipynb"


@pytest.fixture(scope="module")
def lesson(browser, artifacts):
    server = VoilaServer(artifacts / "voila-lesson01.log", target=LESSON,
                         extra_args=["--VoilaConfiguration.preheat_kernel=False"])
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        page = context.new_page()
        rec = PageRecorder(page)
        page.goto(server.url + "/", timeout=PAGE_RENDER_TIMEOUT)
        page.wait_for_selector(".ttfs-potential-figure svg", timeout=PAGE_RENDER_TIMEOUT)  # the last cell
        page.wait_for_timeout(3000)  # bqplot's transitions (where the NaN was logged) run ~1 s
        page.screenshot(path=str(artifacts / "lesson01.png"), full_page=True)
        yield rec
    finally:
        context.close()
        server.stop()


def test_lesson_01_logs_no_errors_and_no_version_warnings(lesson):
    assert lesson.page.locator(".bqplot").count() >= 7  # every figure of the lesson rendered
    assert lesson.console_errors == []
    assert lesson.version_warnings == []
    assert lesson.foreign_requests() == []
