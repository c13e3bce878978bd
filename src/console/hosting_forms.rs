//! Hosting forms: create model, endpoint configuration, endpoint and transform job; update
//! endpoint; deletes with a confirmation step. Each form calls the SageMaker API's own entry
//! point (`forms::sagemaker`), so what it accepts and the errors it shows (next to the field they
//! concern, in AWS's words) are exactly a client's.

use std::collections::HashMap;

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::forms::{self, ApiError, Field, Form, field, form_page, options};
use super::{ROOT, all, enc, esc, form, not_found, page, see_other};
use crate::AppState;
use crate::service::Services;
use crate::service::objects::ListRequest;
use crate::store::resources::ResourceKind;

/// Instance types the selects offer (any other one typed into a form is kept as an option).
const INSTANCE_TYPES: &[&str] = &[
    "ml.t2.medium",
    "ml.t3.medium",
    "ml.m5.large",
    "ml.m5.xlarge",
    "ml.m5.2xlarge",
    "ml.m5.4xlarge",
    "ml.c5.large",
    "ml.c5.xlarge",
    "ml.c5.2xlarge",
    "ml.c5.4xlarge",
    "ml.g4dn.xlarge",
    "ml.g5.xlarge",
    "ml.p3.2xlarge",
];

/// Rows of production variants the endpoint configuration form offers.
const VARIANT_ROWS: usize = 2;

/// The names of every resource of a kind, oldest first (lists show newest first).
async fn names(services: &Services, kind: ResourceKind) -> Vec<String> {
    let mut n: Vec<String> = all(services, kind)
        .await
        .into_iter()
        .map(|l| l.record.name)
        .collect();
    n.sort();
    n
}

/// Options of `values`, with the form's current value kept even if it is not among them, and
/// an empty choice first when `blank` is given.
fn choices(values: &[String], current: &str, blank: Option<&str>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(b) = blank {
        out.push((String::new(), b.to_string()));
    }
    out.extend(options(values));
    if !current.is_empty() && !values.iter().any(|v| v == current) {
        out.push((current.to_string(), current.to_string()));
    }
    out
}

fn instance_types(current: &str) -> Vec<(String, String)> {
    let list: Vec<String> = INSTANCE_TYPES.iter().map(|s| s.to_string()).collect();
    choices(&list, current, None)
}

/// A member holding the trimmed value of a field, if one was given.
fn put_str(obj: &mut Map<String, Value>, member: &str, f: &Form, name: &str) {
    if let Some(v) = f.given(name) {
        obj.insert(member.into(), Value::String(v.to_string()));
    }
}

/// A whole-number member; a value that is no number is the form's own problem.
fn put_int(obj: &mut Map<String, Value>, member: &str, f: &mut Form, name: &str) {
    let Some(v) = f.given(name).map(str::to_string) else {
        return;
    };
    match v.parse::<i64>() {
        Ok(n) => {
            obj.insert(member.into(), json!(n));
        }
        Err(_) => f.problem(Some(name), format!("'{v}' is not a whole number.")),
    }
}

/// A number member (weights).
fn put_float(obj: &mut Map<String, Value>, member: &str, f: &mut Form, name: &str) {
    let Some(v) = f.given(name).map(str::to_string) else {
        return;
    };
    match v.parse::<f64>() {
        Ok(n) if n.is_finite() => {
            obj.insert(member.into(), json!(n));
        }
        _ => f.problem(Some(name), format!("'{v}' is not a number.")),
    }
}

/// The message of a "Could not find model "arn:…:model/NAME"." error, when `err` is one about
/// resource type `noun` (its name, lower case, as the ARN spells it).
fn missing(err: &ApiError, arn_type: &str) -> Option<String> {
    let m = &err.message;
    if !m.starts_with("Could not find") {
        return None;
    }
    let marker = format!(":{arn_type}/");
    let at = m.find(&marker)? + marker.len();
    let rest = &m[at..];
    Some(rest[..rest.find('"').unwrap_or(rest.len())].to_string())
}

