//! The validator against the generated tables: AWS's wording, types and constraints.

use serde_json::json;

use super::validate::{Shown, violations};
use super::*;

fn check(model: &Model, op: &str, input: Value) -> Result<(), InputError> {
    model.validate(model.operation(op).expect("implemented operation"), &input)
}

fn validation(model: &Model, op: &str, input: Value) -> String {
    match check(model, op, input) {
        Err(InputError::Validation(m)) => m,
        other => panic!("expected a ValidationException, got {other:?}"),
    }
}

fn create_model() -> Value {
    json!({
        "ModelName": "my-model",
        "PrimaryContainer": {
            "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1",
            "ModelDataUrl": "s3://bucket/model.tar.gz",
            "Environment": {"SAGEMAKER_PROGRAM": "serve.py"}
        },
        "ExecutionRoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "Tags": [{"Key": "team", "Value": "Grüße ½ ml"}],
        "EnableNetworkIsolation": false,
        "SomethingNew": {"ignored": true}
    })
}

#[test]
fn valid_create_model_passes() {
    assert_eq!(
        check(&sagemaker::MODEL, "CreateModel", create_model()),
        Ok(())
    );
}

#[test]
fn missing_required_member_is_not_null() {
    assert_eq!(
        validation(&sagemaker::MODEL, "CreateModel", json!({})),
        "1 validation error detected: Value null at 'modelName' failed to satisfy constraint: \
         Member must not be null"
    );
    // JSON null counts as absent.
    let msg = validation(
        &sagemaker::MODEL,
        "DescribeModel",
        json!({"ModelName": null}),
    );
    assert!(msg.ends_with(
        "Value null at 'modelName' failed to satisfy constraint: Member must not be null"
    ));
}

#[test]
fn too_long_name_reports_max_length() {
    let mut body = create_model();
    body["ModelName"] = json!("a".repeat(64));
    assert_eq!(
        validation(&sagemaker::MODEL, "CreateModel", body),
        format!(
            "1 validation error detected: Value '{}' at 'modelName' failed to satisfy constraint: \
             Member must have length less than or equal to 63",
            "a".repeat(64)
        )
    );
}

#[test]
fn pattern_mismatch_quotes_the_model_pattern() {
    let msg = validation(
        &sagemaker::MODEL,
        "DescribeModel",
        json!({"ModelName": "my_model"}),
    );
    assert_eq!(
        msg,
        r"1 validation error detected: Value 'my_model' at 'modelName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?"
    );
    // The whole value must match, not a substring.
    assert!(
        check(
            &sagemaker::MODEL,
            "DescribeModel",
            json!({"ModelName": "ok-"})
        )
        .is_err()
    );
}

#[test]
fn enum_mismatch_lists_values_in_model_order() {
    assert_eq!(
        validation(&sagemaker::MODEL, "ListModels", json!({"SortBy": "Size"})),
        "1 validation error detected: Value 'Size' at 'sortBy' failed to satisfy constraint: \
         Member must satisfy enum value set: [Name, CreationTime]"
    );
}

#[test]
fn integer_range_is_checked_both_ways() {
    let prefix = "1 validation error detected: Value";
    assert_eq!(
        validation(&sagemaker::MODEL, "ListModels", json!({"MaxResults": 0})),
        format!(
            "{prefix} '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"
        )
    );
    assert_eq!(
        validation(&sagemaker::MODEL, "ListModels", json!({"MaxResults": 101})),
        format!(
            "{prefix} '101' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100"
        )
    );
    assert_eq!(
        check(&sagemaker::MODEL, "ListModels", json!({"MaxResults": 100})),
        Ok(())
    );
}

#[test]
fn list_elements_are_named_index_then_member() {
    let mut body = create_model();
    body["Tags"] = json!([{"Key": "a", "Value": "b"}, {"Key": "c"}]);
    assert_eq!(
        validation(&sagemaker::MODEL, "CreateModel", body),
        "1 validation error detected: Value null at 'tags.2.member.value' failed to satisfy constraint: \
         Member must not be null"
    );
}

