//! S3 in the browser: buckets, prefix browsing, object details, download, delete, and uploads in
//! parts (the script sends 8 MiB parts with a progress bar) through the object store's multipart
//! API, so large files never sit whole in memory.

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::forms::{Form, form_page};
use super::{ROOT, enc, error_page, esc, form, not_found, page, same_origin, see_other, when};
use crate::AppState;
use crate::service::objects::{CompletedPart, Completion, ListRequest};
use crate::store::objects::ObjectMeta;

const SECTION: &str = "s3";
type Params = Query<std::collections::HashMap<String, String>>;

pub async fn buckets(State(state): State<AppState>) -> Response {
    buckets_page(&state, &Form::default()).await
}

/// The bucket list and the "Create bucket" form (`form` holds what was typed and its errors).
async fn buckets_page(state: &AppState, form: &Form) -> Response {
    let list = state
        .services
        .objects()
        .list_buckets()
        .await
        .unwrap_or_default();
    let mut t = String::from(
        "<table id=\"list\"><thead><tr><th>Bucket</th><th>Region</th><th>Created</th></tr></thead><tbody>",
    );
    for b in &list {
        put!(
            t,
            "<tr data-name=\"{n}\"><td><a href=\"{ROOT}s3/{u}\">{n}</a></td><td>{}</td><td>{}</td></tr>",
            esc(&b.region),
            when(Some(&json!(b.created))),
            n = esc(&b.name),
            u = enc(&b.name)
        );
    }
    t.push_str("</tbody></table>");
    if list.is_empty() {
        t.push_str("<p class=\"empty\">No buckets yet.</p>");
    }
    put!(
        t,
        "<form id=\"create-bucket\" method=\"post\" action=\"{ROOT}s3\" class=\"panel\"><h2>Create bucket</h2>{}{}<button id=\"create-submit\" type=\"submit\">Create bucket</button></form>",
        form.form_errors(),
        form.input("Bucket name", "Bucket", "required maxlength=\"63\"")
    );
    form_page("S3 buckets", SECTION, form, &t)
}

/// "Create bucket": S3's naming rules and its errors, shown next to the name.
pub async fn create_bucket(State(state): State<AppState>, req: Request) -> Response {
    let (_, f) = match form(req).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let mut form = Form::new(f);
    let name = form.value("Bucket").trim().to_string();
    if !crate::api::s3::valid_bucket_name(&name) {
        form.problem(
            Some("Bucket"),
            "InvalidBucketName: The specified bucket is not valid. Bucket names are 3 to 63 lowercase letters, digits, dots and hyphens, beginning and ending with a letter or digit.",
        );
        return buckets_page(&state, &form).await;
    }
    match state.services.objects().create_bucket(&name, None).await {
        Ok(()) => see_other(&format!("{ROOT}s3/{}", enc(&name))),
        Err(e) => {
            form.problem(Some("Bucket"), format!("{e:?}: {e}"));
            buckets_page(&state, &form).await
        }
    }
}

fn breadcrumbs(bucket: &str, prefix: &str) -> String {
    let mut out = format!(
        "<p class=\"crumbs\"><a href=\"{ROOT}s3\">S3</a> / <a href=\"{ROOT}s3/{}\">{}</a>",
        enc(bucket),
        esc(bucket)
    );
    let mut acc = String::new();
    for part in prefix.split_inclusive('/') {
        acc.push_str(part);
        put!(
            out,
            " / <a href=\"{ROOT}s3/{}?prefix={}\">{}</a>",
            enc(bucket),
            enc(&acc),
            esc(part.trim_end_matches('/'))
        );
    }
    out.push_str("</p>");
    out
}

