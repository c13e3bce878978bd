//! CloudWatch Logs tables (filled in with the logs service).
