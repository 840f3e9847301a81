"""The status page in a real browser, against a pipeline under load.

`streamrec run` (with an experiment of two variants) consumes generated traffic
produced at a steady rate by `streamrec generate` in its own process, while
headless Chromium (Debian's chromium, driven through chromedriver's WebDriver
protocol: plain HTTP, no client library) opens http://.../ and checks what a
person would: the page renders its numbers within 2 s, they move (events/s
above zero, lists counted up between two looks), the experiment table has its
two variants, trending is listed, and looking a user up shows their list with
a reason per item. The time to the first rendered figures is printed; a
screenshot is saved beside the binary (status_page.png in the build folder)."""

import base64
import json
import os
import socket
import subprocess
import time
import urllib.request

import harness
from harness import log

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C WebDriver element key
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", "--window-size=1280,1100"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    """The few WebDriver commands the test needs, over chromedriver's HTTP API."""

    def __init__(self, profile_dir):
        self.port = free_port()
        self.proc = subprocess.Popen(["chromedriver", f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        harness.wait_until(lambda: self._ready(), 20)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium", "args": CHROME_ARGS + [f"--user-data-dir={profile_dir}"]}}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _ready(self):
        try:
            return self._call("GET", "/status")["ready"]
        except OSError:
            return False

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())["value"]

    def cmd(self, method, path, body=None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def go(self, url):
        self.cmd("POST", "/url", {"url": url})

    def js(self, script):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": []})

    def text(self, selector):
        return self.js(f"const e = document.querySelector({json.dumps(selector)}); return e ? e.textContent : null;")

    def element(self, selector):
        return self.cmd("POST", "/element", {"using": "css selector", "value": selector})[ELEMENT]

    def type(self, selector, text):
        self.cmd("POST", f"/element/{self.element(selector)}/value", {"text": text})

    def click(self, selector):
        self.cmd("POST", f"/element/{self.element(selector)}/click", {})

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.cmd("GET", "/screenshot")))

    def quit(self):
        try:
            self.cmd("DELETE", "")
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def number(text):
    try:
        return float((text or "").replace(",", "").split()[0])
    except (ValueError, IndexError):
        return None


def main():
    t = harness.Checks()
    work = harness.WorkDir("status_page")
    # Without compaction: the embedded broker keeps ~2 MB of latest lists a partition, fewer than 5,000 users'.
    broker = harness.Broker(partitions=4, compaction=False)
    run = load = browser = None
    try:
        port = free_port()
        run = subprocess.Popen([harness.STREAMREC, "run", "--bootstrap", broker.bootstrap, "--data-dir", work("data"),
                                *harness.FAST_GROUP, "--set", f"http.listen=127.0.0.1:{port}",
                                "--set", "surfaces.trending_interval_s=2",
                                "--set", "experiment.name=page",
                                "--set", "experiment.variants=[{name: control, share: 0.5}, "
                                         "{name: holdout, share: 0.5, model: trending}]"],
                               stdout=subprocess.DEVNULL, stderr=open(work("run.log"), "w"))
        load = subprocess.Popen([harness.STREAMREC, "generate", "--users", "5000", "--items", "2000",
                                 "--events", "200000", "--rate", "2000", "--bootstrap", broker.bootstrap],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t.check(harness.wait_until(lambda: harness.metrics(port).get("streamrec_lists_published_total", 0) > 0, 60),
                "the pipeline publishes lists under load")
        browser = WebDriver(work("chrome"))
        started = time.time()
        browser.go(f"http://127.0.0.1:{port}/")
        loaded = time.time() - started
        t.check(harness.wait_until(lambda: number(browser.text("#users")) is not None, 10),
                "the page shows its figures")
        shown = time.time() - started
        log(f"page loaded in {loaded:.2f} s, first figures shown {shown:.2f} s after navigation")
        t.check(shown < 2.0, f"the page renders its figures in under 2 s ({shown:.2f} s)")
        t.check(harness.wait_until(lambda: (number(browser.text("#events-rate")) or 0) > 0, 10),
                f"events/s is above zero ({browser.text('#events-rate')})")
        before = number(browser.text("#lists-total"))
        time.sleep(3)
        after = number(browser.text("#lists-total"))
        t.check(before is not None and after is not None and after > before, f"lists counted up ({before} -> {after})")
        t.check(harness.wait_until(lambda: (browser.text("#latency-p99") or "-").startswith("\u2264"), 10),
                f"the list latency p99 is shown ({browser.text('#latency-p99')})")
        rows = browser.js("return [...document.querySelectorAll('#experiment tbody tr')]"
                          ".map(r => r.cells[0].textContent);")
        t.check(rows == ["control", "holdout"], f"the experiment table lists its variants ({rows})")
        t.check(harness.wait_until(lambda: browser.js(
            "return document.querySelectorAll('#trending tbody tr td:not(.empty)').length") > 0, 20),
            "trending items are listed")
        browser.type("#user-id", "u1")
        browser.click("#lookup button")
        t.check(harness.wait_until(lambda: browser.js("return document.querySelectorAll('#user-list tr').length") > 0, 10),
                f"the look-up shows u1's list ({browser.text('#user-summary')})")
        reasons = browser.js("return [...document.querySelectorAll('#user-list td.reason')].map(c => c.textContent);")
        t.check(reasons and all(reasons), f"every listed item has a reason ({reasons[:3]}...)")
        t.check("u1" in (browser.text("#user-summary") or ""), "the summary names the user")
        shot = os.path.join(os.path.dirname(os.path.abspath(harness.STREAMREC)), "status_page.png")
        browser.screenshot(shot)
        t.check(os.path.getsize(shot) > 10_000, f"a screenshot is saved ({shot})")
    finally:
        if browser:
            browser.quit()
        for proc in (load, run):
            if proc and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        broker.stop()
        work.cleanup()
        t.finish()


if __name__ == "__main__":
    main()
