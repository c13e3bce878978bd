//! The in-task agent against a real sagebox: `sagebox agent plan` signs binds with the data
//! directory's key, `sagebox agent exec` (the binary, as a local process standing in for a
//! container) fetches them, runs its program and returns the writable ones.

use std::path::Path;
use std::process::Stdio;

use sagebox::Server;
use sagebox::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_sagebox");

/// A sagebox server on a loopback port, for the agent to talk to.
struct Running {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start(data: &Path) -> Running {
        let server = Server::bind(Config::for_tests(data.to_path_buf()))
            .await
            .expect("the server binds");
        let addr = server.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            stopped.await.ok();
        }));
        Running { addr, stop, task }
    }

    async fn stop(self) {
        self.stop.send(()).ok();
        let ran = self.task.await.expect("the server task ends");
        ran.expect("the server ran without error");
    }
}

/// Sends one raw HTTP/1.1 request; the status code and body.
async fn send(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "{head}\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("send the head");
    s.write_all(body).await.expect("send the body");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read the answer");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text[9..12].parse().expect("a status line");
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
    (status, body.unwrap_or_default())
}

fn plan(data: &Path, url: &str, binds: &[String]) -> serde_json::Value {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["agent", "plan", "--data-dir"]).arg(data);
    cmd.args(["--url", url]);
    for b in binds {
        cmd.args(["--bind", b]);
    }
    let out = cmd.output().expect("run sagebox agent plan");
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("a JSON plan")
}

fn agent(plan: Option<&serde_json::Value>, cwd: &Path, script: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(["agent", "exec", "--", "sh", "-c", script])
        .current_dir(cwd)
        .stderr(Stdio::piped())
        .env_remove("SAGEBOX_AGENT_PLAN");
    if let Some(p) = plan {
        cmd.env("SAGEBOX_AGENT_PLAN", p.to_string());
    }
    cmd
}

