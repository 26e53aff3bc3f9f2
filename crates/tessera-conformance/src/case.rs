//! One attack case: what it sends, what a conforming deployment answers, and the verdict.

use std::future::Future;
use std::pin::Pin;

use crate::context::Context;
use crate::error::CaseError;

/// What a case observed, and whether that conforms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the deployment behaved as expected.
    pub passed: bool,
    /// What was observed, short (one table cell).
    pub observed: String,
}

impl Verdict {
    /// A conforming observation.
    pub fn pass(observed: impl Into<String>) -> Self {
        Self {
            passed: true,
            observed: observed.into(),
        }
    }

    /// A failing observation.
    pub fn fail(observed: impl Into<String>) -> Self {
        Self {
            passed: false,
            observed: observed.into(),
        }
    }

    /// Pass if `ok`.
    pub fn check(ok: bool, observed: impl Into<String>) -> Self {
        Self {
            passed: ok,
            observed: observed.into(),
        }
    }
}

/// What running a case yields; an error is reported as a failed row.
pub type CaseResult = Result<Verdict, CaseError>;

/// The future a case returns.
pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = CaseResult> + Send + 'a>>;

/// One attack case.
#[derive(Clone, Copy)]
pub struct Case {
    /// Stable id, `group.name` (`tokens.alg-none`).
    pub id: &'static str,
    /// What the case does, in one sentence.
    pub title: &'static str,
    /// What a conforming deployment answers (one table cell).
    pub expected: &'static str,
    /// Runs the case.
    pub run: for<'a> fn(&'a Context) -> CaseFuture<'a>,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("id", &self.id)
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl Case {
    /// The group: the part of the id before the first `.`.
    pub fn group(&self) -> &'static str {
        self.id.split('.').next().unwrap_or(self.id)
    }
}

/// `case!("id", "title", "expected", async_fn)`: a [`Case`] running `async_fn(&Context)`.
macro_rules! case {
    ($id:literal, $title:literal, $expected:literal, $f:path) => {
        $crate::case::Case {
            id: $id,
            title: $title,
            expected: $expected,
            run: {
                fn run(cx: &$crate::context::Context) -> $crate::case::CaseFuture<'_> {
                    Box::pin($f(cx))
                }
                run
            },
        }
    };
}
pub(crate) use case;
