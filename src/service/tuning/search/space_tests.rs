use super::*;
use crate::aws::model::typed::sagemaker::ParameterRanges;

fn integer(name: &str, min: i64, max: i64, scaling: Scaling) -> Range {
    Range::Integer {
        name: name.into(),
        min,
        max,
        scaling,
    }
}

fn continuous(name: &str, min: f64, max: f64, scaling: Scaling) -> Range {
    Range::Continuous {
        name: name.into(),
        min,
        max,
        scaling,
    }
}

fn categorical(name: &str, values: &[&str]) -> Range {
    Range::Categorical {
        name: name.into(),
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}

fn from_json(v: serde_json::Value) -> Result<Space, String> {
    let ranges: ParameterRanges = serde_json::from_value(v).unwrap();
    Space::from_ranges(&ranges)
}

#[test]
fn auto_scaling_is_linear_unless_positive_and_two_orders_of_magnitude() {
    assert_eq!(
        continuous("a", 0.001, 0.1, Scaling::Auto).resolved_scaling(),
        Some(Scaling::Logarithmic)
    );
    assert_eq!(
        continuous("a", 0.01, 0.5, Scaling::Auto).resolved_scaling(),
        Some(Scaling::Linear)
    );
    assert_eq!(
        continuous("a", 0.0, 100.0, Scaling::Auto).resolved_scaling(),
        Some(Scaling::Linear)
    );
    assert_eq!(
        integer("n", 1, 1000, Scaling::Auto).resolved_scaling(),
        Some(Scaling::Logarithmic)
    );
    assert_eq!(
        integer("n", 1, 50, Scaling::Auto).resolved_scaling(),
        Some(Scaling::Linear)
    );
    assert_eq!(
        continuous("a", 0.1, 0.9, Scaling::ReverseLogarithmic).resolved_scaling(),
        Some(Scaling::ReverseLogarithmic)
    );
}

#[test]
fn continuous_scalings_map_ends_and_middles_and_round_trip() {
    let lin = continuous("a", 2.0, 4.0, Scaling::Linear);
    let log = continuous("a", 1e-4, 1.0, Scaling::Logarithmic);
    let rev = continuous("a", 0.9, 0.9999, Scaling::ReverseLogarithmic);
    for (r, lo, mid, hi) in [
        (&lin, 2.0, 3.0, 4.0),
        (&log, 1e-4, 1e-2, 1.0),
        // Reverse log: 1 - x is log-uniform, so the middle is 1 - sqrt(0.1 * 0.0001).
        (&rev, 0.9, 1.0 - (0.1f64 * 0.0001).sqrt(), 0.9999),
    ] {
        let at = |u: f64| r.text_at(&Coord::Unit(u)).parse::<f64>().unwrap();
        assert!((at(0.0) - lo).abs() < 1e-12, "{r:?} at 0: {}", at(0.0));
        assert!((at(1.0) - hi).abs() < 1e-12, "{r:?} at 1: {}", at(1.0));
        assert!(
            (at(0.5) - mid).abs() < 1e-9 * mid.abs().max(1.0),
            "{r:?}: {}",
            at(0.5)
        );
        for u in [0.0, 0.13, 0.5, 0.77, 1.0] {
            let text = r.text_at(&Coord::Unit(u));
            let Some(Coord::Unit(back)) = r.coord_of(&text) else {
                panic!("{text} does not read back");
            };
            assert!((back - u).abs() < 1e-9, "{r:?}: {u} → {text} → {back}");
        }
    }
    // Out-of-range values clamp; garbage does not read.
    assert_eq!(lin.coord_of("10"), Some(Coord::Unit(1.0)));
    assert_eq!(lin.coord_of("x"), None);
    assert_eq!(lin.coord_of("NaN"), None);
}

#[test]
fn integers_round_inside_the_range_and_every_value_is_reachable() {
    for r in [
        integer("n", -3, 4, Scaling::Linear),
        integer("n", 1, 1000, Scaling::Logarithmic),
        integer("n", 5, 6, Scaling::Auto),
    ] {
        let Range::Integer { min, max, .. } = r else {
            unreachable!()
        };
        let mut rng = Rng::new(3, 0);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..4000 {
            let c = r.draw(&mut rng);
            let v: i64 = r.text_at(&c).parse().unwrap();
            assert!((min..=max).contains(&v), "{v} outside [{min}, {max}]");
            // Snapped coordinates read back to themselves.
            assert_eq!(r.coord_of(&v.to_string()), Some(c.clone()));
            seen.insert(v);
        }
        assert_eq!(seen.first(), Some(&min));
        if max - min < 20 {
            // Every value is drawn (log scaling makes 1000's bin in [1, 1000] too thin for
            // 4000 draws to be sure to hit it).
            assert_eq!(seen.len() as i64, max - min + 1);
        }
        assert_eq!(r.text_at(&Coord::Unit(0.0)), min.to_string());
        assert_eq!(r.text_at(&Coord::Unit(1.0)), max.to_string());
    }
    // Linear integers are uniform: the ends are not halved.
    let r = integer("n", 0, 2, Scaling::Linear);
    let mut rng = Rng::new(9, 0);
    let mut counts = [0; 3];
    for _ in 0..3000 {
        counts[r.text_at(&r.draw(&mut rng)).parse::<usize>().unwrap()] += 1;
    }
    assert!(
        counts.iter().all(|&c| (850..1150).contains(&c)),
        "{counts:?}"
    );
}

#[test]
fn log_scaling_spreads_draws_over_orders_of_magnitude() {
    let r = continuous("lr", 1e-5, 1e-1, Scaling::Logarithmic);
    let mut rng = Rng::new(5, 0);
    let below_1e3 = (0..2000)
        .filter(|_| r.text_at(&r.draw(&mut rng)).parse::<f64>().unwrap() < 1e-3)
        .count();
    // Half the decades lie below 1e-3: about 1000 of 2000 draws (linear would give ~20).
    assert!((900..1100).contains(&below_1e3), "{below_1e3}");
}

#[test]
fn from_ranges_reads_and_validates_as_sagemaker_words_it() {
    let ok = from_json(serde_json::json!({
        "IntegerParameterRanges": [{"Name": "n", "MinValue": "1", "MaxValue": "10"}],
        "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.001", "MaxValue": "0.1",
                                       "ScalingType": "Logarithmic"}],
        "CategoricalParameterRanges": [{"Name": "opt", "Values": ["sgd", "adam"]}]
    }))
    .unwrap();
    assert_eq!(
        ok.ranges,
        vec![
            integer("n", 1, 10, Scaling::Auto),
            continuous("lr", 0.001, 0.1, Scaling::Logarithmic),
            categorical("opt", &["sgd", "adam"]),
        ]
    );
    let err = |v| from_json(v).unwrap_err();
    assert_eq!(
        err(serde_json::json!({"ContinuousParameterRanges": [
            {"Name": "lr", "MinValue": "0", "MaxValue": "0.1", "ScalingType": "Logarithmic"}]})),
        "The hyperparameter 'lr' uses Logarithmic scaling, which works only for ranges that have \
         only values greater than 0, but its MinValue is [0]."
    );
    assert_eq!(
        err(serde_json::json!({"ContinuousParameterRanges": [
            {"Name": "m", "MinValue": "0.5", "MaxValue": "1", "ScalingType": "ReverseLogarithmic"}]})),
        "The hyperparameter 'm' uses ReverseLogarithmic scaling, which works only for ranges \
         that are entirely within the range 0<=x<1.0, but its range is [0.5, 1]."
    );
    assert_eq!(
        err(serde_json::json!({"IntegerParameterRanges": [
            {"Name": "k", "MinValue": "0", "MaxValue": "5", "ScalingType": "ReverseLogarithmic"}]})),
        "The hyperparameter 'k' uses ReverseLogarithmic scaling, which is supported only for \
         continuous hyperparameters."
    );
    assert_eq!(
        err(serde_json::json!({"IntegerParameterRanges": [
            {"Name": "k", "MinValue": "7", "MaxValue": "5"}]})),
        "The MinValue [7] of the hyperparameter 'k' must be less than its MaxValue [5]."
    );
    assert_eq!(
        err(serde_json::json!({"IntegerParameterRanges": [
            {"Name": "k", "MinValue": "1.5", "MaxValue": "5"}]})),
        "The value of the hyperparameter 'k' must be an integer."
    );
    assert_eq!(
        err(serde_json::json!({"ContinuousParameterRanges": [
            {"Name": "x", "MinValue": "inf", "MaxValue": "5"}]})),
        "The value of the hyperparameter 'x' must be a number."
    );
    assert_eq!(
        err(serde_json::json!({"CategoricalParameterRanges": [
            {"Name": "c", "Values": ["a", "b", "a"]}]})),
        "The categorical hyperparameter 'c' lists the value 'a' more than once. Each value must \
         be unique."
    );
    assert_eq!(
        err(serde_json::json!({
            "IntegerParameterRanges": [{"Name": "k", "MinValue": "1", "MaxValue": "5"}],
            "CategoricalParameterRanges": [{"Name": "k", "Values": ["a"]}]})),
        "The hyperparameter 'k' is listed more than once in ParameterRanges. Each hyperparameter \
         to tune must appear in exactly one range."
    );
    assert!(err(serde_json::json!({})).starts_with("ParameterRanges must contain at least one"));
    let many: Vec<serde_json::Value> = (0..31)
        .map(|i| serde_json::json!({"Name": format!("p{i}"), "Values": ["a", "b"]}))
        .collect();
    assert_eq!(
        err(serde_json::json!({"CategoricalParameterRanges": many})),
        "The total number of hyperparameters to tune in ParameterRanges, [31], must be less than \
         or equal to 30."
    );
}

