"""Operations that sagebox implements, per botocore service.

tools/gen_models.py emits validation tables for the input shapes of these operations (and everything
they reach) into src/aws/model/<service>.rs. To add an operation: add its name to the list, run
`python3 tools/gen_models.py`, and commit the regenerated file together with this one.
"""

OPERATIONS = {
    "sagemaker": [
        "AddTags",
        "CreateEndpoint",
        "CreateEndpointConfig",
        "CreateModel",
        "CreateTrainingJob",
        "CreateTransformJob",
        "DeleteEndpoint",
        "DeleteEndpointConfig",
        "DeleteModel",
        "DeleteTags",
        "DescribeEndpoint",
        "DescribeEndpointConfig",
        "DescribeModel",
        "DescribeTrainingJob",
        "DescribeTransformJob",
        "ListEndpointConfigs",
        "ListEndpoints",
        "ListModels",
        "ListTags",
        "ListTrainingJobs",
        "ListTransformJobs",
        "StopTrainingJob",
        "StopTransformJob",
        "UpdateEndpoint",
        "UpdateEndpointWeightsAndCapacities",
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
