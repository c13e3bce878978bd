"""SageMaker Experiments end to end through the real clients: the SageMaker Python SDK v2 (`Run`,
`load_run`, `list_runs`, `ExperimentAnalytics`, `Experiment._delete_all` — v2.257 names it with
an underscore) and boto3 (`sagemaker`, `sagemaker-metrics`).

It proves that runs' parameters and metrics land on their trial components and come back exactly
(the analytics data frame's summary columns, BatchGetMetrics by step and by minute), that a run's
status and times follow the `with` block (Completed, or Failed with the exception's message),
that Search evaluates filters, nested filters, sub-expressions, sorting and pagination over
trial components, trials and experiments, that trial memberships and lineage associations are
listed, refused twice and removed, that the errors the SDK relies on come in SageMaker's words,
that what is still associated is not deleted, and that `_delete_all` removes an experiment with
its trials and components.

Metric values are binary fractions (so sums and averages are exact) and carry explicit timestamps
aligned on minutes, so per-minute buckets are known in advance."""

import math
import os
import time

import pytest
from botocore.exceptions import ClientError

from support import unique

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

# minute-aligned base for the metric timestamps, well inside SageMaker's two weeks
BASE = (int(time.time()) // 60 - 30) * 60
OFFSETS = [0, 10, 60, 70]  # two points in minute BASE, two in minute BASE + 60
LOSS = {"alpha": [1.0, 0.5, 0.25, 0.125], "beta": [2.0, 1.5, 1.25, 0.75]}
ACCURACY = [0.5, 0.75]  # alpha only
PARAMS = {"alpha": {"lr": 0.1, "batch": 32, "optimizer": "adam"},
          "beta": {"lr": 0.01, "batch": 64, "optimizer": "sgd"}}


def stats(values):
    """The summary SageMaker reports for a metric (StdDev: the sample deviation)."""
    n, avg = len(values), sum(values) / len(values)
    std = math.sqrt(sum((v - avg) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"Min": min(values), "Max": max(values), "Avg": avg, "StdDev": std,
            "Last": values[-1], "Count": n}


def error_of(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"].get("Message", "")


def log_run(sess, experiment, run_name, params, series):
    from sagemaker.experiments.run import Run

    with Run(experiment_name=experiment, run_name=run_name, sagemaker_session=sess) as run:
        run.log_parameters(params)
        for name, values in series.items():
            for step, value in enumerate(values):
                run.log_metric(name, value, timestamp=BASE + OFFSETS[step], step=step)
    return f"{experiment}-{run_name}"


@pytest.fixture(scope="module")
def metrics_client(sagebox, client_factory):
    return client_factory("sagemaker-metrics", sagebox.url)


@pytest.fixture(scope="module")
def runs(sdk_session, sm):
    """One experiment with runs alpha and beta (read-only for the tests that use it); alpha's
    trial component is tagged team=vision."""
    exp = unique("exp")
    tcs = {"alpha": log_run(sdk_session, exp, "alpha", PARAMS["alpha"],
                            {"loss": LOSS["alpha"], "accuracy": ACCURACY}),
           "beta": log_run(sdk_session, exp, "beta", PARAMS["beta"], {"loss": LOSS["beta"]})}
    arns = {k: sm.describe_trial_component(TrialComponentName=v)["TrialComponentArn"]
            for k, v in tcs.items()}
    sm.add_tags(ResourceArn=arns["alpha"], Tags=[{"Key": "team", "Value": "vision"}])
    return {"exp": exp, "tc": tcs, "arn": arns, "trial": f"Default-Run-Group-{exp}"}


def test_analytics_frame_list_runs_and_status(runs, sdk_session, sm):
    from sagemaker.analytics import ExperimentAnalytics
    from sagemaker.experiments import list_runs

    frame = ExperimentAnalytics(experiment_name=runs["exp"], sagemaker_session=sdk_session).dataframe()
    assert len(frame) == 2
    rows = {r["TrialComponentName"]: r for r in frame.to_dict("records")}
    assert set(rows) == {runs["tc"]["alpha"], runs["tc"]["beta"]}
    for run in ("alpha", "beta"):
        row = rows[runs["tc"][run]]
        assert {k: row[k] for k in PARAMS[run]} == PARAMS[run]
        for stat, want in stats(LOSS[run]).items():
            assert row[f"loss - {stat}"] == pytest.approx(want, rel=1e-12, abs=0), (run, stat)
        assert row["Experiments"] == [runs["exp"]] and row["Trials"] == [runs["trial"]]
    alpha = rows[runs["tc"]["alpha"]]
    assert {s: alpha[f"accuracy - {s}"] for s in ("Min", "Max", "Last", "Count")} == \
        {"Min": 0.5, "Max": 0.75, "Last": 0.75, "Count": 2}

    listed = list_runs(experiment_name=runs["exp"], sagemaker_session=sdk_session)
    assert [r.run_name for r in listed] == ["beta", "alpha"]  # CreationTime, newest first

    tc = sm.describe_trial_component(TrialComponentName=runs["tc"]["alpha"])
    assert tc["Status"]["PrimaryStatus"] == "Completed"
    assert tc["StartTime"] <= tc["EndTime"]
    assert tc["Parameters"]["lr"] == {"NumberValue": 0.1}
    assert tc["Parameters"]["optimizer"] == {"StringValue": "adam"}


def test_a_run_that_raises_ends_failed_with_the_message(sdk_session, sm):
    from sagemaker.experiments.run import Run

    exp = unique("exp")
    with pytest.raises(RuntimeError, match="diverged at step 3"):
        with Run(experiment_name=exp, run_name="boom", sagemaker_session=sdk_session):
            raise RuntimeError("diverged at step 3")
    tc = sm.describe_trial_component(TrialComponentName=f"{exp}-boom")
    assert tc["Status"] == {"PrimaryStatus": "Failed", "Message": "diverged at step 3"}
    assert tc["StartTime"] <= tc["EndTime"]


def test_load_run_logs_more_and_the_summaries_follow(sdk_session, sm):
    from sagemaker.experiments.run import load_run

    exp = unique("exp")
    tc = log_run(sdk_session, exp, "again", {"epochs": 2}, {"loss": [1.0, 2.0]})
    with load_run(run_name="again", experiment_name=exp, sagemaker_session=sdk_session) as run:
        run.log_metric("loss", 3.0, timestamp=BASE + 60, step=2)
        run.log_parameter("note", "resumed")
    d = sm.describe_trial_component(TrialComponentName=tc)
    assert d["Parameters"] == {"epochs": {"NumberValue": 2.0}, "note": {"StringValue": "resumed"}}
    [loss] = d["Metrics"]
    assert loss["MetricName"] == "loss"
    assert {k: loss[k] for k in ("Min", "Max", "Avg", "StdDev", "Last", "Count")} == \
        {"Min": 1.0, "Max": 3.0, "Avg": 2.0, "StdDev": 1.0, "Last": 3.0, "Count": 3}
    assert d["Status"]["PrimaryStatus"] == "Completed"


def test_batch_get_metrics_by_step_and_by_minute(runs, metrics_client):
    arn = runs["arn"]["alpha"]

    def query(stat, period, axis, resource=arn):
        return {"MetricName": "loss", "ResourceArn": resource, "MetricStat": stat,
                "Period": period, "XAxisType": axis}

    missing = arn.rsplit("/", 1)[0] + "/" + unique("nope")
    results = metrics_client.batch_get_metrics(MetricQueries=[
        query("Avg", "IterationNumber", "IterationNumber"),
        query("Max", "OneMinute", "Timestamp"),
        query("Avg", "OneMinute", "Timestamp"),
        query("Last", "OneMinute", "Timestamp"),
        query("Avg", "IterationNumber", "IterationNumber", resource=missing),
    ])["MetricQueryResults"]
    assert len(results) == 5
    by_step, maxes, avgs, lasts, unknown = results
    assert by_step["Status"] == "Complete"
    assert (by_step["XAxisValues"], by_step["MetricValues"]) == ([0, 1, 2, 3], LOSS["alpha"])
    minutes = [BASE, BASE + 60]
    assert (maxes["XAxisValues"], maxes["MetricValues"]) == (minutes, [1.0, 0.25])
    assert (avgs["XAxisValues"], avgs["MetricValues"]) == (minutes, [0.75, 0.1875])
    assert (lasts["XAxisValues"], lasts["MetricValues"]) == (minutes, [0.5, 0.125])
    assert unknown["Status"] == "ValidationError" and unknown["Message"]
    assert unknown["XAxisValues"] == [] and unknown["MetricValues"] == []


def search_names(sm, expression, resource="ExperimentTrialComponent", **kw):
    out, token = [], None
    while True:
        page = sm.search(Resource=resource, SearchExpression=expression,
                         **kw, **({"NextToken": token} if token else {}))
        out += [r["TrialComponent"]["TrialComponentName"] for r in page["Results"]]
        token = page.get("NextToken")
        if not token:
            return out


def test_search_filters_nesting_sorting_and_paging(runs, sm):
    exp, alpha, beta = runs["exp"], runs["tc"]["alpha"], runs["tc"]["beta"]
    in_exp = {"Name": "Parents.ExperimentName", "Operator": "Equals", "Value": exp}

    def names(*filters, **kw):
        return search_names(sm, {"Filters": [in_exp, *filters]}, **kw)

    assert sorted(names()) == sorted([alpha, beta])
    assert names({"Name": "Parameters.lr", "Operator": "GreaterThan", "Value": "0.05"}) == [alpha]
    assert names({"Name": "Parameters.batch", "Operator": "GreaterThanOrEqualTo", "Value": "64"}) == [beta]
    assert names({"Name": "Metrics.loss.Min", "Operator": "LessThan", "Value": "0.5"}) == [alpha]
    assert names({"Name": "Tags.team", "Operator": "Equals", "Value": "vision"}) == [alpha]
    assert names({"Name": "Parameters.optimizer", "Operator": "NotEquals", "Value": "adam"}) == [beta]

    nested = {"NestedFilters": [{"NestedPropertyName": "Parents", "Filters": [
        in_exp, {"Name": "Parents.TrialName", "Operator": "Equals", "Value": runs["trial"]}]}]}
    assert sorted(search_names(sm, nested)) == sorted([alpha, beta])

    either = {"Filters": [in_exp], "Operator": "And", "SubExpressions": [{"Operator": "Or", "Filters": [
        {"Name": "Parameters.optimizer", "Operator": "Equals", "Value": "sgd"},
        {"Name": "Tags.team", "Operator": "Equals", "Value": "vision"}]}]}
    assert sorted(search_names(sm, either)) == sorted([alpha, beta])
    neither = {"Filters": [in_exp], "SubExpressions": [{"Operator": "Or", "Filters": [
        {"Name": "Parameters.optimizer", "Operator": "Equals", "Value": "rmsprop"},
        {"Name": "Tags.team", "Operator": "Equals", "Value": "nlp"}]}]}
    assert search_names(sm, neither) == []

    assert names(SortBy="Parameters.lr", SortOrder="Ascending") == [beta, alpha]
    assert names(SortBy="Parameters.lr", SortOrder="Descending") == [alpha, beta]

    pages, token = [], None
    while True:
        page = sm.search(Resource="ExperimentTrialComponent", SearchExpression={"Filters": [in_exp]},
                         MaxResults=1, SortBy="Parameters.lr", SortOrder="Ascending",
                         **({"NextToken": token} if token else {}))
        pages.append([r["TrialComponent"]["TrialComponentName"] for r in page["Results"]])
        token = page.get("NextToken")
        if not token:
            break
    assert [p for p in pages if p] == [[beta], [alpha]]  # each once; at most a trailing empty page
    assert len(pages) <= 3

    found = sm.search(Resource="Experiment", SearchExpression={"Filters": [
        {"Name": "ExperimentName", "Operator": "Equals", "Value": exp}]})["Results"]
    assert [r["Experiment"]["ExperimentName"] for r in found] == [exp]
    trials = sm.search(Resource="ExperimentTrial", SearchExpression={"Filters": [
        {"Name": "ExperimentName", "Operator": "Equals", "Value": exp}]})["Results"]
    assert [(t["Trial"]["TrialName"], t["Trial"]["ExperimentName"]) for t in trials] == [(runs["trial"], exp)]
    members = {c["TrialComponentName"] for c in trials[0]["Trial"].get("TrialComponentSummaries", [])}
    assert members == {alpha, beta}


def test_trial_memberships_and_lineage_associations(sm):
    exp, t1, t2 = unique("exp"), unique("trial"), unique("trial")
    c1, c2 = unique("tc"), unique("tc")
    sm.create_experiment(ExperimentName=exp)
    for t in (t1, t2):
        sm.create_trial(TrialName=t, ExperimentName=exp)
    arn = {c: sm.create_trial_component(TrialComponentName=c)["TrialComponentArn"] for c in (c1, c2)}
    for t, c in ((t1, c1), (t2, c1), (t1, c2)):
        sm.associate_trial_component(TrialName=t, TrialComponentName=c)

    def trials_of(c):
        return {t["TrialName"] for t in sm.list_trials(TrialComponentName=c)["TrialSummaries"]}

    def components(**kw):
        return {c["TrialComponentName"] for c in sm.list_trial_components(**kw)["TrialComponentSummaries"]}

    assert trials_of(c1) == {t1, t2} and trials_of(c2) == {t1}
    assert components(TrialName=t1) == {c1, c2} and components(TrialName=t2) == {c1}
    assert components(ExperimentName=exp) == {c1, c2}
    assert {t["TrialName"] for t in sm.list_trials(ExperimentName=exp)["TrialSummaries"]} == {t1, t2}

    sm.disassociate_trial_component(TrialName=t1, TrialComponentName=c1)
    assert trials_of(c1) == {t2}
    assert components(TrialName=t1) == {c2}
    assert components(ExperimentName=exp) == {c1, c2}  # c1 is still in the experiment through t2
    sm.disassociate_trial_component(TrialName=t2, TrialComponentName=c1)
    assert trials_of(c1) == set() and components(ExperimentName=exp) == {c2}

    data = sm.create_artifact(ArtifactName=unique("data"), ArtifactType="DataSet",
                              Source={"SourceUri": "s3://bucket/train.csv"})["ArtifactArn"]
    added = sm.add_association(SourceArn=data, DestinationArn=arn[c2], AssociationType="ContributedTo")
    assert (added["SourceArn"], added["DestinationArn"]) == (data, arn[c2])
    [edge] = sm.list_associations(SourceArn=data)["AssociationSummaries"]
    assert (edge["SourceArn"], edge["DestinationArn"], edge["AssociationType"]) == (data, arn[c2], "ContributedTo")
    assert edge["DestinationType"]
    assert [e["SourceArn"] for e in sm.list_associations(DestinationArn=arn[c2])["AssociationSummaries"]] == [data]

    code, message = error_of(lambda: sm.add_association(SourceArn=data, DestinationArn=arn[c2]))
    assert code == "ValidationException" and "already exists" in message
    sm.delete_association(SourceArn=data, DestinationArn=arn[c2])
    assert sm.list_associations(SourceArn=data)["AssociationSummaries"] == []
    code, _ = error_of(lambda: sm.delete_association(SourceArn=data, DestinationArn=arn[c2]))
    assert code == "ResourceNotFound"
    # SageMaker reports an artifact's ArtifactType as its SourceType (what the SDK's lineage
    # code filters on, and what its fixtures hold: "Model", "Image", "DataSet")
    assert edge["SourceType"] == "DataSet"


def test_deleting_what_is_still_associated_is_refused(sm):
    """DeleteTrialComponent: "must be disassociated from all trials before [it] can be deleted";
    DeleteTrial: "All trial components that make up the trial must be deleted first" (the SDK's
    `_delete_all` disassociates and deletes components before their trial for this reason)."""
    exp, trial, tc = unique("exp"), unique("trial"), unique("tc")
    sm.create_experiment(ExperimentName=exp)
    sm.create_trial(TrialName=trial, ExperimentName=exp)
    sm.create_trial_component(TrialComponentName=tc)
    sm.associate_trial_component(TrialName=trial, TrialComponentName=tc)
    with pytest.raises(ClientError):
        sm.delete_trial_component(TrialComponentName=tc)
    with pytest.raises(ClientError):
        sm.delete_trial(TrialName=trial)
    assert sm.describe_trial_component(TrialComponentName=tc)["TrialComponentName"] == tc


def test_errors_in_sagemakers_words(sm, metrics_client):
    exp = unique("exp")
    sm.create_experiment(ExperimentName=exp)
    code, message = error_of(lambda: sm.create_experiment(ExperimentName=exp))
    assert code == "ValidationException" and "already exists" in message
    assert error_of(lambda: sm.describe_experiment(ExperimentName=unique("nope")))[0] == "ResourceNotFound"
    assert error_of(lambda: sm.describe_trial_component(TrialComponentName=unique("nope")))[0] == "ResourceNotFound"

    answer = metrics_client.batch_put_metrics(TrialComponentName=unique("nope"), MetricData=[
        {"MetricName": "loss", "Timestamp": BASE, "Value": 1.0},
        {"MetricName": "loss", "Timestamp": BASE + 1, "Value": 0.5, "Step": 1}])
    assert answer["Errors"] == [{"Code": "VALIDATION_ERROR", "MetricIndex": 0},
                                {"Code": "VALIDATION_ERROR", "MetricIndex": 1}]


def test_delete_all_removes_the_experiment_its_trials_and_components(sdk_session, sm):
    from sagemaker.experiments.experiment import Experiment

    exp = unique("exp")
    tc = log_run(sdk_session, exp, "doomed", {"lr": 0.5}, {"loss": [1.0]})
    trial = f"Default-Run-Group-{exp}"
    assert sm.describe_trial(TrialName=trial)["ExperimentName"] == exp

    Experiment.load(experiment_name=exp, sagemaker_session=sdk_session)._delete_all(action="--force")

    assert error_of(lambda: sm.describe_experiment(ExperimentName=exp))[0] == "ResourceNotFound"
    assert error_of(lambda: sm.describe_trial(TrialName=trial))[0] == "ResourceNotFound"
    assert error_of(lambda: sm.describe_trial_component(TrialComponentName=tc))[0] == "ResourceNotFound"
