//! Random search: every hyperparameter drawn independently and uniformly in its scaled space
//! (Linear, Logarithmic, ReverseLogarithmic), whatever the earlier results were. Hyperband's
//! proposals are drawn the same way. In a finite space a point already tried (or proposed, or
//! brought by a warm start) is not proposed again; an exhausted space proposes nothing.

use std::collections::BTreeSet;

use super::rng::Rng;
use super::{Point, Range, Search, SearchConfig, Space, Trial};

/// Fresh draws tried before a crowded finite space is enumerated instead.
const DRAWS_BEFORE_ENUMERATING: usize = 64;
/// The largest finite space enumerated to find its untried points.
const ENUMERATION_LIMIT: u64 = 1_000_000;

pub(crate) struct RandomSearch {
    space: Space,
    seed: u64,
    warm: Vec<Point>,
}

impl RandomSearch {
    pub(crate) fn new(config: SearchConfig) -> RandomSearch {
        RandomSearch {
            warm: config.warm_start.into_iter().map(|t| t.point).collect(),
            space: config.space,
            seed: config.seed,
        }
    }
}

impl Search for RandomSearch {
    fn propose(&mut self, trials: &[Trial], n: usize) -> Vec<Point> {
        let mut rng = Rng::new(self.seed, trials.len() as u64);
        let mut tried = tried_keys(&self.space, &self.warm, trials);
        (0..n)
            .map_while(|_| draw_untried(&self.space, &mut rng, &mut tried))
            .collect()
    }
}

/// A point's identity for "already tried": its values for the space's hyperparameters, integers
/// written the one way (so a warm start's "010" is the same point as "10").
pub(crate) fn key_of(space: &Space, point: &Point) -> Point {
    space
        .ranges
        .iter()
        .map(|r| {
            let raw = point.get(r.name()).map(String::as_str).unwrap_or("");
            let value = match r {
                Range::Integer { .. } => raw
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .map_or_else(|| raw.to_string(), |x| (x.round() as i64).to_string()),
                _ => raw.to_string(),
            };
            (r.name().to_string(), value)
        })
        .collect()
}

pub(crate) fn tried_keys(space: &Space, warm: &[Point], trials: &[Trial]) -> BTreeSet<Point> {
    warm.iter()
        .chain(trials.iter().map(|t| &t.point))
        .map(|p| key_of(space, p))
        .collect()
}

/// A random point not in `tried` (which it joins), or None when a finite space has none left.
pub(crate) fn draw_untried(
    space: &Space,
    rng: &mut Rng,
    tried: &mut BTreeSet<Point>,
) -> Option<Point> {
    let mut last = None;
    for _ in 0..DRAWS_BEFORE_ENUMERATING {
        let p = space.point_of(&space.draw(rng));
        if tried.insert(key_of(space, &p)) {
            return Some(p);
        }
        last = Some(p);
    }
    let Some(combos) = space.combinations() else {
        // A continuous range: repeats are (next to) impossible; keep the last draw.
        return last;
    };
    if combos > ENUMERATION_LIMIT {
        return (0..10_000).find_map(|_| {
            let p = space.point_of(&space.draw(rng));
            tried.insert(key_of(space, &p)).then_some(p)
        });
    }
    // A crowded finite space: choose uniformly among the points not tried yet.
    let untried: Vec<Point> = (0..combos)
        .map(|i| space.point_at_index(i))
        .filter(|p| !tried.contains(&key_of(space, p)))
        .collect();
    if untried.is_empty() {
        return None;
    }
    let p = untried[rng.below(untried.len() as u64) as usize].clone();
    tried.insert(key_of(space, &p));
    Some(p)
}
