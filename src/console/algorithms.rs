//! The built-in algorithms the training form offers: the ones sagebox emulates, with their image
//! URIs as `sagemaker.image_uris.retrieve` forms them, the content types and input modes each
//! reads, and a working subset of their hyperparameters (names, SageMaker's documented defaults
//! and valid values), each checked as the algorithm checks it.

/// What values a hyperparameter takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// An integer in `min..=max`; `auto` too when `auto` is set.
    Int {
        min: i64,
        max: Option<i64>,
        auto: bool,
    },
    /// A number in `min..=max` (`min_open`: strictly above `min`); `auto` too when set.
    Float {
        min: Option<f64>,
        max: Option<f64>,
        min_open: bool,
        auto: bool,
    },
    /// One of these words.
    Enum(&'static [&'static str]),
    /// `true` or `false`.
    Bool,
    /// Free text (a comma-separated list of metric names, say).
    Text,
}

/// When a hyperparameter must be given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Required {
    No,
    Yes,
    /// When hyperparameter `.0`'s value starts with `.1`.
    When(&'static str, &'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct Hyperparameter {
    pub name: &'static str,
    pub kind: Kind,
    pub required: Required,
    /// SageMaker's default, filled into the form ("" when there is none).
    pub default: &'static str,
    pub description: &'static str,
}

#[derive(Debug)]
pub struct Algorithm {
    /// The form's name for it, also the emulator recipe's name.
    pub name: &'static str,
    pub title: &'static str,
    /// The AWS repository and tag of the image `image_uris.retrieve` forms.
    pub repository: &'static str,
    pub tag: &'static str,
    pub content_types: &'static [&'static str],
    pub input_modes: &'static [&'static str],
    pub channels: &'static [&'static str],
    pub hyperparameters: &'static [Hyperparameter],
    pub about: &'static str,
}

const fn hp(
    name: &'static str,
    kind: Kind,
    required: Required,
    default: &'static str,
    description: &'static str,
) -> Hyperparameter {
    Hyperparameter {
        name,
        kind,
        required,
        default,
        description,
    }
}

const fn int(min: i64) -> Kind {
    Kind::Int {
        min,
        max: None,
        auto: false,
    }
}

const fn int_or_auto(min: i64) -> Kind {
    Kind::Int {
        min,
        max: None,
        auto: true,
    }
}

const fn float(min: f64, max: Option<f64>) -> Kind {
    Kind::Float {
        min: Some(min),
        max,
        min_open: false,
        auto: false,
    }
}

const fn positive_or_auto() -> Kind {
    Kind::Float {
        min: Some(0.0),
        max: None,
        min_open: true,
        auto: true,
    }
}

const fn nonnegative_or_auto() -> Kind {
    Kind::Float {
        min: Some(0.0),
        max: None,
        min_open: false,
        auto: true,
    }
}

const fn fraction() -> Kind {
    Kind::Float {
        min: Some(0.0),
        max: Some(1.0),
        min_open: true,
        auto: false,
    }
}

use Required::{No, When, Yes};

pub const LINEAR_LOSSES: &[(&str, &[&str])] = &[
    ("binary_classifier", &["logistic", "hinge_loss"]),
    ("multiclass_classifier", &["softmax_loss"]),
    (
        "regressor",
        &[
            "squared_loss",
            "absolute_loss",
            "huber_loss",
            "eps_insensitive_squared_loss",
            "eps_insensitive_absolute_loss",
            "quantile_loss",
        ],
    ),
];

