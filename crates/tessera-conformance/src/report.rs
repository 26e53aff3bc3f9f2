//! The report: one row per case, as an aligned terminal table or as JSON.

use std::time::Duration;

use serde::Serialize;

use crate::case::{Case, Verdict};

/// A case's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    /// The deployment behaved as expected.
    Pass,
    /// It did not, or the case could not complete.
    Fail,
}

impl Outcome {
    /// `PASS` or `FAIL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
        }
    }
}

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The case id (`tokens.alg-none`).
    pub id: &'static str,
    /// The case's group (`tokens`).
    pub group: &'static str,
    /// What the case does.
    pub title: &'static str,
    /// What a conforming deployment answers.
    pub expected: &'static str,
    /// What this deployment answered.
    pub observed: String,
    /// PASS or FAIL.
    pub outcome: Outcome,
    /// How long the case took, in milliseconds.
    pub millis: u64,
}

impl Row {
    /// The row for `case` with `verdict`.
    pub fn new(case: &Case, verdict: Verdict, took: Duration) -> Self {
        Self {
            id: case.id,
            group: case.group(),
            title: case.title,
            expected: case.expected,
            observed: verdict.observed,
            outcome: if verdict.passed {
                Outcome::Pass
            } else {
                Outcome::Fail
            },
            millis: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// Every row of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The rows, in the order the cases ran.
    pub rows: Vec<Row>,
}

impl Report {
    /// Adds a row.
    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// The rows that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.outcome == Outcome::Fail)
    }

    /// Whether every row passed (and there is at least one).
    pub fn passed(&self) -> bool {
        !self.rows.is_empty() && self.failures().next().is_none()
    }

    /// The row of a case.
    pub fn row(&self, id: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.id == id)
    }

    /// `{"passed": …, "total": …, "failed": …, "rows": […]}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "passed": self.passed(),
            "total": self.rows.len(),
            "failed": self.failures().count(),
            "rows": self.rows,
        })
    }

    /// The table, aligned for a terminal, with a summary line.
    pub fn to_table(&self) -> String {
        const HEAD: [&str; 4] = ["CASE", "EXPECTED", "OBSERVED", "RESULT"];
        let cells: Vec<[&str; 4]> = self
            .rows
            .iter()
            .map(|r| [r.id, r.expected, r.observed.as_str(), r.outcome.as_str()])
            .collect();
        let mut widths = HEAD.map(|h| h.chars().count());
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |row: &[&str; 4]| {
            let mut s = String::new();
            for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
                if i + 1 == row.len() {
                    s.push_str(cell);
                } else {
                    s.push_str(cell);
                    s.push_str(&" ".repeat(w - cell.chars().count() + 2));
                }
            }
            s.push('\n');
            s
        };
        let mut out = line(&HEAD);
        let rule: [String; 4] = widths.map(|w| "-".repeat(w));
        out.push_str(&line(&[
            rule[0].as_str(),
            rule[1].as_str(),
            rule[2].as_str(),
            rule[3].as_str(),
        ]));
        for row in &cells {
            out.push_str(&line(row));
        }
        let failed = self.failures().count();
        out.push_str(&format!(
            "\n{} cases: {} passed, {failed} failed\n",
            self.rows.len(),
            self.rows.len() - failed
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &'static str, observed: &str, passed: bool) -> Row {
        Row {
            id,
            group: "g",
            title: "t",
            expected: "401",
            observed: observed.to_owned(),
            outcome: if passed { Outcome::Pass } else { Outcome::Fail },
            millis: 1,
        }
    }

    #[test]
    fn table_is_aligned_and_summarised() {
        let mut r = Report::default();
        r.push(row("tokens.alg-none", "401", true));
        r.push(row("csrf.x", "201 ✓", false));
        let t = r.to_table();
        let lines: Vec<&str> = t.lines().collect();
        let col = lines[0].find("EXPECTED").unwrap();
        assert_eq!(lines[2].find("401"), Some(col));
        let result_col = lines[0].chars().count() - "RESULT".len();
        assert_eq!(lines[3].chars().count() - "FAIL".len(), result_col);
        assert!(t.contains("2 cases: 1 passed, 1 failed"));
        assert!(!r.passed());
        assert_eq!(r.to_json()["failed"], 1);
        assert_eq!(r.to_json()["rows"][1]["outcome"], "FAIL");
    }
}
