//! The "Create training job" form: a built-in algorithm sagebox emulates (its image URI as the
//! SageMaker SDK forms it, its hyperparameters with SageMaker's defaults, each checked as the
//! algorithm checks it) or a custom image; up to three input channels picked from sagebox's S3;
//! output path, resources, stopping condition, metric definitions and tags. The form calls
//! CreateTrainingJob through the API's own entry point; a rejected submission comes back with
//! the values as typed and each error next to its field, and creates nothing. `?clone=JOB`
//! fills the form from an existing job.

use std::collections::HashMap;

use axum::extract::{Query, Request, State};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::algorithms::{ALGORITHMS, Algorithm, Kind, Required, by_name, check_all, recognise};
use super::forms::{ApiError, Field, Form, Problem, field, form_page, problems, sagemaker};
use super::{ROOT, enc, esc, see_other};
use crate::AppState;
use crate::runtime::instance_types::{HostResources, lookup};
use crate::service::Services;
use crate::service::objects::ListRequest;

const SECTION: &str = "training-jobs";
const ACTION: &str = "/_sagebox/create/training-job";
const DEFAULT_ALGORITHM: &str = "linear-learner";
const CUSTOM: &str = "custom";
/// Channel rows in the form.
const CHANNELS: usize = 3;
const CHANNEL_NAMES: [&str; CHANNELS] = ["train", "validation", "test"];
const DISTRIBUTIONS: &[&str] = &["FullyReplicated", "ShardedByS3Key"];
const INPUT_MODES: &[&str] = &["File", "Pipe"];
/// Content types offered for a custom image's channels.
const CUSTOM_CONTENT_TYPES: &[&str] = &[
    "text/csv",
    "application/x-recordio-protobuf",
    "text/libsvm",
    "application/x-parquet",
    "application/json",
    "application/jsonlines",
    "application/x-image",
    "image/jpeg",
    "image/png",
];
const INSTANCE_TYPES: &[&str] = &[
    "ml.m5.large",
    "ml.m5.xlarge",
    "ml.m5.2xlarge",
    "ml.m5.4xlarge",
    "ml.m4.xlarge",
    "ml.c5.xlarge",
    "ml.c5.2xlarge",
    "ml.c5.4xlarge",
    "ml.c4.xlarge",
    "ml.r5.large",
    "ml.r5.xlarge",
    "ml.t3.medium",
    "ml.t3.large",
    "ml.t3.xlarge",
    "ml.p3.2xlarge",
    "ml.p3.8xlarge",
    "ml.g4dn.xlarge",
    "ml.g4dn.2xlarge",
    "ml.g4dn.12xlarge",
    "ml.g5.xlarge",
    "ml.g5.2xlarge",
    "ml.g5.12xlarge",
];
const DEFAULT_INSTANCE_TYPE: &str = "ml.m5.large";

/// Form fields and the member paths their validation messages name. Channel fields are named
/// without their row here; `place_channel_problems` puts each on its row.
const FIELDS: &[Field] = &[
    field("TrainingJobName", "trainingJobName"),
    field("RoleArn", "roleArn"),
    field("TrainingImage", "algorithmSpecification.trainingImage"),
    field("TrainingImage", "algorithmSpecification"),
    field(
        "MetricDefinitions",
        "algorithmSpecification.metricDefinitions",
    ),
    field("HyperParameters", "hyperParameters"),
    field("channel.S3Uri", "inputDataConfig"),
    field("channel.Name", "inputDataConfig.channelName"),
    field("channel.ContentType", "inputDataConfig.contentType"),
    field("channel.InputMode", "inputDataConfig.inputMode"),
    field(
        "channel.S3Uri",
        "inputDataConfig.dataSource.s3DataSource.s3Uri",
    ),
    field(
        "channel.S3DataDistributionType",
        "inputDataConfig.dataSource.s3DataSource.s3DataDistributionType",
    ),
    field("OutputPath", "outputDataConfig"),
    field("OutputPath", "outputDataConfig.s3OutputPath"),
    field("InstanceType", "resourceConfig"),
    field("InstanceType", "resourceConfig.instanceType"),
    field("InstanceCount", "resourceConfig.instanceCount"),
    field("VolumeSizeInGB", "resourceConfig.volumeSizeInGB"),
    field("MaxRuntimeInSeconds", "stoppingCondition"),
    field(
        "MaxRuntimeInSeconds",
        "stoppingCondition.maxRuntimeInSeconds",
    ),
    field("Tags", "tags"),
];

