"""What the browser tests share: chromium through Playwright, a Jupyter server started
through the course's own front doors, and a page that records every error it meets.

Chromium is Debian's (/usr/bin/chromium): Playwright's own browser download is not
reachable from where the course is built, so `playwright install` is never needed.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CONVLAB_CHROMIUM", "/usr/bin/chromium"))
# A closed network: without the background-networking flags chromium keeps opening
# connections that never complete, and they pile up.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "convlab-browser-test"
WIDTH = 1100  # the README's screenshots are this wide

# Errors a page may show that say nothing about the course, each with why. Everything
# else a page logs as an error, or throws, fails the test.
BENIGN = [
    # matplotlib's animation HTML (to_jshtml) links Font Awesome from a CDN for its
    # buttons' icons, and nbgrader's formgrade and feedback templates load MathJax from one:
    # the test machine has no network. (Where there is one, both load.)
    (r"maxcdn\.bootstrapcdn\.com/font-awesome", "CDN unreachable offline"),
    (r"cdnjs\.cloudflare\.com/ajax/libs/mathjax", "CDN unreachable offline"),
    (r"^Failed to load resource: net::ERR_NAME_NOT_RESOLVED$", "the same CDN requests, as logged"),
    (r"^MathJax is not defined$", "nbgrader's page script, when its CDN MathJax did not load"),
    # The formgrader loads MathJax 2.7 from the Jupyter server (templates/convlab/
    # local_mathjax.html.j2; feedback pages have MathML, no MathJax: outputs/mathml.py);
    # its HTML-CSS output probes for web-font support with a @font-face of about:blank,
    # which the pages' font-src refuses. The formulas still render, in MathJax's own fonts.
    (r"Loading the font 'about:blank' violates", "MathJax 2.7's web-font probe meets the CSP"),
    (r"^about:blank csp$", "the same probe, as the request log shows it"),
]


def need_browser():
    """Skip, saying why, where chromium or Playwright is missing: never silently."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("browser tests need Playwright for Python (pip install -e '.[dev]')")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lab_environment(tmp: Path) -> dict[str, str]:
    """The server's environment: the user's own Jupyter settings, workspaces and config
    left out (a test sees what a new user sees); every notebook cell rendered, not only the
    visible ones (JupyterLab 4's windowing), so the page holds every output to read."""
    settings = tmp / "lab-user-settings"
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True, exist_ok=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    env = dict(os.environ)
    env.update(JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
               JUPYTER_CONFIG_DIR=str(tmp / "jupyter-config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               IPYTHONDIR=str(tmp / "ipython"), CONVLAB_HOME=str(tmp / "convlab-home"))
    env.pop("MPLBACKEND", None)  # the notebooks' own %matplotlib inline decides
    return env


def server_args(port: int) -> list[str]:
    args = ["--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={TOKEN}", "--ServerApp.open_browser=False"]
    return args + (["--allow-root"] if os.geteuid() == 0 else [])


def make_lab_command(root_dir: Path, port: int) -> list[str]:
    """`make lab`'s own command line (read with make -n, so it follows the Makefile),
    with the server's root moved to ``root_dir``."""
    printed = subprocess.run(["make", "-n", "--no-print-directory", "lab", "LAB_ARGS="], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    line = printed.replace("\\\n", " ").splitlines()
    command = next(shlex.split(l) for l in line if re.search(r"\bjupyter lab\b", l))
    if not Path(command[0]).is_absolute():
        command[0] = str(ROOT / command[0])
    command = [a for a in command if not a.startswith("--ServerApp.root_dir=")]
    return command + [f"--ServerApp.root_dir={root_dir}"] + server_args(port)


class Server:
    """A Jupyter server, answering on 127.0.0.1, stopped by its process id."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str], log: Path):
        self.port = int(next(a for a in command if a.startswith("--port=")).split("=")[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = open(log, "wb")
        self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=self._out,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            try:
                self.api("status")
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the Jupyter server did not start:\n{self.log_tail()}")
                time.sleep(0.5)

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = answer.read()
        return json.loads(body) if body else None

    def shut_down_kernels(self) -> None:
        """Each test's kernels go when it ends: a kernel holds torch and a few hundred MB."""
        for kernel in self.api("kernels"):
            self.api(f"kernels/{kernel['id']}", method="DELETE")

    def log_tail(self, chars: int = 4000) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._out.close()


class Browser:
    """Chromium with a fresh profile (Playwright makes one per launch)."""

    def __init__(self):
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self.chromium = self._playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)

    def page(self, height: int = 900) -> "Page":
        context = self.chromium.new_context(viewport={"width": WIDTH, "height": height},
                                            extra_http_headers={"Authorization": f"token {TOKEN}"})
        return Page(context.new_page())

    def close(self) -> None:
        self.chromium.close()
        self._playwright.stop()


class Page:
    """A Playwright page (``.pw``) that records console errors, uncaught exceptions and
    failed requests; ``assert_no_errors`` fails on any not listed in BENIGN."""

    def __init__(self, page):
        self.pw = page
        self.errors: list[str] = []
        page.set_default_timeout(60_000)
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(f"request: {r.url} {r.failure}"))

    def unexpected_errors(self) -> list[str]:
        def benign(error: str) -> bool:
            text = error.split(": ", 1)[1]
            return any(re.search(pattern, text) for pattern, _ in BENIGN)

        # A request the page itself gave up (navigating away, a closed socket) is no error.
        return [e for e in self.errors if not benign(e) and "net::ERR_ABORTED" not in e]

    def assert_no_errors(self) -> None:
        assert not self.unexpected_errors(), self.unexpected_errors()

    def close(self) -> None:
        self.pw.context.close()


def shoot(target, name: str) -> None:
    """With CONVLAB_SCREENSHOTS=<folder> (`make screenshots`), save ``target`` (a page or
    one element of it) as <folder>/<name>.png, shrunk to a palette image for the README."""
    folder = os.environ.get("CONVLAB_SCREENSHOTS")
    if not folder:
        return
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    target.screenshot(path=str(path))
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        if image.width > WIDTH:
            image = image.resize((WIDTH, round(image.height * WIDTH / image.width)))
        image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


# --- JupyterLab, as a student works in it ----------------------------------------------

IDLE = "Python 3 (ipykernel) | Idle"
# Inline math left as typed: MathJax did not render it.
RAW_MATH = re.compile(r"\$[^$\n]+\$")


def open_notebook(page: Page, server: Server, path: str) -> None:
    """Open ``path`` in a fresh workspace (nothing else open) and wait for its kernel."""
    page.pw.goto(f"{server.url}/lab/tree/{path}?reset&token={TOKEN}")
    page.pw.wait_for_selector(".jp-Notebook .jp-Cell")
    page.pw.get_by_text(IDLE).wait_for(timeout=90_000)


def cell(page: Page, index: int):
    return page.pw.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)