fn tar_with_name(name: &str) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().expect("a GNU header").name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(1);
    h.set_mode(0o644);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b"x"[..]).expect("append");
    b.into_inner().expect("finish the tar")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_fetches_binds_runs_the_program_and_returns_the_writable_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let data = root.join("data");
    let host = root.join("host");
    std::fs::create_dir_all(host.join("in/sub")).unwrap();
    std::fs::write(host.join("in/a"), b"hello ").unwrap();
    std::fs::write(host.join("in/sub/c"), b"deep").unwrap();
    std::fs::write(host.join("config.json"), b"{\"k\":1}").unwrap();
    std::fs::write(host.join("result.txt"), b"before").unwrap();
    let ctr = root.join("ctr");
    std::fs::create_dir_all(&ctr).unwrap();

    let running = Running::start(&data).await;
    let addr = running.addr;
    let url = format!("http://{addr}");
    let (h, c) = (host.display(), ctr.display());
    let binds = [
        format!("{h}/in:{c}/in:ro"),
        format!("{h}/out:{c}/out"),
        format!("{h}/config.json:{c}/config/x.json:ro"),
        format!("{h}/result.txt:{c}/result.txt"),
    ];
    let plan = plan(&data, &url, &binds);

    // The program sees its inputs before it starts, and not the plan.
    let script = "[ -f in/a ] && [ -f config/x.json ] && [ -z \"$SAGEBOX_AGENT_PLAN\" ] || exit 9; \
                  cat in/a in/sub/c config/x.json > out/b; cat result.txt > out/r; echo after > result.txt; exit 3";
    let run = agent(Some(&plan), &ctr, script).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("sagebox-agent: {c}/in: 2 files, 10 B in ")),
        "{stderr}"
    );
    assert!(stderr.contains("returned"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(host.join("out/b")).unwrap(),
        "hello deep{\"k\":1}"
    );
    // A writable file bind comes in as a file and goes back as one.
    assert_eq!(
        std::fs::read_to_string(host.join("out/r")).unwrap(),
        "before"
    );
    assert_eq!(
        std::fs::read_to_string(host.join("result.txt")).unwrap(),
        "after\n"
    );

    // Tokens: forged, missing, for another path, or read-only for a write, are refused.
    let ids: Vec<&str> = (0..3)
        .map(|i| plan["binds"][i]["id"].as_str().unwrap())
        .collect();
    let tokens: Vec<&str> = (0..3)
        .map(|i| plan["binds"][i]["token"].as_str().unwrap())
        .collect();
    let get = |id: &str, token: &str| {
        format!("GET /_sagebox/agent/binds/{id} HTTP/1.1\r\nAuthorization: SageboxAgent {token}")
    };
    assert_eq!(send(addr, &get(ids[0], tokens[0]), b"").await.0, 200);
    assert_eq!(send(addr, &get(ids[0], tokens[1]), b"").await.0, 403);
    assert_eq!(send(addr, &get(ids[0], &"0".repeat(64)), b"").await.0, 403);
    let bare = format!("GET /_sagebox/agent/binds/{} HTTP/1.1", ids[0]);
    assert_eq!(send(addr, &bare, b"").await.0, 403);
    let parent = sagebox::agent::plan::encode_id(&host.display().to_string());
    assert_eq!(send(addr, &get(&parent, tokens[0]), b"").await.0, 403);
    assert_eq!(
        send(addr, &get("bm90LWEtcGF0aA", tokens[0]), b"").await.0,
        400
    );
    let put = |id: &str, token: &str| {
        format!("PUT /_sagebox/agent/binds/{id} HTTP/1.1\r\nAuthorization: SageboxAgent {token}")
    };
    let (status, _) = send(addr, &put(ids[0], tokens[0]), &tar_with_name("x")).await;
    assert_eq!(status, 403, "a read-only token does not write");
    let (status, body) = send(addr, &put(ids[1], tokens[1]), &tar_with_name("../evil")).await;
    assert_eq!(status, 400, "{body}");
    assert!(!host.join("evil").exists());
    let (status, _) = send(addr, &put(ids[1], tokens[1]), &tar_with_name("ok")).await;
    assert_eq!(status, 200);
    assert_eq!(std::fs::read(host.join("out/ok")).unwrap(), b"x");
    std::fs::remove_dir_all(&ctr).unwrap();
    std::fs::create_dir_all(&ctr).unwrap();
    let missing = sagebox::agent::plan::plan_for_binds(
        &[sagebox::runtime::engine::Bind {
            host: host.join("nothing").display().to_string(),
            container: "/x".into(),
            read_only: true,
        }],
        &url,
        &sagebox::agent::plan::key_of_data_dir(&data).unwrap(),
    );
    let b = &missing.binds[0];
    assert_eq!(send(addr, &get(&b.id, &b.token), b"").await.0, 404);

    // A download that fails stops the agent before the program runs, saying what to check.
    let mut forged = plan.clone();
    forged["binds"][0]["token"] = "00".repeat(32).into();
    let run = agent(Some(&forged), &ctr, "touch ran")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(125), "{stderr}");
    assert!(stderr.contains("403 Forbidden"), "{stderr}");
    assert!(
        stderr.contains(&url) && stderr.contains("reachable"),
        "{stderr}"
    );
    assert!(!ctr.join("ran").exists());

    // SIGTERM reaches the program, and the writable bind still goes back.
    let script =
        "trap 'echo late > out/late; exit 7' TERM; touch ready; while :; do sleep 0.05; done";
    let mut child = agent(Some(&plan), &ctr, script).spawn().unwrap();
    for _ in 0..200 {
        if ctr.join("ready").exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(ctr.join("ready").exists());
    let pid = child.id().unwrap() as libc::pid_t;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(7));
    assert_eq!(
        std::fs::read_to_string(host.join("out/late")).unwrap(),
        "late\n"
    );

    // A program a signal ended exits as a shell reports it: 128 + the signal.
    let run = agent(Some(&plan), &ctr, "kill -KILL $$")
        .output()
        .await
        .unwrap();
    assert_eq!(run.status.code(), Some(137));

    // Without a plan the agent is just the program.
    let run = agent(None, &ctr, "exit 4").output().await.unwrap();
    assert_eq!(run.status.code(), Some(4));

    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synced_bind_reaches_the_host_while_the_program_runs_and_returns_mirror_the_container() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let data = root.join("data");
    let host = root.join("host");
    std::fs::create_dir_all(host.join("ckpt")).unwrap();
    std::fs::write(host.join("ckpt/old"), b"old").unwrap();
    std::fs::create_dir_all(host.join("out")).unwrap();
    std::fs::write(host.join("out/stale"), b"stale").unwrap();
    std::fs::create_dir_all(host.join("ro")).unwrap();
    std::fs::write(host.join("ro/r"), b"r").unwrap();
    let ctr = root.join("ctr");
    std::fs::create_dir_all(&ctr).unwrap();
    let running = Running::start(&data).await;
    let addr = running.addr;
    let (h, c) = (host.display(), ctr.display());
    let binds = [
        format!("{h}/ckpt:{c}/ckpt"),
        format!("{h}/out:{c}/out"),
        format!("{h}/ro:{c}/out/ro:ro"),
    ];
    let mut plan = plan(&data, &format!("http://{addr}"), &binds);
    plan["binds"][0]["sync"] = serde_json::Value::Bool(true);

    // A checkpoint written early reaches the host while the program still runs; the bind that
    // is not synced only comes back at the end. What the program deletes goes on the host too,
    // and a bind inside another stays out of it.
    let script = "[ -f ckpt/old ] && [ -f out/stale ] && [ -f out/ro/r ] || exit 9; \
                  rm ckpt/old out/stale; echo step-1 > ckpt/a; echo x > out/early; exec sleep 60";
    let mut child = agent(Some(&plan), &ctr, script).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !host.join("ckpt/a").exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the program ended before its checkpoint came back"
        );
        assert!(std::time::Instant::now() < deadline, "no sync within 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        std::fs::read_to_string(host.join("ckpt/a")).unwrap(),
        "step-1\n"
    );
    assert!(!host.join("ckpt/old").exists());
    assert!(
        !host.join("out/early").exists(),
        "an unsynced bind came back early"
    );
    let pid = child.id().unwrap() as libc::pid_t;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(
        stderr.contains(&format!("synced {c}/ckpt: 1 file")),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(host.join("out/early")).unwrap(),
        "x\n"
    );
    assert!(!host.join("out/stale").exists(), "a deleted file came back");
    assert!(
        !host.join("out/ro").exists(),
        "a nested bind was returned into its parent"
    );
    assert_eq!(std::fs::read_to_string(host.join("ro/r")).unwrap(), "r");

    running.stop().await;
}

