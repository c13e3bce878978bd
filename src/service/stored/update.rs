//! How an Update changes a stored resource's request (the catalog's `update_rules`): a member
//! replaces the stored one, except maps and partial-update structures, which merge key by key;
//! and the model's
//! change-other-member forms are applied: `XToRemove` removes keys from map X, `XToAdd` appends
//! to list X, `XToDelete` removes items from list X, `XForUpdate` merges into X, and
//! `DeleteProperties` removes whole members.

use serde_json::{Map, Value};

use super::catalog::Family;
use crate::service::Request;

/// Merges `new` into `old`: objects key by key, anything else replaced.
fn merge(old: &mut Value, new: Value) {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            for (k, v) in n {
                match o.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        o.insert(k, v);
                    }
                }
            }
        }
        (old, new) => *old = new,
    }
}

/// Whether a list item is named by `name` (the item itself, or one of its `...Name` members).
fn names(item: &Value, name: &Value) -> bool {
    item == name
        || item.as_object().is_some_and(|o| {
            o.iter()
                .any(|(k, v)| (k.ends_with("Name") || k.ends_with("Id")) && v == name)
        })
}

pub fn apply(stored: &mut Map<String, Value>, fam: &Family, req: Request) {
    for (k, v) in req {
        if fam.ids.contains(&k) || k == "Tags" {
            continue;
        }
        let Some((action, target)) = fam.update_rules.get(&k) else {
            stored.insert(k, v);
            continue;
        };
        let items = v.as_array().cloned().unwrap_or_default();
        let target = target.clone().unwrap_or_default();
        match action.as_str() {
            "remove_keys" => {
                if let Some(Value::Object(map)) = stored.get_mut(&target) {
                    for key in items.iter().filter_map(Value::as_str) {
                        map.remove(key);
                    }
                }
            }
            "append" => {
                let list = stored
                    .entry(target)
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = list {
                    list.extend(items);
                }
            }
            "remove_items" => {
                if let Some(Value::Array(list)) = stored.get_mut(&target) {
                    list.retain(|item| !items.iter().any(|n| names(item, n)));
                }
            }
            "merge" => match stored.get_mut(&target) {
                Some(existing) => merge(existing, v),
                None => {
                    stored.insert(target, v);
                }
            },
            "delete_members" => {
                for member in items.iter().filter_map(Value::as_str) {
                    stored.remove(member);
                }
            }
            _ => {} // ignore: concurrency tokens and the like
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::stored::catalog::catalog;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn parameters_merge_and_named_ones_go() {
        let fam = catalog().family("TrialComponent").unwrap();
        let mut stored = obj(json!({"TrialComponentName": "tc", "Parameters": {
            "lr": {"NumberValue": 0.1}, "optimizer": {"StringValue": "adam"}, "seed": {"NumberValue": 1}}}));
        let req = obj(json!({"TrialComponentName": "tc",
            "Parameters": {"lr": {"NumberValue": 0.2}, "epochs": {"NumberValue": 3}},
            "ParametersToRemove": ["seed"]}));
        apply(&mut stored, fam, req);
        assert_eq!(
            stored["Parameters"],
            json!({
            "lr": {"NumberValue": 0.2}, "optimizer": {"StringValue": "adam"}, "epochs": {"NumberValue": 3}})
        );
    }

    #[test]
    fn structures_merge_lists_grow_and_members_are_deleted() {
        let repo = catalog().family("CodeRepository").unwrap();
        let mut stored =
            obj(json!({"GitConfig": {"RepositoryUrl": "https://x/r.git", "Branch": "main"}}));
        apply(
            &mut stored,
            repo,
            obj(json!({"GitConfig": {"SecretArn": "arn:s"}})),
        );
        assert_eq!(
            stored["GitConfig"],
            json!({"RepositoryUrl": "https://x/r.git", "Branch": "main", "SecretArn": "arn:s"})
        );

        let fg = catalog().family("FeatureGroup").unwrap();
        let mut stored = obj(json!({"FeatureDefinitions": [{"FeatureName": "a"}]}));
        apply(
            &mut stored,
            fg,
            obj(json!({"FeatureAdditions": [{"FeatureName": "b"}]})),
        );
        assert_eq!(
            stored["FeatureDefinitions"],
            json!([{"FeatureName": "a"}, {"FeatureName": "b"}])
        );

        let image = catalog().family("Image").unwrap();
        let mut stored = obj(json!({"Description": "d", "DisplayName": "n"}));
        apply(
            &mut stored,
            image,
            obj(json!({"DeleteProperties": ["Description"]})),
        );
        assert_eq!(Value::Object(stored), json!({"DisplayName": "n"}));

        let cluster = catalog().family("Cluster").unwrap();
        let mut stored = obj(
            json!({"InstanceGroups": [{"InstanceGroupName": "a"}, {"InstanceGroupName": "b"}]}),
        );
        apply(
            &mut stored,
            cluster,
            obj(json!({"InstanceGroupsToDelete": ["a"]})),
        );
        assert_eq!(
            stored["InstanceGroups"],
            json!([{"InstanceGroupName": "b"}])
        );
    }
}