/// The API's error as the form's problems; `extra` places a service-level error on a field.
fn api_problems(f: &mut Form, err: &ApiError, fields: &[Field], extra: Option<&str>) {
    if let Some(name) = extra {
        f.problem(Some(name), format!("{}: {}", err.code, err.message));
        return;
    }
    f.problems.extend(forms::problems(err, fields));
}

/// `<datalist id="s3-prefixes">`: every bucket and its top-level prefixes, as s3:// URIs.
async fn s3_prefixes(services: &Services) -> String {
    let mut out = String::from("<datalist id=\"s3-prefixes\">");
    let objects = services.objects();
    let buckets = objects.list_buckets().await.unwrap_or_default();
    for b in buckets.iter().take(50) {
        put!(out, "<option value=\"s3://{}/\">", esc(&b.name));
        let listing = objects
            .list(&ListRequest {
                bucket: b.name.clone(),
                prefix: String::new(),
                delimiter: Some("/".into()),
                after: String::new(),
                max_keys: 100,
            })
            .await;
        if let Ok(l) = listing {
            for p in &l.common_prefixes {
                put!(out, "<option value=\"s3://{}/{}\">", esc(&b.name), esc(p));
            }
        }
    }
    out.push_str("</datalist>");
    out
}

fn submit(label: &str) -> String {
    format!(
        "<button id=\"create-submit\" type=\"submit\">{}</button>",
        esc(label)
    )
}

async fn read_form(req: Request) -> Result<Form, Box<Response>> {
    let (_, mut values) = form(req).await?;
    values.remove("_csrf");
    Ok(Form::new(values))
}

// ----- models -----

const MODEL_FIELDS: &[Field] = &[
    field("ModelName", "modelName"),
    field("Image", "primaryContainer.image"),
    field("ModelDataUrl", "primaryContainer.modelDataUrl"),
    field("Environment", "primaryContainer.environment"),
    field("Image", "primaryContainer"),
    field("ExecutionRoleArn", "executionRoleArn"),
];

fn model_page(f: &Form) -> Response {
    let mut body = f.form_errors();
    put!(
        body,
        "<form id=\"create-model\" method=\"post\" action=\"{ROOT}create/model\" class=\"panel\">{}{}{}{}{}{}</form>",
        f.input("Model name", "ModelName", "required"),
        f.input(
            "Container image",
            "Image",
            "required placeholder=\"ACCOUNT.dkr.ecr.REGION.amazonaws.com/IMAGE:TAG\""
        ),
        f.input(
            "Model artifacts (S3 URI of model.tar.gz)",
            "ModelDataUrl",
            "placeholder=\"s3://bucket/output/job/output/model.tar.gz\""
        ),
        f.input("IAM role ARN", "ExecutionRoleArn", ""),
        f.textarea(
            "Environment (one KEY=VALUE a line)",
            "Environment",
            "rows=\"4\""
        ),
        submit("Create model")
    );
    form_page("Create model", "models", f, &body)
}

pub async fn model_form(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let services = &state.services;
    let mut f = Form::default();
    if let Some(job) = q.get("training_job").filter(|j| !j.is_empty()) {
        match forms::sagemaker(
            services,
            "DescribeTrainingJob",
            json!({"TrainingJobName": job}),
        )
        .await
        {
            Ok(d) => {
                let text = |p: &str| d.pointer(p).and_then(Value::as_str).unwrap_or("");
                let taken = services.describe_model(job).await.is_ok();
                f.set_default(
                    "ModelName",
                    &if taken {
                        format!("{job}-model")
                    } else {
                        job.clone()
                    },
                );
                f.set_default("Image", text("/AlgorithmSpecification/TrainingImage"));
                f.set_default("ModelDataUrl", text("/ModelArtifacts/S3ModelArtifacts"));
                f.set_default("ExecutionRoleArn", text("/RoleArn"));
            }
            Err(e) => f.problem(None, format!("{}: {}", e.code, e.message)),
        }
    }
    f.set_default(
        "ExecutionRoleArn",
        &format!(
            "arn:aws:iam::{}:role/SageMakerRole",
            services.config().account_id
        ),
    );
    let mut r = model_page(&f);
    *r.status_mut() = StatusCode::OK;
    r
}

