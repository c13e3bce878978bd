//! The typed shapes against the validator: every body it accepts must decode, and a decoded
//! request must render back to the JSON it came from (members, enums, numbers and all).

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::sagemaker::*;
use super::{Timestamp, decode, logs};
use crate::aws::model::{self, Model};

const ROLE: &str = "arn:aws:iam::000000000000:role/SageMakerRole";
const MODEL_ARN: &str = "arn:aws:sagemaker:us-east-1:000000000000:model/model";
const IMAGE: &str = "000000000000.dkr.ecr.us-east-1.amazonaws.com/xgboost:1.7-1";
const PIPELINE_ARN: &str = "arn:aws:sagemaker:us-east-1:000000000000:pipeline/p";
const EXECUTION_ARN: &str =
    "arn:aws:sagemaker:us-east-1:000000000000:pipeline/p/execution/abcdefghijkl";
const PACKAGE_ARN: &str = "arn:aws:sagemaker:us-east-1:000000000000:model-package/g/1";
const GROUP_ARN: &str = "arn:aws:sagemaker:us-east-1:000000000000:model-package-group/g";
/// An idempotency token: the model wants 32 to 128 characters.
const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Validates `body` as `op`, decodes it as `T`, and checks `T` renders it back unchanged.
fn round_trip<T: DeserializeOwned + Serialize>(model: &Model, op: &str, body: &Value) {
    let operation = model.operation(op).expect("implemented operation");
    model
        .validate(operation, body)
        .unwrap_or_else(|e| panic!("{op}: the test body is not valid: {e}"));
    let members = body.as_object().expect("an object body");
    let typed: T = decode(members).unwrap_or_else(|e| panic!("{op}: decode failed: {e}"));
    let back = serde_json::to_value(&typed).expect("serialize");
    assert_eq!(&back, body, "{op} does not render back as sent");
}

fn create_training_job() -> Value {
    json!({
        "TrainingJobName": "xgb-2026-12-05",
        "HyperParameters": {"num_round": "10", "objective": "reg:squarederror"},
        "AlgorithmSpecification": {
            "TrainingImage": IMAGE,
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "rmse", "Regex": "rmse:([0-9.]+)"}],
            "EnableSageMakerMetricsTimeSeries": false
        },
        "RoleArn": ROLE,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": "s3://bucket/train/",
                    "S3DataDistributionType": "FullyReplicated"
                }},
                "ContentType": "text/csv",
                "CompressionType": "None",
                "RecordWrapperType": "None",
                "InputMode": "Pipe"
            },
            {
                "ChannelName": "validation",
                "DataSource": {"S3DataSource": {
                    "S3DataType": "ManifestFile",
                    "S3Uri": "s3://bucket/validation.manifest",
                    "S3DataDistributionType": "ShardedByS3Key"
                }},
                "ShuffleConfig": {"Seed": 7}
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/output/", "CompressionType": "GZIP"},
        "ResourceConfig": {
            "InstanceType": "ml.m5.large",
            "InstanceCount": 2,
            "VolumeSizeInGB": 30,
            "KeepAlivePeriodInSeconds": 0
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400, "MaxWaitTimeInSeconds": 172800},
        "Tags": [{"Key": "team", "Value": "ml"}],
        "EnableNetworkIsolation": false,
        "EnableManagedSpotTraining": true,
        "CheckpointConfig": {
            "S3Uri": "s3://bucket/checkpoints/",
            "LocalPath": "/opt/ml/checkpoints"
        },
        "Environment": {"MODE": "fast"},
        "RetryStrategy": {"MaximumRetryAttempts": 2},
        "ExperimentConfig": {"ExperimentName": "exp", "TrialName": "trial"}
    })
}

fn create_endpoint_config() -> Value {
    json!({
        "EndpointConfigName": "cfg",
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": "model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.g5.xlarge",
                // f64 members render as floats, so the body writes its weights as floats too.
                "InitialVariantWeight": 1.0,
                "VolumeSizeInGB": 20,
                "ContainerStartupHealthCheckTimeoutInSeconds": 600
            },
            {
                "VariantName": "Serverless",
                "ModelName": "model",
                "InitialVariantWeight": 0.5,
                "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
            }
        ],
        "DataCaptureConfig": {
            "EnableCapture": true,
            "InitialSamplingPercentage": 50,
            "DestinationS3Uri": "s3://bucket/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {
                "CsvContentTypes": ["text/csv"],
                "JsonContentTypes": ["application/json"]
            }
        },
        "Tags": [{"Key": "stage", "Value": "dev"}],
        "KmsKeyId": "alias/key"
    })
}

fn create_transform_job() -> Value {
    json!({
        "TransformJobName": "batch",
        "ModelName": "model",
        "MaxConcurrentTransforms": 2,
        "MaxPayloadInMB": 6,
        "BatchStrategy": "MultiRecord",
        "Environment": {"A": "1"},
        "ModelClientConfig": {"InvocationsTimeoutInSeconds": 600, "InvocationsMaxRetries": 1},
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/in/"}},
            "ContentType": "text/csv",
            "CompressionType": "None",
            "SplitType": "Line"
        },
        "TransformOutput": {
            "S3OutputPath": "s3://bucket/out/",
            "Accept": "text/csv",
            "AssembleWith": "Line"
        },
        "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
        "DataProcessing": {"InputFilter": "$[1:]", "OutputFilter": "$", "JoinSource": "Input"},
        "Tags": []
    })
}

fn create_notebook_instance() -> Value {
    json!({
        "NotebookInstanceName": "nb",
        "InstanceType": "ml.t3.medium",
        "RoleArn": ROLE,
        "LifecycleConfigName": "lc",
        "DirectInternetAccess": "Enabled",
        "VolumeSizeInGB": 5,
        "RootAccess": "Disabled",
        "PlatformIdentifier": "notebook-al2-v2",
        "InstanceMetadataServiceConfiguration": {"MinimumInstanceMetadataServiceVersion": "2"},
        "Tags": [{"Key": "owner", "Value": "me"}]
    })
}

/// A pipeline definition, sent as a JSON document inside a string.
fn pipeline_definition() -> String {
    json!({
        "Version": "2020-12-01",
        "Parameters": [
            {"Name": "InputData", "Type": "String", "DefaultValue": "s3://bucket/in/"},
            {"Name": "Epochs", "Type": "Integer", "DefaultValue": 10}
        ],
        "Steps": [
            {
                "Name": "Train",
                "Type": "Training",
                "Arguments": {
                    "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
                    "RoleArn": ROLE,
                    "OutputDataConfig": {"S3OutputPath": "s3://bucket/out/"},
                    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
                    "StoppingCondition": {"MaxRuntimeInSeconds": 600}
                }
            },
            {"Name": "Approve", "Type": "Callback", "DependsOn": ["Train"], "Arguments": {}}
        ]
    })
    .to_string()
}