pub async fn listing(
    State(state): State<AppState>,
    Path(bucket): Path<String>,
    Query(q): Params,
) -> Response {
    let objects = state.services.objects();
    if objects.bucket(&bucket).await.is_err() {
        return not_found(SECTION, &format!("No bucket named {bucket}."));
    }
    let prefix = q.get("prefix").cloned().unwrap_or_default();
    let after = q.get("after").cloned().unwrap_or_default();
    let listing = match objects
        .list(&ListRequest {
            bucket: bucket.clone(),
            prefix: prefix.clone(),
            delimiter: Some("/".into()),
            after,
            max_keys: 500,
        })
        .await
    {
        Ok(l) => l,
        Err(e) => return error_page(SECTION, &e.to_string()),
    };
    let b = enc(&bucket);
    let mut body = breadcrumbs(&bucket, &prefix);
    body.push_str("<table id=\"list\"><thead><tr><th>Key</th><th>Size</th><th>Last modified</th></tr></thead><tbody>");
    for p in &listing.common_prefixes {
        put!(
            body,
            "<tr><td colspan=\"3\"><a class=\"prefix\" href=\"{ROOT}s3/{b}?prefix={}\">{}</a></td></tr>",
            enc(p),
            esc(p.strip_prefix(prefix.as_str()).unwrap_or(p))
        );
    }
    for o in &listing.objects {
        put!(
            body,
            "<tr data-key=\"{k}\"><td><a href=\"{ROOT}s3/{b}/object?key={}\">{}</a></td><td>{}</td><td>{}</td></tr>",
            enc(&o.key),
            esc(o.key.strip_prefix(prefix.as_str()).unwrap_or(&o.key)),
            o.size,
            when(Some(&json!(o.last_modified))),
            k = esc(&o.key)
        );
    }
    body.push_str("</tbody></table>");
    if listing.objects.is_empty() && listing.common_prefixes.is_empty() {
        body.push_str("<p class=\"empty\">Nothing here.</p>");
    }
    if listing.is_truncated
        && let Some(last) = &listing.last
    {
        put!(
            body,
            "<p><a href=\"{ROOT}s3/{b}?prefix={}&amp;after={}\">More…</a></p>",
            enc(&prefix),
            enc(last)
        );
    }
    put!(
        body,
        "<div id=\"upload\" class=\"panel\" data-bucket=\"{}\" data-prefix=\"{}\" data-action=\"{ROOT}s3/{b}/uploads\"><h2>Upload</h2><label for=\"upload-folder\">Into folder (optional)</label><input id=\"upload-folder\" placeholder=\"train/\"> <input id=\"upload-file\" type=\"file\"> <button id=\"upload-submit\" type=\"button\">Upload</button> <progress id=\"upload-progress\" max=\"100\" value=\"0\"></progress> <span id=\"upload-status\"></span><noscript><p>Uploading needs JavaScript (or use aws s3 cp).</p></noscript></div>",
        esc(&bucket),
        esc(&prefix)
    );
    page(&bucket, SECTION, &body)
}

pub async fn object(
    State(state): State<AppState>,
    Path(bucket): Path<String>,
    Query(q): Params,
) -> Response {
    let key = q.get("key").cloned().unwrap_or_default();
    let Ok((row, _)) = state.services.objects().object(&bucket, &key).await else {
        return not_found(SECTION, &format!("No object {key} in bucket {bucket}."));
    };
    let b = enc(&bucket);
    let mut d = format!(
        "{}<dl id=\"details\"><dt>Key</dt><dd>{}</dd><dt>Size</dt><dd>{} bytes</dd><dt>ETag</dt><dd>{}</dd><dt>Last modified</dt><dd>{}</dd><dt>Content type</dt><dd>{}</dd>",
        breadcrumbs(
            &bucket,
            key.rsplit_once('/')
                .map(|(p, _)| format!("{p}/"))
                .as_deref()
                .unwrap_or("")
        ),
        esc(&row.key),
        row.size,
        esc(&row.etag),
        when(Some(&json!(row.last_modified))),
        esc(row
            .meta
            .content_type
            .as_deref()
            .unwrap_or("binary/octet-stream"))
    );
    for (k, v) in &row.meta.user {
        put!(d, "<dt>x-amz-meta-{}</dt><dd>{}</dd>", esc(k), esc(v));
    }
    for (k, v) in &row.meta.checksums {
        put!(d, "<dt>Checksum {}</dt><dd>{}</dd>", esc(k), esc(v));
    }
    for (k, v) in &row.meta.tags {
        put!(d, "<dt>Tag {}</dt><dd>{}</dd>", esc(k), esc(v));
    }
    put!(
        d,
        "</dl><p><a id=\"download\" class=\"button\" href=\"{ROOT}s3/{b}/download?key={k}\">Download</a></p><form method=\"post\" action=\"{ROOT}s3/{b}/delete\"><input type=\"hidden\" name=\"key\" value=\"{}\"><button class=\"delete\" type=\"submit\">Delete</button></form>",
        esc(&row.key),
        k = enc(&row.key)
    );
    page(&key, SECTION, &d)
}

