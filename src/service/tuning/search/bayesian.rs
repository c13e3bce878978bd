//! Bayesian optimization: a Gaussian process (gp.rs) fitted to the finished trials' objectives on
//! the unit-cube features of the scaled space (categoricals one-hot), and Expected Improvement
//! maximized over random candidates plus perturbations of the best points so far, then refined
//! by a local search. The first max(3, parameters + 1) points are random. Several free slots get
//! distinct points: each chosen point (like each running trial) joins the model as if it had
//! scored the model's own prediction there (the "kriging believer"), which removes the
//! improvement expected near it. Failed trials (finished without an objective) are not fitted
//! but, like every trial, are never proposed again.

use std::collections::BTreeSet;

use super::gp::{Gp, expected_improvement};
use super::random::{draw_untried, key_of, tried_keys};
use super::rng::Rng;
use super::space::Coord;
use super::{Goal, Point, Range, Search, SearchConfig, Space, Trial};

/// Random candidates scored per proposal.
const RANDOM_CANDIDATES: usize = 256;
/// Best observed points whose neighbourhoods are sampled, and samples around each.
const TOP_OBSERVED: usize = 5;
const NEIGHBOURS: usize = 16;
/// Candidates refined by local search, and the steps of each refinement.
const REFINED: usize = 3;
const REFINE_STEPS: usize = 24;
/// The most observations fitted: the best MODEL_BEST plus the most recent others.
const MODEL_POINTS: usize = 200;
const MODEL_BEST: usize = 50;
/// Expected improvement's exploration margin, in standard deviations of the objective.
const XI: f64 = 0.01;

pub(crate) struct BayesianSearch {
    space: Space,
    goal: Goal,
    seed: u64,
    warm: Vec<Trial>,
}

/// A finished trial the model learns from: coordinates, features and objective (to minimize).
struct Observation {
    coords: Vec<Coord>,
    features: Vec<f64>,
    y: f64,
}

impl BayesianSearch {
    pub(crate) fn new(config: SearchConfig) -> BayesianSearch {
        BayesianSearch {
            space: config.space,
            goal: config.goal,
            seed: config.seed,
            warm: config.warm_start,
        }
    }

    /// Trials (warm start first) with an objective, objective negated when maximizing.
    fn observations(&self, trials: &[Trial]) -> Vec<Observation> {
        let sign = match self.goal {
            Goal::Minimize => 1.0,
            Goal::Maximize => -1.0,
        };
        let mut out: Vec<Observation> = self
            .warm
            .iter()
            .chain(trials)
            .filter(|t| t.finished)
            .filter_map(|t| {
                let y = t.objective.filter(|y| y.is_finite())?;
                let coords = self.space.coords_of(&t.point)?;
                Some(Observation {
                    features: self.space.features(&coords),
                    coords,
                    y: sign * y,
                })
            })
            .collect();
        if out.len() > MODEL_POINTS {
            // Keep the best MODEL_BEST and the most recent of the rest.
            let mut order: Vec<usize> = (0..out.len()).collect();
            order.sort_by(|&a, &b| out[a].y.total_cmp(&out[b].y));
            let best: BTreeSet<usize> = order.into_iter().take(MODEL_BEST).collect();
            let recent = (0..out.len())
                .rev()
                .filter(|i| !best.contains(i))
                .take(MODEL_POINTS - MODEL_BEST);
            let keep: BTreeSet<usize> = best.iter().copied().chain(recent).collect();
            let mut i = 0;
            out.retain(|_| {
                i += 1;
                keep.contains(&(i - 1))
            });
        }
        out
    }
}

impl Search for BayesianSearch {
    fn propose(&mut self, trials: &[Trial], n: usize) -> Vec<Point> {
        let mut rng = Rng::new(self.seed, trials.len() as u64);
        let warm: Vec<Point> = self.warm.iter().map(|t| t.point.clone()).collect();
        let mut tried = tried_keys(&self.space, &warm, trials);
        let observed = self.observations(trials);
        let initial = 3.max(self.space.ranges.len() + 1);
        let model = (observed.len() >= initial)
            .then(|| Model::fit(&observed))
            .flatten();
        let Some(model) = model else {
            return (0..n)
                .map_while(|_| draw_untried(&self.space, &mut rng, &mut tried))
                .collect();
        };
        let mut pending: Vec<Vec<f64>> = trials
            .iter()
            .filter(|t| !t.finished)
            .filter_map(|t| self.space.coords_of(&t.point))
            .map(|c| self.space.features(&c))
            .collect();
        let mut out = Vec::new();
        for _ in 0..n {
            let believed: Vec<f64> = pending.iter().map(|f| model.gp.predict(f).0).collect();
            let gp = model.gp.with_points(&pending, &believed);
            let chosen = gp.and_then(|gp| {
                let acq = Acquisition {
                    space: &self.space,
                    gp: &gp,
                    best: model.best,
                };
                acq.maximize(&observed, &tried, &mut rng)
            });
            let point = match chosen {
                Some(coords) => {
                    pending.push(self.space.features(&coords));
                    let p = self.space.point_of(&coords);
                    tried.insert(key_of(&self.space, &p));
                    Some(p)
                }
                None => draw_untried(&self.space, &mut rng, &mut tried),
            };
            match point {
                Some(p) => out.push(p),
                None => break,
            }
        }
        out
    }
}