/// A model package container, with most of what the model lets it say.
fn package_container() -> Value {
    json!({
        "ContainerHostname": "inference",
        "Image": IMAGE,
        "ImageDigest": DIGEST,
        "ModelDataUrl": "s3://bucket/model.tar.gz",
        "ProductId": "product-1",
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "LOG_LEVEL": "info"},
        "ModelInput": {"DataInputConfig": "{\"input\": [1, 28, 28]}"},
        "Framework": "XGBOOST",
        "FrameworkVersion": "1.7-1",
        "NearestModelName": "xgboost",
        "AdditionalS3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://bucket/extra/", "CompressionType": "Gzip"
        },
        "IsCheckpoint": false
    })
}

fn inference_specification() -> Value {
    json!({
        "Containers": [
            package_container(),
            {
                "Image": IMAGE,
                "ModelDataSource": {"S3DataSource": {
                    "S3Uri": "s3://bucket/weights/", "S3DataType": "S3Prefix",
                    "CompressionType": "None"
                }}
            }
        ],
        "SupportedTransformInstanceTypes": ["ml.m5.large", "ml.c5.xlarge"],
        "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large", "ml.g5.xlarge"],
        "SupportedContentTypes": ["text/csv", "application/json"],
        "SupportedResponseMIMETypes": ["text/csv", "application/json"]
    })
}

fn metrics_source(path: &str) -> Value {
    json!({
        "ContentType": "application/json",
        "ContentDigest": DIGEST,
        "S3Uri": format!("s3://bucket/metrics/{path}.json")
    })
}

fn create_model_package() -> Value {
    json!({
        "ModelPackageGroupName": "g",
        "ModelPackageDescription": "XGBoost churn model, trained by the pipeline.",
        "ModelPackageRegistrationType": "Registered",
        "InferenceSpecification": inference_specification(),
        "ValidationSpecification": {
            "ValidationRole": ROLE,
            "ValidationProfiles": [{
                "ProfileName": "batch",
                "TransformJobDefinition": {
                    "MaxConcurrentTransforms": 1,
                    "MaxPayloadInMB": 6,
                    "BatchStrategy": "SingleRecord",
                    "Environment": {"A": "1"},
                    "TransformInput": {
                        "DataSource": {"S3DataSource": {
                            "S3DataType": "S3Prefix", "S3Uri": "s3://bucket/validate/"
                        }},
                        "ContentType": "text/csv"
                    },
                    "TransformOutput": {"S3OutputPath": "s3://bucket/validated/"},
                    "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}
                }
            }]
        },
        "CertifyForMarketplace": false,
        "Tags": [{"Key": "team", "Value": "ml"}],
        "ModelApprovalStatus": "PendingManualApproval",
        "MetadataProperties": {
            "CommitId": "0a1b2c3", "Repository": "https://example.com/repo.git",
            "GeneratedBy": PIPELINE_ARN, "ProjectId": "p-1"
        },
        "ModelMetrics": {
            "ModelQuality": {
                "Statistics": metrics_source("quality-statistics"),
                "Constraints": metrics_source("quality-constraints")
            },
            "ModelDataQuality": {
                "Statistics": metrics_source("data-statistics"),
                "Constraints": metrics_source("data-constraints")
            },
            "Bias": {
                "Report": metrics_source("bias"),
                "PreTrainingReport": metrics_source("bias-pre"),
                "PostTrainingReport": metrics_source("bias-post")
            },
            "Explainability": {"Report": metrics_source("explainability")}
        },
        "ClientToken": "2f1e0c4a-6b7d-4e8f-9a0b-1c2d3e4f5a6b",
        "Domain": "MACHINE_LEARNING",
        "Task": "CLASSIFICATION",
        "SamplePayloadUrl": "s3://bucket/payload.tar.gz",
        "CustomerMetadataProperties": {"owner": "ml-team", "dataset": "2026-12"},
        "DriftCheckBaselines": {
            "Bias": {
                "ConfigFile": {"ContentType": "application/json", "S3Uri": "s3://bucket/bias.json"},
                "PreTrainingConstraints": metrics_source("drift-bias-pre"),
                "PostTrainingConstraints": metrics_source("drift-bias-post")
            },
            "Explainability": {
                "Constraints": metrics_source("drift-explainability"),
                "ConfigFile": {"S3Uri": "s3://bucket/explainability.json"}
            },
            "ModelQuality": {
                "Statistics": metrics_source("drift-quality-statistics"),
                "Constraints": metrics_source("drift-quality-constraints")
            },
            "ModelDataQuality": {
                "Statistics": metrics_source("drift-data-statistics"),
                "Constraints": metrics_source("drift-data-constraints")
            }
        },
        "AdditionalInferenceSpecifications": [{
            "Name": "gpu",
            "Description": "The same model on a GPU image.",
            "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://bucket/model.tar.gz"}],
            "SupportedRealtimeInferenceInstanceTypes": ["ml.g5.xlarge"],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"]
        }],
        "SkipModelValidation": "None",
        "SourceUri": "s3://bucket/model.tar.gz",
        "SecurityConfig": {"KmsKeyId": "arn:aws:kms:us-east-1:000000000000:key/k"},
        "ModelCard": {"ModelCardContent": "{\"model_overview\": {}}", "ModelCardStatus": "Draft"},
        "ModelLifeCycle": {
            "Stage": "Development", "StageStatus": "InProgress",
            "StageDescription": "Waiting for review."
        }
    })
}

type Check = fn(&Model, &str, &Value);

