//! Integration tests: a real sagebox server on an ephemeral port, driven over HTTP/1.1.
//! (The boto3 / AWS CLI suites in tests/clients/ cover the clients; these pin the wire shapes.)

use std::net::SocketAddr;
use std::path::Path;

use sagebox::Server;
use sagebox::config::Config;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn start(dir: &Path) -> Running {
        let server = Server::bind(Config::for_tests(dir.to_path_buf()))
            .await
            .expect("server binds");
        let addr = server.local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(async {
                    // A send and a dropped sender both mean "stop".
                    rx.await.ok();
                })
                .await
                .expect("server runs");
        });
        Running {
            addr,
            stop: Some(tx),
            task,
        }
    }

    async fn stop(mut self) {
        let stop = self.stop.take().expect("stop is called once");
        // The server may have ended already; then there is nobody left to tell.
        stop.send(()).ok();
        self.task.await.expect("server task ends without panicking");
    }

    /// Sends one request and returns (status, headers, body).
    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String, String) {
        let mut s = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect to the server");
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).await.expect("send the request");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.expect("read the response");
        let text = String::from_utf8_lossy(&raw).to_string();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .expect("the response has a head and a body");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("the status line has a numeric status");
        (status, head.to_lowercase(), body.to_string())
    }

    async fn sagemaker(&self, op: &str, body: Value) -> (u16, Value) {
        let target = format!("SageMaker.{op}");
        let (status, _, body) = self
            .send(
                "POST",
                "/",
                &[
                    ("X-Amz-Target", &target),
                    ("Content-Type", "application/x-amz-json-1.1"),
                ],
                &body.to_string(),
            )
            .await;
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }
}

fn model(name: &str) -> Value {
    json!({
        "ModelName": name,
        "ExecutionRoleArn": "arn:aws:iam::000000000000:role/SageMakerRole",
        "PrimaryContainer": { "Image": "local/xgboost:1", "Environment": { "A": "1" } },
        "Tags": [{ "Key": "team", "Value": "ml" }],
    })
}

#[tokio::test]
async fn describe_model_returns_what_create_model_stored() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Running::start(dir.path()).await;
    let (status, out) = sb.sagemaker("CreateModel", model("Churn-Model")).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out["ModelArn"],
        "arn:aws:sagemaker:us-east-1:000000000000:model/churn-model"
    );

    let (status, d) = sb
        .sagemaker("DescribeModel", json!({ "ModelName": "Churn-Model" }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(d["ModelName"], "Churn-Model");
    assert_eq!(d["PrimaryContainer"]["Environment"]["A"], "1");
    assert_eq!(d["EnableNetworkIsolation"], false);
    assert!(d["CreationTime"].as_f64().unwrap() > 1.7e9);
    assert!(
        d.get("Tags").is_none(),
        "tags are not part of DescribeModel: {d}"
    );
    sb.stop().await;
}

#[tokio::test]
async fn errors_use_aws_json_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Running::start(dir.path()).await;

    let (status, e) = sb
        .sagemaker("DescribeModel", json!({ "ModelName": "nope" }))
        .await;
    assert_eq!(status, 400);
    assert_eq!(e["__type"], "ValidationException");
    assert_eq!(
        e["message"],
        "Could not find model \"arn:aws:sagemaker:us-east-1:000000000000:model/nope\"."
    );

    let (status, e) = sb
        .sagemaker(
            "CreateModel",
            json!({ "ModelName": "bad name!" , "PrimaryContainer": {"Image": "x"}}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(e["__type"], "ValidationException");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.starts_with("1 validation error detected: Value 'bad name!' at 'modelName' failed to satisfy constraint: Member must satisfy regular expression pattern"), "{msg}");

    let (status, e) = sb.sagemaker("NoSuchOperation", json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(e["__type"], "UnknownOperationException");

    // every operation of the model answers: those without a handler of their own are the
    // stored-resource engine's (an empty list here), validated like the rest
    let (status, e) = sb.sagemaker("ListClusters", json!({})).await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(e, json!({"ClusterSummaries": []}));
    let (status, e) = sb
        .sagemaker("DescribeDomain", json!({"DomainId": "d-nosuchdomain"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(e["__type"], "ResourceNotFound");

    // Whatever no other api claims is S3's, with S3's XML errors.
    let (status, head, body) = sb.send("GET", "/some-bucket/key", &[], "").await;
    assert_eq!(status, 404);
    assert!(head.contains("xml"), "{head}");
    assert!(body.contains("<Code>NoSuchBucket</Code>"), "{body}");
    sb.stop().await;
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Running::start(dir.path()).await;
    assert_eq!(sb.sagemaker("CreateModel", model("kept")).await.0, 200);
    sb.stop().await;

    let sb = Running::start(dir.path()).await;
    let (status, d) = sb
        .sagemaker("DescribeModel", json!({ "ModelName": "kept" }))
        .await;
    assert_eq!(status, 200, "{d}");
    let (_, tags) = sb
        .sagemaker("ListTags", json!({ "ResourceArn": d["ModelArn"] }))
        .await;
    assert_eq!(tags["Tags"], json!([{ "Key": "team", "Value": "ml" }]));
    sb.stop().await;
}

#[tokio::test]
async fn sts_and_iam_answer_in_query_xml() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Running::start(dir.path()).await;
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let (status, _, body) = sb
        .send(
            "POST",
            "/",
            &form,
            "Action=GetCallerIdentity&Version=2011-06-15",
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        body.contains("<Arn>arn:aws:sts::000000000000:assumed-role/SageMakerRole/sagebox</Arn>"),
        "{body}"
    );

    let (status, _, body) = sb
        .send(
            "POST",
            "/",
            &form,
            "Action=GetRole&Version=2010-05-08&RoleName=SageMakerRole",
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        body.contains("<Arn>arn:aws:iam::000000000000:role/SageMakerRole</Arn>"),
        "{body}"
    );

    let (status, _, body) = sb
        .send(
            "POST",
            "/",
            &form,
            "Action=GetRole&Version=2010-05-08&RoleName=Other",
        )
        .await;
    assert_eq!(status, 404);
    assert!(body.contains("<Code>NoSuchEntity</Code>"), "{body}");
    sb.stop().await;
}
