"""Studio, Experiments and Feature Store in the console, in a real (headless) Chromium.

boto3 creates what the pages show: a Studio domain with a user profile, a space and a JupyterLab
app (a real Jupyter container), an experiment with a trial whose component carries parameters
and metrics (BatchPutMetrics), a training job's component linked to its job, and a feature group
with a record. The pages show exactly those values; "Open" lands in the app's JupyterLab through
a presigned domain URL; "Delete app" (a POST with the console's token) stops the container;
"Get record" shows the online record's features, or that there is none; what a user wrote with
markup in it stays text."""

import datetime
import os
import re
import subprocess
import time
import urllib.parse

import boto3
import botocore.config
import pytest
import requests
from botocore.exceptions import ClientError
from selenium.webdriver.common.by import By

from browser import (accept_confirm, all_css, body_text, by_css, path_of, reload_until, row, serving, shot,
                     wait_for)
from support import REGION, ROLE_ARN, docker_answers, unique

needs_docker = pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true",
                                  reason="no Docker engine answers")

XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = "<img src=x onerror=window.__xss=1>"
# minute-aligned metric timestamps, well inside SageMaker's two weeks
BASE = (int(time.time()) // 60 - 30) * 60
LOSS = [1.0, 0.5, 0.25, 0.125]
ACCURACY = [0.5, 0.75]


def client(service, url):
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name=REGION)
    return session.client(service, endpoint_url=url, region_name=REGION,
                          config=botocore.config.Config(retries={"total_max_attempts": 1}, read_timeout=60))


@pytest.fixture(scope="module")
def metrics(sagebox):
    return client("sagemaker-metrics", sagebox.url)


@pytest.fixture(scope="module")
def featurestore(sagebox):
    return client("sagemaker-featurestore-runtime", sagebox.url)


def shown(t: datetime.datetime) -> str:
    """A time as the console shows it (UTC, whole seconds)."""
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def cells(tr) -> dict:
    """A row's cells by class."""
    return {td.get_attribute("class").split()[0]: td.text.strip()
            for td in tr.find_elements(By.CSS_SELECTOR, "td[class]")}


def no_xss(driver):
    time.sleep(0.3)  # an <img onerror> fires once the image has failed to load
    assert driver.execute_script("return window.__xss") is None, "markup ran on " + driver.current_url


def docker_lines(*args):
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def containers_of(arn):
    return docker_lines("ps", "-aq", "--filter", "label=sagebox.resource-arn=" + arn)


def token_of(base):
    html = requests.get(base + "/domains", timeout=30).text
    m = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', html)
    assert m, html[:500]
    return m.group(1)


# ---------------------------------------------------------------- empty states and navigation

def test_the_new_sections_are_in_the_navigation_and_show_empty_states(sagebox, base, nojs_driver):
    driver = nojs_driver
    for path, label in (("/domains", "Studio"), ("/experiments", "Experiments"),
                        ("/feature-groups", "Feature Store")):
        driver.get(base + path)
        nav = by_css(driver, 'nav#nav a[aria-current="page"]')
        assert nav.text == label
        assert urllib.parse.urlsplit(nav.get_attribute("href")).path == "/_sagebox" + path
        # every page of the session's server may already hold resources of other tests: the empty
        # state is checked on the pages that list a resource's children instead (below), and
        # here only that the page answers
        assert requests.get(base + path, timeout=30).status_code == 200
    for path in ("/domains/d-nonexistent", "/experiments/" + unique("nope"), "/trials/" + unique("nope"),
                 "/feature-groups/" + unique("nope")):
        assert requests.get(base + path, timeout=30).status_code == 404, path


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    yield from serving(tmp_path_factory, "strict-new-pages", "--auth", "strict", "--credentials",
                       "AKIDNEWPAGES:secret", "--no-samples")


