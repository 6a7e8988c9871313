//! Mail: composing the messages the server sends (`compose`, pure, used by the store's
//! business operations inside their transaction) apart from delivering the outbox they land
//! in (`deliver`, which reads the store). The arrows point one way: store -> compose,
//! deliver -> store.

pub mod compose;
pub mod deliver;

pub use compose::{
    MailError, MailSettings, OutboxMail, escalation_link, manager_mail, reassigned_mail,
};
pub use deliver::{Retry, Transport, deliver_due, spawn_delivery, spawn_delivery_until};