/// The typed input of each implemented sagemaker operation, as botocore names it.
fn sagemaker_check(op: &str) -> Option<Check> {
    let check: Check = match op {
        "AddTags" => round_trip::<AddTagsInput>,
        "CreateEndpoint" => round_trip::<CreateEndpointInput>,
        "CreateEndpointConfig" => round_trip::<CreateEndpointConfigInput>,
        "CreateFeatureGroup" => round_trip::<CreateFeatureGroupRequest>,
        "CreateModel" => round_trip::<CreateModelInput>,
        "CreateNotebookInstance" => round_trip::<CreateNotebookInstanceInput>,
        "CreateNotebookInstanceLifecycleConfig" => {
            round_trip::<CreateNotebookInstanceLifecycleConfigInput>
        }
        "CreatePresignedNotebookInstanceUrl" => {
            round_trip::<CreatePresignedNotebookInstanceUrlInput>
        }
        "CreateHyperParameterTuningJob" => round_trip::<CreateHyperParameterTuningJobRequest>,
        "CreateProcessingJob" => round_trip::<CreateProcessingJobRequest>,
        "CreateTrainingJob" => round_trip::<CreateTrainingJobRequest>,
        "CreateTransformJob" => round_trip::<CreateTransformJobRequest>,
        "DeleteEndpoint" => round_trip::<DeleteEndpointInput>,
        "DeleteEndpointConfig" => round_trip::<DeleteEndpointConfigInput>,
        "DeleteFeatureGroup" => round_trip::<DeleteFeatureGroupRequest>,
        "DeleteModel" => round_trip::<DeleteModelInput>,
        "DeleteNotebookInstance" => round_trip::<DeleteNotebookInstanceInput>,
        "DeleteNotebookInstanceLifecycleConfig" => {
            round_trip::<DeleteNotebookInstanceLifecycleConfigInput>
        }
        "DeleteTags" => round_trip::<DeleteTagsInput>,
        "DeleteTrainingJob" => round_trip::<DeleteTrainingJobRequest>,
        "AssociateTrialComponent" => round_trip::<AssociateTrialComponentRequest>,
        "DisassociateTrialComponent" => round_trip::<DisassociateTrialComponentRequest>,
        "AddAssociation" => round_trip::<AddAssociationRequest>,
        "DeleteAssociation" => round_trip::<DeleteAssociationRequest>,
        "ListAssociations" => round_trip::<ListAssociationsRequest>,
        "ListTrialComponents" => round_trip::<ListTrialComponentsRequest>,
        "ListTrials" => round_trip::<ListTrialsRequest>,
        "DescribeTrialComponent" => round_trip::<DescribeTrialComponentRequest>,
        "DeleteTrial" => round_trip::<DeleteTrialRequest>,
        "DeleteTrialComponent" => round_trip::<DeleteTrialComponentRequest>,
        "Search" => round_trip::<SearchRequest>,
        "ListAliases" => round_trip::<ListAliasesRequest>,
        "CreateDomain" => round_trip::<CreateDomainRequest>,
        "DeleteDomain" => round_trip::<DeleteDomainRequest>,
        "CreateApp" => round_trip::<CreateAppRequest>,
        "DeleteApp" => round_trip::<DeleteAppRequest>,
        "CreatePresignedDomainUrl" => round_trip::<CreatePresignedDomainUrlRequest>,
        "CreateInferenceComponent" => round_trip::<CreateInferenceComponentInput>,
        "DescribeInferenceComponent" => round_trip::<DescribeInferenceComponentInput>,
        "ListInferenceComponents" => round_trip::<ListInferenceComponentsInput>,
        "UpdateInferenceComponent" => round_trip::<UpdateInferenceComponentInput>,
        "UpdateInferenceComponentRuntimeConfig" => {
            round_trip::<UpdateInferenceComponentRuntimeConfigInput>
        }
        "DeleteInferenceComponent" => round_trip::<DeleteInferenceComponentInput>,
        "DeleteProcessingJob" => round_trip::<DeleteProcessingJobRequest>,
        "DeleteHyperParameterTuningJob" => round_trip::<DeleteHyperParameterTuningJobRequest>,
        "DescribeEndpoint" => round_trip::<DescribeEndpointInput>,
        "DescribeEndpointConfig" => round_trip::<DescribeEndpointConfigInput>,
        "DescribeModel" => round_trip::<DescribeModelInput>,
        "DescribeNotebookInstance" => round_trip::<DescribeNotebookInstanceInput>,
        "DescribeNotebookInstanceLifecycleConfig" => {
            round_trip::<DescribeNotebookInstanceLifecycleConfigInput>
        }
        "DescribeHyperParameterTuningJob" => round_trip::<DescribeHyperParameterTuningJobRequest>,
        "DescribeProcessingJob" => round_trip::<DescribeProcessingJobRequest>,
        "DescribeTrainingJob" => round_trip::<DescribeTrainingJobRequest>,
        "DescribeTransformJob" => round_trip::<DescribeTransformJobRequest>,
        "ListEndpointConfigs" => round_trip::<ListEndpointConfigsInput>,
        "ListEndpoints" => round_trip::<ListEndpointsInput>,
        "ListModels" => round_trip::<ListModelsInput>,
        "ListNotebookInstanceLifecycleConfigs" => {
            round_trip::<ListNotebookInstanceLifecycleConfigsInput>
        }
        "ListNotebookInstances" => round_trip::<ListNotebookInstancesInput>,
        "ListTags" => round_trip::<ListTagsInput>,
        "ListHyperParameterTuningJobs" => round_trip::<ListHyperParameterTuningJobsRequest>,
        "ListProcessingJobs" => round_trip::<ListProcessingJobsRequest>,
        "ListTrainingJobs" => round_trip::<ListTrainingJobsRequest>,
        "ListTrainingJobsForHyperParameterTuningJob" => {
            round_trip::<ListTrainingJobsForHyperParameterTuningJobRequest>
        }
        "ListTransformJobs" => round_trip::<ListTransformJobsRequest>,
        "StartNotebookInstance" => round_trip::<StartNotebookInstanceInput>,
        "StopNotebookInstance" => round_trip::<StopNotebookInstanceInput>,
        "StopHyperParameterTuningJob" => round_trip::<StopHyperParameterTuningJobRequest>,
        "StopProcessingJob" => round_trip::<StopProcessingJobRequest>,
        "StopTrainingJob" => round_trip::<StopTrainingJobRequest>,
        "StopTransformJob" => round_trip::<StopTransformJobRequest>,
        "UpdateEndpoint" => round_trip::<UpdateEndpointInput>,
        "UpdateEndpointWeightsAndCapacities" => {
            round_trip::<UpdateEndpointWeightsAndCapacitiesInput>
        }
        "UpdateNotebookInstance" => round_trip::<UpdateNotebookInstanceInput>,
        "UpdateNotebookInstanceLifecycleConfig" => {
            round_trip::<UpdateNotebookInstanceLifecycleConfigInput>
        }
        // Model registry and pipelines.
        "BatchDescribeModelPackage" => round_trip::<BatchDescribeModelPackageInput>,
        "CreateModelPackage" => round_trip::<CreateModelPackageInput>,
        "CreateModelPackageGroup" => round_trip::<CreateModelPackageGroupInput>,
        "CreatePipeline" => round_trip::<CreatePipelineRequest>,
        "DeleteModelPackage" => round_trip::<DeleteModelPackageInput>,
        "DeleteModelPackageGroup" => round_trip::<DeleteModelPackageGroupInput>,
        "DeletePipeline" => round_trip::<DeletePipelineRequest>,
        "DescribeModelPackage" => round_trip::<DescribeModelPackageInput>,
        "DescribeModelPackageGroup" => round_trip::<DescribeModelPackageGroupInput>,
        "DescribePipeline" => round_trip::<DescribePipelineRequest>,
        "DescribePipelineDefinitionForExecution" => {
            round_trip::<DescribePipelineDefinitionForExecutionRequest>
        }
        "DescribePipelineExecution" => round_trip::<DescribePipelineExecutionRequest>,
        "ListModelPackageGroups" => round_trip::<ListModelPackageGroupsInput>,
        "ListModelPackages" => round_trip::<ListModelPackagesInput>,
        "ListPipelineExecutionSteps" => round_trip::<ListPipelineExecutionStepsRequest>,
        "ListPipelineExecutions" => round_trip::<ListPipelineExecutionsRequest>,
        "ListPipelineParametersForExecution" => {
            round_trip::<ListPipelineParametersForExecutionRequest>
        }
        "ListPipelineVersions" => round_trip::<ListPipelineVersionsRequest>,
        "ListPipelines" => round_trip::<ListPipelinesRequest>,
        "RetryPipelineExecution" => round_trip::<RetryPipelineExecutionRequest>,
        "SendPipelineExecutionStepFailure" => round_trip::<SendPipelineExecutionStepFailureRequest>,
        "SendPipelineExecutionStepSuccess" => round_trip::<SendPipelineExecutionStepSuccessRequest>,
        "StartPipelineExecution" => round_trip::<StartPipelineExecutionRequest>,
        "StopPipelineExecution" => round_trip::<StopPipelineExecutionRequest>,
        "UpdateModelPackage" => round_trip::<UpdateModelPackageInput>,
        "UpdatePipeline" => round_trip::<UpdatePipelineRequest>,
        "UpdatePipelineExecution" => round_trip::<UpdatePipelineExecutionRequest>,
        _ => return None,
    };
    Some(check)
}

