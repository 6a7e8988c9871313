//! What a scan at the circulation desk means. A scanner types a barcode and Enter; the desk
//! looks it up in its cache (a patron's card, or a copy with its open loan and open hold) and
//! this module decides, with no I/O, what happens and what the librarian reads: check the copy
//! out to the patron whose card was scanned, check it in, put it on the hold shelf for the
//! patron who reserved it, or refuse and say why. The cache carries the decision out.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{Copy, CopyStatus, Hold, HoldStatus, Loan, Patron};

/// The loan period a desk assumes before it has seen one of the server's loans (the
/// protocol's default).
pub const DEFAULT_LOAN_DAYS: i64 = 21;

/// The server's loan period as its loans show it (`due_at - loaned_at` of one it made), or the
/// protocol's default: what a check-out made offline shows as its due date until the server's
/// own arrives.
pub fn loan_period(server_loan: Option<&Loan>) -> Duration {
    server_loan
        .and_then(|l| Some(l.due_at? - l.loaned_at?))
        .filter(|d| *d > Duration::zero())
        .unwrap_or_else(|| Duration::days(DEFAULT_LOAN_DAYS))
}

/// A scanned copy as the desk's cache knows it.
#[derive(Debug, Clone, Copy)]
pub struct CopyAtDesk<'a> {
    pub copy: &'a Copy,
    /// Its open loan (`on_loan`), with the patron who has it.
    pub loan: Option<(&'a Loan, Option<&'a Patron>)>,
    /// The open hold (`active` or `ready`) that set it aside, with its patron.
    pub hold: Option<(&'a Hold, Option<&'a Patron>)>,
}

/// What the cache does for a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A new loan of the copy to the scanned patron (fulfilling their hold on it, if any).
    CheckOut { hold_id: Option<Uuid> },
    /// The open loan is returned.
    CheckIn { loan_id: Uuid },
    /// The copy fetched for a hold goes on the hold shelf: the hold becomes `ready`.
    ToHoldShelf { hold_id: Uuid },
    /// Nothing changes.
    Nothing,
}

/// What a scan did, as the screen shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A patron's card: the copies scanned next are checked out to them.
    PatronSelected,
    CheckedOut,
    Returned,
    /// Fetched for a hold: to the hold shelf with it.
    ToHoldShelf,
    AlreadyOnHoldShelf,
    HeldForSomeoneElse,
    OnLoanToSomeoneElse,
    AlreadyOnLoanToThem,
    NotOnLoan,
    Missing,
    UnknownBarcode,
}

impl Outcome {
    /// Whether the scan did what the librarian meant (green), or needs their attention.
    pub fn is_success(self) -> bool {
        matches!(
            self,
            Outcome::PatronSelected
                | Outcome::CheckedOut
                | Outcome::Returned
                | Outcome::ToHoldShelf
        )
    }
}

/// The decision on one scanned copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    pub action: Action,
    /// What the librarian reads.
    pub message: String,
}

fn name(p: Option<&Patron>) -> &str {
    p.map_or("a patron not on this computer", |p| p.name.as_str())
}

/// A day as the desk says it: "22 Dec".
pub fn short_date(d: DateTime<Utc>) -> String {
    d.format("%-d %b").to_string()
}

