//! Hyperband's early stopping: asynchronous successive halving. A job's resource is the number
//! of objective values it has reported. The rungs are MinResource·η^k (η = 3) below
//! MaxResource. When a job reaches a rung it goes on only if its value there ranks within the
//! top 1/η (at least the best one) of the values recorded at that rung by every job that got
//! there; a job alone at a rung goes on. HyperbandStrategyConfig documents that "once a job
//! reaches the MaxResource value, it is stopped": a job that ends after MaxResource reports
//! completes, and one that reports more is stopped. Below MinResource no job is stopped.

use std::collections::HashMap;

use super::{Goal, Stopper, better};

/// The reduction factor between rungs.
pub const ETA: u64 = 3;

pub(crate) struct HyperbandStopper {
    rungs: Vec<u64>,
    max_resource: u64,
    goal: Goal,
    /// Per job, how many rungs it has already passed (each rung is judged once).
    passed: HashMap<String, usize>,
}

impl HyperbandStopper {
    pub(crate) fn new(min_resource: u64, max_resource: u64, goal: Goal) -> HyperbandStopper {
        let mut rungs = Vec::new();
        let mut r = min_resource.max(1);
        while r < max_resource {
            rungs.push(r);
            r = r.saturating_mul(ETA);
        }
        HyperbandStopper {
            rungs,
            max_resource,
            goal,
            passed: HashMap::new(),
        }
    }

    /// Whether `value` ranks within the top 1/η of itself and `peers` (at least first place).
    fn promoted(&self, value: f64, peers: &[f64]) -> bool {
        let recorded = peers.len() as u64 + 1;
        let keep = (recorded / ETA).max(1);
        let ahead = peers
            .iter()
            .filter(|&&p| better(self.goal, p, value) || (value.is_nan() && !p.is_nan()))
            .count() as u64;
        ahead < keep
    }
}

impl Stopper for HyperbandStopper {
    fn should_stop(&mut self, job: &str, curves: &HashMap<String, Vec<f64>>) -> bool {
        let Some(curve) = curves.get(job) else {
            return false;
        };
        let resource = curve.len() as u64;
        // A job is allowed MaxResource reports; one that runs past them is stopped (one that
        // ends at MaxResource completes).
        if resource > self.max_resource {
            return true;
        }
        let passed = self.passed.get(job).copied().unwrap_or(0);
        for (k, &rung) in self.rungs.iter().enumerate().skip(passed) {
            if rung > resource {
                break;
            }
            self.passed.insert(job.to_string(), k + 1);
            let at = (rung - 1) as usize;
            let peers: Vec<f64> = curves
                .iter()
                .filter(|(name, _)| name.as_str() != job)
                .filter_map(|(_, c)| c.get(at).copied())
                .collect();
            if !peers.is_empty() && !self.promoted(curve[at], &peers) {
                return true;
            }
        }
        false
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
    fn rungs_are_min_resource_times_powers_of_three_below_max() {
        assert_eq!(
            HyperbandStopper::new(1, 30, Goal::Minimize).rungs,
            vec![1, 3, 9, 27]
        );
        assert_eq!(
            HyperbandStopper::new(2, 18, Goal::Minimize).rungs,
            vec![2, 6]
        );
        assert!(HyperbandStopper::new(5, 5, Goal::Minimize).rungs.is_empty());
    }

    #[test]
    fn first_job_at_a_rung_goes_on() {
        let mut s = HyperbandStopper::new(1, 20, Goal::Minimize);
        let c = curves(&[("a", &[5.0])]);
        assert!(!s.should_stop("a", &c));
    }

    #[test]
    fn stops_a_clearly_bad_job_at_a_rung_and_keeps_a_good_one() {
        // Minimizing a loss; rungs 1, 3, 9. Four jobs have been through rung 3.
        let done: &[(&str, &[f64])] = &[
            ("a", &[0.9, 0.7, 0.5, 0.45]),
            ("b", &[0.8, 0.6, 0.4, 0.35]),
            ("c", &[1.0, 0.9, 0.8, 0.8]),
            ("d", &[0.95, 0.85, 0.75]),
        ];
        let mut s = HyperbandStopper::new(1, 20, Goal::Minimize);
        // A good newcomer: best at rungs 1 and 3 among 5 → goes on (top 1/3 of 5 = 1 job).
        let mut good = done.to_vec();
        good.push(("good", &[0.5]));
        assert!(!s.should_stop("good", &curves(&good)));
        good.pop();
        good.push(("good", &[0.5, 0.4, 0.3]));
        assert!(!s.should_stop("good", &curves(&good)));
        // A bad newcomer: last of 6 at rung 1, where the top 1/3 is 2 jobs → stopped.
        let mut bad = good.clone();
        bad.push(("bad", &[2.0]));
        assert!(s.should_stop("bad", &curves(&bad)));
        // Maximizing accuracy: the same shapes mirrored.
        let mut m = HyperbandStopper::new(1, 20, Goal::Maximize);
        let acc = curves(&[("x", &[0.9]), ("y", &[0.8]), ("z", &[0.1])]);
        assert!(!m.should_stop("x", &acc));
        assert!(m.should_stop("z", &acc));
    }

    #[test]
    fn each_rung_is_judged_once_and_running_past_max_resource_stops() {
        let mut s = HyperbandStopper::new(1, 5, Goal::Minimize);
        // "a" passed rung 1 alone; later reports between rungs are not judged again even
        // though a better job has since recorded a value at rung 1.
        assert!(!s.should_stop("a", &curves(&[("a", &[1.0])])));
        let c = curves(&[("a", &[1.0, 0.9]), ("b", &[0.1, 0.1])]);
        assert!(!s.should_stop("a", &c));
        // Rung 3: "a" is worse than "b" there → stopped.
        let c = curves(&[("a", &[1.0, 0.9, 0.8]), ("b", &[0.1, 0.1, 0.1])]);
        assert!(s.should_stop("a", &c));
        // Reaching MaxResource does not stop the best job; going past it does.
        let c = curves(&[("b", &[0.1, 0.1, 0.1, 0.1, 0.1])]);
        assert!(!s.should_stop("b", &c));
        let c = curves(&[("b", &[0.1, 0.1, 0.1, 0.1, 0.1, 0.1])]);
        assert!(s.should_stop("b", &c));
        // Below MinResource nothing is stopped.
        let mut late = HyperbandStopper::new(3, 50, Goal::Minimize);
        let c = curves(&[("a", &[0.1, 0.1]), ("b", &[9.0, 9.0])]);
        assert!(!late.should_stop("b", &c));
    }
}
