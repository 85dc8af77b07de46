"""Shareable links: a dashboard's lesson settings <-> the query of its page's URL.

A teacher sets up a lesson (learning rate, seed, hidden layer, a distorted chip, a sample, a
neuron's inputs), copies the link, and every student who opens it sees the same dashboard --
the same controls and, for the same seed, the same untrained network:

    http://host:8866/voila/render/playground.ipynb?lr=0.01&epochs=50&batch=50&hidden=60&seed=3
        &tau=1&hw=custom&dist=threshold_mismatch:0.12,dead_neurons:0.05&emu=0&chip=2&loop=0
        &split=train&sample=17

The LabState (widgets.state) stays the single source of truth: ``encode`` reads its
``settings()``; ``apply_link`` writes a link into the state through the state's own
validators (SettingError), and the views follow the state as they always do. Between the
two sits ``decode``, pure and strict: every value is parsed by a grammar of its own (no
``float("nan")``, no ``1e999``, no ``1_000``) and checked against the range the dashboard's
control offers (a slider's ends, a menu's size), so that no link can ask for a 10^9-neuron
network or a NaN weight. A key that is unknown, malformed, out of range or refused by the
state is left at the dashboard's default and named in a one-line notice; the rest of the
link still applies. Never a traceback, never a blank page.

Which keys a dashboard's link carries (``PAGES``): the playground all training, hardware and
selection settings; the chip dashboard the same without ``hidden`` and ``seed`` (they would
replace its pre-trained network); the neuron page tau_m / tau_s and the neuron's inputs.

Where the link's first part (scheme, host, path) comes from: Voilà hands the page's request
to the kernel as CGI-style variables (SERVER_NAME, SERVER_PORT, SCRIPT_NAME, QUERY_STRING;
voila 0.5 handler.py), also to a pre-heated kernel, which waits for them in
``voila.utils.wait_for_request``. ``page_url`` builds the base from them (and from the
``X-Forwarded-Proto`` / ``-Host`` headers a proxy adds, which apps/voila.json asks Voilà to
pass on), so behind JupyterHub or Binder the link names the host the student typed.
"""
from __future__ import annotations

import html
import math
import os
import re
from urllib.parse import quote, unquote_plus

import ipywidgets as widgets

from ttfs_lab.hardware import PROFILES

from . import substrate as hw_settings
from .hardware_panel import KNOBS
from .neuron_explorer import DELAY_RANGE, TIME_RANGE, WEIGHT_RANGE
from .state import SETTINGS, SettingError
from .view import View

# ----------------------------------------------------------------- bounds of what a link may ask
MAX_QUERY = 8000  # characters; a longer query is not read at all (a link is ~250)
MAX_VALUE = 400  # characters of one value
MAX_HIDDEN_LAYERS, MAX_HIDDEN = 4, 1000  # the menu offers up to "120, 60"
MAX_EPOCHS, MAX_BATCH = 10_000, 5_000  # the menus: 1000 epochs, batches of 500
MAX_SEED = 2**31 - 1
LR_RANGE = (0.0, 1.0)  # 0 < lr <= 1 (the menu: 0.0005 .. 0.05)
TAU_RANGE = (0.05, 20.0)  # tau_m / tau_s; the explorer offers 1, 1.5 and 2
MAX_CHIP = 10_000  # the chip field's maximum (HardwarePanel)
MAX_INPUTS = 10  # the neuron explorer draws one slider row per input
DISTORTION_RANGES = {name: (lo, hi) for name, (_, lo, hi, *_rest) in KNOBS.items()}

