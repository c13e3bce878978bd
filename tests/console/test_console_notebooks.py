"""Notebooks in the console, in a real (headless) Chromium: lifecycle configurations are created,
edited, offered by the notebook form and deleted with a confirmation step, each by clicks; a bad
value gets SageMaker's message next to its field and creates nothing; "Open JupyterLab" lands in
JupyterLab; the dashboard counts the families added with processing, tuning, pipelines and the
model registry, and their lists update live.

Resources are created with boto3 against the session's server, named with `unique()`. Screenshots
go to tests/console/artifacts/."""

import base64
import os
import re
import time
import urllib.parse

import pytest
import requests
from botocore.exceptions import ClientError
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select

from browser import accept_confirm, by_css, click_and_wait_for_new_page, path_of, row, shot, status_of, wait_for
from support import ROLE_ARN, docker_answers, unique

needs_docker = pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true",
                                  reason="no Docker engine answers")

LCC = "/_sagebox/lifecycle-configs"
NAME = "NotebookInstanceLifecycleConfigName"


def field_error(driver, name):
    found = driver.find_elements(By.CSS_SELECTOR, 'p.field-error[data-for="%s"]' % name)
    return found[0].text if found else None


def lcc_names(sm):
    return [c["NotebookInstanceLifecycleConfigName"]
            for c in sm.list_notebook_instance_lifecycle_configs(MaxResults=100)["NotebookInstanceLifecycleConfigs"]]


def script_of(described, hook):
    hooks = described.get(hook) or []
    return base64.b64decode(hooks[0]["Content"]).decode() if hooks else None


def set_value(driver, element, value):
    """Sets a field's value at once (typing kilobytes key by key takes minutes)."""
    driver.execute_script("arguments[0].value = arguments[1];", element, value)


def type_into(element, text):
    element.clear()
    element.send_keys(text)


def count_of(driver, kind) -> int:
    a = by_css(driver, 'section#counts a.count[data-kind="%s"]' % kind)
    m = re.match(r"\s*(\d+)\b", a.text)
    assert m, "a.count[data-kind=%s] shows no number: %r" % (kind, a.text)
    return int(m.group(1))