const LINEAR_LEARNER: &[Hyperparameter] = &[
    hp(
        "feature_dim",
        int_or_auto(1),
        Yes,
        "",
        "Number of features in the input data (columns after the label).",
    ),
    hp(
        "predictor_type",
        Kind::Enum(&["binary_classifier", "multiclass_classifier", "regressor"]),
        Yes,
        "",
        "Type of the target variable: a binary or multiclass label, or a real number.",
    ),
    hp(
        "num_classes",
        Kind::Int {
            min: 3,
            max: Some(1_000_000),
            auto: false,
        },
        When("predictor_type", "multiclass_classifier"),
        "",
        "Number of classes of the label (3 to 1,000,000); required for multiclass_classifier.",
    ),
    hp(
        "epochs",
        int(1),
        No,
        "15",
        "Maximum number of passes over the training data.",
    ),
    hp(
        "mini_batch_size",
        int(1),
        No,
        "1000",
        "Number of observations per mini-batch.",
    ),
    hp(
        "learning_rate",
        positive_or_auto(),
        No,
        "auto",
        "Step size of the optimizer; auto tries several.",
    ),
    hp(
        "l1",
        nonnegative_or_auto(),
        No,
        "auto",
        "L1 regularization parameter; 0 for none.",
    ),
    hp(
        "wd",
        nonnegative_or_auto(),
        No,
        "auto",
        "Weight decay (L2 regularization); 0 for none.",
    ),
    hp(
        "optimizer",
        Kind::Enum(&["auto", "sgd", "adam", "rmsprop"]),
        No,
        "auto",
        "Optimization algorithm (auto is adam).",
    ),
    hp(
        "loss",
        Kind::Enum(&[
            "auto",
            "logistic",
            "hinge_loss",
            "softmax_loss",
            "squared_loss",
            "absolute_loss",
            "huber_loss",
            "eps_insensitive_squared_loss",
            "eps_insensitive_absolute_loss",
            "quantile_loss",
        ]),
        No,
        "auto",
        "Loss function; it must suit predictor_type (auto picks logistic, softmax_loss or squared_loss).",
    ),
    hp(
        "normalize_data",
        Kind::Bool,
        No,
        "true",
        "Normalize the features before training.",
    ),
    hp(
        "binary_classifier_model_selection_criteria",
        Kind::Enum(&[
            "accuracy",
            "f_beta",
            "precision_at_target_recall",
            "recall_at_target_precision",
            "loss_function",
        ]),
        No,
        "accuracy",
        "How a binary classifier's model and threshold are chosen on the validation data.",
    ),
    hp(
        "early_stopping_patience",
        int(1),
        No,
        "3",
        "Epochs without improvement before training stops.",
    ),
];

const XGBOOST: &[Hyperparameter] = &[
    hp("num_round", int(1), Yes, "", "Number of boosting rounds."),
    hp(
        "objective",
        Kind::Enum(&[
            "reg:squarederror",
            "reg:logistic",
            "reg:pseudohubererror",
            "reg:absoluteerror",
            "reg:gamma",
            "reg:tweedie",
            "binary:logistic",
            "binary:logitraw",
            "binary:hinge",
            "multi:softmax",
            "multi:softprob",
            "count:poisson",
            "rank:pairwise",
        ]),
        No,
        "reg:squarederror",
        "Learning task and objective.",
    ),
    hp(
        "num_class",
        int(2),
        When("objective", "multi:"),
        "",
        "Number of classes; required for multi:softmax and multi:softprob.",
    ),
    hp(
        "eta",
        float(0.0, Some(1.0)),
        No,
        "0.3",
        "Step size shrinkage used in updates (0 to 1).",
    ),
    hp("max_depth", int(0), No, "6", "Maximum depth of a tree."),
    hp(
        "min_child_weight",
        float(0.0, None),
        No,
        "1",
        "Minimum sum of instance weight needed in a child.",
    ),
    hp(
        "subsample",
        fraction(),
        No,
        "1",
        "Fraction of the training rows sampled for each tree (above 0, at most 1).",
    ),
    hp(
        "colsample_bytree",
        fraction(),
        No,
        "1",
        "Fraction of the columns sampled for each tree (above 0, at most 1).",
    ),
    hp(
        "gamma",
        float(0.0, None),
        No,
        "0",
        "Minimum loss reduction required to split a leaf.",
    ),
    hp(
        "alpha",
        float(0.0, None),
        No,
        "0",
        "L1 regularization term on weights.",
    ),
    hp(
        "lambda",
        float(0.0, None),
        No,
        "1",
        "L2 regularization term on weights.",
    ),
    hp(
        "eval_metric",
        Kind::Text,
        No,
        "",
        "Evaluation metrics for the validation data, comma-separated (rmse, mae, logloss, error, merror, mlogloss, auc, …); the objective's default when empty.",
    ),
    hp(
        "early_stopping_rounds",
        int(1),
        No,
        "",
        "Stop when the validation score has not improved for this many rounds (needs a validation channel).",
    ),
    hp(
        "tree_method",
        Kind::Enum(&["auto", "exact", "approx", "hist"]),
        No,
        "auto",
        "Tree construction algorithm.",
    ),
];

