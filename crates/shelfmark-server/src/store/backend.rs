//! What a database must offer the store: the primitive statements of one connection or
//! transaction, as the [`Conn`] trait that `sqlite` and `postgres` implement.
//!
//! Every rule of the store (what a write expects to find, when it conflicts, how a record's
//! revision is kept, how a collection is filtered, how rows decode) is written once, above
//! this interface, in `super::write`, `super::ops` and here; a backend contributes only its
//! SQL text, its binds, its connections and its locking. Rows come back as plain tuples
//! ([`RawRow`], [`RawUser`], [`RawMail`], [`RawRevision`]) that both backends read the same
//! way and that are decoded once, here.

use shelfmark_core::RecordType;
use shelfmark_core::wire::RevisionAuthor;
use uuid::Uuid;

use super::{
    ListQuery, OutboxMail, Revision, Row, StoreError, User, UserEntry, Write, etag_for, parse_id,
    parse_kind, parse_role,
};
use crate::records::{Dependent, RefColumn};

pub(crate) type Res<T> = Result<T, StoreError>;

/// The primitive statements of one connection (a read) or transaction (a write).
///
/// SQLite's implementation is synchronous underneath (its futures never wait); PostgreSQL's
/// awaits the server. Writers call [`Conn::take_seq`] or [`Conn::lock`] first: it orders
/// them, across server instances too.
pub(crate) trait Conn {
    /// Takes the writers' lock (the sequence counter's row) before anything is read.
    async fn lock(&mut self) -> Res<()>;
    /// Takes the next `n` sequence numbers, returning the first (and the writers' lock).
    async fn take_seq(&mut self, n: i64) -> Res<i64>;
    async fn get(&mut self, kind: RecordType, id: Uuid) -> Res<Option<Row>>;
    /// The version of a live record.
    async fn version(&mut self, kind: RecordType, id: Uuid) -> Res<Option<i64>>;
    /// Another live record of `kind` (not `not`) whose unique key is `key`.
    async fn key_holder(&mut self, kind: RecordType, key: &str, not: Uuid) -> Res<Option<Uuid>>;
    /// The live record of `kind` whose unique key is `key`.
    async fn by_unique_key(&mut self, kind: RecordType, key: &str) -> Res<Option<Row>>;
    /// The live records that depend on `id` by `rule`: how many, and the first
    /// [`shelfmark_core::wire::MAX_DEPENDENT_IDS`] ids in id order ([`dependents_query`]).
    async fn dependents(&mut self, rule: &Dependent, id: Uuid) -> Res<(i64, Vec<Uuid>)>;
    /// An `available` copy of the book that no active hold has.
    async fn available_copy(&mut self, book_id: Uuid) -> Res<Option<Row>>;
    /// A new row at version 1, and its search text.
    async fn insert_record(&mut self, f: &Fields<'_>) -> Res<()>;
    /// The row's next live version (a tombstone revived when `at_version` is `None`), and its
    /// search text; false when it is not live at `at_version`.
    async fn update_record(&mut self, f: &Fields<'_>, at_version: Option<i64>) -> Res<bool>;
    /// The row's next version as a tombstone, without data, columns or search text; false
    /// when it is not live at `t.version`.
    async fn delete_record(&mut self, t: &Tombstone<'_>) -> Res<bool>;
    async fn add_revision(&mut self, row: &Row, by: &str, at: &str) -> Res<()>;
    /// New records (ids never used) with the sequence numbers from `first` on.
    async fn insert_new(&mut self, first: i64, writes: Vec<Write>, at: &str, by: &str) -> Res<()> {
        for (seq, w) in (first..).zip(writes) {
            self.insert_record(&Fields::new(&w, seq, at, by)).await?;
            let (kind, id, data) = (w.kind, w.id, Some(w.data));
            let row = Row {
                kind,
                id,
                version: 1,
                seq,
                deleted: false,
                data,
            };
            self.add_revision(&row, by, at).await?;
        }
        Ok(())
    }
    async fn list(&mut self, kind: RecordType, q: &ListQuery) -> Res<Vec<Row>>;
    /// Live and deleted records changed after `since`, in `seq` order.
    async fn changes(&mut self, since: i64, limit: i64) -> Res<Vec<Row>>;
    async fn count(&mut self, kind: RecordType) -> Res<i64>;
    async fn latest_seq(&mut self) -> Res<i64>;
    /// A record's revisions, newest first (only version `v` when given), each with its
    /// author's user id ([`RawRevision`]).
    async fn revisions(&mut self, k: RecordType, id: Uuid, v: Option<i64>) -> Res<Vec<Revision>>;
    async fn user_by_name(&mut self, name: &str) -> Res<Option<User>>;
    /// Every user by name, with how many of their tokens expire after `now`.
    async fn users(&mut self, now: i64) -> Res<Vec<UserEntry>>;
    /// Adds a user, or replaces the role and password of the user of that name.
    async fn upsert_user(&mut self, user: &User, at: &str) -> Res<()>;
    async fn set_password(&mut self, user: Uuid, hash: &str) -> Res<()>;
    async fn set_disabled(&mut self, user: Uuid, disabled: bool) -> Res<()>;
    async fn delete_user(&mut self, user: Uuid) -> Res<()>;
    /// Forgets every token of a user, answering how many were live at `now`.
    async fn drop_user_tokens(&mut self, user: Uuid, now: i64) -> Res<u64>;
    /// Forgets the tokens that expired before `now` (unix seconds).
    async fn drop_tokens(&mut self, now: i64) -> Res<()>;
    async fn insert_token(&mut self, hash: &str, user: Uuid, at: &str, expires: i64) -> Res<()>;
    async fn session(&mut self, hash: &str) -> Res<Option<(User, i64)>>;
    /// Forgets one token (a sign-out).
    async fn end_session(&mut self, hash: &str) -> Res<()>;
    /// A new outbox mail, due at `due_ms`.
    async fn insert_mail(&mut self, mail: &OutboxMail, at: &str, due_ms: i64) -> Res<()>;
    /// Reserves up to `limit` unsent mails due at `now_ms` until `until_ms`.
    async fn claim_mail(&mut self, until_ms: i64, now_ms: i64, limit: i64) -> Res<Vec<OutboxMail>>;
    async fn mail_sent(&mut self, id: Uuid, at: &str) -> Res<()>;
    async fn mail_failed(&mut self, id: Uuid, error: &str, next_ms: i64) -> Res<()>;
    async fn outbox(&mut self) -> Res<Vec<OutboxMail>>;
    /// Records one decision of a book's contest (`kind`: placement or reassignment), once per
    /// hold and kind: a retried placement adds nothing.
    async fn add_contest(
        &mut self,
        book: Uuid,
        hold: Uuid,
        kind: &str,
        entry: &str,
        at: &str,
    ) -> Res<()>;
    /// A book's contest entries (their JSON), in the order decided.
    async fn contests(&mut self, book: Uuid) -> Res<Vec<String>>;
    async fn meta(&mut self, key: &str) -> Res<Option<String>>;
    async fn set_meta(&mut self, key: &str, value: &str) -> Res<()>;
    /// Runs a script of statements (a schema step).
    async fn batch(&mut self, sql: &str) -> Res<()>;
    /// A bulk load (a MARC import) begins: until [`Conn::end_bulk`] the backend may favour
    /// the load's throughput over the cost of each other write.
    async fn begin_bulk(&mut self) -> Res<()> {
        Ok(())
    }
    /// The bulk load is over: back to the usual settings, the indexes tidied up.
    async fn end_bulk(&mut self) -> Res<()> {
        Ok(())
    }
}

/// The columns a write sets, in the order both backends bind them: `kind` 1, `id` 2, `seq` 3,
/// `data` 4, `unique_key` 5, `ref_id` 6, `ref2_id` 7, `ref3_id` 8, `status` 9, search text 10,
/// `updated_at` 11, `updated_by` 12 (and the expected version 13 of an update).
pub(crate) struct Fields<'a> {
    pub kind: &'static str,
    pub id: String,
    pub seq: i64,
    pub data: &'a str,
    pub unique_key: Option<&'a str>,
    pub refs: [Option<String>; 3],
    pub status: Option<&'a str>,
    pub search: &'a str,
    pub at: &'a str,
    pub by: &'a str,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(w: &'a Write, seq: i64, at: &'a str, by: &'a str) -> Fields<'a> {
        let i = &w.index;
        Fields {
            kind: w.kind.as_str(),
            id: w.id.to_string(),
            seq,
            data: &w.data,
            unique_key: i.unique_key.as_deref(),
            refs: [i.ref_id, i.ref2_id, i.ref3_id].map(|r| r.map(|u| u.to_string())),
            status: i.status.as_deref(),
            search: &i.search,
            at,
            by,
        }
    }
}

