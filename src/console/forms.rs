//! Create and update forms. A form posts its fields; the handler builds the operation's members
//! from them and calls SageMaker through the API's own entry point (`sagemaker`), so a form gets
//! exactly a client's validation, defaults and error wording. When the call fails, the form is
//! shown again (status 400) with the values as typed and each error next to the field it
//! concerns: a validation error names its member path (`at 'algorithmSpecification.trainingImage'`),
//! which each field declares as `Field::wire`; an error that names no field shows above the form.
//! Nothing is created on an error.
//!
//! Conventions the browser tests rely on: a field `NAME` is `<… name="NAME" id="field-NAME">`,
//! its error `<p class="field-error" data-for="NAME">`, and an error without a field
//! `<p class="error" id="form-error">`.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::{esc, page};
use crate::service::Services;
pub use crate::service::pipelines::api::ApiError;

/// Calls SageMaker operation `op` with `members`, as a client would.
pub async fn sagemaker(
    services: &Services,
    op: &'static str,
    members: Value,
) -> Result<Value, ApiError> {
    crate::api::sagemaker::call(services.clone(), op, members).await
}

/// One message, for a field or (`field: None`) for the whole form.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub field: Option<String>,
    pub message: String,
}

/// A form field: its name in the form and the member path (as validation messages spell it,
/// e.g. `trainingJobName`, `resourceConfig.instanceCount`, `hyperParameters`) it fills.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    pub name: &'a str,
    pub wire: &'a str,
}

pub const fn field<'a>(name: &'a str, wire: &'a str) -> Field<'a> {
    Field { name, wire }
}

/// The member path a validation message names (`… at 'a.b.1.member.c' failed …`).
fn named_path(message: &str) -> Option<&str> {
    let start = message.find(" at '")? + 5;
    let len = message[start..].find('\'')?;
    Some(&message[start..start + len])
}

/// Path segments without list positions and `member`/`entry`/`key`/`value` markers, compared
/// case-insensitively ("inputDataConfig.1.member.channelName" → ["inputdataconfig","channelname"]).
fn segments(path: &str) -> Vec<String> {
    path.split('.')
        .filter(|s| {
            !s.is_empty()
                && !s.chars().all(|c| c.is_ascii_digit())
                && !matches!(*s, "member" | "entry" | "key" | "value")
        })
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The field whose member path is the longest prefix of `path` (or equal to it).
fn field_for<'a>(path: &str, fields: &[Field<'a>]) -> Option<&'a str> {
    let want = segments(path);
    fields
        .iter()
        .filter_map(|f| {
            let have = segments(f.wire);
            (!have.is_empty() && want.starts_with(&have)).then_some((have.len(), f.name))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, name)| name)
}

/// The API's error split into problems, each on its field where the message names one. A
/// message "N validation errors detected: Value … at 'x' …; Value … at 'y' …" gives one
/// problem per value.
pub fn problems(err: &ApiError, fields: &[Field]) -> Vec<Problem> {
    let body = err
        .message
        .split_once("detected: ")
        .map_or(err.message.as_str(), |(_, rest)| rest);
    let parts: Vec<&str> = if err.code == "ValidationException" && body.contains("; Value ") {
        body.split("; ").collect()
    } else {
        vec![body]
    };
    parts
        .into_iter()
        .map(|part| {
            let field = named_path(part).and_then(|p| field_for(p, fields));
            Problem {
                field: field.map(str::to_string),
                message: if field.is_some() {
                    part.to_string()
                } else {
                    format!("{}: {}", err.code, err.message)
                },
            }
        })
        .fold(Vec::new(), |mut acc, p| {
            // one unplaced message is enough: it already holds the whole text
            if p.field.is_some() || !acc.iter().any(|q: &Problem| q.field.is_none()) {
                acc.push(p);
            }
            acc
        })
}

/// A form being shown: the values to fill in (as typed, or defaults) and the problems to show.
#[derive(Debug, Clone, Default)]
pub struct Form {
    pub values: HashMap<String, String>,
    pub problems: Vec<Problem>,
}

impl Form {
    pub fn new(values: HashMap<String, String>) -> Form {
        Form {
            values,
            problems: Vec::new(),
        }
    }

    pub fn value(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    /// The trimmed value, or None when empty.
    pub fn given(&self, name: &str) -> Option<&str> {
        Some(self.value(name).trim()).filter(|v| !v.is_empty())
    }

    pub fn set_default(&mut self, name: &str, value: &str) {
        self.values
            .entry(name.to_string())
            .or_insert_with(|| value.to_string());
    }

    /// Records a problem found before calling the API (the form's own checks).
    pub fn problem(&mut self, field: Option<&str>, message: impl Into<String>) {
        self.problems.push(Problem {
            field: field.map(str::to_string),
            message: message.into(),
        });
    }

    pub fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    /// The `<p class="field-error">` lines for `name` (empty when it has none).
    pub fn errors_for(&self, name: &str) -> String {
        let mut out = String::new();
        for p in self
            .problems
            .iter()
            .filter(|p| p.field.as_deref() == Some(name))
        {
            put!(
                out,
                "<p class=\"field-error\" data-for=\"{}\">{}</p>",
                esc(name),
                esc(&p.message)
            );
        }
        out
    }

    /// The problems that concern no field, above the form.
    pub fn form_errors(&self) -> String {
        let mut out = String::new();
        for p in self.problems.iter().filter(|p| p.field.is_none()) {
            put!(
                out,
                "<p class=\"error\" id=\"form-error\">{}</p>",
                esc(&p.message)
            );
        }
        out
    }

    fn invalid(&self, name: &str) -> &'static str {
        if self
            .problems
            .iter()
            .any(|p| p.field.as_deref() == Some(name))
        {
            " aria-invalid=\"true\""
        } else {
            ""
        }
    }

