use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::service::pipelines::definition::Definition;

/// A Scope over fixed values: the full sample definition's steps, parameters, execution
/// variables, some succeeded steps' properties and S3 documents.
pub struct FakeScope {
    pub definition: Definition,
    pub parameters: BTreeMap<String, Value>,
    pub properties: BTreeMap<String, Value>,
    pub objects: BTreeMap<String, Value>,
}

impl FakeScope {
    pub fn new() -> FakeScope {
        let definition = Definition::parse(include_str!("testdata/full.json")).unwrap();
        let parameters = definition
            .resolve_parameters(&[("ModelApprovalStatus".into(), "Approved".into())])
            .unwrap();
        let properties = BTreeMap::from([
            (
                "Prep".to_string(),
                json!({"ProcessingJobName": "prep-1",
                "ProcessingOutputConfig": {"Outputs": [
                    {"OutputName": "train", "S3Output": {"S3Uri": "s3://b/train"}},
                    {"OutputName": "evaluation", "S3Output": {"S3Uri": "s3://b/eval/"}}]}}),
            ),
            (
                "Train".to_string(),
                json!({"ModelArtifacts": {"S3ModelArtifacts": "s3://b/model.tar.gz"},
                "HyperParameters": {"max_depth": "5", "a.b": "dotted"},
                "FinalMetricDataList": [{"MetricName": "rmse", "Value": 0.25}]}),
            ),
            (
                "Tune".to_string(),
                json!({"TrainingJobSummaries": [
                {"TrainingJobName": "t-1", "FinalHyperParameterTuningJobObjectiveMetric": {"Value": 0.5}}]}),
            ),
            (
                "Notify".to_string(),
                json!({"OutputParameters": [
                {"Name": "status", "Value": "ok"}, {"Name": "other", "Value": "x"}]}),
            ),
        ]);
        let objects = BTreeMap::from([(
            "s3://b/eval/evaluation.json".to_string(),
            json!({"metrics": {"accuracy": {"value": 0.8}, "list": [1, {"c": "deep"}]}}),
        )]);
        FakeScope {
            definition,
            parameters,
            properties,
            objects,
        }
    }
}

impl Scope for FakeScope {
    fn parameter(&self, name: &str) -> Option<Value> {
        self.parameters.get(name).cloned()
    }
    fn execution_variable(&self, name: &str) -> Option<Value> {
        match name {
            "PipelineExecutionId" => Some(json!("exec1")),
            "PipelineName" => Some(json!("Abalone")),
            _ => None,
        }
    }
    fn step_properties(&self, step: &str) -> Option<&Value> {
        self.properties.get(step)
    }
    fn step_def(&self, step: &str) -> Option<&StepDef> {
        self.definition.step(step)
    }
    fn read_s3_json(&self, uri: &str) -> Result<Value, String> {
        self.objects
            .get(uri)
            .cloned()
            .ok_or_else(|| format!("NoSuchKey: {uri}"))
    }
    fn experiment_config(&self, name: &str) -> Option<Value> {
        (name == "ExperimentName").then(|| json!("abalone"))
    }
}

fn get(path: &str) -> Value {
    json!({ "Get": path })
}

#[test]
fn resolves_parameters_execution_variables_and_experiment_config() {
    let s = FakeScope::new();
    assert_eq!(
        resolve(&get("Parameters.ProcessingInstanceCount"), &s).unwrap(),
        json!(1)
    );
    assert_eq!(
        resolve(&get("Parameters.AccuracyThreshold"), &s).unwrap(),
        json!(0.7)
    );
    assert_eq!(
        resolve(&get("Execution.PipelineExecutionId"), &s).unwrap(),
        json!("exec1")
    );
    assert_eq!(
        resolve(&get("PipelineExperimentConfig.ExperimentName"), &s).unwrap(),
        json!("abalone")
    );
    let err = resolve(&get("Parameters.Nope"), &s).unwrap_err();
    assert_eq!(
        err,
        "Cannot resolve Parameters.Nope: no parameter named 'Nope'"
    );
    assert!(
        resolve(&get("Execution.Nope"), &s)
            .unwrap_err()
            .contains("Execution.Nope")
    );
    assert!(
        resolve(&get("Other.X"), &s)
            .unwrap_err()
            .contains("Other.X")
    );
    assert!(
        resolve(&json!({"Get": 3}), &s)
            .unwrap_err()
            .contains("string")
    );
}

