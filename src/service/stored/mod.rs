//! The stored-resource engine: every SageMaker resource family the model defines and sagebox
//! does not implement by hand (Domain, Experiment, FeatureGroup, MonitoringSchedule, ...) is
//! created, described, listed, updated, started, stopped and deleted here, from the catalog
//! tools/gen_families.py derives from the botocore model (see `catalog`).
//!
//! A resource is its Create request (with Updates merged in) plus what sagebox makes: its ARN,
//! generated identifiers, times and status. Statuses follow the family's row of the catalog's
//! settle table: a new resource shows its creating status (Pending, Creating, InProgress) and
//! settles `SETTLE_SECONDS` later (InService, Created, Completed); Update, Stop and Start pass
//! through their transitional statuses the same way. Parents (the Domain a UserProfile names,
//! the Experiment of a Trial) must exist at Create and keep their children from being deleted.
//! The api layer renders the answers from the same catalog.

pub(crate) mod browse;
pub mod catalog;
mod list;
mod update;

use serde_json::{Value, json};

use super::{Request, ServiceError, ServiceResult, Services};
use crate::aws::time::now_epoch;
use crate::store::ResourceKind;
use crate::store::stored::StoredRow;
use catalog::{Family, Generated, OperationRule, Reference, catalog};

/// A resource's policy document: the resource's ARN and name, and (for Get) the document.
pub struct Policy {
    pub arn: String,
    pub name: String,
    pub document: Option<Value>,
}

/// How long a transitional status lasts before it settles.
pub const SETTLE_SECONDS: f64 = 0.2;

/// The hand-written families a stored family may name as a parent, by catalog name.
fn hand_written_kind(family: &str) -> Option<ResourceKind> {
    Some(match family {
        "Model" => ResourceKind::Model,
        "EndpointConfig" => ResourceKind::EndpointConfig,
        "Endpoint" => ResourceKind::Endpoint,
        "TrainingJob" => ResourceKind::TrainingJob,
        "TransformJob" => ResourceKind::TransformJob,
        "ProcessingJob" => ResourceKind::ProcessingJob,
        "HyperParameterTuningJob" => ResourceKind::HyperParameterTuningJob,
        "NotebookInstance" => ResourceKind::NotebookInstance,
        "NotebookInstanceLifecycleConfig" => ResourceKind::NotebookLifecycleConfig,
        "Pipeline" => ResourceKind::Pipeline,
        "ModelPackage" => ResourceKind::ModelPackage,
        "ModelPackageGroup" => ResourceKind::ModelPackageGroup,
        _ => return None,
    })
}

