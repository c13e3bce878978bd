//! CloudWatch Logs: log groups, log streams and their events, for the Logs API and for sagebox's
//! own training and endpoint containers, whose output lands here as SageMaker's does on AWS.
//!
//! The rules follow AWS: names are case-sensitive; PutLogEvents takes a chronological batch,
//! rejects (without failing) events too old or too far in the future, and ignores sequence
//! tokens; GetLogEvents pages forward and backward through one stream with tokens that come back
//! unchanged at the end; FilterLogEvents searches a group with text filter patterns. Every time
//! is epoch milliseconds.

mod pattern;
pub(crate) mod pumps;
mod resume;
mod tokens;

pub use pattern::FilterPattern;
pub use resume::Resume;

use super::resources::Page;
use super::{ServiceError, ServiceResult, Services};
use crate::aws::arn::Arn;
use crate::aws::time::now_millis;
use crate::store::logs::{
    EventBound, EventQuery, FilterQuery, GroupQuery, LogEvent, LogGroup, LogStream, NewLogGroup,
    Refusal, StreamCursor, StreamOrder, StreamQuery, StreamSelection,
};
use tokens::Direction;

/// Default and largest page of DescribeLogGroups / DescribeLogStreams.
pub const DESCRIBE_LIMIT: usize = 50;
/// Default and largest page of GetLogEvents / FilterLogEvents.
pub const EVENTS_LIMIT: usize = 10_000;
/// PutLogEvents' size accounting: each event counts its UTF-8 message bytes plus 26.
const EVENT_OVERHEAD: usize = 26;
const MAX_EVENT_SIZE: usize = 262_144;
const MAX_BATCH_SIZE: usize = 1_048_576;
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
/// Events this much older than now are rejected as too old...
const TOO_OLD_MS: i64 = 14 * DAY_MS;
/// ...and this much newer as too new.
const TOO_NEW_MS: i64 = 2 * HOUR_MS;
/// FilterLogEvents examines at most this many events per call, then answers with what it found
/// and a nextToken (AWS also returns short or empty pages with a token).
const FILTER_SCAN_LIMIT: usize = 100_000;

pub struct CreateLogGroup {
    pub name: String,
    pub class: Option<String>,
    pub kms_key_id: Option<String>,
    pub deletion_protection: bool,
    pub tags: Vec<(String, String)>,
}

#[derive(Default)]
pub struct DescribeLogGroups {
    pub prefix: Option<String>,
    /// `logGroupNamePattern`: a case-sensitive substring.
    pub pattern: Option<String>,
    pub class: Option<String>,
    /// `logGroupIdentifiers`: names or ARNs.
    pub identifiers: Option<Vec<String>>,
    pub limit: Option<usize>,
    pub next_token: Option<String>,
}

pub struct DescribeLogStreams {
    pub group: String,
    pub prefix: Option<String>,
    pub order: StreamOrder,
    pub descending: bool,
    pub limit: Option<usize>,
    pub next_token: Option<String>,
}

/// Which events of a PutLogEvents batch were not stored (indexes into the batch).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RejectedEvents {
    /// The first too-new event (inclusive).
    pub too_new_start: Option<usize>,
    /// The end of the too-old events (exclusive).
    pub too_old_end: Option<usize>,
}

pub struct PutLogEventsResult {
    pub next_sequence_token: String,
    pub rejected: Option<RejectedEvents>,
}

pub struct GetLogEvents {
    pub group: String,
    pub stream: String,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub limit: Option<usize>,
    pub start_from_head: bool,
    pub next_token: Option<String>,
}

pub struct LogEventsPage {
    pub events: Vec<LogEvent>,
    pub next_forward_token: String,
    pub next_backward_token: String,
}

pub struct FilterLogEvents {
    pub group: String,
    pub stream_names: Option<Vec<String>>,
    pub stream_prefix: Option<String>,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub pattern: Option<String>,
    pub limit: Option<usize>,
    pub next_token: Option<String>,
}

fn invalid(message: impl Into<String>) -> ServiceError {
    ServiceError::InvalidParameter(message.into())
}