#[test]
fn errors_are_all_reported_in_model_order() {
    let body = json!({
        "ModelName": "bad_name",
        "PrimaryContainer": {"Image": "x".repeat(300)},
        "ExecutionRoleArn": "role"
    });
    let msg = validation(&sagemaker::MODEL, "CreateModel", body);
    assert!(
        msg.starts_with("4 validation errors detected: Value 'bad_name' at 'modelName' "),
        "{msg}"
    );
    let paths: Vec<_> = msg
        .split("; ")
        .map(|e| e.split('\'').nth(3).unwrap_or_default())
        .collect();
    assert_eq!(
        paths,
        [
            "modelName",
            "primaryContainer.image",
            "executionRoleArn",
            "executionRoleArn"
        ]
    );
    assert!(msg.contains(
        "Value 'role' at 'executionRoleArn' failed to satisfy constraint: Member must satisfy regular expression pattern: \
         arn:aws[a-z\\-]*:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+; Value 'role' at 'executionRoleArn' \
         failed to satisfy constraint: Member must have length greater than or equal to 20"
    ));
}

#[test]
fn bad_scalar_list_elements_are_reported_once_for_the_list() {
    let mut body = create_model();
    body["VpcConfig"] =
        json!({"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1", "bad subnet"]});
    assert_eq!(
        validation(&sagemaker::MODEL, "CreateModel", body),
        "1 validation error detected: Value '[subnet-1, bad subnet]' at 'vpcConfig.subnets' failed to satisfy \
         constraint: Member must satisfy constraint: [Member must have length less than or equal to 32, \
         Member must have length greater than or equal to 0, Member must satisfy regular expression pattern: [-0-9a-zA-Z]+]"
    );
}

#[test]
fn bad_map_keys_are_reported_for_the_map() {
    let mut body = create_model();
    body["PrimaryContainer"]["Environment"] = json!({"1BAD": "x"});
    let msg = validation(&sagemaker::MODEL, "CreateModel", body);
    assert!(msg.starts_with(
        "1 validation error detected: Value '{1BAD=x}' at 'primaryContainer.environment' failed to satisfy \
         constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 1024"
    ), "{msg}");
}

#[test]
fn wrong_json_type_is_a_serialization_error() {
    assert_eq!(
        check(&sagemaker::MODEL, "ListModels", json!({"MaxResults": "10"})),
        Err(InputError::Serialization(
            "Unexpected value type for member 'maxResults': expected integer".into()
        ))
    );
    assert!(matches!(
        check(
            &sagemaker::MODEL,
            "CreateModel",
            json!({"ModelName": "m", "Tags": {"Key": "a"}})
        ),
        Err(InputError::Serialization(_))
    ));
    assert!(matches!(
        check(&sagemaker::MODEL, "ListModels", json!([])),
        Err(InputError::Serialization(_))
    ));
    // A type error wins over constraint errors found before it.
    assert!(matches!(
        check(
            &sagemaker::MODEL,
            "ListModels",
            json!({"SortBy": "x", "MaxResults": 1.5})
        ),
        Err(InputError::Serialization(_))
    ));
}

#[test]
fn logs_requests_validate() {
    let put = json!({
        "logGroupName": "/aws/sagemaker/Endpoints/e",
        "logStreamName": "AllTraffic/i-0",
        "logEvents": [{"timestamp": 1_700_000_000_000_i64, "message": "hello"}]
    });
    assert_eq!(check(&logs::MODEL, "PutLogEvents", put), Ok(()));
    let msg = validation(
        &logs::MODEL,
        "CreateLogGroup",
        json!({"logGroupName": "bad name"}),
    );
    assert!(
        msg.starts_with("1 validation error detected: Value 'bad name' at 'logGroupName' "),
        "{msg}"
    );
    assert_eq!(
        check(
            &logs::MODEL,
            "CreateLogGroup",
            json!({"logGroupName": "g", "tags": {"Grüße": "½ ²"}})
        ),
        Ok(())
    );
    assert!(
        check(
            &logs::MODEL,
            "CreateLogGroup",
            json!({"logGroupName": "g", "tags": {"a": "no*"}})
        )
        .is_err()
    );
}

