//! Field-level validation errors, the shape of a 400 `/problems/validation` answer and of the
//! desktop form's messages alike.

use serde::{Deserialize, Serialize};

/// One rule a field breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Every rule a record breaks (never empty when returned as an error).
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.summary())]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when no rule is broken.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    fn summary(&self) -> String {
        self.0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A text field of one line (a title, a name, a barcode): no control character at all. A line
/// break or an escape sequence in one would break the screens and lines it is shown on.
pub fn single_line(errors: &mut ValidationErrors, field: &str, value: &str) {
    if value.chars().any(char::is_control) {
        errors.push(field, "cannot contain control characters or line breaks");
    }
}

/// A multi-line text field (a summary, notes): line breaks and tabs, and no other control
/// character.
pub fn multi_line(errors: &mut ValidationErrors, field: &str, value: &str) {
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        errors.push(
            field,
            "cannot contain control characters other than line breaks and tabs",
        );
    }
}

/// Whether `address` is an email address a mail can be sent to: RFC 5321/5322 syntax, with
/// internationalised local parts and domains (RFC 6531), a domain of at least two labels, and
/// no display name or bracketed IP literal.
pub fn is_email(address: &str) -> bool {
    // `email_address`: a maintained, dependency-free parser of the RFCs' address grammar that
    // accepts UTF-8 addresses, so "josé@exämple.org" passes and "a@b" or "a b@c.org" do not;
    // a hand-written check would get the quoted and internationalised forms wrong.
    let options = email_address::Options {
        minimum_sub_domains: 2,
        allow_domain_literal: false,
        allow_display_text: false,
    };
    !address.chars().any(char::is_control)
        && email_address::EmailAddress::parse_with_options(address, options).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(value: &str) -> bool {
        let mut errors = ValidationErrors::default();
        single_line(&mut errors, "f", value);
        errors.is_empty()
    }

    fn multi(value: &str) -> bool {
        let mut errors = ValidationErrors::default();
        multi_line(&mut errors, "f", value);
        errors.is_empty()
    }

    #[test]
    fn one_line_fields_refuse_every_control_character_and_many_lines_keep_breaks_and_tabs() {
        for ok in ["Signals", "Ça va, Zoë", "", "日本語のタイトル"] {
            assert!(single(ok), "{ok:?}");
            assert!(multi(ok), "{ok:?}");
        }
        for bad in [
            "a\nb",
            "a\rb",
            "a\tb",
            "a\u{0}b",
            "a\u{1b}[31mb",
            "a\u{7f}",
            "a\u{85}b",
        ] {
            assert!(!single(bad), "{bad:?}");
        }
        for ok in ["line one\nline two", "a\r\nb", "col\tcol"] {
            assert!(multi(ok), "{ok:?}");
        }
        for bad in ["a\u{0}b", "a\u{1b}[2Jb", "a\u{7}", "a\u{9b}b", "a\u{8}b"] {
            assert!(!multi(bad), "{bad:?}");
        }
    }

    #[test]
    fn email_addresses_may_be_internationalised_but_must_be_addresses() {
        for ok in [
            "ada@example.org",
            "first.last+tag@mail.example.co.uk",
            "josé@exämple.org",
            "用户@例子.广告",
            "δοκιμή@παράδειγμα.δοκιμή",
        ] {
            assert!(is_email(ok), "{ok:?}");
        }
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "ada@localhost",
            "ada@@example.org",
            "ada lovelace@example.org",
            "Ada <ada@example.org>",
            "ada@[127.0.0.1]",
            "ada@example.org\r\nBcc: x@evil.org",
            "ada@exa mple.org",
        ] {
            assert!(!is_email(bad), "{bad:?}");
        }
    }
}
