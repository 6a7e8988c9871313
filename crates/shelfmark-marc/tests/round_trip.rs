//! Whatever records the writers take, reading their output gives the same records back, in
//! both formats; another implementation (the `marc` crate) reads the ISO 2709 output the same
//! way; and no damaged input makes the readers panic or run forever.

use proptest::prelude::*;
use shelfmark_core::marc::{ControlField, DataField, Record, Subfield};
use shelfmark_marc::{Entry, Format, MarcError, read, write_iso2709, write_marcxml};

/// Text the writers take: any character but the control characters neither format can hold,
/// with XML's markup characters, accents and line breaks over-represented.
fn text() -> impl Strategy<Value = String> {
    let char = prop_oneof![
        4 => any::<char>().prop_filter("carried by MARC", |&c| {
            (c >= ' ' || matches!(c, '\t' | '\n' | '\r'))
                && !matches!(c, '\u{FFFE}' | '\u{FFFF}')
        }),
        1 => prop::sample::select(vec!['<', '>', '&', '"', '\'', ';', 'é', 'ß', '中', '\r', '\n', '\t', ' ']),
    ];
    prop::collection::vec(char, 0..24).prop_map(|cs| cs.into_iter().collect())
}

fn record() -> impl Strategy<Value = Record> {
    let leader = "[0-9]{5}[acdnp][acdefgijkmoprt][abcdims][ a]a22[0-9]{5}[ 1-8uz][ aciu][ abc]4500";
    let control = ("00[1-9]", text()).prop_map(|(tag, value)| ControlField { tag, value });
    let subfield = ("[a-z0-9]", text()).prop_map(|(code, value)| Subfield {
        code: code.chars().next().unwrap_or('a'),
        value,
    });
    let indicator = prop::sample::select(vec![' ', '0', '1', '2', '4', '7', '9', 'a', '#']);
    let data = (
        10u16..=999,
        indicator.clone(),
        indicator,
        prop::collection::vec(subfield, 0..5),
    )
        .prop_map(|(tag, ind1, ind2, subfields)| DataField {
            tag: format!("{tag:03}"),
            ind1,
            ind2,
            subfields,
        });
    (
        leader,
        prop::collection::vec(control, 0..4),
        prop::collection::vec(data, 0..8),
    )
        .prop_map(|(leader, control_fields, data_fields)| Record {
            leader,
            control_fields,
            data_fields,
        })
}

/// The leader without the lengths and addresses the ISO 2709 writer computes.
fn without_lengths(mut r: Record) -> Record {
    r.leader.replace_range(0..5, "00000");
    r.leader.replace_range(12..17, "00000");
    r
}

fn read_all(bytes: &[u8], format: Format) -> Vec<Entry> {
    read(bytes, format)
        .collect::<Result<Vec<_>, _>>()
        .expect("the writer's output reads to its end")
}

