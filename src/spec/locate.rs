//! Finds where a YAML path (`projections.W1.to`, `motifs[1].tau_w`) sits in the source text.
//!
//! serde reports locations only for syntax and type errors. Errors found later (a dangling name,
//! a shape mismatch) still need to point at a line, so this module indexes every key of the
//! document by its path, for block style and for one-line flow mappings (`{from: x, to: h}`).
//! It is an index for error messages, not a YAML parser: the document has already parsed.

use std::fmt;

/// One step of a YAML path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path from the document root, e.g. `populations.h.tau`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct YamlPath(pub Vec<Seg>);

impl YamlPath {
    pub fn root() -> Self {
        YamlPath(Vec::new())
    }
    pub fn key(&self, key: &str) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_string()));
        YamlPath(segs)
    }
    pub fn index(&self, index: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        YamlPath(segs)
    }
    /// Builds a path from keys, e.g. `YamlPath::of(&["populations", "h", "tau"])`.
    pub fn of(keys: &[&str]) -> Self {
        YamlPath(keys.iter().map(|k| Seg::Key(k.to_string())).collect())
    }
}

impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return write!(f, "(document)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Every key of a document with its 1-based line and column.
#[derive(Debug, Default)]
pub struct Locator {
    entries: Vec<(YamlPath, usize, usize)>,
}

struct Frame {
    indent: usize,
    seg: Seg,
    is_item: bool,
    next_index: usize,
}

impl Locator {
    pub fn new(text: &str) -> Self {
        let mut locator = Locator::default();
        let mut stack: Vec<Frame> = Vec::new();
        for (line_no, raw) in text.lines().enumerate() {
            let line = strip_comment(raw);
            if line.trim().is_empty() || line.trim_start().starts_with("---") {
                continue;
            }
            let mut indent = line.len() - line.trim_start().len();
            let mut rest = &line[indent..];
            // A sequence item: `- value` or `- key: value`.
            while let Some(after) =
                rest.strip_prefix("- ")
                    .or(if rest == "-" { Some("") } else { None })
            {
                while let Some(top) = stack.last() {
                    if top.indent > indent || (top.indent == indent && top.is_item) {
                        stack.pop();
                    } else {
                        break;
                    }
                }
                let index = match stack.last_mut() {
                    Some(parent) => {
                        parent.next_index += 1;
                        parent.next_index - 1
                    }
                    None => 0,
                };
                stack.push(Frame {
                    indent,
                    seg: Seg::Index(index),
                    is_item: true,
                    next_index: 0,
                });
                // The item itself, at its dash: an error about a whole item points here.
                locator
                    .entries
                    .push((path_of(&stack), line_no + 1, indent + 1));
                let skipped = rest.len() - after.len();
                let spaces = after.len() - after.trim_start().len();
                indent += skipped + spaces;
                rest = after.trim_start();
                if rest.starts_with('{') || rest.starts_with('[') {
                    let base = path_of(&stack);
                    scan_flow(rest, &base, line_no + 1, indent + 1, &mut locator.entries);
                    rest = "";
                }
            }
            let Some((key, value)) = split_key(rest) else {
                continue;
            };
            while let Some(top) = stack.last() {
                if top.indent >= indent {
                    stack.pop();
                } else {
                    break;
                }
            }
            let path = path_of(&stack).key(&key);
            locator
                .entries
                .push((path.clone(), line_no + 1, indent + 1));
            let value = value.trim_start();
            if value.starts_with('{') || value.starts_with('[') {
                // `value` is a suffix of `line`, so its column follows from the lengths.
                let column = line.len() - value.len() + 1;
                scan_flow(value, &path, line_no + 1, column, &mut locator.entries);
            }
            stack.push(Frame {
                indent,
                seg: Seg::Key(key),
                is_item: false,
                next_index: 0,
            });
        }
        locator
    }

    /// The line and column of `path`, or of its longest located prefix (a missing field is
    /// reported at its parent).
    pub fn locate(&self, path: &YamlPath) -> Option<(usize, usize)> {
        for len in (1..=path.0.len()).rev() {
            let prefix = &path.0[..len];
            if let Some((_, line, col)) = self.entries.iter().find(|(p, _, _)| p.0 == prefix) {
                return Some((*line, *col));
            }
            // A sequence item without keys (`- x`) has no entry; fall back to its parent.
        }
        None
    }

    /// The line and column of the first key at exactly `path` (no fallback to a parent).
    pub fn find(&self, path: &YamlPath) -> Option<(usize, usize)> {
        self.entries
            .iter()
            .find(|(p, _, _)| p == path)
            .map(|(_, line, col)| (*line, *col))
    }

    /// The line and column of the first key at or below `path`: where a mapping written as a
    /// sequence item (`- {plastic: W1, …}`), which has no key of its own, begins.
    pub fn find_within(&self, path: &YamlPath) -> Option<(usize, usize)> {
        self.entries
            .iter()
            .find(|(p, _, _)| p.0.starts_with(&path.0))
            .map(|(_, line, col)| (*line, *col))
    }

    /// Whether the document has a key at `path` or below it (e.g. `motifs[1]` written as
    /// `- {plastic: W1, …}` has keys below it but none at it).
    pub fn has(&self, path: &YamlPath) -> bool {
        self.entries
            .iter()
            .any(|(p, _, _)| p.0.starts_with(&path.0))
    }

    /// Whether the key at exactly `line` and `column` is indexed (i.e. a key starts there).
    pub fn key_at(&self, line: usize, column: usize) -> Option<&YamlPath> {
        self.entries
            .iter()
            .find(|(_, l, c)| *l == line && *c == column)
            .map(|(p, _, _)| p)
    }

    /// The line and column of the document's first key (where a whole-document error points).
    pub fn first_key(&self) -> Option<(usize, usize)> {
        self.entries.first().map(|(_, line, col)| (*line, *col))
    }

    /// The path of the key at `line` (1-based), if any: used to name the field of a serde error.
    pub fn path_at(&self, line: usize, column: usize) -> Option<&YamlPath> {
        self.entries
            .iter()
            .filter(|(_, l, c)| *l == line && *c <= column)
            .max_by_key(|(_, _, c)| *c)
            .or_else(|| {
                self.entries
                    .iter()
                    .filter(|(_, l, _)| *l == line)
                    .min_by_key(|(_, _, c)| *c)
            })
            .map(|(p, _, _)| p)
    }
}

fn path_of(stack: &[Frame]) -> YamlPath {
    YamlPath(stack.iter().map(|f| f.seg.clone()).collect())
}

/// Removes a trailing `# comment` outside quotes.
pub(crate) fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && (prev == ' ' || i == 0) => return &line[..i],
            None => {}
        }
        prev = c;
    }
    line
}

