//! The operations that change several records at once, written once for both databases.
//!
//! Placing a hold allocates a copy; a premium patron's lost hold opens an escalation and puts
//! a mail in the outbox; the manager's actions cancel, create and settle records together.
//! Each must be all or nothing, so each runs inside one database transaction: the backends
//! implement the primitive reads and writes of `super::backend::Conn` over their own
//! transaction (whose first step takes the sequence counter's lock, ordering every writer of
//! every server instance), and [`run`] holds the rules, writing records through the same
//! `super::write` rules as a single-record write. An operation answers what happened as an
//! [`Outcome`] and whether to commit; a refusal rolls everything back.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use shelfmark_core::model::{CancelReason, Loan, LoanStatus};
use shelfmark_core::wire::{ContestEntry, ContestOutcome};
use shelfmark_core::{
    Book, Copy, CopyStatus, Escalation, EscalationStatus, Hold, HoldStatus, Patron,
    PurchaseRequest, PurchaseStatus, RecordType, ValidationErrors,
};
use uuid::Uuid;

use super::backend::Conn;
use super::{Actor, DeleteOutcome, Expect, ListQuery, Row, StoreError, Write, WriteOutcome, write};
use crate::mail::compose::{self as mail, MailSettings, OutboxMail};
use crate::records::{Circulation, Copies, Escalations, Holds, Loans, PurchaseRequests};

/// What the operations need of the server's settings: who mails come from and go to, and how
/// long holds wait and loans last.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub mail: MailSettings,
    pub circulation: Circulation,
}

/// How many expired holds one pass of [`Op::ExpireHolds`] cancels at most (the next pass
/// takes the rest): a transaction that holds the writers' lock stays short.
const EXPIRY_BATCH: i64 = 200;

/// A business operation.
#[derive(Debug, Clone)]
pub enum Op {
    /// `PUT /v1/holds/{id}` with `If-None-Match: *`.
    PlaceHold(Hold),
    /// `PUT /v1/holds/{id}` with `If-Match`: ready for pickup, collected (a loan), cancelled.
    UpdateHold { hold: Hold, version: i64 },
    /// `PUT /v1/loans/{id}` with `If-None-Match: *`: a copy checked out.
    CheckOut(Loan),
    /// `PUT /v1/loans/{id}` with `If-Match`: a copy checked in.
    UpdateLoan { loan: Loan, version: i64 },
    /// The server's own pass: ready holds whose pickup date passed before `now` are cancelled.
    ExpireHolds { now: DateTime<Utc> },
    /// `DELETE /v1/holds/{id}`: the copy becomes available again.
    CancelHold { id: Uuid, version: i64 },
    /// A new copy: it goes first to a premium patron waiting on a purchase.
    CreateCopy(Copy),
    Reassign {
        escalation_id: Uuid,
        version: i64,
        hold_id: Uuid,
        note: String,
        new_hold_id: Uuid,
    },
    FlagPurchase {
        escalation_id: Uuid,
        version: i64,
        request_id: Uuid,
        quantity: u32,
        note: String,
    },
    Resolve {
        escalation_id: Uuid,
        version: i64,
        note: String,
    },
}

/// What an operation did (or why it did nothing).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The hold got a copy: the stored hold.
    HoldPlaced(Row),
    /// No copy was free. For a premium patron, the escalation that was opened (or that an
    /// earlier attempt of the same hold opened).
    HoldUnavailable {
        book_id: Uuid,
        premium: bool,
        escalation_id: Option<Uuid>,
    },
    Written(WriteOutcome),
    Deleted(DeleteOutcome),
    Invalid(ValidationErrors),
    NotFound(RecordType, Uuid),
    /// The record is not in the state the request expected (stale ETag, a hold that moved, an
    /// escalation no longer open): its current state.
    Conflict(Row),
    /// The copy a check-out asked for is not available to this patron: its current state.
    CopyUnavailable(Row),
    /// How many holds a pass of [`Op::ExpireHolds`] expired.
    Expired(usize),
    /// An escalation action succeeded.
    Settled {
        escalation: Row,
        hold: Option<Row>,
        purchase: Option<Row>,
    },
}

