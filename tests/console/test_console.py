"""The web console in a real (headless) Chromium: every page loads and links the sections, the
dashboard counts what boto3 created, a notebook instance is created, opened in Jupyter, stopped and
deleted with the mouse, an endpoint is test-invoked (with and without JavaScript), a 12 MiB file is
uploaded in parts and downloaded again, a training job shows its hyperparameters, timeline,
metric charts and logs (live while it runs), a transform job shows its S3 URIs, and markup in
S3 keys, metadata, environment values, hyperparameters and log lines stays text.

Resources are created with boto3 against the session's server, named with `unique()`. Screenshots
go to tests/console/artifacts/ (and a screenshot plus the page source of a failed test)."""

import hashlib
import os
import re
import time
import urllib.parse

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select

from browser import (SECTIONS, reload_until, accept_confirm, all_css, body_text, by_css, path_of, row, rows,
                     shot, status_of, wait_for)
from support import model_tar_gz, IMAGE, ROLE_ARN, docker_answers, unique

needs_docker = pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true",
                                  reason="no Docker engine answers")

KINDS = ["notebook-instances", "training-jobs", "models", "endpoint-configs", "endpoints",
         "transform-jobs", "buckets"]
PAGES = ["/", "/notebook-instances", "/training-jobs", "/models", "/endpoint-configs", "/endpoints",
         "/transform-jobs", "/s3"]
XSS_IMG = "<img src=x onerror=window.__xss=1>"
XSS_SCRIPT = "<script>window.__xss=1</script>"


def get(url, **kw):
    return requests.get(url, timeout=30, **kw)


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def no_xss(driver):
    time.sleep(0.3)  # an <img onerror> fires once the image has failed to load
    assert driver.execute_script("return window.__xss") is None, "markup ran on " + driver.current_url


def nav_links(driver):
    nav = by_css(driver, "nav#nav")
    return {urllib.parse.urlsplit(a.get_attribute("href")).path.rstrip("/")
            for a in nav.find_elements(By.TAG_NAME, "a")}


def form_of(button):
    return button.find_element(By.XPATH, "./ancestor::form[1]")


def choose(select_element, value):
    """Selects the option whose value is `value` (an <option> without a value attribute has its
    text as its value, which Select.select_by_value does not see)."""
    select = Select(select_element)
    for option in select.options:
        if option.get_attribute("value") == value:
            option.click()
            return select
    raise AssertionError("no option %r in %s" % (value, [o.get_attribute("value") for o in select.options]))


def count_of(a) -> int:
    """The number a dashboard count shows (the link may carry its label after the number)."""
    m = re.match(r"\s*(\d+)\b", a.text)
    assert m, "a.count[data-kind=%s] shows no number: %r" % (a.get_attribute("data-kind"), a.text)
    return int(m.group(1))


@pytest.fixture(scope="module")
def seeded(sm, s3):
    """A bucket and a model (created in this order) that the page tests expect to see."""
    bucket = unique("console")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="hello.txt", Body=b"hello console\n")
    model = unique("model")
    sm.create_model(ModelName=model, ExecutionRoleArn=ROLE_ARN,
                    PrimaryContainer={"Image": IMAGE, "Environment": {"GREETING": "hi"}})
    return {"bucket": bucket, "model": model}


# ----- every page -----

def test_browser_asking_for_root_is_sent_to_the_console(sagebox, driver):
    r = get(sagebox.url + "/", headers={"Accept": "text/html,application/xhtml+xml"},
            allow_redirects=False)
    assert r.status_code in (302, 303), (r.status_code, r.text[:300])
    assert urllib.parse.urlsplit(r.headers["Location"]).path == "/_sagebox/", r.headers["Location"]
    driver.get(sagebox.url + "/")
    assert path_of(driver) == "/_sagebox/", driver.current_url
    by_css(driver, "nav#nav")
    shot(driver, "01-root-redirect")


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_with_and_without_javascript(page, base, seeded, driver, nojs_driver):
    url = base + page
    r = get(url)
    assert r.status_code == 200, (url, r.status_code, r.text[:500])
    assert r.headers.get("Content-Type", "").startswith("text/html"), r.headers.get("Content-Type")
    assert '<nav id="nav"' in r.text
    driver.get(url)
    assert path_of(driver) == urllib.parse.urlsplit(url).path, driver.current_url
    missing = set(SECTIONS) - nav_links(driver)
    assert not missing, f"nav#nav on {url} lacks links to {sorted(missing)}"
    if page == "/models":
        assert row(driver, seeded["model"]) is not None, rows(driver)
        by_css(driver, "table#list")
    if page == "/s3":
        assert row(driver, seeded["bucket"]) is not None, rows(driver)
        by_css(driver, "table#list")
    shot(driver, "01-page-" + (page.strip("/") or "dashboard"))
    nojs_driver.get(url)
    by_css(nojs_driver, "nav#nav")
    assert "sagebox" in nojs_driver.page_source