#[test]
fn operations_known_and_implemented_are_told_apart() {
    // SageMaker validates every operation (the stored engine answers those not written by hand)
    let m = &sagemaker::MODEL;
    assert!(m.is_known_operation("CreateCluster"));
    assert!(m.operation("CreateCluster").is_some());
    assert_eq!(m.operations.len(), m.all_operations.len());
    assert!(!m.is_known_operation("CreateTeapot"));
    // Logs validates only what it implements
    assert!(logs::MODEL.is_known_operation("PutLogEvents"));
    assert!(logs::MODEL.is_known_operation("CreateDelivery"));
    assert!(logs::MODEL.operation("CreateDelivery").is_none());
}

#[test]
fn tables_are_sorted_and_every_target_resolves() {
    for model in [&sagemaker::MODEL, &logs::MODEL, &cloudwatch::MODEL] {
        assert!(model.shapes.windows(2).all(|w| w[0].name < w[1].name));
        assert!(model.operations.windows(2).all(|w| w[0].name < w[1].name));
        assert!(model.all_operations.windows(2).all(|w| w[0] < w[1]));
        let resolves = |name: &str| {
            assert!(
                model.shape(name).is_some(),
                "{}: no shape {name}",
                model.service
            )
        };
        for op in model.operations {
            assert!(model.is_known_operation(op.name));
            op.input.map(resolves);
        }
        for shape in model.shapes {
            match &shape.kind {
                ShapeKind::Structure { members, required } => {
                    members.iter().for_each(|m| resolves(m.target));
                    assert!(
                        required
                            .iter()
                            .all(|r| members.iter().any(|m| m.name == *r))
                    );
                }
                ShapeKind::List { member, .. } => resolves(member),
                ShapeKind::Map { key, value, .. } => {
                    resolves(key);
                    resolves(value);
                }
                _ => {}
            }
        }
    }
}

#[test]
fn every_model_pattern_compiles() {
    let mut broken = Vec::new();
    for model in [&sagemaker::MODEL, &logs::MODEL, &cloudwatch::MODEL] {
        for shape in model.shapes {
            if let ShapeKind::String {
                pattern: Some(p), ..
            } = &shape.kind
                && p.regex().is_none()
            {
                broken.push(format!("{}.{}: {}", model.service, shape.name, p.source));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "patterns that would go unchecked: {broken:#?}"
    );
}

#[test]
fn java_pattern_semantics_are_kept() {
    let p = |model: &Model, name: &str| match model.shape(name).map(|s| &s.kind) {
        Some(ShapeKind::String {
            pattern: Some(p), ..
        }) => *p,
        _ => panic!("{name} has no pattern"),
    };
    // Java's \d is ASCII; Rust's would take Arabic-Indic digits.
    assert!(p(&logs::MODEL, "AccountId").is_match("123456789012"));
    assert!(!p(&logs::MODEL, "AccountId").is_match("١٢٣٤٥٦٧٨٩٠١٢"));
    // Java's '.' stops at line terminators.
    assert!(!p(&sagemaker::MODEL, "RoleArn").is_match("arn:aws:iam::123456789012:role/a\nb"));
    // (?<!-) rewritten: a versioned name may not end with '-'.
    let versioned = p(&sagemaker::MODEL, "VersionedArnOrName");
    assert!(versioned.is_match("my-package"));
    assert!(
        versioned.is_match("arn:aws:sagemaker:us-east-1:123456789012:model-package/my-package/3")
    );
    assert!(!versioned.is_match("my-package-"));
    // \p{L}\p{Z}\p{N} spelled out: letters, spaces and numbers of any script.
    let tag = p(&sagemaker::MODEL, "TagValue");
    assert!(tag.is_match("Grüße 東京 ½ ٣"));
    assert!(!tag.is_match("tab\there"));
}

#[test]
fn sensitive_values_are_left_out() {
    let mut v = Validator {
        model: &sagemaker::MODEL,
        errors: Vec::new(),
    };
    let kind = ShapeKind::String {
        min: Some(5),
        max: None,
        pattern: None,
        enum_values: &[],
        sensitive: true,
    };
    let shown = Shown::Hidden;
    violations(&kind, &json!("abc"), |c| {
        v.push(Some(shown), &Path::Member(&Path::Root, "Secret"), c)
    });
    assert_eq!(
        v.errors,
        [
            "Value at 'secret' failed to satisfy constraint: Member must have length greater than or equal to 5"
        ]
    );
}
