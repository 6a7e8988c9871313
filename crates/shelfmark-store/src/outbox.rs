//! Edits made here and not yet on the server (the outbox), and the conflicts the merge could
//! not settle alone (the inbox).
//!
//! An edit changes the record the librarian sees and adds (or folds into) its record's outbox
//! entry in one transaction, with the base it started from (ETag and representation). The
//! sync engine pushes entries in order and reports back with [`Store::ack`],
//! [`Store::fail`], [`Store::rebase`] or [`Store::conflict`]; each is one transaction too, so a
//! crash at any point leaves either the edit pending or its acknowledgement recorded.

use rusqlite::{OptionalExtension as _, Transaction, named_params, params};
use serde::Serialize;
use serde_json::Value;
use shelfmark_core::RecordType;
use shelfmark_core::merge::{ConflictSummary, MergeSession, SessionError, Settled, record_label};
use uuid::Uuid;

use crate::{Editable, Store, StoreError, now};

pub use shelfmark_core::push::{ConflictReason, EditOp};

fn parse_op(s: &str) -> rusqlite::Result<EditOp> {
    EditOp::parse(s).ok_or_else(|| bad_text(format!("unknown outbox op {s:?}")))
}

fn parse_reason(s: &str) -> rusqlite::Result<ConflictReason> {
    ConflictReason::parse(s).ok_or_else(|| bad_text(format!("unknown conflict reason {s:?}")))
}

/// Where an outbox entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum OutboxState {
    /// Waiting to be pushed.
    Pending,
    /// The server refused it (a 4xx other than a conflict); kept with the problem until the
    /// librarian retries or discards it.
    Failed,
    /// The server's record moved and the merge needs the librarian (see the inbox).
    Conflict,
    /// A hold the server could not fill: every copy was taken. Kept, with the server's answer
    /// (and the escalation opened for a premium patron), until the librarian has seen it.
    Lost,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Failed => "failed",
            OutboxState::Conflict => "conflict",
            OutboxState::Lost => "lost",
        }
    }

    fn parse(s: &str) -> rusqlite::Result<OutboxState> {
        [
            OutboxState::Pending,
            OutboxState::Failed,
            OutboxState::Conflict,
            OutboxState::Lost,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
        .ok_or_else(|| bad_text(format!("unknown outbox state {s:?}")))
    }
}

/// One edit waiting for the server.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct OutboxEntry {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub seq: i64,
    pub kind: RecordType,
    pub record_id: Uuid,
    pub op: EditOp,
    /// The server state the edit started from (None for a create).
    pub base_etag: Option<String>,
    pub base: Option<Value>,
    /// The edited record (None for a delete).
    pub body: Option<Value>,
    pub state: OutboxState,
    /// The server's problem detail, for a failed edit.
    pub problem: Option<Value>,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub attempts: i64,
    pub created_at: String,
    /// Who made the edit (None: made before the cache recorded it).
    pub author: Option<String>,
    /// The server's answer to a lost hold (and the escalation opened for a premium patron).
    pub outcome: Option<Value>,
    /// The record in words, with the names of what it refers to (`hold for Ada Lovelace on
    /// “Title”`), never an id.
    pub label: String,
}

/// Another member of staff's edits waiting on this desk for them to sign in again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct StaffEdits {
    pub user: String,
    /// Their edits in the outbox, whatever their state (pending, failed, in conflict, lost).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub edits: i64,
}

/// A conflict waiting for the librarian: base, mine and theirs of one record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ConflictEntry {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub outbox_seq: i64,
    pub kind: RecordType,
    pub record_id: Uuid,
    pub base: Option<Value>,
    pub mine: Option<Value>,
    /// None: the record was deleted on the server.
    pub theirs: Option<Value>,
    pub theirs_etag: Option<String>,
    pub reason: ConflictReason,
    pub detail: Option<String>,
    /// For a duplicate: the record that already holds the unique value.
    pub existing_id: Option<Uuid>,
    pub created_at: String,
    /// The record in words ([`record_label`]).
    pub label: String,
}

