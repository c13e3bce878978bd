"""The console under `--auth strict`, in a real (headless) Chromium against a second sagebox started
with a configured key pair: every page sends the browser to the sign-in form; a wrong pair is
refused (401, the same words whichever half was wrong, no cookie); the right pair opens a session
(an HttpOnly, SameSite=Strict cookie) and the console; signing out ends it; a state-changing
request without the session is refused; repeated failures are slowed down (429). Open mode has no
login."""

import re

import boto3
import botocore.config
import pytest
import requests
from selenium.webdriver.common.by import By

from browser import by_css, gone, path_of, serving, shot, wait_for
from support import REGION, unique

KEY, SECRET = "AKIDCONSOLETEST", "s3cr3t/with+chars"
REFUSAL = "The access key ID or secret key is not valid"
COOKIE = "sagebox-console"


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    yield from serving(tmp_path_factory, "strict-console", "--auth", "strict", "--credentials",
                       f"{KEY}:{SECRET}", "--no-samples")


@pytest.fixture(scope="module")
def strict_sm(strict):
    return boto3.session.Session(aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                                 region_name=REGION).client(
        "sagemaker", endpoint_url=strict.url,
        config=botocore.config.Config(retries={"total_max_attempts": 1}))


def csrf(session: requests.Session, url: str) -> str:
    """The console's token, from the sign-in page (the one page open without a session)."""
    page = session.get(url + "/_sagebox/login", timeout=10)
    assert page.status_code == 200, page.status_code
    m = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert m, page.text[:500]
    return m.group(1)


def sign_in(session: requests.Session, url: str, key: str, secret: str) -> requests.Response:
    return session.post(url + "/_sagebox/login",
                        data={"_csrf": csrf(session, url), "AccessKeyId": key, "SecretAccessKey": secret},
                        allow_redirects=False, timeout=10)


def lcc_names(sm):
    return [c["NotebookInstanceLifecycleConfigName"]
            for c in sm.list_notebook_instance_lifecycle_configs(MaxResults=100)["NotebookInstanceLifecycleConfigs"]]


def test_the_console_asks_for_a_key_and_opens_with_the_right_one(strict, driver):
    base = strict.url + "/_sagebox"
    # every page sends the browser to the sign-in form, and back afterwards
    r = requests.get(base + "/models", allow_redirects=False, timeout=10)
    assert r.status_code == 303
    assert r.headers["Location"].startswith("/_sagebox/login"), r.headers["Location"]
    driver.get(base + "/models")
    wait_for(lambda: path_of(driver) == "/_sagebox/login", 10, "the sign-in page")
    form = by_css(driver, "form#login")
    assert form.get_attribute("method").lower() == "post"
    assert by_css(driver, "#field-SecretAccessKey").get_attribute("type") == "password"
    shot(driver, "30-login")

    # a wrong secret, then an unknown key: the same refusal, no cookie
    for key, secret in ((KEY, "wrong"), ("AKIDUNKNOWN", SECRET)):
        by_css(driver, "#field-AccessKeyId").clear()
        by_css(driver, "#field-AccessKeyId").send_keys(key)
        by_css(driver, "#field-SecretAccessKey").send_keys(secret)
        form = by_css(driver, "form#login")
        by_css(driver, "button#login-submit").click()
        # the refused form is a new page: wait for the old one to go before reading its error
        wait_for(lambda: gone(form), 10, "the answer to the sign-in")
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#login-error"), 10, "the refusal")
        assert REFUSAL in by_css(driver, "#login-error").text
        assert driver.get_cookie(COOKIE) is None
        assert path_of(driver) == "/_sagebox/login"
    shot(driver, "30-login-refused")
    s = requests.Session()
    for key, secret in ((KEY, "wrong"), ("AKIDUNKNOWN", SECRET), (KEY, "")):
        r = sign_in(s, strict.url, key, secret)
        assert r.status_code == 401, r.status_code
        assert REFUSAL in r.text and "set-cookie" not in {h.lower() for h in r.headers}
    assert COOKIE not in s.cookies

    # the right pair: the page asked for first, with a session cookie the page's scripts can't read
    by_css(driver, "#field-AccessKeyId").clear()
    by_css(driver, "#field-AccessKeyId").send_keys(KEY)
    by_css(driver, "#field-SecretAccessKey").send_keys(SECRET)
    by_css(driver, "button#login-submit").click()
    wait_for(lambda: path_of(driver) == "/_sagebox/models", 10, "the page asked for")
    by_css(driver, "nav#nav")
    cookie = driver.get_cookie(COOKIE)
    assert cookie and cookie["httpOnly"] and cookie.get("sameSite") == "Strict", cookie
    assert cookie["path"] == "/_sagebox", cookie
    driver.get(base + "/")
    for section in ("counts", "docker", "images"):
        by_css(driver, "section#" + section)
    assert KEY in by_css(driver, "form#logout").text
    shot(driver, "30-login-dashboard")

    # the console works: a lifecycle configuration created by clicks
    name = unique("strictlcc")
    driver.get(base + "/lifecycle-configs")
    by_css(driver, "#field-NotebookInstanceLifecycleConfigName").send_keys(name)
    by_css(driver, "#field-OnStart").send_keys("echo strict\n")
    by_css(driver, "button#create-submit").click()
    wait_for(lambda: path_of(driver) == "/_sagebox/lifecycle-configs/" + name, 10, "the new configuration")

    # sign out: back to the form, and the old cookie opens nothing any more
    driver.get(base + "/")
    by_css(driver, "button#logout-submit").click()
    wait_for(lambda: path_of(driver) == "/_sagebox/login", 10, "the sign-in page after signing out")
    assert driver.get_cookie(COOKIE) is None
    driver.get(base + "/lifecycle-configs")
    wait_for(lambda: path_of(driver) == "/_sagebox/login", 10, "the sign-in page again")
    stale = requests.get(base + "/", cookies={COOKIE: cookie["value"]}, allow_redirects=False, timeout=10)
    assert stale.status_code == 303 and stale.headers["Location"].startswith("/_sagebox/login")