/// What a deletion sets, bound as `seq` 1, `updated_at` 2, `updated_by` 3, `kind` 4, `id` 5,
/// the expected version 6.
pub(crate) struct Tombstone<'a> {
    pub kind: RecordType,
    pub id: Uuid,
    pub seq: i64,
    pub version: i64,
    pub at: &'a str,
    pub by: &'a str,
}

/// The columns of a [`Row`], in [`RawRow`]'s order.
pub(crate) const ROW_COLUMNS: &str = "kind, id, version, seq, deleted, data";
pub(crate) type RawRow = (String, String, i64, i64, bool, Option<String>);

pub(crate) fn to_row((kind, id, version, seq, deleted, data): RawRow) -> Res<Row> {
    Ok(Row {
        kind: parse_kind(&kind)?,
        id: parse_id(&id)?,
        version,
        seq,
        deleted,
        data,
    })
}

/// The columns of a [`User`], in [`RawUser`]'s order.
pub(crate) const USER_COLUMNS: &str = "id, name, role, password_hash, disabled";
/// `id, name, role, password_hash, disabled` of a user.
pub(crate) type RawUser = (String, String, String, String, bool);

pub(crate) fn to_user((id, name, role, password_hash, disabled): RawUser) -> Res<User> {
    Ok(User {
        id: parse_id(&id)?,
        name,
        role: parse_role(&role)?,
        password_hash,
        disabled,
    })
}