/// Runs `op`; the boolean says whether to commit.
pub(crate) async fn run<T: Conn>(
    tx: &mut T,
    actor: &Actor,
    op: Op,
    rules: &Rules,
) -> Result<(Outcome, bool), StoreError> {
    tx.lock().await?;
    let mail = &rules.mail;
    match op {
        Op::PlaceHold(hold) => place_hold(tx, actor, hold, mail).await,
        Op::UpdateHold { hold, version } => update_hold(tx, actor, hold, version, rules).await,
        Op::CheckOut(loan) => check_out(tx, actor, loan, rules).await,
        Op::UpdateLoan { loan, version } => update_loan(tx, actor, loan, version).await,
        Op::ExpireHolds { now } => expire_holds(tx, actor, now).await,
        Op::CancelHold { id, version } => cancel_hold(tx, actor, id, version).await,
        Op::CreateCopy(copy) => create_copy(tx, actor, copy, rules).await,
        Op::Reassign {
            escalation_id,
            version,
            hold_id,
            note,
            new_hold_id,
        } => {
            reassign(
                tx,
                actor,
                escalation_id,
                version,
                hold_id,
                note,
                new_hold_id,
                mail,
            )
            .await
        }
        Op::FlagPurchase {
            escalation_id,
            version,
            request_id,
            quantity,
            note,
        } => {
            flag_purchase(
                tx,
                actor,
                escalation_id,
                version,
                request_id,
                quantity,
                note,
            )
            .await
        }
        Op::Resolve {
            escalation_id,
            version,
            note,
        } => resolve(tx, actor, escalation_id, version, note).await,
    }
}

fn parse<T: DeserializeOwned>(row: &Row) -> Result<T, StoreError> {
    let data = row.data.as_deref().ok_or_else(|| {
        StoreError::Corrupt(format!("{} {} has no data", row.kind.as_str(), row.id))
    })?;
    serde_json::from_str(data).map_err(|e| {
        StoreError::Corrupt(format!(
            "{} {} does not parse: {e}",
            row.kind.as_str(),
            row.id
        ))
    })
}

async fn live<T: Conn>(tx: &mut T, kind: RecordType, id: Uuid) -> Result<Option<Row>, StoreError> {
    Ok(tx.get(kind, id).await?.filter(Row::is_live))
}

/// A write that cannot fail inside the writers' lock (the state was read under it).
fn written(outcome: WriteOutcome, what: &str) -> Result<Row, StoreError> {
    match outcome {
        WriteOutcome::Created(row) | WriteOutcome::Updated(row) => Ok(row),
        other => Err(StoreError::Corrupt(format!(
            "{what}: unexpected {other:?} under the writers' lock"
        ))),
    }
}

/// Records, now, a decision of `hold`'s book's contest, once per hold and kind, in the order
/// decided (the writers' lock is held). `kind`: a placement or a reassignment.
async fn record_contest<T: Conn>(
    tx: &mut T,
    hold: &Hold,
    patron_premium: bool,
    kind: &str,
    outcome: ContestOutcome,
) -> Result<(), StoreError> {
    let entry = ContestEntry {
        hold_id: hold.id,
        patron_id: hold.patron_id,
        patron_premium,
        at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        outcome,
    };
    let json = serde_json::to_string(&entry)
        .map_err(|e| StoreError::Corrupt(format!("a contest entry: {e}")))?;
    tx.add_contest(hold.book_id, entry.hold_id, kind, &json, &entry.at)
        .await
}

fn invalid(field: &str, message: impl Into<String>) -> Outcome {
    let mut errors = ValidationErrors::default();
    errors.push(field, message);
    Outcome::Invalid(errors)
}

/// Moves a copy from `from` to `to`; a copy in another state (or gone) is left alone.
async fn set_copy_status<T: Conn>(
    tx: &mut T,
    actor: &Actor,
    copy_id: Option<Uuid>,
    from: CopyStatus,
    to: CopyStatus,
) -> Result<(), StoreError> {
    let Some(copy_id) = copy_id else {
        return Ok(());
    };
    let Some(row) = live(tx, RecordType::Copy, copy_id).await? else {
        return Ok(());
    };
    let mut copy: Copy = parse(&row)?;
    if copy.status != from {
        return Ok(());
    }
    copy.status = to;
    let w = Write::of::<Copies>(copy.id, &copy)?;
    written(
        write::put(tx, actor, w, Expect::Version(row.version)).await?,
        "copy",
    )?;
    Ok(())
}

