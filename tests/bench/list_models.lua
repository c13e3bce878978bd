-- wrk script: ListModels (one page of 10) as the SDKs send it (awsJson 1.1 with a SigV4-shaped header; every
-- server under test accepts any credentials).
wrk.method = "POST"
wrk.body = '{"MaxResults":10}'
wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
wrk.headers["X-Amz-Target"] = "SageMaker.ListModels"
wrk.headers["X-Amz-Date"] = "20260101T000000Z"
wrk.headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sagemaker/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000"
