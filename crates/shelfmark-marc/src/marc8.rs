//! MARC-8 to UTF-8, for ISO 2709 records whose leader/09 is blank.
//!
//! Older catalogues still export MARC-8, and no maintained crate converts it. Shelfmark's
//! records are Latin-script, so this decodes the two default sets, ASCII (G0) and ANSEL
//! Extended Latin (G1), and either of them designated into G0 or G1 by an escape sequence.
//! Any other set (Greek, Cyrillic, Hebrew, Arabic, CJK, the subscript, superscript and Greek
//! symbol sets) is refused with its name rather than turned into wrong letters: the record is
//! rejected and the caller says why.
//!
//! ANSEL's combining diacritics come *before* the letter they sit on, Unicode's after it, so a
//! run of diacritics is held back and written after the next base character, in the order they
//! came (which is also Unicode's order for marks stacked on one letter). The text is then
//! NFC-composed, so `0xE2 'e'` (acute, e) becomes the one character `é`; a combination Unicode
//! has no precomposed character for stays a base letter followed by its combining marks.
//! Diacritics with no letter after them (at the end of a subfield) are kept, at the end.

use unicode_normalization::UnicodeNormalization;

const ESC: u8 = 0x1B;

/// The graphic sets this decoder can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    Ascii,
    Ansel,
}

/// The state of one field: escape sequences designate a set until the field ends, and the
/// MARC 21 specification resets G0 to ASCII and G1 to ANSEL at the start of every field.
pub(crate) struct Decoder {
    g0: Set,
    g1: Set,
    pending: Vec<char>,
}

impl Decoder {
    pub(crate) fn new() -> Self {
        Self {
            g0: Set::Ascii,
            g1: Set::Ansel,
            pending: Vec::new(),
        }
    }

    /// Back to the defaults, for the next field.
    pub(crate) fn reset(&mut self) {
        self.g0 = Set::Ascii;
        self.g1 = Set::Ansel;
        self.pending.clear();
    }

    /// The text of one subfield (or control field) as UTF-8, or the reason it cannot be read.
    /// The designations it leaves stay for the next subfield of the same field.
    pub(crate) fn decode(&mut self, bytes: &[u8]) -> Result<String, String> {
        if bytes.is_ascii() && self.g0 == Set::Ascii && memchr::memchr(ESC, bytes).is_none() {
            // The common case: plain ASCII means the same in MARC-8 and UTF-8.
            return Ok(bytes.iter().map(|&b| char::from(b)).collect());
        }
        let mut out = String::with_capacity(bytes.len() + bytes.len() / 2);
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b == ESC {
                i += self.escape(&bytes[i..])?;
                continue;
            }
            i += 1;
            let c = match b {
                0x20 => ' ',
                0x00..=0x1F | 0x7F => char::from(b),
                0x21..=0x7E => match self.g0 {
                    Set::Ascii => char::from(b),
                    Set::Ansel => match ansel(b | 0x80) {
                        Some(Some(c)) => c,
                        Some(None) => continue,
                        None => return Err(undefined(b)),
                    },
                },
                // The C1 controls MARC-8 defines: non-sort begin/end and the two joiners.
                0x88 => '\u{98}',
                0x89 => '\u{9C}',
                0x8D => '\u{200D}',
                0x8E => '\u{200C}',
                0xA1..=0xFE => match self.g1 {
                    Set::Ansel => match ansel(b) {
                        Some(Some(c)) => c,
                        Some(None) => continue,
                        None => return Err(undefined(b)),
                    },
                    Set::Ascii => char::from(b & 0x7F),
                },
                _ => return Err(undefined(b)),
            };
            if is_combining(c) {
                self.pending.push(c);
            } else {
                out.push(c);
                out.extend(self.pending.drain(..));
            }
        }
        out.extend(self.pending.drain(..));
        Ok(out.nfc().collect())
    }

    /// Reads the escape sequence at the start of `bytes`: the number of bytes it takes, or why
    /// the record cannot be read.
    fn escape(&mut self, bytes: &[u8]) -> Result<usize, String> {
        let at = |n: usize| bytes.get(n).copied().ok_or_else(incomplete);
        match at(1)? {
            // The MARC-specific locking escapes ("technique 1").
            b's' => {
                self.g0 = Set::Ascii;
                Ok(2)
            }
            b'g' => Err(unsupported("Greek symbols")),
            b'b' => Err(unsupported("Subscripts")),
            b'p' => Err(unsupported("Superscripts")),
            // ISO 2022 designations of a 94-character set: `(` or `,` into G0, `)` or `-` into
            // G1, with an optional `!` before the final character (ANSEL is `!E`).
            i @ (b'(' | b',' | b')' | b'-') => {
                let (final_at, f) = match at(2)? {
                    b'!' => (3, at(3)?),
                    f => (2, f),
                };
                let set = single_byte_set(f)?;
                if matches!(i, b'(' | b',') {
                    self.g0 = set;
                } else {
                    self.g1 = set;
                }
                Ok(final_at + 1)
            }
            // Multibyte sets: only the East Asian Character Code exists in MARC-8.
            b'$' => {
                let f = match at(2)? {
                    b'(' | b',' | b')' | b'-' => at(3)?,
                    f => f,
                };
                Err(unsupported(set_name(f).unwrap_or("(multibyte)")))
            }
            _ => Err("an unknown MARC-8 escape sequence".to_owned()),
        }
    }
}