fn refused(r: Refusal) -> ServiceError {
    match r {
        Refusal::GroupNotFound => ServiceError::NotFound("The specified log group does not exist.".into()),
        Refusal::StreamNotFound => ServiceError::NotFound("The specified log stream does not exist.".into()),
        Refusal::GroupExists => ServiceError::AlreadyExists("The specified log group already exists".into()),
        Refusal::StreamExists => ServiceError::AlreadyExists("The specified log stream already exists".into()),
        Refusal::DeletionProtected => ServiceError::Validation(
            "Cannot delete log group with deletion protection enabled. Disable deletion protection first.".into(),
        ),
    }
}

/// A log group's name from a `logGroupIdentifier`: the name itself, or an ARN with or without
/// the trailing `:*`.
pub fn group_name_from_identifier(identifier: &str) -> String {
    if let Some(arn) = Arn::parse(identifier)
        && arn.service == "logs"
        && let Some(rest) = arn.resource.strip_prefix("log-group:")
    {
        return rest.strip_suffix(":*").unwrap_or(rest).to_string();
    }
    identifier.to_string()
}

/// The group an operation names by `logGroupName` or `logGroupIdentifier` (exactly one).
pub fn log_group_ref(name: Option<&str>, identifier: Option<&str>) -> ServiceResult<String> {
    match (name, identifier) {
        (Some(_), Some(_)) => Err(invalid(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
        )),
        (Some(name), None) => Ok(name.to_string()),
        (None, Some(id)) => Ok(group_name_from_identifier(id)),
        (None, None) => Err(invalid(
            "Should provide either name or ARN of the log group.",
        )),
    }
}

/// The sequence token a stream reports after `upload_seq` batches (none before the first). AWS
/// ignores sequence tokens now; sagebox still hands out ones that look like AWS's.
pub fn sequence_token(upload_seq: i64) -> Option<String> {
    (upload_seq > 0).then(|| format!("{upload_seq:056}"))
}

/// FilterLogEvents' `eventId`, as long as AWS's.
pub fn event_id(event: &LogEvent) -> String {
    format!("{:056}", event.id)
}

/// Checks a PutLogEvents batch and finds the events to reject: the too-old ones are a prefix and
/// the too-new ones a suffix of a chronological batch. Returns the range to store.
fn check_batch(
    events: &[(i64, String)],
    now: i64,
) -> ServiceResult<(std::ops::Range<usize>, RejectedEvents)> {
    if events.windows(2).any(|w| w[1].0 < w[0].0) {
        return Err(invalid(
            "Log events in a single PutLogEvents request must be in chronological order.",
        ));
    }
    let mut total = 0;
    for (_, message) in events {
        let size = message.len() + EVENT_OVERHEAD;
        if size > MAX_EVENT_SIZE {
            return Err(invalid(format!(
                "Log event too large: {size} bytes exceeds limit of {MAX_EVENT_SIZE}"
            )));
        }
        total += size;
    }
    if total > MAX_BATCH_SIZE {
        return Err(invalid(format!(
            "Upload too large: {total} bytes exceeds limit of {MAX_BATCH_SIZE}"
        )));
    }
    let old_end = events.partition_point(|e| e.0 < now - TOO_OLD_MS);
    let new_start = events
        .partition_point(|e| e.0 <= now + TOO_NEW_MS)
        .max(old_end);
    // The 24-hour span applies to the valid events only; rejected ones don't count.
    let valid = &events[old_end..new_start];
    if let (Some(first), Some(last)) = (valid.first(), valid.last())
        && last.0 - first.0 > DAY_MS
    {
        return Err(invalid(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
        ));
    }
    let rejected = RejectedEvents {
        too_old_end: (old_end > 0).then_some(old_end),
        too_new_start: (new_start < events.len()).then_some(new_start),
    };
    Ok((old_end..new_start, rejected))
}

