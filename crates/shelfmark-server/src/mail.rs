//! Mail: the manager's "premium patron lost a hold" message, the patron's "your hold was
//! reassigned" message, and the background delivery of the outbox.
//!
//! Mails are written, whole, into the `mail_outbox` table by the same transaction that opens
//! the escalation (or reassigns the copy): nothing is announced that did not happen, and
//! nothing that happened goes unannounced. The message is finished at that moment (its
//! `Message-ID` and `Date` included), so every delivery attempt sends the same bytes.
//!
//! [`spawn_delivery`] runs the outbox: it claims due mails (a lease, so several server
//! instances sharing a database never send one mail twice at the same time), hands each to
//! the [`Transport`], and marks it sent only once the SMTP server accepted it. A failure
//! leaves it in the outbox and schedules the next attempt with exponential backoff. Should a
//! server accept a mail and the mark be lost (a crash in between), the retry carries the same
//! `Message-ID`, which receivers use to drop the repeat. Without SMTP, the transport is a
//! spool folder of `.eml` files named after the mail: a demo loses nothing and shows them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use shelfmark_core::{Book, Escalation, Hold, Patron};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::store::{OutboxMail, Store};

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

/// Tells a patron that their hold was cancelled so another patron could have the copy.
pub fn reassigned_mail(
    settings: &MailSettings,
    patron: &Patron,
    book: &Book,
    hold: &Hold,
) -> Result<OutboxMail, MailError> {
    let address: Address =
        patron
            .email
            .trim()
            .parse()
            .map_err(|e: lettre::address::AddressError| {
                MailError::Address(patron.email.clone(), e.to_string())
            })?;
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
        branch = patron.branch,
        hold = hold.id,
    );
    finish(settings, Mailbox::new(None, address), &subject, body)
}

/// How mails leave.
#[derive(Clone)]
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// No SMTP configured: `<dir>/<mail id>.eml`.
    Spool(PathBuf),
}

impl Transport {
    /// SMTP from a URL (`smtp://host:port`, `smtps://...`, `smtp://...?tls=required`,
    /// credentials as `smtp://user:pass@host`).
    pub fn smtp(url: &str) -> Result<Transport, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::SmtpUrl(e.to_string()))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        Ok(Transport::Smtp(transport))
    }

    async fn send(&self, mail: &OutboxMail) -> Result<(), MailError> {
        match self {
            Transport::Smtp(smtp) => {
                let parse = |s: &str| {
                    s.parse::<Address>()
                        .map_err(|e| MailError::Address(s.to_owned(), e.to_string()))
                };
                let to = mail
                    .recipients
                    .iter()
                    .map(|r| parse(r))
                    .collect::<Result<Vec<_>, _>>()?;
                let envelope = lettre::address::Envelope::new(Some(parse(&mail.sender)?), to)
                    .map_err(|e| MailError::Build(e.to_string()))?;
                smtp.send_raw(&envelope, mail.raw.as_bytes())
                    .await
                    .map_err(|e| MailError::Smtp(e.to_string()))?;
                Ok(())
            }
            Transport::Spool(dir) => {
                tokio::fs::create_dir_all(dir).await?;
                let path = dir.join(format!("{}.eml", mail.id));
                // Written aside and renamed: a reader never sees half a mail, and a retry
                // replaces rather than adds.
                let tmp = dir.join(format!(".{}.eml.tmp", mail.id));
                tokio::fs::write(&tmp, mail.raw.as_bytes()).await?;
                tokio::fs::rename(&tmp, &path).await?;
                Ok(())
            }
        }
    }
}

/// When failed mails are tried again: `base * 2^(attempts-1)`, at most `max`.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub base: Duration,
    pub max: Duration,
    /// How often the outbox is looked at when nothing wakes the task.
    pub poll: Duration,
    /// How long a claimed mail is reserved for the instance sending it.
    pub lease: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            base: Duration::from_secs(2),
            max: Duration::from_secs(600),
            poll: Duration::from_secs(5),
            lease: Duration::from_secs(120),
        }
    }
}

