//! Composing mails: the manager's "premium patron lost a hold" message, and the patron's
//! "your hold was reassigned", "your book is ready for pickup" and (for a premium patron) "a
//! copy was set aside for you" messages, each finished whole as an [`OutboxMail`].
//!
//! Mails are written, whole, into the `mail_outbox` table by the same transaction that opens
//! the escalation (or reassigns the copy): nothing is announced that did not happen, and
//! nothing that happened goes unannounced. The message is finished at that moment (its
//! `Message-ID` and `Date` included), so every delivery attempt sends the same bytes.
//! This module is pure (no database, no network): the store's business operations call it
//! inside their transaction, and `super::deliver` sends what it made.

use lettre::message::{Mailbox, header::ContentType};
use lettre::{Address, Message};
use shelfmark_core::{Book, Escalation, Hold, Patron};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("{0:?} is not a mail address: {1}")]
    Address(String, String),
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("bad SMTP URL: {0}")]
    SmtpUrl(String),
    #[error("SMTP delivery failed: {0}")]
    Smtp(String),
    #[error("cannot write to the spool: {0}")]
    Spool(#[from] std::io::Error),
}

/// Who mails come from and where the manager's go.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub from: Mailbox,
    pub manager: Mailbox,
}

impl MailSettings {
    /// Parses the two addresses (`Name <a@b>` or `a@b`).
    pub fn new(from: &str, manager: &str) -> Result<MailSettings, MailError> {
        let parse = |s: &str| {
            s.parse::<Mailbox>()
                .map_err(|e| MailError::Address(s.to_owned(), e.to_string()))
        };
        Ok(MailSettings {
            from: parse(from)?,
            manager: parse(manager)?,
        })
    }
}

impl Default for MailSettings {
    /// `shelfmark@localhost` to `manager@localhost`: enough for the spool of a demo.
    fn default() -> MailSettings {
        let local = |user: &str| {
            Mailbox::new(
                None,
                Address::new(user, "localhost").expect("a literal address is valid"),
            )
        };
        MailSettings {
            from: local("shelfmark"),
            manager: local("manager"),
        }
    }
}

/// Where a mail is opened in the desktop app.
pub fn escalation_link(id: Uuid) -> String {
    format!("shelfmark://escalations/{id}")
}

fn finish(
    settings: &MailSettings,
    to: Mailbox,
    subject: &str,
    body: String,
) -> Result<OutboxMail, MailError> {
    let id = Uuid::now_v7();
    let message_id = format!("<{id}@shelfmark>");
    let message = Message::builder()
        .from(settings.from.clone())
        .to(to.clone())
        .subject(subject)
        .message_id(Some(message_id.clone()))
        .date_now()
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| MailError::Build(e.to_string()))?;
    let raw = String::from_utf8(message.formatted())
        .map_err(|e| MailError::Build(format!("not 7-bit text: {e}")))?;
    Ok(OutboxMail {
        id,
        message_id,
        sender: settings.from.email.to_string(),
        recipients: vec![to.email.to_string()],
        subject: subject.to_owned(),
        raw,
        attempts: 0,
        sent: false,
        last_error: None,
    })
}

/// Tells the manager that a premium patron lost a hold.
pub fn manager_mail(
    settings: &MailSettings,
    patron: &Patron,
    book: &Book,
    escalation: &Escalation,
) -> Result<OutboxMail, MailError> {
    let when = escalation
        .created_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let subject = format!(
        "Premium patron {} lost a hold on \"{}\"",
        patron.name, book.title
    );
    let body = format!(
        "A premium patron tried to place a hold and every copy of the book is taken.\n\
         \n\
         Patron:     {name} <{email}>\n\
         Branch:     {branch}\n\
         Book:       {title}\n\
         ISBN:       {isbn}\n\
         When:       {when}\n\
         Escalation: {id}\n\
         \n\
         Open it in Shelfmark:\n\
         {link}\n\
         \n\
         From there you can give the patron a copy held by a regular patron (reassign),\n\
         flag a purchase, or close the escalation with a note after contacting the patron.\n",
        name = patron.name,
        email = patron.email,
        branch = patron.branch,
        title = book.title,
        isbn = book.isbn,
        id = escalation.id,
        link = escalation_link(escalation.id),
    );
    finish(settings, settings.manager.clone(), &subject, body)
}