#[test]
fn validate_for_grid_and_finite_spaces() {
    let grid = Space {
        ranges: vec![
            categorical("a", &["x", "y"]),
            categorical("b", &["1", "2", "3"]),
        ],
    };
    assert_eq!(grid.combinations(), Some(6));
    assert_eq!(grid.validate_for(StrategyKind::Grid, None), Ok(()));
    assert_eq!(grid.validate_for(StrategyKind::Grid, Some(6)), Ok(()));
    assert_eq!(
        grid.validate_for(StrategyKind::Grid, Some(5)).unwrap_err(),
        "For the Grid search strategy, the value of MaxNumberOfTrainingJobs, [5], must equal the \
         total number of distinct categorical combinations, [6]. Leave out \
         MaxNumberOfTrainingJobs to run every combination."
    );
    let mixed = Space {
        ranges: vec![
            categorical("a", &["x"]),
            integer("n", 1, 3, Scaling::Linear),
        ],
    };
    assert_eq!(
        mixed.validate_for(StrategyKind::Grid, None).unwrap_err(),
        "Only categorical parameters are supported when using the Grid search strategy, but the \
         hyperparameter 'n' has an integer range. Use CategoricalParameterRanges only, or choose \
         another strategy."
    );
    assert_eq!(mixed.combinations(), Some(3));
    assert_eq!(mixed.validate_for(StrategyKind::Random, Some(3)), Ok(()));
    assert_eq!(
        mixed
            .validate_for(StrategyKind::Bayesian, Some(10))
            .unwrap_err(),
        "You don't have enough combinations of hyperparameter ranges. The total number of \
         hyperparameter combinations for the provided ranges [3.0] must be equal or greater than \
         the value of MaxNumberOfJobs, [10]. Provide additional ranges."
    );
    let open = Space {
        ranges: vec![continuous("lr", 0.0, 1.0, Scaling::Linear)],
    };
    assert_eq!(open.combinations(), None);
    assert_eq!(open.validate_for(StrategyKind::Random, Some(500)), Ok(()));
}

