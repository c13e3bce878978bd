//! The median stopping rule of TrainingJobEarlyStoppingType Auto, as SageMaker documents it
//! ("How Early Stopping Works"): after each epoch (here: each objective value a job reports),
//! compute for every other job the running average of its objective up to the same epoch, take
//! the median of those running averages, and stop the job when its objective value at that
//! epoch is worse than the median (higher when minimizing, lower when maximizing). The rule
//! waits until MIN_PEERS other jobs have reached that epoch, so the first jobs are not judged
//! against one or two others.

use std::collections::HashMap;

use super::{Goal, Stopper, better};

/// Other jobs that must have reached an epoch before a job is judged there.
pub const MIN_PEERS: usize = 3;

pub(crate) struct MedianStopper {
    goal: Goal,
}

impl MedianStopper {
    pub(crate) fn new(goal: Goal) -> MedianStopper {
        MedianStopper { goal }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl Stopper for MedianStopper {
    fn should_stop(&mut self, job: &str, curves: &HashMap<String, Vec<f64>>) -> bool {
        let Some(&current) = curves.get(job).and_then(|c| c.last()) else {
            return false;
        };
        let epoch = curves.get(job).map_or(0, Vec::len);
        let averages: Vec<f64> = curves
            .iter()
            .filter(|(name, c)| name.as_str() != job && c.len() >= epoch)
            .map(|(_, c)| c[..epoch].iter().sum::<f64>() / epoch as f64)
            .filter(|a| a.is_finite())
            .collect();
        if averages.len() < MIN_PEERS {
            return false;
        }
        let m = median(averages);
        better(self.goal, m, current) || current.is_nan()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curves(jobs: &[(&str, &[f64])]) -> HashMap<String, Vec<f64>> {
        jobs.iter()
            .map(|(n, c)| (n.to_string(), c.to_vec()))
            .collect()
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn stops_a_job_worse_than_the_median_of_running_averages() {
        // Running averages at epoch 2: a 0.75, b 0.55, c 0.45 → median 0.55.
        let peers: &[(&str, &[f64])] = &[
            ("a", &[0.8, 0.7, 0.6]),
            ("b", &[0.6, 0.5, 0.4]),
            ("c", &[0.5, 0.4, 0.3]),
        ];
        let mut s = MedianStopper::new(Goal::Minimize);
        let mut with = peers.to_vec();
        with.push(("bad", &[0.9, 0.6]));
        assert!(s.should_stop("bad", &curves(&with)));
        with.pop();
        with.push(("good", &[0.9, 0.5]));
        // 0.5 is better than the median 0.55, though its own average (0.7) is not.
        assert!(!s.should_stop("good", &curves(&with)));
        // Maximizing: the same numbers read as accuracy; 0.6 > 0.55 goes on, 0.5 stops.
        let mut m = MedianStopper::new(Goal::Maximize);
        with.pop();
        with.push(("x", &[0.1, 0.6]));
        assert!(!m.should_stop("x", &curves(&with)));
        with.pop();
        with.push(("y", &[0.9, 0.5]));
        assert!(m.should_stop("y", &curves(&with)));
    }

    #[test]
    fn waits_for_enough_peers_at_the_same_epoch() {
        let mut s = MedianStopper::new(Goal::Minimize);
        // Two peers only: not judged.
        let c = curves(&[("a", &[0.1, 0.1]), ("b", &[0.1, 0.1]), ("bad", &[9.0, 9.0])]);
        assert!(!s.should_stop("bad", &c));
        // Three peers, but one has not reached epoch 2: still not judged.
        let c = curves(&[
            ("a", &[0.1, 0.1]),
            ("b", &[0.1, 0.1]),
            ("c", &[0.1]),
            ("bad", &[9.0, 9.0]),
        ]);
        assert!(!s.should_stop("bad", &c));
        let c = curves(&[
            ("a", &[0.1, 0.1]),
            ("b", &[0.1, 0.1]),
            ("c", &[0.1, 0.1, 0.1]),
            ("bad", &[9.0, 9.0]),
        ]);
        assert!(s.should_stop("bad", &c));
    }
}