/// A patron's address, or why it is none.
fn patron_address(patron: &Patron) -> Result<Mailbox, MailError> {
    let address: Address =
        patron
            .email
            .trim()
            .parse()
            .map_err(|e: lettre::address::AddressError| {
                MailError::Address(patron.email.clone(), e.to_string())
            })?;
    Ok(Mailbox::new(None, address))
}

/// Where a hold is collected: its pickup branch, or the patron's.
fn pickup_branch<'a>(patron: &'a Patron, hold: &'a Hold) -> &'a str {
    if hold.pickup_branch.is_empty() {
        &patron.branch
    } else {
        &hold.pickup_branch
    }
}

/// Tells a patron that the book they held waits on the hold shelf, where and until when.
pub fn ready_mail(
    settings: &MailSettings,
    patron: &Patron,
    book: &Book,
    hold: &Hold,
) -> Result<OutboxMail, MailError> {
    let until = hold
        .pickup_by
        .map(|d| d.format("%A %-d %B %Y").to_string())
        .ok_or_else(|| MailError::Build("a ready hold has a pickup date".into()))?;
    let subject = format!("\"{}\" is ready for you to collect", book.title);
    let body = format!(
        "Dear {name},\n\
         \n\
         The book you reserved is waiting for you on the hold shelf:\n\
         \n\
         Book:    {title}\n\
         Where:   {branch}\n\
         Until:   {until}\n\
         \n\
         Please collect it by then; after that date it goes back on the shelves for other\n\
         readers. Bring your library card.\n\
         \n\
         Hold reference: {hold}\n\
         \n\
         Your library\n",
        name = patron.name,
        title = book.title,
        branch = pickup_branch(patron, hold),
        hold = hold.id,
    );
    finish(settings, patron_address(patron)?, &subject, body)
}

/// Tells a premium patron that a copy was set aside for them after all (a manager reassigned
/// one, or a purchased copy arrived).
pub fn copy_for_you_mail(
    settings: &MailSettings,
    patron: &Patron,
    book: &Book,
    hold: &Hold,
) -> Result<OutboxMail, MailError> {
    let subject = format!("A copy of \"{}\" has been set aside for you", book.title);
    let body = format!(
        "Dear {name},\n\
         \n\
         Good news: a copy of \"{title}\" (ISBN {isbn}) has been set aside for you at\n\
         {branch}. We will write again as soon as it is on the hold shelf, ready for you\n\
         to collect.\n\
         \n\
         Hold reference: {hold}\n\
         \n\
         Your library\n",
        name = patron.name,
        title = book.title,
        isbn = book.isbn,
        branch = pickup_branch(patron, hold),
        hold = hold.id,
    );
    finish(settings, patron_address(patron)?, &subject, body)
}

/// Tells a patron that their hold was cancelled so another patron could have the copy.
/// `branch` is where the hold was to be collected (its copy's branch), which may not be the
/// patron's home branch.
pub fn reassigned_mail(
    settings: &MailSettings,
    patron: &Patron,
    book: &Book,
    hold: &Hold,
    branch: &str,
) -> Result<OutboxMail, MailError> {
    let subject = format!("Your hold on \"{}\" was cancelled", book.title);
    let body = format!(
        "Dear {name},\n\
         \n\
         We are sorry: your hold on \"{title}\" (ISBN {isbn}) had to be cancelled, and the\n\
         copy given to another reader. Please ask at the {branch} desk, or place the hold\n\
         again, and we will find you a copy as soon as one is free.\n\
         \n\
         Hold reference: {hold}\n\
         \n\
         Your library\n",
        name = patron.name,
        title = book.title,
        isbn = book.isbn,
        hold = hold.id,
    );
    finish(settings, patron_address(patron)?, &subject, body)
}