#[test]
fn enumeration_puts_the_first_range_slowest() {
    let s = Space {
        ranges: vec![
            integer("n", 1, 2, Scaling::Linear),
            categorical("c", &["a", "b", "c"]),
        ],
    };
    let order: Vec<(String, String)> = (0..6)
        .map(|i| {
            let p = s.point_at_index(i);
            (p["n"].clone(), p["c"].clone())
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("1", "a"),
        ("1", "b"),
        ("1", "c"),
        ("2", "a"),
        ("2", "b"),
        ("2", "c"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(order, want);
}

#[test]
fn features_one_hot_categoricals() {
    let s = Space {
        ranges: vec![
            continuous("x", 0.0, 10.0, Scaling::Linear),
            categorical("c", &["a", "b", "c"]),
        ],
    };
    let f = s.features(&[Coord::Unit(0.25), Coord::Category(1)]);
    let h = std::f64::consts::FRAC_1_SQRT_2;
    assert_eq!(f, vec![0.25, 0.0, h, 0.0]);
    let p = s.point_of(&[Coord::Unit(0.25), Coord::Category(1)]);
    assert_eq!(p["x"], "2.5");
    assert_eq!(p["c"], "b");
    assert_eq!(
        s.coords_of(&p),
        Some(vec![Coord::Unit(0.25), Coord::Category(1)])
    );
}
