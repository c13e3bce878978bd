//! What the console reads of stored families: every resource of a family, and one resource by
//! its identifying members, as the service-owned `Listed` (its record and its status now), so
//! that the console pages of Studio, Experiments and Feature Store never see store rows.

use serde_json::{Value, json};

use super::catalog::{Family, catalog};
use crate::aws::time::now_epoch;
use crate::service::described::{Listed, Record};
use crate::service::{Request, ServiceError, ServiceResult, Services};
use crate::store::stored::StoredRow;

fn family(name: &str) -> ServiceResult<&'static Family> {
    catalog()
        .family(name)
        .ok_or_else(|| ServiceError::Internal(format!("the catalog has no {name} family")))
}

/// A stored row as the console lists it: named by the family's name member, with the status it
/// has now (a transition whose time has come counts as made).
pub fn listed(fam: &Family, row: StoredRow, now: f64) -> Listed {
    let status = row.status_at(now).map(str::to_string);
    let name = row
        .request
        .get(&fam.name_member)
        .or_else(|| row.derived.get(&fam.name_member))
        .and_then(Value::as_str)
        .unwrap_or(&row.key)
        .to_string();
    Listed {
        record: Record {
            name,
            arn: row.arn,
            created: row.created,
            modified: row.modified,
            request: row.request,
            derived: row.derived,
        },
        status,
    }
}

impl Services {
    /// Every resource of the stored family `name` (catalog name: "Domain", "Trial"), newest
    /// first.
    pub async fn stored_every(&self, name: &str) -> ServiceResult<Vec<Listed>> {
        let fam = family(name)?;
        let now = now_epoch();
        let mut rows = self.stored_rows(fam).await?;
        rows.sort_by(|a, b| b.created.total_cmp(&a.created));
        Ok(rows.into_iter().map(|r| listed(fam, r, now)).collect())
    }

    /// One resource of the stored family `name`, by its identifying members.
    pub async fn stored_one(&self, name: &str, ids: &[(&str, &str)]) -> ServiceResult<Listed> {
        let fam = family(name)?;
        let req: Request = ids.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        let row = self.stored_find(fam, &req, "Describe").await?;
        Ok(listed(fam, row, now_epoch()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_listed_by_its_name_member_with_the_status_it_has_now() {
        let fam = family("FeatureGroup").expect("the catalog has FeatureGroup");
        let row = StoredRow {
            family: "FeatureGroup".into(),
            key: "KEY".into(),
            arn: "arn:aws:sagemaker:us-east-1:000000000000:feature-group/g".into(),
            status: Some("Creating".into()),
            next_status: Some("Created".into()),
            next_at: Some(10.0),
            created: 1.0,
            modified: 2.0,
            request: json!({"FeatureGroupName": "G"}),
            derived: json!({}),
        };
        let before = listed(fam, row.clone(), 5.0);
        assert_eq!(
            (before.record.name.as_str(), before.status.as_deref()),
            ("G", Some("Creating"))
        );
        assert_eq!(listed(fam, row, 10.0).status.as_deref(), Some("Created"));
    }
}
