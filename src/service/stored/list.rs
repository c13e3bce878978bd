//! List<Family>s for stored families: the members the List input offers, read by name.
//!
//! NameContains, CreationTime/LastModifiedTime After/Before, StatusEquals (or Status), SortBy
//! (Name, CreationTime, LastModifiedTime, Status), SortOrder, MaxResults and NextToken mean what
//! they mean everywhere in SageMaker; any other member (ExperimentName on ListTrials,
//! DomainIdEquals on ListApps) filters on the stored member of that name, without "Equals".

use serde_json::Value;

use super::catalog::Family;
use super::{Services, text};
use crate::aws::time::now_epoch;
use crate::service::resources::Page;
use crate::service::{Request, ServiceResult, pagination};
use crate::store::stored::StoredRow;

/// SageMaker's List* operations answer 10 items unless asked otherwise... most of them; those
/// documented with 50 or 100 accept the same MaxResults, so a client that pages gets everything.
const DEFAULT_MAX_RESULTS: usize = 10;

/// Members every List handles itself rather than as an equality filter.
const CONTROL: &[&str] = &[
    "NameContains",
    "CreationTimeAfter",
    "CreationTimeBefore",
    "CreatedAfter",
    "CreatedBefore",
    "LastModifiedTimeAfter",
    "LastModifiedTimeBefore",
    "ModifiedTimeAfter",
    "ModifiedTimeBefore",
    "StatusEquals",
    "Status",
    "SortBy",
    "SortOrder",
    "MaxResults",
    "NextToken",
];

/// The first of these timestamp members the request carries.
fn time(req: &Request, names: &[&str]) -> Option<f64> {
    names
        .iter()
        .find_map(|n| crate::aws::time::timestamp_member(req.get(*n)?))
}

fn member<'a>(row: &'a StoredRow, name: &str) -> Option<&'a Value> {
    row.request.get(name).or_else(|| row.derived.get(name))
}

impl Services {
    pub async fn stored_list(&self, fam: &Family, req: &Request) -> ServiceResult<Page<StoredRow>> {
        self.stored_list_among(fam, req, None).await
    }

    /// A List limited to the resources with these ARNs (the trial components of a trial).
    pub async fn stored_list_among(
        &self,
        fam: &Family,
        req: &Request,
        among: Option<&[String]>,
    ) -> ServiceResult<Page<StoredRow>> {
        let store = Self::storage(fam);
        let now = now_epoch();
        let mut rows = self.store.stored_all(&store.name).await?;
        if let Some(arns) = among {
            rows.retain(|r| arns.contains(&r.arn));
        }
        let name_of = |r: &StoredRow| {
            member(r, &fam.name_member)
                .and_then(text)
                .unwrap_or_default()
        };
        if let Some(s) = req.get("NameContains").and_then(Value::as_str) {
            let s = s.to_lowercase();
            rows.retain(|r| name_of(r).to_lowercase().contains(&s));
        }
        let bounds = [
            (
                time(req, &["CreationTimeAfter", "CreatedAfter"]),
                true,
                true,
            ),
            (
                time(req, &["CreationTimeBefore", "CreatedBefore"]),
                true,
                false,
            ),
            (
                time(req, &["LastModifiedTimeAfter", "ModifiedTimeAfter"]),
                false,
                true,
            ),
            (
                time(req, &["LastModifiedTimeBefore", "ModifiedTimeBefore"]),
                false,
                false,
            ),
        ];
        for (bound, created, after) in bounds {
            if let Some(t) = bound {
                rows.retain(|r| {
                    let v = if created { r.created } else { r.modified };
                    if after { v > t } else { v < t }
                });
            }
        }
        let status = req
            .get("StatusEquals")
            .or_else(|| req.get("Status"))
            .and_then(Value::as_str);
        if let Some(s) = status {
            rows.retain(|r| r.status_at(now) == Some(s));
        }
        for (name, value) in req {
            if CONTROL.contains(&name.as_str()) {
                continue;
            }
            let Some(want) = text(value) else { continue };
            let field = name.strip_suffix("Equals").unwrap_or(name);
            // a member the resource never carries is no filter sagebox can apply
            let known =
                fam.ids.iter().any(|m| m == field) || fam.describe.iter().any(|m| m.name == field);
            if known {
                rows.retain(|r| {
                    member(r, field)
                        .and_then(text)
                        .is_some_and(|have| have.eq_ignore_ascii_case(&want))
                });
            }
        }
        let by = req
            .get("SortBy")
            .and_then(Value::as_str)
            .unwrap_or("CreationTime");
        let ascending = req.get("SortOrder").and_then(Value::as_str) == Some("Ascending");
        match by {
            "Name" => rows.sort_by_key(|r| name_of(r).to_lowercase()),
            "LastModifiedTime" => rows.sort_by(|a, b| a.modified.total_cmp(&b.modified)),
            "Status" => rows.sort_by_key(|r| r.status_at(now).unwrap_or_default().to_string()),
            _ => rows.sort_by(|a, b| a.created.total_cmp(&b.created)),
        }
        if !ascending {
            rows.reverse();
        }
        let max = req
            .get("MaxResults")
            .and_then(Value::as_u64)
            .map_or(DEFAULT_MAX_RESULTS, |n| n.max(1) as usize);
        let token = req.get("NextToken").and_then(Value::as_str);
        pagination::offset_page(rows, token, max)
    }
}
