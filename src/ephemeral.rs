//! `sagebox run -- CMD…`: a temporary sagebox around one command. The server starts on a free
//! loopback port with a data directory of its own, the command runs with the AWS environment
//! pointing at it (what `sagebox env` would export), and when the command ends the server stops,
//! everything it started in Docker is removed and the data directory goes, unless kept. The
//! command's exit status is sagebox's; sagebox's own failures exit 125, a command that cannot be
//! started 127 (as `docker run` and shells do).

use std::path::PathBuf;
use std::process::ExitStatus;

use crate::Server;
use crate::config::Config;

/// Exit status when sagebox itself could not do its part.
pub const FAILED: u8 = 125;
/// Exit status when the command could not be started.
pub const NOT_RUN: u8 = 127;

/// What `sagebox run` was asked for.
pub struct RunRequest {
    /// The server's settings; `bind` may name port 0 (a free port is taken).
    pub config: Config,
    /// Whether the data directory is sagebox's own to remove afterwards.
    pub temporary_data_dir: bool,
    /// Keep the data directory and the containers (for a look after a failure).
    pub keep: bool,
    pub command: Vec<String>,
}

/// A data directory under the system's temporary folder, unique to this run.
pub fn temporary_data_dir() -> PathBuf {
    let id = uuid::Uuid::new_v4().simple().to_string();
    std::env::temp_dir().join(format!("sagebox-run-{}", &id[..12]))
}

/// Runs the request; the exit status to leave with.
pub async fn run(request: RunRequest) -> u8 {
    let Some((program, args)) = request.command.split_first() else {
        eprintln!("sagebox run: name a command after `--`, e.g. `sagebox run -- pytest`");
        return FAILED;
    };
    let data_dir = request.config.data_dir.clone();
    let server = match Server::bind(request.config.clone()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sagebox run: {e}");
            remove_data_dir(&request, &data_dir);
            return FAILED;
        }
    };
    let mut served = request.config.clone();
    served.bind = server.local_addr();
    let vars = match crate::hostenv::variables(&served) {
        Ok((vars, warnings)) => {
            for w in warnings {
                eprintln!("{w}");
            }
            vars
        }
        Err(e) => {
            eprintln!("sagebox run: {e}");
            drop(server);
            remove_data_dir(&request, &data_dir);
            return FAILED;
        }
    };
    let services = server.services().clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async move {
        stop_rx.await.ok();
    }));
    eprintln!(
        "sagebox run: sagebox {} on {} (data dir {}) for `{}`",
        env!("CARGO_PKG_VERSION"),
        served.endpoint_url(),
        data_dir.display(),
        request.command.join(" ")
    );

    let status = run_command(program, args, &vars).await;

    stop_tx.send(()).ok();
    match tokio::time::timeout(std::time::Duration::from_secs(30), serving).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => eprintln!("sagebox run: the server stopped with an error: {e}"),
        Ok(Err(e)) => eprintln!("sagebox run: the server task failed: {e}"),
        Err(_) => eprintln!("sagebox run: the server did not stop within 30 s; leaving it"),
    }
    if request.keep {
        eprintln!(
            "sagebox run: kept the data directory {} and its containers (remove them with `docker rm -f $(docker ps -aq --filter label=sagebox.owner=$(cat {}/instance-id))`)",
            data_dir.display(),
            data_dir.display()
        );
    } else {
        match services.purge_containers().await {
            Ok(0) => {}
            Ok(n) => eprintln!("sagebox run: removed {n} containers, networks and volumes"),
            // Without Docker there is nothing sagebox could have started.
            Err(crate::runtime::engine::EngineError::Unreachable { .. }) => {}
            Err(e) => eprintln!("sagebox run: could not remove what the run started: {e}"),
        }
        remove_data_dir(&request, &data_dir);
    }
    status
}

fn remove_data_dir(request: &RunRequest, dir: &std::path::Path) {
    if request.temporary_data_dir
        && !request.keep
        && let Err(e) = std::fs::remove_dir_all(dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        eprintln!(
            "sagebox run: could not remove the data directory {}: {e}",
            dir.display()
        );
    }
}

/// Starts the command and waits for it. Ctrl-C reaches the command from the terminal and is not
/// sagebox's to act on; SIGTERM and SIGHUP sent to sagebox are passed on to the command.
async fn run_command(program: &str, args: &[String], vars: &[(String, String)]) -> u8 {
    use tokio::signal::unix::{SignalKind, signal};
    let mut child = match tokio::process::Command::new(program)
        .args(args)
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sagebox run: cannot run `{program}`: {e}");
            return NOT_RUN;
        }
    };
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        eprintln!("sagebox run: cannot listen for signals; waiting for the command");
        return exit_code(child.wait().await);
    };
    loop {
        tokio::select! {
            status = child.wait() => return exit_code(status),
            _ = int.recv() => {}
            _ = term.recv() => forward(&child, libc::SIGTERM),
            _ = hup.recv() => forward(&child, libc::SIGHUP),
        }
    }
}

fn forward(child: &tokio::process::Child, sig: libc::c_int) {
    if let Some(pid) = child.id().and_then(|p| libc::pid_t::try_from(p).ok()) {
        // SAFETY: kill(2) with a pid this process started and has not reaped yet.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// The command's exit code; a command ended by signal N gives 128 + N, as shells report it.
fn exit_code(status: std::io::Result<ExitStatus>) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(FAILED),
            (None, Some(sig)) => u8::try_from(128 + sig).unwrap_or(FAILED),
            (None, None) => FAILED,
        },
        Err(e) => {
            eprintln!("sagebox run: lost track of the command: {e}");
            FAILED
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_pass_through_and_signals_read_as_shells_report_them() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(exit_code(Ok(ExitStatus::from_raw(0))), 0);
        assert_eq!(exit_code(Ok(ExitStatus::from_raw(3 << 8))), 3);
        assert_eq!(exit_code(Ok(ExitStatus::from_raw(libc::SIGKILL))), 137);
    }

    #[tokio::test]
    async fn a_command_that_is_not_there_exits_127() {
        let code = run_command("/nonexistent/sagebox-test-command", &[], &[]).await;
        assert_eq!(code, NOT_RUN);
    }

    #[tokio::test]
    async fn the_command_sees_the_variables() {
        let vars = vec![("SAGEBOX_RUN_TEST".to_string(), "7".to_string())];
        let code = run_command("sh", &["-c".into(), "exit $SAGEBOX_RUN_TEST".into()], &vars).await;
        assert_eq!(code, 7);
    }
}
