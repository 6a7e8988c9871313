//! ISBN-13 checking. Books are identified to the outside world by ISBN-13; a typo in one is the
//! most common data-entry error at a library desk, so the checksum is always verified.

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
    fn generated_isbns_are_valid() {
        for body in [0, 1, 42, 999_999_999, 123_456_789] {
            assert!(validate(&from_body(body)).is_ok(), "{}", from_body(body));
        }
    }
}
