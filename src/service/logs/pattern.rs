//! FilterLogEvents' filter patterns, the unstructured-text part of CloudWatch's syntax:
//!
//! - `ERROR Exception`: every term must appear (AND);
//! - `"connection reset"`: a quoted term is matched as one exact substring, spaces included
//!   (`\"` and `\\` escape inside quotes);
//! - `?ERROR ?WARN`: at least one of the `?` terms must appear;
//! - `-DEBUG`: the term must not appear.
//!
//! Matching is by substring and case-sensitive, as in CloudWatch; an empty pattern matches every
//! event. JSON (`{ $.level = ... }`), space-delimited (`[ip, user, ...]`) and regular-expression
//! (`%...%`) patterns are refused with an error rather than matched literally, so a query that
//! would mean something else on AWS never silently returns wrong results.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterPattern {
    all: Vec<String>,
    any: Vec<String>,
    none: Vec<String>,
}

impl FilterPattern {
    /// Parses a pattern; the error is the message for InvalidParameterException.
    pub fn parse(text: &str) -> Result<FilterPattern, String> {
        let text = text.trim();
        if text.starts_with(['{', '[', '%']) {
            return Err("sagebox supports only text filter patterns".into());
        }
        let mut pattern = FilterPattern::default();
        let mut chars = text.chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let Some(&first) = chars.peek() else { break };
            // `?` and `-` are operators only when a term follows them directly.
            let mut operator = None;
            if first == '?' || first == '-' {
                chars.next();
                match chars.peek() {
                    Some(c) if !c.is_whitespace() => operator = Some(first),
                    // A lone `?` or `-` is a term of its own.
                    _ => {
                        pattern.all.push(first.to_string());
                        continue;
                    }
                }
            }
            let term = if chars.next_if_eq(&'"').is_some() {
                let mut term = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => term.push(c),
                            Some(c) => {
                                term.push('\\');
                                term.push(c);
                            }
                            None => {
                                return Err(format!(
                                    "Invalid filter pattern: unterminated quote in {text}"
                                ));
                            }
                        },
                        Some(c) => term.push(c),
                        None => {
                            return Err(format!(
                                "Invalid filter pattern: unterminated quote in {text}"
                            ));
                        }
                    }
                }
                term
            } else {
                let mut term = String::new();
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    term.push(c);
                }
                term
            };
            match operator {
                Some('?') => pattern.any.push(term),
                Some(_) => pattern.none.push(term),
                None => pattern.all.push(term),
            }
        }
        Ok(pattern)
    }

    pub fn matches(&self, message: &str) -> bool {
        self.all.iter().all(|t| message.contains(t.as_str()))
            && !self.none.iter().any(|t| message.contains(t.as_str()))
            && (self.any.is_empty() || self.any.iter().any(|t| message.contains(t.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> FilterPattern {
        FilterPattern::parse(s).unwrap()
    }

    #[test]
    fn terms_are_all_required_and_case_sensitive() {
        let pat = p("ERROR timeout");
        assert!(pat.matches("12:00 ERROR: read timeout"));
        assert!(!pat.matches("12:00 ERROR: refused"));
        assert!(!pat.matches("12:00 error: read timeout"));
    }

    #[test]
    fn quoted_terms_match_as_one_phrase_with_escapes() {
        let pat = p(r#""connection reset" "say \"hi\"""#);
        assert_eq!(pat.all, ["connection reset", "say \"hi\""]);
        assert!(pat.matches("x connection reset; say \"hi\""));
        assert!(!pat.matches("connection was reset; say \"hi\""));
    }

    #[test]
    fn question_terms_need_any_one_and_minus_terms_exclude() {
        let pat = p("?ERROR ?WARN -healthcheck");
        assert!(pat.matches("WARN disk"));
        assert!(pat.matches("ERROR oom"));
        assert!(!pat.matches("INFO ok"));
        assert!(!pat.matches("ERROR healthcheck failed"));
        let quoted = p(r#"-"GET /ping""#);
        assert!(quoted.matches("POST /invocations"));
        assert!(!quoted.matches("GET /ping 200"));
    }

    #[test]
    fn empty_patterns_match_everything_and_lone_operators_are_terms() {
        assert!(p("").matches("anything"));
        assert!(p("   ").matches(""));
        assert_eq!(p("a - b").all, ["a", "-", "b"]);
    }

    #[test]
    fn structured_patterns_and_broken_quotes_are_refused() {
        assert!(FilterPattern::parse("{ $.level = \"ERROR\" }").is_err());
        assert!(FilterPattern::parse("[ip, user]").is_err());
        assert!(FilterPattern::parse("%ERR.*%").is_err());
        assert!(FilterPattern::parse("\"open").is_err());
    }
}
