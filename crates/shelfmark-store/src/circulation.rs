//! The circulation desk through the cache: a scan (a patron's card, or a copy) answered at
//! once from what the cache knows and carried out as queued edits (a loan made or returned, a
//! hold put on the shelf), so the desk works offline; the hold shelf of a branch; a patron's
//! current holds and loans; a book's contest (the server's decisions) named in words. What a scan means is `shelfmark_core::circulation`'s decision.

use chrono::Utc;
use rusqlite::OptionalExtension;
use serde::Serialize;
use shelfmark_core::circulation::{self, Action, CopyAtDesk, Decision, Outcome};
use shelfmark_core::wire::{ContestEntry, ContestOutcome};
use shelfmark_core::{Book, CancelReason, Copy, Hold, HoldStatus, Loan, LoanStatus, Patron};
use uuid::Uuid;

use crate::{CachedRecord, Lookup, Store, StoreError};

/// What a scan did, for the circulation screen.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ScanResult {
    pub outcome: Outcome,
    /// The sentence the librarian reads ("Checked out to Ada Lovelace, due 22 Dec.").
    pub message: String,
    /// Whether it did what was meant (shown in green), or needs attention.
    pub success: bool,
    /// The patron whose card was scanned, or the patron of the copy's loan or hold.
    pub patron: Option<Patron>,
    pub copy: Option<Copy>,
    /// The copy's book's title.
    pub title: Option<String>,
}

/// A hold on a branch's hold shelf: to fetch (`active`) or waiting (`ready`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ShelfHold {
    pub hold: CachedRecord<Hold>,
    pub patron: Option<Patron>,
    pub copy: Option<Copy>,
    pub title: Option<String>,
}

/// A loan with its copy and book, for a patron's page.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct LoanView {
    pub loan: CachedRecord<Loan>,
    pub copy: Option<Copy>,
    pub title: Option<String>,
}

/// A patron's current holds (active or ready) and loans (on loan).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PatronActivity {
    pub holds: Vec<ShelfHold>,
    pub loans: Vec<LoanView>,
}

/// One decision of a book's contest with the patrons and the copy named.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ContestLine {
    pub entry: ContestEntry,
    /// The patron of the hold (for a reassignment: the one who got the copy).
    pub patron: Option<String>,
    /// For a reassignment: the patron whose hold the copy was taken from.
    pub from_patron: Option<String>,
    /// The copy's barcode.
    pub barcode: Option<String>,
}

impl Store {
    /// Names the patrons and copies of a book's contest from the cache.
    pub fn contest_lines(
        &self,
        entries: Vec<ContestEntry>,
    ) -> Result<Vec<ContestLine>, StoreError> {
        entries
            .into_iter()
            .map(|entry| {
                let patron = self.patron_of(Some(entry.patron_id))?.map(|p| p.name);
                let (copy, from) = match &entry.outcome {
                    ContestOutcome::Won { copy_id } => (Some(*copy_id), None),
                    ContestOutcome::Reassigned {
                        copy_id,
                        from_hold_id,
                        ..
                    } => (Some(*copy_id), Some(*from_hold_id)),
                    ContestOutcome::Lost { .. } => (None, None),
                };
                let barcode = match copy {
                    Some(id) => self.get::<Copy>(id)?.map(|c| c.record.barcode),
                    None => None,
                };
                let from_patron = match from {
                    Some(hold) => {
                        let holder = self.get::<Hold>(hold)?.map(|h| h.record.patron_id);
                        self.patron_of(holder)?.map(|p| p.name)
                    }
                    None => None,
                };
                Ok(ContestLine {
                    entry,
                    patron,
                    from_patron,
                    barcode,
                })
            })
            .collect()
    }