fn check_entries(entries: &[Entry], records: &[Record], same: impl Fn(&Record, &Record) -> bool) {
    assert_eq!(entries.len(), records.len());
    for (i, (entry, record)) in entries.iter().zip(records).enumerate() {
        assert_eq!(entry.position, i + 1);
        assert_eq!(entry.control_number.as_deref(), record.control("001"));
        let back = entry
            .record
            .as_ref()
            .expect("a written record is read back");
        assert!(
            same(back, record),
            "read back:\n{back:?}\nwritten:\n{record:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn iso2709_written_then_read_gives_the_same_records(records in prop::collection::vec(record(), 0..6)) {
        let mut bytes = Vec::new();
        prop_assert_eq!(write_iso2709(&mut bytes, &records).expect("writes"), records.len());
        let entries = read_all(&bytes, Format::Iso2709);
        check_entries(&entries, &records, |a, b| without_lengths(a.clone()) == without_lengths(b.clone()));
    }

    #[test]
    fn marcxml_written_then_read_gives_the_same_records(records in prop::collection::vec(record(), 0..6)) {
        let mut bytes = Vec::new();
        prop_assert_eq!(write_marcxml(&mut bytes, &records).expect("writes"), records.len());
        let entries = read_all(&bytes, Format::MarcXml);
        check_entries(&entries, &records, |a, b| a == b);
    }

    #[test]
    fn the_marc_crate_reads_our_iso2709_as_we_wrote_it(records in prop::collection::vec(record(), 1..4)) {
        let mut bytes = Vec::new();
        write_iso2709(&mut bytes, &records).expect("writes");
        let theirs: Vec<marc::Record<'static>> = marc::Records::new(&bytes[..])
            .collect::<Result<_, _>>()
            .expect("as built");
        prop_assert_eq!(theirs.len(), records.len());
        for (their, ours) in theirs.iter().zip(&records) {
            prop_assert!(their.is_unicode().expect("has a coding scheme"));
            let fields: Vec<_> = their.fields().collect();
            prop_assert_eq!(fields.len(), ours.control_fields.len() + ours.data_fields.len());
            let (control, data) = fields.split_at(ours.control_fields.len());
            for (f, c) in control.iter().zip(&ours.control_fields) {
                prop_assert_eq!(f.get_tag().to_string(), format!("={}", c.tag));
                prop_assert_eq!(f.get_data::<[u8]>(), c.value.as_bytes());
            }
            for (f, d) in data.iter().zip(&ours.data_fields) {
                prop_assert_eq!(f.get_tag().to_string(), format!("={}", d.tag));
                let raw = f.get_data::<[u8]>();
                let indicators = format!("{}{}", d.ind1, d.ind2);
                prop_assert_eq!(&raw[..2], indicators.as_bytes());
                let subfields: Vec<(char, Vec<u8>)> = f
                    .subfields()
                    .map(|s| (char::from(s.get_identifier().0), s.get_data::<[u8]>().to_vec()))
                    .collect();
                let expected: Vec<(char, Vec<u8>)> = d
                    .subfields
                    .iter()
                    .map(|s| (s.code, s.value.as_bytes().to_vec()))
                    .collect();
                prop_assert_eq!(subfields, expected);
            }
        }
    }

    #[test]
    fn damaged_iso2709_never_panics_and_reading_ends(
        records in prop::collection::vec(record(), 1..4),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = Vec::new();
        write_iso2709(&mut bytes, &records).expect("writes");
        for (at, byte) in damage {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        read_to_the_end(&bytes, Format::Iso2709, records.len());
    }

    #[test]
    fn damaged_marcxml_never_panics_and_reading_ends(
        records in prop::collection::vec(record(), 1..4),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = Vec::new();
        write_marcxml(&mut bytes, &records).expect("writes");
        for (at, byte) in damage {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        read_to_the_end(&bytes, Format::MarcXml, records.len());
    }
}

/// Reads everything; there are never more entries than records were written (plus the final
/// error), and nothing comes after an error.
fn read_to_the_end(bytes: &[u8], format: Format, written: usize) {
    let mut reader = read(bytes, format);
    let mut seen = 0;
    while let Some(item) = reader.next() {
        seen += 1;
        assert!(seen <= written + 1, "more entries than records written");
        if item.is_err() {
            assert!(reader.next().is_none(), "an entry after the error");
            break;
        }
    }
}

#[test]
fn a_record_read_from_iso2709_is_written_as_marcxml_and_back_unchanged() {
    let record = Record {
        leader: "00000cam a2200000 i 4500".to_owned(),
        control_fields: vec![ControlField {
            tag: "001".to_owned(),
            value: "x & y".to_owned(),
        }],
        data_fields: vec![DataField {
            tag: "245".to_owned(),
            ind1: '1',
            ind2: '4',
            subfields: vec![Subfield {
                code: 'a',
                value: "The <b>bold</b> & the ‘brave’".to_owned(),
            }],
        }],
    };
    let mut iso = Vec::new();
    write_iso2709(&mut iso, [&record]).expect("writes");
    let from_iso = read_all(&iso, Format::Iso2709)
        .remove(0)
        .record
        .expect("the record is read");
    let mut xml = Vec::new();
    write_marcxml(&mut xml, [&from_iso]).expect("writes");
    let from_xml = read_all(&xml, Format::MarcXml)
        .remove(0)
        .record
        .expect("the record is read");
    assert_eq!(from_xml, from_iso);
    assert_eq!(without_lengths(from_xml), without_lengths(record));
}

#[test]
fn a_not_marc_error_reads_as_a_sentence() {
    let err = read(&b"{\"books\": []}"[..], Format::Iso2709)
        .next()
        .expect("an entry")
        .expect_err("is refused");
    assert!(matches!(err, MarcError::NotMarc(_)));
    assert_eq!(
        err.to_string(),
        "this is not a MARC file: it looks like JSON, not ISO 2709 or MARCXML"
    );
}
