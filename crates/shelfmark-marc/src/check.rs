//! What a record must be to be written, the same for both writers: a record one writer takes,
//! the other takes too, and reading it back gives the same record.

use shelfmark_core::marc::Record;

/// `Ok` when `record` can be written as ISO 2709 and as MARCXML, else why not.
pub(crate) fn writable(record: &Record) -> Result<(), String> {
    let leader = &record.leader;
    if leader.len() != 24 || !leader.bytes().all(|b| (0x20..=0x7E).contains(&b)) {
        return Err(format!("the leader {leader:?} is not 24 ASCII characters"));
    }
    for f in &record.control_fields {
        if !is_tag(&f.tag) || !f.tag.starts_with("00") {
            return Err(format!(
                "control field tag {:?} is not 00 followed by a digit or letter",
                f.tag
            ));
        }
        text(&f.value).map_err(|c| format!("field {} {c}", f.tag))?;
    }
    for f in &record.data_fields {
        if !is_tag(&f.tag) || f.tag.starts_with("00") {
            return Err(format!(
                "data field tag {:?} is not three digits or letters outside 001–009",
                f.tag
            ));
        }
        for ind in [f.ind1, f.ind2] {
            if !(' '..='~').contains(&ind) {
                return Err(format!(
                    "field {} has the indicator {ind:?}, which is not an ASCII character",
                    f.tag
                ));
            }
        }
        for s in &f.subfields {
            if !('!'..='~').contains(&s.code) {
                return Err(format!(
                    "field {} has the subfield code {:?}, which is not an ASCII letter, digit or sign",
                    f.tag, s.code
                ));
            }
            text(&s.value).map_err(|c| format!("field {} ${} {c}", f.tag, s.code))?;
        }
    }
    Ok(())
}

fn is_tag(tag: &str) -> bool {
    tag.len() == 3 && tag.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Text both formats carry: no control character but tab, line feed and carriage return (ISO
/// 2709 uses 0x1D–0x1F as delimiters and XML 1.0 cannot hold the others, not even as character
/// references), and none of XML's two non-characters.
fn text(value: &str) -> Result<(), String> {
    match value.chars().find(|&c| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    }) {
        Some(c) => Err(format!(
            "holds the character U+{:04X}, which MARC files cannot carry as text",
            u32::from(c)
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shelfmark_core::marc::{ControlField, DataField, Subfield};

    fn record() -> Record {
        Record {
            leader: "00000nam a2200000 i 4500".to_owned(),
            control_fields: vec![ControlField {
                tag: "001".to_owned(),
                value: "ocm1".to_owned(),
            }],
            data_fields: vec![DataField {
                tag: "245".to_owned(),
                ind1: '1',
                ind2: '0',
                subfields: vec![Subfield {
                    code: 'a',
                    value: "Émile & <Sophie>\r\n".to_owned(),
                }],
            }],
        }
    }

    #[test]
    fn a_well_formed_record_is_writable() {
        assert_eq!(writable(&record()), Ok(()));
    }

    #[test]
    fn a_short_leader_is_not_writable() {
        let mut r = record();
        r.leader.pop();
        assert!(writable(&r).expect_err("is refused").contains("24 ASCII"));
    }

    #[test]
    fn a_control_field_tagged_like_a_data_field_is_not_writable() {
        let mut r = record();
        r.control_fields[0].tag = "245".to_owned();
        assert!(writable(&r).expect_err("is refused").contains("\"245\""));
    }

    #[test]
    fn a_data_field_tagged_like_a_control_field_is_not_writable() {
        let mut r = record();
        r.data_fields[0].tag = "008".to_owned();
        assert!(writable(&r).expect_err("is refused").contains("\"008\""));
    }

    #[test]
    fn a_subfield_delimiter_inside_text_is_not_writable() {
        let mut r = record();
        r.data_fields[0].subfields[0].value = "a\u{1F}b".to_owned();
        assert_eq!(
            writable(&r).expect_err("is refused"),
            "field 245 $a holds the character U+001F, which MARC files cannot carry as text"
        );
    }

    #[test]
    fn a_non_ascii_indicator_is_not_writable() {
        let mut r = record();
        r.data_fields[0].ind2 = 'é';
        assert!(writable(&r).expect_err("is refused").contains("indicator"));
    }
}