/// `KEY=VALUE` lines as a map; a line without `=` is the form's problem.
fn environment(f: &mut Form) -> Option<Map<String, Value>> {
    let text = f.value("Environment").to_string();
    let mut env = Map::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match line.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                env.insert(k.trim().to_string(), Value::String(v.to_string()));
            }
            _ => f.problem(
                Some("Environment"),
                format!("Line {} is not KEY=VALUE: {line}", i + 1),
            ),
        }
    }
    (!env.is_empty()).then_some(env)
}

pub async fn create_model(State(state): State<AppState>, req: Request) -> Response {
    let mut f = match read_form(req).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let mut container = Map::new();
    put_str(&mut container, "Image", &f, "Image");
    put_str(&mut container, "ModelDataUrl", &f, "ModelDataUrl");
    if let Some(env) = environment(&mut f) {
        container.insert("Environment".into(), Value::Object(env));
    }
    if f.has_problems() {
        return model_page(&f);
    }
    let mut members = Map::new();
    members.insert(
        "ModelName".into(),
        Value::String(f.value("ModelName").trim().to_string()),
    );
    members.insert("PrimaryContainer".into(), Value::Object(container));
    put_str(&mut members, "ExecutionRoleArn", &f, "ExecutionRoleArn");
    match forms::sagemaker(&state.services, "CreateModel", Value::Object(members)).await {
        Ok(_) => see_other(&format!(
            "{ROOT}models/{}",
            enc(f.value("ModelName").trim())
        )),
        Err(e) => {
            api_problems(&mut f, &e, MODEL_FIELDS, None);
            model_page(&f)
        }
    }
}

// ----- endpoint configurations -----

const CONFIG_FIELDS: &[Field] = &[
    field("EndpointConfigName", "endpointConfigName"),
    field("variant.*.ModelName", "productionVariants"),
    field("variant.*.VariantName", "productionVariants.variantName"),
    field("variant.*.ModelName", "productionVariants.modelName"),
    field("variant.*.InstanceType", "productionVariants.instanceType"),
    field(
        "variant.*.InitialInstanceCount",
        "productionVariants.initialInstanceCount",
    ),
    field(
        "variant.*.InitialVariantWeight",
        "productionVariants.initialVariantWeight",
    ),
    field(
        "variant.*.MemorySizeInMB",
        "productionVariants.serverlessConfig.memorySizeInMB",
    ),
    field(
        "variant.*.MaxConcurrency",
        "productionVariants.serverlessConfig.maxConcurrency",
    ),
];

