//! Buckets: create, head, list, delete, location, versioning (never enabled) and bucket tags.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::*;

/// S3 names buckets 3–63 characters of lowercase letters, digits, dots and hyphens, starting and
/// ending with a letter or digit, not shaped like an IP address, and without the prefixes and
/// suffixes S3 reserves (access point aliases, Object Lambda, directory and table buckets…).
pub(crate) fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
        && !RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
        && !RESERVED_SUFFIXES.iter().any(|x| name.ends_with(x))
}

const RESERVED_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
const RESERVED_SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

impl S3Api {
    pub(super) async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let region = req
            .input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            .map(|l| l.as_str().to_string());
        let bucket = req.input.bucket;
        if !valid_bucket_name(&bucket) {
            return Err(s3_error!(
                InvalidBucketName,
                "The specified bucket is not valid."
            ));
        }
        match self.objects.create_bucket(&bucket, region.as_deref()).await {
            Ok(()) => {}
            // S3's legacy rule for us-east-1: creating a bucket you already own there succeeds.
            Err(ObjectError::BucketAlreadyOwnedByYou)
                if region.as_deref().is_none_or(|r| r == "us-east-1")
                    && self
                        .objects
                        .bucket(&bucket)
                        .await
                        .is_ok_and(|b| b.region == "us-east-1") => {}
            Err(e) => return Err(map_err(e)),
        }
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{bucket}")),
        }))
    }

    pub(super) async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let b = self
            .objects
            .bucket(&req.input.bucket)
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(b.region),
            ..Default::default()
        }))
    }

    /// Buckets in name order; `MaxBuckets` pages them, the continuation token being the last
    /// name of the page before.
    pub(super) async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let input = req.input;
        let max = match input.max_buckets {
            Some(n) if !(1..=10_000).contains(&n) => {
                return Err(s3_error!(
                    InvalidArgument,
                    "Argument max-buckets must be an integer between 1 and 10000"
                ));
            }
            Some(n) => n as usize,
            None => usize::MAX,
        };
        let after = match &input.continuation_token {
            Some(t) => Some(super::listing::decode_token(t)?),
            None => None,
        };
        let mut buckets = self.objects.list_buckets().await.map_err(map_err)?;
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        let prefix = input.prefix.as_deref().unwrap_or("");
        let region = input.bucket_region.as_deref();
        let mut matching = buckets.into_iter().filter(|b| {
            b.name.starts_with(prefix)
                && after.as_ref().is_none_or(|a| b.name > *a)
                && region.is_none_or(|r| b.region == r)
        });
        let page: Vec<_> = matching.by_ref().take(max).collect();
        let more = matching.next().is_some();
        let continuation_token = more
            .then(|| page.last().map(|b| super::listing::encode_token(&b.name)))
            .flatten();
        let buckets = page
            .into_iter()
            .map(|b| Bucket {
                name: Some(b.name),
                creation_date: Some(timestamp(b.created)),
                bucket_region: Some(b.region),
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner()),
            continuation_token,
            prefix: input.prefix,
        }))
    }

    pub(super) async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.objects
            .delete_bucket(&req.input.bucket)
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    pub(super) async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let b = self
            .objects
            .bucket(&req.input.bucket)
            .await
            .map_err(map_err)?;
        // us-east-1 is reported as an empty LocationConstraint.
        let location_constraint =
            (b.region != "us-east-1").then(|| BucketLocationConstraint::from(b.region));
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint,
        }))
    }

    pub(super) async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        self.objects
            .bucket(&req.input.bucket)
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(GetBucketVersioningOutput::default()))
    }

    pub(super) async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let tags = self
            .objects
            .bucket_tags(&req.input.bucket)
            .await
            .map_err(map_err)?;
        if tags.is_empty() {
            let mut e = S3Error::with_message(
                S3ErrorCode::Custom("NoSuchTagSet".into()),
                "The TagSet does not exist",
            );
            e.set_status_code(http::StatusCode::NOT_FOUND);
            return Err(e);
        }
        let tag_set = tag_set(tags);
        Ok(S3Response::new(GetBucketTaggingOutput { tag_set }))
    }

    pub(super) async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let input = req.input;
        let tags = tags_of(input.tagging);
        check_tags(&tags, 50)?;
        self.objects
            .set_bucket_tags(&input.bucket, tags)
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(PutBucketTaggingOutput::default()))
    }

    pub(super) async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.objects
            .set_bucket_tags(&req.input.bucket, Vec::new())
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(DeleteBucketTaggingOutput::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in ["abc", "my-bucket.data", "a1b"] {
            assert!(valid_bucket_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            "Abc",
            "-abc",
            "abc-",
            "a..b",
            "192.168.0.1",
            "a_b",
            &"x".repeat(64),
            "data-s3alias",
            "xn--bucket",
            "sthree-bucket",
            "lambda--ol-s3",
            "dir--x-s3",
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }
}
