//! Which AWS host names the proxy answers itself: the endpoints of the services sagebox serves
//! (STS, IAM, SageMaker, SageMaker Runtime, the Feature Store Runtime, CloudWatch Logs, S3 with
//! its bucket virtual hosts), in the commercial, China and dual-stack (`api.aws`) domains. Every
//! other name is tunnelled.

/// The DNS suffixes AWS endpoints live under, longest first so `amazonaws.com.cn` wins.
const PARTITIONS: [&str; 3] = ["amazonaws.com.cn", "amazonaws.com", "api.aws"];

/// Whether `host` (no port) names an endpoint of a service sagebox serves.
pub fn served(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let Some(labels) = service_labels(&host) else {
        return false;
    };
    if s3_label(&labels).is_some() {
        return true;
    }
    match labels.as_slice() {
        // The global endpoints: sts.amazonaws.com, iam.amazonaws.com (and iam-fips).
        ["sts" | "iam" | "iam-fips"] => true,
        // Regional: sts.us-east-1, logs.eu-west-1, iam.cn-north-1 (China's IAM), with -fips.
        [service, region] => {
            is_region(region)
                && matches!(
                    *service,
                    "sts" | "sts-fips" | "logs" | "logs-fips" | "iam" | "iam-fips"
                )
        }
        // api.sagemaker.<region>, runtime.sagemaker.<region>, featurestore-runtime.sagemaker.
        // <region> (and their -fips forms).
        [front, "sagemaker", region] => {
            is_region(region)
                && matches!(
                    *front,
                    "api"
                        | "api-fips"
                        | "runtime"
                        | "runtime-fips"
                        | "featurestore-runtime"
                        | "featurestore-runtime-fips"
                )
        }
        _ => false,
    }
}

/// The bucket a virtual-hosted S3 request names in its Host (`<bucket>.s3.amazonaws.com`,
/// `<bucket>.s3.<region>.amazonaws.com`, `<bucket>.s3-<region>.amazonaws.com`, dual-stack), as
/// a prefix of `host`; `None` for S3's own endpoints (path style) and for every other host.
pub fn s3_virtual_bucket(host: &str) -> Option<&str> {
    let name = host.trim_end_matches('.');
    let lower = name.to_ascii_lowercase();
    let labels = service_labels(&lower)?;
    let at = s3_label(&labels)?;
    if at == 0 {
        return None;
    }
    // The bucket is the first `at` labels, dots included: its length in bytes.
    let len = labels[..at].iter().map(|l| l.len()).sum::<usize>() + at - 1;
    name.get(..len)
}

/// The labels in front of the partition's suffix (`["sts", "us-east-1"]`), if any.
fn service_labels(host: &str) -> Option<Vec<&str>> {
    let rest = PARTITIONS
        .iter()
        .find_map(|p| host.strip_suffix(p)?.strip_suffix('.'))?;
    let labels: Vec<&str> = rest.split('.').collect();
    if labels.iter().any(|l| l.is_empty()) {
        return None;
    }
    Some(labels)
}

/// Where S3's service label sits, when the labels name an S3 endpoint: `s3` (or `s3-fips`,
/// `s3-external-1`, `s3-<region>`), then optionally `dualstack`, then optionally a region,
/// and nothing else. Whatever precedes it is the bucket.
fn s3_label(labels: &[&str]) -> Option<usize> {
    let at = labels.iter().rposition(|l| {
        *l == "s3"
            || *l == "s3-fips"
            || *l == "s3-external-1"
            || l.strip_prefix("s3-").is_some_and(is_region)
    })?;
    let mut tail = &labels[at + 1..];
    if tail.first() == Some(&"dualstack") {
        tail = &tail[1..];
    }
    match tail {
        [] => Some(at),
        [region] if is_region(region) => Some(at),
        _ => None,
    }
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`: letters, dashes, a final number.
fn is_region(s: &str) -> bool {
    let Some((front, number)) = s.rsplit_once('-') else {
        return false;
    };
    !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && front.contains('-')
        && front
            .split('-')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_services_endpoints_are_answered() {
        for host in [
            "sts.amazonaws.com",
            "sts.us-east-1.amazonaws.com",
            "sts.eu-west-1.amazonaws.com",
            "sts-fips.us-east-1.amazonaws.com",
            "sts.cn-north-1.amazonaws.com.cn",
            "sts.us-east-1.api.aws",
            "iam.amazonaws.com",
            "iam.cn-north-1.amazonaws.com.cn",
            "api.sagemaker.us-east-1.amazonaws.com",
            "runtime.sagemaker.eu-west-1.amazonaws.com",
            "featurestore-runtime.sagemaker.us-east-1.amazonaws.com",
            "logs.us-west-2.amazonaws.com",
            "s3.amazonaws.com",
            "s3.us-east-1.amazonaws.com",
            "s3.dualstack.us-east-1.amazonaws.com",
            "s3-us-west-2.amazonaws.com",
            "my-bucket.s3.amazonaws.com",
            "my.dotted.bucket.s3.eu-west-1.amazonaws.com",
            "STS.US-EAST-1.AMAZONAWS.COM.",
        ] {
            assert!(served(host), "{host} should be served");
        }
    }

    #[test]
    fn other_hosts_are_tunnelled() {
        for host in [
            "pypi.org",
            "127.0.0.1",
            "amazonaws.com",
            "ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "sts.notaregion.amazonaws.com",
            "sts.us-east-1.amazonaws.com.evil.example",
            "evil-amazonaws.com",
            "sagemaker.us-east-1.amazonaws.com.example",
            "s3.amazonaws.com.example",
            "x.s3-control.us-east-1.amazonaws.com",
            "..s3.amazonaws.com",
        ] {
            assert!(!served(host), "{host} should be tunnelled");
        }
    }

    #[test]
    fn virtual_hosted_buckets_are_read_from_the_host() {
        assert_eq!(s3_virtual_bucket("data.s3.amazonaws.com"), Some("data"));
        assert_eq!(
            s3_virtual_bucket("my.dotted.bucket.s3.eu-west-1.amazonaws.com"),
            Some("my.dotted.bucket")
        );
        assert_eq!(
            s3_virtual_bucket("data.s3.dualstack.us-east-1.amazonaws.com"),
            Some("data")
        );
        assert_eq!(
            s3_virtual_bucket("data.s3-us-west-2.amazonaws.com"),
            Some("data")
        );
        assert_eq!(s3_virtual_bucket("s3.amazonaws.com"), None);
        assert_eq!(s3_virtual_bucket("s3.us-east-1.amazonaws.com"), None);
        assert_eq!(s3_virtual_bucket("data.localhost"), None);
        assert_eq!(s3_virtual_bucket("sts.us-east-1.amazonaws.com"), None);
    }
}