pub async fn show(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let s = &state.services;
    let mut form = Form::default();
    let mut notice = String::new();
    if let Some(job) = q.get("clone").map(|j| j.trim()).filter(|j| !j.is_empty()) {
        match s.describe_training_job(job).await {
            Ok(j) => {
                form.values = values_from_job(&j.record.request, &j.record.name);
                // tags live beside the request (AddTags / DeleteTags change them)
                if let Ok(tags) = s.list_tags(&j.record.arn, 50, None).await {
                    let mut lines = String::new();
                    for (k, v) in tags.items {
                        put!(lines, "{k}={v}\n");
                    }
                    form.values.insert("Tags".into(), lines);
                }
                put!(
                    notice,
                    "<p id=\"clone-of\">Filled in from training job <a href=\"{ROOT}{SECTION}/{}\">{}</a>.</p>",
                    enc(&j.record.name),
                    esc(&j.record.name)
                );
            }
            Err(_) => put!(
                notice,
                "<p class=\"error\" id=\"clone-error\">No training job named {} to clone.</p>",
                esc(job)
            ),
        }
    }
    if let Some(a) = q.get("algorithm").filter(|a| is_algorithm(a)) {
        if a == CUSTOM && form.given("Algorithm").is_some_and(|was| was != CUSTOM) {
            // a built-in job cloned onto its image as a custom one: keep every hyperparameter
            let mut lines = String::new();
            let mut set: Vec<(&String, &String)> = form
                .values
                .iter()
                .filter(|(k, v)| k.starts_with("hp.") && !v.trim().is_empty())
                .collect();
            set.sort();
            for (k, v) in set {
                put!(lines, "{}={}\n", &k[3..], v.trim());
            }
            lines.push_str(form.value("HyperParameters"));
            let image = algorithm_of(&form).map(|x| x.image_uri(&s.config().region));
            form.values.insert("HyperParameters".into(), lines);
            if let Some(image) = image {
                form.values.insert("TrainingImage".into(), image);
            }
        }
        form.values.insert("Algorithm".into(), a.clone());
    }
    render(s, form, &q, &notice).await
}

pub async fn create(State(state): State<AppState>, req: Request) -> Response {
    let (_, values) = match super::form(req).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let s = &state.services;
    let mut form = Form::new(values);
    let (members, rows) = members(&mut form, &s.config().region);
    if form.has_problems() {
        // the API's own checks of the rest, so that every problem shows at once
        if let Err(message) =
            crate::aws::model::sagemaker::MODEL.validate_named("CreateTrainingJob", &members)
        {
            let err = ApiError {
                code: "ValidationException".into(),
                message,
            };
            add_api_problems(&mut form, &err, &rows);
        }
        return render(s, form, &HashMap::new(), "").await;
    }
    match sagemaker(s, "CreateTrainingJob", members).await {
        Ok(_) => see_other(&format!(
            "{ROOT}{SECTION}/{}",
            enc(form.given("TrainingJobName").unwrap_or_default())
        )),
        Err(e) => {
            add_api_problems(&mut form, &e, &rows);
            render(s, form, &HashMap::new(), "").await
        }
    }
}

fn is_algorithm(name: &str) -> bool {
    name == CUSTOM || by_name(name).is_some()
}

/// The algorithm the form is for: None for a custom image.
fn algorithm_of(form: &Form) -> Option<&'static Algorithm> {
    match form.given("Algorithm") {
        Some(CUSTOM) => None,
        Some(name) => by_name(name).or(by_name(DEFAULT_ALGORITHM)),
        None => by_name(DEFAULT_ALGORITHM),
    }
}

/// `name=value` lines (blank lines skipped): the pairs, or the first line without `=`.
fn pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                out.push((k.trim().to_string(), v.trim().to_string()))
            }
            _ => return Err(line.to_string()),
        }
    }
    Ok(out)
}

/// An optional whole number from the form: None when empty; a problem when not a number.
fn integer(form: &mut Form, name: &str) -> Option<i64> {
    let v = form.given(name)?.to_string();
    match v.parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            form.problem(
                Some(name),
                format!("{name} must be a whole number, got '{v}'"),
            );
            None
        }
    }
}

