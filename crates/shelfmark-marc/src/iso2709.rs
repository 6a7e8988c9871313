//! ISO 2709, the binary MARC exchange format: a 24-byte leader, a directory of 12-byte entries
//! (tag, length, offset), then the fields, each ended by 0x1E, and the record by 0x1D.
//!
//! Records are framed by their terminator and the leader's length is checked against where the
//! terminator is. On a good file that is the same as reading by the length; on a damaged one it
//! means a record whose length is wrong is rejected on its own and the next record is still
//! found (0x1D occurs nowhere else: it is not a MARC-8 or UTF-8 text byte). At most 99,999
//! bytes (the largest record the five-digit length allows) are read looking for it, so memory
//! stays at one record whatever the file.

use std::borrow::Borrow;
use std::io::{BufRead, Read, Write};

use shelfmark_core::marc::{ControlField, DataField, Record, Subfield};

use super::check;
use super::marc8;
use crate::{Entry, MarcError};

const RECORD_TERMINATOR: u8 = 0x1D;
const FIELD_TERMINATOR: u8 = 0x1E;
const SUBFIELD_DELIMITER: u8 = 0x1F;
const LEADER_LEN: usize = 24;
const ENTRY_LEN: usize = 12;
const MAX_RECORD_LEN: usize = 99_999;
const MAX_FIELD_LEN: usize = 9_999;

pub(crate) struct IsoReader<R> {
    input: R,
    /// The current record's bytes; reused, so reading allocates per field, not per record.
    buf: Vec<u8>,
    directory: Vec<DirEntry>,
    decoder: marc8::Decoder,
    /// Records framed so far.
    framed: usize,
    done: bool,
}

#[derive(Clone, Copy)]
struct DirEntry {
    tag: [u8; 3],
    /// The field's bytes, without its terminator, inside the record.
    start: usize,
    end: usize,
}

impl<R: BufRead> IsoReader<R> {
    pub(crate) fn new(input: R) -> Self {
        Self {
            input,
            buf: Vec::with_capacity(4096),
            directory: Vec::with_capacity(32),
            decoder: marc8::Decoder::new(),
            framed: 0,
            done: false,
        }
    }

    /// Reads the next record's bytes into `buf`: `Ok(false)` at the end of the file.
    fn frame(&mut self) -> Result<bool, MarcError> {
        loop {
            let available = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if available.is_empty() {
                return Ok(false);
            }
            // Line breaks between records (and a byte-order mark before the first) are
            // common in exported files and cannot start a record.
            let rest = if self.framed == 0 {
                crate::skip_bom_and_space(available)
            } else {
                let n = available
                    .iter()
                    .position(|b| !b.is_ascii_whitespace())
                    .unwrap_or(available.len());
                &available[n..]
            };
            let skipped = available.len() - rest.len();
            if skipped == 0 {
                if self.framed == 0 {
                    let head = &rest[..rest.len().min(5)];
                    if !head.iter().all(u8::is_ascii_digit) {
                        return Err(MarcError::NotMarc(match crate::detect(rest) {
                            Ok(crate::Format::MarcXml) => "it is XML, not ISO 2709".to_owned(),
                            Err(MarcError::NotMarc(why)) => why,
                            Ok(_) | Err(_) => {
                                "it does not start with a five-digit record length".to_owned()
                            }
                        }));
                    }
                }
                break;
            }
            self.input.consume(skipped);
        }
        self.buf.clear();
        let n = (&mut self.input)
            .take(MAX_RECORD_LEN as u64)
            .read_until(RECORD_TERMINATOR, &mut self.buf)?;
        if self.buf.last() == Some(&RECORD_TERMINATOR) {
            Ok(true)
        } else if n < MAX_RECORD_LEN {
            Err(MarcError::Truncated {
                position: self.framed,
            })
        } else {
            Err(MarcError::NoRecordTerminator {
                position: self.framed,
            })
        }
    }
}

