"""A headless Chromium driven over the DevTools protocol, with the standard library only.

Chromium started with ``--remote-debugging-pipe`` reads DevTools (CDP) commands from file
descriptor 3 and writes replies and events to descriptor 4, each a JSON message ended by a NUL
byte: no websocket, no selenium, no chromedriver. :class:`Browser` sends a command and waits
for its reply, keeping the events that arrive meanwhile (network requests, load events).

The browser is cut off from the network two ways, so a page that tries to reach out cannot
succeed and is seen trying: every host resolves to nothing (``--host-resolver-rules``) and
every request goes to a dead proxy; the ``Network`` domain's events record each request the
page makes, whatever its scheme.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
    "--disable-extensions", "--metrics-recording-only", "--mute-audio", "--hide-scrollbars",
    "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND", "--remote-debugging-pipe",
)


class BrowserUnavailable(RuntimeError):
    """Chromium is not installed or does not start here (the only reason to skip a browser test)."""


def find_chromium() -> str | None:
    """``$ENFO_CHROMIUM`` or the first Chromium/Chrome on PATH."""
    env = os.environ.get("ENFO_CHROMIUM")
    if env:
        return env
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


class Browser:
    """One headless Chromium with one page, attached over the CDP pipe.

    Use as a context manager; :meth:`call` sends a command to the page (or, with
    ``browser=True``, to the browser) and returns its ``result``.
    """

    def __init__(self, width: int = 1280, height: int = 900, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.events: list[dict] = []
        self._next_id = 0
        self._buffer = b""
        exe = find_chromium()
        if exe is None:
            raise BrowserUnavailable(f"no Chromium found (tried $ENFO_CHROMIUM and {', '.join(CANDIDATES)} on PATH)")
        self._profile = tempfile.mkdtemp(prefix="enfo-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_fds() -> None:  # in the child: its fd 3 reads our commands, fd 4 writes to us
            high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)  # out of the way of 3 and 4 first
            high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)  # dup2 makes them inheritable across exec
            os.dup2(high_w, 4)

        try:
            self._proc = subprocess.Popen(
                [exe, *FLAGS, f"--user-data-dir={self._profile}", f"--window-size={width},{height}", "about:blank"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                preexec_fn=wire_fds, close_fds=False,  # only fds 0-4 are inheritable (PEP 446)
            )
        except OSError as e:
            self._cleanup()
            raise BrowserUnavailable(f"{exe} cannot be run: {e}") from e
        finally:
            os.close(to_browser_r)
            os.close(from_browser_w)
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"}, browser=True)["targetId"]
        except (BrokenPipeError, EOFError, TimeoutError) as e:
            err = self._stop()
            raise BrowserUnavailable(f"{exe} did not start ({type(e).__name__}); its stderr ends: {err[-600:]}") from e
        self._session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True}, browser=True)["sessionId"]
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    # -- the protocol ------------------------------------------------------------------------------
    def call(self, method: str, params: dict | None = None, *, browser: bool = False) -> dict:
        """Send ``method`` and wait for its reply; raises RuntimeError on a CDP error."""
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if not browser:
            msg["sessionId"] = self._session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self._to_browser, data):]
        while True:
            reply = self._read()
            if reply.get("id") == msg["id"]:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        """The first event ``method`` (already received or the next to come)."""
        for event in self.events:
            if event["method"] == method:
                return event
        while True:
            event = self._read()
            if "method" in event:
                self.events.append(event)
                if event["method"] == method:
                    return event

    def _read(self) -> dict:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no DevTools message within {self.timeout:g} s")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise EOFError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    # -- lifetime ----------------------------------------------------------------------------------
    def _stop(self) -> str:
        err = ""
        if getattr(self, "_proc", None) is not None:
            self._proc.kill()
            try:
                _, raw = self._proc.communicate(timeout=10)
                err = (raw or b"").decode("utf-8", "replace")
            except subprocess.TimeoutExpired:
                pass
            self._proc = None
        self._cleanup()
        return err

    def _cleanup(self) -> None:
        for fd in ("_to_browser", "_from_browser"):
            if getattr(self, fd, None) is not None:
                try:
                    os.close(getattr(self, fd))
                except OSError:
                    pass
                setattr(self, fd, None)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self._stop()


def open_page(browser: Browser, path: Path) -> dict:
    """Load a local HTML file; returns what a test checks of it.

    Returns
    -------
    dict
        ``images``: per ``<img>``, its ``src`` (first 40 characters), ``complete``,
        ``naturalWidth`` and ``naturalHeight``; ``requests``: every URL the page asked for
        besides itself (``data:`` URLs included); ``failed``: the requests that failed.
    """
    browser.events.clear()
    browser.call("Network.enable")
    browser.call("Page.enable")
    url = Path(path).resolve().as_uri()
    browser.call("Page.navigate", {"url": url})
    browser.wait_for("Page.loadEventFired")
    images = browser.call("Runtime.evaluate", {
        "expression": "JSON.stringify(Array.from(document.images).map(i => ({src: i.src.slice(0, 40), "
                      "complete: i.complete, naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight})))",
        "returnByValue": True,
    })["result"]["value"]
    requests = [e["params"]["request"]["url"] for e in browser.events if e["method"] == "Network.requestWillBeSent"]
    failed = [e["params"] for e in browser.events if e["method"] == "Network.loadingFailed"]
    return {"images": json.loads(images), "requests": [r for r in requests if r != url], "failed": failed}


def screenshot(browser: Browser) -> bytes:
    """A PNG of the whole loaded page (beyond the viewport)."""
    import base64

    size = browser.call("Page.getLayoutMetrics")["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = browser.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
    return base64.b64decode(shot["data"])
