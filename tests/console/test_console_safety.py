"""What keeps another site from acting as the console's user: a state-changing request must come
from the console's own page (same-host Origin) and carry the page's CSRF token; pages allow only
the console's own script and stylesheet (Content-Security-Policy); a bad bucket name is answered
next to its field and creates nothing."""

import re

import requests
from selenium.webdriver.common.by import By

from browser import by_css, path_of, shot, wait_for
from support import unique

PAGES = ["/", "/training-jobs", "/models", "/endpoints", "/s3", "/notebook-instances",
         "/create/training-job", "/create/model", "/create/endpoint-config", "/create/endpoint",
         "/create/transform-job", "/lifecycle-configs", "/domains", "/experiments", "/feature-groups"]


def token_of(base):
    html = requests.get(base + "/s3", timeout=30).text
    m = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', html)
    assert m, html[:500]
    return m.group(1)


def test_pages_allow_only_the_consoles_own_assets(base):
    for path in PAGES:
        r = requests.get(base + path, timeout=30)
        assert r.status_code == 200, (path, r.status_code)
        policies = r.raw.headers.getlist("Content-Security-Policy")
        assert len(policies) == 1, (path, policies)
        csp = policies[0]
        assert "script-src 'self'" in csp and "default-src 'self'" in csp, (path, csp)
        assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp, (path, csp)
        assert r.headers.get("X-Content-Type-Options") == "nosniff", path
        # nothing the policy would block: no inline script or handlers, no inline styles
        assert not re.search(r"<script(?![^>]*\bsrc=)", r.text), path
        assert not re.search(r"\son[a-z]+=", r.text), path
        assert "style=" not in r.text and "<style" not in r.text, path


def test_every_post_form_carries_the_token(base, driver):
    token = token_of(base)
    for path in PAGES:
        driver.get(base + path)
        for form in driver.find_elements(By.CSS_SELECTOR, "form"):
            if (form.get_attribute("method") or "get").lower() != "post":
                continue
            hidden = form.find_elements(By.CSS_SELECTOR, "input[type=hidden][name=_csrf]")
            assert [h.get_attribute("value") for h in hidden] == [token], (path, form.get_attribute("id"))


def test_cross_site_and_tokenless_posts_are_refused(sagebox, base, s3):
    token = token_of(base)
    name = unique("csrf")
    url = base + "/s3"
    # another site's page posting the form, with or without a (stolen) token
    for headers, data in [({"Origin": "http://evil.example"}, {"Bucket": name}),
                          ({"Origin": "http://evil.example"}, {"Bucket": name, "_csrf": token}),
                          ({"Referer": "http://evil.example/page"}, {"Bucket": name, "_csrf": token}),
                          # the right origin (or none, as curl sends) but no token or a wrong one
                          ({"Origin": sagebox.url}, {"Bucket": name}),
                          ({}, {"Bucket": name}),
                          ({"Origin": sagebox.url}, {"Bucket": name, "_csrf": "0" * 64})]:
        r = requests.post(url, data=data, headers=headers, allow_redirects=False, timeout=30)
        assert r.status_code == 403, (headers, data, r.status_code)
    # a script's request: the header instead of the field, still refused from another site
    r = requests.post(base + "/s3/x/uploads?key=k", headers={"X-Sagebox-Csrf": token,
                                                             "Origin": "http://evil.example"},
                      timeout=30)
    assert r.status_code == 403, r.status_code
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert name not in names, names
    # the console's own form, token included, works
    r = requests.post(url, data={"Bucket": name, "_csrf": token}, headers={"Origin": sagebox.url},
                      allow_redirects=False, timeout=30)
    assert r.status_code == 303, (r.status_code, r.text[:300])
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_create_bucket_by_clicks_and_a_bad_name_stays_on_its_field(base, s3, driver):
    driver.get(base + "/s3")
    bad = "Bad_Name!" + unique("x")
    by_css(driver, "#field-Bucket").send_keys(bad)
    by_css(driver, "#create-submit").click()
    err = wait_for(lambda: by_css(driver, 'p.field-error[data-for="Bucket"]'), 10, "the field's error")
    assert "InvalidBucketName" in err.text, err.text
    assert by_css(driver, "#field-Bucket").get_attribute("value") == bad
    shot(driver, "s3-create-bucket-error")
    assert bad not in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    good = unique("clicked")
    field = by_css(driver, "#field-Bucket")
    field.clear()
    field.send_keys(good)
    by_css(driver, "#create-submit").click()
    wait_for(lambda: path_of(driver) == "/_sagebox/s3/" + good, 10, "the new bucket's page")
    assert good in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    # the same name again: S3's answer, next to the field
    driver.get(base + "/s3")
    by_css(driver, "#field-Bucket").send_keys(good)
    by_css(driver, "#create-submit").click()
    err = wait_for(lambda: by_css(driver, 'p.field-error[data-for="Bucket"]'), 10, "the field's error")
    assert "BucketAlreadyOwnedByYou" in err.text, err.text
