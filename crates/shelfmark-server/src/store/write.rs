//! The store's write rules, written once over [`Conn`] for both databases: a record's
//! compare-and-set write and deletion (with the revision each one keeps; a record others still
//! depend on is not deleted, decided in the deletion's own transaction), the bulk insert of
//! new records, a session token's insertion, a mail's queueing, and the schema migration.
//!
//! Each runs inside the transaction its caller opened (`Store`'s methods, or a business
//! operation of `super::ops`); what it answers says whether that transaction commits.

use std::collections::HashSet;

use shelfmark_core::wire::Dependents;
use shelfmark_core::{Book, RecordType};
use uuid::Uuid;

use super::backend::{Conn, Fields, Res, Tombstone};
use super::{
    Actor, DeleteOutcome, Expect, ImportOutcome, OutboxMail, Row, SCHEMA_VERSION, StoreError, User,
    UserChange, Write, WriteOutcome, now_rfc3339,
};
use crate::records::Books;

/// Writes a record if it is in the state `expect` names and no other live record of its
/// kind holds its unique key.
pub(crate) async fn put<C: Conn>(
    c: &mut C,
    actor: &Actor,
    w: Write,
    expect: Expect,
) -> Res<WriteOutcome> {
    let seq = c.take_seq(1).await?;
    let current = c.get(w.kind, w.id).await?;
    let live = current.clone().filter(Row::is_live);
    match (expect, &live) {
        (Expect::Absent, Some(row)) => return Ok(WriteOutcome::Exists(row.clone())),
        (Expect::Version(_), None) => return Ok(WriteOutcome::NotFound),
        _ => {}
    }
    if let Some(key) = &w.index.unique_key
        && let Some(other) = c.key_holder(w.kind, key, w.id).await?
    {
        return Ok(WriteOutcome::Duplicate(other));
    }
    let now = now_rfc3339();
    let fields = Fields::new(&w, seq, &now, &actor.name);
    let version = match (expect, current) {
        (Expect::Version(v), _) => {
            if !c.update_record(&fields, Some(v)).await? {
                // Changed since it was read: only possible outside the writers' lock.
                return Ok(live.map_or(WriteOutcome::NotFound, WriteOutcome::Conflict));
            }
            v + 1
        }
        (Expect::Absent, Some(tombstone)) => {
            c.update_record(&fields, None).await?;
            tombstone.version + 1
        }
        (Expect::Absent, None) => {
            c.insert_record(&fields).await?;
            1
        }
    };
    let row = Row {
        kind: w.kind,
        id: w.id,
        version,
        seq,
        deleted: false,
        data: Some(w.data),
    };
    c.add_revision(&row, &actor.name, &now).await?;
    Ok(match expect {
        Expect::Absent => WriteOutcome::Created(row),
        Expect::Version(_) => WriteOutcome::Updated(row),
    })
}

/// Deletes a live record at `version`, leaving a tombstone (the change feed reports it),
/// unless others still depend on it ([`crate::records::dependents`]). The precondition comes
/// first: a stale version is a conflict even when the record is also in use. Both are read
/// under the writers' lock, so no dependent can appear between the check and the deletion.
pub(crate) async fn delete<C: Conn>(
    c: &mut C,
    actor: &Actor,
    kind: RecordType,
    id: Uuid,
    version: i64,
) -> Res<DeleteOutcome> {
    let seq = c.take_seq(1).await?;
    let Some(current) = c.get(kind, id).await?.filter(Row::is_live) else {
        return Ok(DeleteOutcome::NotFound);
    };
    if current.version != version {
        return Ok(DeleteOutcome::Conflict(current));
    }
    let mut in_use = Vec::new();
    for rule in crate::records::dependents(kind) {
        let (count, ids) = c.dependents(rule, id).await?;
        if count > 0 {
            in_use.push(Dependents {
                kind: rule.kind,
                count: u64::try_from(count).unwrap_or_default(),
                ids,
            });
        }
    }
    if !in_use.is_empty() {
        return Ok(DeleteOutcome::InUse(in_use));
    }
    let at = now_rfc3339();
    let by = &actor.name;
    let tombstone = Tombstone {
        kind,
        id,
        seq,
        version,
        at: &at,
        by,
    };
    if !c.delete_record(&tombstone).await? {
        return Ok(DeleteOutcome::Conflict(current));
    }
    let version = version + 1;
    let row = Row {
        kind,
        id,
        version,
        seq,
        deleted: true,
        data: None,
    };
    c.add_revision(&row, by, &at).await?;
    Ok(DeleteOutcome::Deleted(row))
}

