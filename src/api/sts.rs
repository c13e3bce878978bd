//! STS (query protocol): GetCallerIdentity, answered with sagebox's assumed role.

use axum::response::Response;

use super::query::{self, QueryRequest, element};
use crate::service::Services;

pub const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
const VERSION: &str = "2011-06-15";

/// Every STS action in the model, so the gateway can route by action name when a request carries
/// no credential scope, and so unknown actions get STS's own error.
pub const ACTIONS: &[&str] = &[
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "AssumeRoot",
    "DecodeAuthorizationMessage",
    "GetAccessKeyInfo",
    "GetCallerIdentity",
    "GetDelegatedAccessToken",
    "GetFederationToken",
    "GetSessionToken",
    "GetWebIdentityToken",
];

pub fn handle(services: &Services, req: &QueryRequest, request_id: &str) -> Response {
    let Some(action) = req.action() else {
        return query::missing_action().into_query_response(XMLNS, request_id);
    };
    match action {
        "GetCallerIdentity" => {
            let id = services.caller_identity();
            let xml = [
                element("Arn", &id.arn),
                element("UserId", &id.user_id),
                element("Account", &id.account),
            ]
            .concat();
            query::ok(XMLNS, action, &xml, request_id)
        }
        a if ACTIONS.contains(&a) => {
            query::not_implemented("STS", a).into_query_response(XMLNS, request_id)
        }
        a => query::unknown_action(a, VERSION).into_query_response(XMLNS, request_id),
    }
}