/// Splits `key: value` (value may be empty); None when the text is not a mapping entry.
fn split_key(text: &str) -> Option<(String, &str)> {
    let (key, value) = if let Some(stripped) = text.strip_prefix('"') {
        let end = stripped.find('"')?;
        let after = &stripped[end + 1..];
        (stripped[..end].to_string(), after.strip_prefix(':')?)
    } else {
        let colon = text
            .find(": ")
            .or_else(|| text.strip_suffix(':').map(|s| s.len()))?;
        let key = &text[..colon];
        if key.contains(['{', '[', ',']) {
            return None;
        }
        (key.trim().to_string(), &text[(colon + 1).min(text.len())..])
    };
    Some((key, value))
}

/// Flow collections deeper than this are not indexed.
const MAX_FLOW_DEPTH: usize = 32;

/// Records the keys of a one-line flow collection starting at `column` (1-based).
fn scan_flow(
    text: &str,
    base: &YamlPath,
    line: usize,
    column: usize,
    out: &mut Vec<(YamlPath, usize, usize)>,
) {
    // Stack of (path of the collection, is_sequence, next index). Collections nested deeper
    // than MAX_FLOW_DEPTH are only counted, so a pathological `[[[[…` line costs linear time
    // (cloning ever longer paths would be quadratic); no real circuit nests that deep.
    let mut stack: Vec<(YamlPath, bool, usize)> = Vec::new();
    let mut too_deep = 0usize;
    let mut pending: Option<YamlPath> = None; // key just read, awaiting its value
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    let mut token_start: Option<usize> = None;
    while i < chars.len() {
        let (byte, c) = chars[i];
        match c {
            '{' | '[' if stack.len() >= MAX_FLOW_DEPTH => {
                too_deep += 1;
                pending = None;
                token_start = None;
            }
            '}' | ']' if too_deep > 0 => {
                too_deep -= 1;
            }
            '{' | '[' => {
                let path = match (&pending, stack.last_mut()) {
                    (Some(p), _) => p.clone(),
                    (None, Some((p, true, n))) => {
                        *n += 1;
                        p.index(*n - 1)
                    }
                    (None, Some((p, _, _))) => p.clone(),
                    (None, None) => base.clone(),
                };
                pending = None;
                stack.push((path, c == '[', 0));
                token_start = None;
            }
            '}' | ']' => {
                stack.pop();
                pending = None;
                token_start = None;
            }
            ',' => {
                pending = None;
                token_start = None;
            }
            '"' | '\'' => {
                let start = byte;
                i += 1;
                while i < chars.len() && chars[i].1 != c {
                    i += 1;
                }
                if token_start.is_none() && pending.is_none() {
                    count_scalar_item(&mut stack, too_deep);
                }
                token_start.get_or_insert(start);
            }
            ':' if token_start.is_some() => {
                let start = token_start.take().unwrap_or(byte);
                let key = text[start..byte]
                    .trim()
                    .trim_matches(|q| q == '"' || q == '\'');
                if let Some((parent, _, _)) = stack.last().filter(|_| too_deep == 0) {
                    let path = parent.key(key);
                    out.push((path.clone(), line, column + text[..start].chars().count()));
                    pending = Some(path);
                }
            }
            c if !c.is_whitespace() && token_start.is_none() && pending.is_none() => {
                count_scalar_item(&mut stack, too_deep);
                token_start = Some(byte);
            }
            _ => {}
        }
        i += 1;
    }
}

