//! CloudWatch Logs: log groups, streams and events (filled in next).