const KMEANS: &[Hyperparameter] = &[
    hp("k", int(1), Yes, "", "Number of clusters."),
    hp(
        "feature_dim",
        int(1),
        Yes,
        "",
        "Number of features in the input data.",
    ),
    hp(
        "mini_batch_size",
        int(1),
        No,
        "5000",
        "Number of observations per mini-batch.",
    ),
    hp(
        "epochs",
        int(1),
        No,
        "1",
        "Number of passes over the training data.",
    ),
    hp(
        "init_method",
        Kind::Enum(&["random", "kmeans++"]),
        No,
        "random",
        "How the initial cluster centers are chosen.",
    ),
    hp(
        "local_lloyd_max_iter",
        int(1),
        No,
        "300",
        "Maximum iterations of Lloyd's expectation-maximization for the final model.",
    ),
    hp(
        "local_lloyd_tol",
        float(0.0, Some(1.0)),
        No,
        "0.0001",
        "Tolerance for the change in loss that stops Lloyd's iterations early (0 to 1).",
    ),
    hp(
        "extra_center_factor",
        int_or_auto(1),
        No,
        "auto",
        "Extra centers found during training (k × this), reduced to k at the end.",
    ),
    hp(
        "eval_metrics",
        Kind::Enum(&["[\"msd\"]", "[\"ssd\"]", "[\"msd\",\"ssd\"]"]),
        No,
        "[\"msd\"]",
        "Metrics reported on the test channel: mean or sum of squared distances.",
    ),
];

const PCA: &[Hyperparameter] = &[
    hp(
        "feature_dim",
        int(1),
        Yes,
        "",
        "Number of features in the input data.",
    ),
    hp(
        "num_components",
        int(1),
        Yes,
        "",
        "Number of principal components to compute (at most feature_dim).",
    ),
    hp(
        "mini_batch_size",
        int(1),
        Yes,
        "",
        "Number of rows in a mini-batch.",
    ),
    hp(
        "algorithm_mode",
        Kind::Enum(&["regular", "randomized"]),
        No,
        "regular",
        "regular for moderate feature_dim, randomized for many features.",
    ),
    hp(
        "subtract_mean",
        Kind::Bool,
        No,
        "true",
        "Center the data (subtract each feature's mean) before the decomposition.",
    ),
    hp(
        "extra_components",
        Kind::Int {
            min: -1,
            max: None,
            auto: false,
        },
        No,
        "-1",
        "Extra components computed for accuracy in randomized mode (-1: the larger of 10 and num_components).",
    ),
];

pub const CSV: &str = "text/csv";
pub const RECORDIO: &str = "application/x-recordio-protobuf";
pub const LIBSVM: &str = "text/libsvm";
const MODES: &[&str] = &["File", "Pipe"];

pub static ALGORITHMS: &[Algorithm] = &[
    Algorithm {
        name: "linear-learner",
        title: "Linear Learner",
        repository: "linear-learner",
        tag: "1",
        content_types: &[CSV, RECORDIO],
        input_modes: MODES,
        channels: &["train", "validation", "test"],
        hyperparameters: LINEAR_LEARNER,
        about: "Linear models for classification and regression. CSV data has the label in the first column.",
    },
    Algorithm {
        name: "xgboost",
        title: "XGBoost",
        repository: "sagemaker-xgboost",
        tag: "1.7-1",
        content_types: &[CSV, LIBSVM, RECORDIO],
        input_modes: MODES,
        channels: &["train", "validation"],
        hyperparameters: XGBOOST,
        about: "Gradient-boosted trees (XGBoost 1.7). CSV data has the label in the first column; a channel without a content type is read as libsvm.",
    },
    Algorithm {
        name: "kmeans",
        title: "K-Means",
        repository: "kmeans",
        tag: "1",
        content_types: &[CSV, RECORDIO],
        input_modes: MODES,
        channels: &["train", "test"],
        hyperparameters: KMEANS,
        about: "Clustering into k groups. CSV data holds the features only (no label).",
    },
    Algorithm {
        name: "pca",
        title: "PCA",
        repository: "pca",
        tag: "1",
        content_types: &[CSV, RECORDIO],
        input_modes: MODES,
        channels: &["train", "test"],
        hyperparameters: PCA,
        about: "Principal component analysis. CSV data holds the features only (no label).",
    },
];

/// The algorithm called `name` (as in the form), if sagebox emulates it.
pub fn by_name(name: &str) -> Option<&'static Algorithm> {
    ALGORITHMS.iter().find(|a| a.name == name)
}