impl ConflictEntry {
    /// The entry as the inbox lists it.
    pub fn summary(&self) -> ConflictSummary {
        ConflictSummary {
            seq: self.outbox_seq,
            kind: self.kind,
            record_id: self.record_id,
            label: self.label.clone(),
            reason: self.reason,
            detail: self.detail.clone(),
            existing_id: self.existing_id,
            created_at: self.created_at.clone(),
        }
    }

    /// The entry's merge with the librarian's `choices` replayed onto it.
    pub fn session(&self, choices: &[Settled]) -> Result<MergeSession, SessionError> {
        MergeSession::replay(
            self.kind,
            self.base.as_ref(),
            self.mine.as_ref(),
            self.theirs.as_ref(),
            choices,
        )
    }
}

/// The record row an edit starts from.
struct Row {
    data: String,
    etag: Option<String>,
    pending: bool,
}

const ENTRY_COLUMNS: &str =
    "seq, kind, record_id, op, base_etag, base, body, state, problem, attempts, created_at, author,
     outcome";

/// The outbox entries the signed-in user answers for (`:user`, see [`Store::set_user`]): their
/// own and those without an author; every entry when nobody in particular is signed in.
pub(crate) const MINE: &str = "(:user IS NULL OR author IS NULL OR author = :user)";

impl Store {
    /// Saves a created or edited record: validated, shown at once (marked pending), and queued
    /// for the server with the base it started from. A second edit of a record that is still
    /// waiting folds into the same entry (same base), so the server sees one write.
    pub fn save<R: Editable>(&mut self, record: &R) -> Result<OutboxEntry, StoreError> {
        let mut record = record.clone();
        record.validate().map_err(StoreError::Invalid)?;
        self.spell_branch_as_known(&mut record)?;
        self.refuse_taken_value(&record)?;
        let (kind, id) = (R::KIND, record.id());
        let body = serde_json::to_string(&record)?;
        let tx = self.conn.transaction()?;
        let row = read_row(&tx, kind, id)?;
        let entry = read_entry(&tx, kind, id)?;
        let seq = match (&row, entry) {
            (_, Some(e)) if !mine(&e, self.user.as_deref()) => {
                return Err(StoreError::OtherUsersEdit {
                    kind,
                    user: e.author.unwrap_or_default(),
                });
            }
            (_, Some(e)) if e.state == OutboxState::Conflict => {
                return Err(StoreError::InConflict { kind, id });
            }
            (_, Some(e)) if e.op == EditOp::Delete => return Err(StoreError::Deleted { kind, id }),
            (_, Some(e)) => {
                tx.execute(
                    "UPDATE outbox SET body = ?2, state = 'pending', problem = NULL WHERE seq = ?1",
                    params![e.seq, body],
                )?;
                e.seq
            }
            (None, None) => insert_entry(
                &tx,
                self.user.as_deref(),
                kind,
                id,
                EditOp::Create,
                None,
                None,
                Some(&body),
            )?,
            (Some(r), None) => insert_entry(
                &tx,
                self.user.as_deref(),
                kind,
                id,
                EditOp::Update,
                r.etag.as_deref(),
                Some(&r.data),
                Some(&body),
            )?,
        };
        match row {
            None => {
                tx.execute(
                    "INSERT INTO records (kind, id, data, pending) VALUES (?1, ?2, ?3, 1)",
                    params![kind.as_str(), id.to_string(), body],
                )?;
            }
            Some(r) => {
                // The first pending edit moves the server's state aside; later ones keep it.
                tx.execute(
                    "UPDATE records SET data = ?3, pending = 1,
                        server_data = CASE WHEN ?4 THEN server_data ELSE data END
                     WHERE kind = ?1 AND id = ?2",
                    params![kind.as_str(), id.to_string(), body, r.pending],
                )?;
            }
        }
        let entry = entry_by_seq(&tx, seq)?;
        tx.commit()?;
        Ok(entry)
    }

