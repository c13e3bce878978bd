//! Multipart uploads: create, upload part (and part copy), complete, abort, and the part and upload
//! listings. ETags of completed uploads are S3's: the MD5 of the parts' MD5s, then `-N`.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use std::collections::BTreeMap;

use super::checksums::{checksum_fields, sent_checksums};
use super::*;
use crate::service::objects::{CompletedPart, Completion};
use crate::store::objects::ObjectRow;

/// The checksums a request carries, by algorithm.
fn sent_map(sent: [(&str, Option<String>); 5]) -> BTreeMap<String, String> {
    sent.into_iter()
        .filter_map(|(a, v)| Some((a.to_string(), v?)))
        .collect()
}

/// CompleteMultipartUpload's answer for the object it made.
fn completed(row: ObjectRow) -> CompleteMultipartUploadOutput {
    let [crc32, crc32c, sha1, sha256, crc64nvme] = checksum_fields(&row.meta.checksums);
    CompleteMultipartUploadOutput {
        location: Some(format!("/{}/{}", row.bucket, row.key)),
        e_tag: Some(etag(&row.etag)),
        checksum_type: row.meta.checksum_type.map(ChecksumType::from),
        checksum_crc32: crc32,
        checksum_crc32c: crc32c,
        checksum_sha1: sha1,
        checksum_sha256: sha256,
        checksum_crc64nvme: crc64nvme,
        bucket: Some(row.bucket),
        key: Some(row.key),
        ..Default::default()
    }
}

