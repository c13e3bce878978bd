//! Grid search: every combination of the categorical values exactly once, in the order of the
//! ranges in the request (CategoricalParameterRanges order) with the first hyperparameter
//! varying slowest, each range's values in their listed order (as nested loops, or Python's
//! itertools.product). Combinations already tried (including a warm start's) are skipped; once
//! all are tried the search proposes nothing.

use super::random::{key_of, tried_keys};
use super::{Point, Search, SearchConfig, Space, Trial};

pub(crate) struct GridSearch {
    space: Space,
    warm: Vec<Point>,
}

impl GridSearch {
    pub(crate) fn new(config: SearchConfig) -> GridSearch {
        GridSearch {
            warm: config.warm_start.into_iter().map(|t| t.point).collect(),
            space: config.space,
        }
    }
}

impl Search for GridSearch {
    fn propose(&mut self, trials: &[Trial], n: usize) -> Vec<Point> {
        let Some(combos) = self.space.combinations() else {
            return Vec::new();
        };
        let tried = tried_keys(&self.space, &self.warm, trials);
        (0..combos)
            .map(|i| self.space.point_at_index(i))
            .filter(|p| !tried.contains(&key_of(&self.space, p)))
            .take(n)
            .collect()
    }
}
