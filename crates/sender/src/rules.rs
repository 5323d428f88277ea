//! The rules' templates, as the notifications they selected are rendered
//! with them: compiled once per configuration version.
//!
//! A claim answers with the configuration version at that moment; a cache
//! older than that is read again, once, however many deliveries notice it.

use std::collections::HashMap;
use std::sync::Arc;

use herald_channels::RuleTemplates;
use herald_store::{Store, StoreError};
use tokio::sync::{Mutex, RwLock};
use tracing::warn;
use uuid::Uuid;

#[derive(Default)]
struct Cached {
    /// 0 before the first read; stored versions start at 1.
    version: i64,
    by_id: HashMap<Uuid, Arc<RuleTemplates>>,
}

#[derive(Default)]
pub(crate) struct RuleCache {
    cached: RwLock<Cached>,
    reading: Mutex<()>,
}

impl RuleCache {
    /// The rules among `ids` that still exist, oldest first (their templates
    /// win in that order), read as of `version` or later.
    pub(crate) async fn layers(
        &self,
        store: &Store,
        version: i64,
        ids: &[Uuid],
    ) -> Result<Vec<Arc<RuleTemplates>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if self.cached.read().await.version < version {
            let _reading = self.reading.lock().await;
            if self.cached.read().await.version < version {
                *self.cached.write().await = read(store).await?;
            }
        }
        let cached = self.cached.read().await;
        let mut layers: Vec<Arc<RuleTemplates>> = ids
            .iter()
            .filter_map(|id| cached.by_id.get(id).cloned())
            .collect();
        // Rule ids are UUIDv7: their order is the order the rules were created in.
        layers.sort_by_key(|r| r.id);
        Ok(layers)
    }
}

async fn read(store: &Store) -> Result<Cached, StoreError> {
    let (version, rules) = store.rule_layers().await?;
    let by_id = rules
        .into_iter()
        .map(|rule| {
            let compiled = RuleTemplates::new(rule.id, rule.name.clone(), &rule.templates)
                .unwrap_or_else(|e| {
                    // Checked on save, so this takes an engine that changed
                    // under stored rules; the notifier's templates apply.
                    warn!(rule = %rule.id, error = %e, "a rule's templates do not compile");
                    RuleTemplates {
                        id: rule.id,
                        name: rule.name,
                        templates: None,
                    }
                });
            (compiled.id, Arc::new(compiled))
        })
        .collect();
    Ok(Cached { version, by_id })
}
