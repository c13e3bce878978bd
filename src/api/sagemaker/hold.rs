//! Describe answers that wait for the work: a Describe of an endpoint or notebook instance in a
//! transitional status (Creating, Updating, Pending, Stopping, …) is held until that status
//! changes, for at most `--describe-hold` seconds (default 20, well inside the 60-second read
//! timeout of boto3, the AWS CLI and the SageMaker SDK). The SDK's `deploy()` and the boto3 / CLI
//! waiters make their first Describe right after the Create and then sleep 30 seconds between
//! polls; held, that first Describe answers the moment the endpoint is InService, so a deploy
//! ends when the endpoint is ready instead of at the next poll. The statuses a client sees are
//! still SageMaker's, in SageMaker's order: a held answer is always the resource's state at the
//! moment it is sent. `--describe-hold 0` answers at once, for users who want to watch every
//! intermediate status. Only requests from clients are held; sagebox's own calls (pipeline
//! steps) never are.
//!
//! Jobs (training, processing, transform) are held only for a waiter: botocore marks a waiter's
//! requests in its User-Agent (feature `B` in the `m/` metadata), and its job waiters sleep 60
//! or 120 seconds between polls, so a job of a few seconds kept `training_job_completed_or_stopped`
//! waiting two minutes. Other callers poll a job to follow it (the SageMaker SDK's `fit()` reads
//! the job's logs between its Describes) and must get their answer at once.

use std::time::Duration;

use serde_json::Value;

use crate::service::{Request, ServiceError};

/// An operation whose answer may be held: the member holding its status, and the statuses
/// it waits through.
pub(super) struct Rule {
    status_member: &'static str,
    transitional: &'static [&'static str],
    /// Held only when a waiter asks.
    waiters_only: bool,
}

/// Who sent a SageMaker request, as far as holding its answer goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caller {
    /// A botocore waiter (User-Agent metadata `m/…B…`).
    pub waiter: bool,
}

impl Caller {
    pub fn from_headers(headers: &http::HeaderMap) -> Caller {
        let waiter = headers
            .get_all(http::header::USER_AGENT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(str::split_ascii_whitespace)
            .filter_map(|token| token.strip_prefix("m/"))
            .any(|features| features.split(',').any(|f| f == "B"));
        Caller { waiter }
    }
}

const JOB_TRANSITIONAL: &[&str] = &["InProgress", "Stopping"];

const RULES: &[(&str, Rule)] = &[
    (
        "DescribeEndpoint",
        Rule {
            status_member: "EndpointStatus",
            transitional: &[
                "Creating",
                "Updating",
                "SystemUpdating",
                "RollingBack",
                "Deleting",
            ],
            waiters_only: false,
        },
    ),
    (
        "DescribeInferenceComponent",
        Rule {
            status_member: "InferenceComponentStatus",
            transitional: &["Creating", "Updating", "Deleting"],
            waiters_only: false,
        },
    ),
    (
        "DescribeNotebookInstance",
        Rule {
            status_member: "NotebookInstanceStatus",
            transitional: &["Pending", "Updating", "Stopping", "Deleting"],
            waiters_only: false,
        },
    ),
    (
        "DescribeTrainingJob",
        Rule {
            status_member: "TrainingJobStatus",
            transitional: JOB_TRANSITIONAL,
            waiters_only: true,
        },
    ),
    (
        "DescribeProcessingJob",
        Rule {
            status_member: "ProcessingJobStatus",
            transitional: JOB_TRANSITIONAL,
            waiters_only: true,
        },
    ),
    (
        "DescribeTransformJob",
        Rule {
            status_member: "TransformJobStatus",
            transitional: JOB_TRANSITIONAL,
            waiters_only: true,
        },
    ),
];

/// How often a held answer looks at the resource again.
const LOOK_EVERY: Duration = Duration::from_millis(100);

/// The rule holding `op`'s answer for this caller, if any.
pub(super) fn rule(op: &str, caller: Caller) -> Option<&'static Rule> {
    RULES
        .iter()
        .find(|(o, r)| *o == op && (caller.waiter || !r.waiters_only))
        .map(|(_, r)| r)
}