def test_dashboard_counts_what_boto3_created(sm, s3, base, seeded, driver):
    driver.get(base + "/")
    for section in ("counts", "docker", "gpus", "images", "activity"):
        by_css(driver, "section#" + section)
    counts = {}
    for kind in KINDS:
        a = by_css(driver, 'section#counts a.count[data-kind="%s"]' % kind)
        counts[kind] = count_of(a)
        assert a.get_attribute("href"), kind
    assert counts["buckets"] >= 1 and counts["models"] >= 1, counts
    assert counts["models"] == len(sm.list_models(MaxResults=100)["Models"]), counts
    assert counts["buckets"] == len(s3.list_buckets()["Buckets"]), counts
    gpus = by_css(driver, "section#gpus")
    assert "No GPU" in gpus.text or gpus.find_elements(By.CSS_SELECTOR, "li, tr"), gpus.text
    assert by_css(driver, "section#docker").text.strip(), "section#docker is empty"
    images = by_css(driver, "section#images")
    assert images.find_elements(By.TAG_NAME, "table"), "section#images has no table"
    assert "sagebox/" in images.text or "base" in images.text, images.text[:500]
    # the newest resources first, each a link
    activity = [urllib.parse.unquote(urllib.parse.urlsplit(a.get_attribute("href")).path)
                for a in by_css(driver, "section#activity").find_elements(By.TAG_NAME, "a")]
    model_link = "/_sagebox/models/" + seeded["model"]
    assert model_link in activity, activity
    bucket_link = "/_sagebox/s3/" + seeded["bucket"]
    if bucket_link in activity:
        assert activity.index(model_link) < activity.index(bucket_link), activity
    shot(driver, "01-dashboard-counts")
    # a count leads to its list, which shows what was counted
    by_css(driver, 'a.count[data-kind="models"]').click()
    wait_for(lambda: path_of(driver) == "/_sagebox/models", 10, "the models list")
    assert row(driver, seeded["model"]) is not None
    driver.back()
    by_css(driver, 'a.count[data-kind="buckets"]').click()
    wait_for(lambda: path_of(driver) == "/_sagebox/s3", 10, "the buckets list")
    assert row(driver, seeded["bucket"]) is not None


def test_model_detail_page(base, seeded, driver):
    driver.get(base + "/models")
    row(driver, seeded["model"]).find_element(By.TAG_NAME, "a").click()
    wait_for(lambda: path_of(driver) == "/_sagebox/models/" + seeded["model"], 10, "the model's page")
    by_css(driver, "nav#nav")
    text = body_text(driver)
    assert seeded["model"] in text and IMAGE in text, text[:1000]
    shot(driver, "01-model-detail")
    r = get(base + "/models/no-such-model-" + seeded["model"])
    assert r.status_code == 404, r.status_code


# ----- S3 -----