async fn place_hold<T: Conn>(
    tx: &mut T,
    actor: &Actor,
    mut hold: Hold,
    settings: &MailSettings,
) -> Result<(Outcome, bool), StoreError> {
    let patron = live(tx, RecordType::Patron, hold.patron_id).await?;
    let book = live(tx, RecordType::Book, hold.book_id).await?;
    let mut errors = ValidationErrors::default();
    if patron.is_none() {
        errors.push("patron_id", format!("no patron has id {}", hold.patron_id));
    }
    if book.is_none() {
        errors.push("book_id", format!("no book has id {}", hold.book_id));
    }
    let (Some(patron), Some(book)) = (patron, book) else {
        return Ok((Outcome::Invalid(errors), false));
    };
    if let Some(row) = live(tx, RecordType::Hold, hold.id).await? {
        return Ok((Outcome::Written(WriteOutcome::Exists(row)), false));
    }
    let patron: Patron = parse(&patron)?;
    // A retry of a hold that lost gets the same answer, not a second escalation.
    if let Some(escalation) = tx
        .by_unique_key(RecordType::Escalation, &hold.id.to_string())
        .await?
    {
        return Ok((
            Outcome::HoldUnavailable {
                book_id: hold.book_id,
                premium: patron.premium,
                escalation_id: Some(escalation.id),
            },
            false,
        ));
    }
    if let Some(copy_row) = tx.available_copy(hold.book_id).await? {
        let mut copy: Copy = parse(&copy_row)?;
        copy.status = CopyStatus::Held;
        let w = Write::of::<Copies>(copy.id, &copy)?;
        written(
            write::put(tx, actor, w, Expect::Version(copy_row.version)).await?,
            "copy",
        )?;
        hold.copy_id = Some(copy.id);
        hold.status = HoldStatus::Active;
        hold.cancel_reason = None;
        hold.placed_at = Some(Utc::now());
        hold.ready_at = None;
        hold.pickup_by = None;
        hold.fulfilled_at = None;
        hold.loan_id = None;
        if hold.pickup_branch.is_empty() {
            hold.pickup_branch = patron.branch.clone();
        }
        let w = Write::of::<Holds>(hold.id, &hold)?;
        let row = written(write::put(tx, actor, w, Expect::Absent).await?, "hold")?;
        let won = ContestOutcome::Won { copy_id: copy.id };
        record_contest(tx, &hold, patron.premium, "placement", won).await?;
        return Ok((Outcome::HoldPlaced(row), true));
    }
    if !patron.premium {
        // Nothing is stored of a regular patron's lost hold but this line of the contest.
        let lost = ContestOutcome::Lost {
            escalation_id: None,
        };
        record_contest(tx, &hold, false, "placement", lost).await?;
        return Ok((
            Outcome::HoldUnavailable {
                book_id: hold.book_id,
                premium: false,
                escalation_id: None,
            },
            true,
        ));
    }
    let book: Book = parse(&book)?;
    let escalation = Escalation {
        id: Uuid::now_v7(),
        patron_id: patron.id,
        book_id: book.id,
        hold_request_id: hold.id,
        status: EscalationStatus::Open,
        resolution_note: None,
        created_at: Utc::now(),
    };
    let w = Write::of::<Escalations>(escalation.id, &escalation)?;
    written(
        write::put(tx, actor, w, Expect::Absent).await?,
        "escalation",
    )?;
    let message = mail::manager_mail(settings, &patron, &book, &escalation)
        .map_err(|e| StoreError::Corrupt(format!("cannot write the manager's mail: {e}")))?;
    write::queue_mail(tx, &message).await?;
    let lost = ContestOutcome::Lost {
        escalation_id: Some(escalation.id),
    };
    record_contest(tx, &hold, true, "placement", lost).await?;
    Ok((
        Outcome::HoldUnavailable {
            book_id: book.id,
            premium: true,
            escalation_id: Some(escalation.id),
        },
        true,
    ))
}

