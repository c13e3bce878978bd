//! Ranges and their scaling: how a value in [0, 1] (the "unit" coordinate every strategy draws or
//! models in) maps to a hyperparameter value and back, the validation rules of ParameterRanges,
//! and the finite spaces (integers and categories) that can be counted and enumerated.

use super::rng::Rng;
use super::{Point, Range, Scaling, Space, StrategyKind};

/// ParameterRanges may name at most 30 hyperparameters in all ranges together.
pub const MAX_TUNED_PARAMETERS: usize = 30;

/// Auto scaling picks Logarithmic when a range is positive and spans at least this ratio (two
/// orders of magnitude); otherwise Linear.
pub const AUTO_LOG_RATIO: f64 = 100.0;

/// One coordinate of a point in the search's own terms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Coord {
    /// A numeric range's position in its scaled space, 0 = MinValue, 1 = MaxValue.
    Unit(f64),
    /// A categorical range's value, by index in Values.
    Category(usize),
}

/// A numeric range's scaled space: draws are uniform in `t(x)` between `t(lo)` and `t(hi)`.
#[derive(Debug, Clone, Copy)]
struct Warp {
    scaling: Scaling,
    lo: f64,
    hi: f64,
}

impl Warp {
    fn t(&self, x: f64) -> f64 {
        match self.scaling {
            Scaling::Logarithmic => x.ln(),
            Scaling::ReverseLogarithmic => (1.0 - x).ln(),
            Scaling::Linear | Scaling::Auto => x,
        }
    }

    fn inv(&self, t: f64) -> f64 {
        match self.scaling {
            Scaling::Logarithmic => t.exp(),
            Scaling::ReverseLogarithmic => 1.0 - t.exp(),
            Scaling::Linear | Scaling::Auto => t,
        }
    }

    fn value(&self, u: f64) -> f64 {
        let (a, b) = (self.t(self.lo), self.t(self.hi));
        self.inv(a + u.clamp(0.0, 1.0) * (b - a))
            .clamp(self.lo, self.hi)
    }

    fn unit(&self, x: f64) -> f64 {
        let (a, b) = (self.t(self.lo), self.t(self.hi));
        if b == a || !x.is_finite() {
            return 0.5;
        }
        ((self.t(x.clamp(self.lo, self.hi)) - a) / (b - a)).clamp(0.0, 1.0)
    }
}

/// The scaling Auto stands for on a range [min, max].
fn resolve(scaling: Scaling, min: f64, max: f64) -> Scaling {
    match scaling {
        Scaling::Auto if min > 0.0 && max / min >= AUTO_LOG_RATIO => Scaling::Logarithmic,
        Scaling::Auto => Scaling::Linear,
        s => s,
    }
}

/// A continuous value as a hyperparameter carries it: Rust's shortest text that reads back as
/// the same f64 (never in exponent form).
pub(crate) fn format_float(x: f64) -> String {
    x.to_string()
}

impl Range {
    /// The scaling a numeric range really uses (Auto resolved); None for categorical.
    pub fn resolved_scaling(&self) -> Option<Scaling> {
        match self {
            Range::Integer {
                min, max, scaling, ..
            } => Some(resolve(*scaling, *min as f64, *max as f64)),
            Range::Continuous {
                min, max, scaling, ..
            } => Some(resolve(*scaling, *min, *max)),
            Range::Categorical { .. } => None,
        }
    }

    /// Integers are drawn in [min - 0.5, max + 0.5] and rounded, so each integer gets the
    /// share of the scaled space its unit-wide bin covers (the endpoints are not halved).
    fn warp(&self) -> Option<Warp> {
        let scaling = self.resolved_scaling()?;
        match self {
            Range::Integer { min, max, .. } => Some(Warp {
                scaling,
                lo: *min as f64 - 0.5,
                hi: *max as f64 + 0.5,
            }),
            Range::Continuous { min, max, .. } => Some(Warp {
                scaling,
                lo: *min,
                hi: *max,
            }),
            Range::Categorical { .. } => None,
        }
    }

    /// How many distinct values the range has; None for a continuous range.
    pub fn cardinality(&self) -> Option<u64> {
        match self {
            Range::Integer { min, max, .. } => Some(max.abs_diff(*min).saturating_add(1)),
            Range::Continuous { .. } => None,
            Range::Categorical { values, .. } => Some(values.len() as u64),
        }
    }

    /// The value at a coordinate, as text.
    pub(crate) fn text_at(&self, c: &Coord) -> String {
        match (self, c) {
            (Range::Categorical { values, .. }, Coord::Category(i)) => values
                .get(*i)
                .or(values.last())
                .cloned()
                .unwrap_or_default(),
            (Range::Categorical { values, .. }, Coord::Unit(u)) => {
                let i = ((u * values.len() as f64) as usize).min(values.len().saturating_sub(1));
                values.get(i).cloned().unwrap_or_default()
            }
            (Range::Integer { min, max, .. }, c) => {
                let x = self.warp().map_or(*min as f64, |w| w.value(unit(c)));
                (x.round() as i64).clamp(*min, *max).to_string()
            }
            (Range::Continuous { min, max, .. }, c) => {
                let x = self.warp().map_or(*min, |w| w.value(unit(c)));
                format_float(x.clamp(*min, *max))
            }
        }
    }