/// The columns of a [`UserEntry`], in [`RawUserEntry`]'s order; the placeholder `{}` is the
/// time after which a token is live.
pub(crate) const USER_ENTRY_QUERY: &str = "SELECT u.name, u.role, u.disabled, u.created_at,
        (SELECT count(*) FROM tokens t WHERE t.user_id = u.id AND t.expires_at > {})
     FROM users u ORDER BY u.name";
pub(crate) type RawUserEntry = (String, String, bool, String, i64);

pub(crate) fn to_user_entry(
    (name, role, disabled, created_at, live): RawUserEntry,
) -> Res<UserEntry> {
    Ok(UserEntry {
        name,
        role: parse_role(&role)?,
        disabled,
        created_at,
        live_sessions: live,
    })
}

/// The columns of an [`OutboxMail`], in [`RawMail`]'s order.
pub(crate) const MAIL_COLUMNS: &str =
    "id, message_id, sender, recipients, subject, raw, attempts, sent_at IS NOT NULL, last_error";
pub(crate) type RawMail = (
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    bool,
    Option<String>,
);

pub(crate) fn to_mail(raw: RawMail) -> Res<OutboxMail> {
    let (id, message_id, sender, recipients, subject, raw, attempts, sent, last_error) = raw;
    Ok(OutboxMail {
        id: parse_id(&id)?,
        message_id,
        sender,
        recipients: recipients.split(',').map(str::to_owned).collect(),
        subject,
        raw,
        attempts,
        sent,
        last_error,
    })
}