def test_under_strict_auth_the_new_pages_need_a_session(strict):
    base = strict.url + "/_sagebox"
    for path in ("/domains", "/domains/d-x", "/domains/d-x/apps/user/u/JupyterLab/default/open",
                 "/experiments", "/experiments/e", "/trials/t", "/feature-groups", "/feature-groups/g?record=1"):
        r = requests.get(base + path, allow_redirects=False, timeout=10)
        assert r.status_code == 303 and r.headers["Location"].startswith("/_sagebox/login"), (path, r.status_code)
    page = requests.get(base + "/login", timeout=10).text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    r = requests.post(base + "/domains/d-x/apps/user/u/JupyterLab/default/delete", data={"_csrf": token},
                      allow_redirects=False, timeout=10)
    assert r.status_code == 403, r.status_code


# ---------------------------------------------------------------- Studio

def wait_app(sm, want, timeout, **ids):
    deadline = time.time() + timeout
    while True:
        d = sm.describe_app(**ids)
        if d["Status"] == want:
            return d
        assert d["Status"] != "Failed" or want == "Failed", d.get("FailureReason")
        assert time.time() < deadline, f"app still {d['Status']} after {timeout}s"
        time.sleep(1)


@pytest.fixture(scope="module")
def studio(sm):
    """A domain with a user profile and a space; everything (apps included) removed at the end."""
    domain = sm.create_domain(DomainName=unique("dom"), AuthMode="IAM", SubnetIds=["subnet-1"],
                              VpcId="vpc-1", DefaultUserSettings={"ExecutionRole": ROLE_ARN})
    domain_id = domain["DomainId"]
    user, space = unique("alice"), unique("space")
    sm.create_user_profile(DomainId=domain_id, UserProfileName=user)
    sm.create_space(DomainId=domain_id, SpaceName=space,
                    OwnershipSettings={"OwnerUserProfileName": user},
                    SpaceSharingSettings={"SharingType": "Private"})
    yield {"id": domain_id, "user": user, "space": space}
    for app in sm.list_apps(DomainIdEquals=domain_id)["Apps"]:
        if app["Status"] not in ("Deleted", "Deleting"):
            ids = {k: app[k] for k in ("DomainId", "AppType", "AppName") if k in app}
            ids.update({k: app[k] for k in ("UserProfileName", "SpaceName") if app.get(k)})
            sm.delete_app(**ids)
            wait_app(sm, "Deleted", 60, **ids)
    homes = [sm.describe_space(DomainId=domain_id, SpaceName=space)["SpaceArn"],
             sm.describe_user_profile(DomainId=domain_id, UserProfileName=user)["UserProfileArn"]]
    sm.delete_space(DomainId=domain_id, SpaceName=space)
    sm.delete_user_profile(DomainId=domain_id, UserProfileName=user)
    sm.delete_domain(DomainId=domain_id)
    for home in homes:  # the home volumes outlive their apps
        for v in docker_lines("volume", "ls", "-q", "--filter", "label=sagebox.resource-arn=" + home):
            subprocess.run(["docker", "volume", "rm", v], capture_output=True, timeout=60)


def test_a_domain_without_apps_shows_its_profile_space_and_no_apps(sm, studio, base, nojs_driver):
    driver = nojs_driver
    d = sm.describe_domain(DomainId=studio["id"])
    driver.get(base + "/domains")
    tr = row(driver, d["DomainName"])
    assert tr is not None, body_text(driver)
    c = cells(tr)
    assert (c["id"], c["status"], c["url"]) == (studio["id"], d["Status"], d["Url"]), c
    assert tr.find_elements(By.CSS_SELECTOR, "td")[-1].text == shown(d["CreationTime"])
    tr.find_element(By.CSS_SELECTOR, "a").click()
    wait_for(lambda: path_of(driver) == "/_sagebox/domains/" + studio["id"], 10, "the domain's page")
    assert by_css(driver, "h1").text == d["DomainName"]
    assert d["Url"] in by_css(driver, "dl#details").text
    profile = sm.describe_user_profile(DomainId=studio["id"], UserProfileName=studio["user"])
    tr = by_css(driver, "table#user-profiles").find_element(
        By.CSS_SELECTOR, 'tr[data-name="%s"]' % studio["user"])
    assert [td.text for td in tr.find_elements(By.TAG_NAME, "td")] == [
        studio["user"], profile["Status"], shown(profile["CreationTime"])]
    space = sm.describe_space(DomainId=studio["id"], SpaceName=studio["space"])
    tr = by_css(driver, "table#spaces").find_element(By.CSS_SELECTOR, 'tr[data-name="%s"]' % studio["space"])
    assert [td.text for td in tr.find_elements(By.TAG_NAME, "td")] == [
        studio["space"], studio["user"], space["Status"], shown(space["CreationTime"])]
    assert "No apps running" in by_css(driver, "#no-apps").text
    shot(driver, "40-studio-domain-empty")


