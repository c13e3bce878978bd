use serde_json::json;

use super::*;

const FULL: &str = include_str!("testdata/full.json");
const MINIMAL: &str = include_str!("testdata/minimal.json");

/// A definition of `steps` (and no parameters), as text.
fn with_steps(steps: Value) -> String {
    json!({"Version": "2020-12-01", "Steps": steps}).to_string()
}

fn fail_step(name: &str) -> Value {
    json!({"Name": name, "Type": "Fail", "Arguments": {}})
}

#[test]
fn parses_every_sdk_compiled_definition() {
    let full = Definition::parse(FULL).unwrap();
    let names: Vec<&str> = full.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Prep",
            "Train",
            "Tune",
            "Approve",
            "Notify",
            "CheckAccuracy",
            "Register-RegisterModel",
            "Create-CreateModel",
            "Transform",
            "Fail"
        ]
    );
    assert_eq!(full.parameters.len(), 6);
    assert!(full.experiment_config.is_some());
    let minimal = Definition::parse(MINIMAL).unwrap();
    assert_eq!(minimal.steps.len(), 1);
    assert_eq!(minimal.steps[0].kind, "Fail");
}

#[test]
fn condition_steps_keep_only_conditions_and_name_their_branches() {
    let d = Definition::parse(FULL).unwrap();
    let cond = d.step("CheckAccuracy").unwrap();
    assert_eq!(cond.arguments.as_object().unwrap().len(), 1);
    assert_eq!(cond.arguments["Conditions"].as_array().unwrap().len(), 4);
    assert_eq!(
        cond.if_steps,
        ["Register-RegisterModel", "Create-CreateModel", "Transform"]
    );
    assert_eq!(cond.else_steps, ["Fail"]);
    assert_eq!(
        d.step("Fail").unwrap().branch_of,
        Some(("CheckAccuracy".into(), false))
    );
    assert_eq!(
        d.step("Transform").unwrap().branch_of,
        Some(("CheckAccuracy".into(), true))
    );
    // Its conditions reference Prep (JsonGet), Tune and Notify.
    let refs: Vec<&str> = cond.references.iter().map(String::as_str).collect();
    assert_eq!(refs, ["Notify", "Prep", "Tune"]);
}

#[test]
fn upstream_joins_depends_on_references_and_branch() {
    let d = Definition::parse(FULL).unwrap();
    let up = |n: &str| d.upstream(n).into_iter().collect::<Vec<_>>();
    assert!(up("Prep").is_empty());
    assert_eq!(up("Train"), ["Prep"]);
    assert_eq!(up("Approve"), ["Train"]);
    assert_eq!(up("Notify"), ["Approve", "Train", "Tune"]);
    assert_eq!(up("CheckAccuracy"), ["Approve", "Notify", "Prep", "Tune"]);
    assert_eq!(
        up("Transform"),
        ["CheckAccuracy", "Create-CreateModel", "Prep"]
    );
    assert_eq!(up("Fail"), ["CheckAccuracy"]);
    assert!(up("NoSuchStep").is_empty());
}

#[test]
fn step_members_cache_retry_property_files_outputs_extra() {
    let d = Definition::parse(FULL).unwrap();
    let prep = d.step("Prep").unwrap();
    assert_eq!(prep.display_name.as_deref(), Some("Preprocess"));
    assert_eq!(prep.description.as_deref(), Some("Splits the data"));
    assert_eq!(
        prep.cache,
        Some(CacheConfig {
            expire_after_secs: Some(3600.0)
        })
    );
    assert_eq!(
        prep.retry_policies,
        [
            RetryPolicy {
                exception_types: vec!["Step.SERVICE_FAULT".into(), "Step.THROTTLING".into()],
                interval_secs: 2.0,
                backoff_rate: 1.5,
                max_attempts: Some(3),
                expire_after_secs: None,
            },
            RetryPolicy {
                exception_types: vec![
                    "SageMaker.RESOURCE_LIMIT".into(),
                    "SageMaker.CAPACITY_ERROR".into()
                ],
                interval_secs: 1.0,
                backoff_rate: 2.0,
                max_attempts: None,
                expire_after_secs: Some(1800.0),
            }
        ]
    );
    assert_eq!(
        prep.property_files,
        [PropertyFile {
            name: "EvaluationReport".into(),
            output_name: "evaluation".into(),
            file_path: "evaluation.json".into()
        }]
    );
    let train = d.step("Train").unwrap();
    assert_eq!(
        train.cache.as_ref().unwrap().expire_after_secs,
        Some(30.0 * 86400.0)
    );
    let approve = d.step("Approve").unwrap();
    assert_eq!(
        approve.output_parameters,
        [
            ("approved".to_string(), "Boolean".to_string()),
            ("note".to_string(), "String".to_string())
        ]
    );
    assert!(
        approve.extra["SqsQueueUrl"]
            .as_str()
            .unwrap()
            .contains("approvals")
    );
    assert!(d.step("Notify").unwrap().extra.contains_key("FunctionArn"));
    assert!(prep.extra.is_empty());
}

