"""Operations that sagebox implements, per botocore service.

tools/gen_models.py emits validation tables for the input shapes of these operations (and everything
they reach) into src/aws/model/<service>.rs, and serde types for them into src/aws/model/typed/.
To add an operation: add its name to the list, run `python3 tools/gen_models.py`, and commit the
regenerated files together with this one.
"""

OPERATIONS = {
    "sagemaker": [
        "AddTags",
        "CreateEndpoint",
        "CreateEndpointConfig",
        "CreateModel",
        "CreateNotebookInstance",
        "CreateNotebookInstanceLifecycleConfig",
        "CreatePresignedNotebookInstanceUrl",
        "CreateTrainingJob",
        "CreateTransformJob",
        "DeleteEndpoint",
        "DeleteEndpointConfig",
        "DeleteModel",
        "DeleteNotebookInstance",
        "DeleteNotebookInstanceLifecycleConfig",
        "DeleteTags",
        "DescribeEndpoint",
        "DescribeEndpointConfig",
        "DescribeModel",
        "DescribeNotebookInstance",
        "DescribeNotebookInstanceLifecycleConfig",
        "DescribeTrainingJob",
        "DescribeTransformJob",
        "ListEndpointConfigs",
        "ListEndpoints",
        "ListModels",
        "ListNotebookInstanceLifecycleConfigs",
        "ListNotebookInstances",
        "ListTags",
        "ListTrainingJobs",
        "ListTransformJobs",
        "StartNotebookInstance",
        "StopNotebookInstance",
        "StopTrainingJob",
        "StopTransformJob",
        "UpdateEndpoint",
        "UpdateEndpointWeightsAndCapacities",
        "UpdateNotebookInstance",
        "UpdateNotebookInstanceLifecycleConfig",
    ],
    "logs": [
        "CreateLogGroup",
        "CreateLogStream",
        "DeleteLogGroup",
        "DeleteLogStream",
        "DescribeLogGroups",
        "DescribeLogStreams",
        "FilterLogEvents",
        "GetLogEvents",
        "PutLogEvents",
    ],
}
