//! The `/` filter of a table: a case-insensitive substring over the row's text; a leading `!` keeps
//! the rows that do NOT contain it. Shown in the pane title while set.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableFilter {
    pub text: String,
    pub editing: bool,
}

impl TableFilter {
    pub fn is_active(&self) -> bool {
        !self.needle().1.is_empty()
    }

    /// (negated, lower-cased needle)
    fn needle(&self) -> (bool, String) {
        match self.text.strip_prefix('!') {
            Some(rest) => (true, rest.to_lowercase()),
            None => (false, self.text.to_lowercase()),
        }
    }

    /// Whether a row whose cells are `cells` is kept.
    pub fn keeps<S: AsRef<str>>(&self, cells: &[S]) -> bool {
        self.matcher().keeps(cells)
    }

    /// The filter prepared once for many rows (the needle lower-cased once, not per row).
    pub fn matcher(&self) -> Matcher {
        let (neg, needle) = self.needle();
        Matcher { neg, needle }
    }

    /// The pane title with the filter: `Top · /crash▏`.
    pub fn title(&self, base: &str) -> String {
        if self.editing || !self.text.is_empty() {
            format!(
                "{base} · /{}{}",
                self.text,
                if self.editing { "▏" } else { "" }
            )
        } else {
            base.to_string()
        }
    }

    /// An edit key: returns true when consumed.
    pub fn edit(&mut self, ev: &crossterm::event::KeyEvent) -> bool {
        use crossterm::event::{KeyCode, KeyModifiers};
        if !self.editing {
            return false;
        }
        match ev.code {
            KeyCode::Char(c) if !ev.modifiers.contains(KeyModifiers::CONTROL) => self.text.push(c),
            KeyCode::Backspace => {
                self.text.pop();
            }
            KeyCode::Enter => self.editing = false,
            KeyCode::Esc => {
                self.text.clear();
                self.editing = false;
            }
            _ => return false,
        }
        true
    }
}

/// A prepared [`TableFilter`]: matching allocates nothing when the needle and the cell are ASCII.
#[derive(Debug, Clone)]
pub struct Matcher {
    neg: bool,
    needle: String,
}

impl Matcher {
    pub fn keeps<S: AsRef<str>>(&self, cells: &[S]) -> bool {
        if self.needle.is_empty() {
            return true;
        }
        cells.iter().any(|c| self.hit(c.as_ref())) != self.neg
    }

    /// Case-insensitive substring test of one cell.
    fn hit(&self, cell: &str) -> bool {
        let n = self.needle.as_bytes();
        if cell.is_ascii() && self.needle.is_ascii() {
            return cell
                .as_bytes()
                .windows(n.len())
                .any(|w| w.eq_ignore_ascii_case(n));
        }
        cell.to_lowercase().contains(&self.needle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_case_insensitive_and_negation() {
        let f = |t: &str| TableFilter {
            text: t.into(),
            editing: false,
        };
        let row = ["kube-system/coredns-1", "CrashLoopBackOff"];
        assert!(f("").keeps(&row));
        assert!(f("crashloop").keeps(&row));
        assert!(!f("!crashloop").keeps(&row));
        assert!(f("!running").keeps(&row));
        assert!(!f("shop").keeps(&row));
        assert!(f("!").keeps(&row), "a lone ! filters nothing");
        assert!(
            f("COREDNS").keeps(&row),
            "the needle's case does not matter either"
        );
        assert!(
            f("ÉTÉ").keeps(&["prod/été-1"]),
            "non-ASCII text is lower-cased"
        );
        assert!(!f("longer-than-the-cell-itself").keeps(&["short"]));
        assert_eq!(f("x").title("Top"), "Top · /x");
    }
}