@needs_docker
def test_jupyterlab_app_opens_from_the_console_and_delete_app_stops_it(sm, studio, base, driver):
    ids = dict(DomainId=studio["id"], UserProfileName=studio["user"], AppType="JupyterLab",
               AppName="default")
    arn = sm.create_app(**ids)["AppArn"]
    page = base + "/domains/" + studio["id"]
    key = "user/%s/JupyterLab/default" % studio["user"]

    def app_row():
        found = driver.find_elements(By.CSS_SELECTOR, 'table#apps tr[data-app="%s"]' % key)
        return found[0] if found else None

    driver.get(page)
    assert cells(app_row())["status"] in ("Pending", "InService")
    # the image may still be building elsewhere: allow for it
    app = wait_app(sm, "InService", 1500, **ids)
    assert len(containers_of(arn)) == 1
    reload_until(driver, lambda: app_row() is not None and cells(app_row())["status"] == "InService",
                 20, "InService on the domain's page")
    c = cells(app_row())
    assert (c["type"], c["name"], c["owner"], c["status"]) == (
        "JupyterLab", "default", "user " + studio["user"], "InService"), c
    assert app_row().find_elements(By.CSS_SELECTOR, "td")[4].text == shown(app["CreationTime"])
    shot(driver, "41-studio-app-inservice")

    # Open: a presigned domain URL made on the spot, landing on the JupyterLab app
    link = app_row().find_element(By.CSS_SELECTOR, "a.open-app")
    href = link.get_attribute("href")
    assert urllib.parse.unquote(urllib.parse.urlsplit(href).path) == (
        "/_sagebox/domains/%s/apps/%s/open" % (studio["id"], key))
    first = requests.get(href, allow_redirects=False, timeout=30)
    assert first.status_code == 303, first.status_code
    presigned = urllib.parse.urlsplit(first.headers["Location"])
    assert presigned.path == "/_sagebox/studio/%s/user-%s/" % (studio["id"].lower(), studio["user"].lower())
    query = urllib.parse.parse_qs(presigned.query)
    assert "authToken" in query and query["landing"] == ["app:JupyterLab:"], first.headers["Location"]

    list_window = driver.current_window_handle
    link.click()
    if len(driver.window_handles) > 1:  # target=_blank
        driver.switch_to.window([h for h in driver.window_handles if h != list_window][0])
    wait_for(lambda: path_of(driver).endswith("/jupyterlab/default/lab"), 60, "JupyterLab's URL")
    assert path_of(driver) == "/_sagebox/studio/%s/user-%s/jupyterlab/default/lab" % (
        studio["id"].lower(), studio["user"].lower())
    wait_for(lambda: "JupyterLab" in driver.title, 60, "JupyterLab's title")
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#jp-main-dock-panel, .jp-LabShell"), 90,
             "JupyterLab's shell")
    time.sleep(2)
    shot(driver, "42-studio-jupyterlab")
    if driver.current_window_handle != list_window:
        driver.close()
        driver.switch_to.window(list_window)

    # a delete is a POST with the page's token: a GET, another site or no token changes nothing
    delete_url = page + "/apps/%s/delete" % key
    assert requests.get(delete_url, timeout=30).status_code == 404
    for headers, data in (({"Origin": "http://evil.example"}, {"_csrf": token_of(base)}),
                          ({}, {})):
        r = requests.post(delete_url, data=data, headers=headers, allow_redirects=False, timeout=30)
        assert r.status_code == 403, (headers, r.status_code)
    assert sm.describe_app(**ids)["Status"] == "InService"

    # Delete app, by its button: the container goes and the row with it
    driver.get(page)
    form = app_row().find_element(By.CSS_SELECTOR, "button.delete").find_element(By.XPATH, "./ancestor::form[1]")
    assert form.get_attribute("method").lower() == "post"
    form.find_element(By.CSS_SELECTOR, "button.delete").click()
    accept_confirm(driver)
    wait_for(lambda: path_of(driver) == "/_sagebox/domains/" + studio["id"], 10, "the domain's page again")
    wait_app(sm, "Deleted", 60, **ids)
    reload_until(driver, lambda: app_row() is None, 20, "the app gone from the page")
    assert "1 deleted app not shown" in by_css(driver, "#deleted-apps").text
    wait_for(lambda: containers_of(arn) == [], 30, "the app's container removed")
    shot(driver, "43-studio-app-deleted")