async fn update_hold<T: Conn>(
    tx: &mut T,
    actor: &Actor,
    hold: Hold,
    version: i64,
    rules: &Rules,
) -> Result<(Outcome, bool), StoreError> {
    let Some(row) = live(tx, RecordType::Hold, hold.id).await? else {
        return Ok((Outcome::NotFound(RecordType::Hold, hold.id), false));
    };
    let current: Hold = parse(&row)?;
    let mut errors = ValidationErrors::default();
    if hold.patron_id != current.patron_id {
        errors.push(
            "patron_id",
            "a hold's patron cannot change: place a new hold",
        );
    }
    if hold.book_id != current.book_id {
        errors.push("book_id", "a hold's book cannot change: place a new hold");
    }
    if !errors.0.is_empty() {
        return Ok((Outcome::Invalid(errors), false));
    }
    // A transition is judged from the state the desk saw: if the hold moved since (collected
    // at another desk, expired), that is what the desk must hear, as a conflict.
    if row.version != version {
        return Ok((Outcome::Conflict(row), false));
    }
    use HoldStatus::{Active, Cancelled, Fulfilled, Ready};
    if let Some(why) = current.status.step_refused(hold.status) {
        errors.push("status", why);
    }
    if current.status.is_open() && hold.status == Fulfilled && current.copy_id.is_none() {
        errors.push("status", "this hold has no copy to collect");
    }
    if hold.status == Cancelled
        && current.status.is_open()
        && let Some(reason) = hold.cancel_reason.as_deref()
        && !CancelReason::parse(reason).is_some_and(CancelReason::is_desks)
    {
        errors.push(
            "cancel_reason",
            "a desk cancels a hold for the patron or for staff",
        );
    }
    if !errors.0.is_empty() {
        return Ok((Outcome::Invalid(errors), false));
    }
    let now = Utc::now();
    // Only the status (and, while the copy is fetched, the pickup branch) is the desk's to
    // change; the times and the loan are the server's.
    let mut next = current.clone();
    next.status = hold.status;
    let mut mails = Vec::new();
    match (current.status, hold.status) {
        (Active, Active) if !hold.pickup_branch.is_empty() => {
            next.pickup_branch = hold.pickup_branch.clone();
        }
        (Active, Ready) => {
            next.ready_at = Some(now);
            next.pickup_by = Some(now + rules.circulation.pickup_window);
            if let Some(message) = patron_mail(tx, &next, |patron, book| {
                mail::ready_mail(&rules.mail, patron, book, &next)
            })
            .await?
            {
                mails.push(message);
            }
        }
        (Active | Ready, Cancelled) => {
            next.cancel_reason = Some(
                hold.cancel_reason
                    .clone()
                    .unwrap_or_else(|| CancelReason::Staff.as_str().to_owned()),
            );
            set_copy_status(
                tx,
                actor,
                current.copy_id,
                CopyStatus::Held,
                CopyStatus::Available,
            )
            .await?;
        }
        (Active | Ready, Fulfilled) => {
            let Some(copy_id) = current.copy_id else {
                return Ok((invalid("status", "this hold has no copy to collect"), false));
            };
            let loan = Loan {
                hold_id: Some(current.id),
                loaned_at: Some(now),
                due_at: Some(now + rules.circulation.loan_period),
                ..Loan::check_out(Uuid::now_v7(), copy_id, current.patron_id)
            };
            set_copy_status(
                tx,
                actor,
                Some(copy_id),
                CopyStatus::Held,
                CopyStatus::OnLoan,
            )
            .await?;
            let w = Write::of::<Loans>(loan.id, &loan)?;
            written(write::put(tx, actor, w, Expect::Absent).await?, "loan")?;
            next.fulfilled_at = Some(now);
            next.loan_id = Some(loan.id);
        }
        (Cancelled, Cancelled) => {
            next.cancel_reason = hold.cancel_reason.or(next.cancel_reason);
        }
        _ => {}
    }
    let w = Write::of::<Holds>(next.id, &next)?;
    let outcome = write::put(tx, actor, w, Expect::Version(version)).await?;
    let commit = matches!(outcome, WriteOutcome::Updated(_));
    if commit {
        for message in &mails {
            write::queue_mail(tx, message).await?;
        }
    }
    Ok((Outcome::Written(outcome), commit))
}

/// A mail to a hold's patron about its book, or None (with a warning) when the patron, the
/// book or the address cannot make one: a mail must never stop the change it tells of.
async fn patron_mail<T: Conn>(
    tx: &mut T,
    hold: &Hold,
    compose: impl FnOnce(&Patron, &Book) -> Result<OutboxMail, mail::MailError>,
) -> Result<Option<OutboxMail>, StoreError> {
    let patron: Option<Patron> = live(tx, RecordType::Patron, hold.patron_id)
        .await?
        .as_ref()
        .map(parse)
        .transpose()?;
    let book: Option<Book> = live(tx, RecordType::Book, hold.book_id)
        .await?
        .as_ref()
        .map(parse)
        .transpose()?;
    let (Some(patron), Some(book)) = (patron, book) else {
        return Ok(None);
    };
    match compose(&patron, &book) {
        Ok(message) => Ok(Some(message)),
        Err(e) => {
            // The error may quote the patron's address: Debug-quoted, one log line whatever it holds.
            tracing::warn!(patron = %patron.id, error = ?e.to_string(), "cannot mail the patron");
            Ok(None)
        }
    }
}

/// The patron's own open hold that set this copy aside, if any.
async fn own_hold_on<T: Conn>(
    tx: &mut T,
    copy: &Copy,
    patron_id: Uuid,
) -> Result<Option<(Row, Hold)>, StoreError> {
    let rows = tx
        .list(
            RecordType::Hold,
            &ListQuery {
                ref_id: Some(patron_id),
                ref2_id: Some(copy.book_id),
                limit: 1000,
                ..ListQuery::default()
            },
        )
        .await?;
    for row in rows {
        let hold: Hold = parse(&row)?;
        if hold.status.is_open() && hold.copy_id == Some(copy.id) {
            return Ok(Some((row, hold)));
        }
    }
    Ok(None)
}