def test_s3_upload_in_parts_download_and_delete(s3, base, driver, tmp_path):
    bucket = unique("upload")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="dir/seed.txt", Body=b"seed")
    driver.get(base + "/s3")
    row(driver, bucket).find_element(By.TAG_NAME, "a").click()
    wait_for(lambda: path_of(driver) == "/_sagebox/s3/" + bucket, 10, "the bucket's page")
    prefixes = [a for a in all_css(driver, "a.prefix") if "dir/" in a.text]
    assert prefixes, [a.text for a in all_css(driver, "a.prefix")]
    prefixes[0].click()
    wait_for(lambda: row(driver, "dir/seed.txt", "data-key"), 10, "dir/seed.txt under the prefix dir/")
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(driver.current_url).query).get("prefix") == ["dir/"]
    shot(driver, "04-s3-prefix")

    data = os.urandom(12 * 1024 * 1024 + 12345)
    path = tmp_path / ("console-upload-%s.bin" % unique("f"))
    path.write_bytes(data)
    key = "dir/" + path.name
    by_css(driver, "progress#upload-progress")
    by_css(driver, "input#upload-file").send_keys(str(path))
    by_css(driver, "button#upload-submit").click()
    time.sleep(0.3)
    shot(driver, "04-s3-uploading")
    wait_for(lambda: row(driver, key, "data-key"), 120, "the uploaded object's row")
    shot(driver, "04-s3-uploaded")
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(data), head
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    assert "-" in head["ETag"], "expected a multipart upload's ETag, got %s" % head["ETag"]

    row(driver, key, "data-key").find_element(By.TAG_NAME, "a").click()
    wait_for(lambda: path_of(driver) == "/_sagebox/s3/%s/object" % bucket, 10, "the object's page")
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(driver.current_url).query)["key"] == [key]
    by_css(driver, "nav#nav")
    details = by_css(driver, "dl#details").text
    assert str(len(data)) in details or "12.0 MiB" in details or "12 MiB" in details, details
    assert head["ETag"].strip('"') in details, details
    assert head["ContentType"] in details, details
    shot(driver, "04-s3-object")
    link = by_css(driver, "a#download").get_attribute("href")
    assert urllib.parse.urlsplit(link).path == "/_sagebox/s3/%s/download" % bucket, link
    got = get(link)
    assert got.status_code == 200 and hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()

    delete = by_css(driver, "button.delete")
    assert form_of(delete).get_attribute("method").lower() == "post"
    delete.click()
    accept_confirm(driver)
    wait_for(lambda: path_of(driver) != "/_sagebox/s3/%s/object" % bucket, 10, "the redirect after delete")
    assert "NoSuchKey" in _s3_error(s3, bucket, key) or "404" in _s3_error(s3, bucket, key)
    driver.get(base + "/s3/%s?prefix=dir/" % bucket)
    assert row(driver, key, "data-key") is None and row(driver, "dir/seed.txt", "data-key") is not None
    shot(driver, "04-s3-deleted")


def _s3_error(s3, bucket, key):
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except Exception as e:  # noqa: BLE001
        return str(e)
    return "still there"


def test_s3_delete_form_answers_303(s3, base, sagebox, driver):
    bucket = unique("form")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="gone.txt", Body=b"x")
    driver.get(base + "/s3/%s/object?key=gone.txt" % bucket)
    form = form_of(by_css(driver, "button.delete"))
    assert form.get_attribute("method").lower() == "post"
    fields = {i.get_attribute("name"): i.get_attribute("value")
              for i in form.find_elements(By.CSS_SELECTOR, "input[name]")}
    r = requests.post(form.get_attribute("action"), data=fields, allow_redirects=False, timeout=30,
                      headers={"Origin": sagebox.url})
    assert r.status_code == 303, (r.status_code, r.text[:300])
    assert "Location" in r.headers
    assert "still there" != _s3_error(s3, bucket, "gone.txt")
    # a form sent from another site is refused
    s3.put_object(Bucket=bucket, Key="gone.txt", Body=b"x")
    r = requests.post(form.get_attribute("action"), data=fields, allow_redirects=False, timeout=30,
                      headers={"Origin": "http://evil.example"})
    assert r.status_code == 403, r.status_code
    assert _s3_error(s3, bucket, "gone.txt") == "still there"


# ----- escaping -----

