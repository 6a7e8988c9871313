//! The demo library (`--demo`): a few thousand plausible books with copies in three branches,
//! patrons (some premium), a few active holds, open escalations of premium patrons who found
//! every copy taken, and the two staff users, so the desktop app (the escalation screen too)
//! has something to show on first start and the tests have a realistic catalogue.
//!
//! The data is generated from a fixed seed, so every demo database holds the same records, and
//! inserted in one transaction (a second or so even in a debug build). Seeding happens only on
//! an empty database and marks it: running `--demo` again changes nothing.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use shelfmark_core::wire::Role;
use shelfmark_core::{
    Book, Copy, CopyStatus, Escalation, EscalationStatus, Hold, HoldStatus, Loan, Patron,
    RecordType, isbn,
};
use uuid::Uuid;

use crate::auth::add_user;
use crate::records::{Books, Copies, Escalations, Holds, Kind, Loans, Patrons};
use crate::store::{Actor, Store, StoreError, Write};

pub const BOOKS: usize = 2_400;
pub const PATRONS: usize = 72;
/// Books whose every copy is on hold, each with an open escalation of a premium patron.
pub const ESCALATED_BOOKS: usize = 4;
/// Further books with one copy on hold.
pub const SINGLE_HOLDS: usize = 8;
pub const BRANCHES: [&str; 3] = ["Central", "Riverside", "Hillcrest"];
const SEEDED_KEY: &str = "demo_seeded";

/// What `--demo` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seeded {
    /// The demo library was created; `password` is set when it was generated (to be shown).
    Created { generated_password: Option<String> },
    /// The database already holds the demo library: nothing was changed.
    AlreadySeeded,
    /// The database holds other records: the demo is not mixed into them.
    NotEmpty,
}

/// Seeds the demo library on an empty database. The staff users get `password`, or a random
/// one that is returned.
pub async fn seed(store: &Store, password: Option<String>) -> Result<Seeded, StoreError> {
    if store.meta(SEEDED_KEY).await?.is_some() {
        return Ok(Seeded::AlreadySeeded);
    }
    for kind in [RecordType::Book, RecordType::Copy, RecordType::Patron] {
        if store.count(kind).await? > 0 {
            return Ok(Seeded::NotEmpty);
        }
    }
    let generated = password.is_none();
    let password = password.unwrap_or_else(|| {
        let mut rng = rand::rng();
        (0..16)
            .map(|_| {
                let alphabet = b"abcdefghijkmnpqrstuvwxyz23456789";
                char::from(alphabet[rng.random_range(0..alphabet.len())])
            })
            .collect()
    });
    for (name, role) in [("librarian", Role::Librarian), ("manager", Role::Manager)] {
        if store.user_by_name(name).await?.is_none() {
            add_user(store, name, role, &password).await?;
        }
    }
    let actor = Actor {
        name: "demo".into(),
    };
    store.insert_many(&actor, records()?).await?;
    store
        .set_meta(SEEDED_KEY, &crate::store::now_rfc3339())
        .await?;
    Ok(Seeded::Created {
        generated_password: generated.then_some(password),
    })
}