/// The agent's output once it has exited (a minute at most).
async fn finished(child: tokio::process::Child) -> std::process::Output {
    let waited =
        tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output()).await;
    waited
        .expect("the agent exits once its program has")
        .expect("the agent's output")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_feeds_pipe_mode_fifos_epoch_after_epoch() {
    use sagebox::runtime::engine::{ContainerSpec, PipeFeed};
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let data = root.join("data");
    // the source as the supervisor stages it: the objects in key order, named in that order
    let source = root.join("channels/train-algo-1-pipe");
    std::fs::create_dir_all(&source).unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let objects: [&[u8]; 3] = [b"first\n", &big, b"last"];
    for (i, o) in objects.iter().enumerate() {
        std::fs::write(source.join(format!("{i:08}")), o).unwrap();
    }
    let ctr = root.join("ctr");
    std::fs::create_dir_all(&ctr).unwrap();

    let running = Running::start(&data).await;
    let addr = running.addr;
    let url = format!("http://{addr}");
    let fifo_dir = ctr.join("input/data").display().to_string();
    let feed = |channel: &str, recordio| PipeFeed {
        source: source.display().to_string(),
        fifo_dir: fifo_dir.clone(),
        channel: channel.into(),
        recordio,
    };
    let spec = ContainerSpec {
        pipes: vec![feed("train", false), feed("rec", true)],
        ..Default::default()
    };
    let key = sagebox::agent::plan::key_of_data_dir(&data).unwrap();
    let plan = serde_json::to_value(sagebox::agent::plan_for(&spec, &url, &key)).unwrap();

    // Two epochs in full, a third cut short by its reader (the feeder goes on), a fourth in
    // full; the RecordIO channel twice. The first FIFO is there when the program starts.
    let script = "[ -p input/data/train_0 ] || exit 9; \
                  cat input/data/train_0 > e0; cat input/data/train_1 > e1; \
                  head -c 3 input/data/train_2 > e2; cat input/data/train_3 > e3; \
                  cat input/data/rec_0 > r0; cat input/data/rec_1 > r1";
    let child = agent(Some(&plan), &ctr, script)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let run = finished(child).await;
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    let whole: Vec<u8> = objects.concat();
    for epoch in ["e0", "e1", "e3"] {
        assert!(std::fs::read(ctr.join(epoch)).unwrap() == whole, "{epoch}");
    }
    assert_eq!(std::fs::read(ctr.join("e2")).unwrap(), b"fir");
    let mut records = Vec::new();
    for o in objects {
        records.extend_from_slice(&0xced7_230a_u32.to_le_bytes());
        records.extend_from_slice(&(o.len() as u32).to_le_bytes());
        records.extend_from_slice(o);
        records.resize(records.len().next_multiple_of(4), 0);
    }
    for epoch in ["r0", "r1"] {
        assert!(
            std::fs::read(ctr.join(epoch)).unwrap() == records,
            "{epoch}"
        );
    }
    let fed = format!("sagebox-agent: fed {fifo_dir}/train_1: 3 files, 300.0 KB in ");
    assert!(stderr.contains(&fed), "{stderr}");
    assert!(
        stderr.contains("train_2: ") && stderr.contains("the reader closed it before its end"),
        "{stderr}"
    );

    // A feeder that cannot fetch its source says what to check, and the run fails even though
    // the program, which read an empty epoch, did not.
    let mut forged = plan.clone();
    forged["pipes"][0]["token"] = "00".repeat(32).into();
    std::fs::remove_dir_all(&ctr).unwrap();
    std::fs::create_dir_all(&ctr).unwrap();
    let child = agent(Some(&forged), &ctr, "cat input/data/train_0 > e0")
        .spawn()
        .unwrap();
    let run = finished(child).await;
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(125), "{stderr}");
    assert!(
        stderr.contains("cannot feed") && stderr.contains("403 Forbidden"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&url) && stderr.contains("reachable"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(ctr.join("e0")).unwrap(), b"");

    running.stop().await;
}