pub async fn download(
    State(state): State<AppState>,
    Path(bucket): Path<String>,
    Query(q): Params,
) -> Response {
    let key = q.get("key").cloned().unwrap_or_default();
    let Ok((row, path)) = state.services.objects().object(&bucket, &key).await else {
        return not_found(SECTION, &format!("No object {key} in bucket {bucket}."));
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => return error_page(SECTION, &e.to_string()),
    };
    let filename = key.rsplit('/').next().unwrap_or("download");
    Response::builder()
        .header(
            header::CONTENT_TYPE,
            row.meta
                .content_type
                .as_deref()
                .unwrap_or("application/octet-stream"),
        )
        .header(header::CONTENT_LENGTH, row.size)
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename*=UTF-8''{}", enc(filename)),
        )
        .body(Body::from_stream(tokio_util::io::ReaderStream::new(file)))
        .unwrap_or_default()
}

pub async fn delete(
    State(state): State<AppState>,
    Path(bucket): Path<String>,
    req: Request,
) -> Response {
    let (_, f) = match form(req).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let key = f.get("key").cloned().unwrap_or_default();
    match state.services.objects().delete_object(&bucket, &key).await {
        Ok(()) => {
            let prefix = key
                .rsplit_once('/')
                .map(|(p, _)| format!("{p}/"))
                .unwrap_or_default();
            see_other(&format!(
                "{ROOT}s3/{}?prefix={}",
                enc(&bucket),
                enc(&prefix)
            ))
        }
        Err(e) => error_page(SECTION, &e.to_string()),
    }
}

fn json_error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// Starts an upload of `key`: `{"uploadId"}`.
pub async fn upload_start(
    State(state): State<AppState>,
    Path(bucket): Path<String>,
    Query(q): Params,
    req: Request,
) -> Response {
    if let Err(r) = same_origin(req.headers()) {
        return *r;
    }
    let Some(key) = q.get("key").filter(|k| !k.is_empty()) else {
        return json_error(StatusCode::BAD_REQUEST, "key is required".into());
    };
    let meta = ObjectMeta {
        content_type: q.get("contentType").filter(|c| !c.is_empty()).cloned(),
        ..Default::default()
    };
    match state
        .services
        .objects()
        .create_upload(&bucket, key, meta, (None, None))
        .await
    {
        Ok((id, _)) => axum::Json(json!({ "uploadId": id })).into_response(),
        Err(e) => json_error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// The upload a script's request names (`?key=`), after the same-origin check.
async fn named_upload(
    state: &AppState,
    bucket: &str,
    id: &str,
    q: &std::collections::HashMap<String, String>,
    headers: &axum::http::HeaderMap,
) -> Result<crate::store::objects::Upload, Response> {
    if let Err(r) = same_origin(headers) {
        return Err(*r);
    }
    let key = q.get("key").cloned().unwrap_or_default();
    state
        .services
        .objects()
        .upload(bucket, &key, id)
        .await
        .map_err(|e| json_error(StatusCode::NOT_FOUND, e.to_string()))
}

/// One part (`?key=&part=N`), streamed to disk: `{"etag"}`.
pub async fn upload_part(
    State(state): State<AppState>,
    Path((bucket, id)): Path<(String, String)>,
    Query(q): Params,
    req: Request,
) -> Response {
    let Some(number) = q
        .get("part")
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|n| (1..=10_000).contains(n))
    else {
        return json_error(StatusCode::BAD_REQUEST, "part must be 1..10000".into());
    };
    let upload = match named_upload(&state, &bucket, &id, &q, req.headers()).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let objects = state.services.objects();
    let body = req
        .into_body()
        .into_data_stream()
        .map(|r| r.map_err(|e| e.to_string()));
    let staged = match objects.stage(Box::pin(body), &[]).await {
        Ok(s) => s,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match objects.commit_part(&upload, number, staged).await {
        Ok(etag) => axum::Json(json!({ "etag": etag })).into_response(),
        Err(e) => json_error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// Completes an upload from `{"parts": [[number, etag], ...]}`.
pub async fn upload_complete(
    State(state): State<AppState>,
    Path((bucket, id)): Path<(String, String)>,
    Query(q): Params,
    req: Request,
) -> Response {
    let upload = match named_upload(&state, &bucket, &id, &q, req.headers()).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let objects = state.services.objects();
    let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let parsed: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let parts: Vec<CompletedPart> = parsed
        .get("parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some(CompletedPart {
                number: p.get(0)?.as_i64()?,
                etag: p.get(1)?.as_str()?.to_string(),
                ..Default::default()
            })
        })
        .collect();
    let completion = Completion {
        parts,
        ..Default::default()
    };
    match objects.complete_upload(&upload, &completion).await {
        Ok(row) => axum::Json(json!({ "key": row.key, "size": row.size, "etag": row.etag }))
            .into_response(),
        Err(e) => json_error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}
