"""Headless Debian Chromium for tests: open a page with no network beyond this machine, read its state.

Chromium runs with --remote-debugging-port and is driven over the DevTools protocol (websocket-client).
Every request is paused by the Fetch domain: loopback, file:, data: and blob: URLs go on, anything else is
failed and reported in `PageReport.blocked`. Belt and braces, Chromium itself also has a dead proxy for all
but loopback and a host-resolver rule that resolves no name but localhost, so nothing leaves the machine even
before the protocol session is attached (its own background traffic included).

    with serve_app(app) as base_url, Browser() as browser:
        page = browser.open(f"{base_url}/map", wait_for="window.L && document.querySelector('.leaflet-pane')",
                            evaluate="document.querySelectorAll('path').length", screenshot=Path("a.png"))
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
LOCAL_SCHEMES = frozenset({"file", "data", "blob", "about", "chrome-error", "devtools"})


def chromium_path() -> str | None:
    """The Chromium binary: $RISKMAP_CHROMIUM, else the first of the usual names on PATH."""
    configured = os.environ.get("RISKMAP_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def require_chromium() -> str:
    """The Chromium binary, or skip the test with the reason and the fix."""
    found = chromium_path()
    if found is None:
        pytest.skip(
            "headless Chromium is not installed: `apt-get install chromium` (or `bash scripts/setup.sh --dev`)"
        )
    try:
        import websocket  # noqa: F401
    except ImportError:
        pytest.skip("websocket-client is not installed: `pip install -e '.[dev]'`")
    return found


def is_local(url: str) -> bool:
    """Whether loading url stays on this machine."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    host = (parts.hostname or "").lower()
    return host in LOCAL_HOSTS or host.startswith("127.")


@dataclass
class PageReport:
    """What a page did: requests, blocked and failed ones, console errors, and the values asked for."""

    url: str
    value: Any = None
    dom: str = ""
    ready: bool = False
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    screenshot: Path | None = None

    @property
    def external_requests(self) -> list[str]:
        """Every URL off this machine the page asked for (blocked or not), once each, in order."""
        return list(dict.fromkeys(url for url in self.requests + self.blocked if not is_local(url)))


class BrowserError(RuntimeError):
    """Chromium did not start or did not answer in time."""


