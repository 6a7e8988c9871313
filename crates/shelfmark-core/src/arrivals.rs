//! What a sync brought that whoever is at the desk should hear about: the escalations that
//! arrived open since the last look ([`Arrivals`]), and the words of the desktop notifications
//! for them and for edits that now need the librarian. Pure: the shell reads the cache and
//! shows the notification.

use std::collections::HashSet;

use uuid::Uuid;

use crate::{Escalation, EscalationStatus};

/// A desktop notification's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
}

/// Remembers the open escalations already seen, to tell which ones a sync brought.
#[derive(Debug, Clone, Default)]
pub struct Arrivals {
    /// None until the cache has been synced once (a first sync brings the whole library:
    /// nothing in it is news).
    known: Option<HashSet<Uuid>>,
}

impl Arrivals {
    /// Starts from the open escalations the cache holds at start-up, or None when it has never
    /// synced.
    pub fn new(known: Option<Vec<Uuid>>) -> Arrivals {
        Arrivals {
            known: known.map(|ids| ids.into_iter().collect()),
        }
    }

    /// Of `cached` (every escalation the cache holds now), the open ones not seen before;
    /// remembers the open ones as seen.
    pub fn arrived<'a>(&mut self, cached: impl IntoIterator<Item = &'a Escalation>) -> Vec<Uuid> {
        let open: Vec<Uuid> = cached
            .into_iter()
            .filter(|e| e.status == EscalationStatus::Open)
            .map(|e| e.id)
            .collect();
        let new = match &self.known {
            Some(seen) => open
                .iter()
                .filter(|id| !seen.contains(id))
                .copied()
                .collect(),
            None => Vec::new(),
        };
        self.known = Some(open.into_iter().collect());
        new
    }
}

/// What the notification names about one escalation that arrived.
#[derive(Debug, Clone, Copy, Default)]
pub struct Arrival<'a> {
    pub patron: Option<&'a str>,
    pub book: Option<&'a str>,
    pub branch: Option<&'a str>,
}

/// What a notification says about the escalations that arrived (None: none did).
pub fn arrival_notice(new: &[Arrival<'_>]) -> Option<Notice> {
    match new {
        [] => None,
        [one] => Some(Notice {
            title: "New escalation".into(),
            body: format!(
                "{} (premium) is waiting for “{}”{}.",
                one.patron.unwrap_or("A premium patron"),
                one.book.unwrap_or("a book"),
                one.branch.map(|b| format!(" at {b}")).unwrap_or_default()
            ),
        }),
        many => Some(Notice {
            title: format!("{} new escalations", many.len()),
            body: "Premium patrons found every copy taken: see Escalations.".into(),
        }),
    }
}

/// What the notification says when a sync left edits in the conflict inbox (None: nothing new).
pub fn conflict_notice(new_conflicts: usize) -> Option<Notice> {
    let (title, body) = match new_conflicts {
        0 => return None,
        1 => (
            "An edit needs you".to_owned(),
            "Someone else changed the same record: open Conflicts to merge it.",
        ),
        n => (
            format!("{n} edits need you"),
            "Others changed the same records: open Conflicts to merge them.",
        ),
    };
    Some(Notice {
        title,
        body: body.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escalation(n: u128, status: &str) -> Escalation {
        serde_json::from_value(serde_json::json!({
            "id": Uuid::from_u128(n), "patron_id": Uuid::from_u128(100 + n),
            "book_id": Uuid::from_u128(200 + n), "hold_request_id": Uuid::from_u128(300 + n),
            "status": status, "created_at": "2026-11-22T10:00:00Z"
        }))
        .expect("an escalation")
    }

    #[test]
    fn only_escalations_after_the_first_look_are_news() {
        let mut arrivals = Arrivals::new(None);
        let (a, b) = (escalation(1, "open"), escalation(2, "open"));
        assert!(
            arrivals.arrived([&a]).is_empty(),
            "the first sync is not news"
        );
        assert_eq!(arrivals.arrived([&a, &b]), vec![b.id]);
        assert!(arrivals.arrived([&a, &b]).is_empty(), "told once");
        assert!(
            arrivals.arrived([&b]).is_empty(),
            "a settled one is not news"
        );
    }

    #[test]
    fn a_synced_cache_starts_from_its_open_escalations_and_settled_ones_are_not_news() {
        let a = escalation(1, "open");
        let mut arrivals = Arrivals::new(Some(vec![a.id]));
        let (b, c) = (escalation(2, "open"), escalation(3, "resolved"));
        assert_eq!(arrivals.arrived([&a, &b, &c]), vec![b.id]);
    }

    #[test]
    fn the_notification_names_the_patron_the_book_and_the_branch() {
        let pia = Arrival {
            patron: Some("Pia"),
            book: Some("Harbour"),
            branch: Some("Central"),
        };
        let notice = arrival_notice(&[pia]).expect("one");
        assert_eq!(notice.title, "New escalation");
        assert_eq!(
            notice.body,
            "Pia (premium) is waiting for “Harbour” at Central."
        );
        let unnamed = arrival_notice(&[Arrival::default()]).expect("one");
        assert_eq!(
            unnamed.body,
            "A premium patron (premium) is waiting for “a book”."
        );
        assert_eq!(
            arrival_notice(&[pia, pia]).expect("two").title,
            "2 new escalations"
        );
        assert!(arrival_notice(&[]).is_none());
    }

    #[test]
    fn a_sync_that_adds_conflicts_says_how_many_and_where_to_go() {
        assert_eq!(conflict_notice(0), None);
        let notice = conflict_notice(1).expect("news");
        assert_eq!(notice.title, "An edit needs you");
        assert!(notice.body.contains("open Conflicts"));
        assert_eq!(conflict_notice(3).expect("news").title, "3 edits need you");
    }
}
