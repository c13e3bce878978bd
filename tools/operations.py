"""Operations that sagebox implements, per botocore service.

tools/gen_models.py emits validation tables for the input shapes of these operations (and everything
they reach) into src/aws/model/<service>.rs. To add an operation: add its name to the list, run
`python3 tools/gen_models.py`, and commit the regenerated file together with this one.
"""

OPERATIONS = {
    "sagemaker": [
        "AddTags",
        "CreateEndpointConfig",
        "CreateModel",
        "CreateTrainingJob",
        "DeleteEndpointConfig",
        "DeleteModel",
        "DeleteTags",
        "DescribeEndpointConfig",
        "DescribeModel",
        "DescribeTrainingJob",
        "ListEndpointConfigs",
        "ListModels",
        "ListTags",
        "ListTrainingJobs",
        "StopTrainingJob",
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