@needs_docker
def test_a_space_app_opens_as_the_spaces_owner(sm, studio, base, nojs_driver):
    ids = dict(DomainId=studio["id"], SpaceName=studio["space"], AppType="JupyterLab", AppName="default")
    arn = sm.create_app(**ids)["AppArn"]
    wait_app(sm, "InService", 600, **ids)
    driver = nojs_driver
    driver.get(base + "/domains/" + studio["id"])
    key = "space/%s/JupyterLab/default" % studio["space"]
    tr = by_css(driver, 'table#apps tr[data-app="%s"]' % key)
    assert cells(tr)["owner"] == "space " + studio["space"]
    href = tr.find_element(By.CSS_SELECTOR, "a.open-app").get_attribute("href")
    http = requests.Session()
    first = http.get(href, allow_redirects=False, timeout=30)
    assert first.status_code == 303, first.status_code
    assert urllib.parse.urlsplit(first.headers["Location"]).path == "/_sagebox/studio/%s/space-%s/" % (
        studio["id"].lower(), studio["space"].lower())
    opened = http.get(first.headers["Location"], timeout=60)
    assert opened.status_code == 200, opened.text[:300]
    assert urllib.parse.urlsplit(opened.url).path == "/_sagebox/studio/%s/space-%s/jupyterlab/default/lab" % (
        studio["id"].lower(), studio["space"].lower())
    sm.delete_app(**ids)
    wait_app(sm, "Deleted", 60, **ids)
    wait_for(lambda: containers_of(arn) == [], 30, "the space app's container removed")


# ---------------------------------------------------------------- Experiments

@pytest.fixture(scope="module")
def experiment(sm, metrics):
    exp, trial, tc = unique("exp"), unique("trial"), unique("tc")
    # the list pages carry no escaped `<img onerror=`: test_console_safety looks for ` on…=` in
    # the list pages' source, escaped or not, on the same server
    sm.create_experiment(ExperimentName=exp, DisplayName="console-exp",
                         Description="tuned " + XSS_SCRIPT + ' & "quoted"')
    sm.create_trial(TrialName=trial, ExperimentName=exp, DisplayName="console-trial")
    sm.create_trial_component(
        TrialComponentName=tc, DisplayName="console-tc", Status={"PrimaryStatus": "Completed"},
        Parameters={"lr": {"NumberValue": 0.1}, "batch": {"NumberValue": 32},
                    "optimizer": {"StringValue": "adam"},
                    "note<i>": {"StringValue": XSS_SCRIPT + " & <b>bold</b>"}})
    sm.associate_trial_component(TrialName=trial, TrialComponentName=tc)
    data = [{"MetricName": "loss", "Timestamp": BASE + i, "Value": v, "Step": i} for i, v in enumerate(LOSS)]
    data += [{"MetricName": "accuracy", "Timestamp": BASE + i, "Value": v, "Step": i}
             for i, v in enumerate(ACCURACY)]
    assert metrics.batch_put_metrics(TrialComponentName=tc, MetricData=data).get("Errors", []) == []
    return {"exp": exp, "trial": trial, "tc": tc}