#[test]
fn iso8601_durations() {
    assert_eq!(iso8601_duration_secs("PT1H"), Some(3600.0));
    assert_eq!(iso8601_duration_secs("P30D"), Some(2_592_000.0));
    assert_eq!(iso8601_duration_secs("PT10M"), Some(600.0));
    assert_eq!(iso8601_duration_secs("P1DT2H"), Some(93_600.0));
    assert_eq!(iso8601_duration_secs("PT1.5S"), Some(1.5));
    assert_eq!(iso8601_duration_secs("P2W"), Some(1_209_600.0));
    assert_eq!(
        iso8601_duration_secs("P1Y2M"),
        Some((365.0 + 60.0) * 86400.0)
    );
    for bad in [
        "", "P", "PT", "1H", "PT1X", "P1H", "PT1H2H", "PT2M1H", "P1DT",
    ] {
        assert_eq!(iso8601_duration_secs(bad), None, "{bad}");
    }
    let disabled = with_steps(json!([{"Name": "A", "Type": "Fail", "Arguments": {},
        "CacheConfig": {"Enabled": false, "ExpireAfter": "PT1H"}}]));
    assert_eq!(Definition::parse(&disabled).unwrap().steps[0].cache, None);
    let bad = with_steps(json!([{"Name": "A", "Type": "Fail",
        "CacheConfig": {"Enabled": true, "ExpireAfter": "1 hour"}}]));
    let err = Definition::parse(&bad).unwrap_err();
    assert!(
        err.contains("step 'A'") && err.contains("ExpireAfter"),
        "{err}"
    );
}