/// The registry accounts of the Linear Learner, K-Means and PCA images (version "1").
const FIRST_PARTY: &[(&str, &str)] = &[
    ("af-south-1", "455444449433"),
    ("ap-east-1", "286214385809"),
    ("ap-northeast-1", "351501993468"),
    ("ap-northeast-2", "835164637446"),
    ("ap-northeast-3", "364406365360"),
    ("ap-south-1", "991648021394"),
    ("ap-southeast-1", "475088953585"),
    ("ap-southeast-2", "712309505854"),
    ("ca-central-1", "469771592824"),
    ("cn-north-1", "390948362332"),
    ("cn-northwest-1", "387376663083"),
    ("eu-central-1", "664544806723"),
    ("eu-north-1", "669576153137"),
    ("eu-west-1", "438346466558"),
    ("eu-west-2", "644912444149"),
    ("eu-west-3", "749696950732"),
    ("eu-south-1", "257386234256"),
    ("me-south-1", "249704162688"),
    ("sa-east-1", "855470959533"),
    ("us-east-1", "382416733822"),
    ("us-east-2", "404615174143"),
    ("us-gov-west-1", "226302683700"),
    ("us-iso-east-1", "490574956308"),
    ("us-west-1", "632365934929"),
    ("us-west-2", "174872318107"),
];

/// The registry accounts of the sagemaker-xgboost 1.7-1 image.
const XGBOOST_ACCOUNTS: &[(&str, &str)] = &[
    ("af-south-1", "510948584623"),
    ("ap-east-1", "651117190479"),
    ("ap-northeast-1", "354813040037"),
    ("ap-northeast-2", "366743142698"),
    ("ap-northeast-3", "867004704886"),
    ("ap-south-1", "720646828776"),
    ("ap-south-2", "628508329040"),
    ("ap-southeast-1", "121021644041"),
    ("ap-southeast-2", "783357654285"),
    ("ap-southeast-3", "951798379941"),
    ("ap-southeast-4", "106583098589"),
    ("ca-central-1", "341280168497"),
    ("ca-west-1", "190319476487"),
    ("cn-north-1", "450853457545"),
    ("cn-northwest-1", "451049120500"),
    ("eu-central-1", "492215442770"),
    ("eu-central-2", "680994064768"),
    ("eu-north-1", "662702820516"),
    ("eu-south-1", "978288397137"),
    ("eu-south-2", "104374241257"),
    ("eu-west-1", "141502667606"),
    ("eu-west-2", "764974769150"),
    ("eu-west-3", "659782779980"),
    ("il-central-1", "898809789911"),
    ("me-central-1", "272398656194"),
    ("me-south-1", "801668240914"),
    ("sa-east-1", "737474898029"),
    ("us-east-1", "683313688378"),
    ("us-east-2", "257758044811"),
    ("us-gov-east-1", "237065988967"),
    ("us-gov-west-1", "414596584902"),
    ("us-iso-east-1", "833128469047"),
    ("us-isob-east-1", "281123927165"),
    ("us-isof-east-1", "108575199400"),
    ("us-isof-south-1", "124985052026"),
    ("us-west-1", "746614075791"),
    ("us-west-2", "246618743249"),
];

/// The DNS suffix of a region's partition.
fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else if region.starts_with("us-isob-") {
        "sc2s.sgov.gov"
    } else if region.starts_with("us-isof-") {
        "csp.hci.ic.gov"
    } else if region.starts_with("us-iso-") {
        "c2s.ic.gov"
    } else {
        "amazonaws.com"
    }
}

impl Algorithm {
    /// The image URI `sagemaker.image_uris.retrieve(name, region)` gives (a region missing from
    /// the SDK's table gets us-east-1's account: sagebox runs its emulator image either way).
    pub fn image_uri(&self, region: &str) -> String {
        let table = if self.repository == "sagemaker-xgboost" {
            XGBOOST_ACCOUNTS
        } else {
            FIRST_PARTY
        };
        let account = table
            .iter()
            .find(|(r, _)| *r == region)
            .or_else(|| table.iter().find(|(r, _)| *r == "us-east-1"))
            .map_or("", |(_, a)| *a);
        format!(
            "{account}.dkr.ecr.{region}.{}/{}:{}",
            dns_suffix(region),
            self.repository,
            self.tag
        )
    }
}

/// The built-in algorithm a training image runs (None: a custom image). An XGBoost image in
/// script mode (`sagemaker_program` among the hyperparameters) counts as custom.
pub fn recognise(image: &str, script_mode: bool) -> Option<&'static Algorithm> {
    match crate::runtime::uris::resolve(image) {
        Ok(crate::runtime::uris::ImageChoice::Emulated { recipe }) if !script_mode => {
            by_name(recipe)
        }
        _ => None,
    }
}