/// CreateTrainingJob's members from the form, recording the form's own problems (bad
/// hyperparameters, lines that are not `name=value`, numbers that are not numbers) on it. Also
/// the form rows of the channels sent, in order.
fn members(form: &mut Form, region: &str) -> (Value, Vec<usize>) {
    let algo = algorithm_of(form);
    let mut m = Map::new();
    if let Some(name) = form.given("TrainingJobName") {
        m.insert("TrainingJobName".into(), json!(name));
    }
    if let Some(role) = form.given("RoleArn") {
        m.insert("RoleArn".into(), json!(role));
    }
    // hyperparameters
    let mut hps = Map::new();
    if let Some(a) = algo {
        let given: HashMap<&'static str, String> = a
            .hyperparameters
            .iter()
            .filter_map(|h| {
                form.given(&format!("hp.{}", h.name))
                    .map(|v| (h.name, v.to_string()))
            })
            .collect();
        for (name, problem) in check_all(a, |n| given.get(n).map(String::as_str)) {
            form.problem(Some(&format!("hp.{name}")), problem);
        }
        for h in a.hyperparameters {
            if let Some(v) = given.get(h.name) {
                hps.insert(h.name.into(), json!(v));
            }
        }
    }
    match pairs(form.value("HyperParameters")) {
        Ok(extra) => {
            for (k, v) in extra {
                if hps.contains_key(&k) {
                    form.problem(
                        Some("HyperParameters"),
                        format!("{k} is set twice: here and in its own field above"),
                    );
                }
                hps.insert(k, json!(v));
            }
        }
        Err(line) => form.problem(
            Some("HyperParameters"),
            format!("Each line must be name=value, got '{line}'"),
        ),
    }
    if !hps.is_empty() {
        m.insert("HyperParameters".into(), Value::Object(hps));
    }
    // algorithm specification
    let image = match algo {
        Some(a) => Some(a.image_uri(region)),
        None => form.given("TrainingImage").map(str::to_string),
    };
    let mut spec = Map::new();
    if let Some(image) = image {
        spec.insert("TrainingImage".into(), json!(image));
    }
    match pairs(form.value("MetricDefinitions")) {
        Ok(defs) if !defs.is_empty() => {
            spec.insert(
                "MetricDefinitions".into(),
                Value::Array(
                    defs.into_iter()
                        .map(|(n, r)| json!({"Name": n, "Regex": r}))
                        .collect(),
                ),
            );
        }
        Ok(_) => {}
        Err(line) => form.problem(
            Some("MetricDefinitions"),
            format!("Each line must be Name=Regex, got '{line}'"),
        ),
    }
    // channels
    let mut channels = Vec::new();
    let mut rows = Vec::new();
    for i in 0..CHANNELS {
        let Some(uri) = form.given(&format!("channel.{i}.S3Uri")) else {
            continue;
        };
        let get = |f: &str| form.given(&format!("channel.{i}.{f}")).map(str::to_string);
        let mut s3 = Map::new();
        s3.insert("S3DataType".into(), json!("S3Prefix"));
        s3.insert("S3Uri".into(), json!(uri));
        s3.insert(
            "S3DataDistributionType".into(),
            json!(get("S3DataDistributionType").unwrap_or_else(|| "FullyReplicated".to_string())),
        );
        let mut c = Map::new();
        if let Some(n) = get("Name") {
            c.insert("ChannelName".into(), json!(n));
        }
        c.insert("DataSource".into(), json!({ "S3DataSource": s3 }));
        if let Some(ct) = get("ContentType") {
            c.insert("ContentType".into(), json!(ct));
        }
        c.insert(
            "InputMode".into(),
            json!(get("InputMode").unwrap_or_else(|| "File".to_string())),
        );
        channels.push(Value::Object(c));
        rows.push(i);
    }
    let mode = channels
        .first()
        .and_then(|c| c.get("InputMode"))
        .cloned()
        .unwrap_or_else(|| json!("File"));
    spec.insert("TrainingInputMode".into(), mode);
    m.insert("AlgorithmSpecification".into(), Value::Object(spec));
    if !channels.is_empty() {
        m.insert("InputDataConfig".into(), Value::Array(channels));
    }
    // output, resources, stopping condition
    let mut out = Map::new();
    if let Some(p) = form.given("OutputPath") {
        out.insert("S3OutputPath".into(), json!(p));
    }
    m.insert("OutputDataConfig".into(), Value::Object(out));
    let mut res = Map::new();
    if let Some(t) = form.given("InstanceType") {
        res.insert("InstanceType".into(), json!(t));
    }
    if let Some(n) = integer(form, "InstanceCount") {
        res.insert("InstanceCount".into(), json!(n));
    }
    if let Some(n) = integer(form, "VolumeSizeInGB") {
        res.insert("VolumeSizeInGB".into(), json!(n));
    }
    m.insert("ResourceConfig".into(), Value::Object(res));
    let mut stop = Map::new();
    if let Some(n) = integer(form, "MaxRuntimeInSeconds") {
        stop.insert("MaxRuntimeInSeconds".into(), json!(n));
    }
    m.insert("StoppingCondition".into(), Value::Object(stop));
    match pairs(form.value("Tags")) {
        Ok(tags) if !tags.is_empty() => {
            m.insert(
                "Tags".into(),
                Value::Array(
                    tags.into_iter()
                        .map(|(k, v)| json!({"Key": k, "Value": v}))
                        .collect(),
                ),
            );
        }
        Ok(_) => {}
        Err(line) => form.problem(
            Some("Tags"),
            format!("Each line must be Key=Value, got '{line}'"),
        ),
    }
    (Value::Object(m), rows)
}