impl S3Api {
    pub(super) async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        let algorithm = input.checksum_algorithm.clone();
        let requested_type = input.checksum_type.as_ref().map(|t| t.as_str().to_string());
        let meta = object_meta!(input)?;
        let (upload_id, checksum_type) = self
            .objects
            .create_upload(
                &input.bucket,
                &input.key,
                meta,
                (
                    algorithm.as_ref().map(|a| a.as_str()),
                    requested_type.as_deref(),
                ),
            )
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            checksum_algorithm: algorithm,
            checksum_type: checksum_type.map(ChecksumType::from_static),
            ..Default::default()
        }))
    }

    pub(super) async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let trailers = req
            .extensions
            .get::<crate::api::s3::anonymous::Trailers>()
            .cloned();
        let verdict = req
            .extensions
            .get::<crate::api::s3::payload::PayloadVerdict>()
            .cloned();
        let input = req.input;
        let Some(mut body) = input.body else {
            return Err(s3_error!(IncompleteBody));
        };
        if !(1..=10_000).contains(&input.part_number) {
            drain(&mut body).await;
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        let upload = match self
            .objects
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await
        {
            Ok(u) => u,
            Err(e) => {
                drain(&mut body).await;
                return Err(map_err(e));
            }
        };
        let upload_algorithm = upload
            .meta
            .checksum_algorithm
            .clone()
            .map(ChecksumAlgorithm::from);
        let sent = sent_checksums!(input);
        let staged = self
            .stage_checked(
                body,
                Some((
                    &upload,
                    i64::from(input.part_number),
                    input.content_length.and_then(|l| u64::try_from(l).ok()),
                )),
                &req.headers,
                trailers,
                verdict,
                // Every part of an upload that named an algorithm gets that checksum.
                input
                    .checksum_algorithm
                    .as_ref()
                    .or(upload_algorithm.as_ref()),
                &sent,
                input.content_md5.as_deref(),
            )
            .await?;
        let checksums = staged.checksums.clone();
        let e = self
            .objects
            .commit_part(&upload, i64::from(input.part_number), staged)
            .await
            .map_err(map_err)?;
        let [crc32, crc32c, sha1, sha256, crc64nvme] = checksum_fields(&checksums);
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(etag(&e)),
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            checksum_crc64nvme: crc64nvme,
            ..Default::default()
        }))
    }

    pub(super) async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let parts: Vec<CompletedPart> = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let etag = match p.e_tag {
                    Some(ETag::Strong(s) | ETag::Weak(s)) => s,
                    _ => String::new(),
                };
                let sent = sent_checksums!(p);
                CompletedPart {
                    number: i64::from(p.part_number.unwrap_or(0)),
                    etag,
                    checksums: sent_map(sent),
                }
            })
            .collect();
        let upload = match self
            .objects
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await
        {
            Ok(u) => u,
            Err(ObjectError::NoSuchUpload) => {
                // A repeated Complete of an upload that finished gets the first answer.
                let done = self
                    .objects
                    .completed_before(&input.bucket, &input.key, &parts)
                    .await
                    .map_err(map_err)?;
                return match done {
                    Some(row) => Ok(S3Response::new(completed(row))),
                    None => Err(map_err(ObjectError::NoSuchUpload)),
                };
            }
            Err(e) => return Err(map_err(e)),
        };
        self.write_preconditions(
            &input.bucket,
            &input.key,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
        )
        .await?;
        let completion = Completion {
            parts,
            checksums: sent_map(sent_checksums!(input)),
        };
        let row = self
            .objects
            .complete_upload(&upload, &completion)
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(completed(row)))
    }

    pub(super) async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let upload = self
            .objects
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(map_err)?;
        self.objects.abort_upload(&upload).await.map_err(map_err)?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(super) async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let upload = self
            .objects
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(map_err)?;
        let marker = input.part_number_marker.unwrap_or(0);
        let max = input.max_parts.unwrap_or(1000).clamp(1, 1000) as usize;
        let all: Vec<_> = self
            .objects
            .parts(&upload)
            .await
            .map_err(map_err)?
            .into_iter()
            .filter(|p| p.number > i64::from(marker))
            .collect();
        let truncated = all.len() > max;
        let page: Vec<_> = all.into_iter().take(max).collect();
        let next = page.last().map(|p| p.number as i32);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: if truncated { next } else { None },
            max_parts: Some(max as i32),
            is_truncated: Some(truncated),
            parts: Some(
                page.into_iter()
                    .map(|p| Part {
                        part_number: Some(p.number as i32),
                        e_tag: Some(etag(&p.etag)),
                        size: Some(p.size as i64),
                        last_modified: Some(timestamp(p.modified)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    pub(super) async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let uploads = self
            .objects
            .list_uploads(&input.bucket, &prefix)
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            is_truncated: Some(false),
            max_uploads: Some(1000),
            uploads: Some(
                uploads
                    .into_iter()
                    .map(|u| MultipartUpload {
                        key: Some(u.key),
                        upload_id: Some(u.upload_id),
                        initiated: Some(timestamp(u.created)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    pub(super) async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = req.input;
        if !(1..=10_000).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        let upload = self
            .objects
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(map_err)?;
        let (src_bucket, src_key) = copy_source(&input.copy_source)?;
        let (src, path) = self
            .objects
            .object(&src_bucket, &src_key)
            .await
            .map_err(map_err)?;
        let (start, len) = match input.copy_source_range.as_deref() {
            None => (0, src.size),
            Some(r) => {
                let parsed = r
                    .strip_prefix("bytes=")
                    .and_then(|r| r.split_once('-'))
                    .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
                    .filter(|(a, b)| a <= b);
                let (a, b) = parsed.ok_or_else(|| {
                    s3_error!(InvalidArgument, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
                })?;
                if b >= src.size {
                    return Err(s3_error!(
                        InvalidRange,
                        "The requested range is not satisfiable"
                    ));
                }
                (a, b - a + 1)
            }
        };
        let staged = self
            .objects
            .stage_range(&path, start, len, upload.meta.checksum_algorithm.as_deref())
            .await
            .map_err(map_err)?;
        let e = self
            .objects
            .commit_part(&upload, i64::from(input.part_number), staged)
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(etag(&e)),
                last_modified: Some(timestamp(crate::aws::time::now_epoch())),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }
}