fn single_byte_set(final_byte: u8) -> Result<Set, String> {
    match final_byte {
        b'B' | b's' => Ok(Set::Ascii),
        b'E' => Ok(Set::Ansel),
        f => Err(match set_name(f) {
            Some(name) => unsupported(name),
            None => format!(
                "an escape to an unknown MARC-8 character set (final character {:?})",
                char::from(f)
            ),
        }),
    }
}

/// The names the MARC 21 specification gives the sets by their final character.
fn set_name(final_byte: u8) -> Option<&'static str> {
    Some(match final_byte {
        b'1' => "CJK (EACC)",
        b'2' => "Basic Hebrew",
        b'3' => "Basic Arabic",
        b'4' => "Extended Arabic",
        b'N' => "Basic Cyrillic",
        b'Q' => "Extended Cyrillic",
        b'S' => "Basic Greek",
        b'g' => "Greek symbols",
        b'b' => "Subscripts",
        b'p' => "Superscripts",
        _ => return None,
    })
}

fn unsupported(name: &str) -> String {
    format!("MARC-8 character set {name} is not supported")
}

fn incomplete() -> String {
    "an incomplete MARC-8 escape sequence".to_owned()
}

fn undefined(b: u8) -> String {
    format!("byte 0x{b:02X} is not a MARC-8 character")
}

fn is_combining(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}')
}

