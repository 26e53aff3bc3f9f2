//! The conformance suite every [`SessionStore`] must pass.
//!
//! A backend crate adds this crate and `tokio` as dev-dependencies and writes:
//!
//! ```ignore
//! async fn store() -> std::sync::Arc<dyn tessera_core::SessionStore> { /* a fresh, isolated store */ }
//! tessera_store_conformance::store_conformance_tests!(store);
//! ```
//!
//! Each case gets its own store from the factory. Cases use the real current time as their
//! base and move forward by passing later `now` values, so a backend must decide liveness by
//! the `now` it is given (TTLs are only for cleanup).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

pub mod cases;

/// Generates one `#[tokio::test]` per conformance case, each with a fresh store from `$factory`
/// (an `async fn() -> Arc<dyn SessionStore>`).
#[macro_export]
macro_rules! store_conformance_tests {
    ($factory:path) => {
        $crate::__store_cases!($factory;
            create_then_get,
            unknown_session_is_none,
            record_fields_round_trip,
            absolute_expiry_hides_session,
            idle_expiry_hides_session_and_refresh_moves_it,
            rotate_current_replaces_token,
            rotate_in_grace_answers_same_successor_without_change,
            rotate_predecessor_after_grace_revokes,
            rotate_older_superseded_revokes,
            rotate_unknown_token_is_not_found_and_harmless,
            rotate_expired_session_is_not_found,
            superseded_history_is_bounded,
            concurrent_rotations_agree_on_one_successor,
            engine_concurrent_refreshes_get_same_successor,
            engine_reuse_after_grace_revokes_and_emits,
            two_sessions_never_share_state,
            delete_is_visible_at_once,
            delete_user_ends_only_that_users_sessions,
            delete_all_ends_everything,
            list_user_is_newest_first_and_live_only,
            touch_records_use,
            relay_code_is_single_use,
            relay_code_expires,
            concurrent_relay_redemptions_have_one_winner,
            hits_count_in_a_fixed_window,
            concurrent_hits_are_all_counted,
            ping_answers,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_cases {
    ($factory:path; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let store = $factory().await;
                $crate::cases::$case(store).await;
            }
        )*
    };
}