    /// A branch typed in another case is the branch the cache knows ("hillcrest" is
    /// "Hillcrest"), so a copy never starts a new branch by a slip of the shift key.
    fn spell_branch_as_known<R: Editable>(&self, record: &mut R) -> Result<(), StoreError> {
        let Some(branch) = record.branch_mut() else {
            return Ok(());
        };
        // The usual case, a branch spelt as known, is one look in the branch index; only a
        // new spelling reads the list of branches.
        let exact: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM records
                            WHERE kind = 'copy' AND branch = ?1 AND branch IS NOT NULL)",
            [branch.as_str()],
            |r| r.get(0),
        )?;
        if exact {
            return Ok(());
        }
        let typed = branch.trim().to_lowercase();
        if let Some(known) = self
            .branches()?
            .into_iter()
            .find(|b| b.trim().to_lowercase() == typed)
        {
            *branch = known;
        }
        Ok(())
    }

    /// Refuses a value another record of the kind already holds here (a copy's barcode), with
    /// the record that holds it named: the server would refuse it too, but only after a sync.
    fn refuse_taken_value<R: Editable>(&self, record: &R) -> Result<(), StoreError> {
        let Some((field, value)) = record.unique() else {
            return Ok(());
        };
        let holder: Option<String> = self
            .conn
            .query_row(
                &format!(
                    "SELECT data FROM records
                     WHERE kind = ?1 AND {field} = ?2 AND id <> ?3 AND NOT deleted LIMIT 1"
                ),
                params![R::KIND.as_str(), value, record.id().to_string()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(holder) = holder else {
            return Ok(());
        };
        let holder: Value = serde_json::from_str(&holder)?;
        let mut errors = shelfmark_core::ValidationErrors::default();
        errors.push(
            field,
            format!(
                "{} already has this {field}",
                label(&self.conn, R::KIND, [Some(&holder), None, None])
            ),
        );
        Err(StoreError::Invalid(errors))
    }

    /// Deletes a record here and queues the deletion. A record created here that never reached
    /// the server simply disappears, with its outbox entry.
    pub fn delete<R: Editable>(&mut self, id: Uuid) -> Result<Option<OutboxEntry>, StoreError> {
        let kind = R::KIND;
        let tx = self.conn.transaction()?;
        let row = read_row(&tx, kind, id)?.ok_or(StoreError::NotFound { kind, id })?;
        let seq = match read_entry(&tx, kind, id)? {
            Some(e) if !mine(&e, self.user.as_deref()) => {
                return Err(StoreError::OtherUsersEdit {
                    kind,
                    user: e.author.unwrap_or_default(),
                });
            }
            Some(e) if e.state == OutboxState::Conflict => {
                return Err(StoreError::InConflict { kind, id });
            }
            Some(e) if e.op == EditOp::Delete => return Err(StoreError::Deleted { kind, id }),
            Some(e) if e.op == EditOp::Create => {
                tx.execute("DELETE FROM outbox WHERE seq = ?1", [e.seq])?;
                tx.execute(
                    "DELETE FROM records WHERE kind = ?1 AND id = ?2",
                    params![kind.as_str(), id.to_string()],
                )?;
                tx.commit()?;
                return Ok(None);
            }
            Some(e) => {
                tx.execute(
                    "UPDATE outbox SET op = 'delete', body = NULL, state = 'pending',
                        problem = NULL WHERE seq = ?1",
                    [e.seq],
                )?;
                e.seq
            }
            None => insert_entry(
                &tx,
                self.user.as_deref(),
                kind,
                id,
                EditOp::Delete,
                row.etag.as_deref(),
                Some(&row.data),
                None,
            )?,
        };
        tx.execute(
            "UPDATE records SET deleted = 1, pending = 1,
                server_data = CASE WHEN ?3 THEN server_data ELSE data END
             WHERE kind = ?1 AND id = ?2",
            params![kind.as_str(), id.to_string(), row.pending],
        )?;
        let entry = entry_by_seq(&tx, seq)?;
        tx.commit()?;
        Ok(Some(entry))
    }

    /// The signed-in user's outbox entries, oldest first (see [`Store::set_user`]).
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox_of(self.user.as_deref())
    }

    fn outbox_of(&self, user: Option<&str>) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM outbox WHERE {MINE} ORDER BY seq"
        ))?;
        let rows = stmt.query_map(named_params! {":user": user}, entry_from_row)?;
        let mut entries = rows.collect::<Result<Vec<_>, _>>()?;
        for e in &mut entries {
            e.label = label(&self.conn, e.kind, [e.body.as_ref(), e.base.as_ref(), None]);
        }
        Ok(entries)
    }

    /// The signed-in user's entries waiting to be pushed, oldest first.
    pub fn pending_edits(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.pending_edits_of(self.user.as_deref())
    }

    /// The entries `user` may push, oldest first: theirs and those without an author (every
    /// one for `None`). The sync engine asks with the name its session signed in as, so an
    /// edit only ever reaches the server under the name of the person who made it.
    pub fn pending_edits_of(&self, user: Option<&str>) -> Result<Vec<OutboxEntry>, StoreError> {
        Ok(self
            .outbox_of(user)?
            .into_iter()
            .filter(|e| e.state == OutboxState::Pending)
            .collect())
    }

    /// The other staff whose edits wait on this desk (pending, failed, in conflict or lost),
    /// by name: they reach the server when that person signs in here again, or a manager
    /// discards them. Empty when nobody in particular is signed in.
    pub fn other_staff_edits(&self) -> Result<Vec<StaffEdits>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT author, count(*) FROM outbox
             WHERE author IS NOT NULL AND author <> :user GROUP BY author ORDER BY author",
        )?;
        let rows = stmt.query_map(named_params! {":user": self.user}, |r| {
            Ok(StaffEdits {
                user: r.get(0)?,
                edits: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Discards every edit `user` left on this desk (a manager's decision: the records show the
    /// server's state again). Returns how many were discarded.
    pub fn discard_edits_of(&mut self, user: &str) -> Result<usize, StoreError> {
        let seqs: Vec<i64> = {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT seq FROM outbox WHERE author = ?1 ORDER BY seq")?;
            stmt.query_map([user], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        for &seq in &seqs {
            self.discard_entry(seq)?;
        }
        Ok(seqs.len())
    }

    /// The server accepted the edit: the record becomes the server's answer (`None` for a
    /// deletion) and the entry leaves the outbox.
    pub fn ack(&mut self, seq: i64, server: Option<(&str, &Value)>) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let entry = entry_by_seq(&tx, seq)?;
        let (kind, id) = (entry.kind.as_str(), entry.record_id.to_string());
        tx.execute("DELETE FROM outbox WHERE seq = ?1", [seq])?;
        match server {
            Some((etag, data)) => {
                tx.execute(
                    "UPDATE records SET data = ?3, etag = ?4, server_data = NULL, pending = 0,
                        deleted = 0 WHERE kind = ?1 AND id = ?2",
                    params![kind, id, data.to_string(), etag],
                )?;
            }
            None => {
                tx.execute(
                    "DELETE FROM records WHERE kind = ?1 AND id = ?2",
                    params![kind, id],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The server refused the edit for good (a 4xx that is not a conflict): it stays, marked
    /// failed with the server's problem, until the librarian retries or discards it.
    pub fn fail(&mut self, seq: i64, problem: &Value) -> Result<(), StoreError> {
        let n = self.conn.execute(
            "UPDATE outbox SET state = 'failed', problem = ?2, attempts = attempts + 1
             WHERE seq = ?1",
            params![seq, problem.to_string()],
        )?;
        if n == 0 {
            Err(StoreError::NoSuchEdit(seq))
        } else {
            Ok(())
        }
    }

    /// The server could not fill a hold (`409 hold-unavailable`): the hold stays, marked lost
    /// with the server's answer, until the librarian dismisses it.
    pub fn hold_lost(&mut self, seq: i64, answer: &Value) -> Result<(), StoreError> {
        let n = self.conn.execute(
            "UPDATE outbox SET state = 'lost', outcome = ?2, attempts = attempts + 1
             WHERE seq = ?1 AND kind = 'hold'",
            params![seq, answer.to_string()],
        )?;
        if n == 0 {
            Err(StoreError::NoSuchEdit(seq))
        } else {
            Ok(())
        }
    }

    /// The server's answer to a lost hold, by hold id.
    pub fn hold_outcome(&self, hold_id: Uuid) -> Result<Option<Value>, StoreError> {
        let outcome: Option<String> = self
            .conn
            .query_row(
                &format!(
                    "SELECT outcome FROM outbox
                     WHERE kind = 'hold' AND record_id = :id AND state = 'lost' AND {MINE}"
                ),
                named_params! {":id": hold_id.to_string(), ":user": self.user},
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        outcome.map(|o| Ok(serde_json::from_str(&o)?)).transpose()
    }

    /// Counts a failed attempt (network trouble, 5xx) without changing anything else.
    pub fn count_attempt(&mut self, seq: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?1",
            [seq],
        )?;
        Ok(())
    }

    /// A clean merge with the server's newer state: the edit now starts from that state.
    pub fn rebase(
        &mut self,
        seq: i64,
        base_etag: &str,
        base: &Value,
        body: &Value,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let entry = entry_by_seq(&tx, seq)?;
        tx.execute(
            "UPDATE outbox SET base_etag = ?2, base = ?3, body = ?4 WHERE seq = ?1",
            params![seq, base_etag, base.to_string(), body.to_string()],
        )?;
        tx.execute(
            "UPDATE records SET data = ?3, etag = ?4, server_data = ?5 WHERE kind = ?1 AND id = ?2",
            params![
                entry.kind.as_str(),
                entry.record_id.to_string(),
                body.to_string(),
                base_etag,
                base.to_string()
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The edit needs the librarian: it moves to the conflict inbox with base, mine and theirs.
    pub fn conflict(
        &mut self,
        seq: i64,
        theirs: Option<(&str, &Value)>,
        reason: ConflictReason,
        detail: Option<&str>,
        existing_id: Option<Uuid>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let entry = entry_by_seq(&tx, seq)?;
        tx.execute("UPDATE outbox SET state = 'conflict' WHERE seq = ?1", [seq])?;
        tx.execute(
            "INSERT INTO conflicts (outbox_seq, base, mine, theirs, theirs_etag, reason, detail,
                                    created_at, existing_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (outbox_seq) DO UPDATE SET theirs = excluded.theirs,
                theirs_etag = excluded.theirs_etag, reason = excluded.reason,
                detail = excluded.detail, existing_id = excluded.existing_id",
            params![
                seq,
                entry.base.as_ref().map(Value::to_string),
                entry.body.as_ref().map(Value::to_string),
                theirs.map(|(_, v)| v.to_string()),
                theirs.map(|(etag, _)| etag),
                reason.as_str(),
                detail,
                now(),
                existing_id.map(|id| id.to_string())
            ],
        )?;
        tx.execute(
            "UPDATE records SET server_data = ?3, etag = ?4 WHERE kind = ?1 AND id = ?2",
            params![
                entry.kind.as_str(),
                entry.record_id.to_string(),
                theirs.map(|(_, v)| v.to_string()),
                theirs.map(|(etag, _)| etag)
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The conflict inbox, oldest first.
    pub fn conflicts(&self) -> Result<Vec<ConflictEntry>, StoreError> {
        self.conflicts_where("1", None)
    }

    /// The inbox entry of one outbox entry, if it is in conflict.
    pub fn conflict_entry(&self, seq: i64) -> Result<Option<ConflictEntry>, StoreError> {
        Ok(self
            .conflicts_where("c.outbox_seq = :seq", Some(seq))?
            .into_iter()
            .next())
    }

    fn conflicts_where(
        &self,
        condition: &str,
        seq: Option<i64>,
    ) -> Result<Vec<ConflictEntry>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT c.outbox_seq, o.kind, o.record_id, c.base, c.mine, c.theirs, c.theirs_etag,
                    c.reason, c.detail, c.created_at, c.existing_id
             FROM conflicts c JOIN outbox o ON o.seq = c.outbox_seq
             WHERE {condition} AND {MINE} ORDER BY c.outbox_seq"
        ))?;
        let map = |r: &rusqlite::Row<'_>| {
            Ok(ConflictEntry {
                outbox_seq: r.get(0)?,
                kind: parse_kind(&r.get::<_, String>(1)?)?,
                record_id: parse_uuid(&r.get::<_, String>(2)?)?,
                base: parse_json(r.get(3)?)?,
                mine: parse_json(r.get(4)?)?,
                theirs: parse_json(r.get(5)?)?,
                theirs_etag: r.get(6)?,
                reason: parse_reason(&r.get::<_, String>(7)?)?,
                detail: r.get(8)?,
                created_at: r.get(9)?,
                existing_id: r
                    .get::<_, Option<String>>(10)?
                    .map(|s| parse_uuid(&s))
                    .transpose()?,
                label: String::new(),
            })
        };
        let user = self.user.as_deref();
        let rows = match seq {
            Some(seq) => stmt
                .query_map(named_params! {":seq": seq, ":user": user}, map)?
                .collect::<Result<Vec<_>, _>>()?,
            None => stmt
                .query_map(named_params! {":user": user}, map)?
                .collect::<Result<Vec<_>, _>>()?,
        };
        let mut rows = rows;
        for c in &mut rows {
            c.label = label(
                &self.conn,
                c.kind,
                [c.mine.as_ref(), c.theirs.as_ref(), c.base.as_ref()],
            );
        }
        Ok(rows)
    }

    /// The librarian settled a conflict: `settled` (None: accept the server's deletion or state
    /// and drop the edit) goes back to the outbox, starting from theirs.
    pub fn resolve(&mut self, seq: i64, settled: Option<&Value>) -> Result<(), StoreError> {
        let conflict = self
            .conflict_entry(seq)?
            .ok_or(StoreError::NoSuchEdit(seq))?;
        let Some(settled) = settled else {
            return self.discard(seq);
        };
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM conflicts WHERE outbox_seq = ?1", [seq])?;
        match (conflict.theirs.as_ref(), conflict.reason) {
            // Merged with theirs: the edit now starts from theirs.
            (Some(theirs), _) => {
                tx.execute(
                    "UPDATE outbox SET state = 'pending', op = 'update', base_etag = ?2,
                        base = ?3, body = ?4, problem = NULL WHERE seq = ?1",
                    params![
                        seq,
                        conflict.theirs_etag,
                        theirs.to_string(),
                        settled.to_string()
                    ],
                )?;
            }
            // Deleted on the server: settling recreates the record.
            (None, ConflictReason::Deleted) => {
                tx.execute(
                    "UPDATE outbox SET state = 'pending', op = 'create', base_etag = NULL,
                        base = NULL, body = ?2, problem = NULL WHERE seq = ?1",
                    params![seq, settled.to_string()],
                )?;
            }
            // A duplicate ISBN or barcode: the edit keeps its base, with the value changed.
            (None, _) => {
                tx.execute(
                    "UPDATE outbox SET state = 'pending', body = ?2, problem = NULL WHERE seq = ?1",
                    params![seq, settled.to_string()],
                )?;
            }
        }
        tx.execute(
            "UPDATE records SET data = ?3, deleted = 0 WHERE kind = ?1 AND id = ?2",
            params![
                conflict.kind.as_str(),
                conflict.record_id.to_string(),
                settled.to_string()
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Keeps the librarian's choices on the merge of one of their conflicts.
    pub fn remember_choices(&mut self, seq: i64, choices: &[Settled]) -> Result<(), StoreError> {
        self.edit(seq)?;
        self.conn.execute(
            "INSERT INTO merge_choices (outbox_seq, choices) VALUES (?1, ?2)
             ON CONFLICT (outbox_seq) DO UPDATE SET choices = excluded.choices",
            params![seq, serde_json::to_string(choices)?],
        )?;
        Ok(())
    }

    /// The choices last made on the merge of an edit (none yet: empty).
    pub fn remembered_choices(&self, seq: i64) -> Result<Vec<Settled>, StoreError> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT choices FROM merge_choices WHERE outbox_seq = ?1",
                [seq],
                |r| r.get(0),
            )
            .optional()?;
        Ok(match text {
            Some(t) => serde_json::from_str(&t)?,
            None => Vec::new(),
        })
    }

    /// Puts a failed edit back in line.
    pub fn retry(&mut self, seq: i64) -> Result<(), StoreError> {
        let n = self.conn.execute(
            &format!(
                "UPDATE outbox SET state = 'pending', problem = NULL
                 WHERE seq = :seq AND state = 'failed' AND {MINE}"
            ),
            named_params! {":seq": seq, ":user": self.user},
        )?;
        if n == 0 {
            Err(StoreError::NoSuchEdit(seq))
        } else {
            Ok(())
        }
    }

    /// Drops one of the signed-in user's edits: the record shows the server's state again (or
    /// disappears, if it was never on the server).
    pub fn discard(&mut self, seq: i64) -> Result<(), StoreError> {
        self.edit(seq)?;
        self.discard_entry(seq)
    }

    fn discard_entry(&mut self, seq: i64) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let entry = entry_by_seq(&tx, seq)?;
        let (kind, id) = (entry.kind.as_str(), entry.record_id.to_string());
        tx.execute("DELETE FROM outbox WHERE seq = ?1", [seq])?;
        tx.execute(
            "DELETE FROM records WHERE kind = ?1 AND id = ?2 AND server_data IS NULL AND pending",
            params![kind, id],
        )?;
        tx.execute(
            "UPDATE records SET data = server_data, server_data = NULL, pending = 0, deleted = 0
             WHERE kind = ?1 AND id = ?2 AND pending",
            params![kind, id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// One of the signed-in user's outbox entries.
    pub fn edit(&self, seq: i64) -> Result<OutboxEntry, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let entry = entry_by_seq(&tx, seq)?;
        if mine(&entry, self.user.as_deref()) {
            Ok(entry)
        } else {
            Err(StoreError::NoSuchEdit(seq))
        }
    }
}

fn read_row(tx: &Transaction<'_>, kind: RecordType, id: Uuid) -> Result<Option<Row>, StoreError> {
    let row = tx
        .query_row(
            "SELECT data, etag, pending, deleted FROM records WHERE kind = ?1 AND id = ?2",
            params![kind.as_str(), id.to_string()],
            |r| {
                Ok((
                    Row {
                        data: r.get(0)?,
                        etag: r.get(1)?,
                        pending: r.get(2)?,
                    },
                    r.get(3)?,
                ))
            },
        )
        .optional()?;
    match row {
        Some((_, true)) => Err(StoreError::Deleted { kind, id }),
        Some((row, false)) => Ok(Some(row)),
        None => Ok(None),
    }
}

fn read_entry(
    tx: &Transaction<'_>,
    kind: RecordType,
    id: Uuid,
) -> Result<Option<OutboxEntry>, StoreError> {
    Ok(tx
        .query_row(
            &format!("SELECT {ENTRY_COLUMNS} FROM outbox WHERE kind = ?1 AND record_id = ?2"),
            params![kind.as_str(), id.to_string()],
            entry_from_row,
        )
        .optional()?)
}

fn entry_by_seq(tx: &Transaction<'_>, seq: i64) -> Result<OutboxEntry, StoreError> {
    let mut entry = tx
        .query_row(
            &format!("SELECT {ENTRY_COLUMNS} FROM outbox WHERE seq = ?1"),
            [seq],
            entry_from_row,
        )
        .optional()?
        .ok_or(StoreError::NoSuchEdit(seq))?;
    entry.label = label(
        tx,
        entry.kind,
        [entry.body.as_ref(), entry.base.as_ref(), None],
    );
    Ok(entry)
}

/// A record in words, the records it refers to named from the cache ([`record_label`]).
fn label(conn: &rusqlite::Connection, kind: RecordType, versions: [Option<&Value>; 3]) -> String {
    let name_of = |of: RecordType, id: Uuid| -> Option<String> {
        let field = match of {
            RecordType::Book => "$.title",
            RecordType::Patron => "$.name",
            RecordType::Copy => "$.barcode",
            _ => return None,
        };
        conn.query_row(
            "SELECT json_extract(data, ?3) FROM records WHERE kind = ?1 AND id = ?2",
            params![of.as_str(), id.to_string(), field],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()
        .ok()
        .flatten()
        .flatten()
    };
    record_label(kind, versions, &name_of)
}

/// [`MINE`], for an entry already read.
fn mine(entry: &OutboxEntry, user: Option<&str>) -> bool {
    match (user, entry.author.as_deref()) {
        (Some(user), Some(author)) => user == author,
        _ => true,
    }
}

#[allow(clippy::too_many_arguments)]
fn insert_entry(
    tx: &Transaction<'_>,
    author: Option<&str>,
    kind: RecordType,
    id: Uuid,
    op: EditOp,
    base_etag: Option<&str>,
    base: Option<&str>,
    body: Option<&str>,
) -> Result<i64, StoreError> {
    tx.execute(
        "INSERT INTO outbox (kind, record_id, op, base_etag, base, body, created_at, author)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            kind.as_str(),
            id.to_string(),
            op.as_str(),
            base_etag,
            base,
            body,
            now(),
            author
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

fn entry_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        seq: r.get(0)?,
        kind: parse_kind(&r.get::<_, String>(1)?)?,
        record_id: parse_uuid(&r.get::<_, String>(2)?)?,
        op: parse_op(&r.get::<_, String>(3)?)?,
        base_etag: r.get(4)?,
        base: parse_json(r.get(5)?)?,
        body: parse_json(r.get(6)?)?,
        state: OutboxState::parse(&r.get::<_, String>(7)?)?,
        problem: parse_json(r.get(8)?)?,
        attempts: r.get(9)?,
        created_at: r.get(10)?,
        author: r.get(11)?,
        outcome: parse_json(r.get(12)?)?,
        label: String::new(),
    })
}

fn bad_text(message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, message.into())
}

fn parse_kind(s: &str) -> rusqlite::Result<RecordType> {
    RecordType::parse(s).ok_or_else(|| bad_text(format!("unknown record kind {s:?}")))
}

pub(crate) fn parse_uuid(s: &str) -> rusqlite::Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| bad_text(e.to_string()))
}

fn parse_json(s: Option<String>) -> rusqlite::Result<Option<Value>> {
    s.map(|s| serde_json::from_str(&s).map_err(|e| bad_text(e.to_string())))
        .transpose()
}
