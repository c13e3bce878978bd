//! The notebook instances' status saves on the fake engine: NOTEBOOK_STATUS is consulted by the
//! code that writes a status, so a move it lacks leaves the stored status as it was.

use std::sync::Arc;

use serde_json::{Map, json};

use super::KIND;
use super::supervise::save_logged;
use crate::aws::model::typed::sagemaker::{
    NotebookInstanceStatus as S, UpdateNotebookInstanceInput,
};
use crate::runtime::fake::{FakeEngine, services};
use crate::service::{ServiceError, Services};

/// A notebook instance row named `name` in `status`, as the notebook code would have left it.
async fn instance(s: &Services, name: &str, status: S) {
    s.create_resource(
        KIND,
        name,
        Map::new(),
        json!({"VolumeSizeInGB": 5}),
        Some(status.as_str()),
    )
    .await
    .expect("instance row");
}

async fn status(s: &Services, name: &str) -> Option<S> {
    s.describe_notebook_instance(name)
        .await
        .expect("describe")
        .status
}

#[tokio::test]
async fn an_illegal_status_move_is_refused_and_the_status_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = services(dir.path(), &Arc::new(FakeEngine::default()));
    instance(&s, "going", S::Deleting).await;
    let refused = s.save_notebook("going", S::InService, |_| {}).await;
    assert!(
        matches!(&refused, Err(ServiceError::Internal(m))
            if m == "notebook instance going: no move from Deleting to InService"),
        "{refused:?}"
    );
    assert!(!save_logged(&s, "going", S::Stopped, |_| {}).await);
    assert_eq!(status(&s, "going").await, Some(S::Deleting));

    instance(&s, "serving", S::InService).await;
    assert!(save_logged(&s, "serving", S::Failed, |_| {}).await);
    assert_eq!(status(&s, "serving").await, Some(S::Failed));
}

#[tokio::test]
async fn updating_a_failed_instance_leaves_it_stopped_with_the_new_settings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = services(dir.path(), &Arc::new(FakeEngine::default()));
    instance(&s, "nb", S::Failed).await;
    s.update_notebook_instance(UpdateNotebookInstanceInput {
        notebook_instance_name: Some("nb".into()),
        volume_size_in_gb: Some(8),
        instance_type: Some("ml.t3.large".into()),
        ..Default::default()
    })
    .await
    .expect("update");
    let nb = s.describe_notebook_instance("nb").await.expect("describe");
    assert_eq!(nb.status, Some(S::Stopped));
    assert_eq!(nb.record.derived["VolumeSizeInGB"], 8);
    assert_eq!(nb.record.derived["InstanceType"], "ml.t3.large");
    let shrink = s
        .update_notebook_instance(UpdateNotebookInstanceInput {
            notebook_instance_name: Some("nb".into()),
            volume_size_in_gb: Some(6),
            ..Default::default()
        })
        .await;
    assert!(matches!(shrink, Err(ServiceError::Validation(_))));
}
