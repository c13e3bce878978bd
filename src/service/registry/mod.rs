//! The model registry: model package groups and the model packages inside them. A group is a
//! row of its own; a versioned package is a row named `<group>/<version>` (so its ARN is
//! SageMaker's `model-package/<group>/<version>`), an unversioned one a row under its own name.
//! Packages hold no running work: they are Completed as soon as they are stored, and CreateModel
//! reads their first container (see `hosting::models`).

mod deploy;
mod describe_json;
mod groups;
mod packages;
mod update;

pub use deploy::resolved_containers;
pub use describe_json::{
    render_batch_summary, render_describe_model_package, render_describe_model_package_group,
    render_model_package_group_summary, render_model_package_summary,
};
pub use groups::ModelPackageGroup;
pub use packages::{ModelPackage, ModelPackageListParams};

use std::sync::Arc;

use crate::aws::arn::Arn;
use crate::service::resources::not_found;
use crate::service::{ServiceResult, Services};
use crate::store::resources::{Resource, ResourceKind};

/// The status every stored group and package shows: nothing about them runs.
pub const COMPLETED: &str = "Completed";

/// The name inside an `ArnOrName` member: the part after `<arn type>/` of an ARN, or the value
/// itself. Returns None for an ARN of another resource type.
pub fn name_in(arn_or_name: &str, arn_type: &str) -> Option<String> {
    if !arn_or_name.starts_with("arn:") {
        return Some(arn_or_name.to_string());
    }
    let arn = Arn::parse(arn_or_name)?;
    let (t, rest) = arn.typed_resource()?;
    (arn.service == "sagemaker" && t == arn_type).then(|| rest.to_string())
}

impl Services {
    /// The group or package row a name-or-ARN member names. Names match case-insensitively, so
    /// the lowercased name inside an ARN finds the row whatever case it was created with.
    pub(crate) async fn registry_row(
        &self,
        kind: ResourceKind,
        name_or_arn: &str,
    ) -> ServiceResult<Arc<Resource>> {
        let missing = || not_found(self, kind, name_or_arn);
        let name = name_in(name_or_arn, kind.arn_type()).ok_or_else(missing)?;
        self.store.resource(kind, &name).await?.ok_or_else(missing)
    }
}