#[test]
fn resolves_step_property_paths() {
    let s = FakeScope::new();
    let cases = [
        (
            "Steps.Train.ModelArtifacts.S3ModelArtifacts",
            json!("s3://b/model.tar.gz"),
        ),
        (
            "Steps.Prep.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri",
            json!("s3://b/train"),
        ),
        (
            "Steps.Prep.ProcessingOutputConfig.Outputs[\"train\"].S3Output.S3Uri",
            json!("s3://b/train"),
        ),
        (
            "Steps.Prep.ProcessingOutputConfig.Outputs[1].OutputName",
            json!("evaluation"),
        ),
        (
            "Steps.Tune.TrainingJobSummaries[0].FinalHyperParameterTuningJobObjectiveMetric.Value",
            json!(0.5),
        ),
        ("Steps.Train.HyperParameters['max_depth']", json!("5")),
        ("Steps.Train.HyperParameters['a.b']", json!("dotted")),
        ("Steps.Train.FinalMetricDataList['rmse'].Value", json!(0.25)),
        (
            "Steps.Notify.OutputParameters['status']",
            json!({"Name": "status", "Value": "ok"}),
        ),
        ("Steps.Prep.ProcessingJobName", json!("prep-1")),
    ];
    for (path, want) in cases {
        assert_eq!(resolve(&get(path), &s).unwrap(), want, "{path}");
    }
    let whole = resolve(&get("Steps.Prep"), &s).unwrap();
    assert_eq!(whole["ProcessingJobName"], "prep-1");
    let err = resolve(&get("Steps.Train.ModelArtifacts.Nope"), &s).unwrap_err();
    assert_eq!(
        err,
        "Cannot resolve Steps.Train.ModelArtifacts.Nope: step 'Train' has no property ModelArtifacts.Nope"
    );
    let err = resolve(&get("Steps.Transform.TransformJobName"), &s).unwrap_err();
    assert!(err.contains("step 'Transform' has not succeeded"), "{err}");
    for bad in [
        "Steps.Train.Outputs[x]",
        "Steps.Train.Outputs['x",
        "Steps.Train.A..B",
    ] {
        assert!(
            resolve(&get(bad), &s)
                .unwrap_err()
                .starts_with("Cannot resolve"),
            "{bad}"
        );
    }
    assert!(resolve(&get("Steps.Prep.ProcessingOutputConfig.Outputs[5]"), &s).is_err());
}

#[test]
fn parse_path_segments() {
    use PathSegment::*;
    assert_eq!(
        parse_path("A.B['x.y'][2].C[\"z\"]").unwrap(),
        [
            Member("A".into()),
            Member("B".into()),
            Key("x.y".into()),
            Index(2),
            Member("C".into()),
            Key("z".into())
        ]
    );
    assert_eq!(parse_path("").unwrap(), []);
    assert!(parse_path("A[-1]").is_err());
    for bad in [".A", "A..B", "A.", "A.[0]", "A[0", "A['x']x"] {
        assert!(parse_path(bad).is_err(), "{bad}");
    }
}

#[test]
fn resolves_nested_expressions_anywhere() {
    let s = FakeScope::new();
    let v = json!({"A": [1, {"B": get("Parameters.InputData")}], "C": {"Get": "x", "Other": 1}});
    let r = resolve(&v, &s).unwrap();
    assert_eq!(r["A"][1]["B"], "s3://lang-defs/abalone/abalone.csv");
    // An object with more members than an expression is data.
    assert_eq!(r["C"], json!({"Get": "x", "Other": 1}));
    assert!(
        resolve(&json!({"Std:Nope": {}}), &s)
            .unwrap_err()
            .contains("Std:Nope")
    );
}

