"""The workshop walk-through by clicks alone, on a sagebox that holds nothing yet: create a bucket
and upload the digits sample in the S3 view, create a Linear Learner training job with the form,
watch it on its page, create the model from the finished job, an endpoint configuration and an
endpoint, test-invoke it with a row of test data and read the prediction, run a batch transform
and open its output in the S3 view, then delete the endpoint. boto3 only checks what the clicks
did. Each step leaves a screenshot in tests/console/artifacts/walkthrough-*.png."""

import csv
import json
import os
from pathlib import Path

import boto3
import botocore.config
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select

from browser import (accept_confirm, body_text, by_css, path_of, reload_until, row, serving,
                     shot, wait_for)
from support import REGION, docker_answers, unique

REPO = Path(__file__).resolve().parents[2]
DIGITS = REPO / "fixtures" / "digits"

pytestmark = pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true",
                                reason="no Docker engine answers")

_step = [0]


@pytest.fixture(scope="module")
def empty(tmp_path_factory):
    """A sagebox of its own, holding nothing yet (the session's server has other tests' things)."""
    yield from serving(tmp_path_factory, "walkthrough")


def client(server, service):
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name=REGION)
    return session.client(service, endpoint_url=server.url, region_name=REGION,
                          config=botocore.config.Config(retries={"total_max_attempts": 1}))


def step(driver, what):
    _step[0] += 1
    shot(driver, "walkthrough-%02d-%s" % (_step[0], what))


def find(driver, selector):
    return wait_for(lambda: by_css(driver, selector), 20, selector)


def loaded(driver):
    return driver.execute_script("return document.readyState") == "complete"


def click(driver, selector):
    """Clicks; a link is followed until the new page has loaded."""
    element = find(driver, selector)
    before, link = driver.current_url, element.tag_name == "a"
    element.click()
    if link:
        wait_for(lambda: driver.current_url != before and loaded(driver), 20, "the page " + selector + " opens")


def field(driver, name):
    return find(driver, "#field-" + name.replace(".", "\\."))


def type_into(driver, name, value):
    f = field(driver, name)
    f.clear()
    f.send_keys(value)


def choose(driver, name, value):
    Select(field(driver, name)).select_by_value(value)


def nav(driver, section):
    click(driver, 'nav#nav a[href$="/_sagebox/%s"]' % section)


def badge(driver):
    return by_css(driver, "main span.badge").text.strip()


def upload(driver, folder, path):
    """The S3 view's upload panel: a folder under the current prefix and a file."""
    type_folder = find(driver, "#upload-folder")
    type_folder.clear()
    type_folder.send_keys(folder)
    by_css(driver, "#upload-file").send_keys(str(path))
    click(driver, "#upload-submit")
    # the page reloads when the upload is complete, listing the folder
    wait_for(lambda: folder in [a.text.strip() for a in driver.find_elements(By.CSS_SELECTOR, "a.prefix")],
             60, "the upload of " + path.name)