/// A plain or quoted scalar starting an item of a flow sequence (`[sgd, {name: …}]`) takes an
/// index, so the items after it are numbered as serde numbers them.
fn count_scalar_item(stack: &mut [(YamlPath, bool, usize)], too_deep: usize) {
    if too_deep == 0
        && let Some((_, true, n)) = stack.last_mut()
    {
        *n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "name: x\npopulations:\n  h: {size: 20, tau: 5 ms}\n  y:\n    size: 10\n    tau: 5 ms # comment\nmotifs:\n  - {plastic: W2, rule: {m_x: 1}}\n  - plastic: W1\n    tau_w: 2 s\n";

    #[test]
    fn finds_block_and_flow_keys() {
        let loc = Locator::new(DOC);
        assert_eq!(loc.locate(&YamlPath::of(&["name"])), Some((1, 1)));
        assert_eq!(
            loc.locate(&YamlPath::of(&["populations", "h"])),
            Some((3, 3))
        );
        assert_eq!(
            loc.locate(&YamlPath::of(&["populations", "h", "tau"])),
            Some((3, 17))
        );
        assert_eq!(
            loc.locate(&YamlPath::of(&["populations", "y", "tau"])),
            Some((6, 5))
        );
        let motif0 = YamlPath::of(&["motifs"]).index(0);
        assert_eq!(loc.locate(&motif0.key("plastic")), Some((8, 6)));
        assert_eq!(loc.locate(&motif0.key("rule").key("m_x")), Some((8, 26)));
        let motif1 = YamlPath::of(&["motifs"]).index(1);
        assert_eq!(loc.locate(&motif1.key("tau_w")), Some((10, 5)));
    }

    #[test]
    fn flow_sequences_number_scalar_items_too() {
        let text = "baselines: [sgd, \"fa\", {name: kp_zx, theta: {B2: {z_x: 1}}}, [a, {b: 2}]]\n";
        let loc = Locator::new(text);
        let item = |k: usize| YamlPath::of(&["baselines"]).index(k);
        assert_eq!(loc.find(&item(2).key("name")), Some((1, 25)));
        assert_eq!(
            loc.find(&item(2).key("theta").key("B2").key("z_x")),
            Some((1, 51))
        );
        assert_eq!(loc.find(&item(3).index(1).key("b")), Some((1, 67)));
    }

    #[test]
    fn missing_field_points_at_parent() {
        let loc = Locator::new(DOC);
        assert_eq!(
            loc.locate(&YamlPath::of(&["populations", "y", "activation"])),
            Some((4, 3))
        );
    }

    #[test]
    fn deep_flow_nesting_is_indexed_in_linear_time() {
        let text = format!("a: {{b: 1}}\nc: {}\nd: 2\n", "[".repeat(200_000));
        let loc = Locator::new(&text);
        assert_eq!(loc.locate(&YamlPath::of(&["a", "b"])), Some((1, 5)));
        assert_eq!(loc.locate(&YamlPath::of(&["d"])), Some((3, 1)));
    }

    #[test]
    fn displays_paths() {
        let path = YamlPath::of(&["motifs"]).index(1).key("tau_w");
        assert_eq!(path.to_string(), "motifs[1].tau_w");
    }
}