def test_experiment_trial_and_component_pages_show_parameters_and_metric_summaries(sm, experiment, base, driver):
    exp, trial, tc = experiment["exp"], experiment["trial"], experiment["tc"]
    driver.get(base + "/experiments")
    tr = row(driver, exp)
    assert tr is not None
    d = sm.describe_experiment(ExperimentName=exp)
    c = cells(tr)
    assert (c["display-name"], c["description"]) == ("console-exp", "tuned " + XSS_SCRIPT + ' & "quoted"'), c
    assert tr.find_elements(By.CSS_SELECTOR, "td")[-1].text == shown(d["CreationTime"])
    no_xss(driver)
    tr.find_element(By.CSS_SELECTOR, "a").click()
    wait_for(lambda: path_of(driver) == "/_sagebox/experiments/" + exp, 10, "the experiment's page")
    assert by_css(driver, 'dd[data-member="Description"]').text == "tuned " + XSS_SCRIPT + ' & "quoted"'
    no_xss(driver)
    t = sm.describe_trial(TrialName=trial)
    tr = by_css(driver, "table#trials").find_element(By.CSS_SELECTOR, 'tr[data-name="%s"]' % trial)
    assert [td.text for td in tr.find_elements(By.TAG_NAME, "td")] == [
        trial, "console-trial", shown(t["CreationTime"])]
    shot(driver, "44-experiment")
    tr.find_element(By.CSS_SELECTOR, "a").click()
    wait_for(lambda: path_of(driver) == "/_sagebox/trials/" + trial, 10, "the trial's page")
    assert urllib.parse.urlsplit(by_css(driver, "a#experiment-link").get_attribute("href")).path == (
        "/_sagebox/experiments/" + exp)

    section = by_css(driver, 'section.component[data-name="%s"]' % tc)
    assert section.find_element(By.CSS_SELECTOR, "h3").text == "console-tc"
    assert section.find_element(By.CSS_SELECTOR, "dd.status").text == "Completed"
    assert section.find_element(By.CSS_SELECTOR, "dd .empty").text == "none"  # no source
    params = {r.get_attribute("data-param"): r.find_element(By.CSS_SELECTOR, "td.value").text
              for r in section.find_elements(By.CSS_SELECTOR, "table.parameters tr[data-param]")}
    assert params == {"lr": "0.1", "batch": "32", "optimizer": "adam",
                      "note<i>": XSS_SCRIPT + " & <b>bold</b>"}, params
    summaries = {r.get_attribute("data-metric"): cells(r)
                 for r in section.find_elements(By.CSS_SELECTOR, "table.metrics tr[data-metric]")}
    assert summaries == {
        "loss": {"name": "loss", "stat-min": "0.125", "stat-max": "1", "stat-avg": "0.46875",
                 "stat-last": "0.125", "stat-count": "4"},
        "accuracy": {"name": "accuracy", "stat-min": "0.5", "stat-max": "0.75", "stat-avg": "0.625",
                     "stat-last": "0.75", "stat-count": "2"},
    }, summaries
    # the same numbers DescribeTrialComponent reports
    described = {m["MetricName"]: m for m in sm.describe_trial_component(TrialComponentName=tc)["Metrics"]}
    assert (described["loss"]["Avg"], described["loss"]["Count"]) == (0.46875, 4)
    no_xss(driver)
    assert not driver.find_elements(By.CSS_SELECTOR, "section.component b, section.component i")
    shot(driver, "45-trial-components")


