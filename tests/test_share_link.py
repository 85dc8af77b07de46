"""widgets.share_link: a dashboard's lesson settings <-> its page URL's query (issue 12).

Ground truth: the state a link was made from. A link encoded from one LabState and applied to
a fresh one must give the same settings and, for the same seed, the same untrained weights
(compared with a network built directly by ttfs_lab, not through the lab). Bad links must
leave the bad key at its default, name it in a one-line notice, and apply everything else.
"""
import math

import pytest
import torch

from ttfs_lab import TTFSNetwork
from ttfs_lab.widgets import share_link as sl
from ttfs_lab.widgets import substrate as hw_settings
from ttfs_lab.widgets.state import LabState

SMALL = dict(hidden=[10], train_size=300, test_size=100)


def fresh(**kwargs):
    return LabState(**{**SMALL, **kwargs})


def lesson_state():
    """A state with every playground key away from its default."""
    state = fresh()
    state.hidden = [12, 7]
    state.seed = 4
    state.tau_ratio = 2.0
    state.lr, state.epochs, state.batch_size = 0.02, 50, 25
    state.hardware = {"preset": "custom", "distortions": {"threshold_mismatch": 0.12, "dead_neurons": 0.05},
                      "emulated": False, "chip_id": 3, "in_the_loop": True}
    state.split, state.selected = "train", 217
    return state


def keys_of(settings, page):
    """The settings a link of ``page`` carries, in LabState.settings() terms."""
    names = {"hidden": "hidden", "seed": "seed", "tau": "tau_ratio", "lr": "lr", "epochs": "epochs",
             "batch": "batch_size", "split": "split", "sample": "selected", "t": "neuron_times",
             "w": "neuron_weights", "d": "neuron_delays"}
    out = {names[k]: settings[names[k]] for k in sl.PAGES[page] if k in names}
    if any(k in sl.PAGES[page] for k in ("hw", "dist", "emu", "chip", "loop")):
        hw = hw_settings.complete(settings["hardware"])
        out["hardware"] = {k: hw[k] for k in ("preset", "distortions", "emulated", "chip_id", "in_the_loop")}
    return out


def test_a_playground_link_restores_every_setting_and_the_same_untrained_network():
    made = lesson_state()
    query = sl.encode(made.settings(), "playground")
    opened = fresh()
    assert sl.apply_link(opened, query, "playground") == []
    assert keys_of(opened.settings(), "playground") == keys_of(made.settings(), "playground")
    # The same seed and sizes give the same untrained weights as ttfs_lab builds them directly.
    direct = TTFSNetwork((4, 12, 7, 3), seed=4)
    for mine, theirs in zip(opened.network.weights(), direct.weights()):
        assert torch.equal(mine, theirs)
    assert opened.network.params.tau_m == 2.0
    # ... and the distorted substrate is the one the settings describe (same readouts).
    _, x, _ = opened.data("test")
    torch.testing.assert_close(opened.forward(opened.network, x[:20]), made.forward(made.network, x[:20]))


def test_a_neuron_link_restores_times_weights_delays_and_tau():
    made = fresh()
    made.tau_ratio = 1.5
    made.neuron_times, made.neuron_weights = [0.25, 1.0, 2.5], [1.5, -0.5, 2.25]
    made.neuron_delays = [0.0, 0.4, 1.2]
    query = sl.encode(made.settings(), "neuron")
    assert query == "tau=1.5&t=0.25,1,2.5&w=1.5,-0.5,2.25&d=0,0.4,1.2"
    opened = fresh()
    assert sl.apply_link(opened, query, "neuron") == []
    assert keys_of(opened.settings(), "neuron") == keys_of(made.settings(), "neuron")


def test_floats_survive_the_round_trip_exactly():
    made = fresh()
    made.neuron_times = [0.1 + 0.2, 1 / 3, 0.7000000000000001, 3.999999]
    made.neuron_weights = [math.pi - 3, -2.0, 1e-5, 2.5]
    opened = fresh()
    assert sl.apply_link(opened, sl.encode(made.settings(), "neuron"), "neuron") == []
    assert opened.neuron_times == made.neuron_times and opened.neuron_weights == made.neuron_weights