impl Rule {
    fn status<'a>(&self, answer: &'a Value) -> Option<&'a str> {
        answer.get(self.status_member).and_then(Value::as_str)
    }

    fn transitional(&self, answer: &Value) -> bool {
        self.status(answer)
            .is_some_and(|s| self.transitional.contains(&s))
    }

    /// Runs `describe`, and again every `LOOK_EVERY` while the answer is in the same
    /// transitional status, for at most `hold`. An error (the resource deleted meanwhile) ends
    /// the hold with that error, as a client's next poll would have seen it.
    pub(super) async fn held<F, Fut>(
        &self,
        hold: Duration,
        req: Request,
        describe: F,
    ) -> Result<Value, ServiceError>
    where
        F: Fn(Request) -> Fut,
        Fut: Future<Output = Result<Value, ServiceError>>,
    {
        let first = describe(req.clone()).await?;
        if hold.is_zero() || !self.transitional(&first) {
            return Ok(first);
        }
        let was = self.status(&first).map(str::to_string);
        let deadline = tokio::time::Instant::now() + hold;
        let mut last = first;
        while tokio::time::Instant::now() + LOOK_EVERY <= deadline {
            tokio::time::sleep(LOOK_EVERY).await;
            last = describe(req.clone()).await?;
            if self.status(&last).map(str::to_string) != was {
                break;
            }
        }
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;

    fn endpoint() -> &'static Rule {
        rule("DescribeEndpoint", Caller::default()).expect("a rule")
    }

    fn agent(ua: &str) -> Caller {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::USER_AGENT,
            ua.parse().expect("a header value"),
        );
        Caller::from_headers(&h)
    }

    #[test]
    fn jobs_are_held_for_waiters_only() {
        let waiter =
            agent("Boto3/1.40.0 md/Botocore#1.40.0 ua/2.1 os/linux m/B,Z cfg/retry-mode#legacy");
        let sdk =
            agent("Boto3/1.40.0 md/Botocore#1.40.0 ua/2.1 m/Z AWS-SageMaker-Python-SDK/2.250.0");
        assert!(waiter.waiter && !sdk.waiter);
        assert!(!agent("curl/8.0 Bm/B").waiter, "only an m/ token counts");
        for op in [
            "DescribeTrainingJob",
            "DescribeProcessingJob",
            "DescribeTransformJob",
        ] {
            assert!(rule(op, waiter).is_some(), "{op}");
            assert!(rule(op, sdk).is_none(), "{op}");
        }
        assert!(rule("DescribeEndpoint", sdk).is_some());
        assert!(rule("DescribeModel", waiter).is_none());
    }

    /// A describe that answers `statuses` one after the other (the last one from then on).
    fn sequence(
        statuses: &'static [&'static str],
    ) -> (
        Arc<AtomicUsize>,
        impl Fn(Request) -> std::future::Ready<Result<Value, ServiceError>>,
    ) {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let f = move |_req: Request| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            let s = statuses[n.min(statuses.len() - 1)];
            std::future::ready(Ok(json!({ "EndpointStatus": s })))
        };
        (calls, f)
    }

    #[tokio::test(start_paused = true)]
    async fn a_creating_endpoint_is_answered_when_it_is_in_service() {
        let (calls, f) = sequence(&["Creating", "Creating", "Creating", "InService"]);
        let out = endpoint()
            .held(Duration::from_secs(20), Request::new(), f)
            .await
            .expect("an answer");
        assert_eq!(out["EndpointStatus"], "InService");
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_settled_status_and_a_zero_hold_answer_at_once() {
        let (calls, f) = sequence(&["InService"]);
        let out = endpoint()
            .held(Duration::from_secs(20), Request::new(), f)
            .await
            .expect("an answer");
        assert_eq!(out["EndpointStatus"], "InService");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let (calls, f) = sequence(&["Creating", "InService"]);
        let out = endpoint()
            .held(Duration::ZERO, Request::new(), f)
            .await
            .expect("an answer");
        assert_eq!(out["EndpointStatus"], "Creating");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_hold_is_bounded_and_answers_the_status_then() {
        let (calls, f) = sequence(&["Creating"]);
        let started = tokio::time::Instant::now();
        let out = endpoint()
            .held(Duration::from_secs(2), Request::new(), f)
            .await
            .expect("an answer");
        assert_eq!(out["EndpointStatus"], "Creating");
        assert!(started.elapsed() <= Duration::from_secs(2));
        assert_eq!(calls.load(Ordering::SeqCst), 21); // the first answer and 20 looks
    }

    #[tokio::test(start_paused = true)]
    async fn a_resource_gone_meanwhile_ends_the_hold_with_the_error() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let f = move |_req: Request| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            std::future::ready(if n == 0 {
                Ok(json!({ "EndpointStatus": "Deleting" }))
            } else {
                Err(ServiceError::NotFound("gone".into()))
            })
        };
        let out = endpoint()
            .held(Duration::from_secs(20), Request::new(), f)
            .await;
        assert!(matches!(out, Err(ServiceError::NotFound(_))));
    }
}