def test_a_post_without_the_session_is_refused(strict, strict_sm):
    url = strict.url
    s = requests.Session()
    token = csrf(s, url)
    name = unique("nosession")
    # the token alone (from the public sign-in page) is not enough
    r = s.post(url + "/_sagebox/lifecycle-configs",
               data={"_csrf": token, "NotebookInstanceLifecycleConfigName": name, "OnStart": "echo x"},
               allow_redirects=False, timeout=10)
    assert r.status_code == 403, r.status_code
    r = s.post(url + "/_sagebox/logout", data={"_csrf": token}, allow_redirects=False, timeout=10)
    assert r.status_code == 403, r.status_code
    assert name not in lcc_names(strict_sm)
    # nor the session without the token
    r = sign_in(s, url, KEY, SECRET)
    assert r.status_code == 303 and COOKIE in s.cookies, r.status_code
    r = s.post(url + "/_sagebox/lifecycle-configs",
               data={"NotebookInstanceLifecycleConfigName": name, "OnStart": "echo x"},
               allow_redirects=False, timeout=10)
    assert r.status_code == 403, r.status_code
    assert name not in lcc_names(strict_sm)
    # the session and the token: created
    r = s.post(url + "/_sagebox/lifecycle-configs",
               data={"_csrf": token, "NotebookInstanceLifecycleConfigName": name, "OnStart": "echo x"},
               allow_redirects=False, timeout=10)
    assert r.status_code == 303, r.status_code
    assert name in lcc_names(strict_sm)
    # the live status script's JSON needs the session too
    assert requests.get(url + "/_sagebox/status?kind=lifecycle-configs", allow_redirects=False,
                        timeout=10).status_code == 303
    assert name in s.get(url + "/_sagebox/status?kind=lifecycle-configs", timeout=10).json()
    # unsigned API calls are still refused: the console is no way around the signatures
    assert requests.post(url + "/", data="{}", timeout=10,
                         headers={"X-Amz-Target": "SageMaker.ListModels",
                                  "Content-Type": "application/x-amz-json-1.1"}).status_code in (400, 403)


def test_open_mode_has_no_login(base):
    r = requests.get(base + "/login", allow_redirects=False, timeout=10)
    assert r.status_code == 303 and r.headers["Location"] == "/_sagebox/", r.headers
    assert requests.get(base + "/", allow_redirects=False, timeout=10).status_code == 200


# Last in the module: it leaves the strict server refusing sign-ins for a minute.
def test_repeated_failures_are_slowed_down(strict):
    s = requests.Session()
    # the tests before made a few failed attempts of their own within the minute
    statuses = []
    while len(statuses) < 12 and 429 not in statuses:
        statuses.append(sign_in(s, strict.url, KEY, "wrong-%d" % len(statuses)).status_code)
    assert statuses[-1] == 429 and set(statuses[:-1]) == {401}, statuses
    assert len(statuses) <= 11, statuses  # at most 10 failures a minute
    r = sign_in(s, strict.url, KEY, SECRET)  # even the right pair waits
    assert r.status_code == 429 and r.headers.get("Retry-After") == "60", r.status_code
    assert COOKIE not in s.cookies