/// The list position (1-based, as AWS counts) a validation message names after `inputDataConfig.`.
fn channel_position(message: &str) -> Option<usize> {
    let at = message.find("inputDataConfig.")? + "inputDataConfig.".len();
    let digits: String = message[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The API's error as problems on the form's fields, channel problems on their rows (`rows`:
/// the form row of each channel sent).
fn add_api_problems(form: &mut Form, err: &ApiError, rows: &[usize]) {
    for p in problems(err, FIELDS) {
        let field = p.field.map(|f| match f.strip_prefix("channel.") {
            Some(part) => {
                let row = channel_position(&p.message)
                    .and_then(|n| rows.get(n.saturating_sub(1)))
                    .or(rows.first())
                    .copied()
                    .unwrap_or(0);
                format!("channel.{row}.{part}")
            }
            None => f,
        });
        form.problems.push(Problem {
            field,
            message: p.message,
        });
    }
}

/// The form's values for a clone of the job whose CreateTrainingJob request was `req`.
fn values_from_job(req: &Value, name: &str) -> HashMap<String, String> {
    let mut v: HashMap<String, String> = HashMap::new();
    let text = |p: &str| req.pointer(p).and_then(Value::as_str).map(str::to_string);
    let number = |p: &str| {
        req.pointer(p)
            .map(|n| n.to_string())
            .filter(|n| n != "null")
    };
    let clone_name = format!("{name}-clone");
    v.insert(
        "TrainingJobName".into(),
        if clone_name.len() <= 63 {
            clone_name
        } else {
            String::new()
        },
    );
    let image = text("/AlgorithmSpecification/TrainingImage").unwrap_or_default();
    let hps: Vec<(String, String)> = req
        .get("HyperParameters")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, x)| (k.clone(), x.as_str().map_or(x.to_string(), str::to_string)))
        .collect();
    let script_mode = hps.iter().any(|(k, _)| k == "sagemaker_program");
    let algo = recognise(&image, script_mode);
    let mut other = String::new();
    match algo {
        Some(a) => {
            v.insert("Algorithm".into(), a.name.into());
            for h in a.hyperparameters {
                let value = hps
                    .iter()
                    .find(|(k, _)| k == h.name)
                    .map(|(_, x)| x.clone());
                v.insert(format!("hp.{}", h.name), value.unwrap_or_default());
            }
            for (k, x) in &hps {
                if !a.hyperparameters.iter().any(|h| h.name == k) {
                    put!(other, "{k}={x}\n");
                }
            }
        }
        None => {
            v.insert("Algorithm".into(), CUSTOM.into());
            v.insert("TrainingImage".into(), image);
            for (k, x) in &hps {
                put!(other, "{k}={x}\n");
            }
        }
    }
    v.insert("HyperParameters".into(), other);
    let default_mode = text("/AlgorithmSpecification/TrainingInputMode");
    let channels: Vec<&Value> = req
        .get("InputDataConfig")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(CHANNELS)
        .collect();
    for i in 0..CHANNELS {
        let c = channels.get(i);
        let get = |p: &str| c.and_then(|c| c.pointer(p)).and_then(Value::as_str);
        let row = |f: &str| format!("channel.{i}.{f}");
        if c.is_none() {
            v.insert(row("S3Uri"), String::new());
            continue;
        }
        v.insert(row("Name"), get("/ChannelName").unwrap_or("").into());
        v.insert(
            row("S3Uri"),
            get("/DataSource/S3DataSource/S3Uri").unwrap_or("").into(),
        );
        v.insert(row("ContentType"), get("/ContentType").unwrap_or("").into());
        v.insert(
            row("InputMode"),
            get("/InputMode")
                .map(str::to_string)
                .or(default_mode.clone())
                .unwrap_or_else(|| "File".into()),
        );
        v.insert(
            row("S3DataDistributionType"),
            get("/DataSource/S3DataSource/S3DataDistributionType")
                .unwrap_or("FullyReplicated")
                .into(),
        );
    }
    for (field, path) in [
        ("OutputPath", "/OutputDataConfig/S3OutputPath"),
        ("InstanceType", "/ResourceConfig/InstanceType"),
        ("RoleArn", "/RoleArn"),
    ] {
        v.insert(field.into(), text(path).unwrap_or_default());
    }
    for (field, path) in [
        ("InstanceCount", "/ResourceConfig/InstanceCount"),
        ("VolumeSizeInGB", "/ResourceConfig/VolumeSizeInGB"),
        (
            "MaxRuntimeInSeconds",
            "/StoppingCondition/MaxRuntimeInSeconds",
        ),
    ] {
        v.insert(field.into(), number(path).unwrap_or_default());
    }
    let lines = |p: &str, k: &str, x: &str| {
        let mut out = String::new();
        for item in req
            .pointer(p)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            put!(
                out,
                "{}={}\n",
                item.get(k).and_then(Value::as_str).unwrap_or(""),
                item.get(x).and_then(Value::as_str).unwrap_or("")
            );
        }
        out
    };
    v.insert(
        "MetricDefinitions".into(),
        lines("/AlgorithmSpecification/MetricDefinitions", "Name", "Regex"),
    );
    v.insert("Tags".into(), lines("/Tags", "Key", "Value"));
    v
}

/// `s3://bucket/` and `s3://bucket/prefix/` for every bucket and top-level prefix, for the
/// channels' and output path's suggestions.
async fn s3_suggestions(s: &Services) -> Vec<String> {
    let objects = s.objects();
    let mut out = Vec::new();
    for b in objects
        .list_buckets()
        .await
        .unwrap_or_default()
        .into_iter()
        .take(100)
    {
        out.push(format!("s3://{}/", b.name));
        if let Ok(listing) = objects
            .list(&ListRequest {
                bucket: b.name.clone(),
                prefix: String::new(),
                delimiter: Some("/".into()),
                after: String::new(),
                max_keys: 200,
            })
            .await
        {
            for p in listing.common_prefixes {
                out.push(format!("s3://{}/{p}", b.name));
            }
        }
    }
    out
}