impl Services {
    /// `arn:aws:logs:<region>:<account>:log-group:<name>`: the `logGroupArn` form; the `arn`
    /// member of a log group adds `:*`.
    pub fn log_group_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:logs:{}:{}:log-group:{name}",
            self.config.region, self.config.account_id
        )
    }

    pub fn log_stream_arn(&self, group: &str, stream: &str) -> String {
        format!("{}:log-stream:{stream}", self.log_group_arn(group))
    }

    pub async fn create_log_group(&self, p: CreateLogGroup) -> ServiceResult<()> {
        let group = NewLogGroup {
            arn: self.log_group_arn(&p.name),
            name: p.name,
            created: now_millis(),
            class: p.class.unwrap_or_else(|| "STANDARD".into()),
            kms_key_id: p.kms_key_id,
            deletion_protection: p.deletion_protection,
            tags: p.tags,
        };
        self.store.create_log_group(group).await?.map_err(refused)
    }

    pub async fn create_log_stream(&self, group: &str, stream: &str) -> ServiceResult<()> {
        self.store
            .create_log_stream(group, stream, now_millis())
            .await?
            .map_err(refused)
    }

    /// Deletes the group with all its streams and events.
    pub async fn delete_log_group(&self, name: &str) -> ServiceResult<()> {
        self.store
            .delete_log_group(name, &self.log_group_arn(name))
            .await?
            .map_err(refused)
    }

    pub async fn delete_log_stream(&self, group: &str, stream: &str) -> ServiceResult<()> {
        self.store
            .delete_log_stream(group, stream)
            .await?
            .map_err(refused)
    }

    pub async fn describe_log_groups(&self, p: DescribeLogGroups) -> ServiceResult<Page<LogGroup>> {
        if p.prefix.is_some() && p.pattern.is_some() {
            return Err(invalid(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
            ));
        }
        if p.identifiers.is_some() && (p.prefix.is_some() || p.pattern.is_some()) {
            return Err(invalid(
                "logGroupIdentifiers is mutually exclusive with logGroupNamePrefix and logGroupNamePattern.",
            ));
        }
        let limit = p.limit.unwrap_or(DESCRIBE_LIMIT).clamp(1, DESCRIBE_LIMIT);
        let q = GroupQuery {
            prefix: p.prefix,
            contains: p.pattern.filter(|s| !s.is_empty()),
            class: p.class,
            names: p
                .identifiers
                .map(|ids| ids.iter().map(|i| group_name_from_identifier(i)).collect()),
            after: p
                .next_token
                .as_deref()
                .map(tokens::parse_group_token)
                .transpose()?,
            limit,
        };
        let mut items = self.store.list_log_groups(q).await?;
        let next_token = (items.len() > limit).then(|| {
            items.truncate(limit);
            items.last().map(|g| tokens::group_token(&g.name))
        });
        Ok(Page {
            items,
            next_token: next_token.flatten(),
        })
    }

    pub async fn describe_log_streams(
        &self,
        p: DescribeLogStreams,
    ) -> ServiceResult<Page<LogStream>> {
        if p.order == StreamOrder::LastEventTime && p.prefix.is_some() {
            return Err(invalid(
                "Cannot order by LastEventTime with a logStreamNamePrefix.",
            ));
        }
        let after = p
            .next_token
            .as_deref()
            .map(tokens::parse_stream_token)
            .transpose()?;
        let matches_order = matches!(
            (&after, p.order),
            (None, _)
                | (Some(StreamCursor::Name(_)), StreamOrder::Name)
                | (
                    Some(StreamCursor::LastEvent(..)),
                    StreamOrder::LastEventTime
                )
        );
        if !matches_order {
            return Err(invalid("The specified nextToken is invalid."));
        }
        let limit = p.limit.unwrap_or(DESCRIBE_LIMIT).clamp(1, DESCRIBE_LIMIT);
        let q = StreamQuery {
            prefix: p.prefix,
            order: p.order,
            descending: p.descending,
            after,
            limit,
        };
        let mut items = self
            .store
            .list_log_streams(&p.group, q)
            .await?
            .map_err(refused)?;
        let mut next_token = None;
        if items.len() > limit {
            items.truncate(limit);
            next_token = items.last().map(|s| {
                tokens::stream_token(&match p.order {
                    StreamOrder::Name => StreamCursor::Name(s.name.clone()),
                    StreamOrder::LastEventTime => {
                        StreamCursor::LastEvent(s.last_event.unwrap_or(-1), s.name.clone())
                    }
                })
            });
        }
        Ok(Page { items, next_token })
    }

    /// Stores a chronological batch. The sequence token is not asked for: AWS ignores it.
    pub async fn put_log_events(
        &self,
        group: &str,
        stream: &str,
        events: Vec<(i64, String)>,
    ) -> ServiceResult<PutLogEventsResult> {
        let now = now_millis();
        let (keep, rejected) = check_batch(&events, now)?;
        let batch: Vec<(i64, String)> = events
            .into_iter()
            .skip(keep.start)
            .take(keep.len())
            .collect();
        let seq = self
            .store
            .append_log_events(group, stream, batch, now, false)
            .await?
            .map_err(refused)?;
        Ok(PutLogEventsResult {
            next_sequence_token: sequence_token(seq).unwrap_or_default(),
            rejected: (rejected != RejectedEvents::default()).then_some(rejected),
        })
    }

    pub async fn get_log_events(&self, p: GetLogEvents) -> ServiceResult<LogEventsPage> {
        let passed = p
            .next_token
            .as_deref()
            .map(tokens::parse_event_token)
            .transpose()?;
        // A token's direction wins over startFromHead.
        let bound = match passed {
            Some((Direction::Forward, k)) => EventBound::After(k),
            Some((Direction::Backward, k)) => EventBound::Before(k),
            None if p.start_from_head => EventBound::Head,
            None => EventBound::Tail,
        };
        let limit = p.limit.unwrap_or(EVENTS_LIMIT).clamp(1, EVENTS_LIMIT);
        let q = EventQuery {
            start: p.start,
            end: p.end,
            bound,
            limit,
        };
        let events = self
            .store
            .log_stream_events(&p.group, &p.stream, q)
            .await?
            .map_err(refused)?;
        let (forward, backward) = match (events.first(), events.last(), passed) {
            (Some(first), Some(last), _) => (
                tokens::event_token(Direction::Forward, last.key()),
                tokens::event_token(Direction::Backward, first.key()),
            ),
            // Nothing further that way: the same token comes back, which is how clients know
            // they reached the end; the other token turns around at the same place.
            (_, _, Some((Direction::Forward, k))) => (
                p.next_token.clone().unwrap_or_default(),
                tokens::event_token(Direction::Backward, tokens::just_after(k)),
            ),
            (_, _, Some((Direction::Backward, k))) => (
                tokens::event_token(Direction::Forward, tokens::just_before(k)),
                p.next_token.clone().unwrap_or_default(),
            ),
            (_, _, None) => (
                tokens::event_token(Direction::Forward, tokens::START),
                tokens::event_token(Direction::Backward, tokens::START),
            ),
        };
        Ok(LogEventsPage {
            events,
            next_forward_token: forward,
            next_backward_token: backward,
        })
    }

    pub async fn filter_log_events(&self, p: FilterLogEvents) -> ServiceResult<Page<LogEvent>> {
        let streams = match (p.stream_names, p.stream_prefix) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.",
                ));
            }
            (Some(names), None) => StreamSelection::Names(names),
            (None, Some(prefix)) => StreamSelection::Prefix(prefix),
            (None, None) => StreamSelection::All,
        };
        let pattern = FilterPattern::parse(p.pattern.as_deref().unwrap_or("")).map_err(invalid)?;
        let q = FilterQuery {
            streams,
            start: p.start,
            end: p.end,
            after: p
                .next_token
                .as_deref()
                .map(tokens::parse_filter_token)
                .transpose()?,
            limit: p.limit.unwrap_or(EVENTS_LIMIT).clamp(1, EVENTS_LIMIT),
            scan_limit: FILTER_SCAN_LIMIT,
        };
        let scan = self
            .store
            .filter_log_events(&p.group, q, move |m| pattern.matches(m))
            .await?
            .map_err(refused)?;
        Ok(Page {
            items: scan.events,
            next_token: scan.resume_after.map(tokens::filter_token),
        })
    }

    /// Appends container output to a stream, creating the group and stream if needed, in one
    /// transaction. Events may come in any order; they are stored by timestamp (ties keep their
    /// order). No age limits apply: the caller is sagebox itself.
    pub async fn append_log_events(
        &self,
        group: &str,
        stream: &str,
        mut events: Vec<(i64, String)>,
    ) -> ServiceResult<()> {
        if events.is_empty() {
            return self.ensure_log_stream(group, stream).await;
        }
        events.sort_by_key(|e| e.0);
        for e in &mut events {
            e.0 = e.0.max(0);
        }
        self.store
            .append_log_events(group, stream, events, now_millis(), true)
            .await?
            .map_err(refused)?;
        Ok(())
    }

    /// Creates the group and the stream where they are missing.
    pub async fn ensure_log_stream(&self, group: &str, stream: &str) -> ServiceResult<()> {
        Ok(self
            .store
            .ensure_log_stream(group, stream, now_millis())
            .await?)
    }
}