/// One mail of the outbox: the finished message and its delivery state.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMail {
    pub id: Uuid,
    /// `<...>`, stable across retries: a receiver can drop a repeated delivery.
    pub message_id: String,
    pub sender: String,
    pub recipients: Vec<String>,
    pub subject: String,
    /// The whole RFC 5322 message, headers included, as it is sent.
    pub raw: String,
    pub attempts: i64,
    pub sent: bool,
    pub last_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patron(name: &str, premium: bool, branch: &str) -> Patron {
        let first = name.split(' ').next().unwrap_or(name).to_lowercase();
        Patron {
            id: Uuid::nil(),
            name: name.into(),
            email: format!("{first}@example.org"),
            premium,
            branch: branch.into(),
            card: String::new(),
            notes: String::new(),
        }
    }

    fn atlas() -> Book {
        Book {
            id: Uuid::nil(),
            isbn: "9780306406157".into(),
            title: "An Atlas of Salt".into(),
            authors: vec![],
            publisher: String::new(),
            year: None,
            subjects: vec![],
            summary: String::new(),
            notes: String::new(),
        }
    }

    fn settings() -> MailSettings {
        MailSettings::new(
            "Shelfmark <noreply@library.example>",
            "boss@library.example",
        )
        .expect("addresses")
    }

    #[test]
    fn the_mail_to_a_patron_whose_copy_was_reassigned_names_the_holds_branch() {
        let patron = patron("Bram Carrow", false, "Central");
        let book = atlas();
        let hold = Hold {
            copy_id: Some(Uuid::now_v7()),
            status: shelfmark_core::HoldStatus::Cancelled,
            cancel_reason: Some("reassigned".into()),
            ..Hold::request(Uuid::now_v7(), patron.id, book.id)
        };
        let settings = settings();
        let mail = reassigned_mail(&settings, &patron, &book, &hold, "Riverside").expect("builds");
        let text = mail.raw.replace("=\r\n", "").replace("=3D", "=");
        assert!(text.contains("ask at the Riverside desk"), "{text}");
        assert!(
            !text.contains("Central"),
            "not the patron's home branch: {text}"
        );
    }

    #[test]
    fn the_managers_mail_names_patron_book_branch_and_links_the_escalation() {
        let patron = patron("Zofia Kowalski", true, "Riverside");
        let book = atlas();
        let escalation = Escalation {
            id: Uuid::now_v7(),
            patron_id: patron.id,
            book_id: book.id,
            hold_request_id: Uuid::now_v7(),
            status: shelfmark_core::EscalationStatus::Open,
            resolution_note: None,
            created_at: chrono::Utc::now(),
        };
        let settings = settings();
        let mail = manager_mail(&settings, &patron, &book, &escalation).expect("builds");
        assert_eq!(mail.recipients, ["boss@library.example"]);
        for needle in [
            "Zofia Kowalski",
            "zofia@example.org",
            "Riverside",
            "An Atlas of Salt",
            "9780306406157",
            &escalation.id.to_string(),
            &format!("shelfmark://escalations/{}", escalation.id),
            &format!("Message-ID: {}", mail.message_id),
        ] {
            // Quoted-printable may wrap long lines (soft breaks): read it as a client would.
            let text = mail.raw.replace("=\r\n", "").replace("=3D", "=");
            assert!(text.contains(needle), "{needle} missing from\n{}", mail.raw);
        }
    }

    /// The message as a mail client shows it (quoted-printable soft breaks joined).
    fn text(mail: &OutboxMail) -> String {
        mail.raw.replace("=\r\n", "").replace("=3D", "=")
    }

    #[test]
    fn the_ready_mail_names_the_pickup_branch_and_the_last_day() {
        let patron = patron("Ada Lovelace", false, "Central");
        let book = atlas();
        let by = chrono::DateTime::parse_from_rfc3339("2026-12-09T15:00:00Z")
            .expect("a date")
            .to_utc();
        let hold = Hold {
            status: shelfmark_core::HoldStatus::Ready,
            pickup_branch: "Hillcrest".into(),
            pickup_by: Some(by),
            ..Hold::request(Uuid::now_v7(), patron.id, book.id)
        };
        let mail = ready_mail(&settings(), &patron, &book, &hold).expect("builds");
        assert_eq!(mail.recipients, ["ada@example.org"]);
        let text = text(&mail);
        for needle in ["An Atlas of Salt", "Hillcrest", "Wednesday 9 December 2026"] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
        assert!(!text.contains("Central"), "the pickup branch, not home");
        let no_date = Hold {
            pickup_by: None,
            ..hold
        };
        assert!(ready_mail(&settings(), &patron, &book, &no_date).is_err());
    }

    #[test]
    fn a_premium_patron_is_told_where_the_copy_set_aside_for_them_waits() {
        let patron = patron("Zofia Kowalski", true, "Riverside");
        let book = atlas();
        let hold = Hold::request(Uuid::now_v7(), patron.id, book.id);
        let mail = copy_for_you_mail(&settings(), &patron, &book, &hold).expect("builds");
        assert_eq!(mail.recipients, ["zofia@example.org"]);
        let text = text(&mail);
        for needle in ["set aside for you", "An Atlas of Salt", "Riverside"] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
    }
}