/// Inserts new records (their ids must be new) with consecutive sequence numbers; the
/// boolean says whether there was anything to commit.
pub(crate) async fn insert_many<C: Conn>(
    c: &mut C,
    actor: &Actor,
    writes: Vec<Write>,
) -> Res<((), bool)> {
    if writes.is_empty() {
        return Ok(((), false));
    }
    let first = c.take_seq(writes.len() as i64).await?;
    c.insert_new(first, writes, &now_rfc3339(), &actor.name)
        .await?;
    Ok(((), true))
}

/// Writes books brought in from outside (a MARC import), each as a normal write (revision,
/// change feed, search index), in the caller's one transaction. A book is matched to the
/// catalogue by its id (derived from its record: the same record imported again) and else by
/// its ISBN; a match whose content is the same is left alone, any other is updated only when
/// `update` says so, keeping the catalogue's id. The boolean says whether anything was written.
pub(crate) async fn import_books<C: Conn>(
    c: &mut C,
    actor: &Actor,
    books: Vec<Write>,
    update: bool,
) -> Res<(Vec<ImportOutcome>, bool)> {
    let mut outcomes = Vec::with_capacity(books.len());
    let mut wrote = false;
    // Books found new, inserted together (one sequence range, the bulk insert) before any
    // book that might be one of them is looked up.
    let mut fresh: Vec<Write> = Vec::new();
    let mut fresh_keys: HashSet<String> = HashSet::new();
    for mut w in books {
        let isbn = w.index.unique_key.clone();
        let keys = [Some(w.id.to_string()), isbn.clone()];
        if keys.iter().flatten().any(|k| fresh_keys.contains(k)) {
            wrote |= insert_fresh(c, actor, &mut fresh).await?;
            fresh_keys.clear();
        }
        let stored = c.get(RecordType::Book, w.id).await?;
        let tombstone = stored.as_ref().is_some_and(|row| !row.is_live());
        let mut current = stored.filter(Row::is_live);
        if current.is_none()
            && let Some(isbn) = &isbn
        {
            current = c.by_unique_key(RecordType::Book, isbn).await?;
            if let Some(row) = &current {
                w = with_id(&w, row.id)?;
            }
        }
        let expect = match &current {
            None if !tombstone => {
                // Never seen, not even as a tombstone: the bulk insert's case.
                fresh_keys.extend(keys.into_iter().flatten());
                fresh.push(w);
                outcomes.push(ImportOutcome::Created);
                continue;
            }
            None => Expect::Absent,
            Some(row) if same_book(row, &w) => {
                outcomes.push(ImportOutcome::Unchanged);
                continue;
            }
            Some(_) if !update => {
                outcomes.push(ImportOutcome::Skipped(w.id));
                continue;
            }
            Some(row) => Expect::Version(row.version),
        };
        let id = w.id;
        outcomes.push(match put(c, actor, w, expect).await? {
            WriteOutcome::Created(_) => ImportOutcome::Created,
            WriteOutcome::Updated(_) => ImportOutcome::Updated,
            WriteOutcome::Duplicate(other) => ImportOutcome::Refused(format!(
                "its ISBN {} belongs to another book ({other})",
                isbn.unwrap_or_default()
            )),
            // Read above under the writers' lock: the record cannot have changed since.
            other => {
                return Err(StoreError::Corrupt(format!(
                    "book {id} changed during its import: {other:?}"
                )));
            }
        });
        wrote = true;
    }
    wrote |= insert_fresh(c, actor, &mut fresh).await?;
    Ok((outcomes, wrote))
}

