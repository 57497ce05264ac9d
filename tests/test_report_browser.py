"""report.html renders in headless Chromium: every section is in the DOM, figures have a size, nothing errors.

Talks to Chromium over the DevTools protocol on a pipe (``--remote-debugging-pipe``: the browser reads
commands on fd 3 and writes replies on fd 4, NUL-separated JSON), so no extra package or port is needed. It
records uncaught exceptions, console errors, log errors, JavaScript dialogs (an ``alert`` from injected
markup would open one) and every network request; a harness check on a deliberately broken page shows that
each of these is really caught. Skipped only when no Chromium is installed (CI's ``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _report_data import HOSTILE_BAD, hostile_run  # noqa: F401  (hostile_run is a fixture)

from ferbench.api import RunResult

pytestmark = pytest.mark.browser

CHROMIUM = next(
    (
        p
        for p in (shutil.which("chromium"), shutil.which("chromium-browser"), shutil.which("google-chrome"))
        if p
    ),
    None,
)
TIMEOUT_S = 60.0
SECTION_IDS = ("top", "about", "summary", "agreement", "per-class", "confusion", "failures", "provenance")


class PageErrors(list[str]):
    """Everything on a page that a reader's browser would complain about, one line each."""


class Chromium:
    """A headless Chromium driven over ``--remote-debugging-pipe``."""

    def __init__(self, exe: str, profile: Path) -> None:
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--no-first-run",
            "--mute-audio",
            "--window-size=1280,900",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # bash only maps our two pipe ends onto the fds Chromium expects, then becomes Chromium (dash cannot
        # redirect fds above 9).
        script = f'exec "$0" "$@" 3<&{to_child_r} 4>&{from_child_w} {to_child_r}<&- {from_child_w}>&-'
        self._stderr = open(profile / "stderr.log", "wb")  # noqa: SIM115  (closed in close())
        self.proc = subprocess.Popen(
            ["bash", "-c", script, exe, *flags],
            pass_fds=(to_child_r, from_child_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._next_id = 0
        self._aux_id = 1_000_000_000
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium did not answer in time")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 16)
                if not chunk:
                    raise RuntimeError(f"chromium closed the pipe (exit code {self.proc.poll()})")
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        msg = json.loads(raw)
        if msg.get("method") == "Page.javascriptDialogOpening":
            # A dialog blocks the page (and its load event) until answered; answer at once, reply ignored.
            self._aux_id += 1
            answer = {"id": self._aux_id, "method": "Page.handleJavaScriptDialog", "params": {"accept": True}}
            os.write(self._w, json.dumps({**answer, "sessionId": msg.get("sessionId")}).encode() + b"\0")
        return msg

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, session: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_S
        for ev in self.events:
            if ev.get("method") == method and ev.get("sessionId") == session:
                return ev
        while True:
            ev = self._read_message(deadline)
            self.events.append(ev)
            if ev.get("method") == method and ev.get("sessionId") == session:
                return ev

    def open(self, url: str, probe: str) -> tuple[Any, PageErrors, list[str]]:
        """Load ``url`` in a fresh tab; return (value of the ``probe`` expression, errors, requested URLs)."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.send(f"{domain}.enable", session=session)
        start = len(self.events)
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_for("Page.loadEventFired", session)
        value = self.send("Runtime.evaluate", {"expression": probe, "returnByValue": True}, session=session)[
            "result"
        ].get("value")
        # Let anything deferred (an onerror handler, a failed fetch) surface before judging the page.
        self.send(
            "Runtime.evaluate",
            {"expression": "new Promise(r => setTimeout(r, 200))", "awaitPromise": True},
            session=session,
        )
        errors, requests = PageErrors(), []
        for ev in self.events[start:]:
            if ev.get("sessionId") != session:
                continue
            method, p = ev.get("method"), ev.get("params", {})
            if method == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                errors.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
            elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
                errors.append(f"console.{p['type']}: {[a.get('value') for a in p.get('args', [])]}")
            elif method == "Log.entryAdded" and p["entry"].get("level") in ("error", "warning"):
                errors.append(f"log {p['entry']['level']}: {p['entry'].get('text')}")
            elif method == "Page.javascriptDialogOpening":
                errors.append(f"dialog: {p.get('message')}")
            elif method == "Network.requestWillBeSent":
                requests.append(p["request"]["url"])
        self.send("Target.closeTarget", {"targetId": target})
        return value, errors, requests

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._r)
        os.close(self._w)
        self._stderr.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    if CHROMIUM is None:
        pytest.skip(
            "headless Chromium is not installed (Debian: apt-get install chromium); .ci/run installs it"
        )
    b = Chromium(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield b
    finally:
        b.close()


PROBE = """(() => {
  const ids = %s;
  const box = el => { const r = el.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; };
  return {
    title: document.title,
    present: ids.filter(id => document.getElementById(id) !== null),
    svgs: [...document.querySelectorAll('svg')].map(box),
    imgs: [...document.querySelectorAll('img')].map(i => [i.complete, i.naturalWidth]),
    scripts: document.scripts.length,
    handlers: document.querySelectorAll('[onerror],[onload],[onclick],[onmouseover]').length,
    failuresText: (document.getElementById('failures') || {}).innerText || '',
    summaryRows: document.querySelectorAll('#summary tbody tr').length,
    overflowX: document.documentElement.scrollWidth - window.innerWidth,
  };
})()"""


def test_report_renders_without_errors(browser: Chromium, hostile_run: RunResult) -> None:  # noqa: F811
    url = hostile_run.report_path.resolve().as_uri()
    page, errors, requests = browser.open(url, PROBE % json.dumps(list(SECTION_IDS)))
    assert errors == [], errors
    # Nothing but the file itself was fetched: thumbnails are data: URIs, the rest is inline.
    assert [u for u in requests if not u.startswith("data:")] == [url]
    assert page["present"] == list(SECTION_IDS)
    assert page["title"].startswith("ferbench report")
    assert page["scripts"] == 0 and page["handlers"] == 0
    assert page["summaryRows"] == 3
    # At least the kappa scale, kappa heat-map and three confusion matrices (other sections add more); every
    # figure in the file is in the page, each laid out with a real size.
    assert len(page["svgs"]) >= 5
    assert len(page["svgs"]) == hostile_run.report_path.read_text().count("<svg")
    assert all(w > 100 and h > 50 for w, h in page["svgs"]), page["svgs"]
    assert all(done and width > 0 for done, width in page["imgs"]), page["imgs"]
    # The hostile file name is shown as text in the failures table, not interpreted.
    assert HOSTILE_BAD in page["failuresText"]
    assert page["overflowX"] <= 0, "the page scrolls sideways at 1280px"


def test_harness_catches_errors(browser: Chromium, tmp_path: Path) -> None:
    """The checks above can fail: a page with a script error, an alert and an outside request trips them."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!doctype html><title>bad</title><p id=top>x</p>"
        "<img src=x onerror=alert(1)><img src='http://127.0.0.1:9/nothing.png'>"
        "<script>console.error('boom'); undefinedFunction();</script>"
    )
    page, errors, requests = browser.open(bad.as_uri(), PROBE % json.dumps(["top", "summary"]))
    assert page["present"] == ["top"]
    assert any(e.startswith("exception:") and "undefinedFunction" in e for e in errors), errors
    assert any(e.startswith("console.error") and "boom" in e for e in errors), errors
    assert any(e == "dialog: 1" for e in errors), errors
    assert "http://127.0.0.1:9/nothing.png" in requests
