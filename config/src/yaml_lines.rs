//! Maps YAML paths (`routes[2].upstream`) to the line and column they start on, so that errors
//! found after deserialization can still point at the file.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Positions (1-based line and column) of every node in a YAML document, keyed by path.
#[derive(Debug, Default)]
pub(crate) struct LineIndex {
    lines: HashMap<String, (usize, usize)>,
}

impl LineIndex {
    /// Index `text`. A document that does not parse gives an empty index (the parse error is
    /// reported separately by serde_yaml).
    pub(crate) fn build(text: &str) -> Self {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut builder, false).is_err() {
            return LineIndex::default();
        }
        LineIndex {
            lines: builder.lines,
        }
    }

    /// The line of `path`, or of its closest indexed ancestor.
    #[cfg(test)]
    pub(crate) fn line_of(&self, path: &str) -> Option<usize> {
        self.position_of(path).map(|(line, _)| line)
    }

    /// The line and column of `path` (of a mapping key where it is one), or of its closest
    /// indexed ancestor.
    pub(crate) fn position_of(&self, path: &str) -> Option<(usize, usize)> {
        let mut p = path;
        loop {
            if let Some(position) = self.lines.get(p) {
                return Some(*position);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
            if p.is_empty() {
                return None;
            }
        }
    }
}

enum Frame {
    Map { prefix: String, key: Option<String> },
    Seq { prefix: String, index: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    lines: HashMap<String, (usize, usize)>,
    /// Path of a mapping key just seen; its line is where errors about the value point.
    pending_key: Option<String>,
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

impl Builder {
    /// Path of the node that starts now, or `None` when the event is a mapping key.
    fn node_path(&mut self, scalar: Option<&str>) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { prefix, index }) => {
                let path = format!("{prefix}[{index}]");
                *index += 1;
                Some(path)
            }
            Some(Frame::Map { prefix, key }) => match key.take() {
                Some(k) => Some(join(prefix, &k)),
                None => {
                    // This node is a key; complex keys are indexed under a placeholder.
                    let k = scalar.unwrap_or("?").to_string();
                    self.pending_key = Some(join(prefix, &k));
                    *key = Some(k);
                    None
                }
            },
        }
    }
}

/// yaml-rust2 counts lines from 1 and columns from 0; editors count both from 1.
fn at(mark: &Marker) -> (usize, usize) {
    (mark.line(), mark.col() + 1)
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, ..) => match self.node_path(Some(&value)) {
                Some(path) => {
                    self.lines.entry(path).or_insert(at(&mark));
                }
                None => {
                    let key_at = at(&mark);
                    if let Some(key_path) = self.pending_key.take() {
                        self.lines.entry(key_path).or_insert(key_at);
                    }
                    // A block mapping starts where its first key does (the parser marks it
                    // after that key, e.g. at the value of `- name: x`).
                    if let Some(Frame::Map { prefix, .. }) = self.stack.last() {
                        if let Some(start) = self.lines.get_mut(prefix) {
                            *start = (*start).min(key_at);
                        }
                    }
                }
            },
            Event::Alias(_) => {
                if let Some(path) = self.node_path(None) {
                    self.lines.entry(path).or_insert(at(&mark));
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let path = self.node_path(None).unwrap_or_default();
                self.lines.entry(path.clone()).or_insert(at(&mark));
                self.stack.push(match ev {
                    Event::MappingStart(..) => Frame::Map {
                        prefix: path,
                        key: None,
                    },
                    _ => Frame::Seq {
                        prefix: path,
                        index: 0,
                    },
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_nested_paths() {
        let text = "a: 1\nroutes:\n  - name: x\n    upstream: y\n  - name: z\n    timeouts:\n      read: 5s\n";
        let idx = LineIndex::build(text);
        assert_eq!(idx.line_of("a"), Some(1));
        assert_eq!(idx.line_of("routes"), Some(2));
        assert_eq!(idx.line_of("routes[0].upstream"), Some(4));
        assert_eq!(idx.line_of("routes[1]"), Some(5));
        assert_eq!(idx.line_of("routes[1].timeouts.read"), Some(7));
        // unknown child falls back to the closest ancestor
        assert_eq!(idx.line_of("routes[1].timeouts.nope"), Some(6));
        assert_eq!(idx.line_of("zzz"), None);
        assert_eq!(idx.position_of("routes[0].upstream"), Some((4, 5)));
        assert_eq!(idx.position_of("routes[1]"), Some((5, 5)));
    }
}
