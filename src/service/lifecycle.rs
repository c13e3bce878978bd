//! Each family's legal status moves, written once as a table (`Lifecycle`) that the family's state
//! code consults before it writes a status and that a unit test can walk. The statuses are the
//! enums generated from the model (`aws::model::typed::sagemaker::*Status`).

use std::fmt::Debug;

/// A family's status machine: where a resource starts and every move it may make. Staying in
/// the same status is always allowed (a save that only changes other members).
pub struct Lifecycle<S: 'static> {
    /// The resource family, for messages ("training job").
    pub family: &'static str,
    /// The statuses a new resource may start in.
    pub initial: &'static [S],
    /// Every legal move, from → to.
    pub moves: &'static [(S, S)],
}

/// A move the table does not allow: a bug in the supervisor that asked for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{family} {name}: no move from {from} to {to}")]
pub struct IllegalMove {
    pub family: &'static str,
    pub name: String,
    pub from: String,
    pub to: String,
}

impl<S: Copy + PartialEq + Debug + std::fmt::Display> Lifecycle<S> {
    pub fn allows(&self, from: S, to: S) -> bool {
        from == to || self.moves.contains(&(from, to))
    }

    /// `Ok` when `name` may move from `from` to `to`; the refusal names all three.
    pub fn check(&self, name: &str, from: S, to: S) -> Result<(), IllegalMove> {
        if self.allows(from, to) {
            return Ok(());
        }
        Err(IllegalMove {
            family: self.family,
            name: name.to_string(),
            from: from.to_string(),
            to: to.to_string(),
        })
    }

    /// A status nothing leaves.
    pub fn is_terminal(&self, status: S) -> bool {
        !self.moves.iter().any(|(from, _)| *from == status)
    }

    /// Every status reachable from the initial ones, in the order first reached.
    pub fn reachable(&self) -> Vec<S> {
        let mut seen: Vec<S> = self.initial.to_vec();
        let mut i = 0;
        while i < seen.len() {
            let from = seen[i];
            for (f, t) in self.moves {
                if *f == from && !seen.contains(t) {
                    seen.push(*t);
                }
            }
            i += 1;
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Light {
        Red,
        Green,
        Off,
    }

    impl std::fmt::Display for Light {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{self:?}")
        }
    }

    const LIGHT: Lifecycle<Light> = Lifecycle {
        family: "light",
        initial: &[Light::Red],
        moves: &[
            (Light::Red, Light::Green),
            (Light::Green, Light::Red),
            (Light::Red, Light::Off),
        ],
    };

    #[test]
    fn a_table_allows_its_moves_and_staying_put_and_nothing_else() {
        assert!(LIGHT.allows(Light::Red, Light::Green));
        assert!(LIGHT.allows(Light::Off, Light::Off));
        let refused = LIGHT.check("l1", Light::Off, Light::Red);
        assert_eq!(
            refused.map_err(|e| e.to_string()),
            Err("light l1: no move from Off to Red".to_string())
        );
        assert!(LIGHT.is_terminal(Light::Off));
        assert!(!LIGHT.is_terminal(Light::Green));
        assert_eq!(
            LIGHT.reachable(),
            vec![Light::Red, Light::Green, Light::Off]
        );
    }
}
