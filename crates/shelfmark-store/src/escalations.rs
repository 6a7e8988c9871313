//! Reading escalations from the cache: the list the escalation screen shows, the detail the
//! manager decides from (when the server cannot be asked), and the open ones (to notice new
//! arrivals after a sync).
//!
//! Escalations are never edited offline (their actions are online-only), so this is a read
//! path of its own, apart from [`crate::Editable`]. [`EscalationDetail`] is the wire type of
//! the server's `GET /v1/escalations/{id}` body (`shelfmark_core::wire`, re-exported here),
//! so the client parses that answer into it too, and the cache builds the same thing.

use rusqlite::{OptionalExtension as _, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
pub use shelfmark_core::wire::{ActiveHold, EscalationDetail, HeldCopy};
use shelfmark_core::{Book, Escalation, Hold, Patron, PurchaseRequest, RecordType};
use uuid::Uuid;

use crate::{Store, StoreError};

/// An escalation as the list shows it: who waits for which book, where, since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct EscalationSummary {
    pub escalation: Escalation,
    pub etag: Option<String>,
    pub patron_name: Option<String>,
    pub book_title: Option<String>,
    /// The premium patron's branch.
    pub branch: Option<String>,
}

impl Store {
    /// Every cached escalation: the open ones first (longest waiting first), then the rest
    /// (newest first).
    pub fn escalations(&self) -> Result<Vec<EscalationSummary>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT e.data, e.etag, json_extract(p.data, '$.name'),
                    json_extract(b.data, '$.title'), json_extract(p.data, '$.branch')
             FROM records e
             LEFT JOIN records p ON p.kind = 'patron' AND p.id = e.patron_id AND NOT p.deleted
             LEFT JOIN records b ON b.kind = 'book' AND b.id = e.book_id AND NOT b.deleted
             WHERE e.kind = 'escalation' AND NOT e.deleted
             ORDER BY e.status <> 'open',
                      CASE WHEN e.status = 'open' THEN json_extract(e.data, '$.created_at') END,
                      json_extract(e.data, '$.created_at') DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        rows.map(|row| {
            let (data, etag, patron_name, book_title, branch) = row?;
            Ok(EscalationSummary {
                escalation: serde_json::from_str(&data)?,
                etag,
                patron_name,
                book_title,
                branch,
            })
        })
        .collect()
    }

    /// The ids of the open escalations in the cache.
    pub fn open_escalations(&self) -> Result<Vec<Uuid>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM records WHERE kind = 'escalation' AND status = 'open' AND NOT deleted",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let ids = rows.collect::<Result<Vec<String>, _>>()?;
        // Ids come from the feed as UUIDs; anything else cannot name an escalation.
        Ok(ids
            .iter()
            .filter_map(|id| Uuid::parse_str(id).ok())
            .collect())
    }

    /// An escalation with what the manager decides from, as the cache knows it (`offline`
    /// set, no hold's `since`), or None.
    pub fn escalation_detail(&self, id: Uuid) -> Result<Option<EscalationDetail>, StoreError> {
        let Some((escalation, etag)) =
            self.cached::<Escalation>(RecordType::Escalation, &id.to_string())?
        else {
            return Ok(None);
        };
        let patron = self
            .cached::<Patron>(RecordType::Patron, &escalation.patron_id.to_string())?
            .map(|(p, _)| p);
        let book = self
            .cached::<Book>(RecordType::Book, &escalation.book_id.to_string())?
            .map(|(b, _)| b);
        let book_id = escalation.book_id.to_string();
        let mut active_holds = Vec::new();
        for (hold, hold_etag) in self.by_book::<Hold>(RecordType::Hold, &book_id)? {
            if hold.status != shelfmark_core::HoldStatus::Active {
                continue;
            }
            let holder = self
                .cached::<Patron>(RecordType::Patron, &hold.patron_id.to_string())?
                .map(|(p, _)| p);
            let copy = match hold.copy_id {
                Some(c) => self
                    .cached::<shelfmark_core::Copy>(RecordType::Copy, &c.to_string())?
                    .map(|(c, _)| HeldCopy {
                        id: c.id,
                        barcode: c.barcode,
                        branch: c.branch,
                        status: c.status,
                    }),
                None => None,
            };
            active_holds.push(ActiveHold {
                premium: holder.as_ref().is_some_and(|p| p.premium),
                branch: copy.as_ref().map(|c| c.branch.clone()),
                hold,
                hold_etag,
                holder,
                copy,
                since: None,
            });
        }
        let purchase_requests = self
            .by_book::<PurchaseRequest>(RecordType::PurchaseRequest, &book_id)?
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        Ok(Some(EscalationDetail {
            escalation,
            patron,
            book,
            active_holds,
            purchase_requests,
            etag,
            offline: true,
        }))
    }

    /// One cached record of any kind with its ETag.
    fn cached<T: DeserializeOwned>(
        &self,
        kind: RecordType,
        id: &str,
    ) -> Result<Option<(T, Option<String>)>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT data, etag FROM records WHERE kind = ?1 AND id = ?2 AND NOT deleted",
                params![kind.as_str(), id],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)),
            )
            .optional()?;
        row.map(|(data, etag)| Ok((serde_json::from_str(&data)?, etag)))
            .transpose()
    }

    /// The cached records of `kind` that reference the book `book_id`, oldest first.
    fn by_book<T: DeserializeOwned>(
        &self,
        kind: RecordType,
        book_id: &str,
    ) -> Result<Vec<(T, Option<String>)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT data, etag FROM records WHERE kind = ?1 AND book_id = ?2 AND NOT deleted
             ORDER BY rowid",
        )?;
        let rows = stmt.query_map(params![kind.as_str(), book_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })?;
        rows.map(|row| {
            let (data, etag) = row?;
            Ok((serde_json::from_str(&data)?, etag))
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use shelfmark_core::wire::{Change, ChangeFeed};

    use super::*;

    fn change(seq: i64, kind: RecordType, data: Value) -> Change {
        let id = data["id"].as_str().and_then(|s| Uuid::parse_str(s).ok());
        Change {
            seq,
            kind,
            id: id.unwrap_or_default(),
            etag: format!("\"v{seq}\""),
            deleted: false,
            data: Some(serde_json::value::to_raw_value(&data).expect("JSON")),
        }
    }

    fn uuid(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// A book with two copies on hold (a regular and a premium patron), two escalations of a
    /// premium patron (one open, one resolved), and a purchase request.
    fn seeded() -> Store {
        let mut store = Store::open_in_memory().expect("cache");
        let (book, reg, prem, c1, c2) = (uuid(1), uuid(2), uuid(3), uuid(4), uuid(5));
        let changes = vec![
            change(
                1,
                RecordType::Book,
                json!({"id": book, "isbn": "9780306406157",
                "title": "Harbour", "authors": [], "publisher": "", "year": null,
                "subjects": [], "summary": "", "notes": ""}),
            ),
            change(
                2,
                RecordType::Patron,
                json!({"id": reg, "name": "Rita Regular",
                "email": "r@example.org", "premium": false, "branch": "North"}),
            ),
            change(
                3,
                RecordType::Patron,
                json!({"id": prem, "name": "Pia Premium",
                "email": "p@example.org", "premium": true, "branch": "Central"}),
            ),
            change(
                4,
                RecordType::Copy,
                json!({"id": c1, "book_id": book, "barcode": "B1",
                "branch": "North", "call_number": "", "status": "held"}),
            ),
            change(
                5,
                RecordType::Copy,
                json!({"id": c2, "book_id": book, "barcode": "B2",
                "branch": "Central", "call_number": "", "status": "held"}),
            ),
            change(
                6,
                RecordType::Hold,
                json!({"id": uuid(6), "patron_id": reg,
                "book_id": book, "copy_id": c1, "status": "active"}),
            ),
            change(
                7,
                RecordType::Hold,
                json!({"id": uuid(7), "patron_id": prem,
                "book_id": book, "copy_id": c2, "status": "active"}),
            ),
            change(
                8,
                RecordType::Hold,
                json!({"id": uuid(8), "patron_id": reg,
                "book_id": book, "copy_id": null, "status": "cancelled"}),
            ),
            change(
                9,
                RecordType::Escalation,
                json!({"id": uuid(9), "patron_id": prem,
                "book_id": book, "hold_request_id": uuid(20), "status": "resolved",
                "resolution_note": "phoned", "created_at": "2026-11-01T10:00:00Z"}),
            ),
            change(
                10,
                RecordType::Escalation,
                json!({"id": uuid(10), "patron_id": prem,
                "book_id": book, "hold_request_id": uuid(21), "status": "open",
                "created_at": "2026-11-20T10:00:00Z"}),
            ),
            change(
                11,
                RecordType::PurchaseRequest,
                json!({"id": uuid(11), "book_id": book,
                "isbn": "9780306406157", "escalation_id": uuid(9), "requested_by": "manager",
                "quantity": 2, "note": "popular", "status": "requested"}),
            ),
        ];
        let feed = ChangeFeed {
            last_seq: 11,
            changes,
            more: false,
        };
        store.apply_changes(&feed, Some("\"11\"")).expect("apply");
        store
    }

    #[test]
    fn the_list_puts_open_escalations_first_with_patron_book_and_branch() {
        let store = seeded();
        let list = store.escalations().expect("list");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].escalation.id, uuid(10));
        assert_eq!(list[0].patron_name.as_deref(), Some("Pia Premium"));
        assert_eq!(list[0].book_title.as_deref(), Some("Harbour"));
        assert_eq!(list[0].branch.as_deref(), Some("Central"));
        assert_eq!(list[0].etag.as_deref(), Some("\"v10\""));
        assert_eq!(list[1].escalation.id, uuid(9));
        assert_eq!(store.open_escalations().expect("open"), vec![uuid(10)]);
    }

    #[test]
    fn the_cached_detail_has_the_active_holds_with_holders_and_the_purchase_requests() {
        let store = seeded();
        let detail = store
            .escalation_detail(uuid(10))
            .expect("read")
            .expect("found");
        assert!(detail.offline);
        assert_eq!(detail.etag.as_deref(), Some("\"v10\""));
        assert_eq!(
            detail.patron.as_ref().map(|p| p.name.as_str()),
            Some("Pia Premium")
        );
        assert_eq!(
            detail.book.as_ref().map(|b| b.title.as_str()),
            Some("Harbour")
        );
        let holders: Vec<(&str, bool, Option<&str>)> = detail
            .active_holds
            .iter()
            .map(|h| {
                (
                    h.holder.as_ref().map_or("", |p| p.name.as_str()),
                    h.premium,
                    h.branch.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            holders,
            vec![
                ("Rita Regular", false, Some("North")),
                ("Pia Premium", true, Some("Central"))
            ]
        );
        assert_eq!(
            detail.active_holds[0]
                .copy
                .as_ref()
                .map(|c| c.barcode.as_str()),
            Some("B1")
        );
        assert_eq!(detail.purchase_requests.len(), 1);
        assert!(store.escalation_detail(uuid(99)).expect("read").is_none());
    }

    #[test]
    fn the_detail_parses_the_servers_answer() {
        let body = json!({
            "id": uuid(10), "patron_id": uuid(3), "book_id": uuid(1),
            "hold_request_id": uuid(21), "status": "open", "resolution_note": null,
            "created_at": "2026-11-20T10:00:00Z",
            "patron": {"id": uuid(3), "name": "Pia", "email": "p@x.org", "premium": true,
                       "branch": "Central"},
            "book": null,
            "active_holds": [{
                "hold": {"id": uuid(6), "patron_id": uuid(2), "book_id": uuid(1),
                         "copy_id": uuid(4), "status": "active", "cancel_reason": null},
                "hold_etag": "\"v3\"",
                "holder": {"id": uuid(2), "name": "Rita", "email": "r@x.org",
                           "premium": false, "branch": "North"},
                "premium": false,
                "copy": {"id": uuid(4), "barcode": "B1", "branch": "North", "status": "held"},
                "branch": "North",
                "since": "2026-11-19T09:00:00Z"
            }],
            "purchase_requests": []
        });
        let detail: EscalationDetail = serde_json::from_value(body).expect("parses");
        assert_eq!(detail.escalation.id, uuid(10));
        assert!(!detail.offline);
        assert_eq!(
            detail.active_holds[0].since.as_deref(),
            Some("2026-11-19T09:00:00Z")
        );
    }
}