impl<R: BufRead> Iterator for IsoReader<R> {
    type Item = Result<Entry, MarcError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.frame() {
            Ok(true) => {}
            Ok(false) => {
                self.done = true;
                return None;
            }
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        }
        self.framed += 1;
        let bytes = &self.buf[..];
        let record = parse(bytes, &mut self.directory, &mut self.decoder);
        let control_number = match &record {
            Ok(r) => r.control("001").map(str::to_owned),
            Err(_) => read_leader(bytes)
                .ok()
                .and_then(|l| control_number(bytes, l.base)),
        };
        Some(Ok(Entry {
            position: self.framed,
            control_number,
            record,
        }))
    }
}

struct Leader {
    length: usize,
    base: usize,
}

fn digits(bytes: &[u8]) -> Option<usize> {
    bytes.iter().try_fold(0usize, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + usize::from(b - b'0'))
    })
}

fn read_leader(bytes: &[u8]) -> Result<Leader, String> {
    // A leader, the directory's terminator and the record's.
    if bytes.len() < LEADER_LEN + 2 {
        return Err(format!(
            "the record is {} bytes long, too short to hold a leader",
            bytes.len()
        ));
    }
    let leader = &bytes[..LEADER_LEN];
    let length = digits(&leader[0..5]).ok_or_else(|| {
        format!(
            "the leader's record length \"{}\" is not five digits",
            leader[0..5].escape_ascii()
        )
    })?;
    let base = digits(&leader[12..17]).ok_or_else(|| {
        format!(
            "the leader's base address of data \"{}\" is not five digits",
            leader[12..17].escape_ascii()
        )
    })?;
    Ok(Leader { length, base })
}

/// The 001 of a record, found even when the rest of the record is damaged, to name it.
fn control_number(bytes: &[u8], base: usize) -> Option<String> {
    let directory = bytes.get(LEADER_LEN..base.checked_sub(1)?)?;
    let entry = directory
        .chunks_exact(ENTRY_LEN)
        .find(|e| e.starts_with(b"001"))?;
    let len = digits(&entry[3..7])?;
    let start = base.checked_add(digits(&entry[7..12])?)?;
    let field = bytes.get(start..start.checked_add(len)?.checked_sub(1)?)?;
    std::str::from_utf8(field).ok().map(str::to_owned)
}