/// Bodies for the operations that only name a resource, and for the List operations.
fn naming_bodies() -> Vec<(&'static str, Value)> {
    let list = json!({
        "MaxResults": 10, "NextToken": "t", "SortBy": "CreationTime", "SortOrder": "Descending",
        "NameContains": "x",
        "CreationTimeAfter": 1_700_000_000,
        "CreationTimeBefore": 1_800_000_000.5
    });
    let mut bodies = vec![
        ("ListEndpointConfigs", list.clone()),
        (
            "ListEndpoints",
            with(&list, json!({"StatusEquals": "InService"})),
        ),
        ("ListModels", list.clone()),
        (
            "ListTrainingJobs",
            with(
                &list,
                json!({"StatusEquals": "InProgress", "LastModifiedTimeAfter": 1_700_000_000}),
            ),
        ),
        (
            "ListTransformJobs",
            with(&list, json!({"StatusEquals": "Completed"})),
        ),
        (
            "ListProcessingJobs",
            with(
                &list,
                json!({"StatusEquals": "Stopped", "LastModifiedTimeBefore": 1_800_000_000}),
            ),
        ),
        (
            "ListHyperParameterTuningJobs",
            with(&list, json!({"StatusEquals": "Completed"})),
        ),
        (
            "ListTrainingJobsForHyperParameterTuningJob",
            json!({
                "HyperParameterTuningJobName": "tune", "StatusEquals": "Completed",
                "SortBy": "FinalObjectiveMetricValue", "SortOrder": "Ascending", "MaxResults": 10
            }),
        ),
        (
            "ListNotebookInstanceLifecycleConfigs",
            json!({"MaxResults": 5, "SortBy": "Name", "SortOrder": "Ascending"}),
        ),
        (
            "ListNotebookInstances",
            json!({
                "StatusEquals": "InService",
                "SortBy": "Status",
                "NotebookInstanceLifecycleConfigNameContains": "lc"
            }),
        ),
        (
            "AddTags",
            json!({"ResourceArn": MODEL_ARN, "Tags": [{"Key": "k", "Value": ""}]}),
        ),
        (
            "DeleteTags",
            json!({"ResourceArn": MODEL_ARN, "TagKeys": ["k"]}),
        ),
        (
            "ListTags",
            json!({"ResourceArn": MODEL_ARN, "MaxResults": 50}),
        ),
    ];
    for (ops, member, name) in [
        (
            &["DeleteEndpoint", "DescribeEndpoint"][..],
            "EndpointName",
            "ep",
        ),
        (
            &["DeleteEndpointConfig", "DescribeEndpointConfig"],
            "EndpointConfigName",
            "cfg",
        ),
        (&["DeleteModel", "DescribeModel"], "ModelName", "model"),
        (&["DeleteFeatureGroup"], "FeatureGroupName", "fg"),
        (
            &[
                "DeleteTrainingJob",
                "DescribeTrainingJob",
                "StopTrainingJob",
            ],
            "TrainingJobName",
            "job",
        ),
        (
            &["DescribeTransformJob", "StopTransformJob"],
            "TransformJobName",
            "batch",
        ),
        (
            &[
                "DeleteProcessingJob",
                "DescribeProcessingJob",
                "StopProcessingJob",
            ],
            "ProcessingJobName",
            "prep",
        ),
        (
            &[
                "DeleteHyperParameterTuningJob",
                "DescribeHyperParameterTuningJob",
                "StopHyperParameterTuningJob",
            ],
            "HyperParameterTuningJobName",
            "tune",
        ),
        (
            &[
                "DeleteNotebookInstance",
                "DescribeNotebookInstance",
                "StartNotebookInstance",
                "StopNotebookInstance",
            ],
            "NotebookInstanceName",
            "nb",
        ),
        (
            &[
                "DeleteNotebookInstanceLifecycleConfig",
                "DescribeNotebookInstanceLifecycleConfig",
            ],
            "NotebookInstanceLifecycleConfigName",
            "lc",
        ),
        (
            &[
                "DescribePipelineExecution",
                "DescribePipelineDefinitionForExecution",
            ],
            "PipelineExecutionArn",
            EXECUTION_ARN,
        ),
    ] {
        bodies.extend(ops.iter().map(|op| (*op, json!({ member: name }))));
    }
    bodies.extend(registry_naming_bodies());
    bodies
}