# Link key -> what it sets. Order = the order apply_link() applies them in (the network's
# architecture first; the sample after its split; the hardware after the hidden layers it maps).
KEYS = {
    "hidden": "hidden layer sizes, e.g. 120 or 60,60",
    "seed": "seed of the initial weights",
    "tau": "tau_m / tau_s",
    "lr": "learning rate",
    "epochs": "epochs Play trains to",
    "batch": "batch size",
    "hw": "hardware preset (" + ", ".join([*PROFILES, "custom"]) + ")",
    "dist": "distortions, name:strength,...",
    "emu": "emulated BrainScaleS-2 (0 or 1)",
    "chip": "chip id",
    "loop": "train with the chip in the loop (0 or 1)",
    "split": "the split of the selected sample (train or test)",
    "sample": "index of the selected sample",
    "t": "the neuron's input spike times t_i, comma-separated",
    "w": "the neuron's weights w_i",
    "d": "the neuron's delays d_i",
}
_HARDWARE_KEYS = ("hw", "dist", "emu", "chip", "loop")
PAGES = {
    "playground": ("hidden", "seed", "tau", "lr", "epochs", "batch", *_HARDWARE_KEYS, "split", "sample"),
    "chip": ("lr", "epochs", "batch", *_HARDWARE_KEYS, "split", "sample"),
    "neuron": ("tau", "t", "w", "d"),
}

_INT = re.compile(r"[+-]?\d{1,12}")
_FLOAT = re.compile(r"[+-]?(?:\d{1,30}(?:\.\d{0,30})?|\.\d{1,30})(?:[eE][+-]?\d{1,3})?")
_TRUE, _FALSE = ("1", "true", "on", "yes"), ("0", "false", "off", "no")


class LinkValueError(ValueError):
    """A link's value that decode() does not take (the message says why, briefly)."""


