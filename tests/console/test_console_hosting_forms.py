"""The console's hosting forms in a real (headless) Chromium: a model created from a finished training
job (image, artifact and role filled in), an endpoint configuration from the model's page, an
endpoint from the configuration's page, served, updated to a second configuration and deleted with
a confirmation step; a batch transform job created from a model whose output is browsable in the S3
view; bad values answered with AWS's own error next to the field, the typed values kept and nothing
created; a delete page that deletes nothing until its button is pressed; every form usable without
JavaScript.

Everything is created by clicks; boto3 (`sm`) only prepares a training job and checks what exists.
Screenshots go to tests/console/artifacts/ (hosting-*.png)."""

import os
import time
import urllib.parse

import pytest
import requests
from botocore.exceptions import ClientError
from selenium.webdriver.support.select import Select

from browser import all_css, body_text, by_css, path_of, row, shot, wait_for
from support import ROLE_ARN, docker_answers, model_tar_gz, unique

needs_docker = pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true",
                                  reason="no Docker engine answers")


# ----- helpers -----

def reload_until(driver, predicate, timeout, what, every=2.0):
    last = time.monotonic()

    def check():
        nonlocal last
        if time.monotonic() - last >= every:
            driver.refresh()
            last = time.monotonic()
        return predicate()

    return wait_for(check, timeout, what, interval=0.5)


def fill(driver, name, value):
    box = by_css(driver, "#field-" + name.replace(".", "\\."))
    box.clear()
    box.send_keys(value)
    return box


def field(driver, name):
    return by_css(driver, "#field-" + name.replace(".", "\\."))


def choose(driver, name, value):
    select = Select(field(driver, name))
    for option in select.options:
        if option.get_attribute("value") == value:
            option.click()
            return
    raise AssertionError("no option %r for %s in %s" % (
        value, name, [o.get_attribute("value") for o in select.options]))


def selected(driver, name):
    return Select(field(driver, name)).first_selected_option.get_attribute("value")


def error_for(driver, name):
    found = all_css(driver, 'p.field-error[data-for="%s"]' % name)
    return " ".join(e.text for e in found)


def submit(driver):
    by_css(driver, "button#create-submit").click()


def at(driver, path, timeout=30):
    wait_for(lambda: path_of(driver) == path, timeout, "the page " + path)


def click(driver, selector):
    by_css(driver, selector).click()


def gone(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


# ----- fixtures -----

@pytest.fixture(scope="module")
def bucket(s3):
    name = unique("hostforms")
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def byo_model(sm, s3, bucket, byo_image):
    """A model of the byo image (its container serves `1,2,3` as `6.0`), made with boto3."""
    s3.put_object(Bucket=bucket, Key="byo/model.tar.gz", Body=model_tar_gz())
    name = unique("model")
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE_ARN,
                    PrimaryContainer={"Image": byo_image,
                                      "ModelDataUrl": "s3://%s/byo/model.tar.gz" % bucket})
    return name


@pytest.fixture(scope="module")
def trained(sm, s3, bucket, byo_image):
    """A completed training job of the byo image (it leaves a model.tar.gz)."""
    s3.put_object(Bucket=bucket, Key="train/a.csv", Body=b"1,2\n")
    name = unique("job")
    sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": byo_image, "TrainingInputMode": "File"},
        RoleArn=ROLE_ARN, HyperParameters={"mode": "ok"},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://%s/train" % bucket,
            "S3DataDistributionType": "FullyReplicated"}}}],
        OutputDataConfig={"S3OutputPath": "s3://%s/output" % bucket},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 300})
    d = wait_for(lambda: (lambda d: d if d["TrainingJobStatus"] in ("Completed", "Failed", "Stopped")
                          else None)(sm.describe_training_job(TrainingJobName=name)),
                 300, "the training job", interval=0.5)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    return d


# ----- bad values -----

