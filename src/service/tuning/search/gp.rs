//! A small Gaussian process: Matérn 5/2 kernel with one length scale on the unit-cube features,
//! a signal variance and a noise term, fitted by maximizing the marginal likelihood over a grid
//! of length scales and noise ratios (the signal variance has a closed form for each). Plain
//! Cholesky on at most a few hundred points.

/// Length scales tried, times sqrt(number of features).
const LENGTH_SCALES: [f64; 8] = [0.05, 0.1, 0.2, 0.35, 0.6, 1.0, 1.7, 3.0];
/// Noise variance as a fraction of the signal variance.
const NOISE_RATIOS: [f64; 5] = [1e-6, 1e-4, 1e-3, 1e-2, 1e-1];

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Hyper {
    pub(crate) length_scale: f64,
    pub(crate) noise: f64,
}

pub(crate) struct Gp {
    x: Vec<Vec<f64>>,
    y: Vec<f64>,
    hyper: Hyper,
    /// Signal variance.
    amp: f64,
    /// Lower Cholesky factor of k(X, X) + noise·I (unit signal variance), row-major n×n.
    chol: Vec<f64>,
    /// (k(X, X) + noise·I)^-1 y.
    alpha: Vec<f64>,
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(p, q)| (p - q) * (p - q))
        .sum::<f64>()
        .sqrt()
}

/// Row-major n×n matrix of pairwise Euclidean distances.
fn distances(x: &[Vec<f64>]) -> Vec<f64> {
    let n = x.len();
    let mut d = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..i {
            let v = distance(&x[i], &x[j]);
            d[i * n + j] = v;
            d[j * n + i] = v;
        }
    }
    d
}

/// Matérn 5/2 at distance r (in length scales).
fn matern52_at(r: f64) -> f64 {
    let s = 5f64.sqrt() * r;
    (1.0 + s + 5.0 * r * r / 3.0) * (-s).exp()
}

pub(crate) fn matern52(a: &[f64], b: &[f64], length_scale: f64) -> f64 {
    matern52_at(distance(a, b) / length_scale)
}

/// In-place Cholesky of a symmetric positive definite row-major n×n matrix (lower triangle).
fn cholesky(a: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return false;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
        for i in 0..j {
            a[i * n + j] = 0.0;
        }
    }
    true
}

/// Solves L z = b.
fn forward(l: &[f64], n: usize, b: &[f64]) -> Vec<f64> {
    let mut z = vec![0.0; n];
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * n + k] * z[k];
        }
        z[i] = s / l[i * n + i];
    }
    z
}

/// Solves Lᵀ z = b.
fn backward(l: &[f64], n: usize, b: &[f64]) -> Vec<f64> {
    let mut z = vec![0.0; n];
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= l[k * n + i] * z[k];
        }
        z[i] = s / l[i * n + i];
    }
    z
}

impl Gp {
    /// Fits the hyperparameters to (x, y) by marginal likelihood; y should be standardized.
    pub(crate) fn fit(x: Vec<Vec<f64>>, y: Vec<f64>) -> Option<Gp> {
        let dims = x.first().map_or(1, Vec::len).max(1) as f64;
        let dist = distances(&x);
        let mut best: Option<(f64, Hyper)> = None;
        for ls in LENGTH_SCALES {
            for noise in NOISE_RATIOS {
                let hyper = Hyper {
                    length_scale: ls * dims.sqrt(),
                    noise,
                };
                let Some(gp) = Gp::solve(x.len(), &dist, &y, hyper) else {
                    continue;
                };
                let nll = gp.neg_log_likelihood();
                if best.is_none_or(|(b, _)| nll < b) {
                    best = Some((nll, hyper));
                }
            }
        }
        Gp::with_hyper(x, y, best?.1)
    }

    /// The process on (x, y) with fixed length scale and noise; the signal variance is the one
    /// that maximizes the likelihood (yᵀK⁻¹y / n).
    pub(crate) fn with_hyper(x: Vec<Vec<f64>>, y: Vec<f64>, hyper: Hyper) -> Option<Gp> {
        let solved = Gp::solve(x.len(), &distances(&x), &y, hyper)?;
        Some(Gp {
            x,
            y,
            hyper,
            amp: solved.amp,
            chol: solved.chol,
            alpha: solved.alpha,
        })
    }

    /// Cholesky factor, weights and signal variance for the pairwise distances `dist` (n×n).
    fn solve(n: usize, dist: &[f64], y: &[f64], hyper: Hyper) -> Option<Solved> {
        if n == 0 || y.len() != n {
            return None;
        }
        let mut k: Vec<f64> = dist
            .iter()
            .map(|&d| matern52_at(d / hyper.length_scale))
            .collect();
        for i in 0..n {
            k[i * n + i] += hyper.noise + 1e-9;
        }
        if !cholesky(&mut k, n) {
            return None;
        }
        let alpha = backward(&k, n, &forward(&k, n, y));
        let quad: f64 = y.iter().zip(&alpha).map(|(a, b)| a * b).sum();
        Some(Solved {
            amp: (quad / n as f64).max(1e-12),
            chol: k,
            alpha,
        })
    }
}

