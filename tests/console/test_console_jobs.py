"""The console's processing and hyperparameter tuning job pages: lists with filters, detail pages
(container, cluster, S3 inputs and outputs linked into the S3 view, logs; tuning config, counters,
the best training job, the ranked training jobs and the objective plot), Stop buttons, and markup
in what a user wrote staying text. boto3 creates the jobs; they run fixtures/byo and end at once
unless a test means to stop them."""

import os
import re
import time
import urllib.parse

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from browser import accept_confirm, all_css, body_text, by_css, path_of, row, rows, shot, status_of, wait_for
from support import ROLE_ARN, docker_answers, unique, wait_for_log

pytestmark = pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true",
                                reason="no Docker engine answers")

XSS_IMG = "<img src=x onerror=window.__xss=1>"
XSS_SCRIPT = "<script>window.__xss=1</script>"
TERMINAL = ("Completed", "Failed", "Stopped")
# the launch number of a tuning job's training job, from byo's first line (as tests/clients/test_tuning.py)
NUMBER = {"Name": "number", "Regex": r"job=\S+-(\d{3})-[0-9a-f]{8}"}
WRITE_ARGS = ("import os, sys; print('proc args', sys.argv[1:], flush=True); "
              "os.makedirs('/opt/ml/processing/out', exist_ok=True); "
              "open('/opt/ml/processing/out/args.txt', 'w').write(' '.join(sys.argv[1:]))")


def no_xss(driver):
    time.sleep(0.3)  # an <img onerror> fires once the image has failed to load
    assert driver.execute_script("return window.__xss") is None, "markup ran on " + driver.current_url


def form_of(button):
    return button.find_element(By.XPATH, "./ancestor::form[1]")


@pytest.fixture(scope="module")
def bucket(s3):
    name = unique("cjobs")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="in/data.csv", Body=b"1,2\n")
    return name


def _processing_job(sm, bucket, image, entrypoint, args=(), outputs=True):
    name = unique("proc")
    sm.create_processing_job(
        ProcessingJobName=name,
        AppSpecification={"ImageUri": image, "ContainerEntrypoint": list(entrypoint),
                          **({"ContainerArguments": list(args)} if args else {})},
        ProcessingInputs=[{"InputName": "data", "S3Input": {
            "S3Uri": "s3://%s/in" % bucket, "LocalPath": "/opt/ml/processing/input/data",
            "S3DataType": "S3Prefix", "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}}],
        **({"ProcessingOutputConfig": {"Outputs": [{"OutputName": "result", "S3Output": {
            "S3Uri": "s3://%s/out" % bucket, "LocalPath": "/opt/ml/processing/out",
            "S3UploadMode": "EndOfJob"}}]}} if outputs else {}),
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                               "VolumeSizeInGB": 5}},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
        RoleArn=ROLE_ARN)
    return name


def _wait_processing(sm, name, until=TERMINAL, timeout=300):
    return wait_for(lambda: (lambda d: d if d["ProcessingJobStatus"] in until else None)(
        sm.describe_processing_job(ProcessingJobName=name)), timeout, f"{name} in {until}", interval=0.5)


def _wait_tuning(sm, name, timeout=300):
    return wait_for(lambda: (lambda d: d if d["HyperParameterTuningJobStatus"] in TERMINAL else None)(
        sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)), timeout,
        f"{name} to end", interval=0.5)


@pytest.fixture(scope="module")
def processing_job(sm, bucket, byo_image):
    name = _processing_job(sm, bucket, byo_image, ["python3", "-c", WRITE_ARGS],
                           args=["--tag", XSS_IMG + XSS_SCRIPT])
    d = _wait_processing(sm, name)
    assert d["ProcessingJobStatus"] == "Completed", d.get("FailureReason")
    return d


def test_processing_list_filters_and_links_to_the_job(processing_job, base, driver, nojs_driver):
    name = processing_job["ProcessingJobName"]
    driver.get(base + "/processing-jobs")
    assert status_of(driver, name) == "Completed", status_of(driver, name)
    assert "/_sagebox/processing-jobs" in {urllib.parse.urlsplit(a.get_attribute("href")).path
                                           for a in all_css(driver, "nav#nav a")}
    form = by_css(driver, "form#filter")
    box = form.find_element(By.CSS_SELECTOR, "input[name=name]")
    box.send_keys(name, Keys.ENTER)
    wait_for(lambda: "name=" in driver.current_url, 10, "the filtered list")
    assert rows(driver) == [name], rows(driver)
    driver.get(base + "/processing-jobs?status=Failed&name=" + name)
    assert rows(driver) == [], rows(driver)
    driver.get(base + "/processing-jobs?status=Completed&name=" + name)
    row(driver, name).find_element(By.TAG_NAME, "a").click()
    wait_for(lambda: path_of(driver) == "/_sagebox/processing-jobs/" + name, 10, "the job's page")
    nojs_driver.get(base + "/processing-jobs")
    assert name in rows(nojs_driver)


