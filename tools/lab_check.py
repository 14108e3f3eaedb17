"""`make lab-check`: open a jupytext notebook in a real JupyterLab, run every cell in a headless browser, and fail
on any error output; with --slider, also move an ipywidgets slider and require the figure it drives to be redrawn.
Outside CI: it needs Debian's Chromium and the `playwright` Python package.

What it does, in order:
1. starts JupyterLab on 127.0.0.1 at a free port, with a token only this script knows, no browser, the repository
   root as its root, and throw-away settings/workspace/runtime folders (nothing in ~/.jupyter is touched; the
   notebook's autosave is off, so the .py source is never rewritten: its checksum is compared at the end);
2. drives the system Chromium (/usr/bin/chromium, never a downloaded browser) through Playwright: opens the
   notebook with the "Jupytext Notebook" viewer (the .py is read as a notebook by jupytext), waits for the kernel,
   runs all cells and waits until every code cell has run or one has failed;
3. with --slider LABEL: finds the slider whose description contains LABEL (ipywidgets renders it as
   `.widget-slider`, a noUiSlider `.noUi-handle` and a `.widget-readout`), focuses its handle and presses ArrowRight
   (--slider-presses times, each one slider step), then waits until the slider's readout has changed and the
   image in the same cell's output widget (`.widget-output img`) has a new src, i.e. the kernel reran the
   callback and sent a new figure; the page is then checked again for error outputs (a failing callback shows its
   traceback in the output widget);
4. saves a screenshot (build/lab_check.png by default; with --slider the output holding the slider is scrolled
   into view, and a second screenshot, <screenshot name>_before.png, shows it before the move) and checks the
   page: no stderr/error output holding a traceback (DOM), no output of type "error" in the notebook model, and
   at least one rendered figure;
5. shuts the server down (its kernels with it) and makes sure nothing it started is left running;
6. removes what the run added to the notebook's folder, the kernel's working directory (a notebook that writes
   with its default relative paths, as Figure 2's does, leaves figures/ and metrics/ there; JupyterLab leaves
   .ipynb_checkpoints/), and fails if the run changed a file that was already there.

Install once:  apt-get install -y chromium   and   python -m pip install playwright   (`make lab-check` does the
second). Usage:
    python tools/lab_check.py [--notebook notebooks/00_start_here.py] [--screenshot build/lab_check.png]
                              [--slider LABEL [--slider-presses N]]
One notebook per invocation; `make lab-check` runs two: the start-here notebook, then
    python tools/lab_check.py --notebook notebooks/fig2_sampling_1d.py --screenshot build/lab_check_fig2.png \\
        --slider temperature
which moves the σ (temperature) slider of Figure 2's exploration cell. The server log is written beside the
screenshot (<screenshot name>_server.log).
Exit status: 0 when the notebook ran clean (and, with --slider, the figure was redrawn), 1 when a cell failed, the
slider or its redraw was not found, or the page could not be driven, 2 when a prerequisite is missing.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
# stderr outputs (where JupyterLab renders tracebacks) and anything flagged as an error
ERROR_JS = """() => {
  const sel = '[data-mime-type="application/vnd.jupyter.stderr"], [data-mime-type="application/vnd.jupyter.error"],'
            + ' .jp-OutputArea-output.jp-mod-error';
  return Array.from(document.querySelectorAll(sel))
    .map(e => e.textContent || '')
    .filter(t => /Traceback|Error|Exception/.test(t))
    .map(t => t.slice(0, 2000));
}"""
STATE_JS = """() => {
  const app = window.jupyterapp;
  const w = app && app.shell.currentWidget;
  if (!w || !w.content || !w.content.widgets || !w.sessionContext) return null;
  const code = w.content.widgets.filter(c => c.model.type === 'code');
  const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
  const errors = [];
  for (const c of code) {
    for (const o of c.model.outputs.toJSON()) {
      if (o.output_type === 'error') errors.push(`${o.ename}: ${o.evalue}`);
    }
  }
  return {
    path: w.context ? w.context.path : null,
    kernel: kernel ? kernel.status : null,
    cells: w.content.widgets.length,
    code: code.length,
    executed: code.filter(c => c.model.executionCount !== null).length,
    busyPrompts: Array.from(w.node.querySelectorAll('.jp-InputPrompt')).filter(p => p.textContent.includes('*')).length,
    modelErrors: errors,
    images: w.node.querySelectorAll('.jp-RenderedImage img').length,
  };
}"""

# the slider whose description contains a label, its readout, and the image of the output widget in its cell
SLIDER_JS = """(label) => {
  const sliders = Array.from(document.querySelectorAll('.jp-NotebookPanel .widget-slider'));
  const slider = sliders.find(s => (s.querySelector('.widget-label') || {}).textContent?.includes(label));
  if (!slider) return {found: false, labels: sliders.map(s => (s.querySelector('.widget-label') || {}).textContent)};
  const cell = slider.closest('.jp-Cell');
  const img = cell && cell.querySelector('.widget-output img');
  const readout = slider.querySelector('.widget-readout');
  return {found: true, readout: readout ? (readout.value ?? readout.textContent) : null,
          src: img ? img.getAttribute('src') : null, handles: slider.querySelectorAll('.noUi-handle').length};
}"""


class CheckFailed(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"[lab-check] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[Path, str]:
    """Every file under `folder`, with its sha256."""
    return {p: sha256(p) for p in folder.rglob("*") if p.is_file() and not p.is_symlink()}


def clean_up(folder: Path, before: dict[Path, str]) -> list[str]:
    """Remove the files (and then empty folders) the run added under `folder`; return the files it changed."""
    after = snapshot(folder)
    added = sorted(p for p in after if p not in before)
    for p in added:
        p.unlink()
    for d in sorted({d for p in added for d in p.parents if d.is_relative_to(folder) and d != folder},
                    key=lambda d: len(d.parts), reverse=True):  # the folders they were in, when left empty
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    if added:
        log(f"removed {len(added)} files the run wrote under {folder.relative_to(REPO)}: "
            + ", ".join(str(p.relative_to(folder)) for p in added))
    return [str(p.relative_to(REPO)) for p, h in before.items() if after.get(p) != h]


def find_chromium(explicit: str | None) -> str:
    for cand in (explicit, os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                 shutil.which("chromium-browser")):
        if cand and Path(cand).exists():
            return cand
    print("lab-check: no Chromium found. Install Debian's build (no browser is ever downloaded):\n"
          "    apt-get install -y chromium\nor point CHROMIUM=/path/to/chromium at one.", file=sys.stderr)
    sys.exit(2)


def write_lab_settings(settings_dir: Path) -> None:
    """User settings of this throw-away Lab: .py opens as a notebook, no autosave (the source is never rewritten),
    every cell attached to the DOM (so the error scan sees all outputs), no news or update checks."""
    files = {
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings":
            {"autosave": False, "defaultViewers": {"python": "Jupytext Notebook"}},
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False},
    }
    for rel, content in files.items():
        path = settings_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=2))


def start_server(port: int, token: str, tmp: Path, log_path: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the Makefile's Agg would hide the figures
    env.update({
        "JUPYTER_CONFIG_PATH": os.pathsep.join(filter(None, [str(REPO / "tools" / "jupyter"),
                                                             os.environ.get("JUPYTER_CONFIG_PATH")])),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "IPYTHONDIR": str(tmp / "ipython"),
        "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1"),
        "MKL_NUM_THREADS": env.get("MKL_NUM_THREADS", "1"),
    })
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={REPO}", f"--LabApp.user_settings_dir={tmp / 'settings'}",
           f"--LabApp.workspaces_dir={tmp / 'workspaces'}", "--LabApp.expose_app_in_browser=True",
           "--ServerApp.open_browser=False", "--LabApp.extension_manager=readonly"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers often run as root
    log_file = open(log_path, "w")
    # a session of its own, so that the server (and anything it forks in its group) can be ended by its id
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait_for_server(proc: subprocess.Popen, port: int, token: str, timeout: float, log_path: Path) -> None:
    url = f"http://127.0.0.1:{port}/api/status"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CheckFailed(f"JupyterLab exited with {proc.returncode}; log:\n{log_path.read_text()[-3000:]}")
        try:
            req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(req, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise CheckFailed(f"JupyterLab did not answer on port {port} within {timeout:.0f} s")


def stop_server(proc: subprocess.Popen, port: int, token: str, tmp: Path) -> None:
    """Ask the server to shut down (it stops its kernels), then make sure: the server by its process group, and any
    kernel still alive whose command line names this run's private runtime folder, each by its pid."""
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/shutdown", method="POST", data=b"",
                                     headers={"Authorization": f"token {token}"})
        urllib.request.urlopen(req, timeout=5).close()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        pass
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        log("server did not stop on request; terminating it")
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue
    marker = str(tmp / "runtime").encode()
    for pid_dir in Path("/proc").glob("[0-9]*"):
        try:
            if marker in (pid_dir / "cmdline").read_bytes():
                os.kill(int(pid_dir.name), signal.SIGTERM)
                log(f"ended leftover kernel process {pid_dir.name}")
        except (OSError, ValueError):
            continue
    for _ in range(20):
        if not port_open(port):
            break
        time.sleep(0.5)
    if port_open(port):
        raise CheckFailed(f"port {port} still answers after shutdown")
    log(f"server on port {port} shut down (exit status {proc.returncode})")