/// How an outbox mail's recipients are stored.
pub(crate) fn recipients(mail: &OutboxMail) -> String {
    mail.recipients.join(",")
}

/// `version, deleted, data, actor, at, the actor's user id` of a revision.
///
/// A revision stores its author's name (`actor`); the id comes from the `users` table, joined
/// by name, rather than from a column of its own: a user's name is unique and never changes
/// (`upsert_user` keeps the id of an existing name, and users are never renamed), so the name
/// names one user, and no migration rewrites the history. A removed user's revisions keep the
/// name and lose the id; the join takes only a user created before the revision
/// ([`REVISION_AUTHOR_JOIN`]), so a name used again later does not claim the old history.
/// An author who is no user (the demo data's `demo`) has no id.
pub(crate) type RawRevision = (i64, bool, Option<String>, String, String, Option<String>);

/// How `revisions r` finds its author `u` (see [`RawRevision`]).
pub(crate) const REVISION_AUTHOR_JOIN: &str =
    "LEFT JOIN users u ON u.name = r.actor AND u.created_at <= r.at";

pub(crate) fn to_revision((version, deleted, data, by, at, by_id): RawRevision) -> Res<Revision> {
    Ok(Revision {
        version,
        etag: etag_for(version),
        deleted,
        data: data.and_then(|d| serde_json::from_str(&d).ok()),
        by: RevisionAuthor {
            id: by_id.as_deref().map(parse_id).transpose()?,
            name: by,
        },
        at,
    })
}

/// A value bound to a placeholder of a built statement.
pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

/// How a backend spells the parts of a collection query that differ.
pub(crate) struct Dialect {
    /// What precedes a placeholder's number: `?` (`?1`) or `$` (`$1`).
    pub mark: char,
    /// The condition of a live record of `records r`.
    pub live: &'static str,
    /// Joined to `records r` when the query searches.
    pub search_join: &'static str,
    /// The search condition; `{}` stands for the placeholder of [`Dialect::search_query`].
    pub search_match: &'static str,
    /// The search expression matching every word as a prefix.
    pub search_query: fn(&[String]) -> String,
}

/// The read of [`Conn::dependents`]: the ids of the first dependents, in id order, each with
/// the number of all of them (a window count, so one statement answers both).
pub(crate) fn dependents_query(d: &Dialect, rule: &Dependent, id: Uuid) -> (String, Vec<Arg>) {
    let column = match rule.column {
        RefColumn::Ref => "r.ref_id",
        RefColumn::Ref3 => "r.ref3_id",
    };
    let mut args = vec![
        Arg::Text(rule.kind.as_str().to_owned()),
        Arg::Text(id.to_string()),
    ];
    let mut sql = format!(
        "SELECT r.id, count(*) OVER () FROM records r WHERE r.kind = {m}1 AND {live} \
         AND {column} = {m}2",
        m = d.mark,
        live = d.live
    );
    if !rule.statuses.is_empty() {
        let marks: Vec<String> = rule
            .statuses
            .iter()
            .map(|s| {
                args.push(Arg::Text((*s).to_owned()));
                format!("{}{}", d.mark, args.len())
            })
            .collect();
        sql.push_str(&format!(" AND r.status IN ({})", marks.join(", ")));
    }
    args.push(Arg::Int(shelfmark_core::wire::MAX_DEPENDENT_IDS as i64));
    sql.push_str(&format!(" ORDER BY r.id LIMIT {}{}", d.mark, args.len()));
    (sql, args)
}

/// The rows of [`dependents_query`] as (how many in all, the ids listed).
pub(crate) fn to_dependents(rows: Vec<(String, i64)>) -> Res<(i64, Vec<Uuid>)> {
    let count = rows.first().map_or(0, |(_, n)| *n);
    let ids = rows
        .iter()
        .map(|(id, _)| parse_id(id))
        .collect::<Res<_>>()?;
    Ok((count, ids))
}