def cell_count(page: Page) -> int:
    return page.pw.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").count()


def select(page: Page, index: int) -> None:
    """Make cell ``index`` the active one, in command mode."""
    target = cell(page, index)
    target.scroll_into_view_if_needed()
    target.locator(".jp-InputPrompt").first.click()
    page.pw.keyboard.press("Escape")


def run_menu(page: Page, item: str) -> None:
    page.pw.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.pw.get_by_role("menuitem", name=item, exact=True).click()


def wait_until_done(page: Page, timeout: float = 120) -> None:
    """Until no cell waits or runs ([*]) and the kernel is idle, for a second on end."""
    deadline, calm = time.monotonic() + timeout, 0
    while calm < 4:
        busy = page.pw.evaluate("""() => [...document.querySelectorAll('.jp-InputPrompt')]
            .some(p => p.textContent.includes('[*]'))""")
        idle = page.pw.get_by_text(IDLE).count() > 0
        calm = calm + 1 if idle and not busy else 0
        assert time.monotonic() < deadline, "the notebook was still running"
        time.sleep(0.25)


def execution_count(page: Page, index: int) -> int | None:
    found = re.search(r"\[(\d+)\]", cell(page, index).locator(".jp-InputPrompt").first.inner_text())
    return int(found.group(1)) if found else None


def output_text(page: Page, index: int) -> str:
    outputs = cell(page, index).locator(".jp-Cell-outputArea")
    return outputs.first.inner_text() if outputs.count() else ""


def paste(page: Page, index: int, source: str) -> None:
    """Replace cell ``index``'s code with ``source``, as a paste does (no auto-indent or
    closing brackets added, which typing it key by key would get)."""
    editor = cell(page, index).locator(".cm-content")
    editor.click()
    page.pw.keyboard.press("Control+a")
    page.pw.keyboard.insert_text(source)
    page.pw.keyboard.press("Escape")
    # The editor's text, compared without whitespace (it renders blank lines its own way):
    # a bracket or quote the editor added would show.
    shown = cell(page, index).locator(".cm-content").inner_text()
    assert re.sub(r"\s+", "", shown) == re.sub(r"\s+", "", source), shown


def run_cells(page: Page, *indices: int) -> None:
    """Run these cells, one after the other (Ctrl+Enter each), and wait for them."""
    for index in indices:
        select(page, index)
        page.pw.keyboard.press("Control+Enter")
    wait_until_done(page)


def raw_math(page: Page) -> list[str]:
    """Rendered markdown still holding $...$ (MathJax did not typeset it)."""
    texts = page.pw.locator(".jp-MarkdownOutput").all_inner_texts()
    return [m for t in texts for m in RAW_MATH.findall(t)]


def wait_for_math(page: Page, timeout: float = 30) -> None:
    """MathJax typesets a little after the notebook appears: until no raw $...$ is left
    (the caller asserts what remains)."""
    deadline = time.monotonic() + timeout
    while raw_math(page) and time.monotonic() < deadline:
        time.sleep(0.5)