async fn check_out<T: Conn>(
    tx: &mut T,
    actor: &Actor,
    mut loan: Loan,
    rules: &Rules,
) -> Result<(Outcome, bool), StoreError> {
    let copy_row = live(tx, RecordType::Copy, loan.copy_id).await?;
    let patron = live(tx, RecordType::Patron, loan.patron_id).await?;
    let mut errors = ValidationErrors::default();
    if copy_row.is_none() {
        errors.push("copy_id", format!("no copy has id {}", loan.copy_id));
    }
    if patron.is_none() {
        errors.push("patron_id", format!("no patron has id {}", loan.patron_id));
    }
    let Some(copy_row) = copy_row else {
        return Ok((Outcome::Invalid(errors), false));
    };
    if !errors.0.is_empty() {
        return Ok((Outcome::Invalid(errors), false));
    }
    if let Some(row) = live(tx, RecordType::Loan, loan.id).await? {
        return Ok((Outcome::Written(WriteOutcome::Exists(row)), false));
    }
    let mut copy: Copy = parse(&copy_row)?;
    let now = Utc::now();
    loan.hold_id = None;
    match copy.status {
        CopyStatus::Available => {}
        CopyStatus::Held => {
            // The patron the copy was set aside for takes it: their hold is fulfilled.
            let Some((hold_row, mut hold)) = own_hold_on(tx, &copy, loan.patron_id).await? else {
                return Ok((Outcome::CopyUnavailable(copy_row), false));
            };
            hold.status = HoldStatus::Fulfilled;
            hold.fulfilled_at = Some(now);
            hold.loan_id = Some(loan.id);
            let w = Write::of::<Holds>(hold.id, &hold)?;
            written(
                write::put(tx, actor, w, Expect::Version(hold_row.version)).await?,
                "hold",
            )?;
            loan.hold_id = Some(hold.id);
        }
        CopyStatus::OnLoan | CopyStatus::Missing => {
            return Ok((Outcome::CopyUnavailable(copy_row), false));
        }
    }
    loan.loaned_at = Some(now);
    loan.due_at = Some(now + rules.circulation.loan_period);
    // A desk that was offline may send a loan it already took back: it is recorded as made
    // and returned, and the copy stays on the shelf.
    let status = match loan.status {
        LoanStatus::OnLoan => {
            loan.returned_at = None;
            CopyStatus::OnLoan
        }
        LoanStatus::Returned => {
            loan.returned_at = Some(now);
            CopyStatus::Available
        }
    };
    if copy.status != status {
        copy.status = status;
        let w = Write::of::<Copies>(copy.id, &copy)?;
        written(
            write::put(tx, actor, w, Expect::Version(copy_row.version)).await?,
            "copy",
        )?;
    }
    let w = Write::of::<Loans>(loan.id, &loan)?;
    let row = written(write::put(tx, actor, w, Expect::Absent).await?, "loan")?;
    Ok((Outcome::Written(WriteOutcome::Created(row)), true))
}

async fn update_loan<T: Conn>(
    tx: &mut T,
    actor: &Actor,
    loan: Loan,
    version: i64,
) -> Result<(Outcome, bool), StoreError> {
    let Some(row) = live(tx, RecordType::Loan, loan.id).await? else {
        return Ok((Outcome::NotFound(RecordType::Loan, loan.id), false));
    };
    let current: Loan = parse(&row)?;
    let mut errors = ValidationErrors::default();
    if loan.copy_id != current.copy_id {
        errors.push("copy_id", "a loan's copy cannot change: check it out anew");
    }
    if loan.patron_id != current.patron_id {
        errors.push(
            "patron_id",
            "a loan's patron cannot change: check the copy in and out again",
        );
    }
    if current.status == LoanStatus::Returned && loan.status == LoanStatus::OnLoan {
        errors.push(
            "status",
            "a returned loan cannot go out again: check the copy out anew",
        );
    }
    if !errors.0.is_empty() {
        return Ok((Outcome::Invalid(errors), false));
    }
    if row.version != version {
        return Ok((Outcome::Conflict(row), false));
    }
    let mut next = current.clone();
    if current.status == LoanStatus::OnLoan && loan.status == LoanStatus::Returned {
        next.status = LoanStatus::Returned;
        next.returned_at = Some(Utc::now());
        set_copy_status(
            tx,
            actor,
            Some(current.copy_id),
            CopyStatus::OnLoan,
            CopyStatus::Available,
        )
        .await?;
    }
    let w = Write::of::<Loans>(next.id, &next)?;
    let outcome = write::put(tx, actor, w, Expect::Version(version)).await?;
    let commit = matches!(outcome, WriteOutcome::Updated(_));
    Ok((Outcome::Written(outcome), commit))
}