def test_a_named_hardware_preset_goes_without_its_distortions():
    made = fresh()
    made.hardware = {"preset": "bss2", "distortions": hw_settings.preset_distortions("bss2"), "emulated": True,
                     "chip_id": 2}
    query = sl.encode(made.settings(), "chip")
    assert "hw=bss2" in query and "dist=" not in query and "emu=1" in query and "chip=2" in query
    opened = fresh()
    assert sl.apply_link(opened, query, "chip") == []
    assert hw_settings.complete(opened.hardware) == hw_settings.complete(made.hardware)


def test_the_link_is_readable():
    query = sl.encode(lesson_state().settings(), "playground")
    assert query == ("hidden=12,7&seed=4&tau=2&lr=0.02&epochs=50&batch=25&hw=custom"
                     "&dist=threshold_mismatch:0.12,dead_neurons:0.05&emu=0&chip=3&loop=1&split=train&sample=217")


# ----------------------------------------------------------------- bad links
DEFAULTS = fresh().settings()


@pytest.mark.parametrize("bad, key", [
    ("lr=abc", "lr"), ("lr=nan", "lr"), ("lr=NaN", "lr"), ("lr=inf", "lr"), ("lr=1e999", "lr"), ("lr=-0.01", "lr"),
    ("lr=0", "lr"), ("lr=1_000", "lr"), ("lr=0x10", "lr"), ("lr=", "lr"),
    ("epochs=99999999999999999999", "epochs"), ("epochs=0", "epochs"), ("epochs=-5", "epochs"), ("epochs=2.5", "epochs"),
    ("batch=-1", "batch"), ("hidden=-10", "hidden"), ("hidden=0", "hidden"), ("hidden=1000000000", "hidden"),
    ("hidden=10,,10", "hidden"), ("hidden=1,1,1,1,1,1", "hidden"), ("hidden=", "hidden"),
    ("seed=-1", "seed"), ("seed=1e3", "seed"), ("seed=99999999999", "seed"),
    ("tau=nan", "tau"), ("tau=0", "tau"), ("tau=1e300", "tau"),
    ("hw=nonsense", "hw"), ("hw=BSS2", "hw"), ("dist=threshold_mismatch", "dist"), ("dist=bogus:0.1", "dist"),
    ("dist=threshold_mismatch:5", "dist"), ("dist=threshold_mismatch:nan", "dist"),
    ("dist=dead_neurons:0.1,dead_neurons:0.2", "dist"),
    ("emu=2", "emu"), ("emu=maybe", "emu"), ("chip=-3", "chip"), ("chip=123456789", "chip"), ("loop=x", "loop"),
    ("split=validation", "split"), ("sample=-1", "sample"), ("sample=300", "sample"), ("sample=3.5", "sample"),
    ("lr=%ff%fe", "lr"), ("%ff=1", "%ff"), ("lr=%zz", "lr"), ("lr=" + "1" * 5000, "lr"),
    ("frobnicate=1", "frobnicate"), ("t=0.5", "t"),
])
def test_a_bad_value_falls_back_for_its_key_only_with_a_one_line_notice(bad, key):
    state = fresh()
    problems = sl.apply_link(state, f"{bad}&epochs=7&split=train&seed=3" if not bad.startswith(("epochs", "split", "seed"))
                             else f"{bad}&lr=0.02", "playground")
    assert len(problems) == 1 and problems[0].startswith(key), problems
    notice = sl.notice_text(problems)
    assert "\n" not in notice and len(notice) < 400 and f"the defaults: {key}." in notice
    settings = state.settings()
    trait = {"lr": "lr", "epochs": "epochs", "batch": "batch_size", "hidden": "hidden", "seed": "seed",
             "tau": "tau_ratio", "split": "split", "sample": "selected"}.get(key)
    if trait:
        assert settings[trait] == DEFAULTS[trait]  # the bad key: the dashboard's default
    if key in ("hw", "dist", "emu", "chip", "loop"):
        assert settings["hardware"] == DEFAULTS["hardware"]
    if bad.startswith(("epochs", "split", "seed")):
        assert state.lr == 0.02  # the rest of the link applied
    else:
        assert (state.epochs, state.split, state.seed) == (7, "train", 3)


