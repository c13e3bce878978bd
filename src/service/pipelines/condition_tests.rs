use serde_json::json;

use super::*;
use crate::service::pipelines::expr::tests::FakeScope;

fn cmp(kind: &str, left: Value, right: Value) -> Value {
    json!({"Type": kind, "LeftValue": left, "RightValue": right})
}

fn holds(c: Value) -> bool {
    evaluate(&c, &FakeScope::new()).unwrap()
}

#[test]
fn the_sdk_compiled_conditions_evaluate() {
    let s = FakeScope::new();
    let cond = s.definition.step("CheckAccuracy").unwrap();
    let conditions = cond.arguments["Conditions"].as_array().unwrap();
    // accuracy 0.8 >= 0.7, instance type in list, not (RegisterModel == false), Or(...)
    assert!(evaluate_all(conditions, &s).unwrap());
    let mut s = FakeScope::new();
    s.parameters.insert("AccuracyThreshold".into(), json!(0.9));
    assert!(!evaluate_all(conditions, &s).unwrap());
}

#[test]
fn comparisons_across_numbers_and_strings() {
    assert!(holds(cmp("Equals", json!(3), json!(3.0))));
    assert!(holds(cmp("Equals", json!("3"), json!(3))));
    assert!(holds(cmp("Equals", json!("a"), json!("a"))));
    assert!(!holds(cmp("Equals", json!("a"), json!("b"))));
    assert!(!holds(cmp("Equals", json!("a"), json!(1))));
    assert!(holds(cmp("Equals", json!(true), json!("True"))));
    assert!(!holds(cmp("Equals", json!(true), json!(1))));
    assert!(holds(cmp("Equals", json!(null), json!(null))));
    assert!(holds(cmp("GreaterThan", json!(2), json!(1.5))));
    assert!(!holds(cmp("GreaterThan", json!(1), json!(1))));
    assert!(holds(cmp("GreaterThanOrEqualTo", json!(1), json!(1.0))));
    assert!(holds(cmp("LessThan", json!("0.25"), json!(0.5))));
    assert!(holds(cmp("LessThanOrEqualTo", json!("b"), json!("b"))));
    assert!(holds(cmp("LessThan", json!("abc"), json!("abd"))));
    // Strings order as strings even when they hold numbers.
    assert!(holds(cmp("LessThan", json!("10"), json!("9"))));
    let err = evaluate(
        &cmp("GreaterThan", json!(true), json!(false)),
        &FakeScope::new(),
    );
    assert!(err.unwrap_err().contains("cannot compare"));
    let err = evaluate(&cmp("LessThan", json!("abc"), json!(1)), &FakeScope::new());
    assert!(err.unwrap_err().contains("cannot compare"));
}

#[test]
fn operands_are_resolved_first() {
    let left = json!({"Get": "Steps.Train.FinalMetricDataList['rmse'].Value"});
    assert!(holds(cmp(
        "LessThan",
        left.clone(),
        json!({"Get": "Parameters.AccuracyThreshold"})
    )));
    let err = evaluate(
        &cmp("Equals", json!({"Get": "Steps.Transform.X"}), json!(1)),
        &FakeScope::new(),
    );
    assert!(
        err.unwrap_err()
            .contains("Cannot resolve Steps.Transform.X")
    );
}

#[test]
fn in_not_or() {
    let q = json!({"Get": "Parameters.ProcessingInstanceType"});
    assert!(holds(
        json!({"Type": "In", "QueryValue": q, "Values": ["x", "ml.m5.xlarge"]})
    ));
    assert!(!holds(
        json!({"Type": "In", "QueryValue": q, "Values": ["x"]})
    ));
    assert!(holds(
        json!({"Type": "In", "QueryValue": 1, "Values": [{"Get": "Parameters.ProcessingInstanceCount"}]})
    ));
    assert!(holds(
        json!({"Type": "Not", "Condition": cmp("Equals", json!(1), json!(2))})
    ));
    assert!(!holds(
        json!({"Type": "Not", "Condition": cmp("Equals", json!(1), json!(1))})
    ));
    let or = |a: bool, b: bool| {
        json!({"Type": "Or", "Conditions": [
        cmp("Equals", json!(a), json!(true)), cmp("Equals", json!(b), json!(true))]})
    };
    assert!(holds(or(false, true)));
    assert!(!holds(or(false, false)));
    let s = FakeScope::new();
    assert!(evaluate_all(&[], &s).unwrap());
    let all = [
        cmp("Equals", json!(1), json!(1)),
        cmp("Equals", json!(1), json!(2)),
    ];
    assert!(!evaluate_all(&all, &s).unwrap());
}

#[test]
fn malformed_conditions_are_errors() {
    let s = FakeScope::new();
    for (c, needle) in [
        (
            json!({"Type": "Between", "LeftValue": 1, "RightValue": 2}),
            "'Between'",
        ),
        (json!({"LeftValue": 1}), "no Type"),
        (json!({"Type": "Equals", "LeftValue": 1}), "no RightValue"),
        (
            json!({"Type": "In", "QueryValue": 1, "Values": 1}),
            "Values must be a list",
        ),
        (json!({"Type": "Not"}), "no Condition"),
        (
            json!({"Type": "Or", "Conditions": {}}),
            "Conditions must be a list",
        ),
    ] {
        let err = evaluate(&c, &s).unwrap_err();
        assert!(err.contains(needle), "{c}: {err}");
    }
}