fn number_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

impl Hyperparameter {
    /// A sentence on the values it takes, for the form.
    pub fn valid_values(&self) -> String {
        match self.kind {
            Kind::Int { min, max, auto } => {
                let mut s = match (min, max) {
                    (1, None) => "positive integer".to_string(),
                    (0, None) => "integer ≥ 0".to_string(),
                    (m, None) => format!("integer ≥ {m}"),
                    (m, Some(x)) => format!("integer {m}–{x}"),
                };
                if auto {
                    s.push_str(" or auto");
                }
                s
            }
            Kind::Float {
                min,
                max,
                min_open,
                auto,
            } => {
                let mut s = match (min, max) {
                    (Some(a), Some(b)) => format!(
                        "number {} {} and ≤ {}",
                        if min_open { ">" } else { "≥" },
                        number_text(a),
                        number_text(b)
                    ),
                    (Some(a), None) => {
                        format!(
                            "number {} {}",
                            if min_open { ">" } else { "≥" },
                            number_text(a)
                        )
                    }
                    _ => "number".to_string(),
                };
                if auto {
                    s.push_str(" or auto");
                }
                s
            }
            Kind::Enum(words) => words.join(", "),
            Kind::Bool => "true or false".to_string(),
            Kind::Text => "text".to_string(),
        }
    }

    /// Checks `value` (trimmed, not empty) as the algorithm does: None when valid, else why not.
    pub fn check(&self, value: &str) -> Option<String> {
        let name = self.name;
        match self.kind {
            Kind::Int { min, max, auto } => {
                if auto && value == "auto" {
                    return None;
                }
                let Ok(v) = value.parse::<i64>() else {
                    let what = if min == 1 {
                        "a positive integer"
                    } else {
                        "an integer"
                    };
                    let or_auto = if auto { " or auto" } else { "" };
                    return Some(format!("{name} must be {what}{or_auto}, got '{value}'"));
                };
                if v < min || max.is_some_and(|m| v > m) {
                    return Some(match max {
                        Some(m) => format!("{name} must be between {min} and {m}, got {v}"),
                        None if min == 1 => {
                            format!("{name} must be a positive integer, got {v}")
                        }
                        None => format!("{name} must be at least {min}, got {v}"),
                    });
                }
                None
            }
            Kind::Float {
                min,
                max,
                min_open,
                auto,
            } => {
                if auto && value == "auto" {
                    return None;
                }
                let v = match value.parse::<f64>() {
                    Ok(v) if v.is_finite() => v,
                    _ => {
                        let or_auto = if auto { " or auto" } else { "" };
                        return Some(format!("{name} must be a number{or_auto}, got '{value}'"));
                    }
                };
                let low = min.is_some_and(|m| if min_open { v <= m } else { v < m });
                let high = max.is_some_and(|m| v > m);
                if low || high {
                    return Some(format!(
                        "{name} must be a {}, got {value}",
                        self.valid_values().trim_end_matches(" or auto")
                    ));
                }
                None
            }
            Kind::Enum(words) => (!words.contains(&value))
                .then(|| format!("{name} must be one of {}, got '{value}'", words.join(", "))),
            Kind::Bool => (!matches!(value, "true" | "false"))
                .then(|| format!("{name} must be true or false, got '{value}'")),
            Kind::Text => None,
        }
    }
}

