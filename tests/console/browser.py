"""What the console tests share besides fixtures: the headless Chromium they drive, screenshots,
waiting, and reading a page's rows. Chromium and chromedriver are Debian's (`apt-get install
chromium chromium-driver`); Selenium is told where both are and never downloads anything."""

import os
import re
import time
import urllib.parse
from pathlib import Path

os.environ["SE_OFFLINE"] = "true"  # Selenium Manager stays offline: the driver is Debian's

import pytest  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import (  # noqa: E402
    NoAlertPresentException,
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# the servers running for the tests now: a failed test's report gets their logs (conftest.py)
SERVERS = []
CHROMIUM = os.environ.get("SAGEBOX_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SAGEBOX_CHROMEDRIVER", "/usr/bin/chromedriver")

# the sections every page's <nav id="nav"> links to
SECTIONS = ["/_sagebox/notebook-instances", "/_sagebox/training-jobs", "/_sagebox/models",
            "/_sagebox/endpoint-configs", "/_sagebox/endpoints", "/_sagebox/transform-jobs",
            "/_sagebox/s3"]


def chrome(javascript: bool = True, downloads: Path | None = None):
    """A headless Chromium; `javascript=False` gives the browser of a reader without scripts."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                "--disable-gpu", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    prefs = {}
    if not javascript:
        prefs["profile.managed_default_content_settings.javascript"] = 2
    if downloads is not None:
        prefs["download.default_directory"] = str(downloads)
    if prefs:
        options.add_experimental_option("prefs", prefs)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:150]


def shot(driver, name: str) -> Path:
    """Saves a screenshot of the whole window to tests/console/artifacts/NAME.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / (_safe(name) + ".png")
    driver.save_screenshot(str(path))
    return path


def dump(driver, name: str):
    """Screenshot and page source (for a failed test)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        shot(driver, name)
    except WebDriverException:
        pass
    try:
        (ARTIFACTS / (_safe(name) + ".html")).write_text(
            "<!-- %s -->\n%s" % (driver.current_url, driver.page_source))
    except WebDriverException:
        pass


def wait_for(predicate, timeout: float, what: str, interval: float = 0.25):
    """Calls `predicate` until it returns something truthy (returned); a stale element or a missing
    one counts as not yet. Fails with `what` and the last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = predicate()
            if last:
                return last
        except (NoSuchElementException, StaleElementReferenceException) as e:
            last = repr(e).splitlines()[0]
        except WebDriverException as e:
            # a page being replaced (a form's answer loading) can answer "Node with given id
            # does not belong to the document" for an element of the old one: not yet, too
            if "does not belong to the document" not in str(e):
                raise
            last = str(e).splitlines()[0]
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what} (last: {last!r})"
        time.sleep(interval)


def click_and_wait_for_new_page(driver, button, timeout: float, what: str):
    """Clicks a form's submit `button` and waits until the page it was on has been replaced (the
    button gone stale), so that a check made next reads the answer's page and not the old one whose
    fields already hold what was typed."""
    button.click()

    def replaced():
        try:
            button.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as e:
            if "does not belong to the document" in str(e):
                return True
            raise
    wait_for(replaced, timeout, what)


def reload_until(driver, predicate, timeout, what, every=3.0):
    """Polls `predicate` on the page, reloading it every `every` seconds (so a page without live
    updates still gets there)."""
    last_reload = time.monotonic()

    def check():
        nonlocal last_reload
        if time.monotonic() - last_reload >= every:
            driver.refresh()
            last_reload = time.monotonic()
        return predicate()

    return wait_for(check, timeout, what, interval=0.5)


def css_str(value: str) -> str:
    """`value` as a quoted CSS string, for attribute selectors such as tr[data-name=...]."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\a ") + '"'


def row(driver, name: str, attr: str = "data-name"):
    """The row `<tr data-name="NAME">` (or another attribute) of the page, or None."""
    found = driver.find_elements(By.CSS_SELECTOR, "tr[%s=%s]" % (attr, css_str(name)))
    return found[0] if found else None


def rows(driver, attr: str = "data-name") -> list[str]:
    return [e.get_attribute(attr) for e in driver.find_elements(By.CSS_SELECTOR, "tr[%s]" % attr)]


def status_of(driver, name: str):
    r = row(driver, name)
    if r is None:
        return None
    cells = r.find_elements(By.CSS_SELECTOR, "td.status")
    return cells[0].text.strip() if cells else None


def path_of(driver) -> str:
    return urllib.parse.urlsplit(driver.current_url).path


def accept_confirm(driver):
    """Accepts a confirm() dialog if the page opened one (a delete button may ask first)."""
    try:
        driver.switch_to.alert.accept()
    except NoAlertPresentException:
        pass


def gone(element) -> bool:
    """True once `element` has left the page (the browser loaded another document)."""
    try:
        element.is_enabled()
        return False
    except StaleElementReferenceException:
        return True


def by_css(driver, selector: str):
    return driver.find_element(By.CSS_SELECTOR, selector)


def all_css(driver, selector: str):
    return driver.find_elements(By.CSS_SELECTOR, selector)


def body_text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def serving(tmp_path_factory, name, *extra_args):
    """A server of its own (flags `extra_args`) for a fixture to yield: started, its log attached
    to a failed test's report, and killed with what it started when the fixture ends."""
    from support import Sagebox  # tests/clients, on the path conftest.py sets

    tmp = tmp_path_factory.mktemp(name)
    server = Sagebox(tmp / "data", tmp / "sagebox.log", list(extra_args))
    SERVERS.append(server)
    try:
        server.start()
    except RuntimeError as e:
        server.kill()
        SERVERS.remove(server)
        pytest.fail(str(e), pytrace=False)
    try:
        yield server
    finally:
        server.kill()
        server.remove_containers()
        SERVERS.remove(server)