#[test]
fn join_stringifies_each_value() {
    let s = FakeScope::new();
    let join = json!({"Std:Join": {"On": ",", "Values": [
        "a", 3, 0.5, true, get("Parameters.RegisterModel"), get("Parameters.AccuracyThreshold"),
        get("Execution.PipelineName"), {"Std:Join": {"On": "", "Values": ["x", 1]}}]}});
    assert_eq!(
        resolve(&join, &s).unwrap(),
        json!("a,3,0.5,true,true,0.7,Abalone,x1")
    );
    let err = resolve(
        &json!({"Std:Join": {"On": "/", "Values": [get("Parameters.Nope")]}}),
        &s,
    );
    assert!(err.unwrap_err().contains("Parameters.Nope"));
    assert!(resolve(&json!({"Std:Join": {"On": "/"}}), &s).is_err());
    assert_eq!(to_display_string(&json!(1.0)), "1.0");
    assert_eq!(to_display_string(&json!(false)), "false");
    assert_eq!(to_display_string(&json!(null)), "");
    assert_eq!(to_display_string(&json!("s")), "s");
}

#[test]
fn json_get_reads_the_property_file() {
    let s = FakeScope::new();
    let jg = |path: &str| {
        json!({"Std:JsonGet": {
        "PropertyFile": get("Steps.Prep.PropertyFiles.EvaluationReport"), "Path": path}})
    };
    assert_eq!(
        resolve(&jg("metrics.accuracy.value"), &s).unwrap(),
        json!(0.8)
    );
    assert_eq!(
        resolve(&jg("$.metrics.list[1].c"), &s).unwrap(),
        json!("deep")
    );
    assert_eq!(
        resolve(&jg("metrics['accuracy'].value"), &s).unwrap(),
        json!(0.8)
    );
    let err = resolve(&jg("metrics.recall"), &s).unwrap_err();
    assert!(
        err.contains("metrics.recall") && err.contains("s3://b/eval/evaluation.json"),
        "{err}"
    );
    let other =
        json!({"Std:JsonGet": {"PropertyFile": get("Steps.Prep.PropertyFiles.Nope"), "Path": "a"}});
    assert!(
        resolve(&other, &s)
            .unwrap_err()
            .contains("no property file 'Nope'")
    );
    let unrun =
        json!({"Std:JsonGet": {"PropertyFile": get("Steps.Gone.PropertyFiles.F"), "Path": "a"}});
    assert!(
        resolve(&unrun, &s)
            .unwrap_err()
            .contains("no step named 'Gone'")
    );
    let by_name = json!({"Std:JsonGet": {"PropertyFile": "EvaluationReport", "Path": "a"}});
    assert!(
        resolve(&by_name, &s)
            .unwrap_err()
            .contains("Steps.<step>.PropertyFiles")
    );
}

#[test]
fn json_get_reads_an_s3_uri() {
    let s = FakeScope::new();
    let v = json!({"Std:JsonGet": {"S3Uri": {"Std:Join": {"On": "/", "Values": [
        "s3://b/eval", "evaluation.json"]}}, "Path": "metrics.accuracy.value"}});
    assert_eq!(resolve(&v, &s).unwrap(), json!(0.8));
    let missing = json!({"Std:JsonGet": {"S3Uri": "s3://b/none.json", "Path": "a"}});
    assert!(resolve(&missing, &s).unwrap_err().contains("NoSuchKey"));
}

#[test]
fn property_file_uri_joins_output_and_path() {
    let s = FakeScope::new();
    let prep = s.definition.step("Prep").unwrap();
    assert_eq!(
        property_file_uri(prep, &s.properties["Prep"], "EvaluationReport").as_deref(),
        Some("s3://b/eval/evaluation.json")
    );
    assert_eq!(property_file_uri(prep, &s.properties["Prep"], "Nope"), None);
    assert_eq!(
        property_file_uri(prep, &json!({}), "EvaluationReport"),
        None
    );
}

#[test]
fn references_find_every_step_get() {
    let v = json!({"a": [get("Steps.A.X"), {"Std:Join": {"On": "", "Values": [get("Steps.B[0]")]}}],
        "b": {"Std:JsonGet": {"PropertyFile": get("Steps.C.PropertyFiles.F"), "Path": "x"}},
        "c": get("Parameters.Steps"), "d": get("Execution.PipelineName"), "e": get("Steps.D")});
    let refs: Vec<String> = references(&v).into_iter().collect();
    assert_eq!(refs, ["A", "B", "C", "D"]);
    assert!(references(&json!("Steps.X")).is_empty());
}
