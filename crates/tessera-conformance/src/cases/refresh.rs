//! Refresh-token rotation: reuse detection after the grace window, and idempotent concurrent
//! refreshes within it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinSet;

use crate::case::CaseResult;
use crate::case::{Case, Verdict, case};
use crate::context::{Context, REFRESH_HEADER};
use crate::error::CaseError;
use crate::http::{Resp, send};

/// How many refreshes the concurrency case sends at once.
const CONCURRENT: usize = 20;

/// The refresh cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "refresh.reuse-revokes-session",
            "Rotate, wait past the grace window, replay the old refresh token; then use the new tokens",
            "replay 401, new access 401, new refresh 401",
            reuse_revokes
        ),
        case!(
            "refresh.concurrent-same-successor",
            "20 concurrent refreshes with one refresh token",
            "20×200, one successor",
            concurrent
        ),
    ]
}

fn field(r: &Resp, name: &str) -> Result<String, CaseError> {
    r.json()
        .and_then(|v| v.get(name).and_then(Value::as_str).map(str::to_owned))
        .ok_or_else(|| {
            CaseError::Unexpected(format!(
                "POST /auth/refresh answered {} without {name}",
                r.status
            ))
        })
}

async fn reuse_revokes(cx: &Context) -> CaseResult {
    let s = cx.fresh().await?;
    let rotated = cx.refresh_by_header(&s.refresh).await?;
    if rotated.status != 200 {
        return Ok(Verdict::fail(format!("first refresh {}", rotated.status)));
    }
    let new_refresh = field(&rotated, "refresh")?;
    let new_access = field(&rotated, "access")?;
    if cx.me_status(&new_access).await? != 200 {
        return Ok(Verdict::fail("the rotated access token does not work"));
    }
    tokio::time::sleep(cx.options.grace + Duration::from_millis(500)).await;
    let replay = cx.refresh_by_header(&s.refresh).await?.status;
    let access = cx.me_status(&new_access).await?;
    let refresh = cx.refresh_by_header(&new_refresh).await?.status;
    Ok(Verdict::check(
        replay == 401 && access == 401 && refresh == 401,
        format!("replay {replay}, new access {access}, new refresh {refresh}"),
    ))
}

async fn concurrent(cx: &Context) -> CaseResult {
    let s = cx.fresh().await?;
    let mut set = JoinSet::new();
    for _ in 0..CONCURRENT {
        let rb = cx
            .target
            .client
            .post(cx.target.api_url("/auth/refresh"))
            .header(REFRESH_HEADER, s.refresh.clone());
        set.spawn(send(rb));
    }
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut successors: Vec<String> = Vec::new();
    while let Some(joined) = set.join_next().await {
        let r = joined.map_err(|e| CaseError::Unexpected(format!("task failed: {e}")))??;
        *statuses.entry(r.status).or_default() += 1;
        if r.status == 200 {
            successors.push(field(&r, "refresh")?);
        }
    }
    successors.sort();
    successors.dedup();
    let ok_count = statuses.get(&200).copied().unwrap_or_default();
    let status_text: Vec<String> = statuses.iter().map(|(s, n)| format!("{n}×{s}")).collect();
    Ok(Verdict::check(
        ok_count == CONCURRENT && successors.len() == 1,
        format!(
            "{}, {} successor{}",
            status_text.join(" "),
            successors.len(),
            if successors.len() == 1 { "" } else { "s" }
        ),
    ))
}