def test_a_bad_model_name_shows_aws_error_next_to_the_field_and_creates_nothing(sm, base, byo_image,
                                                                              driver):
    driver.get(base + "/models")
    click(driver, "a#create-model-link")
    at(driver, "/_sagebox/create/model")
    bad = "bad name_" + unique("m")
    fill(driver, "ModelName", bad)
    fill(driver, "Image", byo_image)
    fill(driver, "ModelDataUrl", "s3://nowhere/model.tar.gz")
    fill(driver, "Environment", "A=1\nB=two")
    before = {m["ModelName"] for m in sm.list_models(MaxResults=100)["Models"]}
    submit(driver)
    message = wait_for(lambda: error_for(driver, "ModelName"), 10, "the error next to ModelName")
    assert "at 'modelName' failed to satisfy constraint" in message, message
    assert "regular expression pattern" in message, message
    # the form is shown again with the values as typed
    assert field(driver, "ModelName").get_attribute("value") == bad
    assert field(driver, "Image").get_attribute("value") == byo_image
    assert field(driver, "ModelDataUrl").get_attribute("value") == "s3://nowhere/model.tar.gz"
    assert field(driver, "Environment").get_attribute("value") == "A=1\nB=two"
    assert field(driver, "ModelName").get_attribute("aria-invalid") == "true"
    assert error_for(driver, "Image") == ""
    shot(driver, "hosting-01-model-bad-name")
    after = {m["ModelName"] for m in sm.list_models(MaxResults=100)["Models"]}
    assert after == before, after - before
    assert gone(lambda: sm.describe_model(ModelName=bad)) == "ValidationException"