const ADJECTIVES: &[&str] = &[
    "Silent",
    "Hidden",
    "Last",
    "Northern",
    "Forgotten",
    "Golden",
    "Quiet",
    "Restless",
    "Distant",
    "Winter",
    "Painted",
    "Broken",
    "Secret",
    "Little",
    "Endless",
    "Burning",
    "Glass",
    "Salt",
    "Wandering",
    "Patient",
    "Bright",
    "Hollow",
    "Lantern",
    "Iron",
    "Velvet",
    "Wild",
    "Summer",
    "Crooked",
    "Paper",
    "Midnight",
];
const NOUNS: &[&str] = &[
    "Garden",
    "River",
    "Orchard",
    "Lighthouse",
    "Archive",
    "Harbour",
    "Cartographer",
    "Kingdom",
    "Library",
    "Meadow",
    "Clockmaker",
    "Season",
    "Bridge",
    "Mountain",
    "Island",
    "Letter",
    "Compass",
    "Forest",
    "Valley",
    "Observatory",
    "Tide",
    "Atlas",
    "Market",
    "Shepherd",
    "Pilgrim",
    "Inheritance",
    "Kitchen",
    "Weaver",
    "Voyage",
    "Winter",
    "Machine",
    "Alphabet",
    "Harvest",
    "Mirror",
    "Chapel",
    "Frontier",
    "Telescope",
    "Ferry",
    "Apprentice",
    "Quarry",
];
const PLACES: &[&str] = &[
    "Lisbon",
    "the Fens",
    "Kyoto",
    "the Hebrides",
    "Samarkand",
    "the Delta",
    "Prague",
    "the Moors",
    "Valparaíso",
    "the North Sea",
    "Tangier",
    "the Alps",
    "Odessa",
    "Cornwall",
    "the Steppe",
    "Trieste",
    "the Black Forest",
    "Zanzibar",
    "the Marshes",
    "Bruges",
];
const SUBJECTS: &[(&str, &str)] = &[
    ("Fiction", "F"),
    ("Mystery", "F"),
    ("Historical fiction", "F"),
    ("Poetry", "821"),
    ("History", "940"),
    ("Local history", "942"),
    ("Biography", "920"),
    ("Travel", "910"),
    ("Gardening", "635"),
    ("Cookery", "641.5"),
    ("Natural history", "508"),
    ("Astronomy", "520"),
    ("Mathematics", "510"),
    ("Philosophy", "100"),
    ("Music", "780"),
    ("Art", "700"),
    ("Architecture", "720"),
    ("Economics", "330"),
    ("Sailing", "797.1"),
    ("Children's", "JF"),
    ("Science fiction", "F"),
    ("Folklore", "398"),
    ("Photography", "770"),
    ("Crafts", "745"),
];
const FIRST_NAMES: &[&str] = &[
    "Ada", "Bram", "Clara", "Dmitri", "Elif", "Felix", "Greta", "Hamid", "Ines", "Jonas", "Kaori",
    "Lars", "Maren", "Nikolai", "Odile", "Pietro", "Quinn", "Rosa", "Sami", "Tove", "Ursula",
    "Viktor", "Wen", "Ximena", "Yusuf", "Zofia", "Amara", "Benedikt", "Céline", "Desmond",
    "Esther", "Farid", "Gwen", "Hugo", "Ilse", "Jude", "Kasia", "Leon", "Mira", "Noor",
];
const SURNAMES: &[&str] = &[
    "Abernathy",
    "Brandt",
    "Castellanos",
    "Duval",
    "Eriksen",
    "Fairweather",
    "Gallagher",
    "Haddad",
    "Ivanova",
    "Janssen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Pellegrini",
    "Quist",
    "Rahman",
    "Sorensen",
    "Takahashi",
    "Underwood",
    "Varga",
    "Whitlock",
    "Xu",
    "Yilmaz",
    "Zeller",
    "Ashdown",
    "Bellamy",
    "Carrow",
    "Delacroix",
    "Ellery",
    "Finch",
    "Greenhalgh",
    "Holloway",
    "Iqbal",
    "Jovanović",
    "Keane",
    "Lowry",
    "Marsh",
    "Nightingale",
];
const PUBLISHERS: &[&str] = &[
    "Harbour Press",
    "Lantern Books",
    "Fenwick & Hale",
    "Northlight",
    "Quire Editions",
    "Old Mill Publishing",
    "Kestrel House",
    "Bluebell & Sons",
    "Marginalia",
    "Tidewater Books",
    "Copperplate",
    "Ravensworth",
];
const OPENINGS: &[&str] = &[
    "When {who} inherits {thing}, nothing about {place} is quite what it seems.",
    "A patient account of {thing} and the people of {place} who kept it alive.",
    "{who} sets out for {place} with nothing but {thing} and a borrowed map.",
    "Drawing on letters and diaries, this book follows {thing} across two centuries in {place}.",
    "In {place}, a winter storm brings {who} face to face with {thing}.",
    "An illustrated guide to {thing}, written for curious readers of every age.",
];
const MIDDLES: &[&str] = &[
    "Along the way come {who}, a stubborn neighbour and more than one surprise.",
    "Chapters alternate between the archive and the field, and between doubt and discovery.",
    "Part memoir, part history, it asks what we owe the places that shaped us.",
    "The narrative moves between {place} and the present day with quiet confidence.",
    "Practical advice sits beside old photographs, maps and hand-drawn diagrams.",
    "What begins as a small favour becomes a question nobody in town wants answered.",
];
const CLOSINGS: &[&str] = &[
    "A book to read slowly and lend to a friend.",
    "Includes notes, a bibliography and an index.",
    "Shortlisted for the Lantern Prize.",
    "The first in a series.",
    "With a new afterword by the author.",
    "Suitable for readers from twelve upwards.",
];