    /// Answers one scan: `barcode` as the scanner typed it, `patron` the card scanned before
    /// it in this session (None: a copy alone, a check-in). A change is queued for the server.
    pub fn scan(&mut self, barcode: &str, patron: Option<Uuid>) -> Result<ScanResult, StoreError> {
        let code = barcode.trim();
        let answer = |d: Decision, patron: Option<Patron>, copy, title| ScanResult {
            success: d.outcome.is_success(),
            outcome: d.outcome,
            message: d.message,
            patron,
            copy,
            title,
        };
        if code.is_empty() {
            return Ok(answer(circulation::unknown_barcode(code), None, None, None));
        }
        if let Some(card) = self
            .find_by::<Patron>(Lookup::Card, code)?
            .into_iter()
            .next()
        {
            return Ok(answer(
                circulation::patron_selected(&card),
                Some(card),
                None,
                None,
            ));
        }
        let Some(copy) = self
            .find_by::<Copy>(Lookup::Barcode, code)?
            .into_iter()
            .next()
        else {
            return Ok(answer(circulation::unknown_barcode(code), None, None, None));
        };
        let title = self.get::<Book>(copy.book_id)?.map(|b| b.record.title);
        let scanned = match patron {
            Some(id) => Some(
                self.get::<Patron>(id)?
                    .ok_or(StoreError::NotFound {
                        kind: shelfmark_core::RecordType::Patron,
                        id,
                    })?
                    .record,
            ),
            None => None,
        };
        let loan = self.open_loan_of(copy.id)?;
        let hold = self.open_hold_of(copy.id)?;
        let loaner = self.patron_of(loan.as_ref().map(|l| l.patron_id))?;
        let holder = self.patron_of(hold.as_ref().map(|h| h.patron_id))?;
        let now = Utc::now();
        let period = circulation::loan_period(self.latest_server_loan()?.as_ref());
        let decision = circulation::decide(
            scanned.as_ref(),
            CopyAtDesk {
                copy: &copy,
                loan: loan.as_ref().map(|l| (l, loaner.as_ref())),
                hold: hold.as_ref().map(|h| (h, holder.as_ref())),
            },
            now,
            period,
        );
        match (decision.action, &scanned) {
            // The server sets the times and fulfils the hold; the desk records the same.
            (Action::CheckOut { hold_id }, Some(p)) => {
                let made = Loan {
                    hold_id,
                    ..Loan::check_out(Uuid::now_v7(), copy.id, p.id)
                };
                self.save(&made)?;
                if let Some(mut h) = hold.clone().filter(|h| Some(h.id) == hold_id) {
                    h.status = HoldStatus::Fulfilled;
                    h.loan_id = Some(made.id);
                    self.save(&h)?;
                }
            }
            (Action::CheckIn { .. }, _) => {
                if let Some(mut l) = loan.clone() {
                    l.status = LoanStatus::Returned;
                    self.save(&l)?;
                }
            }
            (Action::ToHoldShelf { .. }, _) => {
                if let Some(mut h) = hold.clone() {
                    h.status = HoldStatus::Ready;
                    self.save(&h)?;
                }
            }
            (Action::CheckOut { .. } | Action::Nothing, _) => {}
        }
        let who = match decision.outcome {
            Outcome::CheckedOut | Outcome::AlreadyOnLoanToThem => scanned,
            Outcome::Returned | Outcome::OnLoanToSomeoneElse => loaner,
            Outcome::ToHoldShelf | Outcome::AlreadyOnHoldShelf => holder,
            _ => None,
        };
        Ok(answer(decision, who, Some(copy), title))
    }

    /// The newest loan the server has, as it sent it (its times are the server's). Loan ids
    /// are UUID v7, in the order made: the `(kind, id)` index reads it backwards from the end.
    fn latest_server_loan(&self) -> Result<Option<Loan>, StoreError> {
        let data: Option<String> = self
            .conn
            .prepare_cached(
                "SELECT coalesce(server_data, data) FROM records
                 WHERE kind = 'loan' AND etag IS NOT NULL AND NOT deleted
                 ORDER BY id DESC LIMIT 1",
            )?
            .query_row([], |r| r.get(0))
            .optional()?;
        Ok(data.and_then(|d| serde_json::from_str(&d).ok()))
    }

    /// The copy's open loan, as the desk sees it (its own check-outs included).
    fn open_loan_of(&self, copy: Uuid) -> Result<Option<Loan>, StoreError> {
        Ok(self
            .find_by::<Loan>(Lookup::CopyId, &copy.to_string())?
            .into_iter()
            .rfind(|l| l.status == LoanStatus::OnLoan))
    }

    /// The open hold that set the copy aside.
    fn open_hold_of(&self, copy: Uuid) -> Result<Option<Hold>, StoreError> {
        Ok(self
            .find_by::<Hold>(Lookup::CopyId, &copy.to_string())?
            .into_iter()
            .rfind(|h| h.status.is_open()))
    }

    fn patron_of(&self, id: Option<Uuid>) -> Result<Option<Patron>, StoreError> {
        match id {
            Some(id) => Ok(self.get::<Patron>(id)?.map(|p| p.record)),
            None => Ok(None),
        }
    }

