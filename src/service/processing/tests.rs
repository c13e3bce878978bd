use serde_json::json;

use super::*;

fn request(v: Value) -> CreateProcessingJobRequest {
    serde_json::from_value(v).expect("a request")
}

fn base() -> Value {
    json!({
        "ProcessingJobName": "p",
        "AppSpecification": {"ImageUri": "my-image:latest"},
        "RoleArn": "arn:aws:iam::000000000000:role/R",
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}},
    })
}

#[test]
fn the_status_table_reaches_every_status_and_ends_in_the_final_ones() {
    let reached = PROCESSING_STATUS.reachable();
    for s in [InProgress, Stopping, Completed, Failed, Stopped] {
        assert!(reached.contains(&s), "{s}");
    }
    for s in [Completed, Failed, Stopped] {
        assert!(PROCESSING_STATUS.is_terminal(s), "{s}");
    }
    assert!(!PROCESSING_STATUS.allows(Stopping, InProgress));
    assert!(!PROCESSING_STATUS.allows(Completed, Stopped));
}

#[test]
fn dataset_definitions_feature_store_and_paths_outside_processing_are_refused() {
    let mut v = base();
    v["ProcessingInputs"] = json!([{"InputName": "q", "DatasetDefinition": {
        "AthenaDatasetDefinition": {"Catalog": "c", "Database": "d", "QueryString": "select 1",
            "OutputS3Uri": "s3://b/q", "OutputFormat": "PARQUET"}}}]);
    let e = check_request(&request(v)).expect_err("refused");
    assert!(e.to_string().contains("DatasetDefinition"), "{e}");

    let mut v = base();
    v["ProcessingInputs"] = json!([{"InputName": "a", "S3Input": {"S3Uri": "s3://b/a",
        "LocalPath": "/tmp/a", "S3DataType": "S3Prefix", "S3InputMode": "File"}}]);
    let e = check_request(&request(v)).expect_err("refused");
    assert!(e.to_string().contains("/opt/ml/processing/"), "{e}");

    let mut v = base();
    v["ProcessingInputs"] = json!([{"InputName": "a", "S3Input": {"S3Uri": "s3://b/a",
        "LocalPath": "/opt/ml/processing/../x", "S3DataType": "S3Prefix", "S3InputMode": "File"}}]);
    assert!(check_request(&request(v)).is_err());

    let mut v = base();
    v["ProcessingOutputConfig"] = json!({"Outputs": [{"OutputName": "f",
        "FeatureStoreOutput": {"FeatureGroupName": "g"}}]});
    let e = check_request(&request(v)).expect_err("refused");
    assert!(e.to_string().contains("FeatureStoreOutput"), "{e}");

    let mut v = base();
    v["ProcessingInputs"] = json!([{"InputName": "a", "S3Input": {"S3Uri": "s3://b/a",
        "LocalPath": "/opt/ml/processing/a", "S3DataType": "S3Prefix", "S3InputMode": "File"}}]);
    v["ProcessingOutputConfig"] = json!({"Outputs": [{"OutputName": "a", "S3Output": {
        "S3Uri": "s3://b/o", "LocalPath": "/opt/ml/processing/o", "S3UploadMode": "EndOfJob"}}]});
    let e = check_request(&request(v)).expect_err("refused");
    assert!(e.to_string().contains("unique"), "{e}");
}

#[test]
fn spark_images_are_refused_with_the_reason_and_emulated_ones_accepted() {
    let mut v = base();
    v["AppSpecification"]["ImageUri"] =
        json!("173754725891.dkr.ecr.us-east-1.amazonaws.com/sagemaker-spark-processing:3.3-cpu");
    let e = check_request(&request(v)).expect_err("refused");
    assert!(e.to_string().contains("Spark"), "{e}");

    let mut v = base();
    v["AppSpecification"]["ImageUri"] =
        json!("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3");
    v["ProcessingInputs"] = json!([{"InputName": "code", "S3Input": {"S3Uri": "s3://b/c.py",
        "LocalPath": "/opt/ml/processing/input/code", "S3DataType": "S3Prefix",
        "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated",
        "S3CompressionType": "None"}}]);
    check_request(&request(v)).expect("accepted");
}