    /// The coordinate of a value given as text; None when it cannot be read (or is not one of
    /// a categorical range's values). Numeric values outside the range are clamped into it.
    pub(crate) fn coord_of(&self, text: &str) -> Option<Coord> {
        match self {
            Range::Categorical { values, .. } => {
                values.iter().position(|v| v == text).map(Coord::Category)
            }
            _ => {
                let x: f64 = text.trim().parse().ok().filter(|x: &f64| x.is_finite())?;
                let x = if matches!(self, Range::Integer { .. }) {
                    x.round()
                } else {
                    x
                };
                Some(Coord::Unit(self.warp()?.unit(x)))
            }
        }
    }

    /// A uniform draw in the scaled space, snapped onto a value the range really takes.
    pub(crate) fn draw(&self, rng: &mut Rng) -> Coord {
        match self {
            Range::Categorical { values, .. } => {
                Coord::Category(rng.below(values.len() as u64) as usize)
            }
            _ => self.snap(&Coord::Unit(rng.uniform())),
        }
    }

    /// The coordinate of the value a coordinate stands for (integers: their bin's centre).
    pub(crate) fn snap(&self, c: &Coord) -> Coord {
        match (self, c) {
            (Range::Integer { .. }, _) => {
                let text = self.text_at(c);
                self.coord_of(&text).unwrap_or(Coord::Unit(0.5))
            }
            (Range::Continuous { .. }, c) => Coord::Unit(unit(c).clamp(0.0, 1.0)),
            (Range::Categorical { values, .. }, Coord::Category(i)) => {
                Coord::Category((*i).min(values.len().saturating_sub(1)))
            }
            (Range::Categorical { values, .. }, Coord::Unit(u)) => Coord::Category(
                ((u * values.len() as f64) as usize).min(values.len().saturating_sub(1)),
            ),
        }
    }
}

fn unit(c: &Coord) -> f64 {
    match c {
        Coord::Unit(u) => *u,
        Coord::Category(_) => 0.5,
    }
}

impl Space {
    /// The number of distinct points; None when a continuous range makes it unbounded
    /// (saturates at u64::MAX).
    pub fn combinations(&self) -> Option<u64> {
        self.ranges
            .iter()
            .try_fold(1u64, |acc, r| Some(acc.saturating_mul(r.cardinality()?)))
    }

    /// The point at `index` of the finite space's enumeration: the ranges in their order, the
    /// first varying slowest (like nested loops, or itertools.product).
    pub(crate) fn point_at_index(&self, mut index: u64) -> Point {
        let mut coords = vec![Coord::Category(0); self.ranges.len()];
        for (slot, r) in coords.iter_mut().zip(&self.ranges).rev() {
            let n = r.cardinality().unwrap_or(1).max(1);
            let digit = index % n;
            index /= n;
            *slot = match r {
                Range::Integer { min, .. } => {
                    let text = (min.saturating_add(digit as i64)).to_string();
                    r.coord_of(&text).unwrap_or(Coord::Unit(0.0))
                }
                _ => Coord::Category(digit as usize),
            };
        }
        self.point_of(&coords)
    }

    pub(crate) fn point_of(&self, coords: &[Coord]) -> Point {
        self.ranges
            .iter()
            .zip(coords)
            .map(|(r, c)| (r.name().to_string(), r.text_at(c)))
            .collect()
    }

    /// A point's coordinates; None when one of the space's hyperparameters is missing from it
    /// or unreadable.
    pub(crate) fn coords_of(&self, point: &Point) -> Option<Vec<Coord>> {
        self.ranges
            .iter()
            .map(|r| r.coord_of(point.get(r.name())?))
            .collect()
    }

    pub(crate) fn draw(&self, rng: &mut Rng) -> Vec<Coord> {
        self.ranges.iter().map(|r| r.draw(rng)).collect()
    }

    pub(crate) fn snap(&self, coords: &[Coord]) -> Vec<Coord> {
        self.ranges
            .iter()
            .zip(coords)
            .map(|(r, c)| r.snap(c))
            .collect()
    }

    /// The features a surrogate model sees: numeric ranges their unit coordinate, categorical
    /// ranges one-hot scaled by 1/sqrt(2) (so two different categories are as far apart as the
    /// two ends of a numeric range).
    pub(crate) fn features(&self, coords: &[Coord]) -> Vec<f64> {
        let mut out = Vec::new();
        for (r, c) in self.ranges.iter().zip(coords) {
            match (r, c) {
                (Range::Categorical { values, .. }, c) => {
                    let i = match r.snap(c) {
                        Coord::Category(i) => i,
                        Coord::Unit(_) => 0,
                    };
                    out.extend((0..values.len()).map(|k| {
                        if k == i {
                            std::f64::consts::FRAC_1_SQRT_2
                        } else {
                            0.0
                        }
                    }));
                }
                (_, c) => out.push(unit(c)),
            }
        }
        out
    }