def test_markup_in_keys_metadata_and_environment_stays_text(sm, s3, base, driver, nojs_driver):
    bucket = unique("escape")
    s3.create_bucket(Bucket=bucket)
    keys = [XSS_IMG + ".txt", '">' + XSS_SCRIPT, "a&b <b>bold</b>'.txt"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"markup", ContentType="text/plain",
                      Metadata={"note": XSS_SCRIPT, "img": XSS_IMG})
    # a key holding "/" (</script>, </b>) is listed under its common prefix
    flat = sorted(k for k in keys if "/" not in k)
    grouped = sorted(k[:k.index("/") + 1] for k in keys if "/" in k)
    driver.get(base + "/s3/" + bucket)
    assert sorted(rows(driver, "data-key")) == flat, rows(driver, "data-key")
    prefixes = sorted(a.text.strip() for a in all_css(driver, "a.prefix"))
    assert prefixes == grouped, prefixes
    text = body_text(driver)
    for key in flat + grouped:
        assert key in text, (key, text[:2000])
    no_xss(driver)
    shot(driver, "06-escape-listing")
    for key in (k for k in keys if "/" in k):
        # the prefix link leads to the key, which is listed and links to its page
        [a for a in all_css(driver, "a.prefix") if a.text.strip() == key[:key.index("/") + 1]][0].click()
        wait_for(lambda: row(driver, key, "data-key"), 10, "the key under its prefix")
        no_xss(driver)
        assert key[key.index("/") + 1:] in body_text(driver)
        row(driver, key, "data-key").find_element(By.TAG_NAME, "a").click()
        wait_for(lambda: path_of(driver).endswith("/object"), 10, "the object's page")
        assert urllib.parse.parse_qs(urllib.parse.urlsplit(driver.current_url).query)["key"] == [key]
        no_xss(driver)
        driver.get(base + "/s3/" + bucket)
    for i, key in enumerate(keys):
        driver.get(base + "/s3/%s/object?key=%s" % (bucket, q(key)))
        details = by_css(driver, "dl#details").text
        assert key in body_text(driver), body_text(driver)[:2000]
        assert XSS_SCRIPT in details and XSS_IMG in details, details
        no_xss(driver)
        assert get(by_css(driver, "a#download").get_attribute("href")).content == b"markup"
        shot(driver, "06-escape-object-%d" % i)
        raw = get(driver.current_url).text
        assert XSS_SCRIPT not in raw and XSS_IMG not in raw, "unescaped markup in " + driver.current_url

    model = unique("model")
    sm.create_model(ModelName=model, ExecutionRoleArn=ROLE_ARN,
                    PrimaryContainer={"Image": IMAGE, "Environment": {"NOTE": XSS_SCRIPT, "IMG": XSS_IMG}},
                    Tags=[{"Key": "team", "Value": "a+b=c"}])
    for page in ("/models/" + model, "/models", "/"):
        driver.get(base + page)
        no_xss(driver)
        raw = get(base + page).text
        assert XSS_SCRIPT not in raw and XSS_IMG not in raw, "unescaped markup in " + page
    driver.get(base + "/models/" + model)
    text = body_text(driver)
    assert XSS_SCRIPT in text and XSS_IMG in text, "the model's environment is not shown: " + text[:2000]
    # tag values cannot hold markup (the API's pattern refuses "<"), but they are shown
    assert "team" in text and "a+b=c" in text, "the model's tags are not shown: " + text[:2000]
    shot(driver, "06-escape-model")
    nojs_driver.get(base + "/s3/" + bucket)
    assert sorted(rows(nojs_driver, "data-key")) == flat


# ----- training jobs -----

def _training_job(sm, bucket, image, hp, name=None, max_runtime=300, **algorithm):
    name = name or unique("job")
    sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File", **algorithm},
        RoleArn=ROLE_ARN, HyperParameters=hp,
        OutputDataConfig={"S3OutputPath": "s3://%s/output" % bucket},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": max_runtime})
    return name


def _wait_job(sm, name, until=("Completed", "Failed", "Stopped"), timeout=300):
    return wait_for(lambda: (lambda d: d if d["TrainingJobStatus"] in until else None)(
        sm.describe_training_job(TrainingJobName=name)), timeout, f"{name} in {until}", interval=0.5)


@pytest.fixture(scope="module")
def bucket(s3):
    name = unique("console")
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def metrics_job(sm, s3, bucket, byo_image):
    s3.put_object(Bucket=bucket, Key="data/train/a.csv", Body=b"1,2\n")
    name = unique("job")
    sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": byo_image, "TrainingInputMode": "File",
                                "MetricDefinitions": [
                                    {"Name": "train:loss", "Regex": r"loss=([0-9.]+)"},
                                    {"Name": "train:accuracy", "Regex": r"accuracy=([0-9.]+)"}]},
        RoleArn=ROLE_ARN, HyperParameters={"mode": "metrics", "epochs": "3"},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://%s/data/train" % bucket,
            "S3DataDistributionType": "FullyReplicated"}}}],
        OutputDataConfig={"S3OutputPath": "s3://%s/output" % bucket},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 300})
    d = _wait_job(sm, name)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    return d


