//! ISBN-13 checking. Books are identified to the outside world by ISBN-13; a typo in one is the
//! most common data-entry error at a library desk, so the checksum is always verified.
//!
//! Catalogue records made before 2007 carry ISBN-10s, often with a qualifier or a price in the
//! same MARC subfield ("0306406152 (pbk.)"): [`from_marc`] reads those, and [`isbn10_to_13`]
//! turns an ISBN-10 into the ISBN-13 Shelfmark keeps, so a book has one identifier however old
//! its record is.

/// Removes the hyphens and spaces people type inside an ISBN.
pub fn normalize(raw: &str) -> String {
    raw.chars().filter(|c| !matches!(c, '-' | ' ')).collect()
}

/// Why an ISBN-13 is not valid, phrased for a librarian.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IsbnError {
    #[error("an ISBN-13 has 13 digits, this has {0}")]
    Length(usize),
    #[error("an ISBN-13 contains only digits (and optional hyphens)")]
    NotDigits,
    #[error("an ISBN-13 starts with 978 or 979")]
    Prefix,
    #[error("the check digit is wrong: expected {expected}, found {found}")]
    Checksum { expected: u32, found: u32 },
    #[error("an ISBN-10 has 10 characters, this has {0}")]
    Isbn10Length(usize),
    #[error("an ISBN-10 contains only digits, and an X only as its last character")]
    Isbn10NotDigits,
    #[error("the ISBN-10's check digit is wrong: expected {expected}, found {found}")]
    Isbn10Checksum { expected: char, found: char },
    #[error("there is no ISBN here")]
    Missing,
    #[error("an ISBN has 10 or 13 digits, this has {0}")]
    NeitherTenNorThirteen(usize),
}

/// The check digit for the first 12 digits of an ISBN-13.
pub fn check_digit(first12: &[u32]) -> u32 {
    let sum: u32 = first12
        .iter()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { *d } else { d * 3 })
        .sum();
    (10 - sum % 10) % 10
}

/// Validates an ISBN-13 (hyphens and spaces allowed) and returns its 13 digits.
pub fn validate(raw: &str) -> Result<String, IsbnError> {
    let s = normalize(raw);
    if !s.chars().all(|c| c.is_ascii_digit()) {
        return Err(IsbnError::NotDigits);
    }
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() != 13 {
        return Err(IsbnError::Length(digits.len()));
    }
    if !(s.starts_with("978") || s.starts_with("979")) {
        return Err(IsbnError::Prefix);
    }
    let expected = check_digit(&digits[..12]);
    if expected != digits[12] {
        return Err(IsbnError::Checksum {
            expected,
            found: digits[12],
        });
    }
    Ok(s)
}

/// Checks an ISBN-10 (hyphens and spaces allowed, `X` or `x` as the check digit standing for
/// 10) and returns the ISBN-13 of the same book: `978`, the first nine digits, and a new check
/// digit.
pub fn isbn10_to_13(raw: &str) -> Result<String, IsbnError> {
    let s = normalize(raw);
    let chars: Vec<char> = s.chars().collect();
    if chars.len() != 10 {
        return Err(IsbnError::Isbn10Length(chars.len()));
    }
    let mut body = Vec::with_capacity(9);
    for c in &chars[..9] {
        body.push(c.to_digit(10).ok_or(IsbnError::Isbn10NotDigits)?);
    }
    let found = chars[9].to_ascii_uppercase();
    if !(found.is_ascii_digit() || found == 'X') {
        return Err(IsbnError::Isbn10NotDigits);
    }
    // Weights 10 down to 2 on the body; the check digit makes the whole sum divisible by 11.
    let sum: u32 = body.iter().zip((2..=10).rev()).map(|(d, w)| d * w).sum();
    let expected = match (11 - sum % 11) % 11 {
        10 => 'X',
        d => char::from_digit(d, 10).unwrap_or('X'),
    };
    if expected != found {
        return Err(IsbnError::Isbn10Checksum { expected, found });
    }
    let mut first12 = vec![9, 7, 8];
    first12.extend(body);
    let check = check_digit(&first12);
    let mut isbn13: String = first12
        .iter()
        .filter_map(|d| char::from_digit(*d, 10))
        .collect();
    isbn13.extend(char::from_digit(check, 10));
    Ok(isbn13)
}

/// Reads the ISBN out of a MARC 020 `$a` and returns it as 13 digits.
///
/// The subfield holds the number, then often a qualifier or a price: "0306406152 (pbk.)",
/// "978-0-306-40615-7 : £12.99". The number is the run of digits, hyphens and `X` at the start
/// (after an optional "ISBN" some records write); whatever follows the first other character
/// is the qualifier and is dropped. Ten characters are an ISBN-10 (converted), thirteen an
/// ISBN-13; either way the check digit must be right.
pub fn from_marc(subfield_a: &str) -> Result<String, IsbnError> {
    let s = subfield_a.trim_start();
    let s = match s.get(..4) {
        Some(prefix) if prefix.eq_ignore_ascii_case("ISBN") => {
            s[4..].trim_start_matches([':', ' '])
        }
        _ => s,
    };
    let number: String = s
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '-' | 'X' | 'x'))
        .filter(|c| *c != '-')
        .collect();
    match number.chars().count() {
        0 => Err(IsbnError::Missing),
        10 => isbn10_to_13(&number),
        13 => validate(&number),
        n => Err(IsbnError::NeitherTenNorThirteen(n)),
    }
}

