//! The model registry on the wire. SKELETON: being written.

use super::Answer;
use crate::service::{Request, ServiceError, Services};

pub(super) async fn create_model_package_group(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "CreateModelPackageGroup is being written".into(),
    ))
}

pub(super) async fn describe_model_package_group(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "DescribeModelPackageGroup is being written".into(),
    ))
}

pub(super) async fn list_model_package_groups(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "ListModelPackageGroups is being written".into(),
    ))
}

pub(super) async fn delete_model_package_group(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "DeleteModelPackageGroup is being written".into(),
    ))
}

pub(super) async fn create_model_package(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "CreateModelPackage is being written".into(),
    ))
}

pub(super) async fn describe_model_package(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "DescribeModelPackage is being written".into(),
    ))
}

pub(super) async fn list_model_packages(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "ListModelPackages is being written".into(),
    ))
}

pub(super) async fn update_model_package(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "UpdateModelPackage is being written".into(),
    ))
}

pub(super) async fn delete_model_package(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "DeleteModelPackage is being written".into(),
    ))
}

pub(super) async fn batch_describe_model_package(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "BatchDescribeModelPackage is being written".into(),
    ))
}