@needs_docker
def test_training_job_page_shows_hyperparameters_timeline_metrics_and_logs(metrics_job, base, driver,
                                                                           nojs_driver):
    name = metrics_job["TrainingJobName"]
    driver.get(base + "/training-jobs")
    assert status_of(driver, name) == "Completed", status_of(driver, name)
    row(driver, name).find_element(By.TAG_NAME, "a").click()
    wait_for(lambda: path_of(driver) == "/_sagebox/training-jobs/" + name, 10, "the job's page")

    by_css(driver, "nav#nav")
    hp = {r.get_attribute("data-key"): r.text for r in all_css(driver, "table#hyperparameters tr[data-key]")}
    assert set(hp) == {"mode", "epochs"}, hp
    assert "metrics" in hp["mode"] and "3" in hp["epochs"], hp
    channels = by_css(driver, "table#channels").text
    uri = metrics_job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    assert "train" in channels and uri in channels, channels
    transitions = metrics_job["SecondaryStatusTransitions"]
    items = all_css(driver, "ol#timeline li")
    assert len(items) == len(transitions), [i.text for i in items]
    for li, t in zip(items, transitions):
        assert t["Status"] in li.text, (li.text, t)
    charts = {s.get_attribute("data-metric"): s for s in all_css(driver, "section#metrics svg.metric")}
    assert {"train:loss", "train:accuracy"} <= set(charts), list(charts)
    for metric, svg in charts.items():
        lines = svg.find_elements(By.TAG_NAME, "polyline")
        points = lines[0].get_attribute("points").split() if lines else []
        assert len(points) == 3, (metric, svg.get_attribute("outerHTML")[:500])  # one per epoch
    logs = all_css(driver, "section#logs pre.log")
    assert logs, "no pre.log"
    streams = [p.get_attribute("data-stream") for p in logs]
    assert all(re.fullmatch(re.escape(name) + r"/algo-1-\d{10}", s) for s in streams), streams
    text = "\n".join(p.text for p in logs)
    assert "epoch=2 loss=0.333 accuracy=0.70" in text, text[-2000:]
    assert "byo: mode=metrics host=algo-1" in text, text[-2000:]
    assert not all_css(driver, "button.stop"), "a Completed job offers Stop"
    shot(driver, "05-training-detail")
    driver.execute_script("document.querySelector('section#metrics').scrollIntoView()")
    shot(driver, "05-training-metrics")
    # without JavaScript the logs are in the page
    nojs_driver.get(base + "/training-jobs/" + name)
    text = "\n".join(p.text for p in all_css(nojs_driver, "section#logs pre.log"))
    assert "epoch=2 loss=0.333 accuracy=0.70" in text, text[-2000:]


@needs_docker
def test_training_list_filter(metrics_job, base, driver):
    name = metrics_job["TrainingJobName"]
    driver.get(base + "/training-jobs")
    form = by_css(driver, "form#filter")
    assert (form.get_attribute("method") or "get").lower() == "get"
    select = choose(form.find_element(By.CSS_SELECTOR, "select[name=status]"), "Completed")
    values = [o.get_attribute("value") for o in select.options]
    assert "Failed" in values and values[0] == "", values
    box = form.find_element(By.CSS_SELECTOR, "input[name=name]")
    box.clear()
    box.send_keys(name, Keys.ENTER)
    wait_for(lambda: "name=" in driver.current_url, 10, "the filtered list")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(driver.current_url).query)
    assert query.get("status") == ["Completed"] and query.get("name") == [name], query
    assert rows(driver) == [name], rows(driver)
    shot(driver, "05-training-filter")
    driver.get(base + "/training-jobs?status=Failed&name=" + q(name))
    assert rows(driver) == [], rows(driver)


@needs_docker
def test_training_logs_stream_live_and_stop_button(sm, bucket, byo_image, base, sagebox, driver):
    name = _training_job(sm, bucket, byo_image, {"mode": "sleep", "seconds": "120"})
    try:
        wait_for(lambda: sm.describe_training_job(TrainingJobName=name)["SecondaryStatus"] == "Training",
                 120, "the job to be training")
        time.sleep(2)
        driver.get(base + "/training-jobs/" + name)
        assert by_css(driver, "button.stop").is_displayed()
        driver.execute_script("window.__marker = 'not reloaded'")

        def latest():
            found = [int(n) for p in all_css(driver, "section#logs pre.log")
                     for n in re.findall(r"sleeping (\d+)", p.text)]
            return max(found) if found else -1

        first = latest()
        wait_for(lambda: latest() >= first + 3, 30, "new log lines appended without a reload")
        assert driver.execute_script("return window.__marker") == "not reloaded"
        shot(driver, "05-training-live-logs")
        # the event stream itself
        with requests.get(base + "/training-jobs/%s/logs/events" % name, stream=True, timeout=30) as r:
            assert r.status_code == 200
            assert r.headers["Content-Type"].startswith("text/event-stream"), r.headers
            seen = ""
            for chunk in r.iter_content(chunk_size=None):
                seen += chunk.decode("utf-8", "replace")
                if "sleeping" in seen and "data:" in seen:
                    break
        stop = by_css(driver, "button.stop")
        assert form_of(stop).get_attribute("method").lower() == "post"
        stop.click()
        accept_confirm(driver)
        d = _wait_job(sm, name, timeout=90)
        assert d["TrainingJobStatus"] == "Stopped", d
        driver.get(base + "/training-jobs/" + name)
        assert not all_css(driver, "button.stop")
        assert "Stopped" in body_text(driver)
        shot(driver, "05-training-stopped")
    finally:
        try:
            sm.stop_training_job(TrainingJobName=name)
        except Exception:  # noqa: BLE001 - already stopped
            pass