/// The fitted surrogate, on standardized objectives.
struct Model {
    gp: Gp,
    /// The best (lowest) standardized objective observed.
    best: f64,
}

impl Model {
    fn fit(observed: &[Observation]) -> Option<Model> {
        let n = observed.len() as f64;
        let mean = observed.iter().map(|o| o.y).sum::<f64>() / n;
        let var = observed.iter().map(|o| (o.y - mean).powi(2)).sum::<f64>() / n;
        let sd = if var > 1e-24 { var.sqrt() } else { 1.0 };
        let y: Vec<f64> = observed.iter().map(|o| (o.y - mean) / sd).collect();
        let best = y.iter().copied().fold(f64::INFINITY, f64::min);
        let x = observed.iter().map(|o| o.features.clone()).collect();
        Some(Model {
            gp: Gp::fit(x, y)?,
            best,
        })
    }
}

struct Acquisition<'a> {
    space: &'a Space,
    gp: &'a Gp,
    best: f64,
}

impl Acquisition<'_> {
    fn ei(&self, coords: &[Coord]) -> f64 {
        let (m, s) = self.gp.predict(&self.space.features(coords));
        expected_improvement(m, s, self.best, XI)
    }

    /// The untried point of highest expected improvement among the candidates, or None.
    fn maximize(
        &self,
        observed: &[Observation],
        tried: &BTreeSet<Point>,
        rng: &mut Rng,
    ) -> Option<Vec<Coord>> {
        let mut scored: Vec<(f64, Vec<Coord>)> = self
            .candidates(observed, rng)
            .into_iter()
            .map(|c| (self.ei(&c), c))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let refined: Vec<(f64, Vec<Coord>)> = scored
            .iter()
            .take(REFINED)
            .map(|(e, c)| self.refine(c.clone(), *e, rng))
            .collect();
        scored.extend(refined);
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored
            .into_iter()
            .map(|(_, c)| c)
            .find(|c| !tried.contains(&key_of(self.space, &self.space.point_of(c))))
    }

    fn candidates(&self, observed: &[Observation], rng: &mut Rng) -> Vec<Vec<Coord>> {
        let mut out: Vec<Vec<Coord>> = (0..RANDOM_CANDIDATES)
            .map(|_| self.space.draw(rng))
            .collect();
        let mut order: Vec<&Observation> = observed.iter().collect();
        order.sort_by(|a, b| a.y.total_cmp(&b.y));
        for o in order.into_iter().take(TOP_OBSERVED) {
            for k in 0..NEIGHBOURS {
                let step = if k % 2 == 0 { 0.05 } else { 0.15 };
                out.push(self.perturb(&o.coords, step, rng));
            }
        }
        out
    }

    /// A neighbour: numeric coordinates moved by N(0, step), each categorical switched to a
    /// random value with probability 1/(number of ranges).
    fn perturb(&self, coords: &[Coord], step: f64, rng: &mut Rng) -> Vec<Coord> {
        let switch = 1.0 / self.space.ranges.len().max(1) as f64;
        let moved: Vec<Coord> = self
            .space
            .ranges
            .iter()
            .zip(coords)
            .map(|(r, c)| match (r, c) {
                (Range::Categorical { values, .. }, c) => {
                    if rng.uniform() < switch {
                        Coord::Category(rng.below(values.len() as u64) as usize)
                    } else {
                        c.clone()
                    }
                }
                (_, Coord::Unit(u)) => Coord::Unit((u + step * rng.normal()).clamp(0.0, 1.0)),
                (_, c) => c.clone(),
            })
            .collect();
        self.space.snap(&moved)
    }

    /// Stochastic hill climbing from a candidate; the step shrinks after each failure.
    fn refine(&self, mut c: Vec<Coord>, mut e: f64, rng: &mut Rng) -> (f64, Vec<Coord>) {
        let mut step = 0.05;
        for _ in 0..REFINE_STEPS {
            let next = self.perturb(&c, step, rng);
            let en = self.ei(&next);
            if en > e {
                (c, e) = (next, en);
            } else {
                step = (step * 0.7).max(1e-3);
            }
        }
        (e, c)
    }
}