/// Inserts the books gathered as new (their ids and ISBNs unused), emptying the list. They go
/// in id order: the ids are random (derived from the records), and inserting them sorted
/// walks the primary-key indexes from one end to the other, each page visited once, instead
/// of back and forth across them.
async fn insert_fresh<C: Conn>(c: &mut C, actor: &Actor, fresh: &mut Vec<Write>) -> Res<bool> {
    let mut writes = std::mem::take(fresh);
    writes.sort_unstable_by_key(|w| w.id);
    Ok(insert_many(c, actor, writes).await?.1)
}

/// The book written as `w`, under the catalogue's id for it (found by its ISBN).
fn with_id(w: &Write, id: Uuid) -> Res<Write> {
    let mut book = parse_book(&w.data)?;
    book.id = id;
    Write::of::<Books>(id, &book)
}

fn parse_book(data: &str) -> Res<Book> {
    serde_json::from_str(data).map_err(|e| StoreError::Corrupt(format!("a book's JSON: {e}")))
}

/// Whether a stored book already says what `w` says (the same JSON, or the same book).
fn same_book(row: &Row, w: &Write) -> bool {
    let Some(data) = row.data.as_deref() else {
        return false;
    };
    data == w.data
        || matches!(
            (parse_book(data), parse_book(&w.data)),
            (Ok(stored), Ok(new)) if stored == new
        )
}

/// Stores a session token, forgetting the expired ones on the way.
pub(crate) async fn insert_token<C: Conn>(
    c: &mut C,
    hash: &str,
    user_id: Uuid,
    expires_at: i64,
) -> Res<((), bool)> {
    c.drop_tokens(chrono::Utc::now().timestamp()).await?;
    c.insert_token(hash, user_id, &now_rfc3339(), expires_at)
        .await?;
    Ok(((), true))
}

/// Adds a user, or resets the role and password of the user of that name; a reset ends that
/// user's sessions (a changed password always does).
pub(crate) async fn upsert_user<C: Conn>(c: &mut C, user: &User) -> Res<((), bool)> {
    if let Some(existing) = c.user_by_name(&user.name).await? {
        c.drop_user_tokens(existing.id, chrono::Utc::now().timestamp())
            .await?;
    }
    c.upsert_user(user, &now_rfc3339()).await?;
    Ok(((), true))
}

/// Changes the user of that name: `None` (nothing committed) when there is none, else how
/// many of their live sessions ended. A new password, disabling and removal end every
/// token of the user in the same transaction, so no request after it is served with one.
pub(crate) async fn change_user<C: Conn>(
    c: &mut C,
    name: &str,
    change: UserChange,
) -> Res<(Option<u64>, bool)> {
    let Some(user) = c.user_by_name(name).await? else {
        return Ok((None, false));
    };
    let now = chrono::Utc::now().timestamp();
    let ended = match change {
        UserChange::Password(hash) => {
            c.set_password(user.id, &hash).await?;
            c.drop_user_tokens(user.id, now).await?
        }
        UserChange::Disabled(true) => {
            c.set_disabled(user.id, true).await?;
            c.drop_user_tokens(user.id, now).await?
        }
        UserChange::Disabled(false) => {
            c.set_disabled(user.id, false).await?;
            0
        }
        UserChange::Remove => {
            let ended = c.drop_user_tokens(user.id, now).await?;
            c.delete_user(user.id).await?;
            ended
        }
    };
    Ok((Some(ended), true))
}

/// Puts a finished mail in the outbox, due at once.
pub(crate) async fn queue_mail<C: Conn>(c: &mut C, mail: &OutboxMail) -> Res<()> {
    let due_ms = chrono::Utc::now().timestamp_millis();
    c.insert_mail(mail, &now_rfc3339(), due_ms).await
}

/// Takes the schema to [`SCHEMA_VERSION`] by the steps not run yet (step `i` goes from
/// version `i` to `i + 1`); a database newer than this binary is refused.
pub(crate) async fn migrate<C: Conn>(c: &mut C, steps: &[&str]) -> Res<()> {
    c.batch("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        .await?;
    let found: i64 = c
        .meta("schema_version")
        .await?
        .map(|v| v.parse().unwrap_or(i64::MAX))
        .unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for step in steps.iter().skip(found.max(0) as usize) {
        c.batch(step).await?;
    }
    c.set_meta("schema_version", &SCHEMA_VERSION.to_string())
        .await
}