impl Retry {
    /// The wait before the next attempt, after `attempts` failed ones.
    pub fn delay(&self, attempts: i64) -> Duration {
        let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.base
            .checked_mul(1u32 << exp)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One pass over the outbox: sends every due mail once. Returns how many were delivered.
pub async fn deliver_due(
    store: &Store,
    transport: &Transport,
    retry: &Retry,
) -> Result<usize, crate::store::StoreError> {
    let lease = i64::try_from(retry.lease.as_millis()).unwrap_or(i64::MAX);
    let mails = store.claim_mail(now_ms(), lease, 50).await?;
    let mut delivered = 0;
    for mail in mails {
        match transport.send(&mail).await {
            Ok(()) => {
                store.mail_sent(mail.id).await?;
                delivered += 1;
                tracing::info!(id = %mail.id, to = ?mail.recipients, subject = %mail.subject, "mail delivered");
            }
            Err(e) => {
                let delay = retry.delay(mail.attempts + 1);
                let next = now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
                tracing::warn!(id = %mail.id, error = %e, retry_in = ?delay, "mail not delivered");
                store.mail_failed(mail.id, &e.to_string(), next).await?;
            }
        }
    }
    Ok(delivered)
}

/// Delivers the outbox in the background until the task is dropped or aborted: at once when
/// `wake` is notified (a mail was queued), else every `retry.poll`.
pub fn spawn_delivery(
    store: Store,
    transport: Transport,
    retry: Retry,
    wake: Arc<Notify>,
) -> tokio::task::JoinHandle<()> {
    spawn_delivery_until(store, transport, retry, wake, std::future::pending())
}

/// [`spawn_delivery`] that ends once `stop` completes, after the pass under way: a mail the
/// SMTP server accepted is marked sent before the task ends, so a server shutting down
/// gracefully never leaves a delivered mail for the next process to send again (aborting the
/// task could cut between the two).
pub fn spawn_delivery_until(
    store: Store,
    transport: Transport,
    retry: Retry,
    wake: Arc<Notify>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::pin!(stop);
        loop {
            let full = match deliver_due(&store, &transport, &retry).await {
                // A full batch may mean more are due: go on at once.
                Ok(n) => n >= 50,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the mail outbox");
                    false
                }
            };
            let pause = if full { Duration::ZERO } else { retry.poll };
            tokio::select! {
                biased;
                () = &mut stop => break,
                _ = tokio::time::timeout(pause, wake.notified()) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        let r = Retry {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
            ..Retry::default()
        };
        assert_eq!(r.delay(1), Duration::from_millis(100));
        assert_eq!(r.delay(2), Duration::from_millis(200));
        assert_eq!(r.delay(4), Duration::from_millis(800));
        assert_eq!(r.delay(5), Duration::from_secs(1));
        assert_eq!(r.delay(1000), Duration::from_secs(1));
    }

    #[test]
    fn the_managers_mail_names_patron_book_branch_and_links_the_escalation() {
        let patron = Patron {
            id: Uuid::nil(),
            name: "Zofia Kowalski".into(),
            email: "zofia@example.org".into(),
            premium: true,
            branch: "Riverside".into(),
        };
        let book = Book {
            id: Uuid::nil(),
            isbn: "9780306406157".into(),
            title: "An Atlas of Salt".into(),
            authors: vec![],
            publisher: String::new(),
            year: None,
            subjects: vec![],
            summary: String::new(),
            notes: String::new(),
        };
        let escalation = Escalation {
            id: Uuid::now_v7(),
            patron_id: patron.id,
            book_id: book.id,
            hold_request_id: Uuid::now_v7(),
            status: shelfmark_core::EscalationStatus::Open,
            resolution_note: None,
            created_at: chrono::Utc::now(),
        };
        let settings = MailSettings::new(
            "Shelfmark <noreply@library.example>",
            "boss@library.example",
        )
        .expect("addresses");
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
}