/// A collection read, in id order: its SQL and the values of its placeholders.
pub(crate) fn list_query(d: &Dialect, kind: RecordType, q: &ListQuery) -> (String, Vec<Arg>) {
    let mut sql = format!(
        "SELECT r.{} FROM records r",
        ROW_COLUMNS.replace(", ", ", r.")
    );
    if !q.words.is_empty() {
        sql.push_str(d.search_join);
    }
    sql.push_str(&format!(" WHERE r.kind = {}1 AND {}", d.mark, d.live));
    let mut args = vec![Arg::Text(kind.as_str().to_owned())];
    let mut and = |clause: &str, arg: Arg| {
        args.push(arg);
        let placeholder = format!("{}{}", d.mark, args.len());
        sql.push_str(" AND ");
        sql.push_str(&clause.replace("{}", &placeholder));
    };
    if let Some(r) = q.ref_id {
        and("r.ref_id = {}", Arg::Text(r.to_string()));
    }
    if let Some(r) = q.ref2_id {
        and("r.ref2_id = {}", Arg::Text(r.to_string()));
    }
    if let Some(s) = &q.status {
        and("r.status = {}", Arg::Text(s.clone()));
    }
    if let Some(k) = &q.unique_key {
        and("r.unique_key = {}", Arg::Text(k.clone()));
    }
    if !q.words.is_empty() {
        and(d.search_match, Arg::Text((d.search_query)(&q.words)));
    }
    if let Some(after) = q.after {
        and("r.id > {}", Arg::Text(after.to_string()));
    }
    args.push(Arg::Int(q.limit));
    sql.push_str(&format!(" ORDER BY r.id LIMIT {}{}", d.mark, args.len()));
    (sql, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_query_numbers_its_placeholders_in_the_order_of_its_values() {
        let d = Dialect {
            mark: '$',
            live: "NOT r.deleted",
            search_join: "",
            search_match: "r.search_tsv @@ to_tsquery('simple', {})",
            search_query: |words| words.join(" & "),
        };
        let q = ListQuery {
            status: Some("active".into()),
            words: vec!["salt".into(), "atlas".into()],
            limit: 5,
            ..ListQuery::default()
        };
        let (sql, args) = list_query(&d, RecordType::Hold, &q);
        assert_eq!(
            sql,
            "SELECT r.kind, r.id, r.version, r.seq, r.deleted, r.data FROM records r \
             WHERE r.kind = $1 AND NOT r.deleted AND r.status = $2 \
             AND r.search_tsv @@ to_tsquery('simple', $3) ORDER BY r.id LIMIT $4"
        );
        let texts: Vec<String> = args
            .iter()
            .map(|a| match a {
                Arg::Text(s) => s.clone(),
                Arg::Int(i) => i.to_string(),
            })
            .collect();
        assert_eq!(texts, ["hold", "active", "salt & atlas", "5"]);
    }

    #[test]
    fn a_dependents_query_counts_all_and_lists_the_first_twenty_in_the_rules_statuses() {
        let d = Dialect {
            mark: '?',
            live: "r.deleted = 0",
            search_join: "",
            search_match: "",
            search_query: |words| words.join(" "),
        };
        let rule = crate::records::dependents(RecordType::Copy)[0];
        let (sql, args) = dependents_query(&d, &rule, Uuid::nil());
        assert_eq!(
            sql,
            "SELECT r.id, count(*) OVER () FROM records r WHERE r.kind = ?1 AND r.deleted = 0 \
             AND r.ref3_id = ?2 AND r.status IN (?3, ?4) ORDER BY r.id LIMIT ?5"
        );
        assert_eq!(args.len(), 5);
        assert!(matches!(args[4], Arg::Int(20)));
    }
}
