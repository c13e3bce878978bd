//! Container output: `docker logs --timestamps` chunks split into timestamped lines.

use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use bollard::query_parameters::LogsOptionsBuilder;

use super::DockerEngine;
use crate::runtime::engine::LogLine;

impl DockerEngine {
    /// The container's output as lines with the engine's timestamps; with `follow`, until it
    /// exits. `since` (epoch seconds; 0: from the start) skips what was written before it
    /// (re-attaching after a restart).
    pub fn logs(&self, id: &str, follow: bool, since: i64) -> BoxStream<'static, LogLine> {
        self.docker
            .logs(id, Some(log_options(follow, since)))
            .take_while(|r| std::future::ready(r.is_ok()))
            .filter_map(|r| std::future::ready(r.ok()))
            .flat_map(|out| {
                let stderr = matches!(out, bollard::container::LogOutput::StdErr { .. });
                futures_util::stream::iter(parse_chunk(&out.to_string(), stderr))
            })
            .boxed()
    }
}

/// Both streams, timestamped, from `since` (epoch seconds), following or not: a container's
/// (or, on a swarm, a service's) output as sagebox reads it.
pub fn log_options(follow: bool, since: i64) -> bollard::query_parameters::LogsOptions {
    LogsOptionsBuilder::default()
        .follow(follow)
        .since(i32::try_from(since).unwrap_or(i32::MAX))
        .stdout(true)
        .stderr(true)
        .timestamps(true)
        .tail("all")
        .build()
}

/// A chunk of `docker logs --timestamps` output: one or more `<RFC3339Nano> <text>\n` lines.
pub fn parse_chunk(chunk: &str, stderr: bool) -> Vec<LogLine> {
    chunk
        .split_terminator('\n')
        .map(|line| {
            let (ts, text) = match line.split_once(' ') {
                Some((ts, text)) => match parse_rfc3339_ms(ts) {
                    Some(ms) => (ms, text),
                    None => (0, line),
                },
                None => match parse_rfc3339_ms(line) {
                    Some(ms) => (ms, ""),
                    None => (0, line),
                },
            };
            LogLine {
                timestamp_ms: ts,
                stderr,
                text: text.trim_end_matches('\r').to_string(),
            }
        })
        .collect()
}

fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_chunks_split_into_timestamped_lines() {
        let lines = parse_chunk(
            "2026-11-24T10:00:00.123456789Z hello\n2026-11-24T10:00:01Z world\r\n",
            true,
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].text, "hello");
        assert_eq!(lines[0].timestamp_ms, 1_795_514_400_123);
        assert_eq!(lines[1].text, "world");
        assert!(lines[1].stderr);
        let plain = parse_chunk("no timestamp here\n", false);
        assert_eq!(plain[0].timestamp_ms, 0);
        assert_eq!(plain[0].text, "no timestamp here");
    }
}