fn pick<'a>(rng: &mut StdRng, list: &'a [&'a str]) -> &'a str {
    list.choose(rng).copied().unwrap_or_default()
}

fn uuid(rng: &mut StdRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

fn person(rng: &mut StdRng) -> (String, String) {
    (
        pick(rng, FIRST_NAMES).to_owned(),
        pick(rng, SURNAMES).to_owned(),
    )
}

fn title(rng: &mut StdRng) -> String {
    let (adj, noun, place) = (pick(rng, ADJECTIVES), pick(rng, NOUNS), pick(rng, PLACES));
    let (first, _) = person(rng);
    match rng.random_range(0..8) {
        0 => format!("The {adj} {noun}"),
        1 => format!("The {noun} of {place}"),
        2 => format!("{} {noun} for {first}", indefinite_article(noun)),
        3 => format!("{adj} {noun}s"),
        4 => format!("Letters from {place}"),
        5 => format!("The Last {noun}"),
        6 => format!("Beyond the {adj} {noun}"),
        _ => format!("{first} and the {noun}"),
    }
}

/// "A" or "An", as the word's first sound asks (vowel letters stand for it here).
fn indefinite_article(word: &str) -> &'static str {
    match word.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "An",
        _ => "A",
    }
}

fn sentence(rng: &mut StdRng, templates: &[&str]) -> String {
    let (first, last) = person(rng);
    let thing = format!(
        "the {} {}",
        pick(rng, ADJECTIVES).to_lowercase(),
        pick(rng, NOUNS).to_lowercase()
    );
    pick(rng, templates)
        .replace("{who}", &format!("{first} {last}"))
        .replace("{thing}", &thing)
        .replace("{place}", pick(rng, PLACES))
}

/// One generated book with what its copies' call numbers are made of.
struct DemoBook {
    book: Book,
    surname: String,
    class: &'static str,
}

/// The `i`-th book of a generated library: plausible title, authors, subjects, a multi-line
/// summary, a valid ISBN-13 unique to `i`.
fn demo_book(rng: &mut StdRng, i: usize) -> Result<DemoBook, StoreError> {
    let n_authors = if rng.random_bool(0.15) { 2 } else { 1 };
    let authors: Vec<(String, String)> = (0..n_authors).map(|_| person(rng)).collect();
    let (subject, class) = SUBJECTS.choose(rng).copied().unwrap_or(("Fiction", "F"));
    let mut subjects = vec![subject.to_owned()];
    if rng.random_bool(0.4) {
        let (second, _) = SUBJECTS.choose(rng).copied().unwrap_or(("History", "940"));
        if second != subject {
            subjects.push(second.to_owned());
        }
    }
    let mut summary = vec![sentence(rng, OPENINGS), sentence(rng, MIDDLES)];
    if rng.random_bool(0.6) {
        summary.push(pick(rng, CLOSINGS).to_owned());
    }
    let mut book = Book {
        id: uuid(rng),
        isbn: isbn::from_body(340_000_000 + (i as u32) * 37),
        title: title(rng),
        authors: authors.iter().map(|(f, l)| format!("{f} {l}")).collect(),
        publisher: pick(rng, PUBLISHERS).to_owned(),
        year: Some(rng.random_range(1950..=2025)),
        subjects,
        summary: summary.join("\n"),
        notes: if rng.random_bool(0.1) {
            "Donated copy.\nCheck the spine label at the next stocktake.".into()
        } else {
            String::new()
        },
    };
    Books::validate(&mut book).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let surname = authors
        .first()
        .map(|(_, l)| l.clone())
        .unwrap_or_else(|| "Anon".into());
    Ok(DemoBook {
        book,
        surname,
        class,
    })
}

/// `count` books generated as the demo's are (the same seed gives the same books), for
/// benchmarks at a larger library's size.
pub fn books(count: usize, seed: u64) -> Result<Vec<Book>, StoreError> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|i| demo_book(&mut rng, i).map(|d| d.book))
        .collect()
}

/// The words generated books are made of, for search benchmarks that look for them.
pub struct Vocabulary {
    pub adjectives: &'static [&'static str],
    pub nouns: &'static [&'static str],
    pub first_names: &'static [&'static str],
    pub surnames: &'static [&'static str],
    pub subjects: Vec<&'static str>,
}

pub fn vocabulary() -> Vocabulary {
    Vocabulary {
        adjectives: ADJECTIVES,
        nouns: NOUNS,
        first_names: FIRST_NAMES,
        surnames: SURNAMES,
        subjects: SUBJECTS.iter().map(|(name, _)| *name).collect(),
    }
}