class Browser:
    """One headless Chromium process; `open()` loads a page in a fresh tab and reports on it."""

    def __init__(self, *, window: tuple[int, int] = (1400, 1000), executable: str | None = None) -> None:
        self.executable = executable or require_chromium()
        self.window = window
        self._profile: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._port = 0

    # -- process ------------------------------------------------------------------------------------------

    def __enter__(self) -> Browser:
        self._profile = tempfile.TemporaryDirectory(prefix="riskmap-chromium-", ignore_cleanup_errors=True)
        width, height = self.window
        args = [
            self.executable,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-domain-reliability",
            "--disable-client-side-phishing-detection",
            "--disable-features=Translate,MediaRouter,OptimizationHints,DialMediaRouteProvider",
            "--metrics-recording-only",
            "--hide-scrollbars",
            "--mute-audio",
            # Names other than localhost resolve to nothing; loopback bypasses a proxy that does not exist.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
            "--proxy-server=http://127.0.0.1:9",
            "--proxy-bypass-list=localhost;127.0.0.1;[::1]",
            f"--window-size={width},{height}",
            f"--user-data-dir={self._profile.name}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "about:blank",
        ]
        # Its own process group, so that close() ends its zygote and renderers too, not only the main process.
        self._process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        port_file = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrowserError(f"{self.executable} exited with {self._process.returncode} on start")
            with contextlib.suppress(OSError, ValueError, IndexError):
                self._port = int(port_file.read_text().splitlines()[0])
                break
            time.sleep(0.05)
        else:
            self.close()
            raise BrowserError(f"{self.executable} did not open its DevTools port within 20 s")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the Chromium we started (its process group) and remove its profile folder."""
        if self._process is not None:
            group = self._process.pid  # the group id is the pid of the leader we started
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)  # whatever of the group is left
            self._process.wait(timeout=5)
            self._process = None
        if self._profile is not None:
            self._profile.cleanup()
            self._profile = None

    def _devtools(self, path: str, method: str = "GET") -> bytes:
        """A request to Chromium's DevTools HTTP endpoint (on loopback)."""
        request = urllib.request.Request(f"http://127.0.0.1:{self._port}{path}", method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return bytes(response.read())

    # -- pages --------------------------------------------------------------------------------------------

    def open(
        self,
        url: str | Path,
        *,
        wait_for: str | None = None,
        evaluate: str | None = None,
        screenshot: Path | None = None,
        timeout: float = 20.0,
        settle: float = 0.3,
        headers: dict[str, str] | None = None,
        post_json: Any = None,
    ) -> PageReport:
        """Load url (a Path is opened as file://), wait for the load event, for the JS expression wait_for to be
        truthy and for the network to go quiet for `settle` s; then take the PNG screenshot (if asked), evaluate
        `evaluate` (its JSON value is PageReport.value; a Promise is awaited) and take the DOM.

        headers are added to every request to this machine (an Authorization header signs the page and its
        assets in); post_json, when given, makes the page's own request a POST of that JSON body."""
        import websocket

        target_url = url.resolve().as_uri() if isinstance(url, Path) else url
        target = json.loads(self._devtools("/json/new?about:blank", method="PUT"))
        ws = websocket.create_connection(
            target["webSocketDebuggerUrl"], timeout=timeout, suppress_origin=True
        )
        session = _Session(ws, PageReport(url=target_url), headers=headers, post_json=post_json)
        try:
            return session.run(
                target_url,
                wait_for=wait_for,
                evaluate=evaluate,
                screenshot=screenshot,
                window=self.window,
                timeout=timeout,
                settle=settle,
            )
        finally:
            ws.close()
            with contextlib.suppress(OSError):
                self._devtools(f"/json/close/{target['id']}")


class _Session:
    """The DevTools conversation with one tab."""

    def __init__(
        self, ws: Any, report: PageReport, *, headers: dict[str, str] | None = None, post_json: Any = None
    ) -> None:
        self.ws = ws
        self.report = report
        self._headers = dict(headers or {})
        self._post = None if post_json is None else json.dumps(post_json).encode()
        self._next_id = 0
        self._pending: set[str] = set()
        self._urls: dict[str, str] = {}
        self._last_network = time.monotonic()
        self._loaded = False

    def send(self, method: str, params: dict[str, Any] | None = None) -> int:
        self._next_id += 1
        self.ws.send(json.dumps({"id": self._next_id, "method": method, "params": params or {}}))
        return self._next_id

    def call(
        self, method: str, params: dict[str, Any] | None = None, timeout: float = 20.0
    ) -> dict[str, Any]:
        wanted = self.send(method, params)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self._receive(deadline - time.monotonic())
            if message is not None and message.get("id") == wanted:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
        raise BrowserError(f"{method} got no answer within {timeout} s")

    def pump(self, seconds: float) -> None:
        """Handle events for a while."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._receive(left)

    def _receive(self, timeout: float) -> dict[str, Any] | None:
        import websocket

        self.ws.settimeout(max(timeout, 0.01))
        try:
            message: dict[str, Any] = json.loads(self.ws.recv())
        except websocket.WebSocketTimeoutException:
            return None
        if "method" in message:
            self._event(message["method"], message.get("params", {}))
        return message

    def _event(self, method: str, params: dict[str, Any]) -> None:
        report = self.report
        if method == "Fetch.requestPaused":
            url = params["request"]["url"]
            if is_local(url):
                self.send("Fetch.continueRequest", self._continued(params))
            else:
                report.blocked.append(url)
                self.send(
                    "Fetch.failRequest", {"requestId": params["requestId"], "errorReason": "BlockedByClient"}
                )
        elif method == "Network.requestWillBeSent":
            report.requests.append(params["request"]["url"])
            self._urls[params["requestId"]] = params["request"]["url"]
            self._pending.add(params["requestId"])
            self._last_network = time.monotonic()
        elif method in ("Network.loadingFinished", "Network.loadingFailed"):
            self._pending.discard(params["requestId"])
            self._last_network = time.monotonic()
            if method == "Network.loadingFailed" and not params.get("canceled"):
                url = self._urls.get(params["requestId"], params["requestId"])
                report.failed.append((url, params.get("errorText", "")))
        elif method == "Network.responseReceived":
            status = params["response"].get("status", 200)
            if status >= 400:
                report.failed.append((params["response"]["url"], f"HTTP {status}"))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text", "")
            report.console_errors.append(f"exception: {text}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = params.get("args", [])
            report.console_errors.append(
                " ".join(str(a.get("value", a.get("description", ""))) for a in args)
            )
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            report.console_errors.append(f"{entry.get('text', '')} {entry.get('url', '')}".strip())
        elif method == "Page.loadEventFired":
            self._loaded = True

    def _continued(self, params: dict[str, Any]) -> dict[str, Any]:
        """Fetch.continueRequest's parameters: the request with the extra headers, the page's own request
        a POST of the JSON body when one was given (once: a reload is a GET again)."""
        answer: dict[str, Any] = {"requestId": params["requestId"]}
        headers = dict(params["request"].get("headers", {}))
        if self._post is not None and params.get("resourceType") == "Document":
            answer["method"] = "POST"
            answer["postData"] = base64.b64encode(self._post).decode()
            headers["Content-Type"] = "application/json"
            self._post = None
        elif not self._headers:
            return answer
        headers.update(self._headers)
        answer["headers"] = [{"name": k, "value": v} for k, v in headers.items()]
        return answer

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(
                f"evaluating {expression!r}: {details.get('exception', {}).get('description', details)}"
            )
        return result.get("result", {}).get("value")

    def run(
        self,
        url: str,
        *,
        wait_for: str | None,
        evaluate: str | None,
        screenshot: Path | None,
        window: tuple[int, int],
        timeout: float,
        settle: float,
    ) -> PageReport:
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Fetch.enable", {"patterns": [{"urlPattern": "*"}]})
        width, height = window
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        self.call("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while not self._loaded and time.monotonic() < deadline:
            self.pump(0.1)
        ready = self._loaded
        if ready and wait_for:
            ready = False
            while time.monotonic() < deadline:
                if self.evaluate(f"Boolean({wait_for})"):
                    ready = True
                    break
                self.pump(0.1)
        # Quiet network: no request in flight and none started for `settle` seconds (tiles, fonts, images).
        while time.monotonic() < deadline and (
            self._pending or time.monotonic() - self._last_network < settle
        ):
            self.pump(0.05)
        self.pump(0.1)
        report = self.report
        report.ready = ready
        # The picture first: `evaluate` may click or open things.
        if screenshot is not None:
            shot = self.call("Page.captureScreenshot", {"format": "png"})
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            report.screenshot = screenshot
        if evaluate is not None:
            report.value = self.evaluate(evaluate)
        report.dom = str(self.evaluate("document.documentElement.outerHTML"))
        return report


@contextlib.contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn on 127.0.0.1, on a free port, in a thread; yield its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise BrowserError("the test server did not start within 10 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
