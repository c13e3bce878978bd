//! IAM (query protocol): GetRole for sagebox's execution role, the part of IAM the SageMaker SDK
//! touches when it resolves `get_execution_role()`, and SimulatePrincipalPolicy, which SDK v3
//! calls to check a role before it trains: sagebox enforces no IAM policy, so every action is
//! allowed.

use axum::http::StatusCode;
use axum::response::Response;

use super::query::{self, QueryRequest, element};
use crate::aws::AwsError;
use crate::aws::time::iso8601;
use crate::service::{ServiceError, Services};

pub const XMLNS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

fn map_error(e: ServiceError) -> AwsError {
    match e {
        ServiceError::NotFound(m) => AwsError::new(StatusCode::NOT_FOUND, "NoSuchEntity", m),
        ServiceError::Internal(m) => AwsError::internal(m),
        other => AwsError::bad_request("ValidationError", other.to_string()),
    }
}

pub fn handle(services: &Services, req: &QueryRequest, request_id: &str) -> Response {
    let Some(action) = req.action() else {
        return query::missing_action().into_query_response(XMLNS, request_id);
    };
    let result = match action {
        "GetRole" => get_role(services, req),
        "SimulatePrincipalPolicy" => simulate_principal_policy(req),
        a => Err(query::not_implemented("IAM", a)),
    };
    match result {
        Ok(xml) => query::ok(XMLNS, action, &xml, request_id),
        Err(e) => e.into_query_response(XMLNS, request_id),
    }
}

fn get_role(services: &Services, req: &QueryRequest) -> Result<String, AwsError> {
    let role = services
        .get_role(req.required("RoleName")?)
        .map_err(map_error)?;
    let policy: String =
        form_urlencoded::byte_serialize(role.assume_role_policy.as_bytes()).collect();
    Ok(format!(
        "<Role>{}{}{}{}{}{}{}<MaxSessionDuration>3600</MaxSessionDuration></Role>",
        element("Path", &role.path),
        element("RoleName", &role.name),
        element("RoleId", &role.role_id),
        element("Arn", &role.arn),
        element("CreateDate", &iso8601(role.created)),
        element("AssumeRolePolicyDocument", &policy),
        element(
            "Description",
            "The execution role sagebox gives every SageMaker job, endpoint and notebook."
        ),
    ))
}

fn simulate_principal_policy(req: &QueryRequest) -> Result<String, AwsError> {
    req.required("PolicySourceArn")?;
    let resources: Vec<&str> = (1..)
        .map_while(|i| req.get(&format!("ResourceArns.member.{i}")))
        .collect();
    let mut results = String::new();
    for action in (1..).map_while(|i| req.get(&format!("ActionNames.member.{i}"))) {
        let resource = resources.first().copied().unwrap_or("*");
        results.push_str(&format!(
            "<member>{}{}{}<MatchedStatements/><MissingContextValues/></member>",
            element("EvalActionName", action),
            element("EvalResourceName", resource),
            element("EvalDecision", "allowed"),
        ));
    }
    Ok(format!(
        "<IsTruncated>false</IsTruncated><EvaluationResults>{results}</EvaluationResults>"
    ))
}