@needs_docker
def test_markup_in_hyperparameters_and_log_lines_stays_text(sm, bucket, byo_image, base, driver):
    name = _training_job(sm, bucket, byo_image, {"mode": XSS_IMG + XSS_SCRIPT})
    d = _wait_job(sm, name)
    assert d["TrainingJobStatus"] == "Failed", d
    driver.get(base + "/training-jobs/" + name)
    no_xss(driver)
    (hp,) = all_css(driver, "table#hyperparameters tr[data-key]")
    assert XSS_IMG + XSS_SCRIPT in hp.text, hp.text
    logs = "\n".join(p.text for p in all_css(driver, "section#logs pre.log"))
    assert "unknown mode " + XSS_IMG + XSS_SCRIPT in logs, logs[-2000:]
    # the live log script must not turn the lines into markup either
    time.sleep(2)
    no_xss(driver)
    raw = get(base + "/training-jobs/" + name).text
    assert XSS_SCRIPT not in raw and XSS_IMG not in raw
    shot(driver, "06-escape-training")
    driver.get(base + "/training-jobs")
    no_xss(driver)


# ----- hosting -----

@pytest.fixture(scope="module")
def byo_model(sm, s3, bucket, byo_image):
    """A model of the byo image, made as tests/clients/test_endpoints.py's `byo_model` makes one."""
    s3.put_object(Bucket=bucket, Key="byo/model.tar.gz", Body=model_tar_gz())
    name = unique("model")
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE_ARN,
                    PrimaryContainer={"Image": byo_image,
                                      "ModelDataUrl": "s3://%s/byo/model.tar.gz" % bucket,
                                      "Environment": {}})
    return name


def _invoke_in_page(driver, content_type, body):
    box = by_css(driver, "form#invoke input[name=ContentType]")
    box.clear()
    box.send_keys(content_type)
    text = by_css(driver, "form#invoke textarea[name=Body]")
    text.clear()
    text.send_keys(body)
    by_css(driver, "button#invoke-submit").click()