async fn expire_holds<T: Conn>(
    tx: &mut T,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Outcome, bool), StoreError> {
    let mut expired = 0;
    let mut after = None;
    loop {
        let rows = tx
            .list(
                RecordType::Hold,
                &ListQuery {
                    status: Some(HoldStatus::Ready.as_str().into()),
                    after,
                    limit: 500,
                    ..ListQuery::default()
                },
            )
            .await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.id);
        for row in rows {
            let mut hold: Hold = parse(&row)?;
            if hold.status != HoldStatus::Ready || hold.pickup_by.is_none_or(|by| by >= now) {
                continue;
            }
            hold.status = HoldStatus::Cancelled;
            hold.cancel_reason = Some(CancelReason::Expired.as_str().into());
            set_copy_status(
                tx,
                actor,
                hold.copy_id,
                CopyStatus::Held,
                CopyStatus::Available,
            )
            .await?;
            let w = Write::of::<Holds>(hold.id, &hold)?;
            written(
                write::put(tx, actor, w, Expect::Version(row.version)).await?,
                "hold",
            )?;
            expired += 1;
            if expired >= EXPIRY_BATCH as usize {
                return Ok((Outcome::Expired(expired), true));
            }
        }
    }
    Ok((Outcome::Expired(expired), expired > 0))
}

async fn cancel_hold<T: Conn>(
    tx: &mut T,
    actor: &Actor,
    id: Uuid,
    version: i64,
) -> Result<(Outcome, bool), StoreError> {
    let Some(row) = live(tx, RecordType::Hold, id).await? else {
        return Ok((Outcome::Deleted(DeleteOutcome::NotFound), false));
    };
    if row.version != version {
        return Ok((Outcome::Deleted(DeleteOutcome::Conflict(row)), false));
    }
    let hold: Hold = parse(&row)?;
    if hold.status.is_open() {
        set_copy_status(
            tx,
            actor,
            hold.copy_id,
            CopyStatus::Held,
            CopyStatus::Available,
        )
        .await?;
    }
    let outcome = write::delete(tx, actor, RecordType::Hold, id, version).await?;
    let commit = matches!(outcome, DeleteOutcome::Deleted(_));
    Ok((Outcome::Deleted(outcome), commit))
}

async fn create_copy<T: Conn>(
    tx: &mut T,
    actor: &Actor,
    mut copy: Copy,
    rules: &Rules,
) -> Result<(Outcome, bool), StoreError> {
    let w = Write::of::<Copies>(copy.id, &copy)?;
    let outcome = write::put(tx, actor, w, Expect::Absent).await?;
    let WriteOutcome::Created(created) = outcome else {
        return Ok((Outcome::Written(outcome), false));
    };
    if copy.status != CopyStatus::Available {
        return Ok((Outcome::Written(WriteOutcome::Created(created)), true));
    }
    // The oldest escalation waiting on a purchase of this book gets the copy.
    let waiting = tx
        .list(
            RecordType::Escalation,
            &ListQuery {
                ref2_id: Some(copy.book_id),
                status: Some("purchase_flagged".into()),
                limit: 1,
                ..ListQuery::default()
            },
        )
        .await?;
    let Some(esc_row) = waiting.into_iter().next() else {
        return Ok((Outcome::Written(WriteOutcome::Created(created)), true));
    };
    let mut escalation: Escalation = parse(&esc_row)?;
    copy.status = CopyStatus::Held;
    let w = Write::of::<Copies>(copy.id, &copy)?;
    let copy_row = written(
        write::put(tx, actor, w, Expect::Version(created.version)).await?,
        "copy",
    )?;
    let hold = Hold {
        copy_id: Some(copy.id),
        placed_at: Some(Utc::now()),
        pickup_branch: copy.branch.clone(),
        ..Hold::request(Uuid::now_v7(), escalation.patron_id, copy.book_id)
    };
    let w = Write::of::<Holds>(hold.id, &hold)?;
    written(write::put(tx, actor, w, Expect::Absent).await?, "hold")?;
    if let Some(message) = patron_mail(tx, &hold, |patron, book| {
        mail::copy_for_you_mail(&rules.mail, patron, book, &hold)
    })
    .await?
    {
        write::queue_mail(tx, &message).await?;
    }
    // The purchased copy goes to the waiting premium patron: a placement they won.
    let won = ContestOutcome::Won { copy_id: copy.id };
    record_contest(tx, &hold, true, "placement", won).await?;
    escalation.status = EscalationStatus::Resolved;
    escalation.resolution_note = Some(format!(
        "The new copy {} went to the patron (hold {}).",
        copy.barcode, hold.id
    ));
    let w = Write::of::<Escalations>(escalation.id, &escalation)?;
    written(
        write::put(tx, actor, w, Expect::Version(esc_row.version)).await?,
        "escalation",
    )?;
    let requests = tx
        .list(
            RecordType::PurchaseRequest,
            &ListQuery {
                ref2_id: Some(escalation.id),
                limit: 100,
                ..ListQuery::default()
            },
        )
        .await?;
    for pr_row in requests {
        let mut pr: PurchaseRequest = parse(&pr_row)?;
        if matches!(
            pr.status,
            PurchaseStatus::Requested | PurchaseStatus::Ordered
        ) {
            pr.status = PurchaseStatus::Received;
            let w = Write::of::<PurchaseRequests>(pr.id, &pr)?;
            written(
                write::put(tx, actor, w, Expect::Version(pr_row.version)).await?,
                "purchase",
            )?;
        }
    }
    Ok((Outcome::Written(WriteOutcome::Created(copy_row)), true))
}