/// What scanning `at` does, with `patron` the card scanned before it (None: a copy alone); a
/// check-out made `now` is due `period` later ([`loan_period`]).
pub fn decide(
    patron: Option<&Patron>,
    at: CopyAtDesk<'_>,
    now: DateTime<Utc>,
    period: Duration,
) -> Decision {
    let decision = |outcome, action, message: String| Decision {
        outcome,
        action,
        message,
    };
    let nothing = |outcome, message: String| decision(outcome, Action::Nothing, message);
    let hold = at.hold.filter(|(h, _)| h.status.is_open());
    match (patron, at.loan, hold) {
        // A copy alone: it came back, or was fetched for a hold.
        (None, Some((loan, _)), _) => decision(
            Outcome::Returned,
            Action::CheckIn { loan_id: loan.id },
            "Returned.".into(),
        ),
        (None, None, Some((h, holder))) if h.status == HoldStatus::Active => decision(
            Outcome::ToHoldShelf,
            Action::ToHoldShelf { hold_id: h.id },
            format!("Held for {}: put it on the hold shelf.", name(holder)),
        ),
        (None, None, Some((h, holder))) => nothing(
            Outcome::AlreadyOnHoldShelf,
            match h.pickup_by {
                Some(by) => format!(
                    "On the hold shelf for {} until {}.",
                    name(holder),
                    short_date(by)
                ),
                None => format!("On the hold shelf for {}.", name(holder)),
            },
        ),
        (None, None, None) if at.copy.status == CopyStatus::Missing => nothing(
            Outcome::Missing,
            "This copy is marked missing: edit the copy to put it back on the shelf.".into(),
        ),
        (None, None, None) => nothing(
            Outcome::NotOnLoan,
            "This copy is not on loan. To check it out, scan the patron's card first.".into(),
        ),
        // A patron's card, then the copy: a check-out.
        (Some(p), Some((loan, holder)), _) => {
            if loan.patron_id == p.id {
                let due = loan.due_at.map(short_date);
                nothing(
                    Outcome::AlreadyOnLoanToThem,
                    match due {
                        Some(due) => format!("Already checked out to {}, due {due}.", p.name),
                        None => format!("Already checked out to {}.", p.name),
                    },
                )
            } else {
                nothing(
                    Outcome::OnLoanToSomeoneElse,
                    format!(
                        "This copy is on loan to {}: check it in first.",
                        name(holder)
                    ),
                )
            }
        }
        (Some(p), None, Some((h, _))) if h.patron_id != p.id => nothing(
            Outcome::HeldForSomeoneElse,
            "This copy is held for someone else.".into(),
        ),
        (Some(_), None, None) if at.copy.status == CopyStatus::Missing => nothing(
            Outcome::Missing,
            "This copy is marked missing: it cannot be checked out.".into(),
        ),
        (Some(p), None, hold) => decision(
            Outcome::CheckedOut,
            Action::CheckOut {
                hold_id: hold.map(|(h, _)| h.id),
            },
            format!(
                "Checked out to {}, due {}.",
                p.name,
                short_date(now + period)
            ),
        ),
    }
}

/// The answer to a scan of a card.
pub fn patron_selected(p: &Patron) -> Decision {
    Decision {
        outcome: Outcome::PatronSelected,
        action: Action::Nothing,
        message: format!("Checking out to {}: scan the copies.", p.name),
    }
}