/// Model registry and pipeline bodies that only name a resource, and their List operations.
fn registry_naming_bodies() -> Vec<(&'static str, Value)> {
    let list = json!({
        "MaxResults": 10, "NextToken": "t", "SortBy": "CreationTime", "SortOrder": "Descending",
        "CreationTimeAfter": 1_700_000_000,
        "CreationTimeBefore": 1_800_000_000.5
    });
    vec![
        (
            "ListModelPackageGroups",
            with(
                &list,
                json!({"NameContains": "churn-2026", "CrossAccountFilterOption": "SameAccount"}),
            ),
        ),
        (
            "ListModelPackages",
            with(
                &list,
                json!({
                    "NameContains": "churn", "ModelApprovalStatus": "Approved",
                    "ModelPackageGroupName": GROUP_ARN, "ModelPackageType": "Versioned"
                }),
            ),
        ),
        (
            "BatchDescribeModelPackage",
            json!({"ModelPackageArnList": [
                PACKAGE_ARN, "arn:aws:sagemaker:us-east-1:000000000000:model-package/g/2"
            ]}),
        ),
        (
            "DescribeModelPackage",
            json!({"ModelPackageName": PACKAGE_ARN, "IncludedData": "AllData"}),
        ),
        ("DeleteModelPackage", json!({"ModelPackageName": "g/3"})),
        (
            "DescribeModelPackageGroup",
            json!({"ModelPackageGroupName": GROUP_ARN}),
        ),
        (
            "DeleteModelPackageGroup",
            json!({"ModelPackageGroupName": "g"}),
        ),
        (
            "DescribePipeline",
            json!({"PipelineName": PIPELINE_ARN, "PipelineVersionId": 2}),
        ),
        (
            "ListPipelines",
            json!({
                "PipelineNamePrefix": "churn", "CreatedAfter": 1_700_000_000,
                "CreatedBefore": 1_800_000_000.5, "SortBy": "Name", "SortOrder": "Ascending",
                "NextToken": "t", "MaxResults": 100, "ManagedBy": "CUSTOMER"
            }),
        ),
        (
            "ListPipelineExecutions",
            json!({
                "PipelineName": "p", "CreatedAfter": 1_700_000_000,
                "CreatedBefore": 1_800_000_000, "SortBy": "PipelineExecutionArn",
                "SortOrder": "Descending", "NextToken": "t", "MaxResults": 1,
                "PipelineVersionAlias": "prod-v1.2"
            }),
        ),
        (
            "ListPipelineVersions",
            json!({
                "PipelineName": PIPELINE_ARN, "CreatedAfter": 1_700_000_000.25,
                "CreatedBefore": 1_800_000_000, "SortOrder": "Ascending",
                "NextToken": "t", "MaxResults": 20
            }),
        ),
        (
            "ListPipelineExecutionSteps",
            json!({
                "PipelineExecutionArn": EXECUTION_ARN, "NextToken": "t", "MaxResults": 50,
                "SortOrder": "Ascending"
            }),
        ),
        (
            "ListPipelineParametersForExecution",
            json!({"PipelineExecutionArn": EXECUTION_ARN, "NextToken": "t", "MaxResults": 10}),
        ),
    ]
}

/// Bodies for the operations that create or change a resource.
fn changing_bodies() -> Vec<(&'static str, Value)> {
    let lc = json!({
        "NotebookInstanceLifecycleConfigName": "lc",
        "OnStart": [{"Content": "ZWNobyBoaQ=="}]
    });
    let mut bodies = vec![
        ("CreateTrainingJob", create_training_job()),
        ("CreateTransformJob", create_transform_job()),
        (
            "CreateProcessingJob",
            json!({
                "ProcessingJobName": "prep", "RoleArn": ROLE,
                "AppSpecification": {
                    "ImageUri": IMAGE, "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/p.py"],
                    "ContainerArguments": ["--split", "0.2"]
                },
                "ProcessingResources": {"ClusterConfig": {
                    "InstanceCount": 2, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30
                }},
                "ProcessingInputs": [{"InputName": "data", "S3Input": {
                    "S3Uri": "s3://bucket/in", "LocalPath": "/opt/ml/processing/input",
                    "S3DataType": "S3Prefix", "S3InputMode": "File",
                    "S3DataDistributionType": "ShardedByS3Key", "S3CompressionType": "None"
                }}],
                "ProcessingOutputConfig": {"Outputs": [{"OutputName": "train", "S3Output": {
                    "S3Uri": "s3://bucket/out", "LocalPath": "/opt/ml/processing/train",
                    "S3UploadMode": "Continuous"
                }}]},
                "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
                "Environment": {"A": "b"}, "Tags": [{"Key": "k", "Value": "v"}]
            }),
        ),
        (
            "CreateHyperParameterTuningJob",
            json!({
                "HyperParameterTuningJobName": "tune",
                "HyperParameterTuningJobConfig": {
                    "Strategy": "Bayesian",
                    "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "validation:rmse"},
                    "ResourceLimits": {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 2},
                    "ParameterRanges": {
                        "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "1", "MaxValue": "8", "ScalingType": "Linear"}],
                        "ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.01", "MaxValue": "0.5", "ScalingType": "Logarithmic"}],
                        "CategoricalParameterRanges": [{"Name": "booster", "Values": ["gbtree", "dart"]}]
                    },
                    "TrainingJobEarlyStoppingType": "Auto", "RandomSeed": 7
                },
                "TrainingJobDefinition": {
                    "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
                    "RoleArn": ROLE,
                    "StaticHyperParameters": {"num_round": "10"},
                    "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
                    "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5},
                    "StoppingCondition": {"MaxRuntimeInSeconds": 600}
                },
                "WarmStartConfig": {
                    "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent"}],
                    "WarmStartType": "TransferLearning"
                }
            }),
        ),
        ("CreateEndpointConfig", create_endpoint_config()),
        (
            "CreateFeatureGroup",
            json!({
                "FeatureGroupName": "fg", "RecordIdentifierFeatureName": "id",
                "EventTimeFeatureName": "t",
                "FeatureDefinitions": [
                    {"FeatureName": "id", "FeatureType": "String"},
                    {"FeatureName": "t", "FeatureType": "Fractional"},
                    {"FeatureName": "tags", "FeatureType": "String", "CollectionType": "List"}
                ],
                "OnlineStoreConfig": {
                    "EnableOnlineStore": true, "TtlDuration": {"Unit": "Seconds", "Value": 60}
                },
                "OfflineStoreConfig": {
                    "S3StorageConfig": {"S3Uri": "s3://bucket/fs"},
                    "DisableGlueTableCreation": false, "TableFormat": "Glue"
                },
                "RoleArn": ROLE, "Description": "d", "Tags": [{"Key": "k", "Value": "v"}]
            }),
        ),
        ("CreateNotebookInstance", create_notebook_instance()),
        (
            "CreateEndpoint",
            json!({"EndpointName": "ep", "EndpointConfigName": "cfg", "Tags": []}),
        ),
        (
            "CreateModel",
            json!({
                "ModelName": "model", "ExecutionRoleArn": ROLE, "EnableNetworkIsolation": false,
                "PrimaryContainer": {
                    "Image": IMAGE, "Mode": "SingleModel",
                    "ModelDataUrl": "s3://bucket/model.tar.gz",
                    "Environment": {"SAGEMAKER_PROGRAM": "inference.py"}
                },
                "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}
            }),
        ),
        ("CreateNotebookInstanceLifecycleConfig", lc.clone()),
        (
            "UpdateNotebookInstanceLifecycleConfig",
            with(&lc, json!({"OnCreate": []})),
        ),
        (
            "CreatePresignedNotebookInstanceUrl",
            json!({
                "NotebookInstanceName": "nb", "SessionExpirationDurationInSeconds": 1800
            }),
        ),
        (
            "UpdateEndpoint",
            json!({
                "EndpointName": "ep",
                "EndpointConfigName": "cfg2",
                "RetainAllVariantProperties": true,
                "ExcludeRetainedVariantProperties": [
                    {"VariantPropertyType": "DesiredInstanceCount"}
                ]
            }),
        ),
        (
            "UpdateEndpointWeightsAndCapacities",
            json!({
                "EndpointName": "ep",
                "DesiredWeightsAndCapacities": [
                    {"VariantName": "AllTraffic", "DesiredWeight": 2.0, "DesiredInstanceCount": 3}
                ]
            }),
        ),
        (
            "UpdateNotebookInstance",
            json!({
                "NotebookInstanceName": "nb",
                "InstanceType": "ml.t3.large",
                "DisassociateLifecycleConfig": true,
                "VolumeSizeInGB": 10, "RootAccess": "Enabled"
            }),
        ),
    ];
    bodies.extend(registry_changing_bodies());
    bodies
}