/// Checks one algorithm's hyperparameters: `(name, problem)` for each bad one. `value(name)`
/// gives a hyperparameter's trimmed value, None when not given.
pub fn check_all<'a>(
    algo: &Algorithm,
    value: impl Fn(&str) -> Option<&'a str>,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for h in algo.hyperparameters {
        match value(h.name) {
            Some(v) => {
                if let Some(p) = h.check(v) {
                    out.push((h.name, p));
                }
            }
            None => match h.required {
                Required::Yes => out.push((h.name, format!("{} is required", h.name))),
                Required::When(other, prefix)
                    if value(other).is_some_and(|v| v.starts_with(prefix)) =>
                {
                    out.push((
                        h.name,
                        format!(
                            "{} is required when {other} is {}",
                            h.name,
                            value(other).unwrap_or_default()
                        ),
                    ));
                }
                _ => {}
            },
        }
    }
    // what the algorithms check across hyperparameters
    if algo.name == "linear-learner"
        && let (Some(kind), Some(loss)) = (value("predictor_type"), value("loss"))
        && loss != "auto"
        && let Some((_, losses)) = LINEAR_LOSSES.iter().find(|(k, _)| *k == kind)
        && !losses.contains(&loss)
        && !out.iter().any(|(n, _)| *n == "loss")
    {
        out.push((
            "loss",
            format!(
                "loss {loss} is not valid for predictor_type {kind} (valid: auto, {})",
                losses.join(", ")
            ),
        ));
    }
    if algo.name == "pca"
        && let (Some(dim), Some(n)) = (value("feature_dim"), value("num_components"))
        && let (Ok(dim), Ok(n)) = (dim.parse::<i64>(), n.parse::<i64>())
        && n > dim
        && !out.iter().any(|(x, _)| *x == "num_components")
    {
        out.push((
            "num_components",
            format!("num_components must be between 1 and feature_dim ({dim}), got {n}"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(algo: &str, pairs: &[(&str, &str)]) -> Vec<(&'static str, String)> {
        let a = by_name(algo).unwrap();
        check_all(a, |n| {
            pairs
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| *v)
                .filter(|v| !v.is_empty())
        })
    }

    #[test]
    fn image_uris_are_the_sdks() {
        let ll = by_name("linear-learner").unwrap();
        assert_eq!(
            ll.image_uri("us-east-1"),
            "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
        );
        assert_eq!(
            by_name("xgboost").unwrap().image_uri("eu-west-1"),
            "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"
        );
        assert_eq!(
            by_name("kmeans").unwrap().image_uri("cn-north-1"),
            "390948362332.dkr.ecr.cn-north-1.amazonaws.com.cn/kmeans:1"
        );
        for a in ALGORITHMS {
            for region in ["us-east-1", "us-west-2", "eu-central-1", "cn-north-1"] {
                let uri = a.image_uri(region);
                assert_eq!(
                    recognise(&uri, false).map(|r| r.name),
                    Some(a.name),
                    "{uri}"
                );
            }
        }
        assert!(recognise("my-algo:latest", false).is_none());
        assert!(recognise(&by_name("xgboost").unwrap().image_uri("us-east-1"), true).is_none());
    }

    #[test]
    fn hyperparameters_are_checked_as_the_algorithm_does() {
        let ok = check(
            "linear-learner",
            &[
                ("feature_dim", "64"),
                ("predictor_type", "multiclass_classifier"),
                ("num_classes", "10"),
                ("epochs", "2"),
                ("learning_rate", "auto"),
                ("loss", "softmax_loss"),
            ],
        );
        assert_eq!(ok, vec![]);
        let bad = check(
            "linear-learner",
            &[
                ("feature_dim", "abc"),
                ("predictor_type", "multiclass_classifier"),
                ("epochs", "0"),
                ("l1", "-1"),
                ("normalize_data", "yes"),
                ("loss", "logistic"),
            ],
        );
        let names: Vec<&str> = bad.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            vec![
                "feature_dim",
                "num_classes",
                "epochs",
                "l1",
                "normalize_data",
                "loss"
            ]
        );
        assert_eq!(
            bad[0].1,
            "feature_dim must be a positive integer or auto, got 'abc'"
        );
        assert!(bad[1].1.contains("required when predictor_type"));
        assert_eq!(check("linear-learner", &[]).len(), 2);
        let x = check(
            "xgboost",
            &[("num_round", "10"), ("objective", "multi:softmax")],
        );
        assert_eq!(x.len(), 1, "{x:?}");
        assert_eq!(x[0].0, "num_class");
        let x = check(
            "xgboost",
            &[("num_round", "10"), ("eta", "1.5"), ("subsample", "0")],
        );
        assert_eq!(x.len(), 2, "{x:?}");
        let p = check(
            "pca",
            &[
                ("feature_dim", "4"),
                ("num_components", "5"),
                ("mini_batch_size", "10"),
            ],
        );
        assert_eq!(p.len(), 1, "{p:?}");
    }

    #[test]
    fn defaults_are_valid_values() {
        for a in ALGORITHMS {
            for h in a.hyperparameters {
                if !h.default.is_empty() {
                    assert_eq!(h.check(h.default), None, "{} {}", a.name, h.name);
                }
                assert!(
                    h.required == Required::No || h.default.is_empty(),
                    "{}",
                    h.name
                );
            }
        }
    }
}