/// The demo records: books, their copies, patrons (in that order, so references hold).
pub fn records() -> Result<Vec<Write>, StoreError> {
    let mut rng = StdRng::seed_from_u64(0x0053_4845_4c46_4d4b);
    let mut writes = Vec::with_capacity(BOOKS * 4);
    let mut barcode = 31_000_000u32;
    // Each book's id and the positions of its copies in `writes`.
    let mut shelves: Vec<(Uuid, Vec<usize>)> = Vec::with_capacity(BOOKS);
    for i in 0..BOOKS {
        let DemoBook {
            book,
            surname,
            class,
        } = demo_book(&mut rng, i)?;
        writes.push(Write::of::<Books>(book.id, &book)?);
        let call_number = format!(
            "{class} {}",
            surname.chars().take(3).collect::<String>().to_uppercase()
        );
        shelves.push((book.id, Vec::new()));
        for _ in 0..rng.random_range(1..=4) {
            barcode += 1;
            let status = match rng.random_range(0..100) {
                0..=74 => CopyStatus::Available,
                75..=96 => CopyStatus::OnLoan,
                _ => CopyStatus::Missing,
            };
            let copy = Copy {
                id: uuid(&mut rng),
                book_id: book.id,
                barcode: barcode.to_string(),
                branch: pick(&mut rng, &BRANCHES).to_owned(),
                call_number: call_number.clone(),
                status,
            };
            if let Some((_, copies)) = shelves.last_mut() {
                copies.push(writes.len());
            }
            writes.push(Write::of::<Copies>(copy.id, &copy)?);
        }
    }
    let mut patrons = Vec::with_capacity(PATRONS);
    for i in 0..PATRONS {
        let (first, last) = person(&mut rng);
        let patron = Patron {
            id: uuid(&mut rng),
            email: format!(
                "{}.{}{i}@example.org",
                first.to_lowercase(),
                last.to_lowercase()
            ),
            name: format!("{first} {last}"),
            premium: i % 9 == 0,
            branch: pick(&mut rng, &BRANCHES).to_owned(),
            card: format!("2{:07}", i + 1),
            notes: String::new(),
        };
        patrons.push((patron.id, patron.premium));
        writes.push(Write::of::<Patrons>(patron.id, &patron)?);
    }
    add_holds(&mut rng, &mut writes, &shelves, &patrons)?;
    add_loans(&mut rng, &mut writes, &patrons)?;
    Ok(writes)
}

/// A loan for each copy that is out, to a patron, made in the three weeks before the demo's
/// day: the desk can check them in.
fn add_loans(
    rng: &mut StdRng,
    writes: &mut Vec<Write>,
    patrons: &[(Uuid, bool)],
) -> Result<(), StoreError> {
    let out: Vec<Copy> = writes
        .iter()
        .filter(|w| w.kind == RecordType::Copy)
        .filter_map(|w| serde_json::from_str::<Copy>(&w.data).ok())
        .filter(|c| c.status == CopyStatus::OnLoan)
        .collect();
    let day = chrono::DateTime::from_timestamp(1_767_000_000, 0).unwrap_or_default();
    for copy in out {
        let Some(&(patron, _)) = patrons.choose(rng) else {
            break;
        };
        let loaned_at = day - chrono::Duration::hours(rng.random_range(1..21 * 24));
        let loan = Loan {
            loaned_at: Some(loaned_at),
            due_at: Some(loaned_at + chrono::Duration::days(21)),
            ..Loan::check_out(uuid(rng), copy.id, patron)
        };
        writes.push(Write::of::<Loans>(loan.id, &loan)?);
    }
    Ok(())
}