def test_many_problems_stay_one_short_line():
    query = "&".join(f"junk{i}=%ff{i}" for i in range(50)) + "&lr=x&epochs=-1&seed=0.5&hidden=0&lr=0.1"
    problems = sl.apply_link(fresh(), query, "playground")
    assert len(problems) > 50
    notice = sl.notice_text(problems)
    assert "\n" not in notice and len(notice) < 700 and "and 46 more" in notice


def test_a_very_long_query_is_not_read_at_all():
    state = fresh()
    problems = sl.apply_link(state, "lr=0.02&" + "x=1&" * 5000, "playground")
    assert len(problems) == 1 and "characters long" in problems[0]
    assert state.settings() == DEFAULTS


def test_garbage_and_empty_links():
    for query in ("", "?", "&&&", "=", "==&=1"):
        state = fresh()
        sl.apply_link(state, query, "playground")
        assert state.settings() == DEFAULTS
    problems = sl.apply_link(fresh(), "\x00\x01<script>alert(1)</script>", "playground")
    assert len(problems) == 1 and "unknown setting" in problems[0]


def test_a_repeated_key_keeps_the_first():
    state = fresh()
    problems = sl.apply_link(state, "lr=0.01&lr=0.05", "playground")
    assert state.lr == 0.01 and problems == ["lr (given twice; the first kept)"]


def test_keys_of_another_dashboard_are_named_not_applied():
    state = fresh()
    problems = sl.apply_link(state, "seed=5&hidden=30&lr=0.01", "chip")  # they would replace its trained network
    assert state.seed == 0 and state.hidden == [10] and state.lr == 0.01
    assert problems == ["seed (not a setting of this dashboard)", "hidden (not a setting of this dashboard)"]


def test_a_value_the_state_refuses_falls_back_and_the_rest_applies():
    state = fresh()
    # The emulated chip cannot map 1000 hidden neurons: the state refuses emu, keeps the rest.
    problems = sl.apply_link(state, "hidden=1000&emu=1&chip=5&lr=0.01", "playground")
    assert [p.split(" ")[0] for p in problems] == ["emu"], problems
    hw = hw_settings.complete(state.hardware)
    assert state.hidden == [1000] and not hw["emulated"] and hw["chip_id"] == 5 and state.lr == 0.01


def test_neuron_inputs_must_agree_in_count():
    state = fresh()
    problems = sl.apply_link(state, "t=0.5,1&w=1,2,3&tau=2", "neuron")
    assert state.neuron_times == DEFAULTS["neuron_times"] and state.neuron_weights == DEFAULTS["neuron_weights"]
    assert state.tau_ratio == 2.0 and len(problems) == 2
    problems = sl.apply_link(state, "t=0.5,1&w=1,2&d=0.1,0.2,0.3", "neuron")
    assert state.neuron_times == [0.5, 1.0] and state.neuron_delays == [] and problems == ["d (more delays than inputs)"]
    problems = sl.apply_link(state, "t=0.5,9&w=1,2", "neuron")  # 9 is past the slider's end
    assert state.neuron_times == [0.5, 1.0] and problems[0].startswith("t=")


def test_a_running_training_is_not_changed_by_a_link():
    state = fresh()
    state.status = "running"
    assert sl.apply_link(state, "lr=0.01", "playground") == ["training is running: pause it to apply a link"]
    assert state.lr == DEFAULTS["lr"]