/// ANSEL (MARC-8 Extended Latin) as G1, by the Library of Congress's code table: `None` for
/// a byte the set does not define, `Some(None)` for one that writes nothing.
///
/// A double diacritic spanning two letters (a ligature tie, a double tilde) is two halves in
/// MARC-8, one before each letter. Unicode's combining half marks (U+FE20…) render poorly, so
/// as in the widely used YAZ toolkit the first half becomes the one double mark that spans
/// the letter after it and the next (U+0361, U+0360) and the second half is dropped.
fn ansel(b: u8) -> Option<Option<char>> {
    Some(Some(match b {
        0xA1 => '\u{0141}', // Ł
        0xA2 => '\u{00D8}', // Ø
        0xA3 => '\u{0110}', // Đ
        0xA4 => '\u{00DE}', // Þ
        0xA5 => '\u{00C6}', // Æ
        0xA6 => '\u{0152}', // Œ
        0xA7 => '\u{02B9}', // soft sign (prime)
        0xA8 => '\u{00B7}', // middle dot
        0xA9 => '\u{266D}', // musical flat
        0xAA => '\u{00AE}', // ®
        0xAB => '\u{00B1}', // ±
        0xAC => '\u{01A0}', // Ơ
        0xAD => '\u{01AF}', // Ư
        0xAE => '\u{02BC}', // alif
        0xB0 => '\u{02BB}', // ayn
        0xB1 => '\u{0142}', // ł
        0xB2 => '\u{00F8}', // ø
        0xB3 => '\u{0111}', // đ
        0xB4 => '\u{00FE}', // þ
        0xB5 => '\u{00E6}', // æ
        0xB6 => '\u{0153}', // œ
        0xB7 => '\u{02BA}', // hard sign (double prime)
        0xB8 => '\u{0131}', // dotless i
        0xB9 => '\u{00A3}', // £
        0xBA => '\u{00F0}', // ð
        0xBC => '\u{01A1}', // ơ
        0xBD => '\u{01B0}', // ư
        0xC0 => '\u{00B0}', // °
        0xC1 => '\u{2113}', // script small l
        0xC2 => '\u{2117}', // ℗
        0xC3 => '\u{00A9}', // ©
        0xC4 => '\u{266F}', // musical sharp
        0xC5 => '\u{00BF}', // ¿
        0xC6 => '\u{00A1}', // ¡
        0xC7 => '\u{00DF}', // ß
        0xC8 => '\u{20AC}', // €
        // The combining diacritics.
        0xE0 => '\u{0309}',        // hook above
        0xE1 => '\u{0300}',        // grave
        0xE2 => '\u{0301}',        // acute
        0xE3 => '\u{0302}',        // circumflex
        0xE4 => '\u{0303}',        // tilde
        0xE5 => '\u{0304}',        // macron
        0xE6 => '\u{0306}',        // breve
        0xE7 => '\u{0307}',        // dot above
        0xE8 => '\u{0308}',        // diaeresis
        0xE9 => '\u{030C}',        // caron
        0xEA => '\u{030A}',        // ring above
        0xEB => '\u{0361}',        // ligature, first half: double inverted breve
        0xEC => return Some(None), // ligature, second half
        0xED => '\u{0315}',        // comma above right
        0xEE => '\u{030B}',        // double acute
        0xEF => '\u{0310}',        // candrabindu
        0xF0 => '\u{0327}',        // cedilla
        0xF1 => '\u{0328}',        // ogonek
        0xF2 => '\u{0323}',        // dot below
        0xF3 => '\u{0324}',        // diaeresis below
        0xF4 => '\u{0325}',        // ring below
        0xF5 => '\u{0333}',        // double low line
        0xF6 => '\u{0332}',        // low line
        0xF7 => '\u{0326}',        // comma below
        0xF8 => '\u{031C}',        // left half ring below
        0xF9 => '\u{032E}',        // breve below
        0xFA => '\u{0360}',        // double tilde, first half
        0xFB => return Some(None), // double tilde, second half
        0xFE => '\u{0313}',        // comma above
        _ => return None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<String, String> {
        Decoder::new().decode(bytes)
    }

    #[test]
    fn plain_ascii_is_unchanged() {
        assert_eq!(
            decode(b"Moby Dick; or, The whale").expect("decodes"),
            "Moby Dick; or, The whale"
        );
    }

    #[test]
    fn acute_before_e_becomes_one_precomposed_e_acute() {
        assert_eq!(decode(b"Caf\xE2e").expect("decodes"), "Caf\u{E9}");
    }

    #[test]
    fn two_diacritics_on_one_letter_follow_it_and_compose() {
        // Vietnamese ế: circumflex and acute over e, composed to U+1EBF.
        assert_eq!(decode(b"\xE3\xE2e").expect("decodes"), "\u{1EBF}");
    }

    #[test]
    fn a_combination_unicode_cannot_precompose_keeps_its_combining_mark_after_the_letter() {
        // q with a dot below has no precomposed form.
        assert_eq!(decode(b"\xF2q").expect("decodes"), "q\u{0323}");
    }

    #[test]
    fn a_ligature_tie_becomes_one_double_breve_after_its_first_letter() {
        // "ts" tied: the first half before t, the second before s.
        assert_eq!(decode(b"\xEBt\xECs").expect("decodes"), "t\u{361}s");
    }

    #[test]
    fn ansel_spacing_letters_decode() {
        assert_eq!(
            decode(b"\xA1\xF1od\xB8 \xA5sop \xC3 \xB5").expect("decodes"),
            "\u{141}\u{1EB}d\u{131} \u{C6}sop \u{A9} \u{E6}"
        );
    }

    #[test]
    fn a_diacritic_at_the_end_of_the_text_is_kept() {
        // Nothing follows the diaeresis; it ends up on the q (which has no precomposed form).
        assert_eq!(decode(b"q\xE8").expect("decodes"), "q\u{308}");
    }

    #[test]
    fn ansel_designated_into_g0_reads_seven_bit_bytes_as_extended_latin() {
        // ESC ( ! E puts ANSEL in G0: 0x62 is then 0xE2, the acute; ESC s returns to ASCII.
        assert_eq!(decode(b"\x1B(!E\x62\x1Bse").expect("decodes"), "\u{E9}");
    }

    #[test]
    fn an_escape_to_cyrillic_is_refused_with_its_name() {
        let err = decode(b"\x1B(N\x61\x62").expect_err("is refused");
        assert_eq!(err, "MARC-8 character set Basic Cyrillic is not supported");
    }

    #[test]
    fn an_escape_to_cjk_is_refused_with_its_name() {
        let err = decode(b"\x1B$1\x21\x30\x64").expect_err("is refused");
        assert_eq!(err, "MARC-8 character set CJK (EACC) is not supported");
    }

    #[test]
    fn superscripts_are_refused() {
        assert!(
            decode(b"x\x1Bp2\x1Bs")
                .expect_err("is refused")
                .contains("Superscripts")
        );
    }

    #[test]
    fn an_undefined_byte_is_refused() {
        assert_eq!(
            decode(b"a\xFFb").expect_err("is refused"),
            "byte 0xFF is not a MARC-8 character"
        );
    }

    #[test]
    fn an_escape_cut_off_by_the_end_of_the_text_is_refused() {
        assert!(
            decode(b"abc\x1B(")
                .expect_err("is refused")
                .contains("incomplete")
        );
    }

    #[test]
    fn a_designation_lasts_across_subfields_until_reset() {
        let mut d = Decoder::new();
        assert_eq!(d.decode(b"\x1B(!E").expect("decodes"), "");
        assert_eq!(d.decode(b"\x62\x1Bse").expect("decodes"), "\u{E9}");
        assert_eq!(d.decode(b"\x1B(!E").expect("decodes"), "");
        d.reset();
        assert_eq!(d.decode(b"\x62e").expect("decodes"), "be");
    }
}