def test_a_trial_without_components_says_so(sm, experiment, base, nojs_driver):
    empty = unique("trial")
    sm.create_trial(TrialName=empty, ExperimentName=experiment["exp"])
    nojs_driver.get(base + "/trials/" + empty)
    assert "No trial components yet" in by_css(nojs_driver, "#no-components").text
    exp = unique("exp")
    sm.create_experiment(ExperimentName=exp)
    nojs_driver.get(base + "/experiments/" + exp)
    assert "No trials yet" in by_css(nojs_driver, "#no-trials").text


@needs_docker
def test_a_training_jobs_component_links_to_the_job(sm, s3, experiment, byo_image, base, driver):
    bucket = unique("cexp")
    s3.create_bucket(Bucket=bucket)
    job = unique("tj")
    sm.create_training_job(
        TrainingJobName=job, HyperParameters={"mode": "ok"},
        AlgorithmSpecification={"TrainingImage": byo_image, "TrainingInputMode": "File"},
        RoleArn=ROLE_ARN, OutputDataConfig={"S3OutputPath": "s3://%s/out" % bucket},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
        ExperimentConfig={"ExperimentName": experiment["exp"], "TrialName": experiment["trial"]})
    wait_for(lambda: sm.describe_training_job(TrainingJobName=job)["TrainingJobStatus"]
             in ("Completed", "Failed", "Stopped"), 300, "the training job to end", interval=1)
    driver.get(base + "/trials/" + experiment["trial"])
    section = by_css(driver, 'section.component[data-name="%s-aws-training-job"]' % job)
    source = section.find_element(By.CSS_SELECTOR, "a.source")
    job_arn = sm.describe_training_job(TrainingJobName=job)["TrainingJobArn"]
    assert source.text == "SageMakerTrainingJob " + job_arn
    params = {r.get_attribute("data-param"): r.find_element(By.CSS_SELECTOR, "td.value").text
              for r in section.find_elements(By.CSS_SELECTOR, "table.parameters tr[data-param]")}
    assert params["mode"] == "ok" and params["SageMaker.InstanceType"] == "ml.m5.large", params
    source.click()
    wait_for(lambda: urllib.parse.unquote(path_of(driver)).lower() == "/_sagebox/training-jobs/" + job.lower(),
             10, "the training job's page")
    assert by_css(driver, "h1").text.lower() == job.lower()


# ---------------------------------------------------------------- Feature Store

@pytest.fixture(scope="module")
def feature_group(sm, s3, featurestore):
    bucket, name = unique("cfs"), unique("customers")
    s3.create_bucket(Bucket=bucket)
    sm.create_feature_group(
        FeatureGroupName=name, RecordIdentifierFeatureName="customer_id", EventTimeFeatureName="event_time",
        FeatureDefinitions=[{"FeatureName": "customer_id", "FeatureType": "String"},
                            {"FeatureName": "age", "FeatureType": "Integral"},
                            {"FeatureName": "city", "FeatureType": "String"},
                            {"FeatureName": "event_time", "FeatureType": "Fractional"}],
        OnlineStoreConfig={"EnableOnlineStore": True},
        OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://%s/feature-store" % bucket}},
        RoleArn=ROLE_ARN)
    wait_for(lambda: sm.describe_feature_group(FeatureGroupName=name)["FeatureGroupStatus"] == "Created",
             30, "the group to be Created")
    featurestore.put_record(FeatureGroupName=name, Record=[
        {"FeatureName": "customer_id", "ValueAsString": "c1"},
        {"FeatureName": "age", "ValueAsString": "31"},
        {"FeatureName": "city", "ValueAsString": "<b>Lyon</b> & " + XSS_IMG},
        {"FeatureName": "event_time", "ValueAsString": "1700000000.5"}])
    return {"name": name, "bucket": bucket}