def test_lifecycle_config_by_clicks_create_edit_offer_delete(sm, base, driver):
    driver.get(base + "/lifecycle-configs")
    nav = by_css(driver, 'nav#nav a[aria-current="page"]')
    assert urllib.parse.urlsplit(nav.get_attribute("href")).path == LCC, nav.get_attribute("href")
    form = by_css(driver, "form#create-lifecycle-config")
    assert form.get_attribute("method").lower() == "post"
    assert by_css(driver, "textarea#field-OnCreate").tag_name == "textarea"
    assert by_css(driver, "textarea#field-OnStart").tag_name == "textarea"

    # a name SageMaker refuses: its message next to the name, the script kept, nothing created
    before = lcc_names(sm)
    bad = "bad_name!" + unique("x")
    type_into(by_css(driver, "#field-" + NAME), bad)
    type_into(by_css(driver, "#field-OnStart"), "#!/bin/bash\necho kept\n")
    by_css(driver, "button#create-submit").click()
    wait_for(lambda: field_error(driver, NAME), 10, "the name's error")
    message = field_error(driver, NAME)
    assert "at 'notebookInstanceLifecycleConfigName' failed to satisfy constraint" in message, message
    assert "regular expression pattern" in message, message
    assert by_css(driver, "#field-" + NAME).get_attribute("value") == bad
    assert by_css(driver, "#field-OnStart").get_attribute("value") == "#!/bin/bash\necho kept\n"
    assert by_css(driver, "#field-" + NAME).get_attribute("aria-invalid") == "true"
    assert lcc_names(sm) == before
    shot(driver, "20-lifecycle-bad-name")

    # a script over SageMaker's 16 KiB (base64) limit: its message next to that script
    name = unique("lcc")
    type_into(by_css(driver, "#field-" + NAME), name)
    set_value(driver, by_css(driver, "#field-OnStart"), "#!/bin/bash\n" + "echo 0123456789abcdef\n" * 700)
    by_css(driver, "button#create-submit").click()
    wait_for(lambda: field_error(driver, "OnStart"), 10, "the script's error")
    message = field_error(driver, "OnStart")
    assert "at 'onStart.1.member.content'" in message and "16384" in message, message[:300]
    assert field_error(driver, NAME) is None
    assert name not in lcc_names(sm)

    # create
    on_create = "#!/bin/bash\nset -e\necho created > /home/ec2-user/created.txt\n"
    on_start = "#!/bin/bash\necho 'started <b>&' >> /tmp/started.txt\n"
    type_into(by_css(driver, "#field-" + NAME), name)
    type_into(by_css(driver, "#field-OnCreate"), on_create)
    set_value(driver, by_css(driver, "#field-OnStart"), "")
    type_into(by_css(driver, "#field-OnStart"), on_start)
    shot(driver, "20-lifecycle-form")
    by_css(driver, "button#create-submit").click()
    wait_for(lambda: path_of(driver) == LCC + "/" + name, 10, "the new configuration's page")
    d = sm.describe_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name)
    assert script_of(d, "OnCreate") == on_create  # LF line ends, not the browser's CRLF
    assert script_of(d, "OnStart") == on_start
    assert by_css(driver, "#field-OnCreate").get_attribute("value") == on_create
    assert by_css(driver, "#field-OnStart").get_attribute("value") == on_start
    assert name in by_css(driver, "dl#details").text
    shot(driver, "20-lifecycle-created")

    # edit: a new OnStart, OnCreate emptied (removed)
    new_start = "#!/bin/bash\necho again\n"
    form = by_css(driver, "form#update-lifecycle-config")
    assert form.get_attribute("method").lower() == "post"
    by_css(driver, "#field-OnCreate").clear()
    type_into(by_css(driver, "#field-OnStart"), new_start)
    click_and_wait_for_new_page(driver, by_css(driver, "button#update-submit"), 10,
                                "the update's answer to replace the form")
    wait_for(lambda: by_css(driver, "#field-OnStart").get_attribute("value") == new_start, 10,
             "the page again with the new script")
    assert path_of(driver) == LCC + "/" + name
    assert by_css(driver, "#field-OnCreate").get_attribute("value") == ""
    d = sm.describe_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name)
    assert script_of(d, "OnStart") == new_start and script_of(d, "OnCreate") is None, d
    shot(driver, "20-lifecycle-edited")

    # listed, and offered by the notebook instance form (which links here)
    driver.get(base + "/lifecycle-configs")
    assert row(driver, name) is not None
    driver.get(base + "/notebook-instances")
    options = [o.get_attribute("value") or o.text for o in
               Select(by_css(driver, "form#create select[name=LifecycleConfigName]")).options]
    assert name in options, options
    link = by_css(driver, "a#lifecycle-configs-link")
    assert urllib.parse.urlsplit(link.get_attribute("href")).path == LCC

    # the dashboard counts it, and the live status covers the kind
    driver.get(base + "/")
    assert count_of(driver, "lifecycle-configs") == len(lcc_names(sm))
    live = requests.get(base + "/status", params={"kind": "lifecycle-configs"}, timeout=10)
    assert live.status_code == 200 and name in live.json(), live.text[:300]

    # delete, with a confirmation step
    driver.get(base + "/lifecycle-configs")
    row(driver, name).find_element(By.CSS_SELECTOR, "a.delete").click()
    wait_for(lambda: path_of(driver) == LCC + "/" + name + "/delete", 10, "the confirmation")
    assert name in by_css(driver, "form#confirm-delete").text
    assert name in lcc_names(sm), "deleted before the confirmation"
    shot(driver, "20-lifecycle-confirm-delete")
    by_css(driver, "button#confirm-delete-submit").click()
    wait_for(lambda: path_of(driver) == LCC, 10, "the list after the delete")
    assert row(driver, name) is None
    with pytest.raises(ClientError):
        sm.describe_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name)
    assert requests.get(base + "/lifecycle-configs/" + name, timeout=10).status_code == 404