/// Model registry and pipeline bodies that create or change a resource.
fn registry_changing_bodies() -> Vec<(&'static str, Value)> {
    vec![
        ("CreateModelPackage", create_model_package()),
        (
            "CreateModelPackageGroup",
            json!({
                "ModelPackageGroupName": "g",
                "ModelPackageGroupDescription": "Churn models, one version per training run.",
                "Tags": [{"Key": "team", "Value": "ml"}],
                "ManagedConfiguration": {"ManagedStorageType": "Restricted"}
            }),
        ),
        (
            "UpdateModelPackage",
            json!({
                "ModelPackageArn": PACKAGE_ARN,
                "ModelApprovalStatus": "Approved",
                "ModelPackageRegistrationType": "Registered",
                "ApprovalDescription": "Beats the baseline by 3%.",
                "CustomerMetadataProperties": {"reviewer": "me"},
                "CustomerMetadataPropertiesToRemove": ["dataset"],
                "AdditionalInferenceSpecificationsToAdd": [{
                    "Name": "batch",
                    "Containers": [package_container()],
                    "SupportedTransformInstanceTypes": ["ml.m5.xlarge"]
                }],
                "InferenceSpecification": inference_specification(),
                "SourceUri": "s3://bucket/model-v2.tar.gz",
                "ModelCard": {"ModelCardStatus": "Approved"},
                "ModelLifeCycle": {"Stage": "Production", "StageStatus": "Approved"},
                "ClientToken": "update-1"
            }),
        ),
        (
            "CreatePipeline",
            json!({
                "PipelineName": "p",
                "PipelineDisplayName": "churn-training",
                "PipelineDefinition": pipeline_definition(),
                "PipelineDescription": "Trains, evaluates and registers the churn model.",
                "ClientRequestToken": TOKEN,
                "RoleArn": ROLE,
                "Tags": [{"Key": "team", "Value": "ml"}],
                "ParallelismConfiguration": {"MaxParallelExecutionSteps": 4},
                "PipelineVersionAliases": ["prod-v1.2", "latest"]
            }),
        ),
        (
            "UpdatePipeline",
            json!({
                "PipelineName": "p",
                "PipelineDisplayName": "churn-training-v2",
                "PipelineDefinitionS3Location": {
                    "Bucket": "bucket", "ObjectKey": "pipelines/p.json", "VersionId": "3"
                },
                "PipelineDescription": "",
                "RoleArn": ROLE,
                "ParallelismConfiguration": {"MaxParallelExecutionSteps": 1},
                "PipelineVersionAliases": []
            }),
        ),
        (
            "DeletePipeline",
            json!({"PipelineName": "p", "ClientRequestToken": TOKEN}),
        ),
        (
            "StartPipelineExecution",
            json!({
                "PipelineName": PIPELINE_ARN,
                "PipelineExecutionDisplayName": "nightly-2026-12-05",
                "PipelineParameters": [
                    {"Name": "InputData", "Value": "s3://bucket/in/2026-12-05/"},
                    {"Name": "Epochs", "Value": "20"},
                    {"Name": "Empty_ok", "Value": ""}
                ],
                "PipelineExecutionDescription": "Nightly retraining.",
                "ClientRequestToken": TOKEN,
                "ParallelismConfiguration": {"MaxParallelExecutionSteps": 2},
                "SelectiveExecutionConfig": {
                    "SourcePipelineExecutionArn": EXECUTION_ARN,
                    "SelectedSteps": [{"StepName": "Train"}, {"StepName": "Approve"}]
                },
                "PipelineVersionId": 3,
                "MlflowExperimentName": "churn",
                "RoleArn": ROLE
            }),
        ),
        (
            "StopPipelineExecution",
            json!({"PipelineExecutionArn": EXECUTION_ARN, "ClientRequestToken": TOKEN}),
        ),
        (
            "RetryPipelineExecution",
            json!({
                "PipelineExecutionArn": EXECUTION_ARN, "ClientRequestToken": TOKEN,
                "ParallelismConfiguration": {"MaxParallelExecutionSteps": 1}
            }),
        ),
        (
            "UpdatePipelineExecution",
            json!({
                "PipelineExecutionArn": EXECUTION_ARN,
                "PipelineExecutionDescription": "Rerun after the data fix.",
                "PipelineExecutionDisplayName": "nightly-rerun",
                "ParallelismConfiguration": {"MaxParallelExecutionSteps": 3}
            }),
        ),
        (
            "SendPipelineExecutionStepSuccess",
            json!({
                "CallbackToken": "abcDEF0123",
                "OutputParameters": [
                    {"Name": "ModelApproved", "Value": "true"},
                    {"Name": "Reviewer", "Value": ""}
                ],
                "ClientRequestToken": TOKEN
            }),
        ),
        (
            "SendPipelineExecutionStepFailure",
            json!({
                "CallbackToken": "abcDEF0123",
                "FailureReason": "Rejected in review: recall below 0.8.",
                "ClientRequestToken": TOKEN
            }),
        ),
    ]
}

