//! Studio's operations beyond stored metadata: CreateDomain records the domain's Studio URL,
//! CreateApp / DeleteApp run and remove a Jupyter app's container (service/studio), and
//! CreatePresignedDomainUrl signs a URL into it. Describe and List answers stay the stored
//! engine's (`stored::family_op`), which renders the status the service writes.

use serde_json::{Value, json};

use super::{Answer, stored};
use crate::service::stored::catalog::catalog;
use crate::service::{Request, Services};

fn rule(op: &str) -> &'static crate::service::stored::catalog::OperationRule {
    catalog()
        .rule(op)
        .expect("every operation of the model has a rule")
}

/// CreateDomain: the stored domain, with its `Url` set to sagebox's Studio path for it.
pub(super) async fn create_domain(s: &Services, req: Request) -> Answer {
    let mut answer = stored::family_op(s, rule("CreateDomain"), req).await?;
    if let Some(id) = answer.get("DomainId").and_then(Value::as_str) {
        let url = s.studio_set_domain_url(id).await?;
        answer["Url"] = json!(url);
    }
    Ok(answer)
}

/// DeleteDomain: the domain's deleted apps go first, so only live ones hold it.
pub(super) async fn delete_domain(s: &Services, req: Request) -> Answer {
    if let Some(id) = req.get("DomainId").and_then(Value::as_str) {
        s.studio_forget_deleted_apps(id).await?;
    }
    stored::family_op(s, rule("DeleteDomain"), req).await
}

/// CreateApp: the stored app; a Jupyter app then starts its container.
pub(super) async fn create_app(s: &Services, req: Request) -> Answer {
    s.studio_before_create_app(&req).await?;
    let answer = stored::family_op(s, rule("CreateApp"), req.clone()).await?;
    s.studio_after_create_app(&req).await?;
    Ok(answer)
}

/// DeleteApp: a Jupyter app's container goes and the app becomes Deleted; other app types are
/// the stored engine's.
pub(super) async fn delete_app(s: &Services, req: Request) -> Answer {
    if s.studio_delete_app(&req).await? {
        return Ok(json!({}));
    }
    stored::family_op(s, rule("DeleteApp"), req).await
}

pub(super) async fn presigned_domain_url(s: &Services, req: Request) -> Answer {
    let url = s.create_presigned_domain_url(&req).await?;
    Ok(json!({ "AuthorizedUrl": url }))
}
