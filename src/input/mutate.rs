//! Mutations of a text, as typos, bad merges and careless tools make them: what the properties
//! over every reader feed it (README, "Bad input"). Tests only: the crate's unit tests and,
//! through the `test-util` feature, the integration tests.

use proptest::prelude::*;

/// One edit of a text, at a position given as a fraction of its length.
#[derive(Clone, Debug)]
pub enum Edit {
    Insert(f64, &'static str),
    InsertChar(f64, char),
    Delete(f64, usize),
    Truncate(f64),
    DuplicateLine(f64),
    Indent(f64, bool),
}

/// What a typo, a bad merge or a careless tool leaves in YAML.
pub const TOKENS: [&str; 29] = [
    "[",
    "]",
    "{",
    "}",
    ": ",
    "- ",
    "\t",
    "&a ",
    "*a",
    "!tag ",
    "'",
    "\"",
    "# ",
    "\n",
    "---\n",
    "\0",
    "|",
    ">",
    "? ",
    "%YAML 1.1\n",
    "&a [*a]",
    "\u{feff}",
    ",",
    "\r\n",
    "  ",
    "...\n",
    "\\u",
    "1e999",
    "null",
];

/// A list of edits of any kind, its length in `count`.
pub fn edits(count: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Edit>> {
    proptest::collection::vec(edit(), count)
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0.0..1.0f64, proptest::sample::select(TOKENS.to_vec())).prop_map(|(at, t)| Edit::Insert(at, t)),
        (0.0..1.0f64, proptest::char::range(' ', '~')).prop_map(|(at, c)| Edit::InsertChar(at, c)),
        (0.0..1.0f64, 1..40usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        (0.0..1.0f64).prop_map(Edit::Truncate),
        (0.0..1.0f64).prop_map(Edit::DuplicateLine),
        (0.0..1.0f64, any::<bool>()).prop_map(|(at, more)| Edit::Indent(at, more)),
    ]
}

/// The char boundary nearest below `at` of `text`.
fn position(text: &str, at: f64) -> usize {
    let mut i = ((text.len() as f64) * at) as usize;
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i.min(text.len())
}

/// `seed` with `edits` made in order.
pub fn apply(seed: &str, edits: &[Edit]) -> String {
    let mut text = seed.to_string();
    for edit in edits {
        match *edit {
            Edit::Insert(at, token) => text.insert_str(position(&text, at), token),
            Edit::InsertChar(at, c) => text.insert(position(&text, at), c),
            Edit::Delete(at, n) => {
                let start = position(&text, at);
                let mut end = (start + n).min(text.len());
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                text.replace_range(start..end, "");
            }
            Edit::Truncate(at) => text.truncate(position(&text, at)),
            Edit::DuplicateLine(at) | Edit::Indent(at, _) => {
                let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
                if lines.is_empty() {
                    continue;
                }
                let i = ((lines.len() as f64) * at) as usize % lines.len();
                match *edit {
                    Edit::DuplicateLine(_) => lines.insert(i, lines[i].clone()),
                    Edit::Indent(_, true) => lines[i].insert_str(0, "  "),
                    _ => lines[i] = lines[i].strip_prefix("  ").unwrap_or(&lines[i]).to_string(),
                }
                text = lines.join("\n") + "\n";
            }
        }
    }
    text
}