/// Bodies for the experiments operations (associations, trial components, Search).
fn experiment_bodies() -> Vec<(&'static str, Value)> {
    vec![
        (
            "AssociateTrialComponent",
            json!({"TrialComponentName": "tc", "TrialName": "trial"}),
        ),
        (
            "DisassociateTrialComponent",
            json!({"TrialComponentName": "tc", "TrialName": "trial"}),
        ),
        (
            "AddAssociation",
            json!({
                "SourceArn": "arn:aws:sagemaker:us-east-1:000000000000:artifact/a1",
                "DestinationArn": "arn:aws:sagemaker:us-east-1:000000000000:action/b2",
                "AssociationType": "ContributedTo"
            }),
        ),
        (
            "DeleteAssociation",
            json!({
                "SourceArn": "arn:aws:sagemaker:us-east-1:000000000000:artifact/a1",
                "DestinationArn": "arn:aws:sagemaker:us-east-1:000000000000:action/b2"
            }),
        ),
        (
            "ListAssociations",
            json!({
                "SourceArn": "arn:aws:sagemaker:us-east-1:000000000000:artifact/a1",
                "SortOrder": "Ascending",
                "MaxResults": 5
            }),
        ),
        (
            "ListTrialComponents",
            json!({"ExperimentName": "exp", "TrialName": "trial", "MaxResults": 5}),
        ),
        (
            "ListTrials",
            json!({"ExperimentName": "exp", "TrialComponentName": "tc"}),
        ),
        (
            "DescribeTrialComponent",
            json!({"TrialComponentName": "tc"}),
        ),
        ("DeleteTrial", json!({"TrialName": "trial"})),
        (
            "ListAliases",
            json!({"ImageName": "img", "Alias": "stable", "Version": 2, "MaxResults": 5}),
        ),
        ("DeleteTrialComponent", json!({"TrialComponentName": "tc"})),
        (
            "Search",
            json!({
                "Resource": "ExperimentTrialComponent",
                "SearchExpression": {
                    "Filters": [{"Name": "Parents.ExperimentName", "Operator": "Equals", "Value": "exp"}],
                    "NestedFilters": [{"NestedPropertyName": "Parents", "Filters": [
                        {"Name": "Parents.TrialName", "Operator": "Equals", "Value": "trial"}
                    ]}],
                    "Operator": "And"
                },
                "SortBy": "CreationTime",
                "SortOrder": "Descending",
                "MaxResults": 20
            }),
        ),
    ]
}

/// Bodies for the Studio operations run for real (domains' URLs, Jupyter apps, presigned URLs).
fn studio_bodies() -> Vec<(&'static str, Value)> {
    vec![
        (
            "CreateDomain",
            json!({
                "DomainName": "studio",
                "AuthMode": "IAM",
                "DefaultUserSettings": {"ExecutionRole": "arn:aws:iam::000000000000:role/r"},
                "SubnetIds": ["subnet-1"],
                "VpcId": "vpc-1"
            }),
        ),
        (
            "DeleteDomain",
            json!({"DomainId": "d-abc", "RetentionPolicy": {"HomeEfsFileSystem": "Retain"}}),
        ),
        (
            "CreateApp",
            json!({
                "DomainId": "d-abc",
                "UserProfileName": "alice",
                "AppType": "JupyterLab",
                "AppName": "default",
                "ResourceSpec": {"InstanceType": "ml.t3.medium"}
            }),
        ),
        (
            "DeleteApp",
            json!({"DomainId": "d-abc", "SpaceName": "team", "AppType": "JupyterLab", "AppName": "default"}),
        ),
        (
            "CreatePresignedDomainUrl",
            json!({
                "DomainId": "d-abc",
                "UserProfileName": "alice",
                "SessionExpirationDurationInSeconds": 1800,
                "ExpiresInSeconds": 60
            }),
        ),
    ]
}

/// Bodies for the inference component operations (service/hosting/components).
fn inference_component_bodies() -> Vec<(&'static str, Value)> {
    let spec = json!({
        "ModelName": "m",
        "StartupParameters": {"ContainerStartupHealthCheckTimeoutInSeconds": 60},
        "ComputeResourceRequirements": {"NumberOfCpuCoresRequired": 1.5, "MinMemoryRequiredInMb": 512}
    });
    vec![
        (
            "CreateInferenceComponent",
            json!({
                "InferenceComponentName": "ic",
                "EndpointName": "ep",
                "VariantName": "AllTraffic",
                "Specification": spec,
                "RuntimeConfig": {"CopyCount": 2},
                "Tags": [{"Key": "team", "Value": "ml"}]
            }),
        ),
        (
            "DescribeInferenceComponent",
            json!({"InferenceComponentName": "ic"}),
        ),
        (
            "ListInferenceComponents",
            json!({
                "EndpointNameEquals": "ep",
                "VariantNameEquals": "AllTraffic",
                "StatusEquals": "InService",
                "SortBy": "CreationTime",
                "SortOrder": "Descending",
                "CreationTimeAfter": 1_700_000_000,
                "MaxResults": 5,
                "NextToken": "t"
            }),
        ),
        (
            "UpdateInferenceComponent",
            json!({
                "InferenceComponentName": "ic",
                "Specification": {"Container": {"Image": "i", "ArtifactUrl": "s3://b/m.tar.gz",
                                                "Environment": {"A": "1"}}},
                "RuntimeConfig": {"CopyCount": 1}
            }),
        ),
        (
            "UpdateInferenceComponentRuntimeConfig",
            json!({"InferenceComponentName": "ic", "DesiredRuntimeConfig": {"CopyCount": 3}}),
        ),
        (
            "DeleteInferenceComponent",
            json!({"InferenceComponentName": "ic"}),
        ),
    ]
}