    fn shelf_hold(&self, hold: CachedRecord<Hold>) -> Result<ShelfHold, StoreError> {
        let patron = self.patron_of(Some(hold.record.patron_id))?;
        let copy = match hold.record.copy_id {
            Some(id) => self.get::<Copy>(id)?.map(|c| c.record),
            None => None,
        };
        let title = self
            .get::<Book>(hold.record.book_id)?
            .map(|b| b.record.title);
        Ok(ShelfHold {
            hold,
            patron,
            copy,
            title,
        })
    }

    /// The hold shelf of `branch` (every branch when None): holds whose copy is being fetched
    /// (`active`) and holds waiting for their patron (`ready`), oldest first.
    pub fn hold_shelf(&self, branch: Option<&str>) -> Result<Vec<ShelfHold>, StoreError> {
        let mut shelf = Vec::new();
        for status in [HoldStatus::Active, HoldStatus::Ready] {
            for hold in self.find_cached_by::<Hold>(Lookup::Status, status.as_str())? {
                // Only holds that have their copy: a hold still waiting for the server has
                // nothing on a shelf yet.
                if hold.record.copy_id.is_none() {
                    continue;
                }
                let entry = self.shelf_hold(hold)?;
                let at = match entry.hold.record.pickup_branch.as_str() {
                    "" => entry.patron.as_ref().map(|p| p.branch.as_str()),
                    b => Some(b),
                };
                if branch.is_none_or(|b| at.is_some_and(|at| at.eq_ignore_ascii_case(b))) {
                    shelf.push(entry);
                }
            }
        }
        shelf.sort_by_key(|h| {
            let r = &h.hold.record;
            (
                r.status != HoldStatus::Active,
                r.ready_at.or(r.placed_at),
                r.id,
            )
        });
        Ok(shelf)
    }

    /// Moves a hold at the desk: `ready` (on the hold shelf), `fulfilled` (collected: the
    /// server makes the loan), `cancelled` with the patron's or staff's reason. Queued.
    pub fn move_hold(
        &mut self,
        id: Uuid,
        status: HoldStatus,
        reason: Option<CancelReason>,
    ) -> Result<CachedRecord<Hold>, StoreError> {
        let mut hold = self
            .get::<Hold>(id)?
            .ok_or(StoreError::NotFound {
                kind: shelfmark_core::RecordType::Hold,
                id,
            })?
            .record;
        // The same rules the server judges the step by (`HoldStatus::step_refused`).
        let mut errors = shelfmark_core::ValidationErrors::default();
        if let Some(why) = hold.status.step_refused(status) {
            errors.push("status", why);
        }
        if reason.is_some_and(|r| !r.is_desks()) {
            errors.push(
                "cancel_reason",
                "only the server expires or reassigns a hold",
            );
        }
        if status == HoldStatus::Cancelled {
            hold.cancel_reason = Some(reason.unwrap_or(CancelReason::Staff).as_str().into());
        }
        errors.into_result().map_err(StoreError::Invalid)?;
        hold.status = status;
        self.save(&hold)?;
        self.get::<Hold>(id)?.ok_or(StoreError::NotFound {
            kind: shelfmark_core::RecordType::Hold,
            id,
        })
    }