def test_processing_detail_shows_container_io_and_logs(processing_job, bucket, base, driver, nojs_driver):
    name = processing_job["ProcessingJobName"]
    driver.get(base + "/processing-jobs/" + name)
    no_xss(driver)
    assert "Completed" in by_css(driver, "main p .badge").text
    assert "python3" in by_css(driver, "#entrypoint").text
    assert by_css(driver, "#arguments").text == "--tag " + XSS_IMG + XSS_SCRIPT
    assert "ml.m5.large" in by_css(driver, "table#cluster").text
    times = by_css(driver, "dl#times").text
    assert re.search(r"Ended\s+\d{4}-\d\d-\d\d", times), times
    (inp,) = all_css(driver, "table#inputs tr[data-name]")
    assert "s3://%s/in" % bucket in inp.text and "/opt/ml/processing/input/data" in inp.text
    (out,) = all_css(driver, "table#outputs tr[data-name]")
    assert "s3://%s/out" % bucket in out.text and "EndOfJob" in out.text
    logs = all_css(driver, "section#logs pre.log")
    streams = [p.get_attribute("data-stream") for p in logs]
    assert streams and all(re.fullmatch(re.escape(name) + r"/algo-1-\d{10}", s) for s in streams), streams
    assert "proc args" in "\n".join(p.text for p in logs)
    assert not all_css(driver, "button.stop"), "a Completed job offers Stop"
    shot(driver, "20-processing-detail")
    # the output link opens the S3 view at the output prefix, which holds what the job wrote
    out.find_element(By.CSS_SELECTOR, "a.s3").click()
    wait_for(lambda: path_of(driver) == "/_sagebox/s3/" + bucket, 10, "the S3 view")
    assert "out" in body_text(driver)
    # the raw page carries the arguments as text; without JavaScript the logs are there too
    raw = requests.get(base + "/processing-jobs/" + name, timeout=30).text
    assert XSS_SCRIPT not in raw and XSS_IMG not in raw
    nojs_driver.get(base + "/processing-jobs/" + name)
    assert "proc args" in "\n".join(p.text for p in all_css(nojs_driver, "section#logs pre.log"))


# a container that ends on SIGTERM (a bare `sleep` as PID 1 would ignore it and wait out the grace)
SLEEPER = ("import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); "
           "print('waiting for a stop', flush=True); time.sleep(300)")


def test_processing_stop_button_stops_a_running_job(sm, logs, bucket, byo_image, base, driver):
    name = _processing_job(sm, bucket, byo_image, ["python3", "-c", SLEEPER], outputs=False)
    try:
        wait_for_log(logs, name, "waiting for a stop", kind="Processing")
        driver.get(base + "/processing-jobs/" + name)
        stop = by_css(driver, "button.stop")
        assert form_of(stop).get_attribute("method").lower() == "post"
        stop.click()
        accept_confirm(driver)
        wait_for(lambda: path_of(driver) == "/_sagebox/processing-jobs/" + name, 10, "back on the page")
        d = _wait_processing(sm, name, timeout=25)  # under the 30 s grace: SIGTERM ended it
        assert d["ProcessingJobStatus"] == "Stopped", d
        driver.get(base + "/processing-jobs/" + name)
        assert not all_css(driver, "button.stop")
        assert "Stopped" in body_text(driver)
    finally:
        try:
            sm.stop_processing_job(ProcessingJobName=name)
        except Exception:  # noqa: BLE001 - already stopped
            pass


def _definition(bucket, image, static):
    return {
        "StaticHyperParameters": static,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File",
                                   "MetricDefinitions": [NUMBER]},
        "RoleArn": ROLE_ARN,
        "OutputDataConfig": {"S3OutputPath": "s3://%s/tuning-output" % bucket},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


@pytest.fixture(scope="module")
def tuning_job(sm, bucket, byo_image):
    """A Grid job over three values (one of them markup), Maximize the launch number."""
    name = unique("grid")
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig={
            "Strategy": "Grid", "ResourceLimits": {"MaxParallelTrainingJobs": 2},
            "ParameterRanges": {"CategoricalParameterRanges": [
                {"Name": "a", "Values": ["1", "2", XSS_IMG]}]},
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "number"}},
        TrainingJobDefinition=_definition(bucket, byo_image, {"mode": "metrics"}))
    d = _wait_tuning(sm, name)
    assert d["HyperParameterTuningJobStatus"] == "Completed", d.get("FailureReason")
    return d