/// The answer to a barcode the cache does not know.
pub fn unknown_barcode(barcode: &str) -> Decision {
    Decision {
        outcome: Outcome::UnknownBarcode,
        action: Action::Nothing,
        message: format!("Unknown barcode “{}”.", barcode.trim()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patron(n: u128, name: &str) -> Patron {
        Patron {
            id: Uuid::from_u128(n),
            name: name.into(),
            email: format!("p{n}@example.org"),
            premium: false,
            branch: "Central".into(),
            card: format!("2000000{n}"),
            notes: String::new(),
        }
    }

    fn copy(status: CopyStatus) -> Copy {
        Copy {
            id: Uuid::from_u128(10),
            book_id: Uuid::from_u128(1),
            barcode: "3100".into(),
            branch: "Central".into(),
            call_number: String::new(),
            status,
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-12-01T10:00:00Z".parse().expect("a time")
    }

    #[test]
    fn each_scan_answers_what_the_desk_does_and_says() {
        let ada = patron(1, "Ada Lovelace");
        let bram = patron(2, "Bram Carrow");
        let on_shelf = copy(CopyStatus::Available);
        let held = copy(CopyStatus::Held);
        let out = copy(CopyStatus::OnLoan);
        let missing = copy(CopyStatus::Missing);
        let loan = |to: &Patron| Loan {
            due_at: Some("2026-12-22T10:00:00Z".parse().expect("a time")),
            ..Loan::check_out(Uuid::from_u128(30), Uuid::from_u128(10), to.id)
        };
        let hold = |of: &Patron, status| Hold {
            copy_id: Some(Uuid::from_u128(10)),
            status,
            pickup_by: Some("2026-12-08T10:00:00Z".parse().expect("a time")),
            ..Hold::request(Uuid::from_u128(40), of.id, Uuid::from_u128(1))
        };
        let (ada_loan, bram_loan) = (loan(&ada), loan(&bram));
        let (bram_active, bram_ready, ada_ready) = (
            hold(&bram, HoldStatus::Active),
            hold(&bram, HoldStatus::Ready),
            hold(&ada, HoldStatus::Ready),
        );
        let at = |copy, loan, hold| CopyAtDesk { copy, loan, hold };
        let cases: Vec<(Option<&Patron>, CopyAtDesk<'_>, Outcome, Action, &str)> = vec![
            (
                Some(&ada),
                at(&on_shelf, None, None),
                Outcome::CheckedOut,
                Action::CheckOut { hold_id: None },
                "Checked out to Ada Lovelace, due 22 Dec.",
            ),
            (
                None,
                at(&out, Some((&ada_loan, Some(&ada))), None),
                Outcome::Returned,
                Action::CheckIn {
                    loan_id: ada_loan.id,
                },
                "Returned.",
            ),
            (
                None,
                at(&held, None, Some((&bram_active, Some(&bram)))),
                Outcome::ToHoldShelf,
                Action::ToHoldShelf {
                    hold_id: bram_active.id,
                },
                "Held for Bram Carrow: put it on the hold shelf.",
            ),
            (
                None,
                at(&held, None, Some((&bram_ready, Some(&bram)))),
                Outcome::AlreadyOnHoldShelf,
                Action::Nothing,
                "On the hold shelf for Bram Carrow until 8 Dec.",
            ),
            (
                Some(&ada),
                at(&held, None, Some((&bram_ready, Some(&bram)))),
                Outcome::HeldForSomeoneElse,
                Action::Nothing,
                "This copy is held for someone else.",
            ),
            (
                Some(&ada),
                at(&held, None, Some((&ada_ready, Some(&ada)))),
                Outcome::CheckedOut,
                Action::CheckOut {
                    hold_id: Some(ada_ready.id),
                },
                "Checked out to Ada Lovelace, due 22 Dec.",
            ),
            (
                Some(&ada),
                at(&out, Some((&bram_loan, Some(&bram))), None),
                Outcome::OnLoanToSomeoneElse,
                Action::Nothing,
                "This copy is on loan to Bram Carrow: check it in first.",
            ),
            (
                Some(&ada),
                at(&out, Some((&ada_loan, Some(&ada))), None),
                Outcome::AlreadyOnLoanToThem,
                Action::Nothing,
                "Already checked out to Ada Lovelace, due 22 Dec.",
            ),
            (
                None,
                at(&on_shelf, None, None),
                Outcome::NotOnLoan,
                Action::Nothing,
                "This copy is not on loan. To check it out, scan the patron's card first.",
            ),
            (
                Some(&ada),
                at(&missing, None, None),
                Outcome::Missing,
                Action::Nothing,
                "This copy is marked missing: it cannot be checked out.",
            ),
        ];
        for (patron, at, outcome, action, message) in cases {
            let d = decide(patron, at, now(), loan_period(None));
            assert_eq!(
                (d.outcome, d.action, d.message.as_str()),
                (outcome, action, message)
            );
        }
    }

    #[test]
    fn a_finished_hold_sets_nothing_aside() {
        let ada = patron(1, "Ada Lovelace");
        let bram = patron(2, "Bram Carrow");
        let done = Hold {
            copy_id: Some(Uuid::from_u128(10)),
            status: HoldStatus::Fulfilled,
            ..Hold::request(Uuid::from_u128(40), bram.id, Uuid::from_u128(1))
        };
        let on_shelf = copy(CopyStatus::Available);
        let at = CopyAtDesk {
            copy: &on_shelf,
            loan: None,
            hold: Some((&done, Some(&bram))),
        };
        assert_eq!(
            decide(Some(&ada), at, now(), loan_period(None)).outcome,
            Outcome::CheckedOut
        );
    }

    #[test]
    fn cards_and_unknown_barcodes_say_what_happened() {
        let ada = patron(1, "Ada Lovelace");
        assert_eq!(
            patron_selected(&ada).message,
            "Checking out to Ada Lovelace: scan the copies."
        );
        let unknown = unknown_barcode(" 999\n");
        assert_eq!(unknown.outcome, Outcome::UnknownBarcode);
        assert_eq!(unknown.message, "Unknown barcode “999”.");
        assert!(!unknown.outcome.is_success() && Outcome::Returned.is_success());
    }

    #[test]
    fn a_check_out_is_due_after_the_servers_loan_period_as_its_loans_show_it() {
        let ada = patron(1, "Ada Lovelace");
        let on_shelf = copy(CopyStatus::Available);
        let at = CopyAtDesk {
            copy: &on_shelf,
            loan: None,
            hold: None,
        };
        let fortnight = Loan {
            loaned_at: Some("2026-11-01T09:00:00Z".parse().expect("a time")),
            due_at: Some("2026-11-15T09:00:00Z".parse().expect("a time")),
            ..Loan::check_out(Uuid::from_u128(30), Uuid::from_u128(10), ada.id)
        };
        assert_eq!(loan_period(Some(&fortnight)), Duration::days(14));
        let d = decide(Some(&ada), at, now(), loan_period(Some(&fortnight)));
        assert_eq!(d.message, "Checked out to Ada Lovelace, due 15 Dec.");
        // A loan not yet seen by the server says nothing of its period.
        let mine = Loan::check_out(Uuid::from_u128(31), Uuid::from_u128(10), ada.id);
        assert_eq!(loan_period(Some(&mine)), Duration::days(DEFAULT_LOAN_DAYS));
    }
}