    /// A patron's current holds and loans, oldest first.
    pub fn patron_activity(&self, id: Uuid) -> Result<PatronActivity, StoreError> {
        let key = id.to_string();
        let mut holds = Vec::new();
        for hold in self.find_cached_by::<Hold>(Lookup::PatronId, &key)? {
            if hold.record.status.is_open() {
                holds.push(self.shelf_hold(hold)?);
            }
        }
        let mut loans = Vec::new();
        for loan in self.find_cached_by::<Loan>(Lookup::PatronId, &key)? {
            if loan.record.status != LoanStatus::OnLoan {
                continue;
            }
            let copy = self.get::<Copy>(loan.record.copy_id)?.map(|c| c.record);
            let title = match &copy {
                Some(c) => self.get::<Book>(c.book_id)?.map(|b| b.record.title),
                None => None,
            };
            loans.push(LoanView { loan, copy, title });
        }
        Ok(PatronActivity { holds, loans })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shelfmark_core::RecordType;

    use super::*;
    use crate::EditOp;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// A cache with a book, its copy 3100 at Central, and two patrons with cards.
    fn desk() -> (Store, Patron, Patron) {
        let mut store = Store::open_in_memory().expect("opens");
        let book: Book = serde_json::from_value(json!({
            "id": id(1), "isbn": shelfmark_core::isbn::from_body(1), "title": "The Long Way",
            "authors": [], "publisher": "", "year": null, "subjects": [], "summary": "", "notes": ""
        }))
        .expect("a book");
        store.save(&book).expect("saves");
        let copy: Copy = serde_json::from_value(json!({
            "id": id(10), "book_id": id(1), "barcode": "3100", "branch": "Central",
            "call_number": "", "status": "available"
        }))
        .expect("a copy");
        store.save(&copy).expect("saves");
        let patron = |n: u128, name: &str, branch: &str| Patron {
            id: id(n),
            name: name.into(),
            email: format!("p{n}@example.org"),
            premium: false,
            branch: branch.into(),
            card: format!("2000000{n}"),
            notes: String::new(),
        };
        let (ada, bram) = (
            patron(2, "Ada Lovelace", "Central"),
            patron(3, "Bram Carrow", "Hillcrest"),
        );
        store.save(&ada).expect("saves");
        store.save(&bram).expect("saves");
        (store, ada, bram)
    }

    /// A hold of `patron` that got copy 3100, as the server sends it.
    fn held_for(store: &mut Store, patron: &Patron, status: HoldStatus) -> Hold {
        let hold = Hold {
            copy_id: Some(id(10)),
            status,
            placed_at: Some(Utc::now()),
            ..Hold::request(Uuid::now_v7(), patron.id, id(1))
        };
        store.save(&hold).expect("saves");
        hold
    }

    #[test]
    fn a_card_then_a_copy_checks_it_out_and_the_copy_alone_checks_it_in_all_queued() {
        let (mut store, ada, _) = desk();
        let card = store.scan(" 20000002\n", None).expect("scans");
        assert_eq!(card.outcome, Outcome::PatronSelected);
        assert_eq!(card.patron.as_ref().map(|p| p.id), Some(ada.id));
        let out = store.scan("3100", Some(ada.id)).expect("scans");
        assert_eq!(out.outcome, Outcome::CheckedOut);
        assert!(out.success);
        assert!(out.message.starts_with("Checked out to Ada Lovelace, due "));
        assert_eq!(out.title.as_deref(), Some("The Long Way"));
        let activity = store.patron_activity(ada.id).expect("reads");
        assert_eq!(activity.loans.len(), 1);
        assert!(activity.loans[0].loan.pending, "queued for the server");
        assert_eq!(activity.loans[0].title.as_deref(), Some("The Long Way"));
        // Scanned again for Ada: already hers.
        let again = store.scan("3100", Some(ada.id)).expect("scans");
        assert_eq!(again.outcome, Outcome::AlreadyOnLoanToThem);
        let back = store.scan("3100", None).expect("scans");
        assert_eq!(
            (back.outcome, back.message.as_str()),
            (Outcome::Returned, "Returned.")
        );
        assert_eq!(back.patron.map(|p| p.id), Some(ada.id));
        assert!(
            store
                .patron_activity(ada.id)
                .expect("reads")
                .loans
                .is_empty()
        );
        // One entry: the loan made and returned, created as such when it reaches the server.
        let entries: Vec<_> = store
            .outbox()
            .expect("outbox")
            .into_iter()
            .filter(|e| e.kind == RecordType::Loan)
            .collect();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].op, EditOp::Create);
        assert_eq!(
            entries[0].body.as_ref().map(|b| b["status"].clone()),
            Some(json!("returned"))
        );
        // Nothing on loan now: a copy alone says so.
        let idle = store.scan("3100", None).expect("scans");
        assert_eq!(idle.outcome, Outcome::NotOnLoan);
        assert!(!idle.success);
        let unknown = store.scan("9999", None).expect("scans");
        assert_eq!(unknown.outcome, Outcome::UnknownBarcode);
    }

    #[test]
    fn a_copy_fetched_for_a_hold_goes_on_the_shelf_and_only_its_patron_takes_it() {
        let (mut store, ada, bram) = desk();
        let hold = held_for(&mut store, &bram, HoldStatus::Active);
        let fetched = store.scan("3100", None).expect("scans");
        assert_eq!(fetched.outcome, Outcome::ToHoldShelf);
        assert_eq!(
            fetched.message,
            "Held for Bram Carrow: put it on the hold shelf."
        );
        let now = store
            .get::<Hold>(hold.id)
            .expect("reads")
            .expect("the hold");
        assert_eq!(now.record.status, HoldStatus::Ready);
        assert!(now.pending);
        let refused = store.scan("3100", Some(ada.id)).expect("scans");
        assert_eq!(refused.outcome, Outcome::HeldForSomeoneElse);
        assert!(
            store
                .patron_activity(ada.id)
                .expect("reads")
                .loans
                .is_empty()
        );
        let taken = store.scan("3100", Some(bram.id)).expect("scans");
        assert_eq!(taken.outcome, Outcome::CheckedOut);
        let activity = store.patron_activity(bram.id).expect("reads");
        assert_eq!(activity.loans.len(), 1);
        assert_eq!(activity.loans[0].loan.record.hold_id, Some(hold.id));
        assert!(activity.holds.is_empty(), "the hold is fulfilled");
    }

    #[test]
    fn the_hold_shelf_lists_a_branchs_holds_to_fetch_then_waiting_and_moves_them() {
        let (mut store, ada, bram) = desk();
        let waiting = held_for(&mut store, &ada, HoldStatus::Ready);
        let to_fetch = Hold {
            copy_id: Some(id(11)),
            ..held_for(&mut store, &ada, HoldStatus::Active)
        };
        store.save(&to_fetch).expect("saves");
        held_for(&mut store, &bram, HoldStatus::Active);
        let central = store.hold_shelf(Some("central")).expect("reads");
        let ids: Vec<_> = central.iter().map(|h| h.hold.record.id).collect();
        assert_eq!(
            ids,
            [to_fetch.id, waiting.id],
            "to fetch first, then waiting"
        );
        assert_eq!(central[1].title.as_deref(), Some("The Long Way"));
        assert_eq!(store.hold_shelf(None).expect("reads").len(), 3);

        let refused = store
            .move_hold(
                waiting.id,
                HoldStatus::Cancelled,
                Some(CancelReason::Expired),
            )
            .expect_err("the server's reason");
        assert!(matches!(refused, StoreError::Invalid(_)));
        let back = store
            .move_hold(waiting.id, HoldStatus::Active, None)
            .expect_err("not backwards");
        assert!(matches!(back, StoreError::Invalid(_)));
        let cancelled = store
            .move_hold(
                waiting.id,
                HoldStatus::Cancelled,
                Some(CancelReason::Patron),
            )
            .expect("cancels");
        assert_eq!(cancelled.record.cancel_reason.as_deref(), Some("patron"));
        let collected = store
            .move_hold(to_fetch.id, HoldStatus::Fulfilled, None)
            .expect("collects");
        assert!(collected.pending);
        assert!(store.hold_shelf(Some("Central")).expect("reads").is_empty());
    }

    #[test]
    fn an_offline_check_out_is_due_after_the_loan_period_the_servers_loans_show() {
        let (mut store, ada, bram) = desk();
        // Before any loan from the server: the protocol's default.
        let out = store.scan("3100", Some(ada.id)).expect("scans");
        let due = |days: i64| {
            shelfmark_core::circulation::short_date(Utc::now() + chrono::Duration::days(days))
        };
        assert!(
            out.message.ends_with(&format!("due {}.", due(21))),
            "{}",
            out.message
        );
        store.scan("3100", None).expect("checks in");
        // The server's loans are a fortnight long.
        let loaned = Utc::now() - chrono::Duration::days(3);
        let loan = json!({
            "id": id(90), "copy_id": id(99), "patron_id": bram.id, "status": "on_loan",
            "loaned_at": loaned, "due_at": loaned + chrono::Duration::days(14),
        });
        let feed = shelfmark_core::wire::ChangeFeed {
            changes: vec![shelfmark_core::wire::Change {
                seq: 1,
                kind: RecordType::Loan,
                id: id(90),
                etag: "\"v1\"".into(),
                deleted: false,
                data: Some(serde_json::value::to_raw_value(&loan).expect("JSON")),
            }],
            last_seq: 1,
            more: false,
        };
        store.apply_changes(&feed, Some("\"1\"")).expect("applies");
        let out = store.scan("3100", Some(ada.id)).expect("scans");
        assert!(
            out.message.ends_with(&format!("due {}.", due(14))),
            "{}",
            out.message
        );
    }
}