fn parse(
    bytes: &[u8],
    directory: &mut Vec<DirEntry>,
    decoder: &mut marc8::Decoder,
) -> Result<Record, String> {
    let Leader { length, base } = read_leader(bytes)?;
    if length != bytes.len() {
        return Err(format!(
            "the leader gives a record length of {length} bytes, but the record terminator comes after {} bytes",
            bytes.len()
        ));
    }
    let leader = std::str::from_utf8(&bytes[..LEADER_LEN])
        .ok()
        .filter(|l| l.is_ascii())
        .ok_or("the leader is not ASCII")?;
    let marc8 = match bytes[9] {
        b'a' => false,
        b' ' => !mislabelled_utf8(&bytes[base.min(bytes.len())..]),
        other => {
            return Err(format!(
                "leader/09 is \"{}\": neither blank (MARC-8) nor 'a' (Unicode)",
                [other].escape_ascii()
            ));
        }
    };
    read_directory(bytes, base, directory)?;

    let mut record = Record {
        leader: leader.to_owned(),
        control_fields: Vec::new(),
        data_fields: Vec::with_capacity(directory.len()),
    };
    let text = |data: &[u8], decoder: &mut marc8::Decoder, tag: &str, code: Option<char>| {
        let place = || match code {
            Some(code) => format!("field {tag} ${code}"),
            None => format!("field {tag}"),
        };
        if marc8 {
            decoder
                .decode(data)
                .map_err(|why| format!("{}: {why}", place()))
        } else {
            match std::str::from_utf8(data) {
                Ok(s) => Ok(s.to_owned()),
                Err(e) => Err(format!(
                    "{} is not valid UTF-8 (at its byte {})",
                    place(),
                    e.valid_up_to() + 1
                )),
            }
        }
    };
    for entry in directory.iter() {
        // The directory check made sure tags are ASCII.
        let tag: String = entry.tag.iter().map(|&b| char::from(b)).collect();
        let data = &bytes[entry.start..entry.end];
        decoder.reset();
        if tag.starts_with("00") {
            let value = text(data, decoder, &tag, None)?;
            record.control_fields.push(ControlField { tag, value });
            continue;
        }
        let (ind1, ind2, rest) = match data {
            [i1, i2, rest @ ..] if is_indicator(*i1) && is_indicator(*i2) => {
                (char::from(*i1), char::from(*i2), rest)
            }
            _ => return Err(format!("field {tag} has no indicators")),
        };
        let mut subfields = Vec::new();
        match rest.split_first() {
            None => {}
            Some((&SUBFIELD_DELIMITER, rest)) => {
                let mut from = 0;
                let ends = memchr::memchr_iter(SUBFIELD_DELIMITER, rest).chain([rest.len()]);
                for to in ends {
                    let (code, value) = match rest[from..to].split_first() {
                        Some((&c, value)) if c.is_ascii_graphic() => (char::from(c), value),
                        Some(_) => {
                            return Err(format!(
                                "field {tag} has a subfield code that is not an ASCII letter or digit"
                            ));
                        }
                        None => return Err(format!("field {tag} has a subfield with no code")),
                    };
                    let value = text(value, decoder, &tag, Some(code))?;
                    subfields.push(Subfield { code, value });
                    from = to + 1;
                }
            }
            Some(_) => return Err(format!("field {tag} has text before its first subfield")),
        }
        record.data_fields.push(DataField {
            tag,
            ind1,
            ind2,
            subfields,
        });
    }
    Ok(record)
}

/// Whether a record whose leader says MARC-8 holds UTF-8 text, as some systems export: its
/// text is valid UTF-8 with non-ASCII characters and no escape sequences. MARC-8 text almost
/// never is, since a diacritic followed by a plain letter (`0xE2 'e'`) is not valid UTF-8, so
/// such a record is read as UTF-8 instead of being turned into wrong letters.
fn mislabelled_utf8(data: &[u8]) -> bool {
    !data.is_ascii() && memchr::memchr(0x1B, data).is_none() && std::str::from_utf8(data).is_ok()
}

fn is_indicator(b: u8) -> bool {
    (0x20..=0x7E).contains(&b)
}

/// Checks the directory's shape and that each entry points at a field inside the record that
/// ends with a field terminator, and fills `directory`.
fn read_directory(bytes: &[u8], base: usize, directory: &mut Vec<DirEntry>) -> Result<(), String> {
    directory.clear();
    // The data ends before the record terminator.
    let data_end = bytes.len() - 1;
    if base < LEADER_LEN + 1 || base > data_end {
        return Err(format!(
            "the leader's base address of data ({base}) is outside the record"
        ));
    }
    if bytes[base - 1] != FIELD_TERMINATOR {
        return Err(format!(
            "the directory does not end with a field terminator before the base address of data ({base})"
        ));
    }
    let raw = &bytes[LEADER_LEN..base - 1];
    if !raw.len().is_multiple_of(ENTRY_LEN) {
        return Err(format!(
            "the directory is {} bytes long, not a whole number of 12-byte entries",
            raw.len()
        ));
    }
    for (i, e) in raw.chunks_exact(ENTRY_LEN).enumerate() {
        let n = i + 1;
        let tag = [e[0], e[1], e[2]];
        if !tag.iter().all(u8::is_ascii_alphanumeric) {
            return Err(format!(
                "directory entry {n} has the tag \"{}\", not three digits or letters",
                tag.escape_ascii()
            ));
        }
        let shown = || tag.iter().map(|&b| char::from(b)).collect::<String>();
        let (Some(len), Some(offset)) = (digits(&e[3..7]), digits(&e[7..12])) else {
            return Err(format!(
                "directory entry {n} (tag {}) has a length or offset that is not digits",
                shown()
            ));
        };
        let start = base + offset;
        let end = start + len;
        if len == 0 || end > data_end {
            return Err(format!(
                "directory entry {n} (tag {}) points past the end of the record",
                shown()
            ));
        }
        if bytes[end - 1] != FIELD_TERMINATOR {
            return Err(format!(
                "directory entry {n} (tag {}) does not end at a field terminator",
                shown()
            ));
        }
        directory.push(DirEntry {
            tag,
            start,
            end: end - 1,
        });
    }
    Ok(())
}