    /// `<label>Label <input name=NAME id=field-NAME value=…></label>` and its errors. `attrs` is
    /// trusted markup (`required`, `type="number" min="1"`, …).
    pub fn input(&self, label: &str, name: &str, attrs: &str) -> String {
        format!(
            "<label for=\"field-{n}\">{l}</label><input name=\"{n}\" id=\"field-{n}\" value=\"{v}\"{i} {attrs}>{e}",
            n = esc(name),
            l = esc(label),
            v = esc(self.value(name)),
            i = self.invalid(name),
            e = self.errors_for(name)
        )
    }

    /// A `<textarea>` field.
    pub fn textarea(&self, label: &str, name: &str, attrs: &str) -> String {
        format!(
            "<label for=\"field-{n}\">{l}</label><textarea name=\"{n}\" id=\"field-{n}\"{i} {attrs}>{v}</textarea>{e}",
            n = esc(name),
            l = esc(label),
            v = esc(self.value(name)),
            i = self.invalid(name),
            e = self.errors_for(name)
        )
    }

    /// A `<select>` of `(value, label)` options, the form's value selected.
    pub fn select(&self, label: &str, name: &str, options: &[(String, String)]) -> String {
        let current = self.value(name);
        let mut opts = String::new();
        for (value, text) in options {
            put!(
                opts,
                "<option value=\"{}\"{}>{}</option>",
                esc(value),
                if value == current { " selected" } else { "" },
                esc(text)
            );
        }
        format!(
            "<label for=\"field-{n}\">{l}</label><select name=\"{n}\" id=\"field-{n}\"{i}>{opts}</select>{e}",
            n = esc(name),
            l = esc(label),
            i = self.invalid(name),
            e = self.errors_for(name)
        )
    }
}

/// Options whose value and label are the same.
pub fn options<S: AsRef<str>>(values: &[S]) -> Vec<(String, String)> {
    values
        .iter()
        .map(|v| (v.as_ref().to_string(), v.as_ref().to_string()))
        .collect()
}

/// A form page; status 400 when the form shows problems (a re-shown form after a failed
/// submission).
pub fn form_page(title: &str, section: &str, form: &Form, body: &str) -> Response {
    let mut r = page(title, section, body);
    if form.has_problems() {
        *r.status_mut() = StatusCode::BAD_REQUEST;
    }
    r
}

/// "Are you sure?": the page a delete link leads to; its button posts to `action`.
pub fn confirm_delete(section: &str, what: &str, name: &str, action: &str, back: &str) -> Response {
    page(
        &format!("Delete {what}"),
        section,
        &format!(
            "<form id=\"confirm-delete\" method=\"post\" action=\"{}\" class=\"panel\"><p>Delete {} <b>{}</b>? This cannot be undone.</p><button id=\"confirm-delete-submit\" class=\"delete\" type=\"submit\">Delete</button> <a class=\"button\" href=\"{}\">Cancel</a></form>",
            esc(action),
            esc(what),
            esc(name),
            esc(back)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[Field] = &[
        field("TrainingJobName", "trainingJobName"),
        field("TrainingImage", "algorithmSpecification.trainingImage"),
        field("Channel", "inputDataConfig"),
        field(
            "ChannelS3Uri",
            "inputDataConfig.dataSource.s3DataSource.s3Uri",
        ),
    ];

    fn err(code: &str, message: &str) -> ApiError {
        ApiError {
            code: code.into(),
            message: message.into(),
        }
    }

    #[test]
    fn each_validation_error_lands_on_its_field() {
        let e = err(
            "ValidationException",
            "2 validation errors detected: Value 'a b' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern: x; Value 'ftp://x' at 'inputDataConfig.1.member.dataSource.s3DataSource.s3Uri' failed to satisfy constraint: Member must satisfy regular expression pattern: y",
        );
        let p = problems(&e, FIELDS);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].field.as_deref(), Some("TrainingJobName"));
        assert!(p[0].message.starts_with("Value 'a b' at 'trainingJobName'"));
        assert_eq!(p[1].field.as_deref(), Some("ChannelS3Uri"));
    }

    #[test]
    fn an_error_naming_no_field_goes_above_the_form() {
        let e = err("ResourceInUse", "Training job names must be unique.");
        let p = problems(&e, FIELDS);
        assert_eq!(
            p,
            vec![Problem {
                field: None,
                message: "ResourceInUse: Training job names must be unique.".into()
            }]
        );
    }

    #[test]
    fn values_and_errors_are_escaped() {
        let mut f = Form::new(HashMap::from([(
            "A".to_string(),
            "\"><script>".to_string(),
        )]));
        f.problem(Some("A"), "<b>bad</b>");
        let html = f.input("A", "A", "required");
        assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;\""));
        assert!(html.contains("&lt;b&gt;bad&lt;/b&gt;"));
        assert!(html.contains("aria-invalid=\"true\""));
    }
}