/// A family's name in words, as error messages say it ("user profile", "automl job").
pub fn noun(family: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = family.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
        let prev_lower = i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
        if i > 0 && c.is_uppercase() && (prev_lower || next_lower) {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// A member's value as the text a key or a comparison uses.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether a version carries this alias (its `Aliases` list).
pub fn has_alias(row: &StoredRow, alias: &str) -> bool {
    aliases(row).any(|a| a == alias)
}

/// A version's aliases (CreateImageVersion's Aliases, with UpdateImageVersion's changes).
pub fn aliases(row: &StoredRow) -> impl Iterator<Item = &str> {
    row.request
        .get("Aliases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn random_id(prefix: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    // v4 UUIDs are the random source sagebox already has; 36 letters from a byte are near enough
    // uniform for names that only have to be unique
    let tail: String = std::iter::repeat_with(|| *uuid::Uuid::new_v4().as_bytes())
        .flatten()
        .take(len)
        .map(|b| ALPHABET[b as usize % ALPHABET.len()] as char)
        .collect();
    format!("{prefix}{tail}")
}

/// The error for a resource that is not there: ResourceNotFound where the operation's model
/// lists it, else ValidationException (what SageMaker answers for most Describe* calls).
pub fn not_found(errors: &[String], family: &str, what: &str) -> ServiceError {
    let message = format!("Could not find {} \"{what}\".", noun(family));
    if errors.iter().any(|e| e == "ResourceNotFound") {
        ServiceError::NotFound(message)
    } else {
        ServiceError::Validation(message)
    }
}

fn errors<'a>(fam: &'a Family, verb: &str) -> &'a [String] {
    fam.errors.get(verb).map_or(&[], Vec::as_slice)
}

impl Services {
    /// The family whose rows a family's operations read and write.
    fn storage(fam: &Family) -> &'static Family {
        catalog()
            .family(&fam.store_as)
            .expect("the catalog's tests check every store_as names a family")
    }

    /// Whether the resource a member names exists, in either kind of family; its ARN if so.
    pub async fn referenced(&self, r: &Reference, value: &str) -> ServiceResult<Option<String>> {
        if let Some(kind) = hand_written_kind(&r.family) {
            let name = value.rsplit('/').next().unwrap_or(value);
            return Ok(self
                .store
                .resource(kind, name)
                .await?
                .map(|res| res.arn.clone()));
        }
        let Some(fam) = catalog().family(&r.family) else {
            return Ok(None);
        };
        Ok(self
            .find_by(fam, &[value.to_string()])
            .await?
            .map(|row| row.arn))
    }

    /// Checks every parent the request names; the first missing one is not found. Returns
    /// each parent's ARN by the member that carries it in outputs (ImageArn of an ImageVersion).
    async fn check_references(
        &self,
        refs: &[Reference],
        req: &Request,
        errors: &[String],
    ) -> ServiceResult<Vec<(String, String)>> {
        let mut arns = Vec::new();
        for r in refs {
            let Some(value) = req.get(&r.member).and_then(text) else {
                continue;
            };
            let Some(arn) = self.referenced(r, &value).await? else {
                return Err(not_found(errors, &r.family, &value));
            };
            if let Some(m) = &r.arn_member {
                arns.push((m.clone(), arn));
            }
        }
        Ok(arns)
    }

    /// A row by its identifying members' values, or by ARN when a single member holds one.
    async fn find_by(&self, fam: &Family, values: &[String]) -> ServiceResult<Option<StoredRow>> {
        let store = Self::storage(fam);
        if let [one] = values
            && one.starts_with("arn:")
        {
            let row = self.store.stored_by_arn(one).await?;
            return Ok(row.filter(|r| r.family == store.name));
        }
        Ok(self
            .store
            .stored_get(&store.name, &values.join("/"))
            .await?)
    }

    /// The resource a request names (its identifying members; the latest version where the
    /// family is versioned and the request names none).
    pub async fn stored_find(
        &self,
        fam: &Family,
        req: &Request,
        verb: &str,
    ) -> ServiceResult<StoredRow> {
        let values: Vec<String> = fam
            .ids
            .iter()
            .map(|m| req.get(m).and_then(text).unwrap_or_default())
            .collect();
        let version = fam
            .version_member
            .as_ref()
            .and_then(|vm| req.get(vm))
            .and_then(text);
        let shown = values
            .iter()
            .chain(version.iter())
            .filter(|v| !v.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join("/");
        let missing = || not_found(errors(fam, verb), &fam.name, &shown);
        let Some(vm) = &fam.version_member else {
            return self.find_by(fam, &values).await?.ok_or_else(missing);
        };
        let store = Self::storage(fam);
        let mut rows = self.store.stored_all(&store.name).await?;
        let prefix = format!("{}/", values.join("/"));
        rows.retain(|r| r.key.to_lowercase().starts_with(&prefix.to_lowercase()));
        let wanted = req.get(vm).and_then(text);
        // a version may also be named by one of its aliases (DescribeImageVersion's Alias)
        let alias = req.get("Alias").and_then(Value::as_str);
        let found = match (wanted, alias) {
            (Some(v), _) => rows
                .into_iter()
                .find(|r| r.derived.get(vm).and_then(text).as_deref() == Some(&v)),
            (None, Some(a)) => rows.into_iter().find(|r| has_alias(r, a)),
            (None, None) => rows
                .into_iter()
                .max_by_key(|r| r.derived.get(vm).and_then(Value::as_i64)),
        };
        found.ok_or_else(missing)
    }

    pub async fn stored_create(&self, fam: &Family, mut req: Request) -> ServiceResult<StoredRow> {
        let errs = errors(fam, "Create");
        let parent_arns = self.check_references(&fam.parents, &req, errs).await?;
        let tags = super::resources::tags_member(&req);
        super::tags::check_count(&tags)?;
        req.remove("Tags");
        let store = Self::storage(fam);
        let mut derived: serde_json::Map<String, Value> = parent_arns
            .into_iter()
            .filter(|(m, _)| !req.contains_key(m))
            .map(|(m, arn)| (m, Value::String(arn)))
            .collect();
        for (member, how) in &fam.generated {
            let value = match how {
                Generated::Arn(_) => continue,
                Generated::Id(prefix, len) => random_id(prefix, *len),
                Generated::Copy { copy } => req.get(copy).and_then(text).unwrap_or_default(),
            };
            derived.insert(member.clone(), Value::String(value));
        }
        let arn = match &store.arn_format {
            Some(format) => self.stored_arn(format, &req, &derived),
            None if fam
                .generated
                .values()
                .any(|g| matches!(g, Generated::Arn(_))) =>
            {
                self.sagemaker_arn(&store.arn_type, &random_id("", 32))
            }
            None => String::new(),
        };
        for (member, how) in &fam.generated {
            if matches!(how, Generated::Arn(_)) {
                derived.insert(member.clone(), Value::String(arn.clone()));
            }
        }
        let value_of = |m: &String| {
            req.get(m)
                .or_else(|| derived.get(m))
                .and_then(text)
                .unwrap_or_default()
        };
        let mut key = fam.ids.iter().map(value_of).collect::<Vec<_>>().join("/");
        if let Some(vm) = &fam.version_member {
            let prefix = format!("{}/", key.to_lowercase());
            let latest = self
                .store
                .stored_all(&store.name)
                .await?
                .into_iter()
                .filter(|r| r.key.to_lowercase().starts_with(&prefix))
                .filter_map(|r| r.derived.get(vm).and_then(Value::as_i64))
                .max()
                .unwrap_or(0);
            derived.insert(vm.clone(), json!(latest + 1));
            key = format!("{key}/{}", latest + 1);
        }
        let arn = if arn.is_empty() {
            let path: Vec<&str> = key.split('/').filter(|p| !p.is_empty()).collect();
            self.sagemaker_arn(&store.arn_type, &path.join("/"))
        } else {
            arn
        };
        let now = now_epoch();
        let (status, next_status) = match &fam.status {
            Some(s) if s.creating.is_some() => (s.creating.clone(), s.settled.clone()),
            Some(s) => (s.settled.clone(), None),
            None => (None, None),
        };
        let row = StoredRow {
            family: store.name.clone(),
            key,
            arn,
            next_at: next_status.as_ref().map(|_| now + SETTLE_SECONDS),
            status,
            next_status,
            created: now,
            modified: now,
            request: Value::Object(req),
            derived: Value::Object(derived),
        };
        match self.store.stored_insert(row.clone(), tags).await {
            Ok(()) => Ok(row),
            Err(crate::store::StoreError::AlreadyExists) => {
                // "already exists" is what the SageMaker SDK looks for to load instead of create
                let message = format!(
                    "{} \"{}\" already exists.",
                    capitalised(&noun(&fam.name)),
                    row.arn
                );
                Err(if errs.iter().any(|e| e == "ResourceInUse") {
                    ServiceError::InUse(message)
                } else if errs.iter().any(|e| e == "ConflictException") {
                    ServiceError::Conflict(message)
                } else {
                    ServiceError::Validation(message)
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// An ARN from the family's format (see `Family::arn_format`).
    fn stored_arn(
        &self,
        format: &str,
        req: &Request,
        derived: &serde_json::Map<String, Value>,
    ) -> String {
        let mut out = String::new();
        let mut rest = format;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            let field = &rest[open + 1..open + close];
            match field.split_once(':') {
                Some((case, n)) => {
                    let id = random_id("", n.parse().unwrap_or(12));
                    out.push_str(&if case == "ID" { id.to_uppercase() } else { id });
                }
                None => {
                    let v = req.get(field).or_else(|| derived.get(field)).and_then(text);
                    out.push_str(&v.unwrap_or_default().to_lowercase());
                }
            }
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        let config = self.config();
        format!(
            "arn:aws:sagemaker:{}:{}:{out}",
            config.region, config.account_id
        )
    }

    /// Every resource of a stored family, oldest first. For Search.
    pub async fn stored_rows(&self, fam: &Family) -> ServiceResult<Vec<StoredRow>> {
        Ok(self.store.stored_all(&Self::storage(fam).name).await?)
    }

    pub async fn stored_describe(&self, fam: &Family, req: &Request) -> ServiceResult<StoredRow> {
        self.stored_find(fam, req, "Describe").await
    }

    /// Merges an Update's members into the stored request and passes through Updating.
    pub async fn stored_update(&self, fam: &Family, req: Request) -> ServiceResult<StoredRow> {
        let mut row = self.stored_find(fam, &req, "Update").await?;
        let now = now_epoch();
        row.settle(now);
        if let Value::Object(stored) = &mut row.request {
            update::apply(stored, fam, req);
        }
        if fam.reports_last_update
            && let Value::Object(derived) = &mut row.derived
        {
            derived.insert("LastUpdateStatus".into(), json!({"Status": "Successful"}));
        }
        if let Some(s) = &fam.status {
            stored_transition(&mut row, s.updating.as_deref(), s.updated.as_deref(), now);
        }
        row.modified = now;
        self.store.stored_put(row.clone()).await?;
        Ok(row)
    }

    /// Stop or Start: through the family's stopping (starting) status to stopped (settled).
    pub async fn stored_run_state(
        &self,
        fam: &Family,
        req: &Request,
        verb: &str,
    ) -> ServiceResult<StoredRow> {
        let mut row = self.stored_find(fam, req, verb).await?;
        let now = now_epoch();
        row.settle(now);
        if let Some(s) = &fam.status {
            let (through, to) = if verb == "Stop" {
                (
                    s.stopping.as_deref(),
                    s.stopped.as_deref().or(s.settled.as_deref()),
                )
            } else {
                (s.starting.as_deref(), s.settled.as_deref())
            };
            stored_transition(&mut row, through, to, now);
        }
        row.modified = now;
        self.store.stored_put(row.clone()).await?;
        Ok(row)
    }

    /// Deletes a resource that no other resource names as its parent.
    pub async fn stored_delete(&self, fam: &Family, req: &Request) -> ServiceResult<StoredRow> {
        let row = self.stored_find(fam, req, "Delete").await?;
        self.check_no_children(fam, &row).await?;
        self.store.stored_delete(&row.family, &row.key).await?;
        Ok(row)
    }

    /// Refuses to delete a resource other resources name as their parent, or, for a family
    /// whose Delete takes its children along, deletes them.
    async fn check_no_children(&self, fam: &Family, row: &StoredRow) -> ServiceResult<()> {
        let store = Self::storage(fam);
        let [id] = store.ids.as_slice() else {
            return Ok(());
        };
        let Some(value) = row
            .request
            .get(id)
            .or_else(|| row.derived.get(id))
            .and_then(text)
        else {
            return Ok(());
        };
        for child in catalog().families.values() {
            // a child that cannot be deleted (an EdgePackagingJob) does not pin its parent
            if child.name != child.store_as || !child.operations.contains_key("Delete") {
                continue;
            }
            for p in child.parents.iter().filter(|p| p.family == store.name) {
                let children = self
                    .store
                    .stored_referencing(&child.name, &p.member, &value)
                    .await?;
                if store.cascade {
                    for c in &children {
                        self.store.stored_delete(&c.family, &c.key).await?;
                    }
                    continue;
                }
                if let Some(c) = children.first() {
                    return Err(ServiceError::InUse(format!(
                        "Cannot delete {} \"{}\": {} \"{}\" still refers to it. Delete that first.",
                        noun(&fam.name),
                        row.arn,
                        noun(&child.name),
                        c.arn
                    )));
                }
            }
        }
        Ok(())
    }

    /// Put/Get/Delete<Resource>Policy: a document kept on the resource the request names.
    pub async fn stored_policy(
        &self,
        rule: &OperationRule,
        op: &str,
        req: &Request,
    ) -> ServiceResult<Policy> {
        let name = rule.policy.as_deref().unwrap_or("Policy");
        let Some(r) = rule.refs.first() else {
            let what = req.values().find_map(text).unwrap_or_default();
            return Err(not_found(
                &rule.errors,
                name.trim_end_matches("Policy"),
                &what,
            ));
        };
        let value = req.get(&r.member).and_then(text).unwrap_or_default();
        let arn = self
            .referenced(r, &value)
            .await?
            .ok_or_else(|| not_found(&rule.errors, &r.family, &value))?;
        let mut answer = Policy {
            arn,
            name: value,
            document: None,
        };
        if op.starts_with("Put") {
            let mut body = req.clone();
            body.remove(&r.member);
            self.store
                .put_document(&answer.arn, name, Value::Object(body))
                .await?;
        } else if op.starts_with("Delete") {
            if !self.store.delete_document(&answer.arn, name).await? {
                return Err(not_found(&rule.errors, name, &answer.arn));
            }
        } else {
            let doc = self.store.document(&answer.arn, name).await?;
            answer.document = Some(doc.ok_or_else(|| not_found(&rule.errors, name, &answer.arn))?);
        }
        Ok(answer)
    }

    /// A List, Describe or other operation on things sagebox never makes: the parents it names
    /// must exist; a Describe of anything more is not found.
    pub async fn stored_other(
        &self,
        rule: &OperationRule,
        req: &Request,
        describe: bool,
    ) -> ServiceResult<Vec<StoredRow>> {
        self.check_references(&rule.refs, req, &rule.errors).await?;
        if describe && !rule.found {
            let what = req.values().filter_map(text).collect::<Vec<_>>().join("/");
            return Err(not_found(&rule.errors, "resource", &what));
        }
        let mut parents = Vec::new();
        for r in &rule.refs {
            let Some(fam) = catalog().family(&r.family).filter(|f| !f.hand_written) else {
                continue;
            };
            if let Some(value) = req.get(&r.member).and_then(text)
                && let Some(row) = self.find_by(fam, &[value]).await?
            {
                parents.push(row);
            }
        }
        Ok(parents)
    }
}

/// Puts a row in `through` until SETTLE_SECONDS from now, then `to` (or straight into the one given).
fn stored_transition(row: &mut StoredRow, through: Option<&str>, to: Option<&str>, now: f64) {
    match (through, to) {
        (Some(t), Some(to)) => {
            row.status = Some(t.to_string());
            row.next_status = Some(to.to_string());
            row.next_at = Some(now + SETTLE_SECONDS);
        }
        (None, Some(to)) | (Some(to), None) => {
            row.status = Some(to.to_string());
            row.next_status = None;
            row.next_at = None;
        }
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nouns_read_as_words() {
        assert_eq!(noun("UserProfile"), "user profile");
        assert_eq!(noun("AutoMLJob"), "auto ml job");
        assert_eq!(noun("AIBenchmarkJob"), "ai benchmark job");
        assert_eq!(noun("Domain"), "domain");
    }

    #[test]
    fn generated_ids_have_their_prefix_and_length() {
        let id = random_id("d-", 12);
        assert!(id.starts_with("d-") && id.len() == 14);
        assert!(
            id[2..]
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }
}
