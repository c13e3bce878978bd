"""The console's pipelines and model registry pages in headless Chromium. A pipeline whose steps
need no containers (a Callback step, then a Condition step whose If branch holds a Fail step and
whose Else branch holds another) runs while the execution page refreshes itself; its graph colours
the nodes by step status and greys the branch not taken. A registry version is approved with its
button. Markup in descriptions, display names and failure messages stays text."""

import json
import urllib.parse
import uuid

from selenium.webdriver.common.by import By

from browser import all_css, body_text, by_css, path_of, row, shot, wait_for
from support import IMAGE, unique

ROLE = "arn:aws:iam::123456789012:role/pipelines"
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/reviews"
XSS = "<img src=x onerror=window.__xss=1>"


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def definition():
    return json.dumps({
        "Version": "2020-12-01",
        "Parameters": [{"Name": "Threshold", "Type": "Integer", "DefaultValue": 9}],
        "Steps": [
            {"Name": "Review", "Type": "Callback", "DisplayName": "Review " + XSS,
             "Arguments": {}, "SqsQueueUrl": QUEUE,
             "OutputParameters": [{"OutputName": "verdict", "OutputType": "String"}]},
            {"Name": "Check", "Type": "Condition", "DependsOn": ["Review"],
             "Arguments": {
                 "Conditions": [{"Type": "GreaterThanOrEqualTo",
                                 "LeftValue": {"Get": "Parameters.Threshold"}, "RightValue": 5}],
                 "IfSteps": [{"Name": "TooBig", "Type": "Fail",
                              "Arguments": {"ErrorMessage": "too big " + XSS}}],
                 "ElseSteps": [{"Name": "Fine", "Type": "Fail",
                                "Arguments": {"ErrorMessage": "never"}}],
             }},
        ],
    })


def node_class(driver, step):
    node = by_css(driver, f'svg.dag g.node[data-step="{step}"]')
    return node.get_attribute("class").split()


def no_xss(driver):
    assert driver.execute_script("return window.__xss") is None, "markup ran on " + driver.current_url


def test_pipeline_execution_page_draws_the_graph_live_and_lists_steps(sm, base, driver, nojs_driver):
    name = unique("console-pipe")
    sm.create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDefinition=definition(),
                       PipelineDescription="checks " + XSS, ClientRequestToken=str(uuid.uuid4()))
    arn = sm.start_pipeline_execution(PipelineName=name,
                                      ClientRequestToken=str(uuid.uuid4()))["PipelineExecutionArn"]
    exec_id = arn.rsplit("/", 1)[1]

    driver.get(base + "/pipelines")
    assert "/_sagebox/pipelines" in {urllib.parse.urlsplit(a.get_attribute("href")).path
                                     for a in all_css(driver, "nav#nav a")}
    line = row(driver, name)
    assert "checks " + XSS in line.text
    no_xss(driver)
    line.find_element(By.TAG_NAME, "a").click()
    assert path_of(driver) == "/_sagebox/pipelines/" + name
    by_css(driver, f'#executions tr[data-name="{exec_id}"] a').click()
    assert path_of(driver) == f"/_sagebox/pipelines/{name}/executions/{exec_id}"

    # Executing: the Callback step waits; the page shows a Stop button and refreshes itself.
    wait_for(lambda: "executing" in node_class(driver, "Review"), 20, "Review executing",
             interval=0.5)
    assert "not-started" in node_class(driver, "Check")
    assert all_css(driver, "button.stop"), "no Stop button while executing"
    title = by_css(driver, 'svg.dag g.node[data-step="Review"] title').get_attribute("textContent")
    assert title.startswith("Review " + XSS), title
    token = wait_for(lambda: sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)
                     ["PipelineExecutionSteps"][0].get("Metadata", {}).get("Callback", {})
                     .get("CallbackToken"), 20, "a callback token")
    wait_for(lambda: token in by_css(driver, "#steps").text, 10, "the token in the steps table",
             interval=0.5)
    sm.send_pipeline_execution_step_success(
        CallbackToken=token, OutputParameters=[{"Name": "verdict", "Value": "ship"}])

    # The page updates itself (no reload from the test) until the execution has failed.
    wait_for(lambda: "Failed" in by_css(driver, "#status").text, 30, "the execution to fail",
             interval=0.5)
    assert "succeeded" in node_class(driver, "Review")
    assert "succeeded" in node_class(driver, "Check")
    assert "failed" in node_class(driver, "TooBig")
    assert "not-taken" in node_class(driver, "Fine")
    assert len(all_css(driver, "svg.dag line.edge")) == 3
    assert "failed" in by_css(driver, "#failure").text
    assert not all_css(driver, "button.stop")
    steps = {r.get_attribute("data-step"): r.text for r in all_css(driver, "#steps tbody tr")}
    assert set(steps) == {"Review", "Check", "TooBig"}
    assert "Succeeded" in steps["Review"] and token in steps["Review"]
    assert "Failed" in steps["TooBig"] and "too big " + XSS in steps["TooBig"]
    assert by_css(driver, '#parameters tr[data-key="Threshold"]').text.endswith("9")
    no_xss(driver)
    shot(driver, "pipeline-execution")

    nojs_driver.get(driver.current_url)
    assert "failed" in node_class(nojs_driver, "TooBig")
    assert "Failed" in body_text(nojs_driver)


def test_stop_button_stops_a_running_execution(sm, base, nojs_driver):
    name = unique("console-stop")
    sm.create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDefinition=definition(),
                       ClientRequestToken=str(uuid.uuid4()))
    arn = sm.start_pipeline_execution(PipelineName=name,
                                      ClientRequestToken=str(uuid.uuid4()))["PipelineExecutionArn"]
    nojs_driver.get(f"{base}/pipelines/{name}/executions/{arn.rsplit('/', 1)[1]}")
    by_css(nojs_driver, "button.stop").click()
    wait_for(lambda: sm.describe_pipeline_execution(PipelineExecutionArn=arn)
             ["PipelineExecutionStatus"] in ("Stopping", "Stopped"), 20, "the execution to stop")


def test_registry_version_is_approved_with_its_button(sm, base, driver, nojs_driver):
    group = unique("console-grp")
    sm.create_model_package_group(ModelPackageGroupName=group,
                                  ModelPackageGroupDescription="group " + XSS)
    arn = sm.create_model_package(
        ModelPackageGroupName=group, ModelPackageDescription="first " + XSS,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://bucket/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
    )["ModelPackageArn"]

    driver.get(base + "/model-registry")
    row(driver, group).find_element(By.TAG_NAME, "a").click()
    assert path_of(driver) == "/_sagebox/model-registry/" + q(group)
    assert "group " + XSS in body_text(driver)
    version = by_css(driver, '#versions tr[data-version="1"]')
    assert "PendingManualApproval" in version.text
    assert IMAGE in version.text and "s3://bucket/model.tar.gz" in version.text
    assert "first " + XSS in version.text
    no_xss(driver)
    version.find_element(By.CSS_SELECTOR, "button.approve").click()
    wait_for(lambda: "Approved" in by_css(driver, '#versions tr[data-version="1"] .approval').text,
             10, "the version approved")
    assert path_of(driver) == "/_sagebox/model-registry/" + q(group)
    assert sm.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Approved"
    shot(driver, "model-registry-group")

    nojs_driver.get(driver.current_url)
    by_css(nojs_driver, '#versions tr[data-version="1"] button.reject').click()
    wait_for(lambda: "Rejected" in by_css(nojs_driver, '#versions tr[data-version="1"] .approval').text,
             10, "the version rejected")
    assert sm.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Rejected"
