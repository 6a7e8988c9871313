//! Delivering the outbox in the background, over SMTP or into a spool folder.
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

use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::Notify;

use super::compose::{MailError, OutboxMail};
use crate::store::{Store, StoreError};

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
) -> Result<usize, StoreError> {
    let lease = i64::try_from(retry.lease.as_millis()).unwrap_or(i64::MAX);
    let mails = store.claim_mail(now_ms(), lease, 50).await?;
    let mut delivered = 0;
    for mail in mails {
        match transport.send(&mail).await {
            Ok(()) => {
                store.mail_sent(mail.id).await?;
                delivered += 1;
                // Recipients and subject name patrons and titles: Debug-quoted, so a line break
                // in them cannot start a forged log line.
                tracing::info!(id = %mail.id, to = ?mail.recipients, subject = ?mail.subject, "mail delivered");
            }
            Err(e) => {
                let delay = retry.delay(mail.attempts + 1);
                let next = now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
                tracing::warn!(id = %mail.id, error = ?e.to_string(), retry_in = ?delay, "mail not delivered");
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
}