/// `aria-invalid` for a field with problems.
fn invalid(form: &Form, name: &str) -> &'static str {
    if form
        .problems
        .iter()
        .any(|p| p.field.as_deref() == Some(name))
    {
        " aria-invalid=\"true\""
    } else {
        ""
    }
}

/// A `<select>` whose options are `values` (plus the form's value when it is none of them, so
/// that a cloned or typed value is kept), with an empty option first when `empty` names it.
fn select(form: &Form, label: &str, name: &str, values: &[&str], empty: Option<&str>) -> String {
    let mut opts: Vec<(String, String)> = Vec::new();
    if let Some(text) = empty {
        opts.push((String::new(), text.to_string()));
    }
    opts.extend(values.iter().map(|v| (v.to_string(), v.to_string())));
    let current = form.value(name);
    if !opts.iter().any(|(v, _)| v == current) {
        opts.push((current.to_string(), current.to_string()));
    }
    form.select(label, name, &opts)
}

/// One hyperparameter's field: its label (marked when required), input or select, what it does,
/// its default and valid values, and its errors.
fn hyperparameter_field(form: &Form, h: &super::algorithms::Hyperparameter) -> String {
    let name = format!("hp.{}", h.name);
    let required = match h.required {
        Required::Yes => " <span class=\"required\">required</span>".to_string(),
        Required::When(other, value) => format!(
            " <span class=\"required\">required</span> <small>when {other} is {}</small>",
            esc(value.trim_end_matches(':'))
        ),
        Required::No => String::new(),
    };
    let control = match h.kind {
        Kind::Enum(words) => select_control(form, &name, words),
        Kind::Bool => select_control(form, &name, &["true", "false"]),
        _ => format!(
            "<input name=\"{n}\" id=\"field-{n}\" value=\"{v}\"{i}{req}>",
            n = esc(&name),
            v = esc(form.value(&name)),
            i = invalid(form, &name),
            req = if h.required == Required::Yes {
                " required"
            } else {
                ""
            }
        ),
    };
    let default = if h.default.is_empty() {
        String::new()
    } else {
        format!(" Default: <code>{}</code>.", esc(h.default))
    };
    format!(
        "<div class=\"hp\" data-hp=\"{hn}\"><label for=\"field-{n}\"><code>{hn}</code>{required}</label>{control}<small class=\"hint\">{}{default} Valid values: {}.</small>{}</div>",
        esc(h.description),
        esc(&h.valid_values()),
        form.errors_for(&name),
        n = esc(&name),
        hn = esc(h.name)
    )
}

/// A bare `<select name id>` (its label is the caller's) with an empty "not set" option.
fn select_control(form: &Form, name: &str, words: &[&str]) -> String {
    let current = form.value(name);
    let mut opts = format!(
        "<option value=\"\"{}>(not set)</option>",
        if current.is_empty() { " selected" } else { "" }
    );
    let mut seen = current.is_empty();
    for w in words {
        let sel = if *w == current {
            seen = true;
            " selected"
        } else {
            ""
        };
        put!(opts, "<option value=\"{v}\"{sel}>{v}</option>", v = esc(w));
    }
    if !seen {
        put!(
            opts,
            "<option value=\"{v}\" selected>{v}</option>",
            v = esc(current)
        );
    }
    format!(
        "<select name=\"{n}\" id=\"field-{n}\"{i}>{opts}</select>",
        n = esc(name),
        i = invalid(form, name)
    )
}

/// The algorithm links: `?algorithm=NAME` keeping the other query parameters (a clone's).
fn algorithm_links(current: &str, q: &HashMap<String, String>) -> String {
    let mut keep: Vec<(&String, &String)> = q.iter().filter(|(k, _)| *k != "algorithm").collect();
    keep.sort();
    let mut out = String::from("<nav id=\"algorithm-choice\" class=\"algorithms\">");
    let choices = ALGORITHMS
        .iter()
        .map(|a| (a.name, a.title))
        .chain([(CUSTOM, "Custom image")]);
    for (name, title) in choices {
        let mut qs = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &keep {
            qs.append_pair(k, v);
        }
        qs.append_pair("algorithm", name);
        let current_attr = if name == current {
            " aria-current=\"true\""
        } else {
            ""
        };
        put!(
            out,
            "<a class=\"algorithm\" data-algorithm=\"{name}\" href=\"?{}\"{current_attr}>{title}</a>",
            esc(&qs.finish())
        );
    }
    out.push_str("</nav>");
    out
}

