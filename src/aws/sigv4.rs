//! SigV4 credential scope, read from the `Authorization` header or a presigned URL's
//! `X-Amz-Credential`. The gateway uses the scope's service name to route requests whose
//! protocol alone is ambiguous (STS and IAM both speak the query protocol).

use axum::http::HeaderMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    pub access_key: String,
    pub region: String,
    pub service: String,
}

/// `AKID/20260101/us-east-1/sagemaker/aws4_request` → scope.
fn parse_credential(cred: &str) -> Option<CredentialScope> {
    let mut it = cred.split('/');
    let access_key = it.next()?.to_string();
    let _date = it.next()?;
    let region = it.next()?.to_string();
    let service = it.next()?.to_string();
    Some(CredentialScope {
        access_key,
        region,
        service,
    })
}

pub fn credential_scope(headers: &HeaderMap, query: Option<&str>) -> Option<CredentialScope> {
    if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let rest = auth.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
        return rest
            .split(',')
            .find_map(|p| p.trim().strip_prefix("Credential="))
            .and_then(parse_credential);
    }
    let query = query?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "X-Amz-Credential")
        .and_then(|(_, v)| parse_credential(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scope_from_header_and_presigned_query() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/sts/aws4_request, SignedHeaders=host, Signature=00"
                .parse()
                .unwrap(),
        );
        let s = credential_scope(&h, None).unwrap();
        assert_eq!(
            (s.access_key.as_str(), s.region.as_str(), s.service.as_str()),
            ("AKID", "eu-west-1", "sts")
        );
        let q = "X-Amz-Credential=K%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=x";
        assert_eq!(
            credential_scope(&HeaderMap::new(), Some(q))
                .unwrap()
                .service,
            "s3"
        );
    }
}
