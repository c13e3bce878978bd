//! One error type for everything that leaves sagebox as an AWS error, and its renderings in the
//! wire protocols we speak: awsJson (`__type` + `message`), restJson (`x-amzn-ErrorType` and the
//! error shape's members), query (XML `ErrorResponse`), and S3's bare `<Error>` document.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::xml::escape;

#[derive(Debug, Clone)]
pub struct AwsError {
    pub status: StatusCode,
    /// The error code clients match on (`ValidationException`, `NoSuchKey`, ...).
    pub code: Cow<'static, str>,
    pub message: String,
    /// Further members of the error shape (restJson1 errors such as ModelError carry them).
    pub fields: Option<serde_json::Value>,
}

impl AwsError {
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        AwsError {
            status,
            code: code.into(),
            message: message.into(),
            fields: None,
        }
    }

    pub fn with_fields(mut self, fields: serde_json::Value) -> Self {
        self.fields = Some(fields);
        self
    }

    pub fn bad_request(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            message,
        )
    }

    /// A 4xx is the caller's fault ("Sender"), a 5xx ours ("Receiver").
    fn fault(&self) -> &'static str {
        if self.status.is_client_error() {
            "Sender"
        } else {
            "Receiver"
        }
    }

    /// awsJson 1.0/1.1 error: `{"__type": code, "message": ...}`.
    pub fn into_json_response(self, request_id: &str) -> Response {
        let body = serde_json::json!({ "__type": self.code, "message": self.message }).to_string();
        let mut resp = (self.status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        if let Ok(v) = HeaderValue::from_str(&self.code) {
            h.insert("x-amzn-errortype", v);
        }
        insert_request_id(h, "x-amzn-requestid", request_id);
        resp
    }

    /// restJson1 error: the code in `x-amzn-ErrorType`, `{"message": ...}` plus the shape's
    /// other members.
    pub fn into_rest_json_response(self, request_id: &str) -> Response {
        let mut body = serde_json::json!({ "message": self.message });
        if let (Some(extra), Some(obj)) = (
            self.fields.as_ref().and_then(|f| f.as_object()),
            body.as_object_mut(),
        ) {
            obj.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
            obj.insert("Message".into(), serde_json::json!(self.message));
            obj.remove("message");
        }
        let mut resp = (self.status, body.to_string()).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(v) = HeaderValue::from_str(&self.code) {
            h.insert("x-amzn-errortype", v);
        }
        insert_request_id(h, "x-amzn-requestid", request_id);
        resp
    }

    /// Query protocol (STS, IAM) error document.
    pub fn into_query_response(self, xmlns: &str, request_id: &str) -> Response {
        let body = format!(
            "<ErrorResponse xmlns=\"{xmlns}\"><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            self.fault(),
            escape(&self.code),
            escape(&self.message),
            escape(request_id),
        );
        xml_response(self.status, body, "x-amzn-requestid", request_id)
    }

    /// S3's error document.
    pub fn into_s3_response(self, resource: &str, request_id: &str) -> Response {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource><RequestId>{}</RequestId></Error>",
            escape(&self.code),
            escape(&self.message),
            escape(resource),
            escape(request_id),
        );
        xml_response(self.status, body, "x-amz-request-id", request_id)
    }
}

pub fn insert_request_id(h: &mut axum::http::HeaderMap, name: &'static str, id: &str) {
    if let Ok(v) = HeaderValue::from_str(id) {
        h.insert(name, v);
    }
}

pub fn xml_response(
    status: StatusCode,
    body: String,
    id_header: &'static str,
    request_id: &str,
) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    insert_request_id(h, id_header, request_id);
    resp
}

/// A fresh request id in the form AWS uses (a UUID).
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