# ----------------------------------------------------------------- values <-> text
def _number(x: float) -> str:
    """Shortest text that reads back as the same float (2.0 -> "2", 0.005 -> "0.005")."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def _parse_int(text: str, lo: int, hi: int) -> int:
    if not _INT.fullmatch(text):
        raise LinkValueError("not a whole number")
    value = int(text)
    if not lo <= value <= hi:
        raise LinkValueError(f"outside {lo}..{hi}")
    return value


def _parse_float(text: str, lo: float, hi: float, open_low: bool = False) -> float:
    if not _FLOAT.fullmatch(text):
        raise LinkValueError("not a number")
    value = float(text)
    if not math.isfinite(value):
        raise LinkValueError("not a finite number")
    if value < lo or value > hi or (open_low and value == lo):
        raise LinkValueError(f"outside {'(' if open_low else '['}{lo:g}, {hi:g}]")
    return value


def _parse_list(text: str, lo: float, hi: float, most: int, least: int = 1) -> list[float]:
    if not text and least == 0:
        return []
    parts = text.split(",")
    if not text or len(parts) > most:
        raise LinkValueError(f"give 1 to {most} numbers")
    return [_parse_float(p, lo, hi) for p in parts]


def _parse_bool(text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise LinkValueError("not 0 or 1")


def _parse_distortions(text: str) -> dict:
    out = {}
    for part in text.split(",") if text else []:
        name, sep, strength = part.partition(":")
        if not sep or name not in DISTORTION_RANGES:
            raise LinkValueError(f"{_short(name)!r} is not a distortion name:strength")
        if name in out:
            raise LinkValueError(f"{name} given twice")
        out[name] = _parse_float(strength, *DISTORTION_RANGES[name])
    return out


def _parse_hidden(text: str) -> list[int]:
    parts = text.split(",")
    if not text or len(parts) > MAX_HIDDEN_LAYERS:
        raise LinkValueError(f"give 1 to {MAX_HIDDEN_LAYERS} layer sizes")
    return [_parse_int(p, 1, MAX_HIDDEN) for p in parts]


def _parse_choice(text: str, choices) -> str:
    if text not in choices:
        raise LinkValueError(f"unknown; choose {', '.join(choices)}")
    return text


PARSERS = {
    "hidden": _parse_hidden,
    "seed": lambda s: _parse_int(s, 0, MAX_SEED),
    "tau": lambda s: _parse_float(s, *TAU_RANGE),
    "lr": lambda s: _parse_float(s, *LR_RANGE, open_low=True),
    "epochs": lambda s: _parse_int(s, 1, MAX_EPOCHS),
    "batch": lambda s: _parse_int(s, 1, MAX_BATCH),
    "hw": lambda s: _parse_choice(s, [*PROFILES, "custom"]),
    "dist": _parse_distortions,
    "emu": _parse_bool,
    "chip": lambda s: _parse_int(s, 0, MAX_CHIP),
    "loop": _parse_bool,
    "split": lambda s: _parse_choice(s, ["train", "test"]),
    "sample": lambda s: _parse_int(s, 0, 10**9),  # the split's size is the state's to check
    "t": lambda s: _parse_list(s, *TIME_RANGE, MAX_INPUTS),
    "w": lambda s: _parse_list(s, *WEIGHT_RANGE, MAX_INPUTS),
    "d": lambda s: _parse_list(s, *DELAY_RANGE, MAX_INPUTS, least=0),  # empty: no delays
}
assert set(PARSERS) == set(KEYS)


def encode(settings: dict, page: str = "playground") -> str:
    """The query (without "?") of a link to ``page`` with these settings (LabState.settings()),
    e.g. for the neuron page of a fresh LabState: ``tau=1&t=0.3,0.7,1.1,1.5&w=2,1.6,1.2,-0.8&d=``."""
    keys = _page_keys(page)
    hw = hw_settings.complete(settings.get("hardware", {}))
    values = {
        "hidden": ",".join(str(int(h)) for h in settings["hidden"]),
        "seed": str(int(settings["seed"])),
        "tau": _number(settings["tau_ratio"]),
        "lr": _number(settings["lr"]),
        "epochs": str(int(settings["epochs"])),
        "batch": str(int(settings["batch_size"])),
        "hw": hw["preset"] if hw["preset"] in PROFILES else "custom",
        "dist": ",".join(f"{name}:{_number(s)}" for name, s in hw["distortions"].items()),
        "emu": str(int(bool(hw["emulated"]))),
        "chip": str(int(hw["chip_id"])),
        "loop": str(int(bool(hw["in_the_loop"]))),
        "split": settings["split"],
        "sample": str(int(settings["selected"])),
        "t": ",".join(_number(v) for v in settings["neuron_times"]),
        "w": ",".join(_number(v) for v in settings["neuron_weights"]),
        "d": ",".join(_number(v) for v in settings["neuron_delays"]),
    }
    if values["hw"] in PROFILES and hw["distortions"] == hw_settings.preset_distortions(values["hw"]):
        keys = [k for k in keys if k != "dist"]  # a named preset's distortions go without saying
    return "&".join(f"{k}={quote(values[k], safe=',:')}" for k in keys)


def decode(query: str, page: str = "playground") -> tuple[dict, list[str]]:
    """Parse a link's query: ({key: value} of the keys that are fine, [problem, ...]).

    Pure: it checks each value's grammar and range, not what the state thinks of it
    (apply_link does that). Keys of other dashboards, unknown keys, repeated keys, bad
    percent-encoding and over-long values are problems, each named once.
    """
    keys = _page_keys(page)
    query = query[1:] if query.startswith("?") else query
    if len(query) > MAX_QUERY:
        return {}, [f"the link's settings are {len(query):,} characters long (at most {MAX_QUERY:,}): none used"]
    values, problems, seen = {}, [], set()
    for field in query.split("&"):
        if not field:
            continue
        raw_key, _, raw_value = field.partition("=")
        try:
            key = unquote_plus(raw_key, errors="strict")
            text = unquote_plus(raw_value, errors="strict")
        except UnicodeDecodeError:
            problems.append(f"{_short(raw_key)} (bad percent-encoding)")
            continue
        if key in seen:
            problems.append(f"{_short(key)} (given twice; the first kept)")
            continue
        seen.add(key)
        if key not in keys:
            where = [p for p, ks in PAGES.items() if key in ks]
            problems.append(f"{_short(key)} ({'not a setting of this dashboard' if where else 'unknown setting'})")
            continue
        if len(text) > MAX_VALUE:
            problems.append(f"{key} ({len(text):,} characters long)")
            continue
        try:
            values[key] = PARSERS[key](text.strip())
        except LinkValueError as error:
            problems.append(f"{key}={_short(text)!r} ({error})")
    if ("t" in values) != ("w" in values) or ("t" in values and len(values["t"]) != len(values["w"])):
        for key in ("t", "w"):
            if key in values:
                problems.append(f"{key} (t and w must give the same number of inputs)")
                values.pop(key)
    if "d" in values and len(values["d"]) > len(values.get("t", values["d"])):
        problems.append("d (more delays than inputs)")
        values.pop("d")
    return values, problems


# ----------------------------------------------------------------- link -> state
def apply_link(state, query: str, page: str = "playground") -> list[str]:
    """Set ``state`` from a link's query, key by key; return the problems (empty: all applied).

    A value the state refuses (its validators raise SettingError: a sample beyond the split,
    a network the emulated chip cannot map) is skipped like a malformed one; the state keeps
    its value for that key, every other key applies."""
    values, problems = decode(query, page)
    if state.status == "running":
        return ["training is running: pause it to apply a link"]

    def put(key, trait, value):
        try:
            setattr(state, trait, value)
        except (SettingError, ValueError) as error:
            problems.append(f"{key} ({_first_line(error)})")

    traits = {"hidden": "hidden", "seed": "seed", "tau": "tau_ratio", "lr": "lr", "epochs": "epochs",
              "batch": "batch_size", "split": "split", "sample": "selected"}
    for key in ("hidden", "seed", "tau", "lr", "epochs", "batch"):
        if key in values:
            put(key, traits[key], values[key])
    _apply_hardware(state, values, problems)
    for key in ("split", "sample"):
        if key in values:
            put(key, traits[key], values[key])
    if "t" in values:  # times, then weights: the explorer redraws once their counts agree
        put("t", "neuron_times", values["t"])
        put("w", "neuron_weights", values["w"])
    if "d" in values or "t" in values:
        put("d", "neuron_delays", values.get("d", []))
    return problems


def _apply_hardware(state, values, problems):
    """All hardware keys in one change; if the state refuses that, one key at a time, so that
    only the culprit falls back."""
    keys = [k for k in _HARDWARE_KEYS if k in values]
    if not keys:
        return
    start = hw_settings.complete(state.hardware)

    def with_keys(settings, some):
        out = dict(settings)
        if "hw" in some:
            out["preset"] = values["hw"]
            if values["hw"] in PROFILES:
                out["distortions"] = hw_settings.preset_distortions(values["hw"])
            elif "dist" not in values:
                out["distortions"] = {}
        if "dist" in some:
            out["distortions"] = dict(values["dist"])
        for key, name in (("emu", "emulated"), ("chip", "chip_id"), ("loop", "in_the_loop")):
            if key in some:
                out[name] = values[key]
        return out

    try:
        state.hardware = with_keys(start, keys)
        return
    except (SettingError, ValueError):
        pass
    for key in keys:
        try:
            state.hardware = with_keys(hw_settings.complete(state.hardware), [key])
        except (SettingError, ValueError) as error:
            problems.append(f"{key} ({_first_line(error)})")


def notice_text(problems: list[str]) -> str:
    """One line for the page: which keys of the link were not used, then why (the line may be
    cut by the page's width: the names come first; the whole text is the tooltip)."""
    if not problems:
        return ""
    keys = list(dict.fromkeys(re.split(r"[= ]", p, maxsplit=1)[0] for p in problems))
    names = ", ".join(keys[:8]) + (f" and {len(keys) - 8} more" if len(keys) > 8 else "")
    return (f"Not used from this link, left at the defaults: {names}. Why: " + "; ".join(problems[:6])
            + ("; …" if len(problems) > 6 else "") + ". Everything else in the link applied.")


# ----------------------------------------------------------------- where the page is
def page_url(environ=None) -> str:
    """The page's URL without its query, from the request Voilà passed to the kernel ("" when
    there was none, e.g. in JupyterLab)."""
    env = os.environ if environ is None else environ
    path = env.get("SCRIPT_NAME")
    if not path:
        return ""
    scheme = (env.get("HTTP_X_FORWARDED_PROTO") or "http").split(",")[0].strip().lower()
    scheme = scheme if scheme in ("http", "https") else "http"
    host = (env.get("HTTP_X_FORWARDED_HOST") or "").split(",")[0].strip()
    if not host:
        host = env.get("SERVER_NAME", "") or "localhost"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 address
        port = env.get("SERVER_PORT", "")
        if port and not (scheme == "http" and port == "80") and not (scheme == "https" and port == "443"):
            host = f"{host}:{port}"
    return f"{scheme}://{host}{quote(path, safe='/%')}"


def request_query(wait: bool = True) -> str:
    """The query string of the page's request. In a pre-heated Voilà kernel (apps/voila.json)
    the notebook runs before any page asks for it: this waits for the request
    (voila.utils.wait_for_request), so put it in a cell after the dashboard's."""
    if wait and os.environ.get("VOILA_PREHEAT", "False") != "False":
        from voila.utils import wait_for_request

        wait_for_request()
    return os.environ.get("QUERY_STRING", "")


# ----------------------------------------------------------------- the "Copy link" control
class ShareLink(View):
    """``ShareLink(state, page)``: the link to this dashboard as it is now, a "Copy link"
    button, and the one-line notice of a link that asked for something it could not have.

    ``from_request()`` applies the query of the page's own request (apps/*.ipynb call it).
    The button's copying is done in the page (apps/.../share_link.js: the browser, not the
    kernel, has the clipboard); the text field always shows the full link.
    """

    def __init__(self, state=None, page: str = "playground", base_url: str | None = None, **kwargs):
        super().__init__(state, **kwargs)
        self.page = page
        _page_keys(page)
        self.base_url = page_url() if base_url is None else base_url
        self.url = self.add_control("link_url", widgets.Text(
            description="link", tooltip="this dashboard as it is now: open it in another browser to get the same",
            style={"description_width": "initial"}, layout=widgets.Layout(width="100%", min_width="200px")))
        self.copy = self.add_control("copy_link", widgets.Button(
            description="Copy link", icon="link", tooltip="copy the link to the clipboard",
            layout=widgets.Layout(width="110px", min_width="110px")))
        self.notice = widgets.HTML(layout=widgets.Layout(width="100%", display="none"))  # shown when needed
        self.notice.add_class("ttfs-link-notice")
        self.open = widgets.HTML()
        self.open.add_class("ttfs-link-open")
        self.copy.on_click(self.guard(self.on_copy))
        self.url.observe(self.guard(self._on_typed), names="value")
        self.state.observe(self.guard(self.refresh), names=list(SETTINGS))
        self.bar = widgets.HBox([self.url, self.copy], layout=widgets.Layout(width="100%"))
        self.add_class("ttfs-share-link")
        self.children = [self.bar, self.open, self.status]
        self.refresh()

    def link(self) -> str:
        return f"{self.base_url}?{encode(self.state.settings(), self.page)}"

    def refresh(self, change=None):
        link = self.link()
        self._showing = link
        self.url.value = link
        query = link[link.index("?"):]
        self.open.value = (f'<a href="{html.escape(query)}" target="_blank" style="font-size:0.9em">'
                           f'open this link in a new tab</a>')

    def _on_typed(self, change):
        if change["new"] != self._showing:  # the field shows the link; typing in it changes nothing
            self.url.value = self._showing

    def on_copy(self, _=None):
        self.show_message("copied to the clipboard (where the browser lets a page do that; "
                          "else select the link and copy it)", kind="info")

    def apply(self, query: str) -> list[str]:
        """Apply a link's query to the state; the notice says what was not used."""
        problems = apply_link(self.state, query, self.page)
        self.show_notice(problems)
        return problems

    def show_notice(self, problems: list[str]):
        text = notice_text(problems)
        self.notice.value = (f'<div title="{html.escape(text)}" style="white-space:nowrap;overflow:hidden;'
                             f'text-overflow:ellipsis;color:#8a4b00;background:#fff4e0;padding:1px 6px">'
                             f'{html.escape(text)}</div>') if text else ""
        self.notice.layout.display = None if text else "none"

    def from_request(self, wait: bool = True) -> list[str]:
        """Apply the page request's query (waits for it in a pre-heated kernel) and learn the
        page's address from the same request."""
        query = request_query(wait)
        self.base_url = page_url()
        problems = self.apply(query) if query else []
        self.refresh()
        return problems


def _page_keys(page: str):
    if page not in PAGES:
        raise ValueError(f"unknown dashboard {page!r}; choose {', '.join(PAGES)}")
    return PAGES[page]


def _short(text: str, n: int = 24) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return _short(text.splitlines()[0], 120) if text else type(error).__name__