@needs_docker
def test_endpoint_test_invoke(sm, byo_model, base, driver, nojs_driver):
    config = unique("config")
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": byo_model, "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}])
    name = unique("ep")
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    try:
        d = wait_for(lambda: (lambda d: d if d["EndpointStatus"] in ("InService", "Failed") else None)(
            sm.describe_endpoint(EndpointName=name)), 180, "the endpoint", interval=0.5)
        assert d["EndpointStatus"] == "InService", d.get("FailureReason")

        driver.get(base + "/endpoints")
        assert status_of(driver, name) == "InService", status_of(driver, name)
        row(driver, name).find_element(By.TAG_NAME, "a").click()
        wait_for(lambda: path_of(driver) == "/_sagebox/endpoints/" + name, 10, "the endpoint's page")
        by_css(driver, "nav#nav")
        variant = by_css(driver, 'table#variants tr[data-variant="AllTraffic"]')
        cells = [c.text.strip() for c in variant.find_elements(By.TAG_NAME, "td")]
        # current and desired instance counts (1, 1) and weights (1.0, 1.0)
        assert len(re.findall(r"(?<![\d.])1(?:\.0+)?(?![\d.])", " | ".join(cells))) >= 4, cells
        assert config in body_text(driver)
        assert by_css(driver, "form#invoke input[name=ContentType]").get_attribute("value") == "text/csv"
        shot(driver, "03-endpoint-detail")

        driver.execute_script("window.__marker = 'not reloaded'")
        text = by_css(driver, "form#invoke textarea[name=Body]")
        text.clear()
        text.send_keys("1,2,3")
        by_css(driver, "button#invoke-submit").click()
        result = wait_for(lambda: by_css(driver, "section#invoke-result pre.body").text.strip() == "6.0"
                          and by_css(driver, "section#invoke-result"), 30, "the invocation's result")
        assert result.find_element(By.CSS_SELECTOR, ".status").text.strip() == "200"
        latency = result.find_element(By.CSS_SELECTOR, ".latency").text.strip()
        assert re.fullmatch(r"\d+(\.\d+)?\s*ms", latency), latency
        assert driver.execute_script("return window.__marker") == "not reloaded", "the page reloaded"
        shot(driver, "03-endpoint-invoked")

        _invoke_in_page(driver, "text/csv", "1,2,3\n4,5,6")
        wait_for(lambda: by_css(driver, "section#invoke-result pre.body").text.strip() == "6.0\n15.0",
                 30, "the second result")
        # a JSON body comes back echoed; markup in it stays text
        _invoke_in_page(driver, "application/json", '{"x": "%s"}' % XSS_IMG)
        wait_for(lambda: '"body"' in by_css(driver, "section#invoke-result pre.body").text, 30, "the JSON result")
        out = by_css(driver, "section#invoke-result pre.body").text
        assert XSS_IMG in out, out
        no_xss(driver)

        # without JavaScript the form posts and the page comes back with the result
        nojs_driver.get(base + "/endpoints/" + name)
        box = by_css(nojs_driver, "form#invoke textarea[name=Body]")
        box.clear()
        box.send_keys("4,5,6")
        by_css(nojs_driver, "button#invoke-submit").click()
        wait_for(lambda: by_css(nojs_driver, "section#invoke-result pre.body").text.strip() == "15.0",
                 30, "the result without JavaScript")
        res = by_css(nojs_driver, "section#invoke-result")
        assert res.find_element(By.CSS_SELECTOR, ".status").text.strip() == "200"
        assert re.fullmatch(r"\d+(\.\d+)?\s*ms", res.find_element(By.CSS_SELECTOR, ".latency").text.strip())
        shot(nojs_driver, "03-endpoint-invoked-nojs")

        # the model and its config have their pages
        driver.get(base + "/endpoint-configs")
        assert row(driver, config) is not None, rows(driver)
        driver.get(base + "/endpoint-configs/" + config)
        assert byo_model in body_text(driver)
        shot(driver, "03-endpoint-config")
        driver.get(base + "/models/" + byo_model)
        assert "byo/model.tar.gz" in body_text(driver)
    finally:
        sm.delete_endpoint(EndpointName=name)
    driver.get(base + "/endpoints")
    reload_until(driver, lambda: row(driver, name) is None, 60, "the deleted endpoint's row to go")


@needs_docker
def test_transform_job_page_shows_its_s3_uris(sm, s3, byo_model, bucket, base, driver):
    s3.put_object(Bucket=bucket, Key="tj/in/a.csv", Body=b"1,2,3\n4,5,6\n")
    name = unique("tj")
    src, dst = "s3://%s/tj/in" % bucket, "s3://%s/tj/out" % bucket
    sm.create_transform_job(
        TransformJobName=name, ModelName=byo_model,
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": src}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": dst, "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    d = wait_for(lambda: (lambda d: d if d["TransformJobStatus"] in ("Completed", "Failed", "Stopped") else None)(
        sm.describe_transform_job(TransformJobName=name)), 180, "the transform job", interval=0.5)
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    driver.get(base + "/transform-jobs")
    assert status_of(driver, name) == "Completed", status_of(driver, name)
    row(driver, name).find_element(By.TAG_NAME, "a").click()
    wait_for(lambda: path_of(driver) == "/_sagebox/transform-jobs/" + name, 10, "the job's page")
    by_css(driver, "nav#nav")
    details = by_css(driver, "dl#details").text
    assert src in details and dst in details, details
    assert byo_model in details, details
    shot(driver, "07-transform-detail")


# ----- notebook instances -----