/// Writes `records` as ISO 2709 with leader/09 `a` (UTF-8), lengths, base addresses and
/// directories computed; control fields first, then data fields, each in the record's order.
/// Returns how many records were written. A record that cannot be written (see
/// [`MarcError::Unwritable`]) stops the writing, with the records before it written whole.
pub fn write_iso2709<W, I>(mut out: W, records: I) -> Result<usize, MarcError>
where
    W: Write,
    I: IntoIterator,
    I::Item: Borrow<Record>,
{
    let mut buf = Vec::with_capacity(4096);
    let mut written = 0;
    for record in records {
        let position = written + 1;
        encode(record.borrow(), &mut buf)
            .map_err(|reason| MarcError::Unwritable { position, reason })?;
        out.write_all(&buf)?;
        written = position;
    }
    out.flush()?;
    Ok(written)
}

/// One record's ISO 2709 bytes into `buf`.
fn encode(record: &Record, buf: &mut Vec<u8>) -> Result<(), String> {
    check::writable(record)?;
    let fields = record.control_fields.len() + record.data_fields.len();
    let base = LEADER_LEN + fields * ENTRY_LEN + 1;

    buf.clear();
    buf.extend_from_slice(record.leader.as_bytes());
    let mut offset = 0;
    let mut entry = |buf: &mut Vec<u8>, tag: &str, len: usize| -> Result<(), String> {
        if len > MAX_FIELD_LEN {
            return Err(format!(
                "field {tag} is {len} bytes, more than ISO 2709's {MAX_FIELD_LEN}"
            ));
        }
        if offset > MAX_RECORD_LEN {
            return Err(format!(
                "the record is longer than ISO 2709's {MAX_RECORD_LEN} bytes"
            ));
        }
        buf.extend_from_slice(tag.as_bytes());
        write!(buf, "{len:04}{offset:05}").map_err(|e| e.to_string())?;
        offset += len;
        Ok(())
    };
    for f in &record.control_fields {
        entry(buf, &f.tag, f.value.len() + 1)?;
    }
    for f in &record.data_fields {
        let len = 2 + f.subfields.iter().map(|s| 2 + s.value.len()).sum::<usize>() + 1;
        entry(buf, &f.tag, len)?;
    }
    buf.push(FIELD_TERMINATOR);
    let length = base + offset + 1;
    if length > MAX_RECORD_LEN {
        return Err(format!(
            "the record is {length} bytes, more than ISO 2709's {MAX_RECORD_LEN}"
        ));
    }
    for f in &record.control_fields {
        buf.extend_from_slice(f.value.as_bytes());
        buf.push(FIELD_TERMINATOR);
    }
    for f in &record.data_fields {
        // `check::writable` made sure indicators and codes are ASCII, so one byte each.
        buf.push(f.ind1 as u8);
        buf.push(f.ind2 as u8);
        for s in &f.subfields {
            buf.push(SUBFIELD_DELIMITER);
            buf.push(s.code as u8);
            buf.extend_from_slice(s.value.as_bytes());
        }
        buf.push(FIELD_TERMINATOR);
    }
    buf.push(RECORD_TERMINATOR);

    // The leader's structural positions: lengths, UTF-8, two indicators, one-byte subfield
    // codes, and the directory's entry map ("4500").
    let mut head = [0u8; LEADER_LEN];
    head.copy_from_slice(&buf[..LEADER_LEN]);
    write!(&mut head[0..5], "{length:05}").map_err(|e| e.to_string())?;
    head[9] = b'a';
    head[10] = b'2';
    head[11] = b'2';
    write!(&mut head[12..17], "{base:05}").map_err(|e| e.to_string())?;
    head[20..24].copy_from_slice(b"4500");
    buf[..LEADER_LEN].copy_from_slice(&head);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(leader: &str) -> Record {
        Record {
            leader: leader.to_owned(),
            control_fields: vec![
                ControlField {
                    tag: "001".to_owned(),
                    value: "rec-1".to_owned(),
                },
                ControlField {
                    tag: "008".to_owned(),
                    value: "200101s2001    xx            000 0 eng d".to_owned(),
                },
            ],
            data_fields: vec![
                DataField {
                    tag: "245".to_owned(),
                    ind1: '1',
                    ind2: '0',
                    subfields: vec![
                        Subfield {
                            code: 'a',
                            value: "Les misérables /".to_owned(),
                        },
                        Subfield {
                            code: 'c',
                            value: "Victor Hugo.".to_owned(),
                        },
                    ],
                },
                DataField {
                    tag: "020".to_owned(),
                    ind1: ' ',
                    ind2: ' ',
                    subfields: vec![Subfield {
                        code: 'a',
                        value: "9780140444308".to_owned(),
                    }],
                },
            ],
        }
    }

    fn with_id(id: &str) -> Record {
        let mut r = record("00000nam a2200000 i 4500");
        r.control_fields[0].value = id.to_owned();
        r
    }

    fn bytes(records: &[Record]) -> Vec<u8> {
        let mut out = Vec::new();
        write_iso2709(&mut out, records).expect("writes");
        out
    }

    fn entries(input: &[u8]) -> Vec<Result<Entry, String>> {
        IsoReader::new(input)
            .map(|e| e.map_err(|e| e.to_string()))
            .collect()
    }

    /// Patches `bytes` at `at` (a record's raw bytes as the writer made them).
    fn patched(mut bytes: Vec<u8>, at: usize, with: &[u8]) -> Vec<u8> {
        bytes[at..at + with.len()].copy_from_slice(with);
        bytes
    }

    #[test]
    fn a_written_record_reads_back_equal() {
        let r = record("00000nam a2200000 i 4500");
        let out = bytes(std::slice::from_ref(&r));
        let read = entries(&out);
        assert_eq!(read.len(), 1);
        let entry = read[0].as_ref().expect("as built");
        assert_eq!(entry.position, 1);
        assert_eq!(entry.control_number.as_deref(), Some("rec-1"));
        let back = entry.record.as_ref().expect("the record is read");
        assert_eq!(back.control_fields, r.control_fields);
        assert_eq!(back.data_fields, r.data_fields);
        assert_eq!(&back.leader[5..9], "nam ");
    }

    #[test]
    fn the_writer_sets_lengths_base_address_and_unicode_in_the_leader() {
        // A MARC-8 leader with stale lengths: the written one is UTF-8 with the real ones.
        let out = bytes(&[record("99999cam  2299999 a 4500")]);
        let leader = std::str::from_utf8(&out[..24]).expect("is UTF-8");
        assert_eq!(&leader[0..5], format!("{:05}", out.len()));
        let base: usize = leader[12..17].parse().expect("parses");
        assert_eq!(base, 24 + 4 * 12 + 1);
        assert_eq!(out[base - 1], FIELD_TERMINATOR);
        assert_eq!(&leader[5..12], "cam a22");
        assert_eq!(&leader[17..24], " a 4500");
        assert_eq!(out.last(), Some(&RECORD_TERMINATOR));
    }

    #[test]
    fn the_written_bytes_equal_the_marc_crates_builder_for_fields_in_tag_order() {
        let mut ours = record("00000nam a2200000 i 4500");
        ours.data_fields.reverse(); // 020 before 245, the builder's order
        let mut builder = marc::RecordBuilder::new();
        builder.set_character_coding_scheme(marc::CharacterCodingScheme::UcsUnicode);
        builder
            .add_field((b"001", "rec-1"))
            .expect("the marc crate takes it")
            .add_field((b"008", "200101s2001    xx            000 0 eng d"))
            .expect("the marc crate takes it")
            .add_field((b"020", "  \x1fa9780140444308"))
            .expect("the marc crate takes it")
            .add_field((b"245", "10\x1faLes misérables /\x1fcVictor Hugo."))
            .expect("the marc crate takes it");
        let theirs = builder.get_record().expect("the marc crate builds it");
        assert_eq!(bytes(&[ours]), theirs.as_ref());
    }

    #[test]
    fn records_separated_by_line_breaks_are_all_read() {
        let mut input = b"\r\n".to_vec();
        input.extend(bytes(&[with_id("a")]));
        input.extend(b"\n");
        input.extend(bytes(&[with_id("b")]));
        input.extend(b"\r\n");
        let ids: Vec<_> = entries(&input)
            .into_iter()
            .map(|e| e.expect("as built").control_number.expect("as built"))
            .collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn a_file_truncated_inside_its_third_record_is_an_error_after_record_two() {
        let mut input = bytes(&[with_id("a"), with_id("b"), with_id("c")]);
        input.truncate(input.len() - 40);
        let read = entries(&input);
        assert_eq!(read.len(), 3);
        assert!(read[0].as_ref().expect("the record is read").record.is_ok());
        assert!(read[1].as_ref().expect("the record is read").record.is_ok());
        assert_eq!(
            read[2].as_ref().expect_err("is refused"),
            "the file is truncated after record 2"
        );
    }

    #[test]
    fn a_file_without_any_record_terminator_is_truncated_in_its_first_record() {
        let mut input = bytes(&[with_id("a")]);
        input.pop();
        let mut reader = IsoReader::new(&input[..]);
        assert!(matches!(
            reader.next(),
            Some(Err(MarcError::Truncated { position: 0 }))
        ));
        assert!(reader.next().is_none());
    }

    #[test]
    fn a_large_file_without_record_terminators_is_refused_after_99999_bytes() {
        let mut input = b"00100".to_vec();
        input.resize(300_000, b'x');
        let mut reader = IsoReader::new(&input[..]);
        assert!(matches!(
            reader.next(),
            Some(Err(MarcError::NoRecordTerminator { position: 0 }))
        ));
        assert!(reader.next().is_none());
    }

    #[test]
    fn a_wrong_record_length_in_the_leader_rejects_that_record_and_reading_goes_on() {
        let first = bytes(&[with_id("a")]);
        let real = first.len();
        let wrong = patched(first, 0, format!("{:05}", real + 3).as_bytes());
        let mut input = wrong;
        input.extend(bytes(&[with_id("b")]));
        let read = entries(&input);
        assert_eq!(read.len(), 2);
        let bad = read[0].as_ref().expect("as built");
        assert_eq!(bad.control_number.as_deref(), Some("a"));
        assert_eq!(
            bad.record.as_ref().expect_err("is refused"),
            &format!(
                "the leader gives a record length of {} bytes, but the record terminator comes after {real} bytes",
                real + 3
            )
        );
        let good = read[1].as_ref().expect("as built");
        assert_eq!(good.position, 2);
        assert!(good.record.is_ok());
    }

    #[test]
    fn a_record_length_that_is_not_digits_rejects_the_record() {
        let mut input = bytes(&[with_id("a")]);
        input.extend(patched(bytes(&[with_id("b")]), 0, b"0x1A3"));
        let read = entries(&input);
        assert!(
            read[1]
                .as_ref()
                .expect("as built")
                .record
                .as_ref()
                .expect_err("is refused")
                .contains("\"0x1A3\" is not five digits")
        );
    }

    #[test]
    fn a_directory_entry_pointing_past_the_record_rejects_the_record() {
        // The third entry (245, the first data field) gets an offset far past the end.
        let good = bytes(&[with_id("a")]);
        let broken = patched(good, 24 + 2 * 12 + 7, b"90000");
        let mut input = broken;
        input.extend(bytes(&[with_id("b")]));
        let read = entries(&input);
        let bad = read[0].as_ref().expect("as built");
        assert_eq!(bad.control_number.as_deref(), Some("a"));
        assert_eq!(
            bad.record.as_ref().expect_err("is refused"),
            "directory entry 3 (tag 245) points past the end of the record"
        );
        assert!(read[1].as_ref().expect("the record is read").record.is_ok());
    }

    #[test]
    fn a_directory_entry_not_ending_at_a_field_terminator_rejects_the_record() {
        let good = bytes(&[with_id("a")]);
        // 008's length one too short: its last byte is then text, not 0x1E.
        let broken = patched(good, 24 + 12 + 3, b"0040");
        let bad = entries(&broken).remove(0).expect("an entry");
        assert_eq!(
            bad.record.expect_err("is refused"),
            "directory entry 2 (tag 008) does not end at a field terminator"
        );
    }

    #[test]
    fn a_directory_of_partial_entries_rejects_the_record() {
        // A base address one byte later than the directory's end.
        let good = bytes(&[with_id("a")]);
        let base: usize = std::str::from_utf8(&good[12..17])
            .expect("is UTF-8")
            .parse()
            .expect("is UTF-8");
        let broken = patched(good, 12, format!("{:05}", base + 1).as_bytes());
        let bad = entries(&broken).remove(0).expect("an entry");
        assert!(
            bad.record
                .expect_err("is refused")
                .contains("does not end with a field terminator"),
        );
    }

    #[test]
    fn a_directory_entry_with_letters_for_its_length_rejects_the_record() {
        let good = bytes(&[with_id("a")]);
        let broken = patched(good, 24 + 3, b"00x6");
        let bad = entries(&broken).remove(0).expect("an entry");
        assert_eq!(
            bad.record.expect_err("is refused"),
            "directory entry 1 (tag 001) has a length or offset that is not digits"
        );
    }

    #[test]
    fn invalid_utf8_in_a_unicode_record_rejects_it_naming_the_subfield() {
        let good = bytes(&[with_id("a")]);
        // "Les misérables": é is 0xC3 0xA9; make the second byte not a continuation.
        let at = good
            .windows(2)
            .position(|w| w == [0xC3, 0xA9])
            .expect("found");
        let broken = patched(good, at + 1, b"(");
        let mut input = broken;
        input.extend(bytes(&[with_id("b")]));
        let read = entries(&input);
        assert_eq!(
            read[0]
                .as_ref()
                .expect("the record is read")
                .record
                .as_ref()
                .expect_err("is refused"),
            "field 245 $a is not valid UTF-8 (at its byte 8)"
        );
        assert!(read[1].as_ref().expect("the record is read").record.is_ok());
    }

    #[test]
    fn a_file_that_is_not_marc_is_refused_at_once() {
        let png = b"\x89PNG\r\n\x1A\n\0\0\0\rIHDR\0\0\x01\0";
        let mut reader = IsoReader::new(&png[..]);
        match reader.next() {
            Some(Err(MarcError::NotMarc(why))) => assert!(why.contains("PNG"), "{why}"),
            other => panic!("expected NotMarc, got {other:?}"),
        }
        assert!(reader.next().is_none());
    }

    #[test]
    fn an_empty_file_has_no_records() {
        assert!(entries(b"").is_empty());
        assert!(entries(b"\n\n").is_empty());
    }

    /// A MARC-8 record made by hand: leader/09 blank, one 245 with the given subfield bytes.
    fn marc8_record(id: &str, title: &[u8]) -> Vec<u8> {
        let f001 = [id.as_bytes(), &[FIELD_TERMINATOR]].concat();
        let f245 = [b"10\x1Fa", title, &[FIELD_TERMINATOR]].concat();
        let base = 24 + 2 * 12 + 1;
        let length = base + f001.len() + f245.len() + 1;
        let mut out = format!("{length:05}nam  22{base:05} a 4500").into_bytes();
        out.extend(format!("001{:04}00000", f001.len()).bytes());
        out.extend(format!("245{:04}{:05}", f245.len(), f001.len()).bytes());
        out.push(FIELD_TERMINATOR);
        out.extend(f001);
        out.extend(f245);
        out.push(RECORD_TERMINATOR);
        out
    }

    #[test]
    fn a_marc8_record_has_its_ansel_diacritics_decoded_to_utf8() {
        let input = marc8_record("m8", b"Les mis\xE2erables / \xE1a la \xE8Uber");
        let entry = entries(&input).remove(0).expect("an entry");
        let record = entry.record.expect("the record is read");
        assert_eq!(
            record.data_fields[0].first('a'),
            Some("Les misérables / à la Über")
        );
        // The leader is kept as read: leader/09 still says MARC-8.
        assert_eq!(record.leader.as_bytes()[9], b' ');
    }

    #[test]
    fn a_marc8_record_with_an_escape_to_cyrillic_is_rejected_with_the_reason() {
        let mut input = marc8_record("cyr", b"\x1B(NVojna i mir\x1B(B");
        input.extend(marc8_record("lat", b"War and peace"));
        let read = entries(&input);
        let bad = read[0].as_ref().expect("as built");
        assert_eq!(bad.control_number.as_deref(), Some("cyr"));
        assert_eq!(
            bad.record.as_ref().expect_err("is refused"),
            "field 245 $a: MARC-8 character set Basic Cyrillic is not supported"
        );
        assert!(read[1].as_ref().expect("the record is read").record.is_ok());
    }

    #[test]
    fn a_record_labelled_marc8_whose_text_is_utf8_is_read_as_utf8() {
        let input = marc8_record("u8", "Les misérables / Łódź".as_bytes());
        let record = entries(&input)
            .remove(0)
            .expect("an entry")
            .record
            .expect("the record is read");
        assert_eq!(
            record.data_fields[0].first('a'),
            Some("Les misérables / Łódź")
        );
    }

    #[test]
    fn an_unknown_character_coding_scheme_rejects_the_record() {
        let input = patched(bytes(&[with_id("a")]), 9, b"z");
        let bad = entries(&input).remove(0).expect("an entry");
        assert!(bad.record.expect_err("is refused").contains("leader/09"));
    }

    #[test]
    fn a_record_too_long_for_iso2709_is_not_written() {
        let mut r = with_id("a");
        for _ in 0..20 {
            r.data_fields.push(DataField {
                tag: "500".to_owned(),
                ind1: ' ',
                ind2: ' ',
                subfields: vec![Subfield {
                    code: 'a',
                    value: "x".repeat(9_000),
                }],
            });
        }
        let mut out = Vec::new();
        let err = write_iso2709(&mut out, [with_id("ok"), r]).expect_err("is refused");
        assert!(
            matches!(&err, MarcError::Unwritable { position: 2, reason } if reason.contains("99999")),
            "{err}"
        );
        // The first record was written whole, nothing of the second.
        assert_eq!(entries(&out).len(), 1);
    }

    #[test]
    fn a_field_too_long_for_iso2709_is_not_written() {
        let mut r = with_id("a");
        r.data_fields[0].subfields[0].value = "x".repeat(10_000);
        let err = write_iso2709(Vec::new(), [r]).expect_err("is refused");
        assert!(
            err.to_string()
                .contains("field 245 is 10019 bytes, more than ISO 2709's 9999"),
            "{err}"
        );
    }
}