/// The form's defaults (a value already there, typed or cloned, stays).
fn set_defaults(form: &mut Form, algo: Option<&Algorithm>, account: &str) {
    if let Some(a) = algo {
        for h in a.hyperparameters {
            form.set_default(&format!("hp.{}", h.name), h.default);
        }
    }
    let content_types: &[&str] = algo.map_or(CUSTOM_CONTENT_TYPES, |a| a.content_types);
    for (i, default_name) in CHANNEL_NAMES.iter().enumerate() {
        let name = algo
            .and_then(|a| a.channels.get(i))
            .copied()
            .unwrap_or(default_name);
        form.set_default(&format!("channel.{i}.Name"), name);
        form.set_default(
            &format!("channel.{i}.ContentType"),
            content_types.first().copied().unwrap_or(""),
        );
        form.set_default(&format!("channel.{i}.InputMode"), "File");
        form.set_default(
            &format!("channel.{i}.S3DataDistributionType"),
            "FullyReplicated",
        );
    }
    form.set_default("InstanceType", DEFAULT_INSTANCE_TYPE);
    form.set_default("InstanceCount", "1");
    form.set_default("VolumeSizeInGB", "10");
    form.set_default("MaxRuntimeInSeconds", "86400");
    form.set_default(
        "RoleArn",
        &format!("arn:aws:iam::{}:role/SageMakerRole", account),
    );
}

/// The channel rows, with the S3 suggestions (`suggestions`) their URI fields offer.
fn channels_fieldset(
    form: &Form,
    algo: Option<&Algorithm>,
    content_types: &[&str],
    suggestions: &[String],
) -> String {
    let mut body = String::new();
    // channels
    body.push_str("<fieldset id=\"channels\"><legend>Input data channels</legend>");
    put!(
        body,
        "<p class=\"hint\">A channel whose S3 URI is empty is left out. Content types: {}. Input modes: {}. <a id=\"browse-s3\" href=\"{ROOT}s3\" target=\"_blank\" rel=\"noopener\">Browse S3</a></p>",
        esc(&content_types.join(", ")),
        esc(&algo.map_or(INPUT_MODES, |a| a.input_modes).join(", "))
    );
    for i in 0..CHANNELS {
        let f = |x: &str| format!("channel.{i}.{x}");
        put!(
            body,
            "<div class=\"channel\" data-channel=\"{i}\"><h3>Channel {}</h3>",
            i + 1
        );
        body.push_str(&form.input("Name", &f("Name"), "maxlength=\"64\""));
        body.push_str(&form.input(
            "S3 URI",
            &f("S3Uri"),
            "list=\"s3-prefixes\" placeholder=\"s3://bucket/prefix/\"",
        ));
        body.push_str(&select(
            form,
            "Content type",
            &f("ContentType"),
            content_types,
            Some("(not set: the algorithm's default)"),
        ));
        body.push_str(&select(
            form,
            "Input mode",
            &f("InputMode"),
            algo.map_or(INPUT_MODES, |a| a.input_modes),
            None,
        ));
        body.push_str(&select(
            form,
            "S3 data distribution",
            &f("S3DataDistributionType"),
            DISTRIBUTIONS,
            None,
        ));
        body.push_str("</div>");
    }
    body.push_str("<datalist id=\"s3-prefixes\">");
    for uri in suggestions {
        put!(body, "<option value=\"{}\"></option>", esc(uri));
    }
    body.push_str("</datalist></fieldset>");
    body
}

/// The instance types offered (GPU types marked when this host has no GPU), and the form's
/// value when it is none of them.
fn instance_types(form: &Form, no_gpu: bool) -> Vec<(String, String)> {
    let host = HostResources {
        cpus: 1,
        memory_mib: 1,
        gpus: 0,
    };
    let mut types: Vec<(String, String)> = INSTANCE_TYPES
        .iter()
        .map(|t| {
            let gpus = lookup(t, &host).map_or(0, |x| x.gpus);
            let label = match (gpus, no_gpu) {
                (0, _) => t.to_string(),
                (_, true) => format!("{t} (no GPU here)"),
                (1, false) => format!("{t} (1 GPU)"),
                (n, false) => format!("{t} ({n} GPUs)"),
            };
            (t.to_string(), label)
        })
        .collect();
    let current = form.value("InstanceType").to_string();
    if !types.iter().any(|(v, _)| *v == current) {
        types.push((current.clone(), current));
    }
    types
}