# ----------------------------------------------------------------- where the page is
@pytest.mark.parametrize("env, url", [
    ({}, ""),
    ({"SCRIPT_NAME": "/voila/render/playground.ipynb", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8866"},
     "http://127.0.0.1:8866/voila/render/playground.ipynb"),
    ({"SCRIPT_NAME": "/", "SERVER_NAME": "localhost", "SERVER_PORT": ""}, "http://localhost/"),
    ({"SCRIPT_NAME": "/user/ann/voila/render/apps/chip.ipynb", "SERVER_NAME": "hub.example.org", "SERVER_PORT": "",
      "HTTP_X_FORWARDED_PROTO": "https"}, "https://hub.example.org/user/ann/voila/render/apps/chip.ipynb"),
    ({"SCRIPT_NAME": "/a b", "SERVER_NAME": "10.0.0.1", "SERVER_PORT": "8000",
      "HTTP_X_FORWARDED_HOST": "class.example.org", "HTTP_X_FORWARDED_PROTO": "https, http"},
     "https://class.example.org/a%20b"),
    ({"SCRIPT_NAME": "/x", "SERVER_NAME": "::1", "SERVER_PORT": "8866"}, "http://[::1]:8866/x"),
    ({"SCRIPT_NAME": "/x", "SERVER_NAME": "h", "SERVER_PORT": "443", "HTTP_X_FORWARDED_PROTO": "javascript"},
     "http://h:443/x"),
])
def test_page_url_from_the_request_voila_passes_on(env, url):
    assert sl.page_url(env) == url


def test_share_link_widget_shows_the_current_link_and_the_notice():
    state = fresh()
    link = sl.ShareLink(state, page="playground", base_url="http://h:1/voila/render/playground.ipynb")
    assert link.url.value == "http://h:1/voila/render/playground.ipynb?" + sl.encode(state.settings())
    state.lr = 0.05
    assert "lr=0.05" in link.url.value  # follows the state
    link.url.value = "typed over"
    assert "lr=0.05" in link.url.value  # the field shows the link; typing changes nothing
    assert link.apply("lr=oops&seed=2") == ["lr='oops' (not a number)"]
    assert state.seed == 2 and "lr=" in link.notice.value and "seed=2" in link.url.value
    assert link.apply("seed=3") == [] and link.notice.value == ""


def test_from_request_reads_voilas_variables(monkeypatch):
    monkeypatch.setenv("QUERY_STRING", "seed=6&sample=5")
    monkeypatch.setenv("SCRIPT_NAME", "/voila/render/playground.ipynb")
    monkeypatch.setenv("SERVER_NAME", "127.0.0.1")
    monkeypatch.setenv("SERVER_PORT", "9999")
    monkeypatch.delenv("VOILA_PREHEAT", raising=False)
    state = fresh()
    link = sl.ShareLink(state, page="playground")
    assert link.from_request() == []
    assert state.seed == 6 and state.selected == 5
    assert link.url.value.startswith("http://127.0.0.1:9999/voila/render/playground.ipynb?hidden=10&seed=6")


def test_every_decoded_key_is_a_key_some_dashboard_encodes():
    encoded = set()
    for page in sl.PAGES:
        encoded |= {part.split("=")[0] for part in sl.encode(lesson_state().settings(), page).split("&")}
    assert encoded == set(sl.KEYS)


# ----------------------------------------------------------------- the small things of the screenshots
def dashboards():
    from ttfs_lab.widgets.dashboards.chip import chip_dashboard
    from ttfs_lab.widgets.dashboards.neuron import neuron_page
    from ttfs_lab.widgets.dashboards.playground import playground

    return {"playground": playground(fresh()), "neuron": neuron_page(fresh()), "chip": chip_dashboard()}


def test_every_axis_has_a_label_and_time_axes_say_tau_s():
    import bqplot as bq

    for name, dashboard in dashboards().items():
        for view in dashboard.views.values():
            for figure_name, figure in getattr(view, "figures", {}).items():
                assert figure.title == "" or figure.fig_margin["top"] >= 44, (name, figure_name)  # title above the plot
                for axis in figure.axes:
                    assert axis.label.strip(), (name, figure_name, axis)
                    if "time" in axis.label:
                        assert "τs" in axis.label, (name, figure_name, axis.label)
                assert all(isinstance(a, (bq.Axis, bq.ColorAxis)) for a in figure.axes)
        dashboard.views.get("hardware") and dashboard.views["hardware"].wait()
