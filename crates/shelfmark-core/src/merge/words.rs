//! Word-level changes inside lines.
//!
//! A conflict or a changed field is shown line by line, but a librarian fixing a typo changes
//! one word: the UI highlights the words that changed, on each side, from these lists.

use similar::{ChangeTag, TextDiff};

/// What happened to a run of words going from the old text to the new.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum WordTag {
    Same,
    Removed,
    Added,
}

/// A run of words (with the whitespace between them) that share a tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WordChange {
    pub tag: WordTag,
    pub text: String,
}

/// The word-level diff from `old` to `new`: `Same` and `Removed` runs spell `old`, `Same` and
/// `Added` runs spell `new`. Adjacent runs with the same tag are joined.
pub fn word_changes(old: &str, new: &str) -> Vec<WordChange> {
    let diff = TextDiff::from_words(old, new);
    let mut out: Vec<WordChange> = Vec::new();
    for change in diff.iter_all_changes() {
        let tag = match change.tag() {
            ChangeTag::Equal => WordTag::Same,
            ChangeTag::Delete => WordTag::Removed,
            ChangeTag::Insert => WordTag::Added,
        };
        match out.last_mut() {
            Some(last) if last.tag == tag => last.text.push_str(change.value()),
            _ => out.push(WordChange {
                tag,
                text: change.value().to_owned(),
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spell(changes: &[WordChange], keep: WordTag) -> String {
        changes
            .iter()
            .filter(|c| c.tag == WordTag::Same || c.tag == keep)
            .map(|c| c.text.as_str())
            .collect()
    }

    #[test]
    fn a_changed_word_is_the_only_highlight_in_its_line() {
        let changes = word_changes("A history of the book\n", "A history of the codex\n");
        let changed: Vec<_> = changes
            .iter()
            .filter(|c| c.tag != WordTag::Same)
            .map(|c| (c.tag, c.text.as_str()))
            .collect();
        assert_eq!(
            changed,
            [(WordTag::Removed, "book"), (WordTag::Added, "codex")]
        );
    }

    #[test]
    fn the_runs_spell_both_texts() {
        let (old, new) = ("one two three\nfour\n", "one 2 three\nfour five\n");
        let changes = word_changes(old, new);
        assert_eq!(spell(&changes, WordTag::Removed), old);
        assert_eq!(spell(&changes, WordTag::Added), new);
    }
}