@needs_docker
def test_notebook_instance_lifecycle_with_the_mouse(sm, base, driver):
    name = unique("nb")
    driver.get(base + "/notebook-instances")
    form = by_css(driver, "form#create")
    assert form.get_attribute("method").lower() == "post"
    form.find_element(By.CSS_SELECTOR, "input[name=NotebookInstanceName]").send_keys(name)
    choose(form.find_element(By.CSS_SELECTOR, "select[name=InstanceType]"), "ml.t3.medium")
    lifecycle = Select(form.find_element(By.CSS_SELECTOR, "select[name=LifecycleConfigName]"))
    assert lifecycle.options[0].get_attribute("value") == ""
    role = form.find_element(By.CSS_SELECTOR, "input[name=RoleArn]").get_attribute("value")
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/\S+", role or ""), role
    shot(driver, "02-notebook-form")
    by_css(driver, "button#create-submit").click()
    wait_for(lambda: row(driver, name), 15, "the new instance's row")
    assert path_of(driver) == "/_sagebox/notebook-instances", driver.current_url
    shot(driver, "02-notebook-created")
    d = sm.describe_notebook_instance(NotebookInstanceName=name)
    assert d["InstanceType"] == "ml.t3.medium" and d["RoleArn"] == role

    live_failure = None
    try:
        # the list refreshes statuses by itself; a reload must show them too
        try:
            wait_for(lambda: status_of(driver, name) in ("InService", "Failed"), 180,
                     "InService without a reload", interval=1)
        except AssertionError:
            driver.refresh()
            if status_of(driver, name) == "InService":
                live_failure = "the status became InService only after a reload (no live update)"
            else:
                raise
        assert status_of(driver, name) == "InService", sm.describe_notebook_instance(
            NotebookInstanceName=name).get("FailureReason")
        driver.refresh()
        r = row(driver, name)
        assert r.find_elements(By.CSS_SELECTOR, "button.stop"), "no Stop for an InService instance"
        assert not r.find_elements(By.CSS_SELECTOR, "button.delete"), "Delete offered while InService"
        assert not r.find_elements(By.CSS_SELECTOR, "button.start"), "Start offered while InService"
        shot(driver, "02-notebook-inservice")

        link = r.find_element(By.CSS_SELECTOR, "a.open-jupyter")
        href = urllib.parse.unquote(urllib.parse.urlsplit(link.get_attribute("href")).path)
        assert href == "/_sagebox/notebook-instances/%s/open" % name, href
        list_window = driver.current_window_handle
        link.click()
        if len(driver.window_handles) > 1:  # target=_blank
            driver.switch_to.window([h for h in driver.window_handles if h != list_window][0])
        wait_for(lambda: urllib.parse.urlsplit(driver.current_url).path.endswith("/tree"), 60,
                 "Jupyter's tree page")
        wait_for(lambda: "jupyter" in driver.page_source.lower(), 30, "Jupyter's page")
        time.sleep(2)
        shot(driver, "02-notebook-jupyter")
        if driver.current_window_handle != list_window:
            driver.close()
            driver.switch_to.window(list_window)
        else:
            driver.back()
        wait_for(lambda: path_of(driver) == "/_sagebox/notebook-instances", 10, "the list again")

        driver.get(base + "/notebook-instances/" + name)
        by_css(driver, "nav#nav")
        details = by_css(driver, "dl#details").text
        assert name in details and "ml.t3.medium" in details and "InService" in details, details
        shot(driver, "02-notebook-detail")
        driver.get(base + "/notebook-instances")

        stop = row(driver, name).find_element(By.CSS_SELECTOR, "button.stop")
        assert form_of(stop).get_attribute("method").lower() == "post"
        stop.click()
        accept_confirm(driver)
        wait_for(lambda: path_of(driver) == "/_sagebox/notebook-instances" and row(driver, name), 15,
                 "the list after Stop")
        reload_until(driver, lambda: status_of(driver, name) == "Stopped", 120, "Stopped")
        driver.refresh()
        r = row(driver, name)
        assert r.find_elements(By.CSS_SELECTOR, "button.start"), "no Start for a Stopped instance"
        assert not r.find_elements(By.CSS_SELECTOR, "button.stop"), "Stop offered while Stopped"
        assert not r.find_elements(By.CSS_SELECTOR, "a.open-jupyter"), "Open Jupyter while Stopped"
        shot(driver, "02-notebook-stopped")

        r.find_element(By.CSS_SELECTOR, "button.delete").click()
        accept_confirm(driver)
        reload_until(driver, lambda: row(driver, name) is None, 120, "the row to disappear")
        shot(driver, "02-notebook-deleted")
    finally:
        _cleanup_notebook(sm, name)
    assert live_failure is None, live_failure


def _cleanup_notebook(sm, name):
    try:
        d = sm.describe_notebook_instance(NotebookInstanceName=name)
    except Exception:  # noqa: BLE001 - gone already
        return
    try:
        if d["NotebookInstanceStatus"] in ("InService", "Pending"):
            sm.stop_notebook_instance(NotebookInstanceName=name)
        deadline = time.time() + 120
        while time.time() < deadline:
            status = sm.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"]
            if status in ("Stopped", "Failed"):
                sm.delete_notebook_instance(NotebookInstanceName=name)
                return
            time.sleep(1)
    except Exception:  # noqa: BLE001 - the session's teardown removes containers anyway
        pass
