"""The console's "Create training job" form in a real (headless) Chromium: a Linear Learner job on
the digits data created by clicks only and followed to Completed; bad values (a hyperparameter
the algorithm would refuse, a job name AWS refuses) shown next to their fields with the values
kept and nothing created; "Clone" filling the form from a job (and the clone's job matching it);
the form used without JavaScript.

Data is uploaded with boto3; everything else is clicks. Screenshots go to tests/console/artifacts/."""

import os
import re
import urllib.parse
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select

from browser import all_css, by_css, css_str, path_of, shot, wait_for
from support import ROLE_ARN, docker_answers, unique

needs_docker = pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true",
                                  reason="no Docker engine answers")

DIGITS = Path(__file__).resolve().parents[2] / "fixtures" / "digits"
FORM = "/_sagebox/create/training-job"  # its path
CREATE = "/create/training-job"  # under `base`
LL_IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"


@pytest.fixture(scope="module")
def digits(s3):
    """A bucket holding the digits fixture under digits/train/ and digits/validation/."""
    bucket = unique("trainform")
    s3.create_bucket(Bucket=bucket)
    for split in ("train", "validation"):
        s3.put_object(Bucket=bucket, Key=f"digits/{split}/{split}.csv",
                      Body=(DIGITS / f"{split}.csv").read_bytes())
    return bucket


def field(driver, name):
    return by_css(driver, "#field-" + name.replace(".", "\\."))


def fill(driver, name, value):
    el = field(driver, name)
    el.clear()
    el.send_keys(value)
    return el


def choose(driver, name, value):
    Select(field(driver, name)).select_by_value(value)


def errors_for(driver, name):
    return [e.text for e in all_css(driver, "p.field-error[data-for=%s]" % css_str(name))]


def job_names(sm):
    return {j["TrainingJobName"] for j in sm.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]}


def fill_linear_learner(driver, name, bucket, epochs="2"):
    fill(driver, "TrainingJobName", name)
    fill(driver, "hp.feature_dim", "64")
    choose(driver, "hp.predictor_type", "multiclass_classifier")
    fill(driver, "hp.num_classes", "10")
    fill(driver, "hp.epochs", epochs)
    fill(driver, "hp.mini_batch_size", "200")
    fill(driver, "channel.0.S3Uri", f"s3://{bucket}/digits/train/")
    choose(driver, "channel.0.ContentType", "text/csv")
    fill(driver, "channel.1.S3Uri", f"s3://{bucket}/digits/validation/")
    choose(driver, "channel.1.ContentType", "text/csv")
    fill(driver, "OutputPath", f"s3://{bucket}/output/")
    choose(driver, "InstanceType", "ml.m5.large")


def submit(driver):
    by_css(driver, "button#create-submit").click()


def job_status(driver):
    badges = all_css(driver, "main span.badge")
    return badges[0].text.strip() if badges else None