/// The escalation an action names, if it is at `version` and in one of `allowed`.
async fn escalation_for_action<T: Conn>(
    tx: &mut T,
    id: Uuid,
    version: i64,
    allowed: &[EscalationStatus],
) -> Result<Result<(Row, Escalation), Outcome>, StoreError> {
    let Some(row) = live(tx, RecordType::Escalation, id).await? else {
        return Ok(Err(Outcome::NotFound(RecordType::Escalation, id)));
    };
    if row.version != version {
        return Ok(Err(Outcome::Conflict(row)));
    }
    let escalation: Escalation = parse(&row)?;
    if !allowed.contains(&escalation.status) {
        return Ok(Err(Outcome::Conflict(row)));
    }
    Ok(Ok((row, escalation)))
}

#[allow(clippy::too_many_arguments)]
async fn reassign<T: Conn>(
    tx: &mut T,
    actor: &Actor,
    escalation_id: Uuid,
    version: i64,
    hold_id: Uuid,
    note: String,
    new_hold_id: Uuid,
    settings: &MailSettings,
) -> Result<(Outcome, bool), StoreError> {
    // Validity first (400), then the preconditions (409), as everywhere.
    let hold_row = match tx.get(RecordType::Hold, hold_id).await? {
        Some(row) if row.is_live() => row,
        // Cancelled at a desk (a deletion) since the manager chose it: it changed meanwhile.
        Some(gone) => return Ok((Outcome::Conflict(gone), false)),
        None => {
            return Ok((
                invalid("hold_id", format!("no hold has id {hold_id}")),
                false,
            ));
        }
    };
    let Some(esc_row) = live(tx, RecordType::Escalation, escalation_id).await? else {
        return Ok((
            Outcome::NotFound(RecordType::Escalation, escalation_id),
            false,
        ));
    };
    let esc: Escalation = parse(&esc_row)?;
    let hold: Hold = parse(&hold_row)?;
    if hold.book_id != esc.book_id {
        return Ok((invalid("hold_id", "this hold is on another book"), false));
    }
    let holder_row = live(tx, RecordType::Patron, hold.patron_id).await?;
    let holder: Option<Patron> = holder_row.as_ref().map(parse).transpose()?;
    if holder.as_ref().is_some_and(|p| p.premium) {
        return Ok((
            invalid(
                "hold_id",
                "this hold belongs to a premium patron: choose another",
            ),
            false,
        ));
    }
    let (esc_row, mut escalation) = match escalation_for_action(
        tx,
        escalation_id,
        version,
        &[EscalationStatus::Open, EscalationStatus::PurchaseFlagged],
    )
    .await?
    {
        Ok(found) => found,
        Err(refusal) => return Ok((refusal, false)),
    };
    if hold.status != HoldStatus::Active || hold.copy_id.is_none() {
        return Ok((Outcome::Conflict(hold_row), false));
    }
    let mut cancelled = hold.clone();
    cancelled.status = HoldStatus::Cancelled;
    cancelled.cancel_reason = Some(CancelReason::Reassigned.as_str().into());
    let w = Write::of::<Holds>(cancelled.id, &cancelled)?;
    written(
        write::put(tx, actor, w, Expect::Version(hold_row.version)).await?,
        "hold",
    )?;
    // The copy stays where it was set aside: the premium patron collects it there.
    let new_hold = Hold {
        copy_id: hold.copy_id,
        placed_at: Some(Utc::now()),
        pickup_branch: hold.pickup_branch.clone(),
        ..Hold::request(new_hold_id, escalation.patron_id, escalation.book_id)
    };
    let w = Write::of::<Holds>(new_hold.id, &new_hold)?;
    let new_row = match write::put(tx, actor, w, Expect::Absent).await? {
        WriteOutcome::Created(row) => row,
        WriteOutcome::Exists(_) => {
            return Ok((invalid("new_hold_id", "a hold with this id exists"), false));
        }
        other => return Err(StoreError::Corrupt(format!("new hold: {other:?}"))),
    };
    escalation.status = EscalationStatus::Reassigned;
    escalation.resolution_note = Some(note).filter(|n| !n.trim().is_empty());
    let w = Write::of::<Escalations>(escalation.id, &escalation)?;
    let esc_row = written(
        write::put(tx, actor, w, Expect::Version(esc_row.version)).await?,
        "escalation",
    )?;
    if let Some(message) = patron_mail(tx, &new_hold, |patron, book| {
        mail::copy_for_you_mail(settings, patron, book, &new_hold)
    })
    .await?
    {
        write::queue_mail(tx, &message).await?;
    }
    if let Some(copy_id) = hold.copy_id {
        let moved = ContestOutcome::Reassigned {
            copy_id,
            from_hold_id: hold.id,
            to_hold_id: new_hold.id,
            by: actor.name.clone(),
            note: escalation.resolution_note.clone().unwrap_or_default(),
        };
        record_contest(tx, &new_hold, true, "reassignment", moved).await?;
    }
    if let Some(holder) = holder {
        let book: Option<Book> = live(tx, RecordType::Book, hold.book_id)
            .await?
            .as_ref()
            .map(parse)
            .transpose()?;
        // Where the patron was to collect the copy, which is where they will ask about it.
        let copy: Option<Copy> = match hold.copy_id {
            Some(id) => live(tx, RecordType::Copy, id)
                .await?
                .as_ref()
                .map(parse)
                .transpose()?,
            None => None,
        };
        let branch = copy.map_or_else(|| holder.branch.clone(), |c| c.branch);
        match book.map(|b| mail::reassigned_mail(settings, &holder, &b, &cancelled, &branch)) {
            Some(Ok(message)) => write::queue_mail(tx, &message).await?,
            Some(Err(e)) => {
                tracing::warn!(patron = %holder.id, error = ?e.to_string(), "cannot mail the patron who lost the copy")
            }
            None => {}
        }
    }
    Ok((
        Outcome::Settled {
            escalation: esc_row,
            hold: Some(new_row),
            purchase: None,
        },
        true,
    ))
}