/// Puts copies on hold for regular patrons: every copy of a few books (each with an open
/// escalation of a premium patron who found them all taken), and one copy of a few more.
fn add_holds(
    rng: &mut StdRng,
    writes: &mut Vec<Write>,
    shelves: &[(Uuid, Vec<usize>)],
    patrons: &[(Uuid, bool)],
) -> Result<(), StoreError> {
    let regular: Vec<Uuid> = patrons.iter().filter(|p| !p.1).map(|p| p.0).collect();
    let premium: Vec<Uuid> = patrons.iter().filter(|p| p.1).map(|p| p.0).collect();
    let copy_at = |writes: &[Write], i: usize| -> Result<Copy, StoreError> {
        serde_json::from_str(&writes[i].data).map_err(|e| StoreError::Corrupt(e.to_string()))
    };
    let all_available = |writes: &[Write], copies: &[usize]| {
        copies
            .iter()
            .all(|&i| copy_at(writes, i).is_ok_and(|c| c.status == CopyStatus::Available))
    };
    let mut holders = regular.iter().cycle();
    let mut new_records = Vec::new();
    let (mut escalated, mut single) = (0, 0);
    let created_at = chrono::DateTime::from_timestamp(1_767_000_000, 0).unwrap_or_default();
    // Spread over the catalogue rather than its first books.
    for (book_id, copies) in shelves.iter().step_by(97) {
        if !all_available(writes, copies) {
            continue;
        }
        let escalate = escalated < ESCALATED_BOOKS && copies.len() <= 2;
        if !escalate && single >= SINGLE_HOLDS {
            continue;
        }
        let held = if escalate { copies.len() } else { 1 };
        for &i in copies.iter().take(held) {
            let mut copy = copy_at(writes, i)?;
            copy.status = CopyStatus::Held;
            writes[i] = Write::of::<Copies>(copy.id, &copy)?;
            let patron_id = holders.next().copied().unwrap_or_default();
            let hold = Hold {
                copy_id: Some(copy.id),
                status: HoldStatus::Active,
                pickup_branch: copy.branch.clone(),
                placed_at: Some(created_at),
                ..Hold::request(uuid(rng), patron_id, *book_id)
            };
            new_records.push(Write::of::<Holds>(hold.id, &hold)?);
        }
        if escalate {
            let escalation = Escalation {
                id: uuid(rng),
                patron_id: premium
                    .get(escalated % premium.len().max(1))
                    .copied()
                    .unwrap_or_default(),
                book_id: *book_id,
                hold_request_id: uuid(rng),
                status: EscalationStatus::Open,
                resolution_note: None,
                created_at: created_at + chrono::Duration::minutes(37 * escalated as i64),
            };
            new_records.push(Write::of::<Escalations>(escalation.id, &escalation)?);
            escalated += 1;
        } else {
            single += 1;
        }
        if escalated >= ESCALATED_BOOKS && single >= SINGLE_HOLDS {
            break;
        }
    }
    writes.extend(new_records);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_library_is_large_valid_and_the_same_every_time() {
        let a = records().expect("generates");
        let b = records().expect("generates");
        assert_eq!(a.len(), b.len());
        assert_eq!(a[0].data, b[0].data);
        let count = |k| a.iter().filter(|w| w.kind == k).count();
        assert_eq!(count(RecordType::Book), BOOKS);
        assert!(count(RecordType::Copy) >= BOOKS);
        assert_eq!(count(RecordType::Patron), PATRONS);
        let premium = a
            .iter()
            .filter(|w| w.kind == RecordType::Patron && w.data.contains("\"premium\":true"))
            .count();
        assert!(premium >= 5);
        let mut isbns: Vec<_> = a
            .iter()
            .filter_map(|w| w.index.unique_key.clone())
            .collect();
        let n = isbns.len();
        isbns.sort();
        isbns.dedup();
        assert_eq!(isbns.len(), n, "ISBNs and barcodes are unique");
        assert_eq!(count(RecordType::Escalation), ESCALATED_BOOKS);
        assert_eq!(
            count(RecordType::Hold),
            a.iter()
                .filter(|w| w.kind == RecordType::Copy && w.data.contains("\"held\""))
                .count()
        );
        assert!(count(RecordType::Hold) >= ESCALATED_BOOKS + SINGLE_HOLDS);
        let mut held: Vec<_> = a.iter().filter_map(|w| w.index.ref3_id).collect();
        let n = held.len();
        held.sort();
        held.dedup();
        assert_eq!(held.len(), n, "one hold per copy");
    }

    #[test]
    fn generated_titles_say_an_before_a_vowel() {
        assert_eq!(indefinite_article("Alphabet"), "An");
        assert_eq!(indefinite_article("Orchard"), "An");
        assert_eq!(indefinite_article("Garden"), "A");
        let writes = records().expect("generates");
        for w in writes.iter().filter(|w| w.kind == RecordType::Book) {
            assert!(
                !w.data.contains("\"title\":\"A A")
                    && !w.data.contains("\"title\":\"A O")
                    && !w.data.contains("\"title\":\"A I"),
                "{}",
                w.data
            );
        }
    }
}
