//! The members SageMaker's List* operations share (NameContains, CreationTimeAfter/Before,
//! StatusEquals, SortBy, SortOrder, MaxResults, NextToken), read from each operation's typed
//! input shape into the service's `ListParams`. Each shape spells its sort keys and status with
//! its own enum; `list_input!` says once, per shape, which of its variants mean "by name" and
//! "ascending".

use crate::aws::model::typed::decode;
use crate::aws::model::typed::sagemaker::{
    EndpointConfigSortKey, EndpointSortKey, ListEndpointConfigsInput, ListEndpointsInput,
    ListModelsInput, ListNotebookInstanceLifecycleConfigsInput, ListNotebookInstancesInput,
    ListTrainingJobsRequest, ListTransformJobsRequest, ModelSortKey,
    NotebookInstanceLifecycleConfigSortKey, NotebookInstanceLifecycleConfigSortOrder,
    NotebookInstanceSortKey, NotebookInstanceSortOrder, OrderKey, SortBy, SortOrder,
};
use crate::service::resources::ListParams;
use crate::service::{Request, ServiceError};
use crate::store::resources::{ListQuery, SortKey};

/// SageMaker list operations return 10 items per page unless asked otherwise.
pub(super) const DEFAULT_MAX_RESULTS: usize = 10;

/// `MaxResults` as a page size, `default` when absent.
pub(super) fn max_results(n: Option<i64>, default: usize) -> usize {
    n.and_then(|n| u64::try_from(n).ok())
        .map_or(default, |n| n as usize)
}

/// A List* operation's typed input.
pub(super) trait ListInput: serde::de::DeserializeOwned {
    /// The filters and order it asks for. Defaults as documented: newest first (SortBy
    /// CreationTime, SortOrder Descending).
    fn list_params(&self) -> ListParams;
}

/// Decodes a List* request into its typed input `T` and reads its filters and order.
pub(super) fn list_params<T: ListInput>(req: &Request) -> Result<ListParams, ServiceError> {
    let input: T = decode(req).map_err(ServiceError::Validation)?;
    Ok(input.list_params())
}

/// The shared members, once each shape's enums are read.
struct Members<'a> {
    name_contains: Option<&'a str>,
    created_after: Option<f64>,
    created_before: Option<f64>,
    status_equals: Option<&'static str>,
    by_name: bool,
    ascending: bool,
    max_results: Option<i64>,
    next_token: Option<&'a str>,
}

impl Members<'_> {
    fn params(self) -> ListParams {
        ListParams {
            query: ListQuery {
                name_contains: self.name_contains.map(str::to_string),
                created_after: self.created_after,
                created_before: self.created_before,
                status_equals: self.status_equals.map(str::to_string),
                sort: if self.by_name {
                    SortKey::Name
                } else {
                    SortKey::CreationTime
                },
                descending: !self.ascending,
                after: None,
                limit: max_results(self.max_results, DEFAULT_MAX_RESULTS),
            },
            next_token: self.next_token.map(str::to_string),
        }
    }
}

/// `ListInput` for a shape: its sort-key and sort-order enums, and whether it has StatusEquals.
macro_rules! list_input {
    ($shape:ident, $sort:ident, $order:ident, status: $status:expr) => {
        impl ListInput for $shape {
            fn list_params(&self) -> ListParams {
                let status: fn(&$shape) -> Option<&'static str> = $status;
                Members {
                    name_contains: self.name_contains.as_deref(),
                    created_after: self.creation_time_after.map(|t| t.0),
                    created_before: self.creation_time_before.map(|t| t.0),
                    status_equals: status(self),
                    by_name: self.sort_by == Some($sort::Name),
                    ascending: self.sort_order == Some($order::Ascending),
                    max_results: self.max_results,
                    next_token: self.next_token.as_deref(),
                }
                .params()
            }
        }
    };
}

list_input!(ListModelsInput, ModelSortKey, OrderKey, status: |_| None);
list_input!(
    ListEndpointConfigsInput,
    EndpointConfigSortKey,
    OrderKey,
    status: |_| None
);
list_input!(ListEndpointsInput, EndpointSortKey, OrderKey, status: |l| {
    l.status_equals.map(|s| s.as_str())
});
list_input!(ListTrainingJobsRequest, SortBy, SortOrder, status: |l| {
    l.status_equals.map(|s| s.as_str())
});
list_input!(ListTransformJobsRequest, SortBy, SortOrder, status: |l| {
    l.status_equals.map(|s| s.as_str())
});
list_input!(
    ListNotebookInstancesInput,
    NotebookInstanceSortKey,
    NotebookInstanceSortOrder,
    status: |l| l.status_equals.map(|s| s.as_str())
);
list_input!(
    ListNotebookInstanceLifecycleConfigsInput,
    NotebookInstanceLifecycleConfigSortKey,
    NotebookInstanceLifecycleConfigSortOrder,
    status: |_| None
);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(v: serde_json::Value) -> Request {
        v.as_object().cloned().expect("an object")
    }

    #[test]
    fn list_params_default_to_newest_first_ten_at_a_time() {
        let p = list_params::<ListTransformJobsRequest>(&request(json!({}))).expect("decodes");
        assert_eq!(p.query.sort, SortKey::CreationTime);
        assert!(p.query.descending);
        assert_eq!(p.query.limit, DEFAULT_MAX_RESULTS);
        assert_eq!(p.query.name_contains, None);
        assert_eq!(p.query.status_equals, None);
        assert_eq!(p.next_token, None);
    }

    #[test]
    fn list_params_read_every_shared_member() {
        let p = list_params::<ListTransformJobsRequest>(&request(json!({
            "NameContains": "abc",
            "CreationTimeAfter": 1_795_978_842,
            "CreationTimeBefore": "2026-11-29T19:00:42Z",
            "StatusEquals": "Completed",
            "SortBy": "Name",
            "SortOrder": "Ascending",
            "MaxResults": 3,
            "NextToken": "t",
        })))
        .expect("decodes");
        assert_eq!(p.query.name_contains.as_deref(), Some("abc"));
        assert_eq!(p.query.created_after, Some(1_795_978_842.0));
        assert_eq!(p.query.created_before, Some(1_795_978_842.0));
        assert_eq!(p.query.status_equals.as_deref(), Some("Completed"));
        assert_eq!(p.query.sort, SortKey::Name);
        assert!(!p.query.descending);
        assert_eq!(p.query.limit, 3);
        assert_eq!(p.next_token.as_deref(), Some("t"));
    }

    #[test]
    fn sort_keys_other_than_name_sort_by_creation_time() {
        let status = list_params::<ListEndpointsInput>(&request(json!({"SortBy": "Status"})));
        assert_eq!(status.expect("decodes").query.sort, SortKey::CreationTime);
        let modified = list_params::<ListNotebookInstanceLifecycleConfigsInput>(&request(
            json!({"SortBy": "LastModifiedTime", "SortOrder": "Descending"}),
        ))
        .expect("decodes");
        assert_eq!(modified.query.sort, SortKey::CreationTime);
        assert!(modified.query.descending);
        let models =
            list_params::<ListModelsInput>(&request(json!({"SortBy": "Name"}))).expect("decodes");
        assert_eq!(models.query.sort, SortKey::Name);
    }
}
