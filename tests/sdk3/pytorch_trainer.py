"""Trains fixtures/pytorch_script (a small MLP on the digits set) on sagebox's PyTorch image with the
SageMaker Python SDK v3's ModelTrainer and SourceCode, as a user of SDK v3 would, and prints what
DescribeTrainingJob says as JSON. Run by tests/clients/test_framework_pytorch.py with the v3 venv's
Python:

    pytorch_trainer.py ENDPOINT_URL BUCKET TRAIN_S3_URI SOURCE_DIR IMAGE_URI
"""
import json
import os
import sys


def main():
    url, bucket, train, source_dir, image = sys.argv[1:6]
    os.environ.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="us-east-1")
    import boto3
    from sagemaker.train import ModelTrainer, Session
    from sagemaker.train.configs import Compute, InputData, OutputDataConfig, SourceCode

    session = Session(boto_session=boto3.Session(region_name="us-east-1"), default_bucket=bucket)
    trainer = ModelTrainer(
        training_image=image,
        source_code=SourceCode(source_dir=source_dir, entry_script="train.py"),
        role="arn:aws:iam::000000000000:role/SageMakerRole",
        sagemaker_session=session,
        base_job_name="sdk3-pytorch",
        compute=Compute(instance_type="ml.m5.large", instance_count=1, volume_size_in_gb=10),
        hyperparameters={"epochs": 20, "hidden": 32},
        output_data_config=OutputDataConfig(s3_output_path="s3://%s/sdk3-pytorch/output" % bucket),
    )
    trainer.train(input_data_config=[InputData(channel_name="train", data_source=train)], wait=True, logs=False)
    job = trainer._latest_training_job
    d = session.sagemaker_client.describe_training_job(TrainingJobName=job.training_job_name)
    print(json.dumps({"status": d["TrainingJobStatus"], "reason": d.get("FailureReason"),
                      "model": d.get("ModelArtifacts", {}).get("S3ModelArtifacts"),
                      "hyperparameters": d.get("HyperParameters", {})}))


if __name__ == "__main__":
    main()