struct Solved {
    amp: f64,
    chol: Vec<f64>,
    alpha: Vec<f64>,
}

impl Solved {
    fn neg_log_likelihood(&self) -> f64 {
        let n = self.alpha.len();
        let log_det: f64 = (0..n).map(|i| self.chol[i * n + i].ln()).sum();
        0.5 * n as f64 * self.amp.ln() + log_det
    }
}

impl Gp {
    /// The same process with more (x, y) pairs: used for pending points, whose y is the
    /// current posterior mean (the "kriging believer").
    pub(crate) fn with_points(&self, xs: &[Vec<f64>], ys: &[f64]) -> Option<Gp> {
        let mut x = self.x.clone();
        let mut y = self.y.clone();
        x.extend_from_slice(xs);
        y.extend_from_slice(ys);
        let mut gp = Gp::with_hyper(x, y, self.hyper)?;
        gp.amp = self.amp;
        Some(gp)
    }

    /// Posterior mean and standard deviation of the latent function at `f`.
    pub(crate) fn predict(&self, f: &[f64]) -> (f64, f64) {
        let n = self.x.len();
        let k: Vec<f64> = self
            .x
            .iter()
            .map(|xi| matern52(xi, f, self.hyper.length_scale))
            .collect();
        let mean: f64 = k.iter().zip(&self.alpha).map(|(a, b)| a * b).sum();
        let v = forward(&self.chol, n, &k);
        let vv: f64 = v.iter().map(|a| a * a).sum();
        let var = (self.amp * (1.0 - vv)).max(1e-12);
        (mean, var.sqrt())
    }
}

/// Standard normal density and distribution function.
pub(crate) fn norm_pdf(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

pub(crate) fn norm_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Expected improvement below `best` (minimization) of a prediction (mean, sd).
pub(crate) fn expected_improvement(mean: f64, sd: f64, best: f64, xi: f64) -> f64 {
    let d = best - mean - xi;
    if sd <= 1e-12 {
        return d.max(0.0);
    }
    let z = d / sd;
    d * norm_cdf(z) + sd * norm_pdf(z)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_known_system() {
        // A = [[4, 2], [2, 3]] = L Lᵀ with L = [[2, 0], [1, sqrt(2)]].
        let mut a = vec![4.0, 2.0, 2.0, 3.0];
        assert!(cholesky(&mut a, 2));
        assert!((a[0] - 2.0).abs() < 1e-12 && (a[2] - 1.0).abs() < 1e-12);
        assert!((a[3] - 2f64.sqrt()).abs() < 1e-12 && a[1] == 0.0);
        // A z = [8, 7] → z = [1.25, 1.5].
        let z = backward(&a, 2, &forward(&a, 2, &[8.0, 7.0]));
        assert!(
            (z[0] - 1.25).abs() < 1e-12 && (z[1] - 1.5).abs() < 1e-12,
            "{z:?}"
        );
        let mut not_pd = vec![1.0, 2.0, 2.0, 1.0];
        assert!(!cholesky(&mut not_pd, 2));
    }

    #[test]
    fn gp_interpolates_and_is_uncertain_far_away() {
        let x: Vec<Vec<f64>> = (0..8).map(|i| vec![f64::from(i) / 7.0]).collect();
        let y: Vec<f64> = x.iter().map(|p| (6.0 * p[0]).sin()).collect();
        let gp = Gp::fit(x.clone(), y.clone()).unwrap();
        for (p, v) in x.iter().zip(&y) {
            let (m, s) = gp.predict(p);
            assert!((m - v).abs() < 0.05, "mean {m} at {p:?}, want {v}");
            assert!(s < 0.2, "sd {s} at a data point");
        }
        let (_, s_mid) = gp.predict(&[0.5 / 7.0]);
        let (_, s_far) = gp.predict(&[3.0]);
        assert!(s_far > s_mid, "far {s_far} vs between points {s_mid}");
    }

    #[test]
    fn normal_functions_and_expected_improvement() {
        assert!((norm_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((norm_cdf(1.96) - 0.975).abs() < 1e-4);
        assert!((norm_cdf(-1.96) - 0.025).abs() < 1e-4);
        // EI grows with uncertainty and with a lower mean.
        assert!(
            expected_improvement(0.0, 1.0, 0.0, 0.0) > expected_improvement(0.0, 0.5, 0.0, 0.0)
        );
        assert!(
            expected_improvement(-1.0, 0.5, 0.0, 0.0) > expected_improvement(0.0, 0.5, 0.0, 0.0)
        );
        assert_eq!(expected_improvement(1.0, 0.0, 0.0, 0.0), 0.0);
    }
}
