//! Applying the server's change feed to the cache.

use rusqlite::{Transaction, params};
use shelfmark_core::wire::{Change, ChangeFeed};
use shelfmark_core::{Book, Copy, Escalation, Hold, Patron, PurchaseRequest, RecordType};

use crate::{Store, StoreError};

impl Store {
    /// Applies one page of the change feed, and the feed position after it, atomically: a crash
    /// leaves the cache at the previous page, which the next sync fetches again (applying a
    /// change twice is harmless). A record with a pending edit keeps showing the edit; the
    /// server's new state is kept beside it for the push (which will then merge).
    pub fn apply_changes(
        &mut self,
        feed: &ChangeFeed,
        feed_etag: Option<&str>,
    ) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO records (kind, id, data, etag) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (kind, id) DO UPDATE SET
                    data = CASE WHEN pending THEN data ELSE excluded.data END,
                    server_data = CASE WHEN pending THEN excluded.data ELSE NULL END,
                    etag = excluded.etag",
            )?;
            for change in &feed.changes {
                match (&change.data, change.deleted) {
                    (Some(data), false) => {
                        check_shape(change.kind, data.get())?;
                        upsert.execute(params![
                            change.kind.as_str(),
                            change.id.to_string(),
                            data.get(),
                            change.etag
                        ])?;
                    }
                    _ => delete(&tx, change)?,
                }
            }
        }
        // While more pages follow, the ETag names the server's latest seq, not this page's end:
        // only the last page may store it, or an idle poll would skip the remaining pages.
        let etag = if feed.more { None } else { feed_etag };
        tx.execute(
            "INSERT INTO sync_state (id, last_seq, feed_etag) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq,
                                            feed_etag = excluded.feed_etag",
            params![feed.last_seq, etag],
        )?;
        tx.commit()?;
        Ok(feed.changes.len())
    }
}

/// A deletion from the server: gone from the cache, unless a pending edit still refers to it
/// (then the push meets the deletion and asks the librarian).
fn delete(tx: &Transaction<'_>, change: &Change) -> Result<(), StoreError> {
    let (kind, id) = (change.kind.as_str(), change.id.to_string());
    tx.execute(
        "UPDATE records SET server_data = NULL, etag = NULL WHERE kind = ?1 AND id = ?2 AND pending",
        params![kind, id],
    )?;
    tx.execute(
        "DELETE FROM records WHERE kind = ?1 AND id = ?2 AND NOT pending",
        params![kind, id],
    )?;
    Ok(())
}

/// Refuses a feed record that is not a valid representation of its kind.
fn check_shape(kind: RecordType, data: &str) -> Result<(), StoreError> {
    use serde_json::from_str;
    match kind {
        RecordType::Book => from_str::<Book>(data).map(drop),
        RecordType::Copy => from_str::<Copy>(data).map(drop),
        RecordType::Patron => from_str::<Patron>(data).map(drop),
        RecordType::Hold => from_str::<Hold>(data).map(drop),
        RecordType::Escalation => from_str::<Escalation>(data).map(drop),
        RecordType::PurchaseRequest => from_str::<PurchaseRequest>(data).map(drop),
        RecordType::Loan => from_str::<shelfmark_core::Loan>(data).map(drop),
    }
    .map_err(StoreError::Json)
}