def move_slider(page, label: str, presses: int, timeout: float, shot_before: Path) -> dict:
    """Press ArrowRight on the handle of the slider labelled `label`; wait for its readout and the figure of its
    cell's output widget to change. Returns what was seen before and after (the image src as a short digest).
    The page before the move is saved to `shot_before`."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(f"() => ({SLIDER_JS})({json.dumps(label)}).found", timeout=30_000)
    except PlaywrightTimeout:
        raise CheckFailed(f"no slider labelled {label!r} was rendered: "
                          f"{page.evaluate(SLIDER_JS, label)}") from None
    before = page.evaluate(SLIDER_JS, label)
    if not before["src"]:
        raise CheckFailed(f"the cell of slider {label!r} shows no figure in an output widget")
    slider = page.locator(".jp-NotebookPanel .widget-slider").filter(
        has=page.locator(".widget-label", has_text=label)).first
    slider.locator("xpath=ancestor::div[contains(@class, 'jp-OutputArea')][1]").evaluate(
        "o => o.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    page.screenshot(path=str(shot_before))
    handle = slider.locator(".noUi-handle").first
    handle.focus()
    for _ in range(presses):
        page.keyboard.press("ArrowRight")
    log(f"slider {label!r}: {presses} x ArrowRight from {before['readout']}; waiting for the redraw")
    changed = f"""() => {{
      const s = ({SLIDER_JS})({json.dumps(label)});
      return s.found && s.src && s.src !== {json.dumps(before['src'])} && s.readout !== {json.dumps(before['readout'])};
    }}"""
    try:
        page.wait_for_function(changed, timeout=timeout * 1000, polling=250)
    except PlaywrightTimeout:
        now = page.evaluate(SLIDER_JS, label)
        raise CheckFailed(f"slider {label!r}: no redraw within {timeout:.0f} s (readout {before['readout']} -> "
                          f"{now['readout']}, figure {'changed' if now['src'] != before['src'] else 'unchanged'};"
                          f" errors on the page: {page.evaluate(ERROR_JS)})") from None
    # each press may send a value, each value a redraw: wait until the kernel has drawn the last one
    page.wait_for_function(f"() => {{ const s = ({STATE_JS})(); return s && s.kernel === 'idle'; }}",
                           timeout=timeout * 1000, polling=250)
    page.wait_for_timeout(1000)  # let the new image render
    after = page.evaluate(SLIDER_JS, label)
    digest = lambda src: hashlib.sha256(src.encode()).hexdigest()[:12]  # noqa: E731
    return {"label": label, "presses": presses, "readout_before": before["readout"],
            "readout_after": after["readout"], "figure_before": digest(before["src"]),
            "figure_after": digest(after["src"])}


def drive(chromium: str, port: int, token: str, notebook: str, screenshot: Path, timeout: float,
          slider: str | None = None, presses: int = 4) -> dict:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    url = f"http://127.0.0.1:{port}/lab/tree/{notebook}?token={token}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1050})
            page_errors: list[str] = []
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            log(f"opening {notebook}")
            page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started !== undefined",
                                   timeout=timeout * 1000)
            try:
                page.wait_for_function("() => document.querySelector('.jp-NotebookPanel .jp-Notebook .jp-Cell')",
                                       timeout=90_000)
            except Exception:
                page.screenshot(path=str(screenshot))
                editor = page.query_selector(".jp-FileEditor")
                raise CheckFailed(f"{notebook} did not open as a notebook"
                                  + (" (it opened in the text editor: is jupytext's viewer the default for .py?)"
                                     if editor else "") + f"; screenshot at {screenshot}") from None
            kernel_idle = f"() => {{ const s = ({STATE_JS})(); return s && s.kernel === 'idle'; }}"
            deadline = time.monotonic() + timeout
            while True:  # a notebook without a kernelspec asks which kernel to start: take the default one
                try:
                    page.wait_for_function(kernel_idle, timeout=2000)
                    break
                except PlaywrightTimeout:
                    accept = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
                    if accept.count():
                        log("kernel selection dialog: accepting the default kernel")
                        accept.first.click()
                    if time.monotonic() > deadline:
                        raise CheckFailed(f"the kernel did not become idle within {timeout:.0f} s") from None
            state = page.evaluate(STATE_JS)
            log(f"opened as a notebook: {state['cells']} cells ({state['code']} code), kernel idle; running all")
            t0 = time.monotonic()
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            done = f"""() => {{
              const s = ({STATE_JS})();
              if (!s || s.kernel !== 'idle' || s.busyPrompts > 0) return false;
              return s.executed === s.code || s.modelErrors.length > 0;
            }}"""
            try:
                page.wait_for_function(done, timeout=timeout * 1000, polling=500)
            except PlaywrightTimeout:
                page.screenshot(path=str(screenshot))
                raise CheckFailed(f"the cells did not finish within {timeout:.0f} s: {page.evaluate(STATE_JS)}; "
                                  f"screenshot at {screenshot}") from None
            page.wait_for_timeout(1000)  # let the last outputs render
            seconds = round(time.monotonic() - t0, 1)
            moved = None
            if slider is not None and not page.evaluate(STATE_JS)["modelErrors"]:
                try:
                    moved = move_slider(page, slider, presses, timeout,
                                        screenshot.with_name(f"{screenshot.stem}_before{screenshot.suffix}"))
                except CheckFailed:
                    page.screenshot(path=str(screenshot))
                    raise
            state = page.evaluate(STATE_JS)
            state["seconds"] = seconds
            state["slider"] = moved
            state["domErrors"] = page.evaluate(ERROR_JS)
            state["pageErrors"] = page_errors
            if moved is not None:  # the output of the slider's cell: the sliders and the redrawn figure
                page.locator(".jp-CodeCell").filter(has=page.locator(".widget-slider")).first.locator(
                    ".jp-OutputArea").first.evaluate("o => o.scrollIntoView({block: 'start'})")
                page.wait_for_timeout(500)
            else:
                imgs = page.locator(".jp-RenderedImage img")
                if imgs.count():
                    imgs.last.scroll_into_view_if_needed()
                    page.wait_for_timeout(500)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot))
            return state
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--notebook", default="notebooks/00_start_here.py", help="path relative to the repository root")
    ap.add_argument("--screenshot", default="build/lab_check.png")
    ap.add_argument("--chromium", default=None, help="browser binary (default: $CHROMIUM or /usr/bin/chromium)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds for each wait (server, kernel, run)")
    ap.add_argument("--slider", default=None, metavar="LABEL",
                    help="after the run, move the ipywidgets slider whose description contains LABEL and require "
                         "the figure of its cell's output widget to be redrawn")
    ap.add_argument("--slider-presses", type=int, default=4, help="ArrowRight presses on the slider's handle")
    args = ap.parse_args(argv)

    chromium = find_chromium(args.chromium)
    try:
        import playwright  # noqa: F401
    except ImportError:
        print("lab-check: the `playwright` Python package is missing: python -m pip install playwright\n"
              "(only its driver is used; no browser is downloaded)", file=sys.stderr)
        return 2
    nb_path = REPO / args.notebook
    if not nb_path.exists():
        print(f"lab-check: {nb_path} does not exist", file=sys.stderr)
        return 2
    screenshot = (REPO / args.screenshot).resolve()
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.nice(10)  # a background check: the browser, server and kernel yield the CPU to other work
    except OSError:
        pass

    before = sha256(nb_path)
    folder_before = snapshot(nb_path.parent)
    tmp = Path(tempfile.mkdtemp(prefix="lab-check-"))
    write_lab_settings(tmp / "settings")
    port, token = free_port(), secrets.token_hex(24)
    server_log = screenshot.with_name(f"{screenshot.stem}_server.log")
    log(f"starting JupyterLab on 127.0.0.1:{port} (log: {server_log.relative_to(REPO)})")
    proc = start_server(port, token, tmp, server_log)
    state: dict | None = None
    failure: str | None = None
    try:
        wait_for_server(proc, port, token, args.timeout, server_log)
        state = drive(chromium, port, token, args.notebook, screenshot, args.timeout, args.slider,
                      args.slider_presses)
    except CheckFailed as exc:
        failure = str(exc)
    except Exception as exc:  # playwright timeouts and the like
        failure = f"{type(exc).__name__}: {exc}"
    finally:
        try:
            stop_server(proc, port, token, tmp)
        except CheckFailed as exc:
            failure = failure or str(exc)
        shutil.rmtree(tmp, ignore_errors=True)
        changed = clean_up(nb_path.parent, folder_before)

    if state is not None:
        log(f"ran {state['executed']}/{state['code']} code cells in {state['seconds']} s; "
            f"{state['images']} figures rendered; screenshot: {screenshot.relative_to(REPO)}")
        problems = []
        if state["domErrors"]:
            problems.append("error outputs on the page:\n" + "\n---\n".join(state["domErrors"]))
        if state["modelErrors"]:
            problems.append("cells with an error output: " + "; ".join(state["modelErrors"]))
        if state["executed"] != state["code"]:
            problems.append(f"only {state['executed']} of {state['code']} code cells ran")
        if state["images"] == 0:
            problems.append("no figure was rendered")
        if args.slider is not None and state["slider"] is None:
            problems.append(f"the slider {args.slider!r} was not moved")
        if state["slider"]:
            m = state["slider"]
            log(f"slider {m['label']!r} moved {m['readout_before']} -> {m['readout_after']}; the figure was redrawn "
                f"(image {m['figure_before']} -> {m['figure_after']}, sha256 of its src)")
        if state["pageErrors"]:
            log("JavaScript errors on the page (not fatal): " + "; ".join(state["pageErrors"][:5]))
        if problems:
            failure = failure or "\n".join(problems)
    if sha256(nb_path) != before:
        failure = (failure + "\n" if failure else "") + f"{args.notebook} was modified during the check"
    elif changed:
        failure = (failure + "\n" if failure else "") + f"files changed during the check: {', '.join(changed)}"
    if failure:
        print(f"lab-check FAILED: {failure}", file=sys.stderr)
        return 1
    log("OK: every cell ran without an error" + (f" and the {args.slider!r} slider redrew the figure"
                                                  if args.slider else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