fn with(base: &Value, extra: Value) -> Value {
    let mut out = base.clone();
    if let (Some(o), Some(e)) = (out.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    out
}

#[test]
fn every_implemented_sagemaker_request_decodes_and_renders_back() {
    let m = &model::sagemaker::MODEL;
    let bodies: Vec<_> = naming_bodies()
        .into_iter()
        .chain(changing_bodies())
        .chain(experiment_bodies())
        .chain(studio_bodies())
        .chain(inference_component_bodies())
        .collect();
    // the operations implemented by hand (every other one is the stored engine's, untyped)
    let implemented: Vec<&str> = crate::service::stored::catalog::catalog()
        .operations
        .iter()
        .filter(|(_, r)| r.rule == crate::service::stored::catalog::RuleKind::Real)
        .map(|(op, _)| op.as_str())
        .collect();
    for op in &implemented {
        let check = sagemaker_check(op).unwrap_or_else(|| panic!("no typed input for {op}"));
        let mut body = bodies.iter().filter(|(name, _)| name == op);
        let (_, body) = body
            .next()
            .unwrap_or_else(|| panic!("no test body for {op}"));
        check(m, op, body);
    }
    assert_eq!(bodies.len(), implemented.len(), "one body per operation");
}

#[test]
fn logs_requests_decode_and_render_back() {
    let m = &model::logs::MODEL;
    round_trip::<logs::CreateLogGroupRequest>(
        m,
        "CreateLogGroup",
        &json!({"logGroupName": "/aws/sagemaker/TrainingJobs", "tags": {"a": "b"}}),
    );
    round_trip::<logs::PutLogEventsRequest>(
        m,
        "PutLogEvents",
        &json!({"logGroupName": "g", "logStreamName": "s",
        "logEvents": [{"timestamp": 1_700_000_000_000_i64, "message": "hello"}]}),
    );
    round_trip::<logs::FilterLogEventsRequest>(
        m,
        "FilterLogEvents",
        &json!({
            "logGroupName": "g", "logStreamNames": ["s"], "startTime": 0,
            "endTime": 1_700_000_000_000_i64, "filterPattern": "ERROR",
            "interleaved": true, "limit": 100
        }),
    );
    round_trip::<logs::GetLogEventsRequest>(
        m,
        "GetLogEvents",
        &json!({
            "logGroupName": "g", "logStreamName": "s", "startFromHead": true, "nextToken": "f/1"
        }),
    );
    round_trip::<logs::DescribeLogStreamsRequest>(
        m,
        "DescribeLogStreams",
        &json!({"logGroupName": "g", "orderBy": "LastEventTime", "descending": true}),
    );
}

#[test]
fn feature_store_runtime_requests_decode_and_render_back() {
    use super::sagemaker_featurestore_runtime as fs;
    let m = &model::sagemaker_featurestore_runtime::MODEL;
    let record = json!([
        {"FeatureName": "id", "ValueAsString": "r1"},
        {"FeatureName": "tags", "ValueAsStringList": ["a", "b"]}
    ]);
    round_trip::<fs::PutRecordRequest>(
        m,
        "PutRecord",
        &json!({
            "FeatureGroupName": "fg", "Record": record, "TargetStores": ["OnlineStore"],
            "TtlDuration": {"Unit": "Minutes", "Value": 5}
        }),
    );
    round_trip::<fs::GetRecordRequest>(
        m,
        "GetRecord",
        &json!({
            "FeatureGroupName": "fg", "RecordIdentifierValueAsString": "r1",
            "FeatureNames": ["id"], "ExpirationTimeResponse": "Enabled"
        }),
    );
    round_trip::<fs::DeleteRecordRequest>(
        m,
        "DeleteRecord",
        &json!({
            "FeatureGroupName": "fg", "RecordIdentifierValueAsString": "r1",
            "EventTime": "2026-01-01T00:00:00Z", "DeletionMode": "HardDelete",
            "TargetStores": ["OnlineStore", "OfflineStore"]
        }),
    );
    round_trip::<fs::BatchWriteRecordRequest>(
        m,
        "BatchWriteRecord",
        &json!({
            "Entries": [{"FeatureGroupName": "fg", "Record": record, "TargetStores": ["OfflineStore"]}],
            "TtlDuration": {"Unit": "Weeks", "Value": 2}
        }),
    );
    round_trip::<fs::ListRecordsRequest>(
        m,
        "ListRecords",
        &json!({
            "FeatureGroupName": "fg", "MaxResults": 10, "NextToken": "t",
            "IncludeSoftDeletedRecords": true
        }),
    );
    round_trip::<fs::BatchGetRecordRequest>(
        m,
        "BatchGetRecord",
        &json!({"Identifiers": [{
            "FeatureGroupName": "fg", "RecordIdentifiersValueAsString": ["r1", "r2"],
            "FeatureNames": ["id"]
        }]}),
    );
}

#[test]
fn typed_fields_read_as_their_model_types() {
    let req: CreateTrainingJobRequest =
        decode(create_training_job().as_object().expect("object")).expect("decode");
    let algo = req.algorithm_specification.expect("algorithm");
    assert_eq!(algo.training_input_mode, Some(TrainingInputMode::File));
    let channels = req.input_data_config.expect("channels");
    assert_eq!(channels[0].input_mode, Some(TrainingInputMode::Pipe));
    let s3 = channels[1]
        .data_source
        .as_ref()
        .and_then(|d| d.s3_data_source.as_ref())
        .expect("s3 source");
    assert_eq!(s3.s3_data_type, Some(S3DataType::ManifestFile));
    // Instance types stay text: sagebox reads them by prefix.
    let resources = req.resource_config.expect("resources");
    assert_eq!(resources.instance_type.as_deref(), Some("ml.m5.large"));
    assert_eq!(resources.instance_count, Some(2));
    assert_eq!(
        req.stopping_condition
            .and_then(|s| s.max_runtime_in_seconds),
        Some(86400)
    );
}

#[test]
fn timestamps_accept_what_the_validator_accepts() {
    let m = &model::sagemaker::MODEL;
    let op = m.operation("ListTrainingJobs").expect("op");
    for (sent, seconds) in [
        (json!(1_795_978_842), 1_795_978_842.0),
        (json!(1_795_978_842.5), 1_795_978_842.5),
        (json!("1795978842"), 1_795_978_842.0),
        (json!("2026-11-29T19:00:42Z"), 1_795_978_842.0),
    ] {
        let body = json!({"CreationTimeAfter": sent});
        m.validate(op, &body).expect("valid");
        let req: ListTrainingJobsRequest =
            decode(body.as_object().expect("object")).expect("decode");
        assert_eq!(req.creation_time_after, Some(Timestamp(seconds)), "{sent}");
    }
    assert_eq!(
        serde_json::to_value(Timestamp(1e9)).expect("ser"),
        json!(1_000_000_000)
    );
    assert_eq!(
        serde_json::to_value(Timestamp(1.25)).expect("ser"),
        json!(1.25)
    );
}

#[test]
fn unknown_members_are_ignored_and_bad_types_are_errors_not_panics() {
    let body = json!({"TrainingJobName": "job", "AddedInAFutureModel": {"x": 1}});
    let req: DescribeTrainingJobRequest =
        decode(body.as_object().expect("object")).expect("decode");
    assert_eq!(req.training_job_name.as_deref(), Some("job"));
    let bad = json!({"MaxResults": "ten", "StatusEquals": "Sleeping"});
    let err =
        decode::<ListTrainingJobsRequest>(bad.as_object().expect("object")).expect_err("bad types");
    assert!(err.contains("ten"), "{err}");
    let bad = json!({"StatusEquals": "Sleeping"});
    let err =
        decode::<ListTrainingJobsRequest>(bad.as_object().expect("object")).expect_err("bad enum");
    assert!(
        err.contains("\"Sleeping\" is not a TrainingJobStatus"),
        "{err}"
    );
}

#[test]
fn status_enums_map_every_model_value_both_ways() {
    assert_eq!(TrainingJobStatus::ALL[0], TrainingJobStatus::InProgress);
    for s in TrainingJobStatus::ALL {
        assert_eq!(s.as_str().parse::<TrainingJobStatus>(), Ok(*s));
        assert_eq!(s.to_string(), s.as_str());
        assert_eq!(serde_json::to_value(s).expect("ser"), json!(s.as_str()));
    }
    for s in SecondaryStatus::ALL {
        assert_eq!(
            serde_json::from_value::<SecondaryStatus>(json!(s.as_str())).expect("de"),
            *s
        );
    }
    assert_eq!(
        "Sleeping".parse::<EndpointStatus>(),
        Err("Sleeping".to_string())
    );
    assert_eq!(EndpointStatus::InService.as_str(), "InService");
    assert_eq!(NotebookInstanceStatus::Pending.as_str(), "Pending");
    assert_eq!(TransformJobStatus::Stopping.as_str(), "Stopping");
    // Values that are not identifiers get readable variant names and map back exactly.
    assert_eq!(
        ProductionVariantAcceleratorType::MlEia1Medium.as_str(),
        "ml.eia1.medium"
    );
    assert_eq!(AccountDefaultStatus::Enabled.as_str(), "ENABLED");
}
