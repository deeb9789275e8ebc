//! Maps YAML paths (`routes[2].upstream`) to the line they start on, so that errors found
//! after deserialization can still point at the file.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Line numbers of every node in a YAML document, keyed by path.
#[derive(Debug, Default)]
pub(crate) struct LineIndex {
    lines: HashMap<String, usize>,
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
    pub(crate) fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(line) = self.lines.get(p) {
                return Some(*line);
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
    lines: HashMap<String, usize>,
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

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, ..) => match self.node_path(Some(&value)) {
                Some(path) => {
                    self.lines.entry(path).or_insert(mark.line());
                }
                None => {
                    if let Some(key_path) = self.pending_key.take() {
                        self.lines.entry(key_path).or_insert(mark.line());
                    }
                }
            },
            Event::Alias(_) => {
                if let Some(path) = self.node_path(None) {
                    self.lines.entry(path).or_insert(mark.line());
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let path = self.node_path(None).unwrap_or_default();
                self.lines.entry(path.clone()).or_insert(mark.line());
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
    }
}