    /// ParameterRanges' rules, each answered with a ValidationException message.
    pub fn validate(&self) -> Result<(), String> {
        if self.ranges.is_empty() {
            return Err(
                "ParameterRanges must contain at least one hyperparameter range in \
                        IntegerParameterRanges, ContinuousParameterRanges or \
                        CategoricalParameterRanges."
                    .to_string(),
            );
        }
        if self.ranges.len() > MAX_TUNED_PARAMETERS {
            return Err(format!(
                "The total number of hyperparameters to tune in ParameterRanges, [{}], must be \
                 less than or equal to {MAX_TUNED_PARAMETERS}.",
                self.ranges.len()
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for r in &self.ranges {
            if !names.insert(r.name()) {
                return Err(format!(
                    "The hyperparameter '{}' is listed more than once in ParameterRanges. Each \
                     hyperparameter to tune must appear in exactly one range.",
                    r.name()
                ));
            }
            validate_range(r)?;
        }
        Ok(())
    }

    /// The rules that depend on the strategy and MaxNumberOfTrainingJobs.
    /// - Grid: only categorical ranges; MaxNumberOfTrainingJobs may be left out (the number of
    ///   combinations is then the number of jobs) and, when given, must equal that number.
    /// - Others: where the space is finite (no continuous range), it must hold at least
    ///   MaxNumberOfTrainingJobs distinct points (SageMaker's "not enough combinations").
    pub fn validate_for(
        &self,
        strategy: StrategyKind,
        max_jobs: Option<u64>,
    ) -> Result<(), String> {
        let combos = self.combinations();
        if strategy == StrategyKind::Grid {
            if let Some(r) = self
                .ranges
                .iter()
                .find(|r| !matches!(r, Range::Categorical { .. }))
            {
                return Err(format!(
                    "Only categorical parameters are supported when using the Grid search \
                     strategy, but the hyperparameter '{}' has an {} range. Use \
                     CategoricalParameterRanges only, or choose another strategy.",
                    r.name(),
                    if matches!(r, Range::Integer { .. }) {
                        "integer"
                    } else {
                        "continuous"
                    }
                ));
            }
            if let (Some(max), Some(combos)) = (max_jobs, combos)
                && max != combos
            {
                return Err(format!(
                    "For the Grid search strategy, the value of MaxNumberOfTrainingJobs, [{max}], \
                     must equal the total number of distinct categorical combinations, \
                     [{combos}]. Leave out MaxNumberOfTrainingJobs to run every combination."
                ));
            }
            return Ok(());
        }
        if let (Some(max), Some(combos)) = (max_jobs, combos)
            && combos < max
        {
            return Err(format!(
                "You don't have enough combinations of hyperparameter ranges. The total number \
                 of hyperparameter combinations for the provided ranges [{:.1}] must be equal or \
                 greater than the value of MaxNumberOfJobs, [{max}]. Provide additional ranges.",
                combos as f64
            ));
        }
        Ok(())
    }
}

fn validate_range(r: &Range) -> Result<(), String> {
    let name = r.name();
    let (min, max, scaling, integer) = match r {
        Range::Categorical { values, .. } => return validate_categorical(name, values),
        Range::Integer {
            min, max, scaling, ..
        } => (*min as f64, *max as f64, *scaling, true),
        Range::Continuous {
            min, max, scaling, ..
        } => (*min, *max, *scaling, false),
    };
    let (lo, hi) = match r {
        Range::Integer { min, max, .. } => (min.to_string(), max.to_string()),
        _ => (format_float(min), format_float(max)),
    };
    if min >= max {
        return Err(format!(
            "The MinValue [{lo}] of the hyperparameter '{name}' must be less than its MaxValue \
             [{hi}]."
        ));
    }
    match scaling {
        Scaling::Logarithmic if min <= 0.0 => Err(format!(
            "The hyperparameter '{name}' uses Logarithmic scaling, which works only for ranges \
             that have only values greater than 0, but its MinValue is [{lo}]."
        )),
        Scaling::ReverseLogarithmic if integer => Err(format!(
            "The hyperparameter '{name}' uses ReverseLogarithmic scaling, which is supported \
             only for continuous hyperparameters."
        )),
        Scaling::ReverseLogarithmic if min < 0.0 || max >= 1.0 => Err(format!(
            "The hyperparameter '{name}' uses ReverseLogarithmic scaling, which works only for \
             ranges that are entirely within the range 0<=x<1.0, but its range is [{lo}, {hi}]."
        )),
        _ => Ok(()),
    }
}

fn validate_categorical(name: &str, values: &[String]) -> Result<(), String> {
    if values.is_empty() {
        return Err(format!(
            "The categorical hyperparameter '{name}' must have at least one value."
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for v in values {
        if !seen.insert(v.as_str()) {
            return Err(format!(
                "The categorical hyperparameter '{name}' lists the value '{v}' more than once. \
                 Each value must be unique."
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "space_tests.rs"]
mod tests;
