//! What the admin page's overview counts: recent events, the outcomes of the
//! last hour's deliveries. It reads only; the failures' counts are
//! [`Store::count_failures`](crate::Store::count_failures).

use crate::{Store, StoreError};

/// Counts over the recent past, as the overview shows them.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Overview {
    /// Events received in the last minute.
    pub events_last_minute: i64,
    /// Events received in the last hour.
    pub events_last_hour: i64,
    /// The notifications of the last hour's events, by status (`sent`,
    /// `failed`, `pending`, `suppressed`, `grouped`), most first.
    pub outcomes_last_hour: Vec<(String, i64)>,
}

impl Store {
    /// The overview's counts. Both read the events through their
    /// `received_at` index, and the notifications through their event.
    pub async fn overview(&self) -> Result<Overview, StoreError> {
        let client = self.client().await?;
        let events = client
            .query_one(
                "SELECT count(*) FILTER (WHERE received_at > now() - interval '1 minute'),
                        count(*)
                 FROM events WHERE received_at > now() - interval '1 hour'",
                &[],
            )
            .await
            .map_err(StoreError::query("count recent events"))?;
        let outcomes = client
            .query(
                "SELECT n.status, count(*) FROM events e JOIN notifications n ON n.event_id = e.id
                 WHERE e.received_at > now() - interval '1 hour'
                 GROUP BY n.status ORDER BY count(*) DESC, n.status",
                &[],
            )
            .await
            .map_err(StoreError::query("count recent outcomes"))?;
        Ok(Overview {
            events_last_minute: events.get(0),
            events_last_hour: events.get(1),
            outcomes_last_hour: outcomes.iter().map(|r| (r.get(0), r.get(1))).collect(),
        })
    }
}
