//! The runtime layer against the real Docker engine: the base image is built by sagebox's own
//! builder when missing (mmdebstrap | docker import), then containers run on a per-job network
//! with binds, env, limits, published ports and logs, and the label sweep removes them.
//! Without a Docker engine these tests are skipped, except under CI=true, where they fail.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sagebox::runtime::docker::DockerEngine;
use sagebox::runtime::engine::{ARN_LABEL, Bind, ContainerSpec, OWNER_LABEL};
use sagebox::runtime::images::{ImageBuilder, Progress};

async fn engine_and_base() -> Option<(DockerEngine, String)> {
    let engine = match DockerEngine::connect().await {
        Ok(e) => e,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("{e}"),
        Err(e) => {
            eprintln!("skipped: {e}");
            return None;
        }
    };
    let progress: Progress = Arc::new(|line: &str| eprintln!("{line}"));
    let base = ImageBuilder::new(engine.clone())
        .ensure("base", &progress)
        .await
        .expect("the base image builds");
    Some((engine, base))
}

fn labels(owner: &str) -> HashMap<String, String> {
    HashMap::from([
        (OWNER_LABEL.to_string(), owner.to_string()),
        (
            ARN_LABEL.to_string(),
            "arn:aws:sagemaker:us-east-1:000000000000:training-job/t".to_string(),
        ),
    ])
}

fn python(image: &str, name: &str, owner: &str, code: &str) -> ContainerSpec {
    ContainerSpec {
        name: name.to_string(),
        image: image.to_string(),
        entrypoint: Some(vec!["python3".into(), "-c".into()]),
        cmd: vec![code.to_string()],
        labels: labels(owner),
        ..Default::default()
    }
}

async fn logs(engine: &DockerEngine, id: &str) -> String {
    engine
        .logs(id, false, 0)
        .map(|l| l.text)
        .collect::<Vec<_>>()
        .await
        .join("\n")
}

// One test, run in order: the engine is shared and the base build happens once.
#[tokio::test(flavor = "multi_thread")]
async fn containers_run_on_job_networks_with_binds_limits_ports_and_logs() {
    let Some((engine, image)) = engine_and_base().await else {
        return;
    };
    let owner = format!("test-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let net = format!("sagebox-{owner}");
    engine
        .create_network(&net, &labels(&owner))
        .await
        .expect("network");

    // algo-1 serves HTTP on the job network (and on a published loopback port); algo-2 finds it
    // by hostname, reads a read-only bind, checks its env and exits with a chosen code.
    let data = tempfile::tempdir().expect("tempdir");
    std::fs::write(data.path().join("train.csv"), "1,2,3\n").expect("write");
    let mut server = python(
        &image,
        &format!("{owner}-algo-1"),
        &owner,
        "import http.server, socketserver\nprint('serving', flush=True)\nhttp.server.HTTPServer(('', 8080), http.server.SimpleHTTPRequestHandler).serve_forever()",
    );
    server.hostname = Some("algo-1".into());
    server.network = Some((net.clone(), vec!["algo-1".into()]));
    server.publish = vec![8080];
    server.cpus = Some(1);
    server.memory_mib = Some(256);
    let server_id = engine.run(&server).await.expect("run algo-1");

    let port = engine
        .published_port(&server_id, 8080)
        .await
        .expect("inspect")
        .expect("8080 published");
    let mut ok = false;
    for _ in 0..100 {
        if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            // A server still starting may reset the connection: the check below retries.
            s.write_all(b"GET / HTTP/1.0\r\n\r\n").await.ok();
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).await.ok();
            if buf.starts_with(b"HTTP/1.0 200") {
                ok = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the published port answers on 127.0.0.1:{port}");

    let mut client = python(
        &image,
        &format!("{owner}-algo-2"),
        &owner,
        r#"
import os, socket, sys, urllib.request
body = urllib.request.urlopen('http://algo-1:8080/', timeout=10).read()
print('algo-1 answered', len(body) > 0)
print('data', open('/opt/ml/input/data/train/train.csv').read().strip())
try:
    open('/opt/ml/input/data/train/x', 'w')
    print('bind writable')
except OSError:
    print('bind read-only')
print('gateway', socket.gethostbyname('host.docker.internal'))
print('env', os.environ['SM_CURRENT_HOST'])
sys.exit(3)
"#,
    );
    client.hostname = Some("algo-2".into());
    client.network = Some((net.clone(), vec!["algo-2".into()]));
    client.host_gateway = true;
    client.env = vec![("SM_CURRENT_HOST".into(), "algo-2".into())];
    client.binds = vec![Bind {
        host: data.path().display().to_string(),
        container: "/opt/ml/input/data/train".into(),
        read_only: true,
    }];
    let client_id = engine.run(&client).await.expect("run algo-2");
    let code = tokio::time::timeout(Duration::from_secs(60), engine.wait(&client_id))
        .await
        .expect("exits")
        .expect("wait");
    let out = logs(&engine, &client_id).await;
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("algo-1 answered True"), "{out}");
    assert!(out.contains("data 1,2,3"), "{out}");
    assert!(out.contains("bind read-only"), "{out}");
    assert!(out.contains("gateway "), "{out}");
    assert!(out.contains("env algo-2"), "{out}");
    let lines: Vec<_> = engine.logs(&client_id, false, 0).collect().await;
    assert!(
        lines.iter().all(|l| l.timestamp_ms > 1_700_000_000_000),
        "{lines:?}"
    );

    let inspect = engine
        .docker()
        .inspect_container(&server_id, None)
        .await
        .expect("inspect");
    let hc = inspect.host_config.expect("host config");
    assert_eq!(hc.nano_cpus, Some(1_000_000_000));
    assert_eq!(hc.memory, Some(256 << 20));

    engine
        .stop(&server_id, Duration::from_secs(2))
        .await
        .expect("stop");
    let code = engine.wait(&server_id).await.expect("wait stopped");
    assert_ne!(code, 0, "a stopped server reports a signal exit");

    // The sweep finds everything by label (2 containers + 1 network) and removes it.
    let removed = engine.sweep(&owner, |_| false).await.expect("sweep");
    assert_eq!(removed, 3);
    let left = engine
        .containers_labelled(OWNER_LABEL, &owner)
        .await
        .expect("list");
    assert!(left.is_empty(), "{left:?}");
}