/// The list position (1-based) a message's `at 'productionVariants.N…'` names.
fn variant_position(message: &str) -> Option<usize> {
    let rest = &message[message.find("at 'productionVariants.")? + 23..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn config_page(f: &Form, models: &[String]) -> Response {
    let mut rows = String::new();
    for i in 0..VARIANT_ROWS {
        let n = |s: &str| format!("variant.{i}.{s}");
        let serverless = if f.value(&n("Serverless")).is_empty() {
            ""
        } else {
            " checked"
        };
        put!(
            rows,
            "<fieldset class=\"variant\" data-row=\"{i}\"><legend>Variant {}</legend>{}{}{}{}{}<label class=\"check\"><input type=\"checkbox\" name=\"{s}\" id=\"field-{s}\" value=\"on\"{serverless}> Serverless (one instance here; no instance type or count)</label>{}{}{}</fieldset>",
            i + 1,
            f.input("Variant name", &n("VariantName"), ""),
            f.select(
                "Model",
                &n("ModelName"),
                &choices(
                    models,
                    f.value(&n("ModelName")),
                    Some(if i == 0 {
                        "(choose a model)"
                    } else {
                        "(none: leave this variant out)"
                    })
                )
            ),
            f.select(
                "Instance type",
                &n("InstanceType"),
                &instance_types(f.value(&n("InstanceType")))
            ),
            f.input(
                "Initial instance count",
                &n("InitialInstanceCount"),
                "type=\"number\" min=\"1\""
            ),
            f.input(
                "Initial weight",
                &n("InitialVariantWeight"),
                "type=\"number\" min=\"0\" step=\"any\""
            ),
            f.errors_for(&n("Serverless")),
            f.input(
                "Serverless memory (MB)",
                &n("MemorySizeInMB"),
                "type=\"number\" min=\"1024\" step=\"1024\""
            ),
            f.input(
                "Serverless max concurrency",
                &n("MaxConcurrency"),
                "type=\"number\" min=\"1\""
            ),
            s = n("Serverless")
        );
    }
    let mut body = f.form_errors();
    put!(
        body,
        "<form id=\"create-endpoint-config\" method=\"post\" action=\"{ROOT}create/endpoint-config\" class=\"panel\">{}{rows}<p class=\"note\">Data capture is not emulated by sagebox, so this form does not offer it.</p>{}</form>",
        f.input(
            "Endpoint configuration name",
            "EndpointConfigName",
            "required"
        ),
        submit("Create endpoint configuration")
    );
    form_page(
        "Create endpoint configuration",
        "endpoint-configs",
        f,
        &body,
    )
}

fn config_defaults(f: &mut Form) {
    for i in 0..VARIANT_ROWS {
        let n = |s: &str| format!("variant.{i}.{s}");
        if i == 0 {
            f.set_default(&n("VariantName"), "AllTraffic");
        }
        f.set_default(&n("InstanceType"), "ml.m5.large");
        f.set_default(&n("InitialInstanceCount"), "1");
        f.set_default(&n("InitialVariantWeight"), "1");
        f.set_default(&n("MemorySizeInMB"), "2048");
        f.set_default(&n("MaxConcurrency"), "5");
    }
}

pub async fn config_form(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let models = names(&state.services, ResourceKind::Model).await;
    let mut f = Form::default();
    if let Some(m) = q.get("model").filter(|m| !m.is_empty()) {
        f.set_default("variant.0.ModelName", m);
        f.set_default("EndpointConfigName", &format!("{m}-config"));
    }
    config_defaults(&mut f);
    config_page(&f, &models)
}

pub async fn create_config(State(state): State<AppState>, req: Request) -> Response {
    let mut f = match read_form(req).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let models = names(&state.services, ResourceKind::Model).await;
    // rows[k] is the form row of the (k+1)-th variant sent
    let mut rows = Vec::new();
    let mut variants = Vec::new();
    for i in 0..VARIANT_ROWS {
        let n = |s: &str| format!("variant.{i}.{s}");
        if f.given(&n("ModelName")).is_none() {
            continue;
        }
        let mut v = Map::new();
        put_str(&mut v, "VariantName", &f, &n("VariantName"));
        put_str(&mut v, "ModelName", &f, &n("ModelName"));
        if f.given(&n("Serverless")).is_some() {
            let mut s = Map::new();
            put_int(&mut s, "MemorySizeInMB", &mut f, &n("MemorySizeInMB"));
            put_int(&mut s, "MaxConcurrency", &mut f, &n("MaxConcurrency"));
            v.insert("ServerlessConfig".into(), Value::Object(s));
        } else {
            put_str(&mut v, "InstanceType", &f, &n("InstanceType"));
            put_int(
                &mut v,
                "InitialInstanceCount",
                &mut f,
                &n("InitialInstanceCount"),
            );
        }
        put_float(
            &mut v,
            "InitialVariantWeight",
            &mut f,
            &n("InitialVariantWeight"),
        );
        rows.push(i);
        variants.push(Value::Object(v));
    }
    if f.has_problems() {
        return config_page(&f, &models);
    }
    let name = f.value("EndpointConfigName").trim().to_string();
    let mut members = Map::new();
    members.insert("EndpointConfigName".into(), Value::String(name.clone()));
    if !variants.is_empty() {
        members.insert("ProductionVariants".into(), Value::Array(variants));
    }
    let err = match forms::sagemaker(
        &state.services,
        "CreateEndpointConfig",
        Value::Object(members),
    )
    .await
    {
        Ok(_) => return see_other(&format!("{ROOT}endpoint-configs/{}", enc(&name))),
        Err(e) => e,
    };
    // a missing model goes next to the row that names it
    if let Some(model) = missing(&err, "model") {
        let row = (0..VARIANT_ROWS)
            .find(|i| f.value(&format!("variant.{i}.ModelName")).trim() == model)
            .unwrap_or(0);
        api_problems(
            &mut f,
            &err,
            CONFIG_FIELDS,
            Some(&format!("variant.{row}.ModelName")),
        );
        return config_page(&f, &models);
    }
    for mut p in forms::problems(&err, CONFIG_FIELDS) {
        if let Some(fname) = p.field.as_deref().filter(|n| n.starts_with("variant.*.")) {
            let row = variant_position(&p.message)
                .and_then(|k| rows.get(k.wrapping_sub(1)).copied())
                .unwrap_or(0);
            p.field = Some(fname.replacen('*', &row.to_string(), 1));
        }
        f.problems.push(p);
    }
    config_page(&f, &models)
}

// ----- endpoints -----

const ENDPOINT_FIELDS: &[Field] = &[
    field("EndpointName", "endpointName"),
    field("EndpointConfigName", "endpointConfigName"),
];

fn endpoint_page(f: &Form, configs: &[String]) -> Response {
    let mut body = f.form_errors();
    put!(
        body,
        "<form id=\"create-endpoint\" method=\"post\" action=\"{ROOT}create/endpoint\" class=\"panel\">{}{}{}</form>",
        f.input("Endpoint name", "EndpointName", "required"),
        f.select(
            "Endpoint configuration",
            "EndpointConfigName",
            &choices(
                configs,
                f.value("EndpointConfigName"),
                Some("(choose a configuration)")
            )
        ),
        submit("Create endpoint")
    );
    form_page("Create endpoint", "endpoints", f, &body)
}

pub async fn endpoint_form(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let configs = names(&state.services, ResourceKind::EndpointConfig).await;
    let mut f = Form::default();
    if let Some(c) = q.get("config").filter(|c| !c.is_empty()) {
        f.set_default("EndpointConfigName", c);
        let stem = c.strip_suffix("-config").unwrap_or(c);
        f.set_default("EndpointName", &format!("{stem}-endpoint"));
    }
    endpoint_page(&f, &configs)
}

/// Where a service error about an endpoint call belongs.
fn endpoint_error_field(err: &ApiError) -> Option<&'static str> {
    if missing(err, "endpoint-config").is_some() {
        Some("EndpointConfigName")
    } else if err
        .message
        .contains("Cannot create already existing endpoint")
    {
        Some("EndpointName")
    } else {
        None
    }
}

pub async fn create_endpoint(State(state): State<AppState>, req: Request) -> Response {
    let mut f = match read_form(req).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let name = f.value("EndpointName").trim().to_string();
    let mut members = Map::new();
    members.insert("EndpointName".into(), Value::String(name.clone()));
    put_str(&mut members, "EndpointConfigName", &f, "EndpointConfigName");
    match forms::sagemaker(&state.services, "CreateEndpoint", Value::Object(members)).await {
        Ok(_) => see_other(&format!("{ROOT}endpoints/{}", enc(&name))),
        Err(e) => {
            api_problems(&mut f, &e, ENDPOINT_FIELDS, endpoint_error_field(&e));
            let configs = names(&state.services, ResourceKind::EndpointConfig).await;
            endpoint_page(&f, &configs)
        }
    }
}

fn update_page(f: &Form, name: &str, current: &str, configs: &[String]) -> Response {
    let opts: Vec<(String, String)> = choices(configs, f.value("EndpointConfigName"), None)
        .into_iter()
        .map(|(v, l)| {
            if v == current {
                (v, format!("{l} (current)"))
            } else {
                (v, l)
            }
        })
        .collect();
    let mut body = f.form_errors();
    put!(
        body,
        "<p>Endpoint <a href=\"{ROOT}endpoints/{}\">{}</a> runs configuration <b id=\"current-config\">{}</b>. Updating deploys the chosen configuration beside it and switches traffic once it serves.</p><form id=\"update-endpoint\" method=\"post\" action=\"{ROOT}endpoints/{}/update\" class=\"panel\">{}{}</form>",
        enc(name),
        esc(name),
        esc(current),
        enc(name),
        f.select("Endpoint configuration", "EndpointConfigName", &opts),
        submit("Update endpoint")
    );
    form_page(&format!("Update {name}"), "endpoints", f, &body)
}

/// The endpoint's current configuration, or None when there is no such endpoint.
async fn current_config(services: &Services, name: &str) -> Option<String> {
    let d = forms::sagemaker(services, "DescribeEndpoint", json!({"EndpointName": name}))
        .await
        .ok()?;
    Some(
        d.get("EndpointConfigName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    )
}

pub async fn update_form(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let Some(current) = current_config(&state.services, &name).await else {
        return not_found("endpoints", &format!("No endpoint named {name}."));
    };
    let configs = names(&state.services, ResourceKind::EndpointConfig).await;
    let mut f = Form::default();
    f.set_default("EndpointConfigName", &current);
    update_page(&f, &name, &current, &configs)
}

pub async fn update_endpoint(
    State(state): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let mut f = match read_form(req).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let Some(current) = current_config(&state.services, &name).await else {
        return not_found("endpoints", &format!("No endpoint named {name}."));
    };
    let mut members = Map::new();
    members.insert("EndpointName".into(), Value::String(name.clone()));
    put_str(&mut members, "EndpointConfigName", &f, "EndpointConfigName");
    match forms::sagemaker(&state.services, "UpdateEndpoint", Value::Object(members)).await {
        Ok(_) => see_other(&format!("{ROOT}endpoints/{}", enc(&name))),
        Err(e) => {
            let place = if e.message.contains(" at '") {
                None
            } else {
                Some("EndpointConfigName")
            };
            api_problems(&mut f, &e, ENDPOINT_FIELDS, place);
            let configs = names(&state.services, ResourceKind::EndpointConfig).await;
            update_page(&f, &name, &current, &configs)
        }
    }
}

// ----- transform jobs -----

const TRANSFORM_FIELDS: &[Field] = &[
    field("TransformJobName", "transformJobName"),
    field("ModelName", "modelName"),
    field("S3Uri", "transformInput"),
    field("S3Uri", "transformInput.dataSource.s3DataSource.s3Uri"),
    field("ContentType", "transformInput.contentType"),
    field("SplitType", "transformInput.splitType"),
    field("BatchStrategy", "batchStrategy"),
    field("OutputPath", "transformOutput"),
    field("OutputPath", "transformOutput.s3OutputPath"),
    field("Accept", "transformOutput.accept"),
    field("AssembleWith", "transformOutput.assembleWith"),
    field("InstanceType", "transformResources"),
    field("InstanceType", "transformResources.instanceType"),
    field("InstanceCount", "transformResources.instanceCount"),
];

fn transform_page(f: &Form, models: &[String], prefixes: &str) -> Response {
    let mut body = f.form_errors();
    put!(
        body,
        "<form id=\"create-transform-job\" method=\"post\" action=\"{ROOT}create/transform-job\" class=\"panel\">{}{}<h2>Input</h2>{}{}{}{}<h2>Output</h2>{}{}{}<h2>Resources</h2>{}{}{}</form>{prefixes}",
        f.input("Transform job name", "TransformJobName", "required"),
        f.select(
            "Model",
            "ModelName",
            &choices(models, f.value("ModelName"), Some("(choose a model)"))
        ),
        f.input(
            "Input S3 prefix",
            "S3Uri",
            "list=\"s3-prefixes\" placeholder=\"s3://bucket/prefix/\""
        ),
        f.input("Content type", "ContentType", ""),
        f.select(
            "Split type",
            "SplitType",
            &options(&["None", "Line", "RecordIO", "TFRecord"])
        ),
        f.select(
            "Batch strategy",
            "BatchStrategy",
            &options(&["MultiRecord", "SingleRecord"])
        ),
        f.input(
            "Output S3 path",
            "OutputPath",
            "list=\"s3-prefixes\" placeholder=\"s3://bucket/prefix/\""
        ),
        f.input("Accept", "Accept", "placeholder=\"text/csv\""),
        f.select("Assemble with", "AssembleWith", &options(&["None", "Line"])),
        f.select(
            "Instance type",
            "InstanceType",
            &instance_types(f.value("InstanceType"))
        ),
        f.input(
            "Instance count",
            "InstanceCount",
            "type=\"number\" min=\"1\""
        ),
        submit("Create transform job")
    );
    form_page("Create batch transform job", "transform-jobs", f, &body)
}

pub async fn transform_form(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let models = names(&state.services, ResourceKind::Model).await;
    let mut f = Form::default();
    if let Some(m) = q.get("model").filter(|m| !m.is_empty()) {
        f.set_default("ModelName", m);
        f.set_default("TransformJobName", &format!("{m}-transform"));
    }
    transform_defaults(&mut f);
    let prefixes = s3_prefixes(&state.services).await;
    transform_page(&f, &models, &prefixes)
}

fn transform_defaults(f: &mut Form) {
    f.set_default("ContentType", "text/csv");
    f.set_default("SplitType", "Line");
    f.set_default("BatchStrategy", "MultiRecord");
    f.set_default("AssembleWith", "Line");
    f.set_default("InstanceType", "ml.m5.large");
    f.set_default("InstanceCount", "1");
}

pub async fn create_transform(State(state): State<AppState>, req: Request) -> Response {
    let mut f = match read_form(req).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let name = f.value("TransformJobName").trim().to_string();
    let mut source = Map::new();
    source.insert("S3DataType".into(), json!("S3Prefix"));
    put_str(&mut source, "S3Uri", &f, "S3Uri");
    let mut input = Map::new();
    input.insert("DataSource".into(), json!({ "S3DataSource": source }));
    put_str(&mut input, "ContentType", &f, "ContentType");
    put_str(&mut input, "SplitType", &f, "SplitType");
    let mut output = Map::new();
    put_str(&mut output, "S3OutputPath", &f, "OutputPath");
    put_str(&mut output, "Accept", &f, "Accept");
    put_str(&mut output, "AssembleWith", &f, "AssembleWith");
    let mut resources = Map::new();
    put_str(&mut resources, "InstanceType", &f, "InstanceType");
    put_int(&mut resources, "InstanceCount", &mut f, "InstanceCount");
    let mut members = Map::new();
    members.insert("TransformJobName".into(), Value::String(name.clone()));
    put_str(&mut members, "ModelName", &f, "ModelName");
    put_str(&mut members, "BatchStrategy", &f, "BatchStrategy");
    members.insert("TransformInput".into(), Value::Object(input));
    members.insert("TransformOutput".into(), Value::Object(output));
    members.insert("TransformResources".into(), Value::Object(resources));
    let err = if f.has_problems() {
        None
    } else {
        match forms::sagemaker(
            &state.services,
            "CreateTransformJob",
            Value::Object(members),
        )
        .await
        {
            Ok(_) => return see_other(&format!("{ROOT}transform-jobs/{}", enc(&name))),
            Err(e) => Some(e),
        }
    };
    if let Some(e) = err {
        let place = missing(&e, "model").map(|_| "ModelName");
        api_problems(&mut f, &e, TRANSFORM_FIELDS, place);
    }
    let models = names(&state.services, ResourceKind::Model).await;
    let prefixes = s3_prefixes(&state.services).await;
    transform_page(&f, &models, &prefixes)
}

// ----- deletes -----

/// The confirmation page again, with the API's refusal above it.
fn delete_failed(section: &str, what: &str, name: &str, err: &ApiError) -> Response {
    let back = format!("{ROOT}{section}/{}", enc(name));
    let mut r = page(
        &format!("Delete {what}"),
        section,
        &format!(
            "<p class=\"error\" id=\"form-error\">{}: {}</p><form id=\"confirm-delete\" method=\"post\" action=\"{}/delete\" class=\"panel\"><p>Delete {} <b>{}</b>? This cannot be undone.</p><button id=\"confirm-delete-submit\" class=\"delete\" type=\"submit\">Delete</button> <a class=\"button\" href=\"{}\">Cancel</a></form>",
            esc(&err.code),
            esc(&err.message),
            esc(&back),
            esc(what),
            esc(name),
            esc(&back)
        ),
    );
    *r.status_mut() = StatusCode::BAD_REQUEST;
    r
}

/// GET: the confirmation step, when the resource exists.
async fn confirm(
    services: &Services,
    section: &str,
    what: &str,
    describe: (&'static str, &str),
    name: &str,
) -> Response {
    let (op, member) = describe;
    if forms::sagemaker(services, op, json!({ member: name }))
        .await
        .is_err()
    {
        return not_found(section, &format!("No {what} named {name}."));
    }
    let back = format!("{ROOT}{section}/{}", enc(name));
    forms::confirm_delete(section, what, name, &format!("{back}/delete"), &back)
}

/// POST: deletes through the API and goes back to the list.
async fn delete(
    services: &Services,
    section: &str,
    what: &str,
    call: (&'static str, &str),
    name: &str,
    req: Request,
) -> Response {
    if let Err(r) = form(req).await {
        return *r;
    }
    let (op, member) = call;
    match forms::sagemaker(services, op, json!({ member: name })).await {
        Ok(_) => see_other(&format!("{ROOT}{section}")),
        Err(e) => delete_failed(section, what, name, &e),
    }
}

pub async fn confirm_model(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    confirm(
        &state.services,
        "models",
        "model",
        ("DescribeModel", "ModelName"),
        &name,
    )
    .await
}

pub async fn delete_model(
    State(state): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    delete(
        &state.services,
        "models",
        "model",
        ("DeleteModel", "ModelName"),
        &name,
        req,
    )
    .await
}

pub async fn confirm_config(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    confirm(
        &state.services,
        "endpoint-configs",
        "endpoint configuration",
        ("DescribeEndpointConfig", "EndpointConfigName"),
        &name,
    )
    .await
}

pub async fn delete_config(
    State(state): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    delete(
        &state.services,
        "endpoint-configs",
        "endpoint configuration",
        ("DeleteEndpointConfig", "EndpointConfigName"),
        &name,
        req,
    )
    .await
}

pub async fn confirm_endpoint(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    confirm(
        &state.services,
        "endpoints",
        "endpoint",
        ("DescribeEndpoint", "EndpointName"),
        &name,
    )
    .await
}

pub async fn delete_endpoint(
    State(state): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    delete(
        &state.services,
        "endpoints",
        "endpoint",
        ("DeleteEndpoint", "EndpointName"),
        &name,
        req,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: &str, message: &str) -> ApiError {
        ApiError {
            code: code.into(),
            message: message.into(),
        }
    }

    #[test]
    fn a_missing_model_is_found_by_its_arn() {
        let e = err(
            "ValidationException",
            "Could not find model \"arn:aws:sagemaker:us-east-1:000000000000:model/m-1\".",
        );
        assert_eq!(missing(&e, "model").as_deref(), Some("m-1"));
        assert_eq!(missing(&e, "endpoint-config"), None);
        let other = err("ValidationException", "Something else about model/m-1\"");
        assert_eq!(missing(&other, "model"), None);
    }

    #[test]
    fn a_variant_error_names_its_list_position() {
        assert_eq!(
            variant_position(
                "Value 'a b' at 'productionVariants.2.member.variantName' failed to satisfy constraint"
            ),
            Some(2)
        );
        assert_eq!(variant_position("Value null at 'productionVariants'"), None);
    }

    #[test]
    fn environment_lines_become_a_map_and_bad_lines_problems() {
        let mut f = Form::new(HashMap::from([(
            "Environment".to_string(),
            "A=1\n\nB = x=y\nnot a pair".to_string(),
        )]));
        let env = environment(&mut f).unwrap();
        assert_eq!(env.get("A"), Some(&json!("1")));
        assert_eq!(env.get("B"), Some(&json!(" x=y")));
        assert_eq!(f.problems.len(), 1);
        assert_eq!(f.problems[0].field.as_deref(), Some("Environment"));
    }

    #[test]
    fn a_typed_value_stays_among_the_choices() {
        let c = choices(&["a".to_string()], "zz", Some("(none)"));
        assert_eq!(c.len(), 3);
        assert_eq!(c[2].0, "zz");
        assert_eq!(choices(&["a".to_string()], "a", None).len(), 1);
    }
}