@needs_docker
def test_a_linear_learner_job_is_created_by_clicks_and_completes(base, sm, digits, driver):
    driver.get(base + "/training-jobs")
    by_css(driver, "a#create-training-job").click()
    wait_for(lambda: path_of(driver) == FORM, 10, "the create form")
    # the algorithm choice: the built-ins sagebox emulates and a custom image; Linear Learner first
    links = {a.get_attribute("data-algorithm") for a in all_css(driver, "a.algorithm")}
    assert {"linear-learner", "xgboost", "kmeans", "pca", "custom"} <= links, links
    assert field(driver, "Algorithm").get_attribute("value") == "linear-learner"
    by_css(driver, 'a.algorithm[data-algorithm="xgboost"]').click()
    wait_for(lambda: field(driver, "Algorithm").get_attribute("value") == "xgboost", 10, "XGBoost")
    assert by_css(driver, "#field-hp\\.num_round")
    by_css(driver, 'a.algorithm[data-algorithm="linear-learner"]').click()
    wait_for(lambda: field(driver, "Algorithm").get_attribute("value") == "linear-learner", 10,
             "Linear Learner")
    assert by_css(driver, "#training-image").text == LL_IMAGE
    # required hyperparameters are marked, defaults filled in
    label = by_css(driver, 'label[for="field-hp.feature_dim"]')
    assert label.find_elements(By.CSS_SELECTOR, "span.required"), label.get_attribute("outerHTML")
    assert field(driver, "hp.epochs").get_attribute("value") == "15"
    assert field(driver, "hp.mini_batch_size").get_attribute("value") == "1000"
    # the S3 suggestions hold the bucket and its top-level prefix
    options = {o.get_attribute("value") for o in all_css(driver, "datalist#s3-prefixes option")}
    assert f"s3://{digits}/" in options and f"s3://{digits}/digits/" in options, options
    assert field(driver, "channel.0.S3Uri").get_attribute("list") == "s3-prefixes"
    browse = by_css(driver, "a#browse-s3")
    assert browse.get_attribute("target") == "_blank"
    assert urllib.parse.urlsplit(browse.get_attribute("href")).path == "/_sagebox/s3"
    ctypes = [o.get_attribute("value") for o in Select(field(driver, "channel.0.ContentType")).options]
    assert "text/csv" in ctypes and "application/x-recordio-protobuf" in ctypes, ctypes
    # GPU instance types say whether this host has a GPU to give them
    gpu_type = [o.text for o in Select(field(driver, "InstanceType")).options
                if o.get_attribute("value") == "ml.p3.2xlarge"]
    assert gpu_type and re.search(r"\((no GPU here|\d+ GPUs?)\)$", gpu_type[0]), gpu_type
    modes = [o.get_attribute("value") for o in Select(field(driver, "channel.0.InputMode")).options]
    assert modes == ["File", "Pipe"], modes

    name = unique("ll-form")
    fill_linear_learner(driver, name, digits)
    shot(driver, "trainform-01-filled")
    submit(driver)
    wait_for(lambda: path_of(driver) == "/_sagebox/training-jobs/" + name, 30, "the job's page")
    shot(driver, "trainform-02-job-page")

    d = sm.describe_training_job(TrainingJobName=name)
    assert d["AlgorithmSpecification"]["TrainingImage"] == LL_IMAGE
    hp = d["HyperParameters"]
    for k, v in {"feature_dim": "64", "predictor_type": "multiclass_classifier",
                 "num_classes": "10", "epochs": "2", "mini_batch_size": "200"}.items():
        assert hp.get(k) == v, (k, hp)
    channels = {c["ChannelName"]: c for c in d["InputDataConfig"]}
    assert set(channels) == {"train", "validation"}, channels
    assert channels["train"]["ContentType"] == "text/csv"
    assert channels["train"]["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://{digits}/digits/train/"
    assert channels["train"]["InputMode"] == "File"
    assert d["OutputDataConfig"]["S3OutputPath"] == f"s3://{digits}/output/"
    assert d["ResourceConfig"]["InstanceType"] == "ml.m5.large"
    assert d["ResourceConfig"]["InstanceCount"] == 1
    assert d["StoppingCondition"]["MaxRuntimeInSeconds"] == 86400
    assert d["RoleArn"].endswith(":role/SageMakerRole")

    def done():
        driver.refresh()
        status = job_status(driver)
        return status if status in ("Completed", "Failed", "Stopped") else None

    final = wait_for(done, 300, "the job to finish", interval=3)
    shot(driver, "trainform-03-completed")
    assert final == "Completed", sm.describe_training_job(TrainingJobName=name).get("FailureReason")
    model = by_css(driver, "a#create-model")
    assert urllib.parse.urlsplit(model.get_attribute("href")).query == "training_job=" + name
    clone = by_css(driver, "a#clone")
    assert urllib.parse.urlsplit(clone.get_attribute("href")).query == "clone=" + name


def test_bad_values_show_errors_next_to_their_fields_and_create_nothing(base, sm, digits, driver):
    before = job_names(sm)
    driver.get(base + CREATE)
    fill_linear_learner(driver, "bad name!", digits)
    fill(driver, "hp.feature_dim", "abc")
    submit(driver)
    wait_for(lambda: all_css(driver, "p.field-error"), 15, "the errors")
    shot(driver, "trainform-04-errors")
    assert path_of(driver) == FORM
    # the algorithm's own check, next to the hyperparameter
    fd = errors_for(driver, "hp.feature_dim")
    assert any("feature_dim must be a positive integer" in e and "'abc'" in e for e in fd), fd
    # AWS's validation message, next to the name
    tn = errors_for(driver, "TrainingJobName")
    assert any("'bad name!'" in e and "trainingJobName" in e
               and "Member must satisfy regular expression pattern" in e for e in tn), tn
    # the values as typed are kept
    assert field(driver, "TrainingJobName").get_attribute("value") == "bad name!"
    assert field(driver, "hp.feature_dim").get_attribute("value") == "abc"
    assert field(driver, "hp.num_classes").get_attribute("value") == "10"
    assert Select(field(driver, "hp.predictor_type")).first_selected_option.get_attribute(
        "value") == "multiclass_classifier"
    assert field(driver, "channel.0.S3Uri").get_attribute("value") == f"s3://{digits}/digits/train/"
    assert field(driver, "hp.feature_dim").get_attribute("aria-invalid") == "true"

    # hyperparameters fixed: the API itself refuses the name, in AWS's words, next to the field
    fill(driver, "hp.feature_dim", "64")
    fill(driver, "hp.num_classes", "1")
    submit(driver)
    wait_for(lambda: errors_for(driver, "hp.num_classes"), 15, "the num_classes error")
    assert any("num_classes must be between 3 and 1000000" in e for e in errors_for(driver, "hp.num_classes"))
    fill(driver, "hp.num_classes", "10")
    submit(driver)
    wait_for(lambda: errors_for(driver, "TrainingJobName") and not errors_for(driver, "hp.num_classes"),
             15, "the API's error alone")
    tn = errors_for(driver, "TrainingJobName")
    assert any("Member must satisfy regular expression pattern" in e for e in tn), tn
    assert not errors_for(driver, "hp.feature_dim")
    # a bad output path: AWS's message on the output field
    fill(driver, "TrainingJobName", unique("never"))
    never = field(driver, "TrainingJobName").get_attribute("value")
    fill(driver, "OutputPath", "ftp://nowhere/")
    submit(driver)
    wait_for(lambda: errors_for(driver, "OutputPath"), 15, "the output path error")
    assert any("outputDataConfig.s3OutputPath" in e for e in errors_for(driver, "OutputPath"))
    shot(driver, "trainform-05-api-error")

    assert job_names(sm) == before, "a refused form created a training job"
    assert never not in job_names(sm)


def test_the_server_answers_a_refused_form_with_400(base, sagebox, sm, digits):
    """The same refusal seen on the wire: 400, the form again, no job."""
    s = requests.Session()
    page = s.get(base + CREATE, timeout=30)
    assert page.status_code == 200
    token = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
    name = unique("wire")
    data = {"_csrf": token, "Algorithm": "linear-learner", "TrainingJobName": name,
            "hp.feature_dim": "abc", "hp.predictor_type": "regressor",
            "channel.0.Name": "train", "channel.0.S3Uri": f"s3://{digits}/digits/train/",
            "OutputPath": f"s3://{digits}/output/", "InstanceType": "ml.m5.large",
            "InstanceCount": "1", "VolumeSizeInGB": "10"}
    r = s.post(base + CREATE, data=data, headers={"Origin": sagebox.url}, allow_redirects=False,
               timeout=30)
    assert r.status_code == 400, r.status_code
    assert 'data-for="hp.feature_dim"' in r.text
    assert name not in job_names(sm)
    # without the token (another site's form) nothing happens either
    del data["_csrf"]
    data["hp.feature_dim"] = "64"
    r = s.post(base + CREATE, data=data, headers={"Origin": "http://evil.example"},
               allow_redirects=False, timeout=30)
    assert r.status_code == 403, r.status_code
    assert name not in job_names(sm)


def test_clone_fills_the_form_from_a_job(base, sm, digits, driver):
    source = unique("clone-src")
    sm.create_training_job(
        TrainingJobName=source, RoleArn=ROLE_ARN,
        AlgorithmSpecification={"TrainingImage": LL_IMAGE, "TrainingInputMode": "File"},
        HyperParameters={"feature_dim": "64", "predictor_type": "multiclass_classifier",
                         "num_classes": "10", "epochs": "3", "use_bias": "false"},
        InputDataConfig=[
            {"ChannelName": "train", "ContentType": "text/csv", "InputMode": "File",
             "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                             "S3Uri": f"s3://{digits}/nothing-here/",
                                             "S3DataDistributionType": "ShardedByS3Key"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{digits}/clone-output/"},
        ResourceConfig={"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 1200},
        Tags=[{"Key": "team", "Value": "blue"}])
    driver.get(base + "/training-jobs/" + source)
    by_css(driver, "a#clone").click()
    wait_for(lambda: path_of(driver) == FORM, 10, "the form")
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(driver.current_url).query)["clone"] == [source]
    shot(driver, "trainform-06-clone")
    value = lambda n: field(driver, n).get_attribute("value")  # noqa: E731
    assert value("Algorithm") == "linear-learner"
    assert value("TrainingJobName") == source + "-clone"
    assert value("hp.feature_dim") == "64"
    assert value("hp.epochs") == "3"
    assert value("hp.num_classes") == "10"
    assert value("hp.predictor_type") == "multiclass_classifier"
    assert value("hp.mini_batch_size") == "", "a hyperparameter the job did not set stays unset"
    assert "use_bias=false" in value("HyperParameters")
    assert value("channel.0.S3Uri") == f"s3://{digits}/nothing-here/"
    assert value("channel.0.S3DataDistributionType") == "ShardedByS3Key"
    assert value("channel.1.S3Uri") == ""
    assert value("OutputPath") == f"s3://{digits}/clone-output/"
    assert value("InstanceType") == "ml.c5.xlarge"
    assert value("VolumeSizeInGB") == "5"
    assert value("MaxRuntimeInSeconds") == "1200"
    assert "team=blue" in value("Tags")
    # switching the algorithm keeps the clone in the links
    href = by_css(driver, 'a.algorithm[data-algorithm="custom"]').get_attribute("href")
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(href).query) == {
        "clone": [source], "algorithm": ["custom"]}, href

    submit(driver)
    clone = source + "-clone"
    wait_for(lambda: path_of(driver) == "/_sagebox/training-jobs/" + clone, 30, "the clone's page")
    a = sm.describe_training_job(TrainingJobName=source)
    b = sm.describe_training_job(TrainingJobName=clone)
    for member in ("AlgorithmSpecification", "HyperParameters", "InputDataConfig",
                   "OutputDataConfig", "ResourceConfig", "StoppingCondition", "RoleArn"):
        assert a[member] == b[member], (member, a[member], b[member])
    tags = sm.list_tags(ResourceArn=b["TrainingJobArn"])["Tags"]
    assert {"Key": "team", "Value": "blue"} in tags, tags

    # the same job as a custom image: its image and every hyperparameter carried over
    driver.get(href)
    assert field(driver, "Algorithm").get_attribute("value") == "custom"
    assert field(driver, "TrainingImage").get_attribute("value") == LL_IMAGE
    lines = field(driver, "HyperParameters").get_attribute("value").split()
    assert sorted(lines) == ["epochs=3", "feature_dim=64", "num_classes=10",
                             "predictor_type=multiclass_classifier", "use_bias=false"], lines


def test_a_custom_image_job_is_cloned_as_custom(base, sm, digits, driver):
    source = unique("byo-src")
    sm.create_training_job(
        TrainingJobName=source, RoleArn=ROLE_ARN,
        AlgorithmSpecification={"TrainingImage": "sagebox-test/never-built:1",
                                "TrainingInputMode": "File"},
        HyperParameters={"epochs": "4", "lr": "0.5"},
        OutputDataConfig={"S3OutputPath": f"s3://{digits}/byo/"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    driver.get(base + CREATE + "?clone=" + urllib.parse.quote(source))
    assert field(driver, "Algorithm").get_attribute("value") == "custom"
    assert field(driver, "TrainingImage").get_attribute("value") == "sagebox-test/never-built:1"
    lines = field(driver, "HyperParameters").get_attribute("value").split()
    assert sorted(lines) == ["epochs=4", "lr=0.5"], lines
    assert not all_css(driver, "#field-hp\\.feature_dim")


def test_the_form_works_without_javascript(base, sm, digits, nojs_driver):
    d = nojs_driver
    d.get(base + CREATE)
    by_css(d, "form#create-training-job")
    by_css(d, 'a.algorithm[data-algorithm="kmeans"]').click()
    wait_for(lambda: field(d, "Algorithm").get_attribute("value") == "kmeans", 10, "K-Means")
    assert by_css(d, "#training-image").text.endswith("/kmeans:1")
    name = unique("nojs")
    fill(d, "TrainingJobName", name)
    fill(d, "hp.k", "10")
    fill(d, "hp.feature_dim", "64")
    fill(d, "channel.0.S3Uri", f"s3://{digits}/digits/validation/")
    fill(d, "OutputPath", f"s3://{digits}/kmeans/")
    shot(d, "trainform-07-nojs")
    submit(d)
    wait_for(lambda: path_of(d) == "/_sagebox/training-jobs/" + name, 30, "the job's page")
    desc = sm.describe_training_job(TrainingJobName=name)
    assert desc["AlgorithmSpecification"]["TrainingImage"].endswith("/kmeans:1")
    assert desc["HyperParameters"]["k"] == "10"
    assert desc["HyperParameters"]["init_method"] == "random"
    assert desc["InputDataConfig"][0]["ChannelName"] == "train"
    assert desc["InputDataConfig"][0]["ContentType"] == "text/csv"
    # the job is not the point here: stop it so it does not hold the host
    sm.stop_training_job(TrainingJobName=name)


BUILTIN_SETTINGS = {
    # what each needs beyond the form's defaults; CSV with the label first (k-means and PCA read
    # every column as a feature, so 65 of them)
    "xgboost": {"hp.num_round": "5", "hp.objective": "multi:softmax", "hp.num_class": "10"},
    "kmeans": {"hp.k": "10", "hp.feature_dim": "65"},
    "pca": {"hp.feature_dim": "65", "hp.num_components": "5", "hp.mini_batch_size": "100"},
}


def _form_fields(html):
    """The form's fields as the browser would post them (inputs, selected options, textareas)."""
    form = html[html.index('<form id="create-training-job"'):]
    form = form[:form.index("</form>")]
    out = {}
    for tag in re.findall(r"<input [^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            out[name.group(1)] = value.group(1) if value else ""
    for name, body in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body) or \
            re.search(r'<option value="([^"]*)"', body)
        out[name] = chosen.group(1) if chosen else ""
    for name, body in re.findall(r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        out[name] = body
    return {k: v.replace("&quot;", '"').replace("&amp;", "&") for k, v in out.items()}


@needs_docker
@pytest.mark.parametrize("algorithm", sorted(BUILTIN_SETTINGS))
def test_each_builtin_trains_with_the_forms_defaults(algorithm, base, sagebox, sm, digits):
    """The defaults the form fills in are ones the algorithm accepts: the form's page posted as a
    browser would, with only the required values added, gives a job that completes."""
    s = requests.Session()
    page = s.get(base + CREATE + "?algorithm=" + algorithm, timeout=30)
    assert page.status_code == 200
    data = _form_fields(page.text)
    assert data["Algorithm"] == algorithm
    name = unique(algorithm)
    data.update(BUILTIN_SETTINGS[algorithm])
    data.update({"TrainingJobName": name, "channel.0.S3Uri": f"s3://{digits}/digits/train/",
                 "channel.0.ContentType": "text/csv", "OutputPath": f"s3://{digits}/{algorithm}/"})
    r = s.post(base + CREATE, data=data, headers={"Origin": sagebox.url}, allow_redirects=False,
               timeout=30)
    assert r.status_code == 303, re.findall(r'<p class="(?:field-)?error"[^>]*>([^<]*)', r.text)
    assert r.headers["Location"] == "/_sagebox/training-jobs/" + name

    def finished():
        d = sm.describe_training_job(TrainingJobName=name)
        return d if d["TrainingJobStatus"] in ("Completed", "Failed", "Stopped") else None

    d = wait_for(finished, 300, f"the {algorithm} job to finish", interval=2)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
