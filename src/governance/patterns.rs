//! Exclusion patterns: globs over subject keys and setting paths, in the
//! spirit of driftctl's `.driftignore` and gitignore. `*` matches within a
//! segment, `**` any number of whole segments (none included), and a
//! leading `!` negates: of the rules that match, the last one decides.
//! Segments are separated by `.` and `/`, except inside `[...]`, where a
//! setting path names an element by its key (which may hold dots).

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `*`: any run of characters within one segment.
    Star,
    /// `**`: any run of whole segments, none included.
    Segments,
}

/// A parsed pattern; `source` is the text it was parsed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    pub source: String,
    pub negated: bool,
    tokens: Vec<Tok>,
}

/// Why a pattern does not parse, with the 1-based character position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError {
    pub position: usize,
    pub message: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}", self.position, self.message)
    }
}

const MAX_PATTERN_CHARS: usize = 500;

fn is_separator(c: char) -> bool {
    c == '.' || c == '/'
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let err = |position: usize, message: &str| PatternError {
            position,
            message: message.to_owned(),
        };
        let chars: Vec<char> = text.chars().collect();
        if chars.is_empty() {
            return Err(err(1, "the pattern is empty"));
        }
        if chars.len() > MAX_PATTERN_CHARS {
            return Err(err(
                MAX_PATTERN_CHARS + 1,
                "the pattern is longer than 500 characters",
            ));
        }
        if let Some(i) = chars.iter().position(|c| c.is_control()) {
            return Err(err(i + 1, "control characters cannot be matched"));
        }
        let (negated, start) = if chars[0] == '!' {
            (true, 1)
        } else {
            (false, 0)
        };
        if start == chars.len() {
            return Err(err(2, "`!` must be followed by a pattern"));
        }
        let mut tokens = Vec::new();
        let mut i = start;
        while i < chars.len() {
            let c = chars[i];
            if c == '*' {
                let run = chars[i..].iter().take_while(|c| **c == '*').count();
                match run {
                    1 => tokens.push(Tok::Star),
                    2 => {
                        let before_ok = i == start || is_separator(chars[i - 1]);
                        let after_ok = i + 2 == chars.len() || is_separator(chars[i + 2]);
                        if !(before_ok && after_ok) {
                            return Err(err(
                                i + 1,
                                "`**` must stand for whole segments (between `.` or `/`, or at an end); use `*` within a segment",
                            ));
                        }
                        tokens.push(Tok::Segments);
                    }
                    _ => return Err(err(i + 3, "more than two `*` in a row")),
                }
                i += run;
            } else if c == '\\' {
                // An escaped character stands for itself (`\*`, `\!`).
                match chars.get(i + 1) {
                    Some(next) => tokens.push(Tok::Lit(*next)),
                    None => return Err(err(i + 1, "`\\` at the end escapes nothing")),
                }
                i += 2;
            } else {
                tokens.push(Tok::Lit(c));
                i += 1;
            }
        }
        Ok(Pattern {
            source: text.to_owned(),
            negated,
            tokens,
        })
    }

    /// Whether the pattern (without its negation) matches all of `text`.
    pub fn matches(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        // Separators outside brackets only.
        let mut depth = 0usize;
        let separator: Vec<bool> = chars
            .iter()
            .map(|c| match c {
                '[' => {
                    depth += 1;
                    false
                }
                ']' => {
                    depth = depth.saturating_sub(1);
                    false
                }
                c => depth == 0 && is_separator(*c),
            })
            .collect();
        let mut memo = vec![None; (self.tokens.len() + 1) * (chars.len() + 1)];
        self.match_at(0, 0, &chars, &separator, &mut memo)
    }

    fn match_at(
        &self,
        p: usize,
        t: usize,
        text: &[char],
        separator: &[bool],
        memo: &mut Vec<Option<bool>>,
    ) -> bool {
        let slot = p * (text.len() + 1) + t;
        if let Some(known) = memo[slot] {
            return known;
        }
        let result = match self.tokens.get(p) {
            None => t == text.len(),
            Some(Tok::Lit(c)) => {
                t < text.len()
                    && text[t] == *c
                    && self.match_at(p + 1, t + 1, text, separator, memo)
            }
            Some(Tok::Star) => {
                let mut end = t;
                loop {
                    if self.match_at(p + 1, end, text, separator, memo) {
                        break true;
                    }
                    if end == text.len() || separator[end] {
                        break false;
                    }
                    end += 1;
                }
            }
            Some(Tok::Segments) => {
                // Zero segments: `a.**.b` matches `a.b`, so the separator
                // after `**` may be skipped too.
                let skip_separator =
                    matches!(self.tokens.get(p + 1), Some(Tok::Lit(c)) if is_separator(*c));
                (skip_separator && self.match_at(p + 2, t, text, separator, memo))
                    || (t..=text.len()).any(|end| self.match_at(p + 1, end, text, separator, memo))
            }
        };
        memo[slot] = Some(result);
        result
    }
}

/// Rules in order; the last that matches decides (a negated one keeps the
/// text in). `None` when none matches.
pub fn decide<'a>(rules: impl IntoIterator<Item = &'a Pattern>, text: &str) -> Option<bool> {
    let mut decision = None;
    for rule in rules {
        if rule.matches(text) {
            decision = Some(!rule.negated);
        }
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Pattern {
        Pattern::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn stars_stay_within_a_segment_and_double_stars_cross_them() {
        assert!(p("settings[*].value").matches("settings[a.b.c].value"));
        assert!(!p("settings.*").matches("settings.a.b"));
        assert!(p("settings.**").matches("settings.a.b"));
        assert!(p("**.value").matches("settings[x].choiceSettingValue.value"));
        assert!(p("a.**.b").matches("a.b"));
        assert!(p("a.**.b").matches("a.x.y.b"));
        assert!(!p("a.**.b").matches("a.xb"));
        assert!(p("Windows*").matches("Windows 11 baseline"));
        assert!(!p("Windows*").matches("Win"));
        assert!(p("*").matches(""));
        assert!(!p("abc").matches("abcd"));
        assert!(p("omaSettings[./Vendor/MSFT/*]").matches("omaSettings[./Vendor/MSFT/Policy]"));
        assert!(p(r"literal\*").matches("literal*"));
    }

    #[test]
    fn the_last_matching_rule_decides() {
        let rules = [p("password*"), p("!passwordMinimumLength")];
        assert_eq!(decide(&rules, "passwordExpirationDays"), Some(true));
        assert_eq!(decide(&rules, "passwordMinimumLength"), Some(false));
        assert_eq!(decide(&rules, "bitLockerEnabled"), None);
    }

    #[test]
    fn bad_patterns_name_their_position() {
        let e = |t: &str| Pattern::parse(t).expect_err(t);
        assert_eq!(e("").position, 1);
        assert_eq!(e("!").position, 2);
        assert_eq!(e("a***").position, 4);
        assert_eq!(e("ab**").position, 3);
        assert_eq!(e("**x").position, 1);
        assert_eq!(e("a\\").position, 2);
        assert_eq!(e("a\u{0}").position, 2);
        assert!(e("ab**").to_string().contains("whole segments"));
    }
}