def test_feature_group_pages_and_get_record(sm, feature_group, base, driver):
    name = feature_group["name"]
    d = sm.describe_feature_group(FeatureGroupName=name)
    driver.get(base + "/feature-groups")
    tr = row(driver, name)
    assert tr is not None
    assert cells(tr) == {"status": "Created", "record-identifier": "customer_id", "event-time": "event_time",
                         "online": "Yes", "offline": "Yes"}, cells(tr)
    assert tr.find_elements(By.CSS_SELECTOR, "td")[-1].text == shown(d["CreationTime"])
    tr.find_element(By.CSS_SELECTOR, "a").click()
    wait_for(lambda: path_of(driver) == "/_sagebox/feature-groups/" + name, 10, "the group's page")
    features = [[td.text for td in r.find_elements(By.TAG_NAME, "td")]
                for r in all_css(driver, "table#features tr[data-name]")]
    assert features == [["customer_id", "String", ""], ["age", "Integral", ""], ["city", "String", ""],
                        ["event_time", "Fractional", ""]], features

    # the offline store's location, linked to the S3 browser at that prefix
    resolved = d["OfflineStoreConfig"]["S3StorageConfig"]["ResolvedOutputS3Uri"]
    link = by_css(driver, "a#offline-store")
    assert link.text == resolved
    prefix = resolved.split("/", 3)[3] + "/"
    href = urllib.parse.urlsplit(link.get_attribute("href"))
    assert href.path == "/_sagebox/s3/" + feature_group["bucket"]
    assert urllib.parse.parse_qs(href.query)["prefix"] == [prefix]
    shot(driver, "46-feature-group")

    # Get record: the online record's features, markup as text
    by_css(driver, "#field-record").send_keys("c1")
    by_css(driver, "button#get-record-submit").click()
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "table#record-features"), 10, "the record")
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(driver.current_url).query) == {"record": ["c1"]}
    record = {r.get_attribute("data-name"): r.find_element(By.CSS_SELECTOR, "td.value").text
              for r in all_css(driver, "table#record-features tr[data-name]")}
    assert record == {"customer_id": "c1", "age": "31", "city": "<b>Lyon</b> & " + XSS_IMG,
                      "event_time": "1700000000.5"}, record
    no_xss(driver)
    assert not driver.find_elements(By.CSS_SELECTOR, "#record b, #record img")
    shot(driver, "47-feature-group-record")

    # an identifier with no record
    field = by_css(driver, "#field-record")
    field.clear()
    field.send_keys("nobody")
    by_css(driver, "button#get-record-submit").click()
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#no-record"), 10, "no record")
    assert "No record with customer_id nobody" in by_css(driver, "#no-record").text
    assert not driver.find_elements(By.CSS_SELECTOR, "table#record-features")

    # the link opens the S3 browser at the offline prefix, where the record's Parquet file lands
    # in its event time's folder (the offline writer flushes every second)
    driver.get(base + "/feature-groups/" + name)
    by_css(driver, "a#offline-store").click()
    wait_for(lambda: path_of(driver) == "/_sagebox/s3/" + feature_group["bucket"], 10, "the S3 browser")
    reload_until(driver, lambda: [a.text for a in all_css(driver, "a.prefix")] == ["year=2023/"], 20,
                 "the offline store's folder for 2023-11-14")


def test_a_feature_group_without_an_online_store_says_why_there_is_no_record(sm, base, nojs_driver):
    name = unique("offonly")
    sm.create_feature_group(
        FeatureGroupName=name, RecordIdentifierFeatureName="id", EventTimeFeatureName="t",
        FeatureDefinitions=[{"FeatureName": "id", "FeatureType": "String"},
                            {"FeatureName": "t", "FeatureType": "String"}],
        OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://%s/fs" % unique("nobucket")}},
        RoleArn=ROLE_ARN)
    wait_for(lambda: sm.describe_feature_group(FeatureGroupName=name)["FeatureGroupStatus"] == "Created",
             30, "the group to be Created")
    nojs_driver.get(base + "/feature-groups/" + name + "?record=x")
    assert "does not have an OnlineStore" in by_css(nojs_driver, "#record-error").text
    assert cells(row(nojs_driver, "id")) == {"name": "id", "type": "String", "collection": ""}
    try:
        sm.delete_feature_group(FeatureGroupName=name)
    except ClientError:
        pass