def test_the_lifecycle_forms_work_without_javascript(sm, base, nojs_driver):
    driver = nojs_driver
    name = unique("lccnojs")
    driver.get(base + "/lifecycle-configs")
    type_into(by_css(driver, "#field-" + NAME), name)
    type_into(by_css(driver, "#field-OnStart"), "echo hi\n")
    by_css(driver, "button#create-submit").click()
    wait_for(lambda: path_of(driver) == LCC + "/" + name, 10, "the new configuration's page")
    d = sm.describe_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name)
    assert script_of(d, "OnStart") == "echo hi\n"
    by_css(driver, "a#delete-lifecycle-config").click()
    by_css(driver, "button#confirm-delete-submit").click()
    wait_for(lambda: path_of(driver) == LCC, 10, "the list after the delete")
    assert name not in lcc_names(sm)


def test_a_cross_site_post_to_the_lifecycle_routes_is_refused(sm, base):
    name = unique("lccxsite")
    r = requests.post(base + "/lifecycle-configs", data={NAME: name, "OnStart": "echo x"},
                      headers={"Origin": "http://evil.example"}, allow_redirects=False, timeout=10)
    assert r.status_code == 403
    r = requests.post(base + "/lifecycle-configs", data={NAME: name, "OnStart": "echo x"},
                      allow_redirects=False, timeout=10)  # no token
    assert r.status_code == 403
    assert name not in lcc_names(sm)


def test_dashboard_counts_the_new_families(sm, base, driver):
    group = unique("grp")
    sm.create_model_package_group(ModelPackageGroupName=group, ModelPackageGroupDescription="console")
    lcc = unique("lccdash")
    sm.create_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=lcc)
    try:
        driver.get(base + "/")
        expected = {
            "lifecycle-configs": len(lcc_names(sm)),
            "model-registry": len(sm.list_model_package_groups(MaxResults=100)["ModelPackageGroupSummaryList"]),
            "processing-jobs": len(sm.list_processing_jobs(MaxResults=100)["ProcessingJobSummaries"]),
            "hyper-parameter-tuning-jobs": len(sm.list_hyper_parameter_tuning_jobs(
                MaxResults=100)["HyperParameterTuningJobSummaries"]),
            "pipelines": len(sm.list_pipelines(MaxResults=100)["PipelineSummaries"]),
        }
        counts = {kind: count_of(driver, kind) for kind in expected}
        assert counts == expected
        assert counts["model-registry"] >= 1 and counts["lifecycle-configs"] >= 1
        activity = [urllib.parse.unquote(urllib.parse.urlsplit(a.get_attribute("href")).path)
                    for a in by_css(driver, "section#activity").find_elements(By.TAG_NAME, "a")]
        assert "/_sagebox/model-registry/" + group in activity, activity
        assert "/_sagebox/lifecycle-configs/" + lcc in activity, activity
        shot(driver, "21-dashboard-families")
        # each count leads to its list
        by_css(driver, 'a.count[data-kind="model-registry"]').click()
        wait_for(lambda: path_of(driver) == "/_sagebox/model-registry", 10, "the registry")
        assert row(driver, group) is not None
        # the live status answers for every new kind, and the lists ask for it
        for kind in expected:
            r = requests.get(base + "/status", params={"kind": kind}, timeout=10)
            assert r.status_code == 200 and isinstance(r.json(), dict), (kind, r.status_code)
        assert group in requests.get(base + "/status", params={"kind": "model-registry"}, timeout=10).json()
        for kind in ("processing-jobs", "hyper-parameter-tuning-jobs", "pipelines"):
            driver.get(base + "/" + kind)
            assert driver.find_elements(By.CSS_SELECTOR, 'table#list[data-live="%s"]' % kind), kind
        # a filtered list is not live (it has fewer rows than the kind has jobs)
        driver.get(base + "/processing-jobs?status=Completed")
        assert not driver.find_elements(By.CSS_SELECTOR, "table#list[data-live]")
    finally:
        sm.delete_model_package_group(ModelPackageGroupName=group)
        sm.delete_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=lcc)