/// The whole form page; status 400 when the form has problems.
async fn render(
    s: &Services,
    mut form: Form,
    q: &HashMap<String, String>,
    notice: &str,
) -> Response {
    let config = s.config();
    let region = config.region.clone();
    let algo = algorithm_of(&form);
    let algo_name = algo.map_or(CUSTOM, |a| a.name);
    form.values.insert("Algorithm".into(), algo_name.into());
    set_defaults(&mut form, algo, &config.account_id);
    let content_types: &[&str] = algo.map_or(CUSTOM_CONTENT_TYPES, |a| a.content_types);

    let mut body = String::from(notice);
    // the algorithm choice
    body.push_str("<section id=\"algorithm\" class=\"panel\"><h2>Algorithm</h2>");
    body.push_str(&algorithm_links(algo_name, q));
    match algo {
        Some(a) => put!(
            body,
            "<p class=\"about\">{} Image <code id=\"training-image\">{}</code>. Content types: <span id=\"content-types\">{}</span>. Input modes: <span id=\"input-modes\">{}</span>.</p>",
            esc(a.about),
            esc(&a.image_uri(&region)),
            esc(&a.content_types.join(", ")),
            esc(&a.input_modes.join(", "))
        ),
        None => body.push_str(
            "<p class=\"about\">Your own training image: a name Docker on this host knows (built locally, e.g. <code>my-algo:latest</code>), or an AWS image URI sagebox emulates.</p>",
        ),
    }
    body.push_str("</section>");

    put!(
        body,
        "<form id=\"create-training-job\" method=\"post\" action=\"{ACTION}\" class=\"panel create-form\">{}",
        form.form_errors()
    );
    put!(
        body,
        "<input type=\"hidden\" name=\"Algorithm\" id=\"field-Algorithm\" value=\"{}\">",
        esc(algo_name)
    );
    // job
    body.push_str("<fieldset id=\"job\"><legend>Job</legend>");
    body.push_str(&form.input(
        "Training job name",
        "TrainingJobName",
        "required maxlength=\"63\" placeholder=\"my-training-job\"",
    ));
    body.push_str(&form.input("IAM role ARN", "RoleArn", "required"));
    if algo.is_none() {
        body.push_str(&form.input(
            "Training image",
            "TrainingImage",
            "required placeholder=\"my-algo:latest\"",
        ));
    }
    body.push_str("</fieldset>");
    // hyperparameters
    body.push_str("<fieldset id=\"hyperparameters\"><legend>Hyperparameters</legend>");
    if let Some(a) = algo {
        for h in a.hyperparameters {
            body.push_str(&hyperparameter_field(&form, h));
        }
        body.push_str(&form.textarea(
            "Other hyperparameters (name=value, one a line)",
            "HyperParameters",
            "rows=\"3\"",
        ));
    } else {
        body.push_str(&form.textarea(
            "Hyperparameters (name=value, one a line)",
            "HyperParameters",
            "rows=\"6\" placeholder=\"epochs=10\"",
        ));
    }
    body.push_str("</fieldset>");
    body.push_str(&channels_fieldset(
        &form,
        algo,
        content_types,
        &s3_suggestions(s).await,
    ));
    // output and resources
    body.push_str("<fieldset id=\"output\"><legend>Output</legend>");
    body.push_str(&form.input(
        "S3 output path",
        "OutputPath",
        "required list=\"s3-prefixes\" placeholder=\"s3://bucket/output/\"",
    ));
    body.push_str("</fieldset><fieldset id=\"resources\"><legend>Resources</legend>");
    let types = instance_types(&form, s.gpu_use().report.devices.is_empty());
    body.push_str(&form.select("Instance type", "InstanceType", &types));
    body.push_str(&form.input(
        "Instance count",
        "InstanceCount",
        "type=\"number\" min=\"1\" required",
    ));
    body.push_str(&form.input(
        "Volume size (GB)",
        "VolumeSizeInGB",
        "type=\"number\" min=\"1\" required",
    ));
    body.push_str(&form.input(
        "Maximum runtime (seconds)",
        "MaxRuntimeInSeconds",
        "type=\"number\" min=\"1\"",
    ));
    body.push_str("</fieldset><fieldset id=\"extras\"><legend>Metrics and tags</legend>");
    body.push_str(&form.textarea(
        "Metric definitions (Name=Regex, one a line)",
        "MetricDefinitions",
        "rows=\"3\" placeholder=\"validation:accuracy=accuracy: ([0-9.]+)\"",
    ));
    body.push_str(&form.textarea(
        "Tags (Key=Value, one a line)",
        "Tags",
        "rows=\"3\" placeholder=\"project=demo\"",
    ));
    body.push_str(
        "</fieldset><button id=\"create-submit\" type=\"submit\">Create training job</button></form>",
    );
    form_page("Create training job", SECTION, &form, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            ("Algorithm", "linear-learner"),
            ("TrainingJobName", "digits"),
            ("RoleArn", "arn:aws:iam::000000000000:role/SageMakerRole"),
            ("hp.feature_dim", "64"),
            ("hp.predictor_type", "multiclass_classifier"),
            ("hp.num_classes", "10"),
            ("hp.epochs", "2"),
            ("hp.l1", ""),
            ("channel.0.Name", "train"),
            ("channel.0.S3Uri", "s3://b/digits/train/"),
            ("channel.0.ContentType", "text/csv"),
            ("channel.0.InputMode", "File"),
            ("channel.0.S3DataDistributionType", "FullyReplicated"),
            ("channel.1.Name", "validation"),
            ("channel.1.S3Uri", ""),
            ("channel.2.Name", "test"),
            ("channel.2.S3Uri", "s3://b/digits/test/"),
            ("channel.2.ContentType", "text/csv"),
            ("OutputPath", "s3://b/out/"),
            ("InstanceType", "ml.m5.large"),
            ("InstanceCount", "1"),
            ("VolumeSizeInGB", "10"),
            ("MaxRuntimeInSeconds", "3600"),
            ("MetricDefinitions", "acc=accuracy: ([0-9.]+)\n"),
            ("Tags", "team=ml\n\nproject = demo"),
            ("HyperParameters", ""),
        ]
    }

    #[test]
    fn the_form_makes_create_training_job_members() {
        let mut f = form(&good());
        let (m, rows) = members(&mut f, "us-east-1");
        assert!(!f.has_problems(), "{:?}", f.problems);
        assert_eq!(rows, vec![0, 2]);
        assert_eq!(
            m["AlgorithmSpecification"]["TrainingImage"],
            "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
        );
        assert_eq!(m["HyperParameters"]["feature_dim"], "64");
        assert!(m["HyperParameters"].get("l1").is_none());
        assert_eq!(m["InputDataConfig"].as_array().unwrap().len(), 2);
        assert_eq!(m["InputDataConfig"][1]["ChannelName"], "test");
        assert_eq!(m["ResourceConfig"]["InstanceCount"], 1);
        assert_eq!(m["Tags"][1], json!({"Key": "project", "Value": "demo"}));
        assert_eq!(
            m["AlgorithmSpecification"]["MetricDefinitions"][0]["Regex"],
            "accuracy: ([0-9.]+)"
        );
        crate::aws::model::sagemaker::MODEL
            .validate_named("CreateTrainingJob", &m)
            .expect("valid members");
        // and a clone of it fills the same fields back in
        let v = values_from_job(&m, "digits");
        assert_eq!(v["TrainingJobName"], "digits-clone");
        assert_eq!(v["Algorithm"], "linear-learner");
        assert_eq!(v["hp.num_classes"], "10");
        assert_eq!(v["hp.l1"], "");
        assert_eq!(v["channel.1.S3Uri"], "s3://b/digits/test/");
        assert_eq!(v["channel.2.S3Uri"], "");
        assert_eq!(v["MaxRuntimeInSeconds"], "3600");
        assert_eq!(v["Tags"], "team=ml\nproject=demo\n");
    }

    #[test]
    fn bad_values_are_problems_on_their_fields() {
        let mut pairs = good();
        pairs.retain(|(k, _)| !matches!(*k, "hp.feature_dim" | "InstanceCount" | "Tags"));
        pairs.extend([
            ("hp.feature_dim", "abc"),
            ("InstanceCount", "two"),
            ("Tags", "no equals sign"),
        ]);
        let mut f = form(&pairs);
        members(&mut f, "us-east-1");
        let on: Vec<&str> = f
            .problems
            .iter()
            .filter_map(|p| p.field.as_deref())
            .collect();
        assert_eq!(on, vec!["hp.feature_dim", "InstanceCount", "Tags"]);
        assert!(f.problems[0].message.contains("got 'abc'"));
    }

    #[test]
    fn api_errors_land_on_the_channel_row_they_name() {
        let mut f = form(&good());
        let err = ApiError {
            code: "ValidationException".into(),
            message: "1 validation error detected: Value 'ftp://x' at 'inputDataConfig.2.member.dataSource.s3DataSource.s3Uri' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(https|s3)://([^/]+)/?(.*)$".into(),
        };
        add_api_problems(&mut f, &err, &[0, 2]);
        assert_eq!(f.problems[0].field.as_deref(), Some("channel.2.S3Uri"));
    }

    #[test]
    fn gpu_types_say_whether_this_host_has_a_gpu() {
        let f = form(&[("InstanceType", "ml.m5.large")]);
        let label = |types: &[(String, String)], t: &str| {
            types.iter().find(|(v, _)| v == t).map(|(_, l)| l.clone())
        };
        let none = instance_types(&f, true);
        assert_eq!(
            label(&none, "ml.p3.2xlarge").as_deref(),
            Some("ml.p3.2xlarge (no GPU here)")
        );
        assert_eq!(label(&none, "ml.m5.large").as_deref(), Some("ml.m5.large"));
        let some = instance_types(&f, false);
        assert_eq!(
            label(&some, "ml.g5.12xlarge").as_deref(),
            Some("ml.g5.12xlarge (4 GPUs)")
        );
        assert_eq!(none.len(), INSTANCE_TYPES.len());
        let other = instance_types(&form(&[("InstanceType", "ml.x9.huge")]), true);
        assert_eq!(label(&other, "ml.x9.huge").as_deref(), Some("ml.x9.huge"));
    }

    #[test]
    fn custom_images_take_their_hyperparameters_from_lines() {
        let mut f = form(&[
            ("Algorithm", "custom"),
            ("TrainingImage", "my-algo:latest"),
            ("HyperParameters", "epochs=3\nlr = 0.1"),
        ]);
        let (m, _) = members(&mut f, "us-east-1");
        assert!(!f.has_problems(), "{:?}", f.problems);
        assert_eq!(
            m["AlgorithmSpecification"]["TrainingImage"],
            "my-algo:latest"
        );
        assert_eq!(m["HyperParameters"], json!({"epochs": "3", "lr": "0.1"}));
        let v = values_from_job(&m, &"x".repeat(60));
        assert_eq!(v["Algorithm"], "custom");
        assert_eq!(v["TrainingJobName"], "");
        assert_eq!(v["TrainingImage"], "my-algo:latest");
    }
}