def test_an_endpoint_config_naming_a_missing_model_shows_the_error(sm, base, byo_image, byo_model,
                                                                  driver):
    model = unique("doomed")
    sm.create_model(ModelName=model, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": byo_image})
    driver.get(base + "/create/endpoint-config?model=" + q(model))
    assert selected(driver, "variant.0.ModelName") == model
    assert field(driver, "variant.0.VariantName").get_attribute("value") == "AllTraffic"
    assert selected(driver, "variant.0.InstanceType") == "ml.m5.large"
    assert field(driver, "variant.0.InitialInstanceCount").get_attribute("value") == "1"
    config = unique("config")
    fill(driver, "EndpointConfigName", config)
    fill(driver, "variant.0.InitialInstanceCount", "2")
    # the model goes away before the form is sent
    sm.delete_model(ModelName=model)
    submit(driver)
    message = wait_for(lambda: error_for(driver, "variant.0.ModelName"), 10,
                       "the error next to the variant's model")
    assert "Could not find model" in message and model in message, message
    assert field(driver, "EndpointConfigName").get_attribute("value") == config
    assert field(driver, "variant.0.InitialInstanceCount").get_attribute("value") == "2"
    assert selected(driver, "variant.0.ModelName") == model
    shot(driver, "hosting-02-config-missing-model")
    assert gone(lambda: sm.describe_endpoint_config(EndpointConfigName=config)) == "ValidationException"

    # a bad variant name in the second row lands on that row's field
    driver.get(base + "/create/endpoint-config")
    fill(driver, "EndpointConfigName", config)
    choose(driver, "variant.0.ModelName", byo_model)
    choose(driver, "variant.1.ModelName", byo_model)
    fill(driver, "variant.1.VariantName", "bad variant!")
    submit(driver)
    message = wait_for(lambda: error_for(driver, "variant.1.VariantName"), 10,
                       "the error next to the second variant's name")
    assert "at 'productionVariants.2.member.variantName'" in message, message
    assert error_for(driver, "variant.0.VariantName") == ""
    assert field(driver, "variant.1.VariantName").get_attribute("value") == "bad variant!"
    assert gone(lambda: sm.describe_endpoint_config(EndpointConfigName=config)) == "ValidationException"

    # no model in any row: AWS's message about the missing variants
    driver.get(base + "/create/endpoint-config")
    fill(driver, "EndpointConfigName", config)
    submit(driver)
    message = wait_for(lambda: error_for(driver, "variant.0.ModelName"), 10, "the error on row 0")
    assert "productionVariants" in message, message
    assert gone(lambda: sm.describe_endpoint_config(EndpointConfigName=config)) == "ValidationException"


def test_a_serverless_variant(sm, base, byo_model, driver):
    driver.get(base + "/create/endpoint-config?model=" + q(byo_model))
    assert field(driver, "variant.0.InstanceType").is_displayed()
    assert not field(driver, "variant.0.MemorySizeInMB").is_displayed()
    field(driver, "variant.0.Serverless").click()
    # with the script, the row shows the serverless settings instead of the instance ones
    assert not field(driver, "variant.0.InstanceType").is_displayed()
    assert field(driver, "variant.0.MemorySizeInMB").is_displayed()
    config = unique("serverless")
    fill(driver, "EndpointConfigName", config)
    fill(driver, "variant.0.MemorySizeInMB", "4096")
    fill(driver, "variant.0.MaxConcurrency", "3")
    submit(driver)
    at(driver, "/_sagebox/endpoint-configs/" + config)
    [v] = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
    assert v["ServerlessConfig"] == {"MemorySizeInMB": 4096, "MaxConcurrency": 3}, v
    assert "InstanceType" not in v and "InitialInstanceCount" not in v, v

    # a memory size AWS does not offer: its message next to the field, nothing created
    driver.get(base + "/create/endpoint-config?model=" + q(byo_model))
    field(driver, "variant.0.Serverless").click()
    bad = unique("serverless")
    fill(driver, "EndpointConfigName", bad)
    fill(driver, "variant.0.MemorySizeInMB", "99")
    driver.execute_script("document.getElementById('create-endpoint-config').noValidate = true")
    submit(driver)
    message = wait_for(lambda: error_for(driver, "variant.0.MemorySizeInMB"), 10,
                       "the error next to the memory size")
    assert "memorySizeInMB" in message, message
    assert field(driver, "variant.0.Serverless").is_selected()
    assert gone(lambda: sm.describe_endpoint_config(EndpointConfigName=bad)) == "ValidationException"


def test_a_cross_origin_post_creates_nothing(sm, base, byo_image):
    name = unique("xorigin")
    r = requests.post(base + "/create/model", data={"ModelName": name, "Image": byo_image},
                      headers={"Origin": "http://evil.example"}, timeout=10, allow_redirects=False)
    assert r.status_code == 403, r.status_code
    assert gone(lambda: sm.describe_model(ModelName=name)) == "ValidationException"


# ----- the workflow by clicks -----

@needs_docker
def test_training_job_to_served_endpoint_update_and_delete_by_clicks(sm, base, trained, driver):
    job = trained["TrainingJobName"]
    driver.get(base + "/create/model?training_job=" + q(job))
    assert field(driver, "ModelName").get_attribute("value") == job
    assert field(driver, "Image").get_attribute("value") == trained["AlgorithmSpecification"]["TrainingImage"]
    artifact = trained["ModelArtifacts"]["S3ModelArtifacts"]
    assert field(driver, "ModelDataUrl").get_attribute("value") == artifact
    assert field(driver, "ExecutionRoleArn").get_attribute("value") == ROLE_ARN
    fill(driver, "Environment", "MY_ENV=from-the-console")
    shot(driver, "hosting-03-create-model")
    submit(driver)
    at(driver, "/_sagebox/models/" + job)
    m = sm.describe_model(ModelName=job)
    assert m["PrimaryContainer"]["ModelDataUrl"] == artifact
    assert m["PrimaryContainer"]["Environment"] == {"MY_ENV": "from-the-console"}
    # a second model from the same job is offered a name of its own
    driver.get(base + "/create/model?training_job=" + q(job))
    assert field(driver, "ModelName").get_attribute("value") == job + "-model"

    # model page → create endpoint configuration
    driver.get(base + "/models/" + q(job))
    click(driver, "a#create-endpoint-config")
    at(driver, "/_sagebox/create/endpoint-config")
    assert selected(driver, "variant.0.ModelName") == job
    config = unique("cfg-a")
    fill(driver, "EndpointConfigName", config)
    shot(driver, "hosting-04-create-endpoint-config")
    submit(driver)
    at(driver, "/_sagebox/endpoint-configs/" + config)
    c = sm.describe_endpoint_config(EndpointConfigName=config)
    assert [(v["VariantName"], v["ModelName"], v["InstanceType"], v["InitialInstanceCount"])
            for v in c["ProductionVariants"]] == [("AllTraffic", job, "ml.m5.large", 1)]

    # a second configuration, two variants, from the list page
    driver.get(base + "/endpoint-configs")
    click(driver, "a#create-endpoint-config-link")
    at(driver, "/_sagebox/create/endpoint-config")
    config_b = unique("cfg-b")
    fill(driver, "EndpointConfigName", config_b)
    choose(driver, "variant.0.ModelName", job)
    fill(driver, "variant.0.VariantName", "blue")
    fill(driver, "variant.0.InitialVariantWeight", "3")
    choose(driver, "variant.1.ModelName", job)
    fill(driver, "variant.1.VariantName", "green")
    choose(driver, "variant.1.InstanceType", "ml.c5.large")
    submit(driver)
    at(driver, "/_sagebox/endpoint-configs/" + config_b)
    vs = sm.describe_endpoint_config(EndpointConfigName=config_b)["ProductionVariants"]
    assert [(v["VariantName"], v["InstanceType"], v["InitialVariantWeight"]) for v in vs] == [
        ("blue", "ml.m5.large", 3.0), ("green", "ml.c5.large", 1.0)], vs

    # configuration page → create endpoint
    driver.get(base + "/endpoint-configs/" + q(config))
    click(driver, "a#create-endpoint")
    at(driver, "/_sagebox/create/endpoint")
    assert selected(driver, "EndpointConfigName") == config
    endpoint = unique("ep")
    fill(driver, "EndpointName", endpoint)
    shot(driver, "hosting-05-create-endpoint")
    submit(driver)
    at(driver, "/_sagebox/endpoints/" + endpoint)
    try:
        reload_until(driver, lambda: "InService" in by_css(driver, "main p .badge").text, 240,
                     "the endpoint in service")
        assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
        # the model made from the job serves
        box = by_css(driver, "form#invoke textarea[name=Body]")
        box.clear()
        box.send_keys("1,2,3")
        click(driver, "button#invoke-submit")
        wait_for(lambda: by_css(driver, "section#invoke-result pre.body").text.strip() == "6.0", 30,
                 "the invocation's result")
        shot(driver, "hosting-06-endpoint-in-service")

        # an update to a configuration that went away: AWS's message next to the select
        config_c = unique("cfg-c")
        sm.create_endpoint_config(EndpointConfigName=config_c, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": job, "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large"}])
        click(driver, "a#update-endpoint")
        at(driver, "/_sagebox/endpoints/%s/update" % endpoint)
        choose(driver, "EndpointConfigName", config_c)
        sm.delete_endpoint_config(EndpointConfigName=config_c)
        submit(driver)
        message = wait_for(lambda: error_for(driver, "EndpointConfigName"), 10,
                           "the error next to the configuration")
        assert "Could not find endpoint configuration" in message and config_c in message, message
        assert selected(driver, "EndpointConfigName") == config_c
        d = sm.describe_endpoint(EndpointName=endpoint)
        assert (d["EndpointStatus"], d["EndpointConfigName"]) == ("InService", config), d

        # update to the second configuration
        driver.get(base + "/endpoints/" + q(endpoint))
        click(driver, "a#update-endpoint")
        at(driver, "/_sagebox/endpoints/%s/update" % endpoint)
        assert selected(driver, "EndpointConfigName") == config
        current = [o.text for o in Select(field(driver, "EndpointConfigName")).options
                   if o.get_attribute("value") == config]
        assert current and "(current)" in current[0], current
        choose(driver, "EndpointConfigName", config_b)
        shot(driver, "hosting-07-update-endpoint")
        submit(driver)
        at(driver, "/_sagebox/endpoints/" + endpoint)
        wait_for(lambda: (lambda d: d["EndpointStatus"] == "InService" and d["EndpointConfigName"] == config_b
                          and d)(sm.describe_endpoint(EndpointName=endpoint)), 240,
                 "the endpoint on the second configuration", interval=1)
        driver.refresh()
        reload_until(driver, lambda: row(driver, "blue", "data-variant") is not None
                     and row(driver, "green", "data-variant") is not None, 60, "both variants on the page")
        assert config_b in body_text(driver)

        # delete with a confirmation step: the GET deletes nothing
        click(driver, "a#delete")
        at(driver, "/_sagebox/endpoints/%s/delete" % endpoint)
        assert endpoint in body_text(driver)
        shot(driver, "hosting-08-delete-endpoint")
        assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
        click(driver, "button#confirm-delete-submit")
        at(driver, "/_sagebox/endpoints")
        wait_for(lambda: gone(lambda: sm.describe_endpoint(EndpointName=endpoint)), 120,
                 "the endpoint to be gone", interval=1)
        reload_until(driver, lambda: row(driver, endpoint) is None, 60, "the endpoint's row to go")
    finally:
        if not gone(lambda: sm.describe_endpoint(EndpointName=endpoint)):
            sm.delete_endpoint(EndpointName=endpoint)


# ----- batch transform, without JavaScript -----

@needs_docker
def test_transform_job_from_the_model_page_without_javascript(sm, s3, base, bucket, byo_model,
                                                              nojs_driver):
    d = nojs_driver
    s3.put_object(Bucket=bucket, Key="tin/a.csv", Body=b"1,2,3\n4,5,6\n")
    d.get(base + "/models/" + q(byo_model))
    click(d, "a#create-transform-job")
    at(d, "/_sagebox/create/transform-job")
    assert selected(d, "ModelName") == byo_model
    assert field(d, "ContentType").get_attribute("value") == "text/csv"
    assert selected(d, "SplitType") == "Line"
    assert selected(d, "BatchStrategy") == "MultiRecord"
    assert selected(d, "InstanceType") == "ml.m5.large"
    assert field(d, "S3Uri").get_attribute("list") == "s3-prefixes"
    prefixes = [o.get_attribute("value") for o in all_css(d, "datalist#s3-prefixes option")]
    assert "s3://%s/" % bucket in prefixes and "s3://%s/tin/" % bucket in prefixes, prefixes

    # a bad output path: AWS's message next to it, nothing created
    name = unique("tj")
    fill(d, "TransformJobName", name)
    fill(d, "S3Uri", "s3://%s/tin/" % bucket)
    fill(d, "OutputPath", "ftp://nowhere")
    submit(d)
    message = wait_for(lambda: error_for(d, "OutputPath"), 10, "the error next to OutputPath")
    assert "transformOutput.s3OutputPath" in message, message
    assert field(d, "S3Uri").get_attribute("value") == "s3://%s/tin/" % bucket
    assert gone(lambda: sm.describe_transform_job(TransformJobName=name)) == "ValidationException"

    fill(d, "OutputPath", "s3://%s/tout/" % bucket)
    shot(d, "hosting-09-create-transform-nojs")
    submit(d)
    at(d, "/_sagebox/transform-jobs/" + name)
    reload_until(d, lambda: "Completed" in by_css(d, "main p .badge").text
                 or "Failed" in by_css(d, "main p .badge").text, 240, "the transform job to finish")
    t = sm.describe_transform_job(TransformJobName=name)
    assert t["TransformJobStatus"] == "Completed", t.get("FailureReason")
    assert t["BatchStrategy"] == "MultiRecord"
    assert t["TransformInput"]["SplitType"] == "Line"
    click(d, "a#browse-output")
    at(d, "/_sagebox/s3/" + bucket)
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(d.current_url).query)["prefix"] == ["tout/"]
    out = row(d, "tout/a.csv.out", "data-key")
    assert out is not None, body_text(d)
    shot(d, "hosting-10-transform-output")
    obj = s3.get_object(Bucket=bucket, Key="tout/a.csv.out")["Body"].read().decode()
    assert obj.split() == ["6.0", "15.0"], obj


# ----- deletes of models and configurations, without JavaScript -----

def test_model_and_config_deletes_ask_first(sm, base, byo_image, nojs_driver):
    d = nojs_driver
    model = unique("del")
    sm.create_model(ModelName=model, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": byo_image})
    config = unique("delcfg")
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])

    # opening the delete pages deletes nothing
    for path in ("/models/%s/delete" % model, "/endpoint-configs/%s/delete" % config):
        d.get(base + path)
        by_css(d, "form#confirm-delete")
    r = requests.get(base + "/models/%s/delete" % model, timeout=10)
    assert r.status_code == 200
    sm.describe_model(ModelName=model)
    sm.describe_endpoint_config(EndpointConfigName=config)

    d.get(base + "/endpoint-configs/" + q(config))
    click(d, "a#delete")
    at(d, "/_sagebox/endpoint-configs/%s/delete" % config)
    click(d, "button#confirm-delete-submit")
    at(d, "/_sagebox/endpoint-configs")
    assert row(d, config) is None
    assert gone(lambda: sm.describe_endpoint_config(EndpointConfigName=config)) == "ValidationException"

    d.get(base + "/models/" + q(model))
    click(d, "a#delete")
    at(d, "/_sagebox/models/%s/delete" % model)
    shot(d, "hosting-11-delete-model-nojs")
    click(d, "button#confirm-delete-submit")
    at(d, "/_sagebox/models")
    assert row(d, model) is None
    assert gone(lambda: sm.describe_model(ModelName=model)) == "ValidationException"

    # a delete page of something gone says so
    d.get(base + "/models/%s/delete" % model)
    assert "No model named" in body_text(d)

    # a delete the API refuses shows its answer on the confirmation page
    other = unique("del")
    sm.create_model(ModelName=other, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": byo_image})
    d.get(base + "/models/%s/delete" % other)
    sm.delete_model(ModelName=other)
    click(d, "button#confirm-delete-submit")
    error = wait_for(lambda: by_css(d, "p#form-error").text, 10, "the API's refusal")
    assert "Could not find model" in error and other in error, error
    assert path_of(d) == "/_sagebox/models/%s/delete" % other
    by_css(d, "form#confirm-delete")


def test_create_endpoint_form_without_javascript_and_its_errors(sm, base, byo_model, nojs_driver):
    d = nojs_driver
    d.get(base + "/endpoints")
    click(d, "a#create-endpoint-link")
    at(d, "/_sagebox/create/endpoint")
    name = unique("ep")
    fill(d, "EndpointName", name)
    # no configuration chosen: AWS's required-member message
    submit(d)
    message = wait_for(lambda: error_for(d, "EndpointConfigName") or by_css(d, "main").text, 10,
                       "an error")
    assert "endpointConfigName" in message or "EndpointConfigName" in message, message
    assert field(d, "EndpointName").get_attribute("value") == name
    assert gone(lambda: sm.describe_endpoint(EndpointName=name)) == "ValidationException"
    shot(d, "hosting-12-create-endpoint-error-nojs")
