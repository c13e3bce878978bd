//! CreateFeatureGroup and DeleteFeatureGroup: the stored-resource engine's family, written by
//! hand only to reach the Feature Store (service/featurestore): a created group gets its offline
//! store's resolved location, a deleted one loses its online records. Their answers are the
//! engine's (the ARN; nothing), so the wire output is what it was. (UpdateFeatureGroup stays the
//! engine's: its update rules append FeatureAdditions and merge OnlineStoreConfig.)

use serde_json::json;

use super::Answer;
use crate::service::{Request, Services};

pub(super) async fn create_feature_group(s: &Services, req: Request) -> Answer {
    let row = s.create_feature_group(req).await?;
    Ok(json!({ "FeatureGroupArn": row.arn }))
}

pub(super) async fn delete_feature_group(s: &Services, req: Request) -> Answer {
    s.delete_feature_group(&req).await?;
    Ok(json!({}))
}