#[test]
fn refuses_bad_documents_and_versions() {
    for (text, needle) in [
        ("not json", "Unable to parse"),
        ("[]", "JSON object"),
        (r#"{"Steps": []}"#, "Version is required"),
        (r#"{"Version": "2019-01-01", "Steps": []}"#, "2019-01-01"),
        (r#"{"Version": "2020-12-01"}"#, "Steps is required"),
        (
            r#"{"Version": "2020-12-01", "Steps": {}}"#,
            "Steps must be a list",
        ),
        (
            r#"{"Version": "2020-12-01", "Steps": [], "Extra": 1}"#,
            "'Extra'",
        ),
    ] {
        let err = Definition::parse(text).unwrap_err();
        assert!(err.contains(needle), "{text}: {err}");
    }
}

#[test]
fn refuses_bad_steps_naming_them() {
    let cases = [
        (json!([{"Type": "Fail"}]), "Steps[0] has no Name"),
        (json!([{"Name": "a b", "Type": "Fail"}]), "step name"),
        (json!([{"Name": "A", "Type": "Sleep"}]), "Type 'Sleep'"),
        (json!([{"Name": "A"}]), "Type is required"),
        (
            json!([fail_step("A"), fail_step("A")]),
            "'A' is used more than once",
        ),
        (
            json!([{"Name": "A", "Type": "Fail", "DependsOn": ["B"]}]),
            "DependsOn 'B'",
        ),
        (
            json!([{"Name": "A", "Type": "Fail", "DependsOn": ["A"]}]),
            "itself",
        ),
        (
            json!([{"Name": "A", "Type": "Fail", "DependsOn": "B"}]),
            "DependsOn must be",
        ),
        (
            json!([{"Name": "A", "Type": "Training", "Arguments": {"X": {"Get": "Steps.Gone.Y"}}}]),
            "step 'Gone'",
        ),
        (
            json!([{"Name": "C", "Type": "Condition", "Arguments": {"Conditions": []}}]),
            "Conditions",
        ),
        (
            json!([{"Name": "A", "Type": "Fail", "RetryPolicies": [{"ExceptionType": ["Nope"]}]}]),
            "'Nope'",
        ),
        (
            json!([{"Name": "A", "Type": "Fail",
            "RetryPolicies": [{"ExceptionType": ["Step.THROTTLING"], "MaxAttempts": 21}]}]),
            "MaxAttempts",
        ),
        (
            json!([{"Name": "A", "Type": "Processing",
            "PropertyFiles": [{"PropertyFileName": "F", "OutputName": "o"}]}]),
            "FilePath",
        ),
        (
            json!([{"Name": "A", "Type": "Callback",
            "OutputParameters": [{"OutputName": "x", "OutputType": "List"}]}]),
            "OutputType",
        ),
    ];
    for (steps, needle) in cases {
        let err = Definition::parse(&with_steps(steps.clone())).unwrap_err();
        assert!(err.contains(needle), "{steps}: {err}");
    }
}

#[test]
fn branch_step_names_are_unique_across_the_definition() {
    let steps = json!([fail_step("A"), {"Name": "C", "Type": "Condition", "Arguments": {
        "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 1}],
        "IfSteps": [fail_step("A")]}}]);
    let err = Definition::parse(&with_steps(steps)).unwrap_err();
    assert!(err.contains("'A' is used more than once"), "{err}");
}

#[test]
fn refuses_cycles_and_names_them() {
    let steps = json!([
        {"Name": "A", "Type": "Training", "Arguments": {"X": {"Get": "Steps.C.ModelArtifacts"}}},
        {"Name": "B", "Type": "Training", "DependsOn": ["A"]},
        {"Name": "C", "Type": "Training", "DependsOn": ["B"]},
        {"Name": "D", "Type": "Fail"},
    ]);
    let err = Definition::parse(&with_steps(steps)).unwrap_err();
    assert!(err.contains("cycle"), "{err}");
    // In run order: B waits for A, C for B, A for C.
    assert!(err.ends_with("A -> B -> C -> A"), "{err}");
    let self_ref = json!([{"Name": "A", "Type": "Training",
        "Arguments": {"X": {"Get": "Steps.A.ModelArtifacts"}}}]);
    assert!(
        Definition::parse(&with_steps(self_ref))
            .unwrap_err()
            .contains("cycle")
    );
    // A condition whose branch step is also its own upstream.
    let through_branch = json!([{"Name": "C", "Type": "Condition", "Arguments": {
        "Conditions": [{"Type": "Equals", "LeftValue": {"Get": "Steps.X.Y"}, "RightValue": 1}],
        "IfSteps": [fail_step("X")]}}]);
    assert!(
        Definition::parse(&with_steps(through_branch))
            .unwrap_err()
            .contains("cycle")
    );
}

#[test]
fn parameters_are_read_and_checked() {
    let d = Definition::parse(FULL).unwrap();
    let p = &d.parameters[0];
    assert_eq!(p.name, "ProcessingInstanceType");
    assert_eq!(p.kind, ParameterType::String);
    assert_eq!(p.enum_values.as_ref().unwrap().len(), 2);
    assert_eq!(d.parameters[1].kind, ParameterType::Integer);
    assert_eq!(d.parameters[2].default, Some(json!(0.7)));
    assert_eq!(d.parameters[3].kind, ParameterType::Boolean);
    assert_eq!(d.parameters[5].default, None);
    for (params, needle) in [
        (json!([{"Name": "P", "Type": "Text"}]), "Type Text"),
        (
            json!([{"Name": "P", "Type": "Integer", "DefaultValue": 1.5}]),
            "not a Integer",
        ),
        (
            json!([{"Name": "P", "Type": "String"}, {"Name": "P", "Type": "String"}]),
            "more than once",
        ),
        (
            json!([{"Name": "P", "Type": "String", "DefaultValue": "c", "EnumValues": ["a", "b"]}]),
            "EnumValues",
        ),
        (json!([{"Type": "String"}]), "no Name"),
    ] {
        let text = json!({"Version": "2020-12-01", "Parameters": params, "Steps": []});
        let err = Definition::parse(&text.to_string()).unwrap_err();
        assert!(err.contains(needle), "{params}: {err}");
    }
}

#[test]
fn resolve_parameters_types_the_given_strings() {
    let d = Definition::parse(FULL).unwrap();
    let given = |pairs: &[(&str, &str)]| {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        d.resolve_parameters(&owned)
    };
    let values = given(&[
        ("ModelApprovalStatus", "Approved"),
        ("ProcessingInstanceCount", "3"),
        ("AccuracyThreshold", "0.5"),
        ("RegisterModel", "false"),
        ("ProcessingInstanceType", "ml.m5.large"),
    ])
    .unwrap();
    assert_eq!(values["ProcessingInstanceCount"], json!(3));
    assert_eq!(values["AccuracyThreshold"], json!(0.5));
    assert_eq!(values["RegisterModel"], json!(false));
    assert_eq!(values["ProcessingInstanceType"], json!("ml.m5.large"));
    assert_eq!(
        values["InputData"],
        json!("s3://lang-defs/abalone/abalone.csv")
    );
    assert_eq!(values["ModelApprovalStatus"], json!("Approved"));
    let defaults = given(&[("ModelApprovalStatus", "Pending")]).unwrap();
    assert_eq!(defaults["ProcessingInstanceCount"], json!(1));
    assert_eq!(defaults["RegisterModel"], json!(true));

    let err = given(&[]).unwrap_err();
    assert!(
        err.contains("'ModelApprovalStatus'") && err.contains("no default"),
        "{err}"
    );
    for (pairs, needle) in [
        (vec![("Nope", "1")], "'Nope' is not defined"),
        (
            vec![("ProcessingInstanceCount", "3.5")],
            "not a valid Integer",
        ),
        (vec![("AccuracyThreshold", "high")], "not a valid Float"),
        (vec![("RegisterModel", "yes")], "not a valid Boolean"),
        (
            vec![("ProcessingInstanceType", "ml.p3.2xlarge")],
            "EnumValues",
        ),
    ] {
        let mut pairs = pairs;
        pairs.push(("ModelApprovalStatus", "Approved"));
        let err = given(&pairs).unwrap_err();
        assert!(err.contains(needle), "{pairs:?}: {err}");
    }
}