def test_the_workshop_walkthrough_by_clicks(empty, driver, tmp_path):
    base = empty.url + "/_sagebox"
    sm, s3 = client(empty, "sagemaker"), client(empty, "s3")
    # nothing but the sample buckets the example notebooks read
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []
    assert sm.list_models()["Models"] == [] and sm.list_endpoints()["Endpoints"] == []
    bucket = unique("workshop")
    job = unique("digits-ll")
    endpoint = unique("digits-ep")
    transform = unique("digits-batch")

    # test rows without their label, as an endpoint and a batch transform take them
    with open(DIGITS / "test.csv") as f:
        test_rows = [r[1:] for r in csv.reader(f)][:50]
    batch = tmp_path / "digits-test.csv"
    batch.write_text("".join(",".join(r) + "\n" for r in test_rows))

    driver.get(base + "/")
    step(driver, "dashboard")

    # 1. S3: a bucket, the training data and the batch input
    nav(driver, "s3")
    type_into(driver, "Bucket", bucket)
    click(driver, "#create-submit")
    wait_for(lambda: path_of(driver) == "/_sagebox/s3/" + bucket, 10, "the new bucket's page")
    upload(driver, "train/", DIGITS / "train.csv")
    upload(driver, "batch/", batch)
    step(driver, "s3-uploaded")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert sorted(keys) == ["batch/digits-test.csv", "train/train.csv"], keys

    # 2. the training job, by the form
    nav(driver, "training-jobs")
    click(driver, "a#create-training-job")
    click(driver, 'a.algorithm[data-algorithm="linear-learner"]')
    type_into(driver, "TrainingJobName", job)
    type_into(driver, "hp.feature_dim", "64")
    choose(driver, "hp.predictor_type", "multiclass_classifier")
    type_into(driver, "hp.num_classes", "10")
    type_into(driver, "hp.epochs", "5")
    type_into(driver, "channel.0.S3Uri", "s3://%s/train/" % bucket)
    choose(driver, "channel.0.ContentType", "text/csv")
    type_into(driver, "OutputPath", "s3://%s/output/" % bucket)
    step(driver, "training-form")
    driver.execute_script("window.scrollTo(0, 0)")
    step(driver, "training-form-top")
    click(driver, "#create-submit")
    wait_for(lambda: path_of(driver) == "/_sagebox/training-jobs/" + job, 20, "the job's page")
    step(driver, "training-started")
    # the page follows the job by itself (live logs, reloaded when it ends)
    wait_for(lambda: badge(driver) in ("Completed", "Failed", "Stopped"), 600, "the job to end",
             interval=1)
    assert badge(driver) == "Completed", body_text(driver)[-3000:]
    assert by_css(driver, "section#logs pre.log").text.strip(), "no log lines on the page"
    step(driver, "training-completed")
    d = sm.describe_training_job(TrainingJobName=job)
    assert d["HyperParameters"]["feature_dim"] == "64", d["HyperParameters"]
    assert d["HyperParameters"]["predictor_type"] == "multiclass_classifier"
    assert d["InputDataConfig"][0]["ContentType"] == "text/csv"

    # 3. the model from the finished job
    click(driver, "a#create-model")
    assert by_css(driver, "#field-ModelDataUrl").get_attribute("value") == \
        d["ModelArtifacts"]["S3ModelArtifacts"]
    step(driver, "model-form")
    click(driver, "#create-submit")
    wait_for(lambda: path_of(driver).startswith("/_sagebox/models/"), 20, "the model's page")
    model = path_of(driver).rsplit("/", 1)[1]
    step(driver, "model")

    # 4. an endpoint configuration and an endpoint
    click(driver, "a#create-endpoint-config")
    type_into(driver, "EndpointConfigName", endpoint + "-config")
    assert Select(by_css(driver, "#field-variant\\.0\\.ModelName")).first_selected_option \
        .get_attribute("value") == model
    step(driver, "endpoint-config-form")
    click(driver, "#create-submit")
    wait_for(lambda: path_of(driver) == "/_sagebox/endpoint-configs/%s-config" % endpoint, 20,
             "the configuration's page")
    click(driver, "a#create-endpoint")
    type_into(driver, "EndpointName", endpoint)
    step(driver, "endpoint-form")
    click(driver, "#create-submit")
    wait_for(lambda: path_of(driver) == "/_sagebox/endpoints/" + endpoint, 20, "the endpoint's page")
    reload_until(driver, lambda: badge(driver) in ("InService", "Failed"), 300,
                 "the endpoint to be in service")
    assert badge(driver) == "InService", body_text(driver)[-2000:]
    step(driver, "endpoint-in-service")

    # 5. a test invocation with a row of test data: a prediction comes back
    content_type = by_css(driver, "form#invoke input[name=ContentType]")
    content_type.clear()
    content_type.send_keys("text/csv")
    box = by_css(driver, "form#invoke textarea[name=Body]")
    box.clear()
    box.send_keys(",".join(test_rows[0]))
    click(driver, "button#invoke-submit")
    out = wait_for(lambda: by_css(driver, "section#invoke-result pre.body").text.strip(), 60,
                   "the prediction")
    prediction = json.loads(out)["predictions"][0]
    assert 0 <= prediction["predicted_label"] <= 9, prediction
    assert by_css(driver, "section#invoke-result .status").text.strip() == "200"
    step(driver, "endpoint-invoked")

    # 6. a batch transform of the test rows, its output opened in the S3 view
    nav(driver, "models")
    click(driver, 'tr[data-name="%s"] a' % model)
    click(driver, "a#create-transform-job")
    type_into(driver, "TransformJobName", transform)
    type_into(driver, "S3Uri", "s3://%s/batch/" % bucket)
    type_into(driver, "ContentType", "text/csv")
    choose(driver, "SplitType", "Line")
    type_into(driver, "Accept", "application/jsonlines")
    choose(driver, "AssembleWith", "Line")
    type_into(driver, "OutputPath", "s3://%s/batch-out/" % bucket)
    step(driver, "transform-form")
    click(driver, "#create-submit")
    wait_for(lambda: path_of(driver) == "/_sagebox/transform-jobs/" + transform, 20,
             "the transform job's page")
    reload_until(driver, lambda: badge(driver) in ("Completed", "Failed", "Stopped"), 300,
                 "the transform job to end")
    assert badge(driver) == "Completed", body_text(driver)[-2000:]
    step(driver, "transform-completed")
    click(driver, "a#browse-output")
    out_key = "batch-out/digits-test.csv.out"
    wait_for(lambda: row(driver, out_key, attr="data-key"), 20, "the output object in the S3 view")
    click(driver, 'tr[data-key="%s"] a' % out_key)
    step(driver, "transform-output")
    lines = s3.get_object(Bucket=bucket, Key=out_key)["Body"].read().decode().strip().splitlines()
    assert len(lines) == len(test_rows), lines[:3]
    assert all(0 <= json.loads(line)["predicted_label"] <= 9 for line in lines), lines[:3]

    # 7. the endpoint deleted, with its confirmation step
    nav(driver, "endpoints")
    click(driver, 'tr[data-name="%s"] a' % endpoint)
    click(driver, "a#delete")
    step(driver, "endpoint-delete-confirm")
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
    click(driver, "#confirm-delete-submit")
    accept_confirm(driver)
    wait_for(lambda: path_of(driver) == "/_sagebox/endpoints", 20, "the endpoints list")
    reload_until(driver, lambda: row(driver, endpoint) is None, 60, "the endpoint's row to go")
    step(driver, "endpoint-deleted")
    names = [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]
    assert endpoint not in names, names