/// Builds a valid ISBN-13 from a 978 prefix and a 9-digit body (demo data, tests).
pub fn from_body(body: u32) -> String {
    let first12 = format!("978{:09}", body % 1_000_000_000);
    let digits: Vec<u32> = first12.chars().filter_map(|c| c.to_digit(10)).collect();
    format!("{first12}{}", check_digit(&digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_real_isbn_with_hyphens() {
        assert_eq!(validate("978-0-306-40615-7"), Ok("9780306406157".into()));
    }

    #[test]
    fn rejects_a_wrong_check_digit() {
        assert_eq!(
            validate("9780306406158"),
            Err(IsbnError::Checksum {
                expected: 7,
                found: 8
            })
        );
    }

    #[test]
    fn rejects_wrong_length_letters_and_prefix() {
        assert_eq!(validate("978030640615"), Err(IsbnError::Length(12)));
        assert_eq!(validate("97803064061X7"), Err(IsbnError::NotDigits));
        assert_eq!(validate("1234567890128"), Err(IsbnError::Prefix));
    }

    #[test]
    fn isbn10_is_converted_to_isbn13_and_its_check_digit_verified() {
        for (raw, want) in [
            ("0306406152", Ok("9780306406157")),
            ("0-306-40615-2", Ok("9780306406157")),
            ("0 306 40615 2", Ok("9780306406157")),
            // Check digit X (10), either case.
            ("080442957X", Ok("9780804429573")),
            ("080442957x", Ok("9780804429573")),
            (
                "0306406153",
                Err(IsbnError::Isbn10Checksum {
                    expected: '2',
                    found: '3',
                }),
            ),
            (
                "0804429570",
                Err(IsbnError::Isbn10Checksum {
                    expected: 'X',
                    found: '0',
                }),
            ),
            ("030640615", Err(IsbnError::Isbn10Length(9))),
            ("9780306406157", Err(IsbnError::Isbn10Length(13))),
            ("03064X6152", Err(IsbnError::Isbn10NotDigits)),
            ("030640615Y", Err(IsbnError::Isbn10NotDigits)),
        ] {
            assert_eq!(isbn10_to_13(raw), want.map(String::from), "{raw:?}");
        }
    }

    #[test]
    fn every_converted_isbn10_is_a_valid_isbn13_with_the_same_body() {
        for body in [0u32, 1, 42, 80_442_957, 30_640_615, 999_999_999] {
            let nine = format!("{body:09}");
            let digits: Vec<u32> = nine.chars().filter_map(|c| c.to_digit(10)).collect();
            let sum: u32 = digits.iter().zip((2..=10).rev()).map(|(d, w)| d * w).sum();
            let check = match (11 - sum % 11) % 11 {
                10 => "X".to_owned(),
                d => d.to_string(),
            };
            let isbn13 = isbn10_to_13(&format!("{nine}{check}")).expect("valid ISBN-10");
            assert_eq!(validate(&isbn13), Ok(isbn13.clone()));
            assert_eq!(&isbn13[3..12], nine);
        }
    }

    #[test]
    fn a_marc_isbn_loses_its_qualifier_price_and_hyphens() {
        for (subfield, want) in [
            ("0306406152 (pbk.)", Ok("9780306406157")),
            ("0306406152(pbk.)", Ok("9780306406157")),
            ("978-0-306-40615-7 : £12.99", Ok("9780306406157")),
            ("0-306-40615-2", Ok("9780306406157")),
            ("  9780306406157 ; ", Ok("9780306406157")),
            ("ISBN 0306406152", Ok("9780306406157")),
            ("isbn: 978-0-306-40615-7", Ok("9780306406157")),
            ("080442957x (v. 1)", Ok("9780804429573")),
            ("9790000000001", Ok("9790000000001")),
            (
                "0306406153 (pbk.)",
                Err(IsbnError::Isbn10Checksum {
                    expected: '2',
                    found: '3',
                }),
            ),
            (
                "978-0-306-40615-8 : £12.99",
                Err(IsbnError::Checksum {
                    expected: 7,
                    found: 8,
                }),
            ),
            ("(pbk.)", Err(IsbnError::Missing)),
            ("", Err(IsbnError::Missing)),
            ("030640615 (pbk.)", Err(IsbnError::NeitherTenNorThirteen(9))),
            ("97803064061577", Err(IsbnError::NeitherTenNorThirteen(14))),
            ("1234567890128", Err(IsbnError::Prefix)),
        ] {
            assert_eq!(from_marc(subfield), want.map(String::from), "{subfield:?}");
        }
    }

    #[test]
    fn isbn_errors_tell_a_librarian_what_is_wrong() {
        assert_eq!(
            IsbnError::Isbn10Checksum {
                expected: 'X',
                found: '0'
            }
            .to_string(),
            "the ISBN-10's check digit is wrong: expected X, found 0"
        );
        assert_eq!(
            IsbnError::NeitherTenNorThirteen(9).to_string(),
            "an ISBN has 10 or 13 digits, this has 9"
        );
    }

    #[test]
    fn generated_isbns_are_valid() {
        for body in [0, 1, 42, 999_999_999, 123_456_789] {
            assert!(validate(&from_body(body)).is_ok(), "{}", from_body(body));
        }
    }
}