def test_tuning_list_filters_and_links_to_the_job(tuning_job, base, driver):
    name = tuning_job["HyperParameterTuningJobName"]
    driver.get(base + "/hyper-parameter-tuning-jobs?status=Completed&name=" + name)
    assert rows(driver) == [name], rows(driver)
    driver.get(base + "/hyper-parameter-tuning-jobs?status=InProgress&name=" + name)
    assert rows(driver) == [], rows(driver)
    driver.get(base + "/hyper-parameter-tuning-jobs")
    assert status_of(driver, name) == "Completed"
    row(driver, name).find_element(By.TAG_NAME, "a").click()
    wait_for(lambda: path_of(driver) == "/_sagebox/hyper-parameter-tuning-jobs/" + name, 10,
             "the tuning job's page")


def test_tuning_detail_ranks_plots_and_links_the_training_jobs(sm, tuning_job, base, driver, nojs_driver):
    name = tuning_job["HyperParameterTuningJobName"]
    best = tuning_job["BestTrainingJob"]["TrainingJobName"]
    assert best.startswith(name + "-003-")
    driver.get(base + "/hyper-parameter-tuning-jobs/" + name)
    no_xss(driver)
    config = by_css(driver, "dl#config").text
    assert "Grid" in config and "Maximize" in config and "number" in config, config
    (rng,) = all_css(driver, "table#ranges tr[data-name]")
    assert "Categorical" in rng.text and XSS_IMG in rng.text, rng.text
    counters = {c.get_attribute("data-counter"): c.text.split()[0] for c in all_css(driver, "#counters .count")}
    assert counters["TrainingJobStatusCounters.Completed"] == "3", counters
    assert counters["ObjectiveStatusCounters.Succeeded"] == "3", counters
    assert best in by_css(driver, "p#best").text
    trials = all_css(driver, "table#trials tbody tr[data-name]")
    ranked = [t.get_attribute("data-name") for t in trials]
    assert [re.search(r"-(\d{3})-", n).group(1) for n in ranked] == ["003", "002", "001"], ranked
    assert trials[0].get_attribute("class") == "best"
    assert [t.find_element(By.CSS_SELECTOR, "td.objective").text for t in trials] in (["3", "2", "1"], ["3.0", "2.0", "1.0"])
    assert any(XSS_IMG in t.text for t in trials)
    dots = all_css(driver, "section#plot svg circle")
    assert len(dots) == 3, by_css(driver, "section#plot").get_attribute("outerHTML")[:500]
    marked = all_css(driver, "section#plot svg circle.best")
    assert [m.get_attribute("data-job") for m in marked] == [best]
    assert not all_css(driver, "button.stop")
    shot(driver, "21-tuning-detail")
    raw = requests.get(base + "/hyper-parameter-tuning-jobs/" + name, timeout=30).text
    assert XSS_IMG not in raw
    # each training job links to its own page
    trials[0].find_element(By.CSS_SELECTOR, "a").click()
    wait_for(lambda: path_of(driver) == "/_sagebox/training-jobs/" + best, 10, "the best job's page")
    # without JavaScript the plot is in the page
    nojs_driver.get(base + "/hyper-parameter-tuning-jobs/" + name)
    assert len(all_css(nojs_driver, "section#plot svg circle")) == 3


def test_tuning_stop_button_stops_the_tuning_job(sm, logs, bucket, byo_image, base, driver):
    name = unique("stop")
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig={
            "Strategy": "Random",
            "ResourceLimits": {"MaxParallelTrainingJobs": 1, "MaxNumberOfTrainingJobs": 2},
            "ParameterRanges": {"IntegerParameterRanges": [
                {"Name": "seconds", "MinValue": "300", "MaxValue": "400"}]},
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "number"}},
        TrainingJobDefinition=_definition(bucket, byo_image, {"mode": "sleep"}))
    try:
        # as the client suite does: stop once a training job runs and handles SIGTERM
        running = wait_for(lambda: [j for j in sm.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name)["TrainingJobSummaries"] if j["TrainingJobStatus"] == "InProgress"],
            120, "a training job in progress", interval=0.5)
        wait_for_log(logs, running[0]["TrainingJobName"], "sleeping")
        driver.get(base + "/hyper-parameter-tuning-jobs/" + name)
        stop = by_css(driver, "button.stop")
        assert form_of(stop).get_attribute("method").lower() == "post"
        stop.click()
        accept_confirm(driver)
        wait_for(lambda: path_of(driver) == "/_sagebox/hyper-parameter-tuning-jobs/" + name, 10,
                 "back on the page")
        d = _wait_tuning(sm, name, timeout=90)
        assert d["HyperParameterTuningJobStatus"] == "Stopped", d
        driver.get(base + "/hyper-parameter-tuning-jobs/" + name)
        assert not all_css(driver, "button.stop")
        assert "Stopped" in body_text(driver)
    finally:
        try:
            sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        except Exception:  # noqa: BLE001 - already stopped
            pass