async fn flag_purchase<T: Conn>(
    tx: &mut T,
    actor: &Actor,
    escalation_id: Uuid,
    version: i64,
    request_id: Uuid,
    quantity: u32,
    note: String,
) -> Result<(Outcome, bool), StoreError> {
    let (esc_row, mut escalation) =
        match escalation_for_action(tx, escalation_id, version, &[EscalationStatus::Open]).await? {
            Ok(found) => found,
            Err(refusal) => return Ok((refusal, false)),
        };
    let Some(book_row) = live(tx, RecordType::Book, escalation.book_id).await? else {
        return Ok((
            invalid("book_id", "the escalation's book no longer exists"),
            false,
        ));
    };
    let book: Book = parse(&book_row)?;
    let request = PurchaseRequest {
        id: request_id,
        book_id: book.id,
        isbn: book.isbn,
        escalation_id: Some(escalation.id),
        requested_by: actor.name.clone(),
        quantity,
        note,
        status: PurchaseStatus::Requested,
    };
    let w = Write::of::<PurchaseRequests>(request.id, &request)?;
    let pr_row = match write::put(tx, actor, w, Expect::Absent).await? {
        WriteOutcome::Created(row) => row,
        // The client chose the id of a record that exists (found by an API fuzz run: this was
        // a 500).
        WriteOutcome::Exists(_) => {
            return Ok((
                invalid("id", "a purchase request with this id exists"),
                false,
            ));
        }
        other => written(other, "purchase request")?,
    };
    escalation.status = EscalationStatus::PurchaseFlagged;
    let w = Write::of::<Escalations>(escalation.id, &escalation)?;
    let esc_row = written(
        write::put(tx, actor, w, Expect::Version(esc_row.version)).await?,
        "escalation",
    )?;
    Ok((
        Outcome::Settled {
            escalation: esc_row,
            hold: None,
            purchase: Some(pr_row),
        },
        true,
    ))
}

async fn resolve<T: Conn>(
    tx: &mut T,
    actor: &Actor,
    escalation_id: Uuid,
    version: i64,
    note: String,
) -> Result<(Outcome, bool), StoreError> {
    let (esc_row, mut escalation) = match escalation_for_action(
        tx,
        escalation_id,
        version,
        &[EscalationStatus::Open, EscalationStatus::PurchaseFlagged],
    )
    .await?
    {
        Ok(found) => found,
        Err(refusal) => return Ok((refusal, false)),
    };
    escalation.status = EscalationStatus::Resolved;
    escalation.resolution_note = Some(note);
    let w = Write::of::<Escalations>(escalation.id, &escalation)?;
    let esc_row = written(
        write::put(tx, actor, w, Expect::Version(esc_row.version)).await?,
        "escalation",
    )?;
    Ok((
        Outcome::Settled {
            escalation: esc_row,
            hold: None,
            purchase: None,
        },
        true,
    ))
}