def _cleanup_notebook(sm, name):
    try:
        d = sm.describe_notebook_instance(NotebookInstanceName=name)
    except ClientError:
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
    except ClientError:  # the session's teardown removes containers anyway
        pass


def _wait_status(sm, name, wanted, timeout):
    deadline = time.time() + timeout
    status = None
    while time.time() < deadline:
        status = sm.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"]
        if status in wanted:
            return status
        time.sleep(1)
    raise AssertionError(f"notebook instance {name} is {status}, not {wanted}, after {timeout}s")


@needs_docker
def test_open_jupyterlab_lands_in_jupyterlab_and_delete_asks_first(sm, base, driver):
    name = unique("nblab")
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE_ARN)
    try:
        status = _wait_status(sm, name, ("InService", "Failed"), 240)
        assert status == "InService", sm.describe_notebook_instance(
            NotebookInstanceName=name).get("FailureReason")
        driver.get(base + "/notebook-instances")
        wait_for(lambda: status_of(driver, name) == "InService", 10, "InService in the list")
        r = row(driver, name)
        assert r.find_elements(By.CSS_SELECTOR, "a.open-jupyter")
        lab = r.find_element(By.CSS_SELECTOR, "a.open-jupyterlab")
        href = urllib.parse.unquote(urllib.parse.urlsplit(lab.get_attribute("href")).path)
        assert href == "/_sagebox/notebook-instances/%s/lab" % name, href
        # the link is a presigned URL asking for JupyterLab, as SageMaker's console makes it
        first = requests.get(lab.get_attribute("href"), allow_redirects=False, timeout=30)
        assert first.status_code == 303, first.status_code
        presigned = urllib.parse.urlsplit(first.headers["Location"])
        query = urllib.parse.parse_qs(presigned.query)
        assert "authToken" in query and query.get("view") == ["lab"], first.headers["Location"]

        list_window = driver.current_window_handle
        lab.click()
        if len(driver.window_handles) > 1:  # target=_blank
            driver.switch_to.window([h for h in driver.window_handles if h != list_window][0])
        wait_for(lambda: urllib.parse.urlsplit(driver.current_url).path.endswith("/lab"), 60,
                 "JupyterLab's URL (…/lab)")
        assert urllib.parse.urlsplit(driver.current_url).path == "/_sagebox/notebooks/%s/lab" % name.lower()
        wait_for(lambda: "JupyterLab" in driver.title, 60, "JupyterLab's title")
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#jp-main-dock-panel, .jp-LabShell"), 90,
                 "JupyterLab's shell")
        time.sleep(2)
        shot(driver, "22-jupyterlab")
        if driver.current_window_handle != list_window:
            driver.close()
            driver.switch_to.window(list_window)

        # the detail page offers both, and no delete while InService
        driver.get(base + "/notebook-instances/" + name)
        assert driver.find_elements(By.CSS_SELECTOR, "a.open-jupyter")
        assert driver.find_elements(By.CSS_SELECTOR, "a.open-jupyterlab")
        assert not driver.find_elements(By.CSS_SELECTOR, "a#delete-notebook-instance")

        sm.stop_notebook_instance(NotebookInstanceName=name)
        _wait_status(sm, name, ("Stopped",), 120)
        driver.get(base + "/notebook-instances/" + name)
        assert not driver.find_elements(By.CSS_SELECTOR, "a.open-jupyterlab")
        by_css(driver, "a#delete-notebook-instance").click()
        wait_for(lambda: path_of(driver) == "/_sagebox/notebook-instances/%s/delete" % name, 10,
                 "the confirmation")
        assert sm.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"] == "Stopped"
        shot(driver, "22-notebook-confirm-delete")
        by_css(driver, "button#confirm-delete-submit").click()
        accept_confirm(driver)
        wait_for(lambda: path_of(driver) == "/_sagebox/notebook-instances", 10, "the list")

        def gone():
            try:
                sm.describe_notebook_instance(NotebookInstanceName=name)
                return False
            except ClientError:
                return True

        wait_for(gone, 120, "the instance to be deleted", interval=1)
    finally:
        _cleanup_notebook(sm, name)
