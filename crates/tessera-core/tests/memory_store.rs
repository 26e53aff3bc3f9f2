//! The memory store against the shared store conformance suite.

use std::sync::Arc;

use tessera_core::{MemoryStore, SessionStore};

async fn store() -> Arc<dyn SessionStore> {
    Arc::new(MemoryStore::new())
}

tessera_store_conformance::store_conformance_tests!(store);
