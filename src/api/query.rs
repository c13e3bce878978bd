//! The AWS query protocol (STS, IAM): form-encoded parameters in the body or the query string,
//! XML answers wrapped in `<{Action}Response><{Action}Result>…` with a request id.

use axum::http::StatusCode;
use axum::response::Response;

use crate::aws::AwsError;
use crate::aws::error::xml_response;
use crate::aws::xml::escape;

/// Parameters of one query-protocol call.
pub struct QueryRequest {
    params: Vec<(String, String)>,
}

impl QueryRequest {
    /// Parameters from the query string and, for POSTs, the form body (body wins on conflict).
    pub fn parse(query: Option<&str>, body: &[u8]) -> QueryRequest {
        let mut params: Vec<(String, String)> = query
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        params.extend(form_urlencoded::parse(body).into_owned());
        QueryRequest { params }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn action(&self) -> Option<&str> {
        self.get("Action")
    }

    /// A required parameter, or IAM/STS's `ValidationError` naming it.
    pub fn required(&self, name: &str) -> Result<&str, AwsError> {
        self.get(name).ok_or_else(|| {
            AwsError::bad_request(
                "ValidationError",
                format!(
                    "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                    crate::service::lower_first(name)
                ),
            )
        })
    }
}

/// Wraps a result body (already-escaped XML elements) in the query protocol's envelope.
pub fn ok(xmlns: &str, action: &str, result_xml: &str, request_id: &str) -> Response {
    let body = format!(
        "<{action}Response xmlns=\"{xmlns}\"><{action}Result>{result_xml}</{action}Result><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
        escape(request_id)
    );
    xml_response(StatusCode::OK, body, "x-amzn-requestid", request_id)
}

/// `<Name>escaped value</Name>`.
pub fn element(name: &str, value: &str) -> String {
    format!("<{name}>{}</{name}>", escape(value))
}

pub fn unknown_action(action: &str, version: &str) -> AwsError {
    AwsError::bad_request(
        "InvalidAction",
        format!("Could not find operation {action} for version {version}"),
    )
}

pub fn not_implemented(service: &str, action: &str) -> AwsError {
    AwsError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NotImplemented",
        format!("sagebox does not implement {service} {action} yet."),
    )
}

pub fn missing_action() -> AwsError {
    AwsError::bad_request("MissingAction", "Missing Action")
}