/// Lines a log writer stores in one transaction at most: a flood of output is kept in steps
/// that leave the store to other requests between them.
const WRITE_BATCH: usize = 10_000;
/// A stream whose last batch was stored less than this ago is busy ...
const BUSY: std::time::Duration = std::time::Duration::from_millis(50);
/// ... and gathers its next batch for this long (or until it holds [`WRITE_BATCH`] lines).
const LINGER: std::time::Duration = std::time::Duration::from_millis(10);

/// Appends lines to one CloudWatch Logs stream in order, from sync or async callers, in batches:
/// how sagebox writes the logs of the containers it runs and its own notes about them.
#[derive(Clone)]
pub struct LogWriter {
    tx: tokio::sync::mpsc::UnboundedSender<(i64, String)>,
}

impl LogWriter {
    /// The writer and the task that drains it (it ends once every clone of the writer is gone).
    pub fn new(
        services: &Services,
        group: &str,
        stream: &str,
    ) -> (LogWriter, tokio::task::JoinHandle<()>) {
        LogWriter::counted(services, group, stream, pumps::Progress::default())
    }

    /// [`LogWriter::new`], adding the lines it stores to `progress` (a job's pumps).
    pub(crate) fn counted(
        services: &Services,
        group: &str,
        stream: &str,
        progress: pumps::Progress,
    ) -> (LogWriter, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(i64, String)>();
        let services = services.clone();
        let (group, stream) = (group.to_string(), stream.to_string());
        let task = tokio::spawn(async move {
            if let Err(e) = services.ensure_log_stream(&group, &stream).await {
                // The appends below report again if the stream is really missing.
                tracing::warn!("cannot create log stream {group}/{stream}: {e}");
            }
            // When the previous batch was stored a moment ago.
            let mut stored_at: Option<tokio::time::Instant> = None;
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                let now = tokio::time::Instant::now();
                // A stream that is busy gathers for a moment: each transaction has a fixed cost
                // (the store's turn, the pages it writes to the WAL) whatever it carries. A line
                // after a quiet spell is stored at once.
                let linger = match stored_at {
                    Some(at) if now - at < BUSY => Some(now + LINGER),
                    _ => None,
                };
                loop {
                    while batch.len() < WRITE_BATCH
                        && let Ok(more) = rx.try_recv()
                    {
                        batch.push(more);
                    }
                    let Some(until) = linger.filter(|_| batch.len() < WRITE_BATCH) else {
                        break;
                    };
                    match tokio::time::timeout_at(until, rx.recv()).await {
                        Ok(Some(more)) => batch.push(more),
                        Ok(None) | Err(_) => break,
                    }
                }
                let lines = batch.len() as u64;
                if let Err(e) = services.append_log_events(&group, &stream, batch).await {
                    // A writer has nobody to answer to: the lines are lost, say so once per batch.
                    tracing::warn!("cannot append to log stream {group}/{stream}: {e}");
                }
                progress.add(lines);
                stored_at = Some(tokio::time::Instant::now());
            }
        });
        (LogWriter { tx }, task)
    }

    /// A line stamped now.
    pub fn line(&self, text: &str) {
        // Fails only after the drain task has ended (shutdown): the line has nowhere to go.
        self.tx.send((now_millis(), text.to_string())).ok();
    }

    /// A line with its own timestamp (a container's).
    pub fn event(&self, timestamp_ms: i64, text: String) {
        // As in `line`.
        self.tx.send((timestamp_ms, text)).ok();
    }
}

#[cfg(test)]
mod tests;
